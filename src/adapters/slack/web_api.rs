//! Outbound: Slack's Web API with the bot token — posting and updating an incident's message
//! within a budget, never posting one twice — and answers through `response_url`.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::Secret;
use std::collections::HashMap;

use slack_morphism::prelude::{
    SlackApiChatPostMessageRequest, SlackApiChatUpdateRequest, SlackMessageMetadata,
};

use super::messages::{ephemeral, incident_content, incident_message};
use crate::ports::{Chat, ChatError, IncidentView, Reply};

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
            .bearer_auth(self.token.expose_secret())
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
    async fn find_incident(
        &self,
        channel: &str,
        incident: &str,
    ) -> Result<Option<String>, ChatError> {
        self.find_alert(channel, incident).await
    }

    /// Posts the alert, at most once: a post whose answer was lost (5xx, timeout) is looked for
    /// in the channel before it is posted again, and is not posted again if it cannot be looked
    /// for. Also the way back to an alert posted by a process that died before journaling its
    /// `ts`.
    async fn post_incident(&self, channel: &str, view: &IncidentView) -> Result<String, ChatError> {
        let metadata = SlackMessageMetadata::new(METADATA_EVENT.into())
            .with_event_payload(HashMap::from([("incident".to_owned(), view.id.clone())]));
        let request = SlackApiChatPostMessageRequest::new(
            channel.to_owned().into(),
            incident_content(view).with_metadata(metadata),
        );
        let body = serde_json::to_value(&request).expect("Web API models serialise");
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
        let request = SlackApiChatUpdateRequest::new(
            channel.to_owned().into(),
            incident_content(view),
            ts.to_owned().into(),
        );
        let body = serde_json::to_value(&request).expect("Web API models serialise");
        self.call("chat.update", &body, true).await.map(|_| ())
    }

    async fn respond(&self, response_url: &str, reply: &Reply) -> Result<(), ChatError> {
        let body = match reply {
            Reply::Ephemeral(text) => {
                let mut m = ephemeral(text);
                m["replace_original"] = json!(false);
                m
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
