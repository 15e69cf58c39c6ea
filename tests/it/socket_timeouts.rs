//! The Socket Mode connection's clock, on short [`Timeouts`] against stand-ins that misbehave
//! the three ways a link to Slack dies without closing: a server that takes the TCP connection
//! and never answers the WebSocket handshake, one that upgrades and never says `hello`, and one
//! that says hello and then stops answering pings. Each time the guard gives the connection up
//! and opens another (the stand-in counts the attempts), and `/healthz`, served by the guard's
//! own router over the real bot, shows it: `slack_socket.connected` false, and the count of
//! connections that got as far as a WebSocket.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::SinkExt;
use runawaytrain::adapters::slack::socket::{SocketMode, Timeouts};
use runawaytrain::adapters::slack::{Secret, inbound};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::common::bot::BotHarness;
use crate::common::*;

#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Accepts TCP, reads the upgrade request, never answers it.
    HangsTheHandshake,
    /// Completes the WebSocket handshake, then stays silent.
    NeverSaysHello,
    /// Says hello, then neither reads nor answers anything (no pong ever comes back).
    StopsAnsweringPings,
}

/// A Socket Mode stand-in that misbehaves; counts the connections it accepted.
async fn misbehaving(how: Misbehaviour) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/link", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                match how {
                    Misbehaviour::HangsTheHandshake => {
                        let mut buf = [0u8; 4096];
                        let _ = tokio::io::AsyncReadExt::read(&mut tcp, &mut buf).await;
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                    Misbehaviour::NeverSaysHello => {
                        let _ws = tokio_tungstenite::accept_async(tcp).await;
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                    Misbehaviour::StopsAnsweringPings => {
                        let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                            return;
                        };
                        let hello = r#"{"type":"hello","num_connections":1,"connection_info":{"app_id":"A0TEST"},"debug_info":{"host":"stand-in"}}"#;
                        let _ = ws.send(Message::Text(hello.into())).await;
                        // Never read again: a ping is never answered.
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                }
            });
        }
    });
    (url, accepted)
}

const SHORT: Timeouts = Timeouts {
    connect: Duration::from_millis(400),
    hello: Duration::from_millis(400),
    ping_every: Duration::from_millis(100),
    pongs_missed: 3,
    first_backoff: Duration::from_millis(50),
    max_backoff: Duration::from_millis(200),
    max_age: Duration::from_secs(3600),
};

async fn healthz(url: &str) -> Value {
    reqwest::get(format!("{url}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_way_a_socket_dies_silently_is_given_up_and_reconnected() {
    let h = BotHarness::start(|topic| {
        format!(
            "[guard]\nstate_path = \"journal.db\"\n\n[slack]\nmode = \"socket\"\nchannel = \"C0123456789\"\napprovers = [\"UAPPROVER1\"]\n\n[notify]\nsns_topic_arn = \"{topic}\"\n\n[[accounts]]\nid = \"{PAYER}\"\nname = \"payer\"\nregions = [\"us-east-1\"]\nmax_running_instances = 10\n"
        )
    })
    .await;
    for (how, websockets) in [
        (Misbehaviour::HangsTheHandshake, false),
        (Misbehaviour::NeverSaysHello, true),
        (Misbehaviour::StopsAnsweringPings, true),
    ] {
        let (ws_url, accepted) = misbehaving(how).await;
        h.slack.with_socket(&ws_url);
        let socket =
            SocketMode::new(&h.slack.api, Secret::from("xapp-1-test")).with_timeouts(SHORT);
        let status = socket.status.clone();
        let app = Arc::new(runawaytrain::adapters::http::App {
            bot: h.bot.0.clone(),
            signing_secret: None,
            tasks: tokio_util::task::TaskTracker::new(),
            started: chrono::Utc::now(),
            replays: Default::default(),
            socket: Some(status.clone()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, runawaytrain::adapters::http::router(app))
                .await
                .unwrap()
        });
        let stop = tokio_util::sync::CancellationToken::new();
        let handler = inbound::Handler {
            bot: h.bot.0.clone(),
            tasks: tokio_util::task::TaskTracker::new(),
        };
        let run = tokio::spawn(socket.run(handler, stop.clone()));

        // Three attempts: given up twice, by the clock alone, well within a second each.
        let started = Instant::now();
        while accepted.load(Ordering::SeqCst) < 3 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{how:?}: {} attempts in 10 s",
                accepted.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Between a hello and the missing pongs a connection counts as up for a moment: the
        // link is down again within two pong periods.
        let mut health = healthz(&url).await;
        while health["slack_socket"]["connected"] != false {
            assert!(
                started.elapsed() < Duration::from_secs(12),
                "{how:?}: still connected: {health}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            health = healthz(&url).await;
        }
        let link = &health["slack_socket"];
        let connections = link["connections"].as_u64().unwrap();
        if websockets {
            assert!(connections >= 2, "{how:?}: {health}");
        } else {
            assert_eq!(
                connections, 0,
                "{how:?}: no handshake ever completed: {health}"
            );
        }
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .expect("the connection stops when told")
            .unwrap();
        server.abort();
    }
}
