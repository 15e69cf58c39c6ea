//! Tampering in the bot (`core::tamper` judges): a call by someone other than the guard that
//! stops things behind its back or blinds it opens a `tamper` incident for its principal (or
//! updates the open one), alerted with who, which key, from where and what; the response —
//! alert, or the principal locked out — runs at the deadline unless someone overrides, and
//! **Lock out** is offered either way.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Bot, StepClock};
use crate::config::Account;
use crate::core::events::Outcome;
use crate::core::guardduty::{FindingIncident, Response};
use crate::core::launchers::{Attribution, Launcher, Launchers, LaunchersState, Principal};
use crate::core::tamper::{self, Tamper, Verdict, Watch};
use crate::ports::Purpose;
use crate::ports::journal::JournalError;

impl Bot {
    /// A call of [`tamper::TAMPER_CALLS`] in `account`, from its CloudTrail record: the outcome
    /// to journal, and why.
    pub(super) async fn on_tamper(
        self: &Arc<Self>,
        account: &Account,
        record: &Value,
        clock: StepClock,
    ) -> Result<(Outcome, Option<String>), JournalError> {
        // The guard's identity there, to know its own calls and its own role.
        let conn = match self.cloud.connect(account, Purpose::Check, None).await {
            Ok(c) => c,
            Err(e) => {
                let why = format!(
                    "{}: not judged, the guard's identity in the account could not be read ({e})",
                    record["eventName"].as_str().unwrap_or("a call")
                );
                tracing::warn!(account.id = %account.id, "{why}");
                return Ok((Outcome::Kept, Some(why)));
            }
        };
        self.judge_tamper(account, record, conn.identity(), clock)
    }

    /// As [`Bot::on_tamper`], with the guard's identity in the account already read.
    pub(super) fn judge_tamper(
        self: &Arc<Self>,
        account: &Account,
        record: &Value,
        guard: &str,
        clock: StepClock,
    ) -> Result<(Outcome, Option<String>), JournalError> {
        let policies: Vec<&str> = std::iter::once(account.policy.lockout_policy_arn.as_str())
            .chain(account.policy.launch_deny_policy_arn.as_deref())
            .collect();
        let events = self.config.events.as_ref();
        let watch = Watch {
            guard,
            watch_stops: account.policy.watch_stops,
            expected_principals: &account.policy.expected_principals,
            tag_admins: &account.policy.tag_admins,
            exempt_tag: &account.policy.exempt_tag,
            rules: events.map_or(&[][..], |e| &e.guard_rules[..]),
            queue: events.map(|e| e.queue_name()),
            policies: &policies,
        };
        match tamper::judge(record, &watch) {
            Err(why) => Ok((Outcome::Kept, Some(format!("not judged: {why}")))),
            Ok(Verdict::Not(why)) => Ok((Outcome::Ignored, Some(why))),
            Ok(Verdict::Tamper(t)) => self.open_tamper(account, *t, clock),
        }
    }

    /// Opens (or updates) the tamper incident of `t`'s principal.
    pub(super) fn open_tamper(
        self: &Arc<Self>,
        account: &Account,
        t: Tamper,
        clock: StepClock,
    ) -> Result<(Outcome, Option<String>), JournalError> {
        let rule = tamper::rule_for(&self.config.tamper, &t.event_name);
        let response = rule.map_or(Response::Alert, |r| r.response);
        let grace = rule
            .and_then(|r| r.grace_period)
            .unwrap_or(account.policy.grace_period);
        let rule = rule.map_or("(none: alert)", |r| r.call.as_str()).to_owned();
        self.open_principal_incident(account, t, response, &rule, grace, clock)
    }

    /// Opens (or updates) the incident of `t`'s principal (`tamper`, or `bedrock` for its
    /// category), whose `response` runs after `grace` unless someone overrides.
    pub(super) fn open_principal_incident(
        self: &Arc<Self>,
        account: &Account,
        t: Tamper,
        response: Response,
        rule: &str,
        grace: std::time::Duration,
        clock: StepClock,
    ) -> Result<(Outcome, Option<String>), JournalError> {
        let now = clock.now();
        tracing::warn!(account.id = %account.id, call = %t.describe(), "{}", t.category.as_str());
        let launchers = principal_as_launcher(account, &t, now);
        let new = FindingIncident::of_tamper(t, account.id.as_str(), response, rule, grace, now);
        self.open_or_update(account, new, Some(launchers), clock)
    }
}

/// The tampering principal as a launcher `lockout_launchers` can act on: the key it used, its
/// role; exempt when `exempt_principals` lists it.
fn principal_as_launcher(account: &Account, t: &Tamper, now: DateTime<Utc>) -> Launchers {
    let principal = Principal {
        kind: t.principal_type.clone(),
        arn: t.principal_arn.clone(),
        user_name: t.user_name.clone(),
        access_key_id: t.access_key_id.clone(),
        issuer_arn: t.role_arn.clone(),
    };
    let exempt = tamper::listed(&account.policy.exempt_principals, &principal);
    Launchers {
        state: LaunchersState::Known,
        source: "cloudtrail".into(),
        since: now,
        looked_at: now,
        attribution: Attribution {
            launchers: vec![Launcher {
                principal_arn: t.principal_arn.clone(),
                kind: t.principal_type.clone(),
                user_name: t.user_name.clone(),
                role_arn: t.role_arn.clone(),
                access_key_id: t.access_key_id.clone(),
                source_ips: t.source_ip.iter().cloned().collect(),
                user_agents: t.user_agent.iter().cloned().collect(),
                instances: 0,
                instance_ids: Vec::new(),
                regions: Default::default(),
                exempt,
            }],
            records: 1,
            ..Default::default()
        },
        unattributed: None,
        error: None,
    }
}
