//! The incident state machine of `runaway serve`. Pure: an incident, an event and the time in;
//! a decision out. The bot (`crate::app::bot`) journals the decision and carries out its effects.
//!
//! ```text
//!            check fails                 Halt now (approver)
//!   (none) ─────────────► open ──────────────────────────────► approved ──► executed | partial
//!                          │  │  deadline passes               expired ──► executed | partial
//!                          │  └──────────────────────────────►
//!                          │  Override (approver)
//!                          ├──────────────────────────────────► overridden  (quiet for the snooze,
//!                          │                                                 unless it gets worse)
//!                          │  a later check is ok
//!                          └──────────────────────────────────► resolved
//! ```
//!
//! A later failing check while `open` updates the incident (counts, regions) instead of opening
//! another: no alert storms.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::rules::{Quantity, Violation};

/// Where an incident is. Stored in the journal as its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Alert posted; waiting for a human until the deadline.
    Open,
    /// A `/runaway halt` asked for; waiting for its confirmation button.
    AwaitingConfirmation,
    /// Halt now pressed (or a halt confirmed): the actions run at once.
    Approved,
    /// The deadline passed with nobody overriding: the actions run.
    Expired,
    /// Closed as a false alarm; the account is quiet for the snooze.
    Overridden,
    /// A later check found the account within its limits before anything ran.
    Resolved,
    /// The actions ran, all done.
    Executed,
    /// The actions ran, some failed or left something running.
    Partial,
    /// A CLI halt being carried out.
    Executing,
    /// A `/runaway halt` nobody confirmed in time: lapsed, nothing was done.
    Unconfirmed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::AwaitingConfirmation => "awaiting_confirmation",
            Self::Approved => "approved",
            Self::Expired => "expired",
            Self::Overridden => "overridden",
            Self::Resolved => "resolved",
            Self::Executed => "executed",
            Self::Partial => "partial",
            Self::Executing => "executing",
            Self::Unconfirmed => "unconfirmed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    /// Still waiting for a human or a deadline.
    pub fn is_waiting(self) -> bool {
        matches!(self, Self::Open | Self::AwaitingConfirmation)
    }
}

/// What the check saw when it opened or last updated an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Observed {
    pub running_instances: u64,
    /// Regions with running instances (zeros left out).
    pub regions: BTreeMap<String, u64>,
    pub estimated_charges_usd: Option<f64>,
    pub violations: Vec<Violation>,
    /// How fast the charges grew (a spend rate rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend_rate_usd_per_hour: Option<f64>,
    /// What the running instances cost an hour (a burn rate rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burn_rate_usd_per_hour: Option<f64>,
    /// The instance types by cost, most expensive first (a burn rate rule).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_instance_types: Vec<crate::core::money::TypeCost>,
    /// What Amazon Bedrock's tokens of the last hour cost (a Bedrock burn rate rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bedrock_burn_rate_usd_per_hour: Option<f64>,
    /// The models by what their tokens cost, most expensive first (the same rule).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bedrock_model_costs: Vec<crate::core::tokens::ModelCost>,
}

impl Observed {
    /// Whether `self` is worse than `before`: more instances, higher charges, or a rule that
    /// did not fail before.
    pub fn is_worse_than(&self, before: &Observed) -> bool {
        let more_charges = match (self.estimated_charges_usd, before.estimated_charges_usd) {
            (Some(now), Some(then)) => now > then,
            (Some(_), None) => true,
            _ => false,
        };
        let grew = |now: Option<f64>, then: Option<f64>| match (now, then) {
            (Some(now), Some(then)) => now > then,
            (Some(_), None) => true,
            _ => false,
        };
        let more_burn = grew(self.burn_rate_usd_per_hour, before.burn_rate_usd_per_hour)
            || grew(
                self.bedrock_burn_rate_usd_per_hour,
                before.bedrock_burn_rate_usd_per_hour,
            );
        self.running_instances > before.running_instances
            || more_charges
            || more_burn
            || self
                .violations
                .iter()
                .any(|v| !before.violations.iter().any(|b| b.rule == v.rule))
    }
}

/// The account's latest alert incident, as the decision needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    pub status: Status,
    /// What the account was left at: as overridden, or, once the actions ran, as seen minus
    /// the instances they stopped.
    pub observed: Observed,
    /// When an override stops keeping the account quiet.
    pub snooze_until: Option<DateTime<Utc>>,
}

/// What to do about one account after a check.
#[derive(Debug, Clone, PartialEq)]
pub enum OnCheck {
    Nothing,
    /// Open a new incident and alert.
    Open,
    /// The open incident sees something new: update it and its message.
    Update,
    /// The open incident's account is within its limits again: close it, nothing ran.
    Resolve,
}

/// Decides what a check result means for the account's latest incident. `observed` is `None`
/// when the account passes its rules (a check that could not read the account decides nothing).
pub fn on_check(
    latest: Option<&Latest>,
    observed: Option<&Observed>,
    now: DateTime<Utc>,
) -> OnCheck {
    match (latest, observed) {
        (Some(l), None) if l.status == Status::Open => OnCheck::Resolve,
        (_, None) => OnCheck::Nothing,
        (Some(l), Some(o)) => match l.status {
            Status::Open if l.observed != *o => OnCheck::Update,
            Status::Open | Status::Approved | Status::Expired => OnCheck::Nothing,
            Status::Overridden | Status::Executed | Status::Partial
                if l.snooze_until.is_some_and(|t| now < t) =>
            {
                if o.is_worse_than(&l.observed) {
                    OnCheck::Open
                } else {
                    OnCheck::Nothing
                }
            }
            _ => OnCheck::Open,
        },
        (None, Some(_)) => OnCheck::Open,
    }
}

/// A button press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    Approve,
    Override,
    ConfirmHalt,
    /// Lock out the principals the alert names; decides nothing about the incident.
    LockoutLaunchers,
    /// Isolate the instance a GuardDuty finding names, now, whatever the rule's response.
    Isolate,
    /// Confirm an isolation asked for with `/runaway isolate`.
    ConfirmIsolate,
}

impl Press {
    /// Every press, each a button of the guard's messages.
    pub const ALL: [Press; 6] = [
        Press::Approve,
        Press::Override,
        Press::ConfirmHalt,
        Press::LockoutLaunchers,
        Press::Isolate,
        Press::ConfirmIsolate,
    ];

    /// Its name as the journal's presses record it (`approve`, `confirmhalt`, ...).
    pub fn name(self) -> String {
        format!("{self:?}").to_lowercase()
    }

    /// Whether it changes something in AWS: what the two-person rule asks two approvers for.
    pub fn acts(self) -> bool {
        self != Press::Override
    }

    /// Whether it confirms what someone asked for with a slash command (`/runaway halt`,
    /// `/runaway isolate`): that person's ask counts as the first approval.
    pub fn confirms_a_request(self) -> bool {
        matches!(self, Press::ConfirmHalt | Press::ConfirmIsolate)
    }

    /// The status the press moves a waiting incident to, from the status it must be in; `None`
    /// for a press that acts without deciding the incident.
    pub fn transition(self) -> Option<(Status, Status)> {
        match self {
            Self::Approve => Some((Status::Open, Status::Approved)),
            Self::Override => Some((Status::Open, Status::Overridden)),
            Self::ConfirmHalt => Some((Status::AwaitingConfirmation, Status::Approved)),
            Self::Isolate => Some((Status::Open, Status::Approved)),
            Self::ConfirmIsolate => Some((Status::AwaitingConfirmation, Status::Approved)),
            Self::LockoutLaunchers => None,
        }
    }
}

/// Whether an incident's deadline has passed with nobody deciding: an alert's actions are due,
/// or a `/runaway halt` lapses unconfirmed. An alert not yet delivered has no deadline yet.
pub fn is_due(status: Status, deadline: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    status.is_waiting() && deadline.is_some_and(|d| now >= d)
}

/// Shorthand for tests and messages: a violation of `rule`.
pub fn violation(rule: &str, limit: Quantity, observed: Quantity) -> Violation {
    Violation {
        rule: rule.to_owned(),
        limit,
        observed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn observed(running: u64, charges: Option<f64>, rules: &[&str]) -> Observed {
        Observed {
            spend_rate_usd_per_hour: None,
            burn_rate_usd_per_hour: None,
            top_instance_types: Vec::new(),
            bedrock_burn_rate_usd_per_hour: None,
            bedrock_model_costs: Vec::new(),
            running_instances: running,
            regions: BTreeMap::from([("us-east-1".into(), running)]),
            estimated_charges_usd: charges,
            violations: rules
                .iter()
                .map(|r| violation(r, Quantity::Count(1), Quantity::Count(2)))
                .collect(),
        }
    }

    #[track_caller]
    fn check(
        latest: Option<(Status, Observed, Option<i64>)>,
        now_seen: Option<Observed>,
        expect: OnCheck,
    ) {
        let now = Utc::now();
        let latest = latest.map(|(status, observed, snooze_min)| Latest {
            status,
            observed,
            snooze_until: snooze_min.map(|m| now + Duration::minutes(m)),
        });
        assert_eq!(on_check(latest.as_ref(), now_seen.as_ref(), now), expect);
    }

    #[test]
    fn checks_open_update_and_stay_quiet() {
        let five = observed(5, None, &["max_running_instances"]);
        let six = observed(6, None, &["max_running_instances"]);
        check(None, Some(five.clone()), OnCheck::Open);
        check(None, None, OnCheck::Nothing);
        // An open incident is updated, not doubled; the same picture changes nothing.
        check(
            Some((Status::Open, five.clone(), None)),
            Some(six.clone()),
            OnCheck::Update,
        );
        check(
            Some((Status::Open, five.clone(), None)),
            Some(five.clone()),
            OnCheck::Nothing,
        );
        check(
            Some((Status::Open, five.clone(), None)),
            None,
            OnCheck::Resolve,
        );
        // Being carried out: nothing new.
        check(
            Some((Status::Expired, five.clone(), None)),
            Some(six.clone()),
            OnCheck::Nothing,
        );
        // Overridden: quiet during the snooze unless worse.
        check(
            Some((Status::Overridden, five.clone(), Some(30))),
            Some(five.clone()),
            OnCheck::Nothing,
        );
        check(
            Some((Status::Overridden, five.clone(), Some(30))),
            Some(observed(4, None, &["max_running_instances"])),
            OnCheck::Nothing,
        );
        check(
            Some((Status::Overridden, five.clone(), Some(30))),
            Some(six.clone()),
            OnCheck::Open,
        );
        check(
            Some((Status::Overridden, five.clone(), Some(30))),
            Some(observed(
                5,
                Some(900.0),
                &["max_running_instances", "max_estimated_charges_usd"],
            )),
            OnCheck::Open,
        );
        check(
            Some((Status::Overridden, five.clone(), Some(-1))),
            Some(five.clone()),
            OnCheck::Open,
        );
        // After an execution, a new failure is a new incident.
        check(
            Some((Status::Executed, five.clone(), None)),
            Some(five),
            OnCheck::Open,
        );
    }

    #[test]
    fn presses_and_deadlines() {
        assert_eq!(
            Press::Override.transition().unwrap(),
            (Status::Open, Status::Overridden)
        );
        assert_eq!(
            Press::ConfirmHalt.transition().unwrap(),
            (Status::AwaitingConfirmation, Status::Approved)
        );
        let now = Utc::now();
        assert!(is_due(Status::Open, Some(now), now));
        assert!(!is_due(Status::Open, Some(now + Duration::seconds(1)), now));
        assert!(!is_due(Status::Overridden, Some(now), now));
        assert!(!is_due(Status::Open, None, now), "not delivered yet");
        assert!(is_due(Status::AwaitingConfirmation, Some(now), now));
        for s in [
            Status::Open,
            Status::AwaitingConfirmation,
            Status::Partial,
            Status::Unconfirmed,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }
}
