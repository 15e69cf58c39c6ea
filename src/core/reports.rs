//! The reports of what the guard saw and did — a check, a halt, a lockout, a restore — as
//! printed with `--json`, journaled, and shown in Slack and e-mail. Plain data: the application
//! fills them, the text and the adapters read them.

use std::collections::BTreeMap;

use crate::core::pacing::Throttling;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::core::change::ChangeKind;
use crate::core::model::Problem;
use crate::core::rules::{State, Violation};

// ----- check ----------------------------------------------------------------------------------

/// The report of one check, as printed by `check --json`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    #[serde(serialize_with = "rfc3339")]
    pub checked_at: DateTime<Utc>,
    pub state: State,
    pub accounts: Vec<AccountReport>,
    /// What kept accounts from being checked at all (the organisation unreadable).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Problem>,
    /// Databases an incident stopped that AWS had started again (after 7 days), stopped again
    /// by `runaway serve`'s check (never by `runaway check`, which changes nothing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restopped: Vec<Restopped>,
}

/// A database stopped again: AWS had started it, its incident had not given it back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Restopped {
    pub incident: String,
    pub account_id: String,
    pub region: String,
    pub arn: String,
    /// Why it could not be stopped again, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountReport {
    pub account_id: String,
    pub name: String,
    /// `configured` (an `[[accounts]]` entry) or `discovered` (through the organisation).
    pub source: &'static str,
    pub state: State,
    pub running_instances: u64,
    /// Every region checked, zeros included; a region that could not be read is absent here and
    /// present in `errors`.
    pub regions: BTreeMap<String, u64>,
    pub estimated_charges_usd: Option<f64>,
    /// How fast the estimated charges grew over the spend window (a spend rate rule; null
    /// when not measured).
    pub spend_rate_usd_per_hour: Option<f64>,
    /// What the running instances cost an hour at on-demand prices (a burn rate rule; null
    /// when not measured).
    pub burn_rate_usd_per_hour: Option<f64>,
    /// Amazon Bedrock's invocations over the last hour, all regions (a
    /// `max_bedrock_invocations_per_hour` rule; absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedrock_invocations_per_hour: Option<u64>,
    /// Each model's invocations over the last hour (with the rule), most used first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bedrock_models: Vec<(String, u64)>,
    /// What Amazon Bedrock's tokens of the last hour cost at on-demand prices, all regions (a
    /// `max_bedrock_burn_rate_usd_per_hour` rule; absent without one, and when a model has no
    /// price, which `errors` names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bedrock_burn_rate_usd_per_hour: Option<f64>,
    /// The models by what their tokens cost, most expensive first (the same rule).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bedrock_model_costs: Vec<crate::core::tokens::ModelCost>,
    /// Amazon Bedrock's provisioned throughputs (read with a Bedrock rule), each with what it
    /// costs an hour; reported, never deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bedrock_provisioned: Vec<crate::core::provisioned::Provisioned>,
    /// The instance types by cost, most expensive first (a burn rate rule).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top_instance_types: Vec<crate::core::money::TypeCost>,
    pub violations: Vec<Violation>,
    pub errors: Vec<Problem>,
    /// What runs of each service beyond EC2 the account halts or counts (`rds`, `ecs`,
    /// `lambda`), over the regions that could be read; absent when none is read.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, crate::core::services::ServiceCount>,
    /// The running instances counted, by id, sorted: journaled for an ok check (a launch whose
    /// instances an ok check counted is no launcher of a later incident), never printed.
    #[serde(skip)]
    pub counted: Vec<String>,
}

pub(crate) fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

impl CheckReport {
    /// The exit status of `runaway check`: 0 all ok, 1 a rule fails, 3 something could not be
    /// checked (and nothing failed).
    pub fn exit_code(&self) -> i32 {
        match self.state {
            State::Ok => 0,
            State::Fail => 1,
            State::Error => 3,
        }
    }
}

// ----- halt -----------------------------------------------------------------------------------

/// What a halt did (or, dry, would do), as printed by `halt --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HaltReport {
    /// The journal's incident id; `None` for a dry run, which journals nothing.
    pub incident: Option<String>,
    pub dry_run: bool,
    pub accounts: Vec<AccountHalt>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountHalt {
    pub account_id: String,
    pub name: String,
    /// Instances stopped (dry run: that AWS says could be stopped), by region.
    pub stopped: BTreeMap<String, Vec<String>>,
    /// Auto Scaling groups whose processes were suspended first.
    pub suspended: Vec<Suspension>,
    pub skipped: Vec<Skipped>,
    pub errors: Vec<Problem>,
    /// Compute beyond EC2 (`halt_services`), by service: absent when none is halted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, ServiceHalt>,
    /// What AWS's throttling of the stops cost, over the account's regions: absent when AWS
    /// never throttled.
    #[serde(default, skip_serializing_if = "Throttling::is_none")]
    pub throttled: Throttling,
}

/// What a halt did to one service beyond EC2 (dry run: what it would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceHalt {
    /// ARNs of what was stopped, scaled to zero or held at zero concurrency.
    pub stopped: Vec<String>,
    pub skipped: Vec<SkippedResource>,
    pub errors: Vec<Problem>,
    /// ARNs of what was stopped and cannot be restored (a standalone ECS task).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_restorable: Vec<String>,
    /// `eks`: the nodes the EC2 halt stopped, with their cluster and node group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<StoppedNode>,
}

/// An EKS node (an EC2 instance) a halt stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoppedNode {
    pub instance_id: String,
    pub region: String,
    pub cluster: String,
    pub node_group: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedResource {
    pub arn: String,
    pub region: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Suspension {
    pub region: String,
    pub group: String,
    pub processes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Skipped {
    pub instance_id: String,
    pub region: String,
    pub reason: String,
    /// Exempt by the operator's will, as opposed to left running against the halt's purpose.
    pub exempt: bool,
}

impl HaltReport {
    /// Done in full: nothing failed, and nothing that should stop was left running.
    pub fn complete(&self) -> bool {
        self.accounts.iter().all(|a| {
            a.errors.is_empty()
                && a.skipped.iter().all(|s| s.exempt)
                && a.services.values().all(|s| s.errors.is_empty())
        })
    }

    /// The exit status of `runaway halt`: 0 done, 1 done in part.
    pub fn exit_code(&self) -> i32 {
        if self.complete() { 0 } else { 1 }
    }

    pub fn stopped(&self) -> usize {
        self.accounts
            .iter()
            .flat_map(|a| a.stopped.values())
            .map(Vec::len)
            .sum()
    }

    /// Resources of services beyond EC2 halted.
    pub fn services_stopped(&self) -> usize {
        self.accounts
            .iter()
            .flat_map(|a| a.services.values())
            .map(|s| s.stopped.len())
            .sum()
    }
}

// ----- lockout --------------------------------------------------------------------------------

/// One change a lockout makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum LockoutChange {
    AttachUserPolicy {
        principal: String,
        policy_arn: String,
    },
    AttachRolePolicy {
        principal: String,
        policy_arn: String,
    },
    DeactivateAccessKey {
        principal: String,
        access_key_id: String,
    },
    /// A user's service-specific credential set Inactive: a Bedrock API key (`service`
    /// `bedrock.amazonaws.com`) under `block_bedrock`.
    DeactivateServiceCredential {
        principal: String,
        credential_id: String,
        service: String,
    },
    /// An inline policy on a role denying every session issued before `before`: stolen sessions
    /// end, new ones work (the IAM console's "Revoke active sessions").
    RevokeRoleSessions {
        principal: String,
        policy_name: String,
        before: chrono::DateTime<chrono::Utc>,
    },
    /// The same on a user: the temporary credentials it obtained earlier stop working.
    RevokeUserSessions {
        principal: String,
        policy_name: String,
        before: chrono::DateTime<chrono::Utc>,
    },
}

impl LockoutChange {
    /// The kind of change, as journaled (its name is the JSON tag).
    pub fn action(&self) -> ChangeKind {
        match self {
            Self::AttachUserPolicy { .. } => ChangeKind::AttachUserPolicy,
            Self::AttachRolePolicy { .. } => ChangeKind::AttachRolePolicy,
            Self::DeactivateAccessKey { .. } => ChangeKind::DeactivateAccessKey,
            Self::DeactivateServiceCredential { .. } => ChangeKind::DeactivateServiceCredential,
            Self::RevokeRoleSessions { .. } => ChangeKind::PutRolePolicy,
            Self::RevokeUserSessions { .. } => ChangeKind::PutUserPolicy,
        }
    }
}

/// What one account's lockout will do or did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountLockout {
    pub account_id: String,
    pub name: String,
    /// Changes made (dry run: that would be made).
    pub changes: Vec<LockoutChange>,
    /// Principals left alone, and why.
    pub exempt: Vec<ExemptPrincipal>,
    pub errors: Vec<Problem>,
    /// What IAM's throttling of the changes cost: absent when IAM never throttled.
    #[serde(default, skip_serializing_if = "Throttling::is_none")]
    pub throttled: Throttling,
}

impl AccountLockout {
    /// Nothing done yet in the account `account_id` (`name`).
    pub fn empty(account_id: &str, name: &str) -> AccountLockout {
        AccountLockout {
            account_id: account_id.to_owned(),
            name: name.to_owned(),
            changes: Vec::new(),
            exempt: Vec::new(),
            errors: Vec::new(),
            throttled: Throttling::default(),
        }
    }

    /// Adds what another lockout of the same account did.
    pub fn absorb(&mut self, other: AccountLockout) {
        self.changes.extend(other.changes);
        self.exempt.extend(other.exempt);
        self.errors.extend(other.errors);
        self.throttled.refusals += other.throttled.refusals;
        self.throttled.waited_seconds += other.throttled.waited_seconds;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExemptPrincipal {
    pub principal: String,
    pub reason: String,
}

/// What a lockout did, as printed by `lockout --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockoutReport {
    pub incident: Option<String>,
    pub dry_run: bool,
    pub accounts: Vec<AccountLockout>,
}

impl LockoutReport {
    pub fn complete(&self) -> bool {
        self.accounts.iter().all(|a| a.errors.is_empty())
    }

    pub fn exit_code(&self) -> i32 {
        if self.complete() { 0 } else { 1 }
    }
}

// ----- restore --------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Undone {
    pub account_id: String,
    pub region: String,
    /// The change undone (`stop_instance`, `attach_user_policy`, ...).
    pub action: ChangeKind,
    pub target: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NotUndone {
    pub account_id: String,
    pub region: String,
    pub action: ChangeKind,
    pub target: String,
    pub reason: String,
}

/// What a restore did, as printed by `restore --json`.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub incident: String,
    pub restored: Vec<Undone>,
    /// Left as the incident set them, on purpose (instances not started without
    /// `--start-instances`, and the scaling processes of their groups).
    pub kept: Vec<NotUndone>,
    /// Undos that failed.
    pub errors: Vec<NotUndone>,
    /// Changes a previous restore already undid.
    pub already_restored: usize,
}

impl RestoreReport {
    pub fn exit_code(&self) -> i32 {
        if self.errors.is_empty() { 0 } else { 1 }
    }
}
