//! Slash-command acknowledgement latency of `runaway serve`: rounds of N concurrent signed
//! `/runaway TEXT` requests, as Slack sends them; prints the latency percentiles as JSON.
//!
//! Usage: `ack_bench URL SIGNING_SECRET CONCURRENCY ROUNDS TEXT`

use std::time::Instant;

use runawaytrain::adapters::slack::sign;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, secret, concurrency, rounds, text] = &args[..] else {
        eprintln!("usage: ack_bench URL SIGNING_SECRET CONCURRENCY ROUNDS TEXT");
        std::process::exit(2);
    };
    let (concurrency, rounds): (usize, usize) =
        (concurrency.parse().unwrap(), rounds.parse().unwrap());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    // Each request carries its own trigger_id, as Slack's do: the guard refuses a signed request
    // replayed within the signature window.
    let body = |trigger: String| {
        serde_urlencoded::to_string([
            ("team_id", "T0123456789"),
            ("channel_id", "C0123456789"),
            ("command", "/runaway"),
            ("text", text.as_str()),
            ("user_id", "U0123456789"),
            ("response_url", "http://127.0.0.1:9/response"),
            ("trigger_id", trigger.as_str()),
        ])
        .unwrap()
    };
    // Unique to this run: two runs against one server are not replays of each other.
    let run = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let mut latencies = Vec::with_capacity(concurrency * rounds);
    for round in 0..rounds {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..concurrency {
            let (client, url, secret, body) = (
                client.clone(),
                url.clone(),
                secret.clone(),
                body(format!("{run}.{round}.{i}")),
            );
            tasks.spawn(async move {
                let ts = chrono::Utc::now().timestamp();
                let started = Instant::now();
                let r = client
                    .post(format!("{url}/slack/commands"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-slack-request-timestamp", ts.to_string())
                    .header("x-slack-signature", sign(&secret, ts, body.as_bytes()))
                    .body(body)
                    .send()
                    .await
                    .expect("request");
                assert!(r.status().is_success(), "HTTP {}", r.status());
                r.bytes().await.unwrap();
                started.elapsed().as_secs_f64() * 1000.0
            });
        }
        while let Some(ms) = tasks.join_next().await {
            latencies.push(ms.unwrap());
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    println!(
        "{}",
        serde_json::json!({"requests": latencies.len(), "concurrency": concurrency,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": latencies[latencies.len() - 1]})
    );
}
