//! The guard watching its own inline-policy writes (`core::policy_writes` decides): a write by
//! its role that the journal does not account for is told to the notify list at once and kept
//! as a problem of `/healthz` for [`KEEP_UNEXPECTED`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Bot, StepClock};
use crate::config::Account;
use crate::core::events::Outcome;
use crate::core::policy_writes::{self, PolicyWrite, Verdict};
use crate::ports::Purpose;
use crate::ports::journal::JournalError;

/// How long an unexpected write stays a problem of `/healthz`.
pub const KEEP_UNEXPECTED: chrono::Duration = chrono::Duration::days(7);

impl Bot {
    /// An inline-policy write in `account`, from its CloudTrail record: the outcome to journal,
    /// and why.
    pub(super) async fn on_policy_write(
        self: &Arc<Self>,
        account: &Account,
        record: &Value,
        clock: StepClock,
    ) -> Result<(Outcome, Option<String>), JournalError> {
        let write = match policy_writes::read(record) {
            Ok(w) => w,
            Err(e) => {
                return Ok((
                    Outcome::Kept,
                    Some(format!("an inline-policy write not read: {e}")),
                ));
            }
        };
        // The guard's identity there, to know its own writes.
        let conn = match self.cloud.connect(account, Purpose::Check, None).await {
            Ok(c) => c,
            Err(e) => {
                let why = format!(
                    "{}: not held to the journal, the guard's identity in the account could not be read ({e})",
                    write.describe()
                );
                tracing::warn!(account.id = %account.id, "{why}");
                return Ok((Outcome::Kept, Some(why)));
            }
        };
        let journaled = self.journaled_documents(account, &write)?;
        match policy_writes::judge(&write, conn.identity(), &journaled) {
            // Someone else's write: tampering if it is to the guard's own role.
            Verdict::NotTheGuard if crate::core::tamper::is_tamper_call(&write.event_name) => {
                self.judge_tamper(account, record, conn.identity(), clock)
            }
            Verdict::NotTheGuard => Ok((Outcome::Ignored, Some("not the guard's write".into()))),
            Verdict::Journaled { incident } => Ok((
                Outcome::Kept,
                Some(format!("the guard's own revocation under {incident}")),
            )),
            Verdict::Unexpected(why) => {
                let why = format!("account {} ({}): {why}", account.id, account.name);
                tracing::error!(account.id = %account.id, problem = %why, "the guard's role wrote a policy it did not journal");
                self.metrics.unexpected_write(clock.now(), &why);
                self.tell_unexpected_write(account, &why).await;
                // Whoever holds the guard's role: a tamper incident too, to alert and lock out.
                if let Some(t) = policy_writes::as_tamper(&write, record, &why) {
                    let (_, opened) = self.open_tamper(account, t, clock)?;
                    return Ok((
                        Outcome::Alerted,
                        Some(format!("{why}; {}", opened.unwrap_or_default())),
                    ));
                }
                Ok((Outcome::Alerted, Some(why)))
            }
        }
    }

    /// The documents the guard journaled for this write's target and policy name, under the
    /// incident its name claims.
    fn journaled_documents(
        &self,
        account: &Account,
        write: &PolicyWrite,
    ) -> Result<Vec<Value>, JournalError> {
        let Some(incident) = write.claimed_incident() else {
            return Ok(Vec::new());
        };
        let kind = write.change_kind();
        Ok(self
            .journal
            .changes(incident)?
            .into_iter()
            .filter(|c| c.account_id == account.id.as_str() && c.action == kind)
            .filter(|c| c.target == write.target)
            .filter_map(|c| serde_json::from_str::<Value>(c.detail.as_deref()?).ok())
            .filter(|d| d["policy_name"] == write.policy_name.as_str())
            .filter_map(|d| match d.get("document") {
                Some(doc) => Some(doc.clone()),
                // Journaled before the document was: it is the revocation of `before`.
                None => serde_json::from_value::<DateTime<Utc>>(d["before"].clone())
                    .ok()
                    .map(crate::core::launchers::revoke_sessions_policy),
            })
            .collect())
    }

    /// The notify e-mail of an unexpected write: the account's topic, else the default.
    async fn tell_unexpected_write(&self, account: &Account, why: &str) {
        let Some(topic) = self.topic_of(account) else {
            tracing::warn!(account.id = %account.id, "no notify topic: the unexpected policy write is only logged and shown in /healthz");
            return;
        };
        let subject = format!(
            "[runawaytrain] the guard's role wrote a policy it did not journal in {}",
            account.name
        );
        let body = format!(
            "The guard's own role wrote an inline policy that its journal does not account for:\n\n  {why}\n\n\
             Whoever made this write holds the guard's credentials, or a session of its role. Read the policy now and remove it if it is not yours, \
             then rotate what the guard runs with (its instance or task role's sessions, its access keys) and read CloudTrail for what else that \
             principal did. runaway serve keeps this as a problem of /healthz for {} days.",
            KEEP_UNEXPECTED.num_days()
        );
        if let Err(e) = self.notifier.publish(topic, &subject, &body).await {
            self.metrics
                .sns_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(error = %e, "the unexpected policy write was not e-mailed");
        }
    }

    /// At start: the unexpected writes the journal holds from the last [`KEEP_UNEXPECTED`], so
    /// that a restart does not clear them from `/healthz`.
    pub fn recall_unexpected_writes(&self, now: DateTime<Utc>) -> Result<(), JournalError> {
        for e in self.journal.events_since(now - KEEP_UNEXPECTED)? {
            if e.outcome == Outcome::Alerted {
                self.metrics
                    .unexpected_write(e.received_at, e.note.as_deref().unwrap_or_default());
            }
        }
        Ok(())
    }
}
