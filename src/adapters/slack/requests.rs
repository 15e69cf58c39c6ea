//! Inbound: what Slack sends — slash commands and button presses — read into typed requests,
//! and the one definition of the buttons' `action_id`s. The HTTP server hands the raw (signed)
//! body here and gets a typed request back; it never reads Slack's payloads itself.

use serde::Deserialize;

use crate::core::incident::Press;

/// The `action_id` of each button, as the messages put them and presses come back. One
/// definition: a rename here renames both.
pub fn action_id(press: Press) -> &'static str {
    match press {
        Press::Approve => "runaway_approve",
        Press::Override => "runaway_override",
        Press::ConfirmHalt => "runaway_confirm_halt",
    }
}

/// The press an `action_id` stands for.
pub fn press_of(action_id: &str) -> Option<Press> {
    [Press::Approve, Press::Override, Press::ConfirmHalt]
        .into_iter()
        .find(|p| self::action_id(*p) == action_id)
}

/// A `/runaway` slash command (form body).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SlashCommand {
    #[serde(default)]
    pub text: String,
    pub user_id: String,
    pub response_url: Option<String>,
}

impl SlashCommand {
    pub fn parse(body: &[u8]) -> Option<SlashCommand> {
        serde_urlencoded::from_bytes(body).ok()
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

#[derive(Deserialize)]
struct Payload {
    user: User,
    response_url: Option<String>,
    #[serde(default)]
    actions: Vec<Action>,
}

#[derive(Deserialize)]
struct User {
    id: String,
}

#[derive(Deserialize)]
struct Action {
    action_id: String,
    value: Option<String>,
}

/// Why an interaction was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAPress {
    /// Not an interaction payload at all: a bad request.
    Malformed,
    /// A payload, but not a press of one of the guard's buttons: nothing to do.
    Other,
}

impl ButtonPress {
    pub fn parse(body: &[u8]) -> Result<ButtonPress, NotAPress> {
        let form: InteractionForm =
            serde_urlencoded::from_bytes(body).map_err(|_| NotAPress::Malformed)?;
        let payload: Payload =
            serde_json::from_str(&form.payload).map_err(|_| NotAPress::Malformed)?;
        let action = payload.actions.into_iter().next().ok_or(NotAPress::Other)?;
        let press = press_of(&action.action_id).ok_or(NotAPress::Other)?;
        Ok(ButtonPress {
            user_id: payload.user.id,
            response_url: payload.response_url,
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
            "response_url": "https://hooks.slack.com/x",
            "actions": [{"action_id": "runaway_override", "value": "inc-1"},
                        {"action_id": "runaway_approve", "value": "inc-2"}]});
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
        let other = serde_urlencoded::to_string([(
            "payload",
            r#"{"user":{"id":"U1"},"actions":[{"action_id":"x","value":"y"}]}"#,
        )])
        .unwrap();
        assert_eq!(ButtonPress::parse(other.as_bytes()), Err(NotAPress::Other));
        let cmd = SlashCommand::parse(b"text=halt+payer&user_id=U1").unwrap();
        assert_eq!((cmd.text.as_str(), cmd.response_url), ("halt payer", None));
        assert_eq!(SlashCommand::parse(b"text=x"), None, "no user");
    }
}
