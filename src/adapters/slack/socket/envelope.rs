//! Socket Mode's frames: the envelope around Slack's typed payloads, its acknowledgement, and
//! the envelope ids already handled. slack-morphism 2.31 has models for these but does not
//! export them (its `models::socket_mode` is private, and the public name is its listener's).

use std::collections::{HashSet, VecDeque};

use serde::Deserialize;
use serde_json::{Value, json};
use slack_morphism::prelude::{SlackCommandEvent, SlackInteractionEvent};

use super::Note;
use crate::adapters::slack::inbound::Handler;
use crate::adapters::slack::requests::{ButtonPress, NotAPress, SlashCommand};

/// Envelope ids remembered, to handle a redelivered envelope once.
const SEEN: usize = 1000;

/// A Socket Mode frame, by its `type`.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum Frame {
    #[serde(rename = "hello")]
    Hello { num_connections: Option<u32> },
    #[serde(rename = "disconnect")]
    Disconnect { reason: Option<String> },
    #[serde(rename = "slash_commands")]
    SlashCommands {
        envelope_id: String,
        payload: Box<SlackCommandEvent>,
    },
    #[serde(rename = "interactive")]
    Interactive {
        envelope_id: String,
        payload: Box<SlackInteractionEvent>,
    },
    /// `events_api` and whatever else: acknowledged, not handled.
    #[serde(other)]
    Other,
}

/// Any envelope's id, to acknowledge what is not understood.
#[derive(Deserialize)]
struct Envelope {
    envelope_id: Option<String>,
}

fn ack(envelope_id: &str, payload: Option<Value>) -> Option<String> {
    let mut ack = json!({"envelope_id": envelope_id});
    if let Some(p) = payload {
        ack["payload"] = p;
    }
    Some(ack.to_string())
}

/// Envelope ids already handled, oldest first out.
#[derive(Default)]
pub(super) struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    /// True when `id` was new (and is now remembered).
    fn first(&mut self, id: &str) -> bool {
        if !self.ids.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > SEEN
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }
}

/// One frame from Slack, handled: the ack to send, and what to tell the supervisor.
pub(super) fn handle(
    text: &str,
    id: u64,
    handler: &Handler,
    seen: &mut Seen,
) -> (Option<String>, Option<Note>) {
    match serde_json::from_str::<Frame>(text) {
        Ok(Frame::Hello { num_connections }) => {
            tracing::info!(connections = ?num_connections, "Socket Mode: connected");
            (None, Some(Note::Hello(id)))
        }
        Ok(Frame::Disconnect { reason }) => (
            None,
            Some(Note::Renew(
                id,
                reason.unwrap_or_else(|| "disconnect".into()),
            )),
        ),
        Ok(Frame::SlashCommands {
            envelope_id,
            payload,
        }) => {
            if !seen.first(&envelope_id) {
                return (ack(&envelope_id, None), None);
            }
            let reply = handler.command(&SlashCommand::from_event(*payload));
            (ack(&envelope_id, Some(reply)), None)
        }
        Ok(Frame::Interactive {
            envelope_id,
            payload,
        }) => {
            if seen.first(&envelope_id) {
                match ButtonPress::from_event(*payload) {
                    Ok(press) => handler.press(press),
                    Err(NotAPress::Other | NotAPress::Malformed) => {}
                }
            }
            (ack(&envelope_id, None), None)
        }
        Ok(Frame::Other) => match serde_json::from_str::<Envelope>(text) {
            Ok(Envelope {
                envelope_id: Some(id),
            }) => (ack(&id, None), None),
            _ => (None, None),
        },
        // A payload that is not what its type says: still acknowledged (else Slack
        // delivers it again), never handled.
        Err(e) => match serde_json::from_str::<Envelope>(text) {
            Ok(Envelope {
                envelope_id: Some(id),
            }) => {
                tracing::warn!(error = %e, "Socket Mode: an envelope not understood, acknowledged");
                (ack(&id, None), None)
            }
            _ => {
                tracing::warn!(error = %e, "Socket Mode: a frame that is not an envelope");
                (None, None)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_is_handled_once_even_when_delivered_again() {
        let mut seen = Seen::default();
        assert!(seen.first("e1"));
        assert!(!seen.first("e1"));
        for i in 0..SEEN {
            assert!(seen.first(&format!("x{i}")));
        }
        // The oldest fall out: the set stays bounded.
        assert!(seen.first("e1"));
        assert!(seen.ids.len() <= SEEN + 1);
    }
}
