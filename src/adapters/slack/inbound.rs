//! What the guard answers to Slack, whichever way Slack reached it (signed HTTP requests, or
//! Socket Mode envelopes): a slash command's reply, and a button press handed to the bot. Both
//! transports read the same typed requests (`requests`) and call these, so the two modes cannot
//! drift apart.

use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;
use tokio_util::task::TaskTracker;

use super::messages::{ephemeral, in_channel};
use super::requests::{ButtonPress, SlashCommand};
use crate::app::bot::Bot;

pub const HELP: &str = "*runawaytrain* — `/runaway status`: accounts, open incidents, last check · \
`/runaway halt [ACCOUNT]`: stop every running, non-exempt instance (all accounts if none named), after a confirmation · \
`/runaway restore INCIDENT [--start-instances]`: undo what an incident changed · \
`/runaway isolate INSTANCE [ACCOUNT] [REGION]`: cut a compromised instance off and snapshot it, after a confirmation · \
`/runaway help`: this text. Approvers only for halt, restore, isolate and the alert buttons.";

/// The bot, and where work started by requests is tracked (awaited at shutdown).
#[derive(Clone)]
pub struct Handler {
    pub bot: Arc<Bot>,
    pub tasks: TaskTracker,
}

impl Handler {
    pub fn command(&self, form: &SlashCommand) -> Value {
        command(&self.bot, &self.tasks, form)
    }

    pub fn press(&self, p: ButtonPress) {
        press(&self.bot, &self.tasks, p)
    }
}

/// The reply to a `/runaway` command (the response body). Work that takes longer than Slack
/// waits for (a restore) is started in `tasks` and answers through `response_url`.
pub fn command(bot: &Arc<Bot>, tasks: &TaskTracker, form: &SlashCommand) -> Value {
    let mut words = form.text.split_whitespace();
    let words = (words.next(), words.next(), words.next(), words.next());
    match (words.0, words.1, words.2) {
        (None | Some("help"), _, _) => ephemeral(HELP),
        (Some("status"), None, _) => match bot.status_text(Utc::now()) {
            Ok(text) => ephemeral(&text),
            Err(e) => {
                tracing::error!(error = %e, "status unreadable");
                ephemeral("The journal could not be read; see the guard's logs.")
            }
        },
        (Some("halt"), account, None) if words.3.is_none() => {
            match bot.request_halt(
                &form.user_id,
                account,
                form.response_url.as_deref(),
                Utc::now(),
            ) {
                Ok(Ok(view)) => in_channel(&view),
                Ok(Err(why)) => ephemeral(&why),
                Err(e) => {
                    tracing::error!(error = %e, "halt request not journaled");
                    ephemeral("The journal could not be written: nothing was changed.")
                }
            }
        }
        (Some("isolate"), _, _) => {
            let rest: Vec<&str> = form.text.split_whitespace().skip(1).collect();
            match bot.request_isolate(
                &form.user_id,
                &rest,
                form.response_url.as_deref(),
                Utc::now(),
            ) {
                Ok(Ok(view)) => in_channel(&view),
                Ok(Err(why)) => ephemeral(&why),
                Err(e) => {
                    tracing::error!(error = %e, "isolation request not journaled");
                    ephemeral("The journal could not be written: nothing was changed.")
                }
            }
        }
        (Some("restore"), Some(incident), _) if !bot.is_approver(&form.user_id) => {
            match bot.refuse(&form.user_id, "restore", Some(incident), Utc::now()) {
                Ok(text) => ephemeral(text),
                Err(e) => {
                    tracing::error!(error = %e, "refusal not journaled");
                    ephemeral("The journal could not be written: nothing was changed.")
                }
            }
        }
        (Some("restore"), Some(incident), flag @ (None | Some("--start-instances")))
            if words.3.is_none() =>
        {
            // Acknowledged now; the restore answers through response_url when done.
            let (bot, id, user, url) = (
                bot.clone(),
                incident.to_owned(),
                form.user_id.clone(),
                form.response_url.clone(),
            );
            let start = flag.is_some();
            tasks.spawn(async move {
                if let Err(e) = bot
                    .restore(&user, &id, start, url.as_deref(), Utc::now())
                    .await
                {
                    tracing::error!(incident.id = %id, error = %e, "restore failed");
                }
            });
            ephemeral(&format!("Restoring incident `{incident}`…"))
        }
        // What was typed is not echoed back: the help says what is understood.
        _ => ephemeral(&format!("Not a command of `/runaway`.\n{HELP}")),
    }
}

/// A press of one of the guard's buttons, handled in `tasks`: Slack is answered at once, and
/// the bot answers by itself (the message updated, `response_url`).
pub fn press(bot: &Arc<Bot>, tasks: &TaskTracker, press: ButtonPress) {
    let bot = bot.clone();
    tasks.spawn(async move {
        let p = press;
        if let Err(e) = bot
            .press(
                p.press,
                &p.incident,
                &p.user_id,
                p.response_url.as_deref(),
                Utc::now(),
            )
            .await
        {
            tracing::error!(incident.id = %p.incident, error = %e, "press not handled");
        }
    });
}
