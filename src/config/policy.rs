//! The per-account settings of `[guard]` (the defaults) and of each `[[accounts]]` entry.

use std::collections::BTreeSet;
use std::time::Duration;

use super::validate::{Invalid, RawPolicy, duration, policy_arn};
use super::{AccountPolicy, InstanceId};

pub(super) fn policy(
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
        bedrock_deny_policy_arn: None,
        bedrock_principals: Vec::new(),
        bedrock_grace_period: None,
        cloudtrail_log_group: None,
        forensics: None,
        allow_session_revocation: false,
        exempt_resources: Vec::new(),
        watch_stops: false,
        expected_principals: Vec::new(),
        tag_admins: Vec::new(),
        stop_rate: 20.0,
        iam_rate: 10.0,
    });
    let rate = |k: &str, v: Option<f64>, default: f64| match v {
        None => Ok(default),
        Some(r) if r.is_finite() && r > 0.0 && r <= 10_000.0 => Ok(r),
        Some(r) => Err((
            key(k),
            format!("expected calls a second, more than 0 and at most 10000, found {r}"),
        )),
    };
    let stop_rate = rate("stop_rate", raw.stop_rate, base.stop_rate)?;
    let iam_rate = rate("iam_rate", raw.iam_rate, base.iam_rate)?;
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
    let bedrock_deny_policy_arn = match raw.bedrock_deny_policy_arn {
        Some(arn) => Some(policy_arn(&key("bedrock_deny_policy_arn"), arn)?),
        None => base.bedrock_deny_policy_arn,
    };
    let bedrock_principals = match raw.bedrock_principals {
        Some(list) => {
            if let Some(j) = list.iter().position(|a| !is_principal_arn(a)) {
                return Err((
                    format!("{}[{j}]", key("bedrock_principals")),
                    format!(
                        "expected an IAM user or role ARN like \"arn:aws:iam::111111111111:role/NAME\", found {:?}",
                        list[j]
                    ),
                ));
            }
            list
        }
        None => base.bedrock_principals,
    };
    let bedrock_grace_period = match raw.bedrock_grace_period {
        Some(s) => super::guardduty::rule_grace(key("bedrock_grace_period"), Some(&s))?,
        None => base.bedrock_grace_period,
    };
    let cloudtrail_log_group = match raw.cloudtrail_log_group {
        Some(g) => Some(super::LogGroup::parse(&g).map_err(|m| (key("cloudtrail_log_group"), m))?),
        None => base.cloudtrail_log_group,
    };
    let forensics = super::forensics::forensics(
        &key,
        raw.forensics_subnet_id,
        raw.forensics_ami,
        raw.forensics_instance_type,
        base.forensics,
    )?;
    let exempt_resources = match raw.exempt_resources {
        Some(list) => {
            if let Some(j) = list.iter().position(|a| !a.starts_with("arn:")) {
                return Err((
                    format!("{}[{j}]", key("exempt_resources")),
                    format!(
                        "expected a resource ARN like \"arn:aws:rds:us-east-1:111111111111:db:prod\", found {:?}",
                        list[j]
                    ),
                ));
            }
            list
        }
        None => base.exempt_resources,
    };
    let expected_principals = match raw.expected_principals {
        Some(list) => super::tamper::principals(&key("expected_principals"), list)?,
        None => base.expected_principals,
    };
    let tag_admins = match raw.tag_admins {
        Some(list) => super::tamper::principals(&key("tag_admins"), list)?,
        None => base.tag_admins,
    };
    Ok(AccountPolicy {
        stop_rate,
        iam_rate,
        watch_stops: raw.watch_stops.unwrap_or(base.watch_stops),
        expected_principals,
        tag_admins,
        exempt_resources,
        allow_session_revocation: raw
            .allow_session_revocation
            .unwrap_or(base.allow_session_revocation),
        grace_period,
        snooze,
        exempt_tag,
        exempt_instances,
        exempt_principals,
        lockout_policy_arn,
        launch_deny_policy_arn,
        bedrock_deny_policy_arn,
        bedrock_principals,
        bedrock_grace_period,
        cloudtrail_log_group,
        forensics,
    })
}

/// `arn:PARTITION:iam::ACCOUNT:user/NAME` or `…:role/NAME` (paths allowed).
fn is_principal_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && ["user/", "role/"]
            .iter()
            .any(|k| parts[5].strip_prefix(k).is_some_and(|n| !n.is_empty()))
}
