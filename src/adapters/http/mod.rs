//! `runaway serve`'s HTTP side: the Slack routes (slash commands and interactivity, signed),
//! health and metrics, served by the accept loop of `connections` until SIGINT or SIGTERM. It
//! starts the bot's two loops (`crate::app::bot::run_loops`), and on the signal stops taking
//! requests, gives those in flight and the guard's own work a bounded time, and exits.

pub mod connections;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::adapters::slack::{self, Secret};
use crate::app::bot::Bot;

pub struct App {
    pub bot: Arc<Bot>,
    /// HTTP mode: the secret Slack signs its requests with. The `/slack/*` routes exist only
    /// with one; in Socket Mode there is none, and nothing is served for Slack to post to.
    pub signing_secret: Option<Secret>,
    /// Work started by requests (presses, restores), awaited at shutdown within a bound.
    pub tasks: TaskTracker,
    pub started: chrono::DateTime<Utc>,
    /// Signed requests seen within the signature window: a replay is refused.
    pub replays: slack::ReplayCache,
    /// In Socket Mode: the connection's state (`/healthz`).
    pub socket: Option<Arc<slack::socket::SocketStatus>>,
}

/// The largest body a Slack request may have (an interaction payload carries the whole
/// message, up to 50 blocks).
const MAX_BODY: usize = 1024 * 1024;
/// How long a client has to send a body once its headers are in.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the guard's own work in flight (a halt, a delivery) may finish at shutdown before
/// the process exits anyway; what it leaves is resumed from the journal at the next start.
const WORK_GRACE: Duration = Duration::from_secs(10);

pub fn router(app: Arc<App>) -> Router {
    let router = Router::new();
    let router = if app.signing_secret.is_some() {
        router
            .route("/slack/commands", post(commands))
            .route("/slack/interactions", post(interactions))
    } else {
        router
    };
    router
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(app)
}

/// Runs the server and the loops until a shutdown signal, then stops within seconds: the
/// listener closes, requests in flight get a few seconds, the guard's own work in flight
/// [`WORK_GRACE`].
pub async fn serve(
    app: Arc<App>,
    listen: SocketAddr,
    socket: Option<slack::socket::SocketMode>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, "listening");
    eprintln!(
        "runaway serve: listening on http://{}",
        listener.local_addr()?
    );
    let stop = CancellationToken::new();
    // The guard's own work: the periodic check and the deadline tick, on the wall clock.
    let loops = crate::app::bot::run_loops(app.bot.clone(), stop.clone(), Utc::now);
    // Socket Mode: the connection to Slack, until the same stop.
    if let Some(socket) = socket {
        let handler = slack::inbound::Handler {
            bot: app.bot.clone(),
            tasks: app.tasks.clone(),
        };
        loops.spawn(socket.run(handler, stop.clone()));
    }

    let token = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        token.cancel();
    });
    crate::adapters::http::connections::serve(
        listener,
        router(app.clone()),
        crate::adapters::http::connections::Limits::for_this_process(),
        stop.clone(),
    )
    .await;
    stop.cancel();
    loops.close();
    loops.wait().await;
    app.tasks.close();
    let work = async {
        app.tasks.wait().await;
        app.bot.idle().await;
    };
    if tokio::time::timeout(WORK_GRACE, work).await.is_err() {
        tracing::warn!(
            "work still in flight at exit: it is journaled, and resumed at the next start"
        );
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn unauthorized(route: &str, reason: &dyn std::fmt::Display) -> Response {
    tracing::warn!(route, %reason, "unsigned request refused");
    (StatusCode::UNAUTHORIZED, "invalid request signature").into_response()
}

/// Reads a Slack request's body only once its headers show a fresh, well-formed signature,
/// within [`MAX_BODY`] and [`BODY_TIMEOUT`]; then checks the signature and that it was not seen
/// before. `Err`: the answer to give.
async fn signed_body(
    app: &App,
    headers: &HeaderMap,
    body: Body,
    route: &str,
) -> Result<Bytes, Response> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = Utc::now().timestamp();
    let signed = slack::SignedHeaders::check(
        get(slack::signature::TIMESTAMP_HEADER),
        get(slack::signature::SIGNATURE_HEADER),
        now,
    )
    .map_err(|e| unauthorized(route, &e))?;
    let length = get("content-length").and_then(|v| v.parse::<usize>().ok());
    if length.is_some_and(|n| n > MAX_BODY) {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response());
    }
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return Err((StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response()),
        Err(_) => return Err((StatusCode::REQUEST_TIMEOUT, "body too slow").into_response()),
    };
    let secret = app
        .signing_secret
        .as_ref()
        .ok_or_else(|| unauthorized(route, &"no signing secret"))?;
    signed
        .verify(secret, &bytes)
        .map_err(|e| unauthorized(route, &e))?;
    if !app.replays.first_time(signed.signature(), now) {
        return Err(unauthorized(route, &"replayed"));
    }
    Ok(bytes)
}

async fn commands(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let body = match signed_body(&app, &headers, body, "/slack/commands").await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let Some(form) = slack::requests::SlashCommand::parse(&body) else {
        return (StatusCode::BAD_REQUEST, "not a slash command").into_response();
    };
    axum::Json(slack::inbound::command(&app.bot, &app.tasks, &form)).into_response()
}

async fn interactions(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let body = match signed_body(&app, &headers, body, "/slack/interactions").await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    match slack::requests::ButtonPress::parse(&body) {
        Ok(press) => slack::inbound::press(&app.bot, &app.tasks, press),
        Err(slack::requests::NotAPress::Malformed) => {
            return (StatusCode::BAD_REQUEST, "not an interaction payload").into_response();
        }
        Err(slack::requests::NotAPress::Other) => {}
    }
    // Acknowledged at once; the work goes on in the background and answers by itself.
    StatusCode::OK.into_response()
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let m = &app.bot.metrics;
    let last = m.last_check_at.load(Ordering::Relaxed);
    let facts = crate::core::health::Facts {
        now: Utc::now(),
        started: app.started,
        check_every: chrono::Duration::from_std(app.bot.config.guard.check_every)
            .unwrap_or(chrono::Duration::MAX),
        last_check: (last > 0)
            .then(|| chrono::DateTime::from_timestamp(last, 0))
            .flatten(),
        last_check_state: m.last_check_state(),
        accounts_checked: m.last_check_accounts.load(Ordering::Relaxed),
        accounts_unreadable: m.last_check_unreadable.load(Ordering::Relaxed),
        check_loop: m.check_loop.state(),
        deadline_loop: m.deadline_loop.state(),
        events: app
            .bot
            .events
            .as_ref()
            .map(|_| crate::core::health::EventPath {
                event_loop: m.events_loop.state(),
                last_receive: m.last_receive(),
            }),
        socket: app.socket.as_ref().map(|s| s.link()),
        unexpected_writes: m.unexpected_writes(Utc::now()),
        lease: app.bot.lease.shared.then(|| app.bot.lease.seen(Utc::now())),
    };
    let (healthy, mut body) = crate::core::health::assess(&facts);
    // Which build answers: after an upgrade, the new one.
    body["version"] = crate::VERSION.into();
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let m = &app.bot.metrics;
    let open = app
        .bot
        .journal
        .incidents_in(&[
            crate::core::incident::Status::Open,
            crate::core::incident::Status::AwaitingConfirmation,
        ])
        .map(|v| v.len())
        .unwrap_or(0);
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed).to_string();
    let mut rows: Vec<(&str, &str, &str, String)> = vec![
        ("checks_total", "counter", "Checks run.", get(&m.checks)),
        (
            "last_check_duration_seconds",
            "gauge",
            "Duration of the last check.",
            format!(
                "{:.3}",
                m.last_check_ms.load(Ordering::Relaxed) as f64 / 1000.0
            ),
        ),
        (
            "last_check_step_duration_seconds",
            "gauge",
            "Duration of the last periodic check step: the check, its journaling and its decisions.",
            format!(
                "{:.3}",
                m.last_step_ms.load(Ordering::Relaxed) as f64 / 1000.0
            ),
        ),
        (
            "last_check_timestamp_seconds",
            "gauge",
            "Unix time of the last check.",
            m.last_check_at.load(Ordering::Relaxed).to_string(),
        ),
        (
            "leader",
            "gauge",
            "1 while this replica holds the journal's lease (checks, deadlines and events run here).",
            u8::from(app.bot.lease.leads(Utc::now())).to_string(),
        ),
        (
            "open_incidents",
            "gauge",
            "Incidents waiting for a human or a deadline.",
            open.to_string(),
        ),
        (
            "incidents_opened_total",
            "counter",
            "Incidents opened by checks.",
            get(&m.incidents_opened),
        ),
        (
            "incidents_executed_total",
            "counter",
            "Incidents whose actions ran.",
            get(&m.incidents_executed),
        ),
        (
            "instances_stopped_total",
            "counter",
            "Instances stopped by incidents.",
            get(&m.instances_stopped),
        ),
        (
            "slack_failures_total",
            "counter",
            "Slack calls that failed.",
            get(&m.slack_failures),
        ),
        (
            "sns_failures_total",
            "counter",
            "SNS publishes that failed.",
            get(&m.sns_failures),
        ),
    ];
    if app.bot.events.is_some() {
        rows.extend([
            (
                "events_received_total",
                "counter",
                "Events taken from the event queue (first deliveries).",
                get(&m.events_received),
            ),
            (
                "events_duplicate_total",
                "counter",
                "Events delivered again (journaled once).",
                get(&m.events_duplicate),
            ),
            (
                "event_problems_total",
                "counter",
                "Messages that are not events the guard reads (left for the dead-letter queue).",
                get(&m.event_problems),
            ),
            (
                "event_checks_total",
                "counter",
                "Checks of one account asked for by events.",
                get(&m.event_checks),
            ),
            (
                "event_receive_failures_total",
                "counter",
                "Receives from the event queue that failed.",
                get(&m.event_receive_failures),
            ),
            (
                "events_last_receive_timestamp_seconds",
                "gauge",
                "Unix time of the last successful receive from the event queue.",
                m.last_receive().map_or(0, |t| t.timestamp()).to_string(),
            ),
        ]);
    }
    rows.push((
        "refused_presses_total",
        "counter",
        "Presses and commands refused (not an approver).",
        get(&m.refused_presses),
    ));
    let out: String = rows
        .iter()
        .map(|(name, kind, help, value)| {
            format!("# HELP runaway_{name} {help}\n# TYPE runaway_{name} {kind}\nrunaway_{name} {value}\n")
        })
        .collect();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
