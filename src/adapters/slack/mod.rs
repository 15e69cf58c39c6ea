//! The Slack adapter: the only module that knows Block Kit JSON and Slack's Web API. It renders
//! incidents into messages (within Slack's limits), posts and updates them with the bot token
//! (retrying on 429 after `Retry-After`, and on 5xx), answers through `response_url`, and checks
//! the v0 signature of inbound requests.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::config::Action;
use crate::core::incident::Status;
use crate::ports::{Chat, ChatError, IncidentView, Reply};

/// Slack's limits, as its own SDK enforces them.
const MAX_SECTION_TEXT: usize = 3000;
const MAX_HEADER_TEXT: usize = 150;
const MAX_FIELDS: usize = 10;
/// Account outcomes shown in one message; the rest are counted.
const MAX_OUTCOME_SECTIONS: usize = 40;
/// Requests older or newer than this are refused (replays).
pub const SIGNATURE_WINDOW_SECS: i64 = 300;

/// A secret that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

// ----- inbound: signatures ------------------------------------------------------------------

/// Why a request was refused. Says nothing about the secret or the expected signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Slack-Request-Timestamp or X-Slack-Signature")]
    Missing,
    #[error("timestamp outside the 5-minute window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// What the headers of a request say, checked before its body is read: both headers there, the
/// timestamp within the window, the signature well formed. Cheap, so that an unsigned request
/// is refused without reading (or waiting for) its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    timestamp: String,
    signature: Vec<u8>,
}

impl SignedHeaders {
    pub fn check(
        timestamp: Option<&str>,
        signature: Option<&str>,
        now: i64,
    ) -> Result<SignedHeaders, SignatureError> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(SignatureError::Missing);
        };
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::Stale)?;
        // abs_diff: no overflow whatever the timestamp (i64::MIN + 1 included).
        if now.abs_diff(ts) > SIGNATURE_WINDOW_SECS as u64 {
            return Err(SignatureError::Stale);
        }
        let signature = signature
            .strip_prefix("v0=")
            .filter(|hex| hex.len() == 64)
            .and_then(|hex| hex::decode(hex).ok())
            .ok_or(SignatureError::Mismatch)?;
        Ok(SignedHeaders {
            timestamp: timestamp.to_owned(),
            signature,
        })
    }

    /// Checks the signature against the body, in constant time.
    pub fn verify(&self, secret: &Secret, body: &[u8]) -> Result<(), SignatureError> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .map_err(|_| SignatureError::Mismatch)?;
        mac.update(b"v0:");
        mac.update(self.timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac.verify_slice(&self.signature)
            .map_err(|_| SignatureError::Mismatch)
    }

    /// The signature, as the key of the replay cache.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

/// Checks Slack's v0 signature: `v0=` + hex HMAC-SHA256(secret, `v0:{timestamp}:{raw body}`),
/// compared in constant time, with the timestamp within 5 minutes of `now` (Unix seconds).
pub fn verify_signature(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    SignedHeaders::check(timestamp, signature, now)?.verify(secret, body)
}

/// Signatures seen within the last window: a signed request replayed is refused. Only
/// verified signatures enter, so only Slack (or whoever holds the secret) can fill it.
#[derive(Debug, Default)]
pub struct ReplayCache {
    seen: std::sync::Mutex<std::collections::HashMap<Vec<u8>, i64>>,
}

/// Beyond this many signatures in one window, the oldest are dropped (a bound on memory only:
/// Slack sends far fewer).
const MAX_REMEMBERED: usize = 100_000;

impl ReplayCache {
    /// Records `signature` as seen at `now`; `false` if it was seen within the window already.
    pub fn first_time(&self, signature: &[u8], now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let window = 2 * SIGNATURE_WINDOW_SECS;
        if seen.len() >= MAX_REMEMBERED / 2 {
            seen.retain(|_, at| now.abs_diff(*at) <= window as u64);
        }
        if seen.len() >= MAX_REMEMBERED
            && let Some(oldest) = seen
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone())
        {
            seen.remove(&oldest);
        }
        match seen.get(signature) {
            Some(at) if now.abs_diff(*at) <= window as u64 => false,
            _ => {
                seen.insert(signature.to_vec(), now);
                true
            }
        }
    }
}

/// The signature Slack would send (for tests, benchmarks and the local stand-in).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

// ----- outbound: the Web API ----------------------------------------------------------------

pub struct SlackClient {
    http: reqwest::Client,
    /// Ends with `/`: `https://slack.com/api/` unless `RUNAWAY_SLACK_API_URL` says otherwise.
    base: String,
    token: Secret,
    /// The most one Web API call may take, retries and `Retry-After` waits included.
    budget: Duration,
}

/// The default [`SlackClient`] budget: well under the shortest `check_every` (10 s is the floor,
/// and alerts go out in their own tasks), and far under any grace period.
pub const CALL_BUDGET: Duration = Duration::from_secs(20);

/// The `event_type` of the metadata every alert carries, with its incident id: how a post whose
/// answer was lost is found again instead of being posted twice.
const METADATA_EVENT: &str = "runaway_incident";

/// How one attempt at a Web API call ended.
enum Attempt {
    Answer(Value),
    /// Slack said no (`ok: false`): final.
    Refused(String),
    /// The request never reached Slack (connection refused) or Slack refused it unprocessed
    /// (429): repeating it is safe.
    NotSent {
        error: String,
        wait: Duration,
    },
    /// The request may have been processed (5xx, timeout, connection lost mid-answer).
    Unknown(String),
}

impl SlackClient {
    pub fn new(base: &str, token: Secret) -> SlackClient {
        Self::with_budget(base, token, CALL_BUDGET)
    }

    pub fn with_budget(base: &str, token: Secret, budget: Duration) -> SlackClient {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client");
        let base = if base.ends_with('/') {
            base.to_owned()
        } else {
            format!("{base}/")
        };
        SlackClient {
            http,
            base,
            token,
            budget,
        }
    }

    async fn attempt(&self, method: &str, body: &Value, left: Duration) -> Attempt {
        let request = self
            .http
            .post(format!("{}{method}", self.base))
            .bearer_auth(self.token.expose())
            .timeout(left);
        // Slack takes JSON bodies only for its write methods; reads take a form.
        let request = match method {
            "conversations.history" => {
                let form: Vec<(String, String)> = body
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect();
                request
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(serde_urlencoded::to_string(&form).unwrap_or_default())
            }
            _ => request.json(body),
        };
        let response = request.send().await;
        match response {
            Err(e) if e.is_connect() => Attempt::NotSent {
                error: format!("cannot reach Slack: {}", without_url(&e)),
                wait: Duration::from_secs(1),
            },
            Err(e) => Attempt::Unknown(format!("no answer from Slack: {}", without_url(&e))),
            Ok(r) if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                let secs = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1);
                tracing::warn!(method, retry_after = secs, "slack rate limit");
                Attempt::NotSent {
                    error: format!("rate limited (429, Retry-After {secs})"),
                    wait: Duration::from_secs(secs.max(1)),
                }
            }
            Ok(r) if r.status().is_server_error() => {
                Attempt::Unknown(format!("HTTP {}", r.status().as_u16()))
            }
            Ok(r) => {
                let status = r.status();
                match r.json::<Value>().await {
                    Ok(v) if v["ok"] == json!(true) => Attempt::Answer(v),
                    Ok(v) => {
                        Attempt::Refused(v["error"].as_str().unwrap_or("unknown error").to_owned())
                    }
                    Err(_) => {
                        Attempt::Unknown(format!("HTTP {}: not a Slack answer", status.as_u16()))
                    }
                }
            }
        }
    }

    /// Calls a Web API method within the budget: retried after a 429's `Retry-After` and when
    /// Slack could not be reached; when the call may have been processed already, retried only
    /// if `repeatable` (an update, a lookup — never a post). A wait that would end past the
    /// budget is not begun: the call fails at once instead.
    async fn call(&self, method: &str, body: &Value, repeatable: bool) -> Result<Value, ChatError> {
        self.call_once(method, body, repeatable)
            .await
            .map_err(|(e, _)| e)
    }

    /// [`Self::call`], saying with a failure whether the call may have been processed.
    async fn call_once(
        &self,
        method: &str,
        body: &Value,
        repeatable: bool,
    ) -> Result<Value, (ChatError, bool)> {
        let deadline = tokio::time::Instant::now() + self.budget;
        let err = |error: String| ChatError {
            method: method.to_owned(),
            error,
        };
        let mut backoff = Duration::from_millis(500);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err((err("no answer within the time allowed".into()), repeatable));
            }
            let (error, wait, maybe_done) = match self.attempt(method, body, left).await {
                Attempt::Answer(v) => return Ok(v),
                Attempt::Refused(e) => return Err((err(e), false)),
                Attempt::NotSent { error, wait } => (error, wait, false),
                Attempt::Unknown(error) if repeatable => (error, backoff, true),
                Attempt::Unknown(error) => return Err((err(error), true)),
            };
            backoff *= 2;
            if tokio::time::Instant::now() + wait >= deadline {
                return Err((err(error), maybe_done));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// The `ts` of the alert of `incident` in `channel`, if Slack has it: read back from the
    /// channel's recent history by the metadata each alert carries.
    async fn find_alert(&self, channel: &str, incident: &str) -> Result<Option<String>, ChatError> {
        let body = json!({"channel": channel, "limit": 50, "include_all_metadata": true});
        let answer = self.call("conversations.history", &body, true).await?;
        Ok(answer["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|m| {
                (m["metadata"]["event_type"] == METADATA_EVENT
                    && m["metadata"]["event_payload"]["incident"] == incident)
                    .then(|| m["ts"].as_str().map(str::to_owned))
                    .flatten()
            }))
    }
}

/// The error without its URL: a `response_url` is a credential of sorts.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

#[async_trait]
impl Chat for SlackClient {
    /// Posts the alert, at most once: a post whose answer was lost (5xx, timeout) is looked for
    /// in the channel before it is posted again, and is not posted again if it cannot be looked
    /// for. Also the way back to an alert posted by a process that died before journaling its
    /// `ts`.
    async fn post_incident(&self, channel: &str, view: &IncidentView) -> Result<String, ChatError> {
        let mut body = incident_message(view);
        body["channel"] = json!(channel);
        body["metadata"] =
            json!({"event_type": METADATA_EVENT, "event_payload": {"incident": view.id}});
        let no_ts = || ChatError {
            method: "chat.postMessage".into(),
            error: "answer without ts".into(),
        };
        for _ in 0..2 {
            match self.call_once("chat.postMessage", &body, false).await {
                Ok(answer) => return answer["ts"].as_str().map(str::to_owned).ok_or_else(no_ts),
                Err((e, true)) => match self.find_alert(channel, &view.id).await {
                    Ok(Some(ts)) => return Ok(ts),
                    Ok(None) => continue,
                    Err(lookup) => {
                        return Err(ChatError {
                            method: e.method,
                            error: format!(
                                "{}; not posted again, since it could not be looked for ({})",
                                e.error, lookup.error
                            ),
                        });
                    }
                },
                Err((e, false)) => return Err(e),
            }
        }
        Err(ChatError {
            method: "chat.postMessage".into(),
            error: "Slack failed twice without posting".into(),
        })
    }

    async fn update_incident(
        &self,
        channel: &str,
        ts: &str,
        view: &IncidentView,
    ) -> Result<(), ChatError> {
        let mut body = incident_message(view);
        body["channel"] = json!(channel);
        body["ts"] = json!(ts);
        self.call("chat.update", &body, true).await.map(|_| ())
    }

    async fn respond(&self, response_url: &str, reply: &Reply) -> Result<(), ChatError> {
        let body = match reply {
            Reply::Ephemeral(text) => {
                json!({"response_type": "ephemeral", "replace_original": false, "text": text})
            }
            Reply::Incident(view) => {
                let mut m = incident_message(view);
                m["replace_original"] = json!(true);
                m
            }
        };
        let err = |error: String| ChatError {
            method: "response_url".into(),
            error,
        };
        let r = self
            .http
            .post(response_url)
            .timeout(self.budget)
            .json(&body)
            .send()
            .await
            .map_err(|e| err(without_url(&e)))?;
        if !r.status().is_success() {
            return Err(err(format!("HTTP {}", r.status().as_u16())));
        }
        Ok(())
    }
}

// ----- rendering ----------------------------------------------------------------------------

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A danger-style button with its confirm dialog, the incident id as its value.
fn danger_button(action_id: &str, incident: &str, label: &str, title: &str, text: &str) -> Value {
    json!({"type": "button", "action_id": action_id, "style": "danger", "value": incident,
        "text": {"type": "plain_text", "text": label},
        "confirm": {"title": {"type": "plain_text", "text": title},
            "text": {"type": "mrkdwn", "text": truncate(text, 300)},
            "confirm": {"type": "plain_text", "text": label},
            "deny": {"type": "plain_text", "text": "Cancel"},
            "style": "danger"}})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT)}})
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn who(by: Option<&str>) -> String {
    match by {
        Some("deadline") | None => "the deadline".into(),
        Some(user) => format!("<@{user}>"),
    }
}

/// Lists `items`, at most `max`, saying how many more there are.
fn summarise(items: &[String], max: usize, sep: &str) -> String {
    let mut out = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(sep);
    if items.len() > max {
        out += &format!("{sep}… and {} more", items.len() - max);
    }
    out
}

fn action_text(a: Action, exempt_tag: &str) -> String {
    match a {
        Action::StopInstances => format!(
            "stop every running instance in every region (never terminate; instances tagged `{exempt_tag}=true` are left alone)"
        ),
        Action::LockoutUsers => {
            "lock out the IAM users (deny-all policy, access keys deactivated)".into()
        }
        Action::BlockLaunches => "block new launches (launch-deny policy)".into(),
    }
}

fn accounts_text(view: &IncidentView) -> String {
    view.accounts
        .iter()
        .map(|(id, name)| {
            if id == name {
                id.clone()
            } else {
                format!("{name} ({id})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The message of an incident (`text` fallback and `blocks`), for every status.
pub fn incident_message(view: &IncidentView) -> Value {
    let accounts = accounts_text(view);
    let manual = view.observed.is_none();
    let title = if manual {
        format!("Halt requested: {accounts}")
    } else {
        format!("🚨 {accounts} fails its rules")
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&title, MAX_HEADER_TEXT), "emoji": true}}),
    ];
    let mut fallback = title.clone();

    if let Some(o) = &view.observed {
        let fields: Vec<Value> = o
            .violations
            .iter()
            .take(MAX_FIELDS)
            .map(|v| {
                let (observed, limit) = (quantity(v.observed), quantity(v.limit));
                json!({"type": "mrkdwn", "text": format!("*{}*\n{observed} (limit {limit})", v.rule)})
            })
            .collect();
        if !fields.is_empty() {
            blocks.push(json!({"type": "section", "fields": fields}));
        }
        fallback += &format!(
            ": {}",
            o.violations
                .iter()
                .map(|v| format!(
                    "{} {} > {}",
                    v.rule,
                    quantity(v.observed),
                    quantity(v.limit)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let regions: Vec<String> = o.regions.iter().map(|(r, n)| format!("{r} {n}")).collect();
        if !regions.is_empty() {
            blocks.push(section(&format!(
                "*Running instances:* {} in {}\n{}",
                o.running_instances,
                crate::text::terminal::count(regions.len(), "region"),
                summarise(&regions, 40, " · ")
            )));
        }
    }

    let actions: Vec<String> = view
        .actions
        .iter()
        .map(|a| format!("• {}", action_text(*a, &view.exempt_tag)))
        .collect();
    match view.status {
        Status::Open => {
            let (by, at) = match view.deadline {
                Some(t) => (format!("by {}", utc(t)), format!("at {}", utc(t))),
                None => {
                    let within = format!(
                        "within {} of this alert",
                        humantime::format_duration(view.grace_period)
                    );
                    (within.clone(), within)
                }
            };
            blocks.push(section(&format!(
                "*If nobody overrides {by}:*\n{}",
                actions.join("\n")
            )));
            blocks.push(json!({"type": "actions", "block_id": "runaway_decide", "elements": [
                danger_button("runaway_approve", &view.id, "Halt now", "Halt now?",
                    &format!("Run the actions on {accounts} now, without waiting for the deadline.")),
                {"type": "button", "action_id": "runaway_override", "value": view.id,
                 "text": {"type": "plain_text", "text": "Override"}}
            ]}));
            fallback += &format!(". Actions {at} unless overridden.");
        }
        Status::AwaitingConfirmation => {
            let by = view
                .deadline
                .map(|t| format!(" by {}", utc(t)))
                .unwrap_or_default();
            blocks.push(section(&format!(
                "*Confirm{by} to run:*\n{}",
                actions.join("\n")
            )));
            blocks.push(
                json!({"type": "actions", "block_id": "runaway_confirm", "elements": [
                    danger_button("runaway_confirm_halt", &view.id, "Halt", "Halt these accounts?",
                        &format!("Stop every running, non-exempt instance of {accounts}."))
                ]}),
            );
        }
        _ => {
            let at = view.decided_at.map(utc).unwrap_or_default();
            let decision = match view.status {
                Status::Unconfirmed => format!(
                    "*Not confirmed* by {at}: the halt lapsed, nothing was done. Ask again with `/runaway halt`."
                ),
                Status::Overridden => format!(
                    "*Overridden* by {} at {at}: closed as a false alarm, nothing was done.",
                    who(view.decided_by.as_deref())
                ),
                Status::Resolved => {
                    format!("*Resolved* at {at}: back within its limits, nothing was done.")
                }
                _ if view.decided_by.as_deref() == Some("deadline") => {
                    format!("*Deadline passed* at {at} with nobody overriding: actions run.")
                }
                _ => format!("*Halted* by {} at {at}.", who(view.decided_by.as_deref())),
            };
            fallback += &format!(". {}", decision.replace('*', ""));
            blocks.push(section(&decision));
            if let Some(outcome) = &view.outcome {
                // One section per account, within the 50-block limit.
                for a in outcome.iter().take(MAX_OUTCOME_SECTIONS) {
                    blocks.push(section(&outcome_text(a)));
                }
                if outcome.len() > MAX_OUTCOME_SECTIONS {
                    blocks.push(section(&format!(
                        "… and {} more accounts: see the e-mail or `runaway status`.",
                        outcome.len() - MAX_OUTCOME_SECTIONS
                    )));
                }
            } else if matches!(view.status, Status::Approved | Status::Expired) {
                blocks.push(section("_Running the actions…_"));
            }
            for a in view.lockout.iter().flatten().take(MAX_OUTCOME_SECTIONS) {
                blocks.push(section(&lockout_text(a)));
            }
        }
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("incident `{}` · runawaytrain", view.id)}]}));
    blocks.truncate(50);
    json!({"text": truncate(&fallback, 3000), "blocks": blocks})
}

fn lockout_text(a: &crate::app::lockout::AccountLockout) -> String {
    use crate::app::lockout::LockoutChange;
    let (mut users, mut roles, mut keys) = (BTreeSetOf::new(), BTreeSetOf::new(), 0usize);
    for c in &a.changes {
        match c {
            LockoutChange::AttachUserPolicy { principal, .. } => {
                users.insert(principal.clone());
            }
            LockoutChange::AttachRolePolicy { principal, .. } => {
                roles.insert(principal.clone());
            }
            LockoutChange::DeactivateAccessKey { .. } => keys += 1,
        }
    }
    let mut text = format!(
        "*{} ({})*: deny policies attached to {} users and {} roles, {keys} access keys set Inactive",
        a.name,
        a.account_id,
        users.len(),
        roles.len()
    );
    if !a.exempt.is_empty() {
        let spared: Vec<String> = a
            .exempt
            .iter()
            .map(|e| format!("{} ({})", e.principal, e.reason))
            .collect();
        text += &format!("\nSpared: {}", summarise(&spared, 10, ", "));
    }
    if !a.errors.is_empty() {
        let errors: Vec<String> = a.errors.iter().map(|e| e.message.clone()).collect();
        text += &format!(
            "\n*Errors:* {}\n{}",
            errors.len(),
            summarise(&errors, 5, "\n")
        );
    }
    text
}

type BTreeSetOf = std::collections::BTreeSet<String>;

fn quantity(q: crate::core::rules::Quantity) -> String {
    match q {
        crate::core::rules::Quantity::Count(n) => n.to_string(),
        crate::core::rules::Quantity::Usd(x) => format!("${x:.2}"),
    }
}

fn outcome_text(a: &crate::app::halt::AccountHalt) -> String {
    let stopped: usize = a.stopped.values().map(Vec::len).sum();
    let by_region: Vec<String> = a
        .stopped
        .iter()
        .map(|(r, ids)| format!("{r} {}", ids.len()))
        .collect();
    let mut text = format!(
        "*{} ({})*: stopped {stopped} instances",
        a.name, a.account_id
    );
    if !by_region.is_empty() {
        text += &format!(" ({})", summarise(&by_region, 20, ", "));
    }
    if !a.suspended.is_empty() {
        let groups: Vec<String> = a
            .suspended
            .iter()
            .map(|s| format!("{} ({})", s.group, s.region))
            .collect();
        text += &format!(
            "\nSuspended Auto Scaling groups first: {}",
            summarise(&groups, 10, ", ")
        );
    }
    let exempt = a.skipped.iter().filter(|s| s.exempt).count();
    if exempt > 0 {
        text += &format!("\nLeft running as exempt: {exempt}");
    }
    let unstoppable: Vec<String> = a
        .skipped
        .iter()
        .filter(|s| !s.exempt)
        .map(|s| format!("`{}` ({}): {}", s.instance_id, s.region, s.reason))
        .collect();
    if !unstoppable.is_empty() {
        text += &format!(
            "\n*Still running:* {}\n{}",
            unstoppable.len(),
            summarise(&unstoppable, 10, "\n")
        );
    }
    if !a.errors.is_empty() {
        let errors: Vec<String> = a
            .errors
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.region.as_deref().unwrap_or("account"),
                    e.message
                )
            })
            .collect();
        text += &format!(
            "\n*Errors:* {}\n{}",
            errors.len(),
            summarise(&errors, 5, "\n")
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let secret = Secret::new("8f742231b10e8888abcd99yyyzzz85a5".into());
        let body = b"token=x&command=%2Frunaway&text=status";
        let now = 1_700_000_000;
        let sig = sign(secret.expose(), now, body);
        let ts = now.to_string();
        assert_eq!(
            verify_signature(&secret, Some(&ts), Some(&sig), body, now + 10),
            Ok(())
        );
        assert_eq!(
            verify_signature(
                &secret,
                Some(&ts),
                Some(&sig),
                b"token=x&command=%2Frunaway&text=halt",
                now
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&secret, Some(&ts), Some(&sig), body, now + 301),
            Err(SignatureError::Stale)
        );
        // Timestamps at the ends of i64 do not overflow the window arithmetic.
        for extreme in [i64::MIN + 1, i64::MIN, i64::MAX] {
            assert_eq!(
                verify_signature(&secret, Some(&extreme.to_string()), Some(&sig), body, now),
                Err(SignatureError::Stale)
            );
            assert_eq!(
                verify_signature(&secret, Some(&ts), Some(&sig), body, extreme),
                Err(SignatureError::Stale)
            );
        }
        // A replay within the window is refused; the cache forgets after it.
        let cache = ReplayCache::default();
        assert!(cache.first_time(b"sig", now));
        assert!(!cache.first_time(b"sig", now + 299));
        assert!(cache.first_time(b"sig", now + 10_000));
        assert_eq!(
            verify_signature(&secret, Some(&ts), None, body, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(&secret, Some(&ts), Some("v0=zz"), body, now),
            Err(SignatureError::Mismatch)
        );
        let other = sign("another-secret", now, body);
        assert_eq!(
            verify_signature(&secret, Some(&ts), Some(&other), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(format!("{secret:?}"), "[redacted]");
    }

    /// Checks a message against Slack's Block Kit limits (as its SDK enforces them).
    fn assert_within_limits(m: &Value) {
        let blocks = m["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50, "{} blocks", blocks.len());
        assert!(m["text"].as_str().unwrap().chars().count() <= 3000);
        for b in blocks {
            let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
            match b["type"].as_str().unwrap() {
                "header" => assert!(len(&b["text"]["text"]) <= MAX_HEADER_TEXT),
                "section" => {
                    assert!(
                        len(&b["text"]["text"]) <= MAX_SECTION_TEXT,
                        "section of {}",
                        len(&b["text"]["text"])
                    );
                    let fields = b["fields"].as_array().map_or(0, Vec::len);
                    assert!(fields <= MAX_FIELDS);
                }
                "actions" => {
                    let elements = b["elements"].as_array().unwrap();
                    assert!(elements.len() <= 25);
                    for e in elements {
                        assert!(
                            len(&e["text"]["text"]) <= 75
                                && len(&e["value"]) <= 2000
                                && len(&e["action_id"]) <= 255
                        );
                        assert!(matches!(
                            e["style"].as_str(),
                            None | Some("primary") | Some("danger")
                        ));
                        let c = &e["confirm"];
                        if !c.is_null() {
                            assert!(
                                len(&c["title"]["text"]) <= 100 && len(&c["text"]["text"]) <= 300
                            );
                            assert!(
                                len(&c["confirm"]["text"]) <= 30 && len(&c["deny"]["text"]) <= 30
                            );
                        }
                    }
                }
                "context" => {}
                other => panic!("unexpected block {other}"),
            }
        }
    }

    #[test]
    fn every_state_of_a_huge_incident_stays_within_slack_limits() {
        use crate::app::halt::{AccountHalt, Skipped};
        use crate::core::incident::{Observed, violation};
        use crate::core::model::Problem;
        use crate::core::rules::Quantity;
        use std::collections::BTreeMap;
        let regions: BTreeMap<String, u64> = (0..120)
            .map(|i| (format!("xx-region-{i}"), 1000 + i))
            .collect();
        let observed = Observed {
            running_instances: 999_999,
            regions: regions.clone(),
            estimated_charges_usd: Some(1e9),
            violations: (0..14)
                .map(|i| violation(&format!("rule_{i}"), Quantity::Count(1), Quantity::Usd(2.5)))
                .collect(),
        };
        let outcome = AccountHalt {
            account_id: "123456789012".into(),
            name: "n".repeat(400),
            stopped: regions
                .keys()
                .map(|r| (r.clone(), (0..300).map(|i| format!("i-{i:017x}")).collect()))
                .collect(),
            suspended: Vec::new(),
            skipped: (0..500)
                .map(|i| Skipped {
                    instance_id: format!("i-{i:017x}"),
                    region: "us-east-1".into(),
                    reason: "r".repeat(200),
                    exempt: i % 2 == 0,
                })
                .collect(),
            errors: (0..80)
                .map(|i| Problem::region(&format!("xx-region-{i}"), "e".repeat(500)))
                .collect(),
        };
        for status in [
            Status::Open,
            Status::AwaitingConfirmation,
            Status::Expired,
            Status::Overridden,
            Status::Partial,
            Status::Unconfirmed,
        ] {
            let view = IncidentView {
                id: "inc-20261123-170000-abcd".into(),
                accounts: (0..60)
                    .map(|i| (format!("{i:012}"), "x".repeat(100)))
                    .collect(),
                observed: Some(observed.clone()),
                actions: vec![
                    Action::StopInstances,
                    Action::LockoutUsers,
                    Action::BlockLaunches,
                ],
                deadline: Some(Utc::now()),
                grace_period: std::time::Duration::from_secs(600),
                status,
                decided_by: Some("deadline".into()),
                decided_at: Some(Utc::now()),
                exempt_tag: "runaway:exempt".into(),
                outcome: (status == Status::Partial).then(|| vec![outcome.clone(); 60]),
                lockout: None,
            };
            let m = incident_message(&view);
            assert_within_limits(&m);
            let last = m["blocks"].as_array().unwrap().last().unwrap().clone();
            assert!(
                last.to_string().contains("inc-20261123-170000-abcd"),
                "the incident id must survive"
            );
        }
    }

    #[test]
    fn long_lists_are_summarised_within_slack_limits() {
        let regions: Vec<String> = (0..100).map(|i| format!("r{i}")).collect();
        let s = summarise(&regions, 3, ", ");
        assert_eq!(s, "r0, r1, r2, … and 97 more");
        assert_eq!(
            truncate(&"x".repeat(4000), MAX_SECTION_TEXT)
                .chars()
                .count(),
            MAX_SECTION_TEXT
        );
    }
}
