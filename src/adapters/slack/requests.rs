//! Inbound: what Slack sends — slash commands and button presses — read into typed requests,
//! and the one definition of the buttons' `action_id`s. The HTTP server hands the raw (signed)
//! body here and gets a typed request back; it never reads Slack's payloads itself.

use serde::Deserialize;
use slack_morphism::prelude::{SlackCommandEvent, SlackInteractionEvent};

use crate::core::incident::Press;

/// The `action_id` of each button, as the messages put them and presses come back. One
/// definition: a rename here renames both.
pub fn action_id(press: Press) -> &'static str {
    match press {
        Press::Approve => "runaway_approve",
        Press::Override => "runaway_override",
        Press::ConfirmHalt => "runaway_confirm_halt",
        Press::LockoutLaunchers => "runaway_lockout_launchers",
        Press::Isolate => "runaway_isolate",
        Press::ConfirmIsolate => "runaway_confirm_isolate",
    }
}

/// The press an `action_id` stands for.
pub fn press_of(action_id: &str) -> Option<Press> {
    Press::ALL
        .into_iter()
        .find(|p| self::action_id(*p) == action_id)
}

/// A `/runaway` slash command, read with slack-morphism's `SlackCommandEvent` (every field
/// Slack sends is required, so a body that is not Slack's is refused).
#[derive(Debug, Clone, PartialEq)]
pub struct SlashCommand {
    pub text: String,
    pub user_id: String,
    pub response_url: Option<String>,
}

impl SlashCommand {
    /// From a signed HTTP request's form body.
    pub fn parse(body: &[u8]) -> Option<SlashCommand> {
        let event: SlackCommandEvent = serde_urlencoded::from_bytes(body).ok()?;
        Some(SlashCommand::from_event(event))
    }

    /// From the payload of a Socket Mode `slash_commands` envelope.
    pub fn from_event(event: SlackCommandEvent) -> SlashCommand {
        SlashCommand {
            text: event.text.unwrap_or_default(),
            user_id: event.user_id.to_string(),
            response_url: Some(event.response_url.0.to_string()),
        }
    }
}

/// A button press (`block_actions`): who pressed which of the guard's buttons on which
/// incident. Only the first action of a payload is read: a press carries one.
#[derive(Debug, Clone, PartialEq)]
pub struct ButtonPress {
    pub user_id: String,
    pub response_url: Option<String>,
    pub press: Press,
    pub incident: String,
}

#[derive(Deserialize)]
struct InteractionForm {
    payload: String,
}

/// Why an interaction was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAPress {
    /// Not an interaction payload at all: a bad request.
    Malformed,
    /// An interaction, but not a press of one of the guard's buttons: nothing to do.
    Other,
}

impl ButtonPress {
    /// Reads the `payload` field with slack-morphism's `SlackInteractionEvent`.
    pub fn parse(body: &[u8]) -> Result<ButtonPress, NotAPress> {
        let form: InteractionForm =
            serde_urlencoded::from_bytes(body).map_err(|_| NotAPress::Malformed)?;
        let event: SlackInteractionEvent =
            serde_json::from_str(&form.payload).map_err(|_| NotAPress::Malformed)?;
        ButtonPress::from_event(event)
    }

    /// From an interaction (the HTTP payload, or a Socket Mode `interactive` envelope's).
    pub fn from_event(event: SlackInteractionEvent) -> Result<ButtonPress, NotAPress> {
        let SlackInteractionEvent::BlockActions(event) = event else {
            return Err(NotAPress::Other);
        };
        let user = event.user.ok_or(NotAPress::Other)?;
        let action = event
            .actions
            .and_then(|a| a.into_iter().next())
            .ok_or(NotAPress::Other)?;
        let press = press_of(action.action_id.as_ref()).ok_or(NotAPress::Other)?;
        Ok(ButtonPress {
            user_id: user.id.to_string(),
            response_url: event.response_url.map(|u| u.0.to_string()),
            press,
            incident: action.value.ok_or(NotAPress::Other)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_payloads_read_typed() {
        for p in [Press::Approve, Press::Override, Press::ConfirmHalt] {
            assert_eq!(press_of(action_id(p)), Some(p));
        }
        assert_eq!(press_of("runaway_nuke"), None);
        let payload = serde_json::json!({"type": "block_actions", "user": {"id": "U1"},
            "team": {"id": "T1"}, "api_app_id": "A1", "trigger_id": "1.2.3",
            "container": {"type": "message", "message_ts": "1700000000.000001"},
            "response_url": "https://hooks.slack.com/x",
            "actions": [{"type": "button", "action_id": "runaway_override", "value": "inc-1"},
                        {"type": "button", "action_id": "runaway_approve", "value": "inc-2"}]});
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        let press = ButtonPress::parse(body.as_bytes()).unwrap();
        assert_eq!(
            (press.press, press.incident.as_str()),
            (Press::Override, "inc-1")
        );
        assert_eq!(
            ButtonPress::parse(b"payload=nope"),
            Err(NotAPress::Malformed)
        );
        let mut other = payload.clone();
        other["actions"][0]["action_id"] = "x".into();
        let other = serde_urlencoded::to_string([("payload", other.to_string())]).unwrap();
        assert_eq!(ButtonPress::parse(other.as_bytes()), Err(NotAPress::Other));
        let cmd = SlashCommand::parse(
            b"team_id=T1&channel_id=C1&user_id=U1&command=%2Frunaway&text=halt+payer\
              &response_url=https%3A%2F%2Fhooks.slack.com%2Fc&trigger_id=1.2.3",
        )
        .unwrap();
        assert_eq!(cmd.text, "halt payer");
        assert_eq!(
            SlashCommand::parse(b"text=x&user_id=U1"),
            None,
            "not Slack's"
        );
    }
}
