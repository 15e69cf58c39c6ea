//! A local stand-in for Slack's Web API: answers in Slack's wire format (`ok`, `error`, `ts`,
//! 429 with `Retry-After`) and records every call, and a `response_url` endpoint.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Ok,
    /// The next call gets 429 with `Retry-After: 1`, then back to `Ok`.
    RateLimitOnce,
    /// Every call gets HTTP 500.
    ServerError,
    /// Every call gets `{"ok": false, "error": "invalid_auth"}`.
    InvalidAuth,
    /// The next `chat.postMessage` is posted, but its answer is HTTP 500; then back to `Ok`.
    LandThenFail,
    /// Every call gets 429 with `Retry-After: 60`.
    RateLimitLong,
}

#[derive(Debug, Clone)]
pub struct Call {
    /// `chat.postMessage`, `chat.update`, or `response/<id>`.
    pub method: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// Whether it was answered with success.
    pub answered_ok: bool,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    mode: Option<Mode>,
    seq: u64,
    /// Messages in channels, as `conversations.history` returns them, newest first.
    messages: Vec<Value>,
    /// How long each Web API call is held before it is answered.
    delay: Duration,
    in_flight: usize,
    max_in_flight: usize,
    /// Socket Mode: what `apps.connections.open` answers.
    socket_url: Option<String>,
}

#[derive(Clone)]
pub struct SlackStandIn {
    /// The Web API base, for `RUNAWAY_SLACK_API_URL`.
    pub api: String,
    /// Base of `response_url`s: append an id.
    pub responses: String,
    inner: Arc<Mutex<Inner>>,
}

impl SlackStandIn {
    pub async fn start() -> SlackStandIn {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/api/{method}", post(api))
            .route("/response/{id}", post(response))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        SlackStandIn {
            api: format!("http://{addr}/api/"),
            responses: format!("http://{addr}/response/"),
            inner,
        }
    }

    /// Socket Mode: `apps.connections.open` answers with this WebSocket URL.
    pub fn with_socket(&self, url: &str) {
        self.inner.lock().unwrap().socket_url = Some(url.to_owned());
    }

    pub fn set_mode(&self, mode: Mode) {
        self.inner.lock().unwrap().mode = Some(mode);
    }

    /// Holds every Web API call for `delay` before answering it.
    pub fn set_delay(&self, delay: Duration) {
        self.inner.lock().unwrap().delay = delay;
    }

    /// The most Web API calls that were being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner.lock().unwrap().max_in_flight
    }

    /// Messages that landed in channels (whatever the poster was answered).
    pub fn messages(&self) -> Vec<Value> {
        self.inner.lock().unwrap().messages.clone()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.answered_ok)
            .collect()
    }

    /// Waits until a successful call to `method` satisfies `pred`; returns it.
    pub async fn wait_for(&self, method: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(c) = self.calls_to(method).into_iter().find(|c| pred(&c.body)) {
                return c.body;
            }
            assert!(
                Instant::now() < deadline,
                "no {method} call as expected within {secs}s; calls: {:#?}",
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn api(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or_else(|_| {
        // Read methods get a form, as Slack takes them.
        serde_urlencoded::from_str::<std::collections::BTreeMap<String, String>>(&body)
            .map(|form| json!(form))
            .unwrap_or(Value::Null)
    });
    let delay = {
        let mut g = inner.lock().unwrap();
        g.in_flight += 1;
        g.max_in_flight = g.max_in_flight.max(g.in_flight);
        g.delay
    };
    tokio::time::sleep(delay).await;
    let mut g = inner.lock().unwrap();
    g.in_flight -= 1;
    let mut mode = g.mode.unwrap_or(Mode::Ok);
    if mode == Mode::RateLimitOnce {
        g.mode = Some(Mode::Ok);
    }
    if mode == Mode::LandThenFail && method != "chat.postMessage" {
        mode = Mode::Ok;
    }
    g.seq += 1;
    let seq = g.seq;
    if method == "chat.postMessage" && matches!(mode, Mode::Ok | Mode::LandThenFail) {
        let ts = format!("1700000000.{seq:06}");
        let mut message =
            json!({"type": "message", "ts": ts, "text": body["text"], "blocks": body["blocks"]});
        if !body["metadata"].is_null() {
            message["metadata"] = body["metadata"].clone();
        }
        message["channel"] = body["channel"].clone();
        g.messages.insert(0, message);
    }
    let (answered_ok, response) = match mode {
        Mode::RateLimitOnce => (
            false,
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "").into_response(),
        ),
        Mode::ServerError => (
            false,
            (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        ),
        Mode::InvalidAuth => (
            false,
            axum::Json(json!({"ok": false, "error": "invalid_auth"})).into_response(),
        ),
        Mode::RateLimitLong => (
            false,
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "60")], "").into_response(),
        ),
        Mode::LandThenFail => {
            g.mode = Some(Mode::Ok);
            (
                false,
                (StatusCode::INTERNAL_SERVER_ERROR, "upstream timeout").into_response(),
            )
        }
        Mode::Ok if method == "apps.connections.open" => {
            // Slack wants the app-level token here, never the bot token.
            let app_token = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("Bearer xapp-"));
            let answer = match (&g.socket_url, app_token) {
                (Some(url), true) => json!({"ok": true, "url": url}),
                (_, false) => json!({"ok": false, "error": "not_allowed_token_type"}),
                (None, true) => json!({"ok": false, "error": "socket_mode_not_enabled"}),
            };
            (answer["ok"] == true, axum::Json(answer).into_response())
        }
        Mode::Ok if method == "conversations.history" => {
            let channel = body["channel"].clone();
            let messages: Vec<Value> = g
                .messages
                .iter()
                .filter(|m| m["channel"] == channel)
                .map(|m| {
                    let mut m = m.clone();
                    m.as_object_mut().unwrap().remove("channel");
                    m
                })
                .collect();
            (
                true,
                axum::Json(json!({"ok": true, "messages": messages, "has_more": false}))
                    .into_response(),
            )
        }
        Mode::Ok => {
            let channel = body["channel"].clone();
            let ts = body["ts"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("1700000000.{seq:06}"));
            if method == "chat.update" {
                for m in g.messages.iter_mut().filter(|m| m["ts"] == ts.as_str()) {
                    m["blocks"] = body["blocks"].clone();
                    m["text"] = body["text"].clone();
                }
            }
            let answer = json!({"ok": true, "channel": channel, "ts": ts,
                "message": {"type": "message", "ts": ts, "text": body["text"], "blocks": body["blocks"]}});
            (true, axum::Json(answer).into_response())
        }
    };
    g.calls.push(Call {
        method,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
        answered_ok,
    });
    response
}

async fn response(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    inner.lock().unwrap().calls.push(Call {
        method: format!("response/{id}"),
        authorization: None,
        body,
        answered_ok: true,
    });
    StatusCode::OK.into_response()
}

/// All the text of a message (fallback and blocks), to search in.
pub fn text_of(message: &Value) -> String {
    message.to_string()
}

/// A form body, as Slack sends slash commands and interactions.
pub fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

/// Where answers go when a test does not care: a closed port on loopback.
pub const NOWHERE: &str = "http://127.0.0.1:9/response";

/// The body of a `/runaway` slash command, every field as Slack sends it.
pub fn command_body(text: &str, user: &str, response_url: Option<&str>) -> String {
    let trigger = format!("{}.{}", rand::random::<u32>(), rand::random::<u32>());
    form(&[
        ("token", "deprecated-verification-token"),
        ("team_id", "T0123456789"),
        ("team_domain", "example"),
        ("channel_id", "C0123456789"),
        ("channel_name", "alerts"),
        ("user_id", user),
        ("user_name", "someone"),
        ("command", "/runaway"),
        ("text", text),
        ("api_app_id", "A0123456789"),
        ("response_url", response_url.unwrap_or(NOWHERE)),
        ("trigger_id", &trigger),
    ])
}

/// A `block_actions` payload with these actions, every field as Slack sends it.
pub fn actions_payload(user: &str, response_url: &str, actions: Vec<Value>) -> Value {
    json!({"type": "block_actions", "user": {"id": user, "username": "someone", "team_id": "T0123456789"},
        "api_app_id": "A0123456789", "token": "deprecated-verification-token",
        "team": {"id": "T0123456789", "domain": "example"},
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C0123456789", "is_ephemeral": false},
        "trigger_id": format!("{}.{}", rand::random::<u32>(), rand::random::<u32>()),
        "channel": {"id": "C0123456789", "name": "alerts"},
        "response_url": response_url, "actions": actions})
}

/// The body of a button press, as Slack sends it.
pub fn press_body(action_id: &str, incident: &str, user: &str, response_url: &str) -> String {
    let action = json!({"type": "button", "action_id": action_id, "block_id": "runaway_decide",
        "value": incident, "action_ts": "1700000000.000002",
        "text": {"type": "plain_text", "text": "Halt now"}});
    let payload = actions_payload(user, response_url, vec![action]);
    form(&[("payload", &payload.to_string())])
}

/// The value (the incident id) of the message's button `action_id`, if it has one.
pub fn button_value(message: &Value, action_id: &str) -> Option<String> {
    message["blocks"].as_array()?.iter().find_map(|b| {
        b["elements"]
            .as_array()?
            .iter()
            .find(|e| e["action_id"] == action_id)
            .map(|e| e["value"].as_str().unwrap().to_owned())
    })
}

/// The incident of an alert: the value of its Halt now button.
pub fn approve_value(message: &Value) -> String {
    button_value(message, "runaway_approve").expect("a Halt now button")
}
