//! Socket Mode (`[slack] mode = "socket"`): the guard opens a WebSocket to Slack with the
//! app-level token and receives slash commands and button presses over it, so nothing needs to
//! reach it from outside. Their payloads are slack-morphism's typed `SlackCommandEvent` and
//! `SlackInteractionEvent`, answered by `inbound` as the HTTP routes are; the envelope around
//! them and the connection itself are kept here (see ARCHITECTURE.md for why).
//!
//! - `apps.connections.open` (the app token) gives a `wss://` URL; Slack says `hello` on it.
//! - Each envelope is acknowledged at once with its `envelope_id` (a slash command's reply as
//!   the ack's `payload`); Slack waits 3 seconds for it. An envelope seen before (Slack
//!   delivers one again when its ack was lost) is acknowledged and not handled twice.
//! - A `disconnect` envelope (Slack refreshing the connection) opens a new connection at once,
//!   and so does [`MAX_CONNECTION_AGE`], before Slack ends it: the old one carries envelopes
//!   until the new one has said hello, then reads for a moment more and is closed (make before
//!   break). A dropped socket, a failed open, a connect or handshake over 15 s, no hello within
//!   30 s or three pings without a pong reconnect with backoff (1 s doubling to 60 s): the
//!   connection's [`Timeouts`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use secrecy::ExposeSecret;
use serde_json::Value;
use slack_morphism::prelude::SlackApiAppsConnectionOpenResponse;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

mod envelope;

use envelope::Seen;

use super::Secret;
use super::inbound::Handler;

/// One text frame handled as a connection handles it, on a fresh connection: the
/// acknowledgement it would send, if any. For the fuzzed tests (`tests/it/fuzzed.rs`).
pub fn ack_of_frame(text: &str, handler: &Handler) -> Option<String> {
    envelope::handle(text, 0, handler, &mut Seen::default()).0
}

/// The connection's clock: how long each step may take before the connection is given up and
/// another opened. Settings of the connection, not of the configuration file: the defaults are
/// what Slack's protocol calls for; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The WebSocket's connect and handshake (TCP, TLS, HTTP upgrade).
    pub connect: Duration,
    /// Slack's `hello` on a new connection.
    pub hello: Duration,
    /// A ping this often; `pongs_missed` periods without a pong (or any frame) and the socket is
    /// taken for dead.
    pub ping_every: Duration,
    pub pongs_missed: u32,
    /// Reconnect backoff: the first wait, doubling up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// A connection is renewed after this long, before Slack's own limit ends it.
    pub max_age: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(15),
            hello: Duration::from_secs(30),
            ping_every: Duration::from_secs(10),
            pongs_missed: 3,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_age: MAX_CONNECTION_AGE,
        }
    }
}

/// A connection is renewed after this long, before Slack's own limit ends it.
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(60 * 60);
/// How long a retired connection still reads what was already sent on it.
const LINGER: Duration = Duration::from_millis(500);

/// A duration as people read it in a log line: `15 s`, `300 ms`.
fn said(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// The connection as `/healthz` reports it.
#[derive(Debug, Default)]
pub struct SocketStatus {
    connected: AtomicBool,
    /// Unix seconds of the last change of `connected` (0: none yet).
    since: AtomicI64,
    connections: AtomicU64,
}

impl SocketStatus {
    pub fn link(&self) -> crate::core::health::SocketLink {
        let since = self.since.load(Ordering::Relaxed);
        crate::core::health::SocketLink {
            connected: self.connected.load(Ordering::Relaxed),
            since: (since > 0)
                .then(|| chrono::DateTime::from_timestamp(since, 0))
                .flatten(),
            connections: self.connections.load(Ordering::Relaxed),
        }
    }

    fn set(&self, connected: bool) {
        if self.connected.swap(connected, Ordering::Relaxed) != connected
            || self.since.load(Ordering::Relaxed) == 0
        {
            self.since
                .store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
        }
    }
}

pub struct SocketMode {
    /// The Web API's base, ending with `/`.
    api: String,
    app_token: Secret,
    http: reqwest::Client,
    timeouts: Timeouts,
    pub status: Arc<SocketStatus>,
}

/// What a connection tells the supervisor.
#[derive(Debug)]
enum Note {
    /// Slack said hello on it: it carries envelopes now.
    Hello(u64),
    /// Slack asked for a new connection (`disconnect`), or it reached its age: a new one is
    /// opened while this one still carries envelopes.
    Renew(u64, String),
    /// It ended: retired by the supervisor, stopped, or failed (the reason).
    Ended(u64, Option<String>),
}

impl SocketMode {
    /// `api`: the Web API base (`https://slack.com/api/`), `app_token`: the `xapp-` token.
    pub fn new(api: &str, app_token: Secret) -> SocketMode {
        let api = if api.ends_with('/') {
            api.to_owned()
        } else {
            format!("{api}/")
        };
        SocketMode {
            api,
            app_token,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .expect("an HTTP client"),
            timeouts: Timeouts::default(),
            status: Arc::new(SocketStatus::default()),
        }
    }

    /// The same connection on another clock (`apps.connections.open` gets `connect` too).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> SocketMode {
        self.http = reqwest::Client::builder()
            .timeout(timeouts.connect)
            .build()
            .expect("an HTTP client");
        self.timeouts = timeouts;
        self
    }

    /// Keeps a connection open until `stop`, handing what arrives to `handler`. A connection
    /// being renewed stays open until its successor has said hello (make before break), so no
    /// envelope finds the guard without a connection.
    pub async fn run(self, handler: Handler, stop: CancellationToken) {
        let me = Arc::new(self);
        let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Note>();
        // Open connections: their retirement token, and whether Slack said hello on them.
        let mut live: std::collections::BTreeMap<u64, (CancellationToken, bool)> =
            std::collections::BTreeMap::new();
        let mut retiring: Option<u64> = None;
        let mut next = 0u64;
        let t = me.timeouts;
        let mut backoff = t.first_backoff;
        let mut open_one =
            |live: &mut std::collections::BTreeMap<u64, (CancellationToken, bool)>| {
                next += 1;
                let token = stop.child_token();
                live.insert(next, (token.clone(), false));
                tokio::spawn(me.clone().connection(
                    next,
                    handler.clone(),
                    seen.clone(),
                    token,
                    tx.clone(),
                ));
            };
        me.status.set(false);
        open_one(&mut live);
        loop {
            let note = tokio::select! {
                _ = stop.cancelled() => return,
                n = rx.recv() => match n { Some(n) => n, None => return },
            };
            let mut retry = false;
            match note {
                Note::Hello(id) => {
                    if let Some(c) = live.get_mut(&id) {
                        c.1 = true;
                    }
                    backoff = t.first_backoff;
                    // The successor is up: the connection it replaces is retired now.
                    if let Some(old) = retiring.filter(|old| *old != id) {
                        if let Some((token, _)) = live.get(&old) {
                            token.cancel();
                        }
                        retiring = None;
                    }
                }
                Note::Renew(id, why) => {
                    tracing::info!(reason = %why, "Socket Mode: renewing the connection");
                    if retiring.is_none() {
                        retiring = Some(id);
                        open_one(&mut live);
                    }
                }
                Note::Ended(id, failure) => {
                    live.remove(&id);
                    if retiring == Some(id) {
                        retiring = None;
                    }
                    if let Some(why) = failure {
                        tracing::warn!(error = %why, retry_in = %said(backoff), "Socket Mode: connection lost");
                    }
                    // Nothing left to carry envelopes, or the successor of one being retired
                    // failed: another, after the backoff.
                    retry = live.is_empty()
                        || retiring.is_some_and(|r| live.len() == 1 && live.contains_key(&r));
                }
            }
            me.status.set(live.values().any(|(_, hello)| *hello));
            if retry {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(t.max_backoff);
                open_one(&mut live);
            }
        }
    }

    /// One connection, from `apps.connections.open` to its end, told to the supervisor.
    async fn connection(
        self: Arc<Self>,
        id: u64,
        handler: Handler,
        seen: Arc<std::sync::Mutex<Seen>>,
        retire: CancellationToken,
        tx: tokio::sync::mpsc::UnboundedSender<Note>,
    ) {
        let failure = match self.open().await {
            Ok(url) => match connect(&url, self.timeouts.connect).await {
                Ok(ws) => {
                    self.status.connections.fetch_add(1, Ordering::Relaxed);
                    self.session(ws, id, &handler, &seen, &retire, &tx).await
                }
                Err(e) => Some(format!("cannot connect: {e}")),
            },
            Err(e) => Some(e),
        };
        let _ = tx.send(Note::Ended(id, failure));
    }

    /// `apps.connections.open`: a fresh WebSocket URL.
    async fn open(&self) -> Result<String, String> {
        let r = self
            .http
            .post(format!("{}apps.connections.open", self.api))
            .bearer_auth(self.app_token.expose_secret())
            .send()
            .await
            .map_err(|e| format!("apps.connections.open: {}", e.without_url()))?;
        let body: Value = r
            .json()
            .await
            .map_err(|e| format!("apps.connections.open: {}", e.without_url()))?;
        if body["ok"] != true {
            // Slack's error code only (invalid_auth, not_allowed_token_type, ...): never the token.
            return Err(format!(
                "apps.connections.open: {}",
                body["error"].as_str().unwrap_or("not ok")
            ));
        }
        let open: SlackApiAppsConnectionOpenResponse = serde_json::from_value(body)
            .map_err(|e| format!("apps.connections.open: unexpected answer: {e}"))?;
        Ok(open.url.0.to_string())
    }

    /// Reads the connection until it fails (the reason) or is retired (`None`).
    async fn session(
        &self,
        mut ws: Socket,
        id: u64,
        handler: &Handler,
        seen: &std::sync::Mutex<Seen>,
        retire: &CancellationToken,
        tx: &tokio::sync::mpsc::UnboundedSender<Note>,
    ) -> Option<String> {
        let t = self.timeouts;
        let renew_at = tokio::time::sleep_until(Instant::now() + t.max_age);
        tokio::pin!(renew_at);
        let mut renewing = false;
        // Slack says hello first; a connection that stays silent is no connection.
        let hello_by = Instant::now() + t.hello;
        let mut said_hello = false;
        let mut ping = tokio::time::interval_at(Instant::now() + t.ping_every, t.ping_every);
        let mut last_pong = Instant::now();
        // Retired: frames already on their way are still read and acknowledged for a moment,
        // then the connection is closed.
        let linger = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(linger);
        let mut lingering = false;
        loop {
            let message = tokio::select! {
                biased;
                m = ws.next() => m,
                _ = retire.cancelled(), if !lingering => {
                    lingering = true;
                    linger.as_mut().reset(Instant::now() + LINGER);
                    continue;
                }
                _ = &mut linger, if lingering => {
                    let _ = ws.close(None).await;
                    return None;
                }
                _ = &mut renew_at, if !renewing => {
                    renewing = true;
                    let _ = tx.send(Note::Renew(id, "connection age".into()));
                    continue;
                }
                _ = ping.tick() => {
                    if !said_hello && Instant::now() > hello_by {
                        return Some(format!("no hello within {}", said(t.hello)));
                    }
                    let dead_after = t.ping_every * t.pongs_missed;
                    if last_pong.elapsed() > dead_after {
                        return Some(format!("no pong for {}", said(dead_after)));
                    }
                    if let Err(e) = ws.send(Message::Ping(Vec::new().into())).await {
                        return Some(e.to_string());
                    }
                    continue;
                }
            };
            let text = match message {
                None => return Some("closed".into()),
                Some(Err(e)) => return Some(e.to_string()),
                Some(Ok(Message::Text(t))) => t.to_string(),
                Some(Ok(Message::Pong(_))) => {
                    last_pong = Instant::now();
                    continue;
                }
                // Slack closes a connection it asked to renew: expected then.
                Some(Ok(Message::Close(_))) if renewing => return None,
                Some(Ok(Message::Close(_))) => return Some("closed by Slack".into()),
                Some(Ok(_)) => continue,
            };
            last_pong = Instant::now();
            let (ack, note) = {
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                envelope::handle(&text, id, handler, &mut seen)
            };
            if let Some(ack) = ack
                && let Err(e) = ws.send(Message::Text(ack.into())).await
            {
                return Some(format!("ack not sent: {e}"));
            }
            if let Some(note) = note {
                said_hello |= matches!(note, Note::Hello(_));
                if matches!(note, Note::Renew(..)) {
                    if renewing {
                        continue;
                    }
                    renewing = true;
                }
                let _ = tx.send(note);
            }
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The WebSocket, over rustls with the AWS SDK's crypto provider (aws-lc-rs) and the system's
/// roots: one TLS stack in the process. `ws://` (a local stand-in) goes without TLS.
async fn connect(url: &str, within: Duration) -> Result<Socket, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    // A connect or handshake that hangs is a failure like any other: retried with backoff.
    let (ws, _) = tokio::time::timeout(
        within,
        tokio_tungstenite::connect_async_tls_with_config(
            url,
            None,
            true,
            Some(tokio_tungstenite::Connector::Rustls(Arc::new(tls))),
        ),
    )
    .await
    .map_err(|_| format!("no connection within {}", said(within)))?
    .map_err(|e| e.to_string())?;
    Ok(ws)
}
