//! Configuration: one TOML file, parsed into typed values and validated before anything runs.
//!
//! Every key is documented where it is defined, with its default. An unknown key, a wrong type
//! or an impossible value is a [`ConfigError`] naming the file, the key and what was expected;
//! the CLI turns it into exit status 2 before any AWS call is made.
//!
//! Values that can be wrong are parsed into newtypes ([`AccountId`], [`RoleArn`], [`RegionName`],
//! [`InstanceId`]) so the rest of the code never sees an unchecked string.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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
    pub accounts: Vec<Account>,
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
}

/// `[slack]`: only `runaway serve` needs it.
#[derive(Debug, Clone, Default)]
pub struct Slack {
    /// `channel`: the default channel of alerts.
    pub channel: Option<String>,
    /// `approvers`: Slack user ids allowed to halt, approve, override and restore.
    pub approvers: Vec<String>,
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
    /// `max_estimated_charges_usd`: Fail when the month's estimated charges are higher.
    pub max_estimated_charges_usd: Option<f64>,
    /// `actions`, default `["stop_instances"]`: what a confirmed incident does.
    pub actions: Vec<Action>,
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
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A 12-digit AWS account id.
    AccountId
);
string_newtype!(
    /// An IAM role ARN, `arn:<partition>:iam::<account>:role/<path/name>`.
    RoleArn
);
string_newtype!(
    /// An AWS region name such as `eu-west-1`.
    RegionName
);
string_newtype!(
    /// An EC2 instance id such as `i-0123456789abcdef0`.
    InstanceId
);

impl AccountId {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!("expected a 12-digit AWS account id, found {s:?}"))
        }
    }
}

impl RoleArn {
    pub fn parse(s: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "expected an IAM role ARN like \"arn:aws:iam::222222222222:role/NAME\", found {s:?}"
            )
        };
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(expected());
        };
        let name = resource.strip_prefix("role/").unwrap_or("");
        let name_ok = !name.is_empty()
            && name.len() <= 512
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
        if arn != "arn"
            || !matches!(partition, "aws" | "aws-cn" | "aws-us-gov")
            || service != "iam"
            || !region.is_empty()
            || AccountId::parse(account).is_err()
            || !name_ok
        {
            return Err(expected());
        }
        Ok(Self(s.to_owned()))
    }

    /// The account the role lives in.
    pub fn account(&self) -> &str {
        self.0.split(':').nth(4).unwrap_or_default()
    }
}

impl RegionName {
    pub fn parse(s: &str) -> Result<Self, String> {
        // Shape of every region name so far: lowercase words separated by '-', ending in a
        // number (us-east-1, us-gov-west-1, eu-isoe-west-1, ap-southeast-7).
        let mut words = s.split('-').collect::<Vec<_>>();
        let ok = words.len() >= 3
            && words
                .pop()
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            && words
                .iter()
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "expected an AWS region name like \"eu-west-1\", found {s:?}"
            ))
        }
    }

    /// The partition the region belongs to (`aws`, `aws-cn`, `aws-us-gov`, ...).
    pub fn partition(&self) -> &'static str {
        partition_of(&self.0)
    }
}

/// The partition of a region name. Regions are only ever compared within one partition: the
/// credentials of one partition cannot reach another.
pub fn partition_of(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 6] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

impl InstanceId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let hex = s.strip_prefix("i-").unwrap_or("");
        if (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "expected an EC2 instance id like \"i-0123456789abcdef0\", found {s:?}"
            ))
        }
    }
}

// ----- the file as written --------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    guard: RawGuard,
    #[serde(default)]
    slack: RawSlack,
    #[serde(default)]
    notify: RawNotify,
    #[serde(default)]
    accounts: Vec<RawAccount>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGuard {
    home_region: Option<String>,
    check_every: Option<String>,
    state_path: Option<PathBuf>,
    max_concurrency: Option<i64>,
    grace_period: Option<String>,
    snooze: Option<String>,
    exempt_tag: Option<String>,
    exempt_instances: Option<Vec<String>>,
    exempt_principals: Option<Vec<String>>,
    lockout_policy_arn: Option<String>,
    launch_deny_policy_arn: Option<String>,
}

/// The per-account settings of `[guard]` or of one `[[accounts]]` entry.
struct RawPolicy {
    grace_period: Option<String>,
    snooze: Option<String>,
    exempt_tag: Option<String>,
    exempt_instances: Option<Vec<String>>,
    exempt_principals: Option<Vec<String>>,
    lockout_policy_arn: Option<String>,
    launch_deny_policy_arn: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    channel: Option<String>,
    #[serde(default)]
    approvers: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    sns_topic_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    id: String,
    name: Option<String>,
    role_arn: Option<String>,
    external_id: Option<String>,
    regions: Option<Vec<String>>,
    max_running_instances: Option<i64>,
    max_estimated_charges_usd: Option<f64>,
    actions: Option<Vec<Action>>,
    slack_channel: Option<String>,
    sns_topic_arn: Option<String>,
    grace_period: Option<String>,
    snooze: Option<String>,
    exempt_tag: Option<String>,
    exempt_instances: Option<Vec<String>>,
    exempt_principals: Option<Vec<String>>,
    lockout_policy_arn: Option<String>,
    launch_deny_policy_arn: Option<String>,
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
        build(path, raw).map_err(|(key, msg)| err(&key, msg))
    }

    /// The accounts named by `ids`, or all of them when `ids` is empty.
    pub fn select_accounts(&self, ids: &[String]) -> Result<Vec<&Account>, String> {
        if ids.is_empty() {
            return Ok(self.accounts.iter().collect());
        }
        ids.iter()
            .map(|id| {
                // An id always means that account; names are unique and never look like an id
                // (checked at load), so the name is only a second way in.
                self.accounts
                    .iter()
                    .find(|a| a.id.as_str() == id)
                    .or_else(|| self.accounts.iter().find(|a| a.name == *id))
                    .ok_or_else(|| {
                        format!(
                            "no account {id:?} in {}: expected one of {}",
                            self.path.display(),
                            self.accounts
                                .iter()
                                .map(|a| format!("{} ({})", a.id, a.name))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
            })
            .collect()
    }
}

fn one_line(e: &toml::de::Error) -> String {
    e.to_string()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

type Invalid = (String, String);

fn build(path: &Path, raw: RawFile) -> Result<Config, Invalid> {
    let g = raw.guard;
    let home_region = match g.home_region {
        Some(r) => RegionName::parse(&r).map_err(|m| ("guard.home_region".to_owned(), m))?,
        None => RegionName("us-east-1".into()),
    };
    let check_every = duration("guard.check_every", g.check_every.as_deref(), "5m")?;
    if check_every < Duration::from_secs(10) {
        return Err((
            "guard.check_every".into(),
            "expected at least 10s: every check reads every region of every account".into(),
        ));
    }
    let state_path = g.state_path.unwrap_or_else(|| PathBuf::from("runaway.db"));
    let state_path = if state_path.is_relative() {
        path.parent()
            .map(|dir| dir.join(&state_path))
            .unwrap_or(state_path)
    } else {
        state_path
    };
    let max_concurrency = match g.max_concurrency {
        None => 16,
        Some(n @ 1..=256) => n as usize,
        Some(n) => {
            return Err((
                "guard.max_concurrency".into(),
                format!("expected an integer from 1 to 256, found {n}"),
            ));
        }
    };
    let defaults = policy(
        "guard",
        RawPolicy {
            grace_period: g.grace_period,
            snooze: g.snooze,
            exempt_tag: g.exempt_tag,
            exempt_instances: g.exempt_instances,
            exempt_principals: g.exempt_principals,
            lockout_policy_arn: g.lockout_policy_arn,
            launch_deny_policy_arn: g.launch_deny_policy_arn,
        },
        None,
    )?;

    let slack = Slack {
        channel: raw.slack.channel,
        approvers: raw.slack.approvers,
    };
    if let Some(channel) = &slack.channel
        && !is_slack_id(channel, &['C', 'G'])
    {
        return Err((
            "slack.channel".into(),
            format!("expected a Slack channel id like \"C0123456789\", found {channel:?}"),
        ));
    }
    if let Some(i) = slack
        .approvers
        .iter()
        .position(|u| !is_slack_id(u, &['U', 'W']))
    {
        return Err((
            format!("slack.approvers[{i}]"),
            format!(
                "expected a Slack user id like \"U0123456789\", found {:?}",
                slack.approvers[i]
            ),
        ));
    }
    let notify = Notify {
        sns_topic_arn: raw.notify.sns_topic_arn,
    };
    if let Some(arn) = &notify.sns_topic_arn {
        sns_arn("notify.sns_topic_arn", arn)?;
    }

    if raw.accounts.is_empty() {
        return Err((
            "accounts".into(),
            "expected at least one [[accounts]] entry".into(),
        ));
    }
    let mut accounts = Vec::with_capacity(raw.accounts.len());
    for (i, a) in raw.accounts.into_iter().enumerate() {
        accounts.push(account(i, a, &defaults)?);
    }
    let mut seen = BTreeSet::new();
    let mut names = BTreeSet::new();
    for (i, a) in accounts.iter().enumerate() {
        if !seen.insert(a.id.clone()) {
            return Err((
                format!("accounts[{i}].id"),
                format!("account {} is listed twice", a.id),
            ));
        }
        if !names.insert(a.name.clone()) {
            return Err((
                format!("accounts[{i}].name"),
                format!(
                    "expected a name no other account has, found {:?} twice",
                    a.name
                ),
            ));
        }
    }
    let ambient: Vec<usize> = accounts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.role_arn.is_none())
        .map(|(i, _)| i)
        .collect();
    if let [_, second, ..] = ambient[..] {
        return Err((
            format!("accounts[{second}].role_arn"),
            "expected a role ARN: only one account can use the ambient credentials".into(),
        ));
    }
    Ok(Config {
        path: path.to_path_buf(),
        guard: Guard {
            home_region,
            check_every,
            state_path,
            max_concurrency,
            defaults,
        },
        slack,
        notify,
        accounts,
    })
}

fn account(i: usize, a: RawAccount, defaults: &AccountPolicy) -> Result<Account, Invalid> {
    let key = |k: &str| format!("accounts[{i}].{k}");
    let id = AccountId::parse(&a.id).map_err(|m| (key("id"), m))?;
    let role_arn = a
        .role_arn
        .as_deref()
        .map(RoleArn::parse)
        .transpose()
        .map_err(|m| (key("role_arn"), m))?;
    if let Some(role) = &role_arn
        && role.account() != id.as_str()
    {
        return Err((
            key("role_arn"),
            format!(
                "expected a role in account {id}, found one in account {}",
                role.account()
            ),
        ));
    }
    if a.external_id.is_some() && role_arn.is_none() {
        return Err((
            key("external_id"),
            "only meaningful with role_arn, which is absent".into(),
        ));
    }
    let regions = match a.regions {
        None => None,
        Some(list) if list.is_empty() => {
            return Err((
                key("regions"),
                "expected at least one region, or no `regions` key to discover them".into(),
            ));
        }
        Some(list) => {
            let mut out: Vec<RegionName> = Vec::with_capacity(list.len());
            for (j, r) in list.iter().enumerate() {
                let r =
                    RegionName::parse(r).map_err(|m| (format!("{}[{j}]", key("regions")), m))?;
                if !out.contains(&r) {
                    out.push(r);
                }
            }
            Some(out)
        }
    };
    let max_running_instances = match a.max_running_instances {
        None => None,
        Some(n) if n >= 0 => Some(n as u64),
        Some(n) => {
            return Err((
                key("max_running_instances"),
                format!("expected a non-negative integer, found {n}"),
            ));
        }
    };
    let max_estimated_charges_usd = match a.max_estimated_charges_usd {
        Some(x) if !(x.is_finite() && x >= 0.0) => {
            return Err((
                key("max_estimated_charges_usd"),
                format!("expected a non-negative amount in USD, found {x}"),
            ));
        }
        other => other,
    };
    let actions = a.actions.unwrap_or_else(|| vec![Action::StopInstances]);
    if actions.is_empty() {
        return Err((
            key("actions"),
            "expected at least one action (stop_instances, lockout_users, block_launches): an incident that does nothing would still say it acted".into(),
        ));
    }
    let policy = policy(
        &format!("accounts[{i}]"),
        RawPolicy {
            grace_period: a.grace_period,
            snooze: a.snooze,
            exempt_tag: a.exempt_tag,
            exempt_instances: a.exempt_instances,
            exempt_principals: a.exempt_principals,
            lockout_policy_arn: a.lockout_policy_arn,
            launch_deny_policy_arn: a.launch_deny_policy_arn,
        },
        Some(defaults),
    )?;
    if actions.contains(&Action::BlockLaunches) && policy.launch_deny_policy_arn.is_none() {
        return Err((
            key("actions"),
            "block_launches needs launch_deny_policy_arn, in [guard] or on this account".into(),
        ));
    }
    if let Some(arn) = &a.sns_topic_arn {
        sns_arn(&key("sns_topic_arn"), arn)?;
    }
    if let Some(channel) = &a.slack_channel
        && !is_slack_id(channel, &['C', 'G'])
    {
        return Err((
            key("slack_channel"),
            format!("expected a Slack channel id like \"C0123456789\", found {channel:?}"),
        ));
    }
    if let Some(name) = &a.name {
        if name.trim().is_empty() {
            return Err((key("name"), "expected a name, found an empty string".into()));
        }
        // A name that looks like an account id would make `--account 222222222222` ambiguous.
        if AccountId::parse(name).is_ok() && name != id.as_str() {
            return Err((
                key("name"),
                format!("expected a name that does not look like an account id, found {name:?}"),
            ));
        }
    }
    Ok(Account {
        name: a.name.unwrap_or_else(|| id.to_string()),
        id,
        role_arn,
        external_id: a.external_id,
        regions,
        max_running_instances,
        max_estimated_charges_usd,
        actions,
        slack_channel: a.slack_channel,
        sns_topic_arn: a.sns_topic_arn,
        policy,
    })
}

fn policy(
    section: &str,
    raw: RawPolicy,
    defaults: Option<&AccountPolicy>,
) -> Result<AccountPolicy, Invalid> {
    let key = |k: &str| format!("{section}.{k}");
    let base = defaults.cloned().unwrap_or_else(|| AccountPolicy {
        grace_period: Duration::from_secs(600),
        snooze: Duration::from_secs(3600),
        exempt_tag: "runaway:exempt".into(),
        exempt_instances: BTreeSet::new(),
        exempt_principals: Vec::new(),
        lockout_policy_arn: "arn:aws:iam::aws:policy/AWSDenyAll".into(),
        launch_deny_policy_arn: None,
    });
    let grace_period = match raw.grace_period {
        Some(s) => duration(&key("grace_period"), Some(&s), "")?,
        None => base.grace_period,
    };
    let snooze = match raw.snooze {
        Some(s) => duration(&key("snooze"), Some(&s), "")?,
        None => base.snooze,
    };
    let exempt_tag = match raw.exempt_tag {
        Some(t) if t.trim().is_empty() || t.len() > 128 || t.starts_with("aws:") => {
            return Err((
                key("exempt_tag"),
                format!(
                    "expected a tag key of 1 to 128 characters not starting with \"aws:\", found {t:?}"
                ),
            ));
        }
        Some(t) => t,
        None => base.exempt_tag,
    };
    let exempt_instances = match raw.exempt_instances {
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(j, s)| {
                InstanceId::parse(s).map_err(|m| (format!("{}[{j}]", key("exempt_instances")), m))
            })
            .collect::<Result<_, _>>()?,
        None => base.exempt_instances,
    };
    let exempt_principals = match raw.exempt_principals {
        Some(list) => {
            if let Some(j) = list.iter().position(|p| p.trim().is_empty()) {
                return Err((
                    format!("{}[{j}]", key("exempt_principals")),
                    "expected an IAM user or role name or ARN, found an empty string".into(),
                ));
            }
            list
        }
        None => base.exempt_principals,
    };
    let lockout_policy_arn = match raw.lockout_policy_arn {
        Some(arn) => policy_arn(&key("lockout_policy_arn"), arn)?,
        None => base.lockout_policy_arn,
    };
    let launch_deny_policy_arn = match raw.launch_deny_policy_arn {
        Some(arn) => Some(policy_arn(&key("launch_deny_policy_arn"), arn)?),
        None => base.launch_deny_policy_arn,
    };
    Ok(AccountPolicy {
        grace_period,
        snooze,
        exempt_tag,
        exempt_instances,
        exempt_principals,
        lockout_policy_arn,
        launch_deny_policy_arn,
    })
}

/// The longest duration any key accepts: a grace period, a snooze or an interval longer than
/// this is a typo, and bounding them keeps every `now + duration` far from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

fn duration(key: &str, value: Option<&str>, default: &str) -> Result<Duration, Invalid> {
    let text = value.unwrap_or(default);
    match humantime::parse_duration(text) {
        Ok(d) if d > MAX_DURATION => Err((
            key.to_owned(),
            format!("expected at most 30 days, found {text:?}"),
        )),
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err((
            key.to_owned(),
            format!(
                "expected a positive duration like \"5m\" or \"1h 30m\" (at most 30 days), found {text:?}"
            ),
        )),
    }
}

/// `at + d`, or `None` when it would leave chrono's range. Durations of the configuration are
/// at most [`MAX_DURATION`], so this is `Some` for any real clock; callers still never read a
/// failure as zero.
pub fn checked_after(
    at: chrono::DateTime<chrono::Utc>,
    d: Duration,
) -> Option<chrono::DateTime<chrono::Utc>> {
    at.checked_add_signed(chrono::Duration::from_std(d).ok()?)
}

fn policy_arn(key: &str, arn: String) -> Result<String, Invalid> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = matches!(parts[..], ["arn", _, "iam", "", acct, res]
        if (acct == "aws" || AccountId::parse(acct).is_ok()) && res.starts_with("policy/") && res.len() > 7);
    if ok {
        Ok(arn)
    } else {
        Err((
            key.to_owned(),
            format!(
                "expected an IAM managed policy ARN like \"arn:aws:iam::111111111111:policy/NAME\", found {arn:?}"
            ),
        ))
    }
}

fn sns_arn(key: &str, arn: &str) -> Result<(), Invalid> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = matches!(parts[..], ["arn", _, "sns", region, acct, name]
        if RegionName::parse(region).is_ok() && AccountId::parse(acct).is_ok() && !name.is_empty());
    if ok {
        Ok(())
    } else {
        Err((
            key.to_owned(),
            format!(
                "expected an SNS topic ARN like \"arn:aws:sns:us-east-1:111111111111:NAME\", found {arn:?}"
            ),
        ))
    }
}

fn is_slack_id(s: &str, prefixes: &[char]) -> bool {
    s.len() >= 9
        && s.starts_with(prefixes)
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[guard]
home_region = "us-east-1"
exempt_principals = ["breakglass"]
launch_deny_policy_arn = "arn:aws:iam::111111111111:policy/runawaytrain-launch-deny"

[[accounts]]
id = "111111111111"
name = "payer"
max_running_instances = 4
max_estimated_charges_usd = 500.0
actions = ["stop_instances", "lockout_users", "block_launches"]

[[accounts]]
id = "222222222222"
name = "research"
role_arn = "arn:aws:iam::222222222222:role/runawaytrain-member"
max_running_instances = 10
regions = ["eu-west-1", "us-east-1"]
exempt_tag = "keep"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/runaway/runaway.toml"), text)
    }

    /// Parses `text` and expects an error naming `key` whose message contains `needle`.
    fn check_err(text: &str, key: &str, needle: &str) {
        let e = parse(text).expect_err("expected a configuration error");
        assert_eq!(e.key, key, "{e}");
        assert!(e.message.contains(needle), "{e}");
        assert!(
            e.to_string().starts_with("/etc/runaway/runaway.toml: "),
            "{e}"
        );
    }

    #[test]
    fn minimal_file_with_defaults_and_overrides() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.guard.check_every, Duration::from_secs(300));
        assert_eq!(c.guard.state_path, Path::new("/etc/runaway/runaway.db"));
        assert_eq!(c.accounts[0].policy.exempt_tag, "runaway:exempt");
        assert_eq!(c.accounts[1].policy.exempt_tag, "keep");
        assert_eq!(c.accounts[1].policy.exempt_principals, vec!["breakglass"]);
        assert_eq!(c.accounts[1].actions, vec![Action::StopInstances]);
        assert_eq!(c.accounts[1].regions.as_ref().unwrap().len(), 2);
        assert_eq!(c.accounts[0].max_estimated_charges_usd, Some(500.0));
    }

    #[test]
    fn errors_name_the_key_and_what_was_expected() {
        check_err(
            &MINIMAL.replace("name = \"payer\"", "name = \"payer\"\nmax_instances = 3"),
            "accounts[0].max_instances",
            "unknown field",
        );
        check_err(
            &MINIMAL.replace("home_region", "home_regoin"),
            "guard.home_regoin",
            "unknown field",
        );
        check_err(
            &MINIMAL.replace("max_running_instances = 4", "max_running_instances = \"4\""),
            "accounts[0].max_running_instances",
            "invalid type",
        );
        check_err(
            &MINIMAL.replace("max_running_instances = 4", "max_running_instances = -1"),
            "accounts[0].max_running_instances",
            "non-negative",
        );
        check_err(
            &MINIMAL.replace("500.0", "-3.5"),
            "accounts[0].max_estimated_charges_usd",
            "non-negative",
        );
        check_err(
            &MINIMAL.replace("\"111111111111\"\nname", "\"11111111111\"\nname"),
            "accounts[0].id",
            "12-digit",
        );
        check_err(
            &MINIMAL.replace("role/runawaytrain-member", "user/bob"),
            "accounts[1].role_arn",
            "role ARN",
        );
        check_err(
            &MINIMAL.replace("iam::222222222222:role", "iam::333333333333:role"),
            "accounts[1].role_arn",
            "account 222222222222",
        );
        check_err(
            &MINIMAL.replace("\"eu-west-1\"", "\"eu-west\""),
            "accounts[1].regions[0]",
            "region name",
        );
        check_err(
            &MINIMAL.replace("\"lockout_users\"", "\"nuke\""),
            "accounts[0].actions[1]",
            "unknown variant",
        );
        check_err(
            &format!("{MINIMAL}\n[[accounts]]\nid = \"333333333333\"\n"),
            "accounts[2].role_arn",
            "ambient",
        );
        check_err(
            &MINIMAL.replace("home_region = \"us-east-1\"", "check_every = \"soon\""),
            "guard.check_every",
            "duration",
        );
        check_err("[guard]\n", "accounts", "at least one");
        check_err("[guard\n", "(file)", "TOML");
    }

    #[test]
    fn durations_are_bounded_and_never_become_zero() {
        // chrono::Duration::from_std overflows on this one; it must be refused, not read as 0 s.
        check_err(
            &MINIMAL.replace("home_region = \"us-east-1\"", "grace_period = \"1000000y\""),
            "guard.grace_period",
            "at most 30 days",
        );
        check_err(
            &MINIMAL.replace("exempt_tag = \"keep\"", "snooze = \"31days\""),
            "accounts[1].snooze",
            "at most 30 days",
        );
        check_err(
            &MINIMAL.replace("home_region = \"us-east-1\"", "check_every = \"40d\""),
            "guard.check_every",
            "at most 30 days",
        );
        check_err(
            &MINIMAL.replace("home_region = \"us-east-1\"", "grace_period = \"0s\""),
            "guard.grace_period",
            "positive",
        );
        let c = parse(&MINIMAL.replace("home_region = \"us-east-1\"", "grace_period = \"30days\""))
            .unwrap();
        assert_eq!(c.accounts[0].policy.grace_period, MAX_DURATION);
        let now = chrono::Utc::now();
        assert_eq!(
            checked_after(now, MAX_DURATION),
            Some(now + chrono::Duration::days(30))
        );
        assert_eq!(
            checked_after(chrono::DateTime::<chrono::Utc>::MAX_UTC, MAX_DURATION),
            None
        );
    }

    #[test]
    fn an_id_always_means_that_account_and_names_are_unique() {
        // A name that looks like another account's id is refused...
        check_err(
            &MINIMAL.replace("name = \"payer\"", "name = \"222222222222\""),
            "accounts[0].name",
            "does not look like an account id",
        );
        // ...and so is a name given twice.
        check_err(
            &MINIMAL.replace("name = \"research\"", "name = \"payer\""),
            "accounts[1].name",
            "twice",
        );
        // Its own id as its name is what the default is anyway.
        let c = parse(&MINIMAL.replace("name = \"payer\"", "name = \"111111111111\"")).unwrap();
        let by_id = c.select_accounts(&["222222222222".into()]).unwrap();
        assert_eq!(by_id[0].name, "research");
        let by_name = c.select_accounts(&["research".into()]).unwrap();
        assert_eq!(by_name[0].id.as_str(), "222222222222");
        assert!(c.select_accounts(&["nobody".into()]).is_err());
    }

    #[test]
    fn slack_channel_and_actions_are_checked() {
        check_err(
            &format!("{MINIMAL}\n[slack]\nchannel = \"#alerts\"\n"),
            "slack.channel",
            "channel id",
        );
        check_err(
            &MINIMAL.replace(
                "actions = [\"stop_instances\", \"lockout_users\", \"block_launches\"]",
                "actions = []",
            ),
            "accounts[0].actions",
            "at least one action",
        );
    }
}
