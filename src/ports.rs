//! The guard's ports: what it needs from the cloud, in its own words. The AWS adapter
//! (`crate::adapters::aws`) is the one implementation; the application layer (`check`, `halt`) only sees
//! these traits, so it never imports an SDK type.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{Account, RegionName};
use crate::core::model::Instance;

mod isolation;
pub mod journal;
pub use isolation::{
    ForensicLaunch, GroupRules, InstanceCapture, Interface, Isolation, ProfileAssociation, Ready,
    Volume,
};

/// Why the guard is reaching into an account. With the incident it acts for, it becomes the
/// assumed role's session name, so that CloudTrail ties every call to its reason: each
/// StopInstances, AttachUserPolicy or UpdateAccessKey made for an incident names it
/// (`runaway-inc-20261125-101500-4f2a`); other sessions name the purpose
/// (`runawaytrain-check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Check,
    Halt,
    Lockout,
    Restore,
    Isolate,
}

/// STS's limit on a role session name.
const MAX_SESSION_NAME: usize = 64;

impl Purpose {
    pub fn session_name(self, incident: Option<&str>) -> String {
        match incident {
            Some(id) => {
                // Session names take `[\w+=,.@-]`; incident ids are made of those already.
                let mut name: String = format!("runaway-{id}")
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
                    .collect();
                name.truncate(MAX_SESSION_NAME);
                name
            }
            None => match self {
                Self::Check => "runawaytrain-check",
                Self::Halt => "runawaytrain-halt",
                Self::Lockout => "runawaytrain-lockout",
                Self::Restore => "runawaytrain-restore",
                Self::Isolate => "runawaytrain-isolate",
            }
            .to_owned(),
        }
    }
}

/// What kind of failure a cloud call met. Callers decide on the kind, people read the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Throttled,
    AccessDenied,
    NotFound,
    /// AWS does not support the operation on this resource (e.g. stopping an instance-store
    /// instance).
    Unsupported,
    /// The endpoint could not be reached or did not answer in time.
    Unreachable,
    /// Credentials are missing, or belong to another account than the configured one.
    Identity,
    Other,
}

/// A failed cloud call. The message names the operation and what AWS said; it never holds a
/// credential.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct CloudError {
    pub kind: ErrorKind,
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
}

impl fmt::Display for CloudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{}: {code}: {}", self.operation, self.message),
            None => write!(f, "{}: {}", self.operation, self.message),
        }
    }
}

/// The time, as the caller sees it: `Utc::now` in the command line, the step's clock in the
/// bot, a chosen one in tests. The application reads time only through it.
pub type Clock<'a> = &'a (dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync);

/// Reaches accounts.
#[async_trait]
pub trait Cloud: Send + Sync {
    /// Obtains credentials for the account (its role, or the ambient credentials) and proves
    /// they are the configured account's, before anything is read or changed there.
    /// `incident`: the incident the guard acts for, if any (it names the session).
    async fn connect(
        &self,
        account: &Account,
        purpose: Purpose,
        incident: Option<&str>,
    ) -> Result<Arc<dyn AccountCloud>, CloudError>;

    /// The account and identity (ARN) of the guard's own credentials (GetCallerIdentity):
    /// what `runaway init` starts from, before any account is configured.
    async fn caller(&self) -> Result<(String, String), CloudError>;

    /// Every account of the organisation, over all pages, read with the guard's own
    /// credentials (the management account's, or a delegated administrator's).
    async fn organization_accounts(&self) -> Result<Vec<OrgAccount>, CloudError>;

    /// The `AWS/Billing` `EstimatedCharges` (USD) points since `since` (hourly maxima), read
    /// with the guard's own credentials in `home_region`: the payer's total, or with `linked`
    /// the `LinkedAccount` dimension of that member account.
    async fn charges(
        &self,
        linked: Option<&str>,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(chrono::DateTime<chrono::Utc>, f64)>, CloudError>;

    /// The on-demand hourly price (USD) of an instance type in a region and operating system,
    /// from the AWS Price List (shared tenancy, no pre-installed software, capacity used);
    /// `None` when the Price List has none.
    async fn on_demand_price(
        &self,
        key: &crate::core::money::PriceKey,
    ) -> Result<Option<f64>, CloudError>;

    /// The dead-man's switch: puts `Heartbeat` (1, Count) in the namespace `Runawaytrain`, at
    /// `at`, with the guard's own credentials in `home_region`. An alarm on its absence tells
    /// the notify list that the guard stopped checking.
    async fn heartbeat(&self, at: chrono::DateTime<chrono::Utc>) -> Result<(), CloudError>;
}

/// An account of the organisation, as its management account lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgAccount {
    pub id: String,
    pub name: String,
    /// `ACTIVE`, `SUSPENDED`, `CLOSED`, `PENDING_CLOSURE`, ...
    pub state: String,
}

impl OrgAccount {
    pub fn is_active(&self) -> bool {
        self.state == "ACTIVE"
    }
}

/// One connected account.
#[async_trait]
pub trait AccountCloud: Send + Sync {
    /// The identity the guard acts as in this account (an ARN).
    fn identity(&self) -> &str;

    /// The steps of isolating an instance (`runaway isolate`).
    fn isolation(&self) -> &dyn Isolation;

    /// The account's enabled regions of the home region's partition.
    async fn enabled_regions(&self) -> Result<Vec<RegionName>, CloudError>;

    /// Every running instance of the region, over all pages, with those of its tags whose keys
    /// are in `tag_keys` (and its Auto Scaling group); with `typed`, also its type and platform
    /// (what the burn rate prices), read in the one call that says them.
    async fn running_instances(
        &self,
        region: &RegionName,
        tag_keys: &[String],
        typed: bool,
    ) -> Result<Vec<Instance>, CloudError>;

    /// The scaling processes already suspended on each named Auto Scaling group.
    async fn suspended_processes(
        &self,
        region: &RegionName,
        groups: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, CloudError>;

    async fn suspend_processes(
        &self,
        region: &RegionName,
        group: &str,
        processes: &[String],
    ) -> Result<(), CloudError>;

    /// Stops the instances (one call). With `dry_run`, asks AWS whether it would succeed
    /// (`DryRun`), changing nothing.
    async fn stop_instances(
        &self,
        region: &RegionName,
        ids: &[String],
        dry_run: bool,
    ) -> Result<(), CloudError>;

    /// When each of the instances was launched.
    async fn launch_times(
        &self,
        region: &RegionName,
        ids: &[String],
    ) -> Result<BTreeMap<String, chrono::DateTime<chrono::Utc>>, CloudError>;

    /// Sets (`add`) or removes the tag `key=value` on the instances (one call). Removing takes the
    /// tag off only where it still has that value.
    async fn tag_instances(
        &self,
        region: &RegionName,
        ids: &[String],
        key: &str,
        value: &str,
        add: bool,
    ) -> Result<(), CloudError>;

    /// The CloudTrail records (raw JSON text) of `event_names` in the CloudWatch Logs group
    /// `group` of `region` (default: the home region), between `since` and `until`.
    async fn cloudtrail_records(
        &self,
        group: &str,
        region: Option<&RegionName>,
        event_names: &[&str],
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>, CloudError>;

    /// Starts stopped instances (one call): `restore --start-instances`.
    async fn start_instances(&self, region: &RegionName, ids: &[String]) -> Result<(), CloudError>;

    async fn resume_processes(
        &self,
        region: &RegionName,
        group: &str,
        processes: &[String],
    ) -> Result<(), CloudError>;

    /// The account's IAM users, with their attached managed policies and access keys.
    async fn iam_users(&self) -> Result<Vec<IamUser>, CloudError>;

    /// The account's IAM roles, with their attached managed policies.
    async fn iam_roles(&self) -> Result<Vec<IamRole>, CloudError>;

    /// Attaches (`attach = true`) or detaches a managed policy to/from a user or a role.
    async fn set_policy(
        &self,
        principal: PrincipalKind,
        name: &str,
        policy_arn: &str,
        attach: bool,
    ) -> Result<(), CloudError>;

    /// Puts (`Some(document)`, JSON) or deletes (`None`) an inline policy of a user or a role.
    async fn set_inline_policy(
        &self,
        kind: PrincipalKind,
        principal: &str,
        name: &str,
        document: Option<&str>,
    ) -> Result<(), CloudError>;

    /// Sets an access key Active or Inactive (never deletes it).
    async fn set_access_key(
        &self,
        user: &str,
        key_id: &str,
        active: bool,
    ) -> Result<(), CloudError>;

    /// The service-specific credentials of `user` for `service` (Bedrock API keys:
    /// `bedrock.amazonaws.com`), `(id, active)`.
    async fn service_credentials(
        &self,
        user: &str,
        service: &str,
    ) -> Result<Vec<(String, bool)>, CloudError>;

    /// Sets a service-specific credential Active or Inactive (never deletes it).
    async fn set_service_credential(
        &self,
        user: &str,
        credential_id: &str,
        active: bool,
    ) -> Result<(), CloudError>;

    /// What of `service` (beyond EC2) runs in the region and costs money, over all pages
    /// (`core::services::What`); with `tags`, each with its tags (what exemptions need).
    async fn service_resources(
        &self,
        region: &RegionName,
        service: crate::core::services::Service,
        tags: bool,
    ) -> Result<Vec<crate::core::services::Resource>, CloudError>;

    /// What each Amazon Bedrock model was used for in the region between `since` and `until`,
    /// from the `AWS/Bedrock` metrics (`Invocations`, `InputTokenCount`, `OutputTokenCount`
    /// per `ModelId`): `max_bedrock_invocations_per_hour`.
    async fn bedrock_usage(
        &self,
        region: &RegionName,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<crate::core::bedrock::ModelUsage>, CloudError>;

    /// Amazon Bedrock's provisioned throughputs in the region, over all pages (their prices not
    /// yet read).
    async fn bedrock_provisioned(
        &self,
        region: &RegionName,
    ) -> Result<Vec<crate::core::provisioned::Provisioned>, CloudError>;

    /// Makes one change to a service resource (a halt's, or its undoing).
    async fn service_change(
        &self,
        region: &RegionName,
        change: &crate::core::services::ServiceChange,
    ) -> Result<(), CloudError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_acting_for_an_incident_are_named_after_it() {
        assert_eq!(
            Purpose::Halt.session_name(Some("inc-20261125-101500-4f2a")),
            "runaway-inc-20261125-101500-4f2a"
        );
        assert_eq!(Purpose::Check.session_name(None), "runawaytrain-check");
        let long = "x".repeat(100);
        assert_eq!(Purpose::Restore.session_name(Some(&long)).len(), 64);
        assert_eq!(
            Purpose::Halt.session_name(Some("inc 1/2")),
            "runaway-inc12",
            "only the characters STS takes"
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    User,
    Role,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IamUser {
    pub name: String,
    pub arn: String,
    pub attached_policies: Vec<String>,
    /// `(access key id, active)`.
    pub access_keys: Vec<(String, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IamRole {
    pub name: String,
    pub arn: String,
    pub path: String,
    pub attached_policies: Vec<String>,
}

/// What people are told about an incident, in the guard's words. The Slack adapter turns it
/// into Block Kit; the notifier into an e-mail.
#[derive(Debug, Clone)]
pub struct IncidentView {
    pub id: String,
    /// `(id, name)` of the accounts concerned.
    pub accounts: Vec<(String, String)>,
    /// What the check saw (alerts only).
    pub observed: Option<crate::core::incident::Observed>,
    pub actions: Vec<crate::config::Action>,
    /// When the actions run (an alert), or the halt lapses (`/runaway halt`); `None` while
    /// the alert is being delivered: the grace period starts once it has been.
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
    /// The grace period, said while the deadline is not known yet.
    pub grace_period: std::time::Duration,
    pub status: crate::core::incident::Status,
    /// Slack user id, or `deadline` when the deadline decided.
    pub decided_by: Option<String>,
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
    pub exempt_tag: String,
    /// What stopping the instances did, once it ran.
    pub outcome: Option<Vec<crate::core::reports::AccountHalt>>,
    /// What the lockout actions did, once they ran.
    pub lockout: Option<Vec<crate::core::reports::AccountLockout>>,
    /// Who launched the instances (alerts), once looked up.
    pub launchers: Option<crate::core::launchers::Launchers>,
    /// The GuardDuty finding behind the incident, and the response to it.
    pub finding: Option<crate::core::guardduty::FindingIncident>,
    /// The instance a `/runaway isolate` asks to isolate.
    pub target: Option<crate::core::isolation::IsolationTarget>,
    /// What isolating the finding's instance did, once it ran.
    pub isolation: Option<crate::core::isolation::IsolationReport>,
    /// Why a finding's response did nothing (the instance gone, exempt), once it ran.
    pub error: Option<String>,
    /// The two-person rule: the approvers who asked and wait for a second, different one.
    pub waiting: Vec<String>,
    /// The account's running count and spend rate over the 24 h before the alert, as one
    /// sparkline line (`core::trend::line`); alerts of one account only.
    pub trend: Option<String>,
}

/// A failed chat call. Never holds the token.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("slack {method}: {error}")]
pub struct ChatError {
    pub method: String,
    pub error: String,
}

/// The chat where alerts go and people press buttons.
#[async_trait]
pub trait Chat: Send + Sync {
    /// The timestamp (`ts`) of the incident's message in `channel`, if it was posted there: how
    /// an alert posted by a process that died before journaling it is found again.
    async fn find_incident(
        &self,
        channel: &str,
        incident: &str,
    ) -> Result<Option<String>, ChatError>;
    /// Posts the incident's message; returns its timestamp (`ts`).
    async fn post_incident(&self, channel: &str, view: &IncidentView) -> Result<String, ChatError>;
    /// Rewrites the incident's message in place.
    async fn update_incident(
        &self,
        channel: &str,
        ts: &str,
        view: &IncidentView,
    ) -> Result<(), ChatError>;
    /// Answers through a `response_url`: `text` only to `user`'s eyes when `ephemeral`, or the
    /// incident's message replacing the original.
    async fn respond(&self, response_url: &str, reply: &Reply) -> Result<(), ChatError>;
}

#[derive(Debug, Clone)]
pub enum Reply {
    Ephemeral(String),
    Incident(Box<IncidentView>),
}

/// The e-mail fallback: the notify list's SNS topic.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), CloudError>;
}

/// One message taken from the event queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    /// The queue's id of the message (the same on every receive of it).
    pub message_id: String,
    /// What deletes it, or changes its visibility, for this receive.
    pub receipt: String,
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// What the guard needs to know of its event queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSettings {
    /// The dead-letter queue's receive limit (`maxReceiveCount` of its redrive policy); `None`
    /// without a dead-letter queue.
    pub max_receive_count: Option<u32>,
    /// How long a received message stays invisible to other receivers.
    pub visibility_timeout: std::time::Duration,
}

/// The event path's queue (SQS), read with the guard's own credentials.
#[async_trait]
pub trait EventQueue: Send + Sync {
    /// The queue's redrive and visibility settings; also proves the queue is reachable.
    async fn settings(&self) -> Result<QueueSettings, CloudError>;
    /// Waits up to `wait` (long polling) for up to `max` messages.
    async fn receive(
        &self,
        max: u32,
        wait: std::time::Duration,
    ) -> Result<Vec<QueueMessage>, CloudError>;
    /// Deletes received messages (batches of up to 10); returns the receipts that could not be
    /// deleted, with why.
    async fn delete(&self, receipts: &[String]) -> Result<Vec<(String, String)>, CloudError>;
    /// Makes a received message visible again after `after` (zero: at once).
    async fn release(&self, receipt: &str, after: std::time::Duration) -> Result<(), CloudError>;
}
