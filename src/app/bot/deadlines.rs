//! The deadline step: incidents whose grace period is over, confirmations that lapsed, actions
//! cut short by a crash, alerts never delivered.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Bot, Running, StepClock};
use crate::core::incident::{self, Status};
use crate::ports::journal::JournalError;

impl Bot {
    // ----- the deadline step ------------------------------------------------------------

    /// Starts the actions of every open incident whose deadline has passed, and lapses every
    /// `/runaway halt` left unconfirmed past its own. Returns their ids. The actions run in
    /// tasks of their own: one incident's halt never holds up another's deadline.
    pub async fn deadline_step(
        self: &Arc<Self>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, JournalError> {
        let clock = StepClock::new(now);
        let mut fired = Vec::new();
        for row in self.journal.incidents_in(&[
            Status::Open,
            Status::AwaitingConfirmation,
            Status::Approved,
            Status::Expired,
        ])? {
            // Decided but not carried out here: approved on another replica (which leaves the
            // actions to the leader), or a process died in the middle of them. Carry them out:
            // a new survey skips what is already stopped, a new IAM read what is already
            // locked out, so nothing done is done again.
            if matches!(row.status, Status::Approved | Status::Expired) {
                if let Some(running) = self.begin(&row.id) {
                    match &row.acting_process {
                        None => {
                            tracing::info!(incident.id = %row.id, "carrying out actions approved on another replica")
                        }
                        Some(p) => {
                            tracing::warn!(incident.id = %row.id, process = %p, "resuming actions cut short")
                        }
                    }
                    self.journal.set_acting(&row.id)?;
                    self.spawn_execute(&row.id, running, clock);
                    fired.push(row.id);
                }
                continue;
            }
            // An alert never delivered: its process died before it could be. Deliver it now.
            if row.status == Status::Open && row.deadline.is_none() {
                self.spawn_delivery(&row.id, row.opened_at, clock, true);
                continue;
            }
            if !incident::is_due(row.status, row.deadline, now) {
                continue;
            }
            // A finding whose response is an alert waits for a press, never for a deadline.
            if row.finding.as_ref().is_some_and(|f| !f.acts()) {
                continue;
            }
            if row.status == Status::AwaitingConfirmation {
                if self.journal.claim(
                    &row.id,
                    Status::AwaitingConfirmation,
                    Status::Unconfirmed,
                    "deadline",
                    now,
                    None,
                )? {
                    tracing::info!(incident.id = %row.id, "halt not confirmed in time: lapsed");
                    self.spawn_lapse_note(&row.id, row.response_url.clone());
                    fired.push(row.id);
                }
                continue;
            }
            let Some(running) = self.begin(&row.id) else {
                continue;
            };
            if self.journal.claim(
                &row.id,
                Status::Open,
                Status::Expired,
                "deadline",
                now,
                None,
            )? {
                tracing::info!(incident.id = %row.id, "deadline passed, running the actions");
                self.spawn_execute(&row.id, running, clock);
                fired.push(row.id);
            }
        }
        Ok(fired)
    }

    pub(super) fn spawn_execute(self: &Arc<Self>, id: &str, running: Running, clock: StepClock) {
        let (bot, id) = (self.clone(), id.to_owned());
        self.tasks.spawn(async move {
            let _running = running;
            if let Err(e) = bot.execute(&id, None, clock).await {
                tracing::error!(incident.id = %id, error = %e, "actions not journaled");
            }
        });
    }

    /// Says in Slack that a `/runaway halt` lapsed: its message loses its button.
    pub(super) fn spawn_lapse_note(self: &Arc<Self>, id: &str, response_url: Option<String>) {
        let (bot, id) = (self.clone(), id.to_owned());
        self.tasks.spawn(async move {
            if let Err(e) = bot.refresh_message(&id, response_url.as_deref()).await {
                tracing::error!(incident.id = %id, error = %e, "lapse not said");
            }
        });
    }
}
