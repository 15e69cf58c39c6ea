//! A local stand-in for Slack's Socket Mode: the WebSocket end of it (`apps.connections.open` is
//! answered by the Web API stand-in with this server's `ws://` URL on loopback). It speaks
//! Slack's protocol: `hello` on each connection, envelopes with an `envelope_id`
//! (`slash_commands`, `interactive`), acknowledgements read back, `disconnect` when asked, and
//! an envelope sent while no connection is open is delivered on the next one, as Slack does.

use std::collections::{BTreeMap, VecDeque};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::slack::{NOWHERE, actions_payload};

#[derive(Default)]
struct Inner {
    /// Connections accepted so far.
    connections: u64,
    /// Open connections, oldest first, with their outgoing frames: Slack sends on the newest.
    open: Vec<(u64, mpsc::UnboundedSender<Message>)>,
    /// Connections the test dropped.
    dropped: std::collections::HashSet<u64>,
    /// The most connections open at once.
    max_open: usize,
    /// Envelopes waiting for a connection.
    pending: VecDeque<Value>,
    /// Acks received, in order (an envelope sent twice is acknowledged twice).
    acks: Vec<(String, Value)>,
    /// Every envelope sent, by id (to send one again).
    sent: BTreeMap<String, Value>,
    seq: u64,
}

#[derive(Clone)]
pub struct SocketStandIn {
    /// `ws://127.0.0.1:PORT/link`, what `apps.connections.open` answers.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl SocketStandIn {
    pub async fn start() -> SocketStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/link", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner::default()));
        let shared = inner.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let inner = shared.clone();
                tokio::spawn(async move {
                    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    connection(ws, inner).await;
                });
            }
        });
        SocketStandIn { url, inner }
    }

    pub fn connections(&self) -> u64 {
        self.inner.lock().unwrap().connections
    }

    pub fn connected(&self) -> bool {
        !self.inner.lock().unwrap().open.is_empty()
    }

    /// Connections open now.
    pub fn open_now(&self) -> usize {
        self.inner.lock().unwrap().open.len()
    }

    /// The most connections that were open at once.
    pub fn max_open(&self) -> usize {
        self.inner.lock().unwrap().max_open
    }

    /// Waits until `n` connections were accepted and one is open.
    pub async fn wait_connections(&self, n: u64, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !(self.connections() >= n && self.connected()) {
            assert!(
                Instant::now() < deadline,
                "{} connection(s) within {secs}s, not {n}",
                self.connections()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn next_id(&self) -> String {
        let mut g = self.inner.lock().unwrap();
        g.seq += 1;
        format!("env-{:04}-{}", g.seq, rand::random::<u32>())
    }

    /// Sends an envelope on the open connection, or keeps it for the next one.
    fn send(&self, envelope: Value) {
        let mut g = self.inner.lock().unwrap();
        let id = envelope["envelope_id"].as_str().unwrap().to_owned();
        g.sent.insert(id, envelope.clone());
        match g.open.last() {
            Some((_, tx)) => {
                let _ = tx.send(Message::Text(envelope.to_string().into()));
            }
            None => g.pending.push_back(envelope),
        }
    }

    /// A `/runaway` command, as Slack sends it over Socket Mode; its envelope id.
    pub fn slash(&self, text: &str, user: &str) -> String {
        let id = self.next_id();
        let trigger = format!("{}.{}", rand::random::<u32>(), rand::random::<u32>());
        self.send(json!({
            "envelope_id": id, "type": "slash_commands", "accepts_response_payload": true,
            "payload": {"token": "deprecated-verification-token", "team_id": "T0123456789",
                "team_domain": "example", "channel_id": "C0123456789", "channel_name": "alerts",
                "user_id": user, "user_name": "someone", "command": "/runaway", "text": text,
                "api_app_id": "A0123456789", "is_enterprise_install": "false",
                "response_url": NOWHERE, "trigger_id": trigger}
        }));
        id
    }

    /// A press of `action_id` on `incident`'s message; its envelope id.
    pub fn press(&self, action_id: &str, incident: &str, user: &str) -> String {
        let id = self.next_id();
        let action = json!({"type": "button", "action_id": action_id, "block_id": "runaway_decide",
            "value": incident, "action_ts": "1700000000.000002",
            "text": {"type": "plain_text", "text": "Halt now"}});
        self.send(json!({
            "envelope_id": id, "type": "interactive", "accepts_response_payload": false,
            "payload": actions_payload(user, NOWHERE, vec![action])
        }));
        id
    }

    /// Sends envelope `id` again, as Slack does when its ack did not arrive.
    pub fn redeliver(&self, id: &str) {
        let mut envelope = self.inner.lock().unwrap().sent[id].clone();
        envelope["retry_attempt"] = json!(1);
        envelope["retry_reason"] = json!("timeout");
        self.send(envelope);
    }

    /// Slack's `disconnect` envelope (it is about to refresh the connection).
    pub fn disconnect(&self, reason: &str) {
        let g = self.inner.lock().unwrap();
        if let Some((_, tx)) = g.open.last() {
            let frame = json!({"type": "disconnect", "reason": reason,
                "debug_info": {"host": "applink-stand-in"}});
            let _ = tx.send(Message::Text(frame.to_string().into()));
        }
    }

    /// The newest connection dropped without a word (a network failure).
    pub fn drop_connection(&self) {
        let mut g = self.inner.lock().unwrap();
        if let Some((id, _)) = g.open.pop() {
            g.dropped.insert(id);
        }
    }

    /// The ack of envelope `id`, waited for.
    pub async fn ack(&self, id: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some((_, a)) = self
                .inner
                .lock()
                .unwrap()
                .acks
                .iter()
                .find(|(i, _)| i == id)
            {
                return a.clone();
            }
            assert!(Instant::now() < deadline, "no ack of {id} within {secs}s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many times envelope `id` was acknowledged.
    pub fn acks_of(&self, id: &str) -> usize {
        self.inner
            .lock()
            .unwrap()
            .acks
            .iter()
            .filter(|(i, _)| i == id)
            .count()
    }
}

async fn connection(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    inner: Arc<Mutex<Inner>>,
) {
    let (mut write, mut read) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let me = {
        let mut g = inner.lock().unwrap();
        g.connections += 1;
        let hello = json!({"type": "hello", "num_connections": 1,
            "connection_info": {"app_id": "A0123456789"},
            "debug_info": {"host": "applink-stand-in", "approximate_connection_time": 18060}});
        let _ = tx.send(Message::Text(hello.to_string().into()));
        while let Some(e) = g.pending.pop_front() {
            let _ = tx.send(Message::Text(e.to_string().into()));
        }
        let me = g.connections;
        g.open.push((me, tx.clone()));
        g.max_open = g.max_open.max(g.open.len());
        me
    };
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(m) => if write.send(m).await.is_err() { break },
                None => break,
            },
            // Dropped by the test: the connection ends without a close frame.
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if inner.lock().unwrap().dropped.contains(&me) {
                    break;
                }
            }
            frame = read.next() => match frame {
                Some(Ok(Message::Text(t))) => {
                    let ack: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                    if let Some(id) = ack["envelope_id"].as_str() {
                        inner.lock().unwrap().acks.push((id.to_owned(), ack.clone()));
                    }
                }
                Some(Ok(Message::Ping(p))) => {
                    let _ = write.send(Message::Pong(p)).await;
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    inner.lock().unwrap().open.retain(|(id, _)| *id != me);
}
