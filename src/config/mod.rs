//! Configuration: one TOML file, parsed into typed values and validated before anything runs.
//!
//! Every key is documented where it is defined, with its default. An unknown key, a wrong type
//! or an impossible value is a [`ConfigError`] naming the file, the key and what was expected;
//! the CLI turns it into exit status 2 before any AWS call is made.
//!
//! Values that can be wrong are parsed into newtypes ([`AccountId`], [`RoleArn`], [`RegionName`],
//! [`InstanceId`]) so the rest of the code never sees an unchecked string.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod forensics;
mod guardduty;
mod ids;
mod journal;
mod organization;
mod policy;
pub mod reference;
mod services;
mod tamper;
mod validate;

pub use forensics::Forensics;
pub use journal::{CopyTarget, DEFAULT_TABLE, JournalStore, copy_target};
pub use organization::Organization;

pub use ids::{AccountId, InstanceId, LogGroup, RegionName, RoleArn, partition_of};
use validate::{RawFile, build};

/// The default file when neither `--config` nor `$RUNAWAY_CONFIG` is given.
pub const DEFAULT_CONFIG_PATH: &str = "runaway.toml";

/// A configuration that could not be used. Its message names the file, the key and what was
/// expected.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted path of the offending key, `accounts[1].role_arn` style; `(file)` for the file.
    pub key: String,
    pub message: String,
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    pub guard: Guard,
    pub slack: Slack,
    pub notify: Notify,
    /// `[events]`: the event path; absent, the guard polls only.
    pub events: Option<Events>,
    pub accounts: Vec<Account>,
    /// `[[guardduty]]`: the responses to GuardDuty findings (see `config/guardduty.rs`); none,
    /// findings are only journaled.
    pub guardduty: Vec<crate::core::guardduty::Rule>,
    /// `[[tamper]]`: the responses to tampering (see `config/tamper.rs`); a call no rule
    /// matches is alerted.
    pub tamper: Vec<crate::core::tamper::Rule>,
    /// `[organization]` with `discover = true`: the management account's active accounts are
    /// watched too, through the member role, with `[organization.defaults]`.
    pub organization: Option<Organization>,
    /// `[journal]`: where the journal is kept (see `config/journal.rs`).
    pub journal: JournalStore,
}

/// `[events]`: the SQS queue the module's EventBridge rules fill (EC2 state changes, launch
/// calls, GuardDuty findings), long-polled by `runaway serve`.
#[derive(Debug, Clone, PartialEq)]
pub struct Events {
    /// `queue_url`, required in `[events]`: the queue's URL, like
    /// `https://sqs.us-east-1.amazonaws.com/111111111111/runawaytrain-events`.
    pub queue_url: String,
    /// The queue's region: from the URL's host when it is AWS's, else `home_region`.
    pub region: RegionName,
    /// `guard_rules`, default the module's: the queue's name and its stem followed by `-tamper`,
    /// `-bedrock`, `-forward`, `-forward-tamper` and `-forward-bedrock` (`runawaytrain-events`,
    /// `runawaytrain-tamper`, ..., `runawaytrain-forward-bedrock`): the guard's EventBridge rules,
    /// whose disabling, deletion, rewriting or loss of targets is tampering.
    pub guard_rules: Vec<String>,
}

impl Events {
    /// The queue's name: the URL's last part.
    pub fn queue_name(&self) -> &str {
        self.queue_url.rsplit('/').next().unwrap_or_default()
    }
}

/// `[guard]`: how the guard runs, and the defaults of every account.
#[derive(Debug, Clone)]
pub struct Guard {
    /// `home_region`, default `us-east-1`: where regions are discovered, SNS and the billing
    /// metric live.
    pub home_region: RegionName,
    /// `check_every`, default `5m`: interval of the periodic check of `runaway serve`.
    pub check_every: Duration,
    /// `state_path`, default `runaway.db`: the SQLite journal. A relative path is taken from the
    /// directory of the configuration file.
    pub state_path: PathBuf,
    /// `max_concurrency`, default 16: how many regions (over all accounts) are read or acted on
    /// at once. Keeps well inside EC2's per-account, per-region API rate limits.
    pub max_concurrency: usize,
    /// Defaults of the per-account settings below (`exempt_*`, `*_policy_arn`, `grace_period`).
    pub defaults: AccountPolicy,
}

/// Settings that `[guard]` gives every account and one `[[accounts]]` entry may set again.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountPolicy {
    /// `grace_period`, default `10m`: time an alert waits for a human before the actions run.
    pub grace_period: Duration,
    /// `snooze`, default `1h`: after an Override, or once an incident's actions ran, the
    /// account raises no new alert for this long unless it gets worse than it was left.
    pub snooze: Duration,
    /// `exempt_tag`, default `runaway:exempt`: instances tagged `<exempt_tag>=true` are never
    /// touched.
    pub exempt_tag: String,
    /// `exempt_instances`, default none: instance ids that are never touched.
    pub exempt_instances: BTreeSet<InstanceId>,
    /// `exempt_principals`, default none: IAM user/role names or ARNs a lockout never touches.
    pub exempt_principals: Vec<String>,
    /// `lockout_policy_arn`, default `arn:aws:iam::aws:policy/AWSDenyAll`.
    pub lockout_policy_arn: String,
    /// `launch_deny_policy_arn`, no default: required by the `block_launches` action.
    pub launch_deny_policy_arn: Option<String>,
    /// `bedrock_deny_policy_arn`, no default: the module's policy denying Amazon Bedrock's
    /// invocations and model-access set-up; required by the `block_bedrock` action.
    pub bedrock_deny_policy_arn: Option<String>,
    /// `bedrock_principals`, default none: the IAM user and role ARNs expected to call Amazon
    /// Bedrock.
    pub bedrock_principals: Vec<String>,
    /// `bedrock_grace_period`, default `grace_period`: how long a `bedrock` incident waits for an
    /// override before its response runs; `"0s"` runs it at once (`restore` undoes it).
    pub bedrock_grace_period: Option<Duration>,
    /// `cloudtrail_log_group`, no default: the CloudWatch Logs group that holds the account's
    /// CloudTrail records — a name (in the account, in `home_region`) or an ARN (an organisation
    /// trail's group in another configured account or region); where the launchers of an
    /// incident are looked for when the event path has not brought their launch calls.
    pub cloudtrail_log_group: Option<LogGroup>,
    /// `forensics_subnet_id` + `forensics_ami` (+ `forensics_instance_type`), no default: where
    /// `runaway isolate --forensics` launches the forensic instance.
    pub forensics: Option<Forensics>,
    /// `allow_session_revocation`, default `false`: the guard's role may write inline
    /// policies (the Terraform module's input of the same name). Only then does `revoke_sessions`
    /// run and `lockout_launchers` revoke a role's older sessions; without it a launcher role
    /// gets the pre-made launch-deny policy attached instead, and `revoke_sessions` is refused.
    pub allow_session_revocation: bool,
    /// `exempt_resources`, default none: ARNs of resources of services beyond EC2 (databases,
    /// ECS services and tasks, functions) that a halt never touches.
    pub exempt_resources: Vec<String>,
    /// `watch_stops`, default `false`: someone other than the guard stopping or terminating
    /// instances, or turning their termination or stop protection off, opens a `tamper`
    /// incident (the event path must run).
    pub watch_stops: bool,
    /// `expected_principals`, default none: IAM user or role names, ARNs or globs of the
    /// automation that stops or terminates instances legitimately (never tampering).
    pub expected_principals: Vec<String>,
    /// `tag_admins`, default none: principals (names, ARNs or globs) who may put on or take off
    /// the exemption tag; anyone else doing so opens a `tamper` incident.
    pub tag_admins: Vec<String>,
    /// `stop_rate`, default 20: instances a second a halt stops per region once AWS has
    /// throttled it (EC2's StopInstances bucket refills 20 instance tokens a second).
    pub stop_rate: f64,
    /// `iam_rate`, default 10: IAM writes a second once IAM has throttled a lockout or restore.
    pub iam_rate: f64,
}

impl Account {
    /// The services beyond EC2 a check of this account reads: those it halts and those it
    /// counts.
    pub fn surveyed_services(&self) -> Vec<crate::core::services::Service> {
        use crate::core::services::{Service, count_key_service};
        let mut out: Vec<Service> = self
            .halt_services
            .iter()
            .copied()
            .chain(self.max_running.keys().filter_map(|k| count_key_service(k)))
            .filter(|s| *s != Service::Ec2)
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// `[slack]`: only `runaway serve` needs it.
#[derive(Debug, Clone, Default)]
pub struct Slack {
    /// `channel`: the default channel of alerts.
    pub channel: Option<String>,
    /// `approvers`: Slack user ids allowed to halt, approve, override and restore.
    pub approvers: Vec<String>,
    /// `mode`: how Slack reaches the guard.
    pub mode: SlackMode,
    /// `approvals_required`: 1 (default), or 2 for the two-person rule: the big buttons and
    /// commands run only once a second, different approver has pressed too.
    pub approvals_required: u8,
}

/// `[slack] mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SlackMode {
    /// `"http"` (default): Slack posts slash commands and presses to `/slack/*`, signed.
    #[default]
    Http,
    /// `"socket"`: the guard opens a Socket Mode connection with the app-level token
    /// (`SLACK_APP_TOKEN`) and receives them over it; no inbound endpoint for Slack.
    Socket,
}

/// `[notify]`: the e-mail fallback.
#[derive(Debug, Clone, Default)]
pub struct Notify {
    /// `sns_topic_arn`: the default notify topic.
    pub sns_topic_arn: Option<String>,
}

/// One `[[accounts]]` entry.
#[derive(Debug, Clone)]
pub struct Account {
    /// `id`, required: the 12-digit account id.
    pub id: AccountId,
    /// `name`, default the id: a label for people.
    pub name: String,
    /// `role_arn`: the role assumed to reach this account. Absent: the ambient credentials are
    /// this account (checked with GetCallerIdentity before anything is read or changed).
    pub role_arn: Option<RoleArn>,
    /// `external_id`: the external id the role's trust policy asks for, if any.
    pub external_id: Option<String>,
    /// `regions`: a pinned list. Absent: the account's enabled regions are discovered.
    pub regions: Option<Vec<RegionName>>,
    /// `max_running_instances`: Fail when more instances run, over all regions. Absent: no rule.
    pub max_running_instances: Option<u64>,
    /// `max_bedrock_invocations_per_hour`: Fail when Amazon Bedrock's models were invoked more
    /// often over the last hour, over all regions (the `AWS/Bedrock` `Invocations` metric).
    /// Absent: no rule.
    pub max_bedrock_invocations_per_hour: Option<u64>,
    /// `max_estimated_charges_usd`: Fail when the month's estimated charges are higher. A
    /// member account's are read in the payer (the guard's own credentials), by its
    /// `LinkedAccount` dimension; the payer's (an account without `role_arn`) are its total.
    pub max_estimated_charges_usd: Option<f64>,
    /// `max_spend_rate_usd_per_hour`: Fail when the estimated charges grew faster than this
    /// over `spend_window`.
    pub max_spend_rate_usd_per_hour: Option<f64>,
    /// `spend_window`, default `6h`: the window of the spend rate.
    pub spend_window: Duration,
    /// `max_burn_rate_usd_per_hour`: Fail when the running instances cost more than this per
    /// hour at on-demand prices (AWS Price List).
    pub max_burn_rate_usd_per_hour: Option<f64>,
    /// `max_bedrock_burn_rate_usd_per_hour`: Fail when Amazon Bedrock's tokens of the last hour,
    /// over all regions, cost more than this at the Price List's on-demand prices.
    pub max_bedrock_burn_rate_usd_per_hour: Option<f64>,
    /// `actions`, default `["stop_instances"]`: what a confirmed incident does.
    pub actions: Vec<Action>,
    /// `halt_scope`, default `"all"`: which instances an incident of this account stops —
    /// `"all"` the running ones, `"new"` those launched since the account's last ok check,
    /// `"launchers"` those its launchers started. Exempt instances stay exempt in every scope.
    /// `runaway halt` and `/runaway halt` always stop all.
    pub halt_scope: HaltScope,
    /// `halt_services`, default `["ec2"]`: the services an incident of this account halts
    /// (`core::services::Service`); `"all"` is every one this build halts. The services named
    /// here, and those of `max_running`, are what a check reads beyond EC2.
    pub halt_services: Vec<crate::core::services::Service>,
    /// `max_running`, default none: count rules of services beyond EC2, keys as in
    /// `core::services::COUNT_KEYS` (`rds`, `ecs_tasks`, ...); a violation's rule is
    /// `max_running.<key>`.
    pub max_running: std::collections::BTreeMap<String, u64>,
    /// `slack_channel`: overrides `[slack] channel`.
    pub slack_channel: Option<String>,
    /// `sns_topic_arn`: overrides `[notify] sns_topic_arn`.
    pub sns_topic_arn: Option<String>,
    /// The `[guard]` defaults with this entry's overrides applied.
    pub policy: AccountPolicy,
}

/// What an incident does to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    StopInstances,
    LockoutUsers,
    BlockLaunches,
    /// Only the principals that launched the incident's instances: the key they used set
    /// Inactive and the deny-all policy (users); for roles, older sessions revoked with
    /// `allow_session_revocation`, else the launch-deny policy attached.
    LockoutLaunchers,
    /// Every non-exempt user's and role's sessions issued before the incident revoked: stolen
    /// sessions end, the account keeps working. Needs `allow_session_revocation`.
    RevokeSessions,
    /// The Bedrock deny policy (`bedrock_deny_policy_arn`) attached to every non-exempt user
    /// and role, and those users' Bedrock API keys set Inactive: model invocations and
    /// model-access set-up denied, the rest untouched.
    BlockBedrock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HaltScope {
    #[default]
    All,
    New,
    Launchers,
}

/// The longest duration any key accepts: a grace period, a snooze or an interval longer than
/// this is a typo, and bounding them keeps every `now + duration` far from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// `at + d`, or `None` when it would leave chrono's range. Durations of the configuration are
/// at most [`MAX_DURATION`], so this is `Some` for any real clock; callers still never read a
/// failure as zero.
pub fn checked_after(
    at: chrono::DateTime<chrono::Utc>,
    d: Duration,
) -> Option<chrono::DateTime<chrono::Utc>> {
    at.checked_add_signed(chrono::Duration::from_std(d).ok()?)
}

/// Where the configuration comes from: `--config`, else `$RUNAWAY_CONFIG`, else `./runaway.toml`.
pub fn resolve_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("RUNAWAY_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

impl Config {
    /// Reads and validates the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            key: "(file)".into(),
            message: format!("cannot read the configuration: {e}"),
        })?;
        Config::parse(path, &text)
    }

    /// Validates `text` as the content of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        Config::parse_in(path, path.parent().unwrap_or(Path::new(".")), text)
    }

    /// Validates `text`, named `name` in messages, with a relative `state_path` under `base`
    /// (a configuration read from SSM Parameter Store has no directory of its own).
    pub fn parse_in(name: &Path, base: &Path, text: &str) -> Result<Config, ConfigError> {
        let path = name;
        let err = |key: &str, message: String| ConfigError {
            file: path.to_path_buf(),
            key: key.to_owned(),
            message,
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| err("(file)", format!("not valid TOML: {}", one_line(&e))))?;
        let raw: RawFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let line = e
                .inner()
                .span()
                .map(|s| format!(" (line {})", text[..s.start].lines().count().max(1)));
            let message = e.inner().message().to_owned();
            err(
                if key == "." { "(file)" } else { &key },
                format!("{message}{}", line.unwrap_or_default()),
            )
        })?;
        build(path, base, raw).map_err(|(key, msg)| err(&key, msg))
    }

    /// The configured account `id`, else the organisation member `id` as discovery would watch
    /// it (whether it is active is not checked here: reaching it will say).
    pub fn account(&self, id: &str) -> Option<std::borrow::Cow<'_, Account>> {
        if let Some(a) = self.accounts.iter().find(|a| a.id.as_str() == id) {
            return Some(std::borrow::Cow::Borrowed(a));
        }
        let id = AccountId::parse(id).ok()?;
        self.organization
            .as_ref()?
            .member(&id, id.as_str(), &self.guard.home_region)
            .map(std::borrow::Cow::Owned)
    }

    /// The accounts named by `ids`, or all of them when `ids` is empty.
    pub fn select_accounts(&self, ids: &[String]) -> Result<Vec<&Account>, String> {
        select(&self.accounts, ids, &self.path)
    }
}

/// The accounts of `accounts` named by `ids` (ids or names), or all of them when `ids` is
/// empty; `path`: the configuration, for the error.
pub fn select<'a>(
    accounts: &'a [Account],
    ids: &[String],
    path: &Path,
) -> Result<Vec<&'a Account>, String> {
    if ids.is_empty() {
        return Ok(accounts.iter().collect());
    }
    ids.iter()
        .map(|id| {
            // An id always means that account; names are unique and never look like an id
            // (checked at load), so the name is only a second way in.
            accounts
                .iter()
                .find(|a| a.id.as_str() == id)
                .or_else(|| accounts.iter().find(|a| a.name == *id))
                .ok_or_else(|| {
                    format!(
                        "no account {id:?} in {}: expected one of {}",
                        path.display(),
                        accounts
                            .iter()
                            .map(|a| format!("{} ({})", a.id, a.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
        })
        .collect()
}

fn one_line(e: &toml::de::Error) -> String {
    e.to_string()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
