//! The two-person rule in the bot (`[slack] approvals_required = 2`, `core::approvals`): a
//! press of a big button, or a `/runaway restore`, is journaled as waiting, and runs only once
//! a second, different approver has asked too. The deadline is not a press: it still runs the
//! configured actions on its own.

use chrono::{DateTime, Utc};

use super::Bot;
use crate::core::approvals::{WAITING, approvers, enough};
use crate::core::incident::Press;
use crate::ports::journal::JournalError;

impl Bot {
    /// Journals `user`'s ask for `action` on `incident` and says whether enough different
    /// approvers have asked now (`requester`: who asked for it first by a slash command, and
    /// counts as one). When not, tells `user` who is waiting, and rewrites the incident's
    /// message so that everyone sees it.
    pub(super) async fn approved_by_enough(
        &self,
        incident: &str,
        action: &str,
        user: &str,
        requester: Option<&str>,
        response_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, JournalError> {
        let required = self.config.slack.approvals_required;
        if required < 2 {
            return Ok(true);
        }
        self.journal
            .record_press(Some(incident), user, action, true, WAITING, now)?;
        let presses = self.journal.presses(incident)?;
        let who = approvers(&presses, action, requester);
        if enough(required, &who) {
            tracing::info!(incident.id = incident, action, approvers = ?who, "second approval: carrying it out");
            return Ok(true);
        }
        let mine = presses
            .iter()
            .filter(|(u, a, _, o)| u == user && a == action && o == WAITING)
            .count();
        let text = if mine > 1 || requester == Some(user) {
            format!(
                "You have asked already: a second, different approver must press too (two-person rule). Nothing was done for incident `{incident}`."
            )
        } else {
            format!(
                "Asked by <@{user}>: waiting for a second, different approver (two-person rule). Nothing was done for incident `{incident}` yet."
            )
        };
        tracing::info!(
            incident.id = incident,
            action,
            user,
            "waiting for a second approver"
        );
        self.tell(response_url, &text).await;
        self.refresh_message(incident, None).await?;
        Ok(false)
    }

    /// The approvers waiting for a second one on `incident`, for its message.
    pub(super) fn waiting_approvers(&self, incident: &str, requester: Option<&str>) -> Vec<String> {
        if self.config.slack.approvals_required < 2 {
            return Vec::new();
        }
        let Ok(presses) = self.journal.presses(incident) else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for press in Press::ALL.into_iter().filter(|p| p.acts()) {
            let first = press.confirms_a_request().then_some(requester).flatten();
            for u in approvers(&presses, &press.name(), first) {
                if !out.iter().any(|o| o == u) {
                    out.push(u.to_owned());
                }
            }
        }
        out
    }
}
