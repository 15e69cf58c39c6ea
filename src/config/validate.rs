//! The file as written, and its validation into a [`Config`]: every key checked, every error
//! naming the key and what was expected.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{
    Account, AccountId, AccountPolicy, Action, Config, Events, Guard, MAX_DURATION, Notify,
    RegionName, RoleArn, Slack,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    guard: RawGuard,
    #[serde(default)]
    slack: RawSlack,
    #[serde(default)]
    notify: RawNotify,
    events: Option<RawEvents>,
    #[serde(default)]
    accounts: Vec<RawAccount>,
    #[serde(default)]
    guardduty: Vec<super::guardduty::RawRule>,
    #[serde(default)]
    tamper: Vec<super::tamper::RawRule>,
    organization: Option<super::organization::RawOrganization>,
    journal: Option<super::journal::RawJournal>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGuard {
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
    bedrock_deny_policy_arn: Option<String>,
    bedrock_principals: Option<Vec<String>>,
    bedrock_grace_period: Option<String>,
    cloudtrail_log_group: Option<String>,
    forensics_subnet_id: Option<String>,
    forensics_ami: Option<String>,
    forensics_instance_type: Option<String>,
    stop_rate: Option<f64>,
    iam_rate: Option<f64>,
    allow_session_revocation: Option<bool>,
    exempt_resources: Option<Vec<String>>,
    watch_stops: Option<bool>,
    expected_principals: Option<Vec<String>>,
    tag_admins: Option<Vec<String>>,
}

/// The per-account settings of `[guard]` or of one `[[accounts]]` entry.
pub(super) struct RawPolicy {
    pub(super) allow_session_revocation: Option<bool>,
    pub(super) exempt_resources: Option<Vec<String>>,
    pub(super) grace_period: Option<String>,
    pub(super) snooze: Option<String>,
    pub(super) exempt_tag: Option<String>,
    pub(super) exempt_instances: Option<Vec<String>>,
    pub(super) exempt_principals: Option<Vec<String>>,
    pub(super) lockout_policy_arn: Option<String>,
    pub(super) launch_deny_policy_arn: Option<String>,
    pub(super) bedrock_deny_policy_arn: Option<String>,
    pub(super) bedrock_principals: Option<Vec<String>>,
    pub(super) bedrock_grace_period: Option<String>,
    pub(super) cloudtrail_log_group: Option<String>,
    pub(super) forensics_subnet_id: Option<String>,
    pub(super) forensics_ami: Option<String>,
    pub(super) forensics_instance_type: Option<String>,
    pub(super) watch_stops: Option<bool>,
    pub(super) expected_principals: Option<Vec<String>>,
    pub(super) tag_admins: Option<Vec<String>>,
    pub(super) stop_rate: Option<f64>,
    pub(super) iam_rate: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlack {
    channel: Option<String>,
    #[serde(default)]
    approvers: Vec<String>,
    mode: Option<String>,
    approvals_required: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    sns_topic_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvents {
    queue_url: String,
    guard_rules: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    id: Option<String>,
    name: Option<String>,
    role_arn: Option<String>,
    external_id: Option<String>,
    regions: Option<Vec<String>>,
    max_running_instances: Option<i64>,
    max_bedrock_invocations_per_hour: Option<i64>,
    max_estimated_charges_usd: Option<f64>,
    max_spend_rate_usd_per_hour: Option<f64>,
    spend_window: Option<String>,
    max_burn_rate_usd_per_hour: Option<f64>,
    max_bedrock_burn_rate_usd_per_hour: Option<f64>,
    actions: Option<Vec<Action>>,
    halt_scope: Option<super::HaltScope>,
    halt_services: Option<Vec<String>>,
    max_running: Option<std::collections::BTreeMap<String, i64>>,
    exempt_resources: Option<Vec<String>>,
    slack_channel: Option<String>,
    sns_topic_arn: Option<String>,
    grace_period: Option<String>,
    snooze: Option<String>,
    exempt_tag: Option<String>,
    exempt_instances: Option<Vec<String>>,
    exempt_principals: Option<Vec<String>>,
    lockout_policy_arn: Option<String>,
    launch_deny_policy_arn: Option<String>,
    bedrock_deny_policy_arn: Option<String>,
    bedrock_principals: Option<Vec<String>>,
    bedrock_grace_period: Option<String>,
    cloudtrail_log_group: Option<String>,
    forensics_subnet_id: Option<String>,
    forensics_ami: Option<String>,
    forensics_instance_type: Option<String>,
    stop_rate: Option<f64>,
    iam_rate: Option<f64>,
    allow_session_revocation: Option<bool>,
    watch_stops: Option<bool>,
    expected_principals: Option<Vec<String>>,
    tag_admins: Option<Vec<String>>,
}

pub(super) type Invalid = (String, String);

/// `base`: where a relative `state_path` is (the file's directory, or the working directory for
/// a configuration read from SSM).
pub(super) fn build(path: &Path, base: &Path, raw: RawFile) -> Result<Config, Invalid> {
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
        base.join(&state_path)
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
    let defaults = super::policy::policy(
        "guard",
        RawPolicy {
            grace_period: g.grace_period,
            snooze: g.snooze,
            exempt_tag: g.exempt_tag,
            exempt_instances: g.exempt_instances,
            exempt_principals: g.exempt_principals,
            lockout_policy_arn: g.lockout_policy_arn,
            launch_deny_policy_arn: g.launch_deny_policy_arn,
            bedrock_deny_policy_arn: g.bedrock_deny_policy_arn,
            bedrock_principals: g.bedrock_principals,
            bedrock_grace_period: g.bedrock_grace_period,
            cloudtrail_log_group: g.cloudtrail_log_group,
            forensics_subnet_id: g.forensics_subnet_id,
            forensics_ami: g.forensics_ami,
            forensics_instance_type: g.forensics_instance_type,
            allow_session_revocation: g.allow_session_revocation,
            exempt_resources: g.exempt_resources,
            watch_stops: g.watch_stops,
            expected_principals: g.expected_principals,
            tag_admins: g.tag_admins,
            stop_rate: g.stop_rate,
            iam_rate: g.iam_rate,
        },
        None,
    )?;

    let mode = match raw.slack.mode.as_deref() {
        None | Some("http") => super::SlackMode::Http,
        Some("socket") => super::SlackMode::Socket,
        Some(other) => {
            return Err((
                "slack.mode".into(),
                format!("expected \"http\" or \"socket\", found {other:?}"),
            ));
        }
    };
    let approvals_required = match raw.slack.approvals_required {
        None | Some(1) => 1,
        Some(2) => 2,
        Some(other) => {
            return Err((
                "slack.approvals_required".into(),
                format!("expected 1 or 2 (the two-person rule), found {other}"),
            ));
        }
    };
    let slack = Slack {
        channel: raw.slack.channel,
        approvers: raw.slack.approvers,
        mode,
        approvals_required,
    };
    if approvals_required == 2 && slack.approvers.len() < 2 {
        return Err((
            "slack.approvals_required".into(),
            format!(
                "2 needs at least two approvers, and slack.approvers lists {}: nobody could ever act",
                slack.approvers.len()
            ),
        ));
    }
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

    let journal = super::journal::journal(raw.journal, &home_region)?;
    let events = match raw.events {
        None => None,
        Some(e) => Some(super::tamper::guard_rules(
            events(&e.queue_url, &home_region)?,
            e.guard_rules,
        )?),
    };
    let guardduty = super::guardduty::rules(raw.guardduty)?;
    let tamper = super::tamper::rules(raw.tamper)?;

    let organization = match raw.organization {
        Some(o) => super::organization::organization(o, &defaults)?,
        None => None,
    };
    if raw.accounts.is_empty() && organization.is_none() {
        return Err((
            "accounts".into(),
            "expected at least one [[accounts]] entry, or [organization] discover = true".into(),
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
        events,
        accounts,
        guardduty,
        tamper,
        organization,
        journal,
    })
}

/// An SQS queue URL: `http(s)://HOST/ACCOUNT/NAME`. The region is read from AWS's hosts
/// (`sqs.REGION.amazonaws.com`, `REGION.queue.amazonaws.com`); any other host (an emulator, a VPC
/// endpoint) is taken to be in `home_region`.
fn events(url: &str, home_region: &RegionName) -> Result<Events, Invalid> {
    let key = "events.queue_url";
    let expected = || {
        (
            key.to_owned(),
            format!(
                "expected an SQS queue URL like \"https://sqs.us-east-1.amazonaws.com/111111111111/runawaytrain-events\", found {url:?}"
            ),
        )
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(expected)?;
    let [host, account, name] = rest.split('/').collect::<Vec<_>>()[..] else {
        return Err(expected());
    };
    let name_ok = (1..=80).contains(&name.len())
        && name
            .strip_suffix(".fifo")
            .unwrap_or(name)
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if host.is_empty() || AccountId::parse(account).is_err() || !name_ok {
        return Err(expected());
    }
    let from_host = host
        .strip_prefix("sqs.")
        .and_then(|h| h.split_once('.'))
        .map(|(r, _)| r)
        .or_else(|| host.split_once(".queue.").map(|(r, _)| r))
        .and_then(|r| RegionName::parse(r).ok());
    Ok(Events {
        queue_url: url.to_owned(),
        region: from_host.unwrap_or_else(|| home_region.clone()),
        guard_rules: Vec::new(),
    })
}

fn account(i: usize, a: RawAccount, defaults: &AccountPolicy) -> Result<Account, Invalid> {
    account_in(&format!("accounts[{i}]"), a, defaults)
}

/// An account from its entry; `section` names it in errors (`accounts[2]`,
/// `organization.defaults`).
pub(super) fn account_in(
    section: &str,
    a: RawAccount,
    defaults: &AccountPolicy,
) -> Result<Account, Invalid> {
    let key = |k: &str| format!("{section}.{k}");
    let Some(raw_id) = a.id.as_deref() else {
        return Err((key("id"), "expected the 12-digit account id".into()));
    };
    let id = AccountId::parse(raw_id).map_err(|m| (key("id"), m))?;
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
    let count = |name: &str, v: Option<i64>| match v {
        None => Ok(None),
        Some(n) if n >= 0 => Ok(Some(n as u64)),
        Some(n) => Err((
            key(name),
            format!("expected a non-negative integer, found {n}"),
        )),
    };
    let max_running_instances = count("max_running_instances", a.max_running_instances)?;
    let max_bedrock_invocations_per_hour = count(
        "max_bedrock_invocations_per_hour",
        a.max_bedrock_invocations_per_hour,
    )?;
    let usd = |name: &str, v: Option<f64>| match v {
        Some(x) if !(x.is_finite() && x >= 0.0) => Err((
            key(name),
            format!("expected a non-negative amount in USD, found {x}"),
        )),
        other => Ok(other),
    };
    let max_estimated_charges_usd = usd("max_estimated_charges_usd", a.max_estimated_charges_usd)?;
    let max_spend_rate_usd_per_hour =
        usd("max_spend_rate_usd_per_hour", a.max_spend_rate_usd_per_hour)?;
    let max_burn_rate_usd_per_hour =
        usd("max_burn_rate_usd_per_hour", a.max_burn_rate_usd_per_hour)?;
    let max_bedrock_burn_rate_usd_per_hour = usd(
        "max_bedrock_burn_rate_usd_per_hour",
        a.max_bedrock_burn_rate_usd_per_hour,
    )?;
    let spend_window = duration(&key("spend_window"), a.spend_window.as_deref(), "6h")?;
    let actions = a.actions.unwrap_or_else(|| vec![Action::StopInstances]);
    if actions.is_empty() {
        return Err((
            key("actions"),
            "expected at least one action (stop_instances, lockout_users, block_launches, block_bedrock): an incident that does nothing would still say it acted".into(),
        ));
    }
    let policy = super::policy::policy(
        section,
        RawPolicy {
            grace_period: a.grace_period,
            snooze: a.snooze,
            exempt_tag: a.exempt_tag,
            exempt_instances: a.exempt_instances,
            exempt_principals: a.exempt_principals,
            lockout_policy_arn: a.lockout_policy_arn,
            launch_deny_policy_arn: a.launch_deny_policy_arn,
            bedrock_deny_policy_arn: a.bedrock_deny_policy_arn,
            bedrock_principals: a.bedrock_principals,
            bedrock_grace_period: a.bedrock_grace_period,
            cloudtrail_log_group: a.cloudtrail_log_group,
            forensics_subnet_id: a.forensics_subnet_id,
            forensics_ami: a.forensics_ami,
            forensics_instance_type: a.forensics_instance_type,
            allow_session_revocation: a.allow_session_revocation,
            exempt_resources: a.exempt_resources,
            watch_stops: a.watch_stops,
            expected_principals: a.expected_principals,
            tag_admins: a.tag_admins,
            stop_rate: a.stop_rate,
            iam_rate: a.iam_rate,
        },
        Some(defaults),
    )?;
    if actions.contains(&Action::RevokeSessions) && !policy.allow_session_revocation {
        return Err((
            key("actions"),
            "revoke_sessions writes an inline policy on every user and role, which the guard's role may do only where the Terraform module was applied with allow_session_revocation = true (the input of the root module, and of modules/member-account in each member); apply it so, then set allow_session_revocation = true in [guard] or on this account"
                .into(),
        ));
    }
    if actions.contains(&Action::BlockLaunches) && policy.launch_deny_policy_arn.is_none() {
        return Err((
            key("actions"),
            "block_launches needs launch_deny_policy_arn, in [guard] or on this account".into(),
        ));
    }
    if actions.contains(&Action::BlockBedrock) && policy.bedrock_deny_policy_arn.is_none() {
        return Err((
            key("actions"),
            "block_bedrock needs bedrock_deny_policy_arn (the Terraform module's), in [guard] or on this account".into(),
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
        max_bedrock_invocations_per_hour,
        max_estimated_charges_usd,
        max_spend_rate_usd_per_hour,
        spend_window,
        max_burn_rate_usd_per_hour,
        max_bedrock_burn_rate_usd_per_hour,
        actions,
        halt_scope: a.halt_scope.unwrap_or_default(),
        halt_services: super::services::halt_services(&key("halt_services"), a.halt_services)?,
        max_running: super::services::max_running(&key("max_running"), a.max_running)?,
        slack_channel: a.slack_channel,
        sns_topic_arn: a.sns_topic_arn,
        policy,
    })
}

pub(super) fn duration(key: &str, value: Option<&str>, default: &str) -> Result<Duration, Invalid> {
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

pub(super) fn policy_arn(key: &str, arn: String) -> Result<String, Invalid> {
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
