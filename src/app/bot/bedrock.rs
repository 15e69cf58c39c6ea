//! LLMjacking in the bot (`core::bedrock` judges): an Amazon Bedrock call by a principal not in
//! the account's `bedrock_principals` opens a `bedrock` incident for that principal (or updates
//! the open one, counting the calls), alerted with who, which key, from where and which model.
//! At the deadline, unless someone overrides: with `lockout_launchers` among the account's
//! actions the principal is locked out (the key it used set Inactive and the deny-all policy, a
//! role's sessions handled as for tampering); otherwise it is an alert, **Lock out** offered.

use std::sync::Arc;

use serde_json::Value;

use super::{Bot, StepClock};
use crate::config::{Account, Action};
use crate::core::bedrock;
use crate::core::events::Outcome;
use crate::core::guardduty::Response;
use crate::core::tamper::Verdict;
use crate::ports::Purpose;
use crate::ports::journal::JournalError;

impl Bot {
    /// A Bedrock call in `account`, from its CloudTrail record: the outcome to journal, and why.
    pub(super) async fn on_bedrock(
        self: &Arc<Self>,
        account: &Account,
        record: &Value,
        clock: StepClock,
    ) -> Result<(Outcome, Option<String>), JournalError> {
        // The guard's identity there, to know its own calls.
        let guard = match self.cloud.connect(account, Purpose::Check, None).await {
            Ok(c) => c.identity().to_owned(),
            Err(e) => {
                let why = format!(
                    "{}: not judged, the guard's identity in the account could not be read ({e})",
                    record["eventName"].as_str().unwrap_or("a Bedrock call")
                );
                tracing::warn!(account.id = %account.id, "{why}");
                return Ok((Outcome::Kept, Some(why)));
            }
        };
        match bedrock::judge(record, &guard, &account.policy.bedrock_principals) {
            Err(why) => Ok((Outcome::Kept, Some(format!("not judged: {why}")))),
            Ok(Verdict::Not(why)) => Ok((Outcome::Ignored, Some(why))),
            Ok(Verdict::Tamper(t)) => {
                let acts = |a| account.actions.contains(&a);
                let (response, rule) =
                    match (acts(Action::BlockBedrock), acts(Action::LockoutLaunchers)) {
                        (true, true) => (
                            Response::Lockout,
                            "bedrock_principals (block_bedrock, lockout_launchers)",
                        ),
                        (true, false) => (Response::Lockout, "bedrock_principals (block_bedrock)"),
                        (false, true) => {
                            (Response::Lockout, "bedrock_principals (lockout_launchers)")
                        }
                        (false, false) => (Response::Alert, "bedrock_principals (alert)"),
                    };
                let grace = account
                    .policy
                    .bedrock_grace_period
                    .unwrap_or(account.policy.grace_period);
                self.open_principal_incident(account, *t, response, rule, grace, clock)
            }
        }
    }
}

impl Bot {
    /// A decided `bedrock` incident, at its deadline or by a press: with `block_bedrock`, the
    /// Bedrock deny policy attached (to the incident's principal with `halt_scope =
    /// "launchers"`, else to every non-exempt user and role); with `lockout_launchers`, the
    /// principal locked out. Journaled under the incident; `restore` undoes it.
    pub(super) async fn bedrock_response(
        &self,
        row: &crate::ports::journal::IncidentRow,
        account: Option<&Account>,
        clock: StepClock,
    ) -> Result<(crate::core::incident::Status, Value), JournalError> {
        use crate::app::lockout::{self, AccountLockout, LockoutReport, Only, Which};
        use crate::core::incident::Status;
        let Some(account) = account else {
            return Ok((
                Status::Partial,
                serde_json::json!({"error": "the incident's account is not configured"}),
            ));
        };
        let f = row.finding.as_ref();
        if f.is_none_or(|f| f.response != Response::Lockout) {
            return Ok((
                Status::Executed,
                serde_json::json!({"note": "an alert only"}),
            ));
        }
        let launchers = row
            .launchers
            .as_ref()
            .map(|l| l.attribution.launchers.clone())
            .unwrap_or_default();
        let mut done = AccountLockout::empty(account.id.as_str(), &account.name);
        if account.actions.contains(&Action::BlockBedrock) {
            let which = Which {
                lockout_users: false,
                block_launches: false,
                block_bedrock: true,
            };
            let journal = (self.journal.as_ref(), row.id.as_str());
            let now = || clock.now();
            let blocked = if account.halt_scope == crate::config::HaltScope::Launchers {
                let mut only = Only::default();
                for l in launchers.iter().filter(|l| !l.exempt) {
                    match (&l.user_name, &l.role_arn) {
                        (_, Some(role)) => {
                            only.roles
                                .insert(role.rsplit('/').next().unwrap_or(role).to_owned());
                        }
                        (Some(user), None) => {
                            only.users.insert(user.clone());
                        }
                        (None, None) => {}
                    }
                }
                lockout::run_only(self.cloud.as_ref(), account, which, &only, journal, &now).await
            } else {
                let report = lockout::run(
                    self.cloud.as_ref(),
                    &[(account, which)],
                    Some(journal),
                    1,
                    &now,
                )
                .await;
                report.accounts.into_iter().next().unwrap_or(done.clone())
            };
            done.absorb(blocked);
        }
        if account.actions.contains(&Action::LockoutLaunchers) && !launchers.is_empty() {
            let locked = self.lock_out(row, account, &launchers, clock).await?;
            done.absorb(locked);
        }
        let status = if done.errors.is_empty() {
            Status::Executed
        } else {
            Status::Partial
        };
        let report = LockoutReport {
            incident: Some(row.id.clone()),
            dry_run: false,
            accounts: vec![done],
        };
        Ok((status, serde_json::json!({ "lockout": report })))
    }
}
