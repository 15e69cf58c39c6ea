//! `[[tamper]]`: what the guard does about tampering (`core::tamper`), and the settings it
//! judges with: per account `watch_stops`, `expected_principals`, `tag_admins`; in `[events]`
//! the guard's own rules.
//!
//! ```toml
//! [[tamper]]
//! call = "StopLogging"   # glob on the CloudTrail event name
//! response = "lockout"   # alert (the default) | lockout
//! grace_period = "0s"    # default the account's; 0 acts at once
//! ```
//!
//! Rules are tried in order; the first whose glob matches the call decides. A call no rule
//! matches is alerted: the Lock out button is offered, nothing happens unless it is pressed.

use serde::Deserialize;

use super::Events;
use super::validate::Invalid;
use crate::core::guardduty::Response;
use crate::core::tamper::{Rule, TAMPER_CALLS};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    call: String,
    response: String,
    grace_period: Option<String>,
}

pub(super) fn rules(raw: Vec<RawRule>) -> Result<Vec<Rule>, Invalid> {
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let key = |k: &str| format!("tamper[{i}].{k}");
            let call = r.call.trim().to_owned();
            let known = TAMPER_CALLS
                .iter()
                .flat_map(|(_, _, names)| names.iter())
                .any(|n| crate::core::guardduty::glob(&call, n));
            if call.is_empty() || call.len() > 128 || !known {
                return Err((
                    key("call"),
                    format!(
                        "expected a glob matching at least one watched call (like \"StopLogging\", \"Delete*\" or \"*\"), found {:?}",
                        r.call
                    ),
                ));
            }
            let response = match r.response.as_str() {
                "alert" => Response::Alert,
                "lockout" => Response::Lockout,
                other => {
                    return Err((
                        key("response"),
                        format!("expected \"alert\" or \"lockout\", found {other:?}"),
                    ));
                }
            };
            let grace_period =
                super::guardduty::rule_grace(key("grace_period"), r.grace_period.as_deref())?;
            Ok(Rule {
                call,
                response,
                grace_period,
            })
        })
        .collect()
}

/// A list of principals: names, ARNs or globs, none empty.
pub(super) fn principals(key: &str, list: Vec<String>) -> Result<Vec<String>, Invalid> {
    match list
        .iter()
        .position(|p| p.trim().is_empty() || p.chars().any(char::is_whitespace))
    {
        Some(j) => Err((
            format!("{key}[{j}]"),
            format!(
                "expected an IAM user or role name, ARN or glob (like \"arn:aws:iam::111111111111:role/nightly-stop\"), found {:?}",
                list[j]
            ),
        )),
        None => Ok(list),
    }
}

/// `[events] guard_rules`, default the module's names: the queue's name (the central rule's), and
/// its stem followed by `-tamper` and `-bedrock` (the central tamper and Bedrock rules'),
/// `-forward`, `-forward-tamper` and `-forward-bedrock` (the forwarding rules').
pub(super) fn guard_rules(mut events: Events, raw: Option<Vec<String>>) -> Result<Events, Invalid> {
    events.guard_rules = match raw {
        Some(list) => {
            let ok = |r: &String| {
                (1..=64).contains(&r.len())
                    && r.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            };
            if let Some(j) = list.iter().position(|r| !ok(r)) {
                return Err((
                    format!("events.guard_rules[{j}]"),
                    format!(
                        "expected an EventBridge rule name (1 to 64 letters, digits, '.', '-', '_'), found {:?}",
                        list[j]
                    ),
                ));
            }
            list
        }
        None => {
            let name = events.queue_name().to_owned();
            let stem = name.strip_suffix("-events").unwrap_or(&name);
            vec![
                name.clone(),
                format!("{stem}-tamper"),
                format!("{stem}-bedrock"),
                format!("{stem}-forward"),
                format!("{stem}-forward-tamper"),
                format!("{stem}-forward-bedrock"),
            ]
        }
    };
    Ok(events)
}
