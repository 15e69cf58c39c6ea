//! `[[guardduty]]`: which GuardDuty findings the guard responds to, and how.
//!
//! ```toml
//! [[guardduty]]
//! finding = "Backdoor:EC2/*"     # glob on the finding type
//! min_severity = 7.0             # default 0
//! response = "isolate"           # alert | isolate | stop | lockout (an access key's user)
//! grace_period = "0s"            # default the account's; 0 acts at once
//! ```
//!
//! Rules are tried in order; the first whose glob matches the finding's type and whose minimum
//! severity the finding reaches decides. A finding no rule takes is journaled, never acted on.

use serde::Deserialize;

use super::MAX_DURATION;
use crate::core::guardduty::{Response, Rule};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    finding: String,
    min_severity: Option<f64>,
    response: String,
    grace_period: Option<String>,
}

/// A rule's `grace_period`: none (the account's), or a duration from 0 to 30 days.
pub(super) fn rule_grace(
    key: String,
    text: Option<&str>,
) -> Result<Option<std::time::Duration>, (String, String)> {
    match text {
        None => Ok(None),
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) if d <= MAX_DURATION => Ok(Some(d)),
            _ => Err((
                key,
                format!(
                    "expected a duration like \"0s\" or \"10m\" (at most 30 days), found {text:?}"
                ),
            )),
        },
    }
}

pub(super) fn rules(raw: Vec<RawRule>) -> Result<Vec<Rule>, (String, String)> {
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let key = |k: &str| format!("guardduty[{i}].{k}");
            let finding = r.finding.trim().to_owned();
            if finding.is_empty() || finding.len() > 256 || finding.chars().any(char::is_whitespace)
            {
                return Err((
                    key("finding"),
                    format!("expected a glob on GuardDuty finding types like \"Backdoor:EC2/*\", found {:?}", r.finding),
                ));
            }
            let min_severity = r.min_severity.unwrap_or(0.0);
            if !(0.0..=10.0).contains(&min_severity) {
                return Err((
                    key("min_severity"),
                    format!("expected a GuardDuty severity from 0 to 10, found {min_severity}"),
                ));
            }
            let response = match r.response.as_str() {
                "alert" => Response::Alert,
                "isolate" => Response::Isolate,
                "stop" => Response::Stop,
                "lockout" => Response::Lockout,
                other => {
                    return Err((
                        key("response"),
                        format!("expected \"alert\", \"isolate\", \"stop\" or \"lockout\" (the guard never terminates), found {other:?}"),
                    ));
                }
            };
            let grace_period = rule_grace(key("grace_period"), r.grace_period.as_deref())?;
            Ok(Rule {
                finding,
                min_severity,
                response,
                grace_period,
            })
        })
        .collect()
}
