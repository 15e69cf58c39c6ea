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
                let (response, rule) = if account.actions.contains(&Action::LockoutLaunchers) {
                    (Response::Lockout, "bedrock_principals (lockout_launchers)")
                } else {
                    (Response::Alert, "bedrock_principals (alert)")
                };
                let grace = account.policy.grace_period;
                self.open_principal_incident(account, *t, response, rule, grace, clock)
            }
        }
    }
}
