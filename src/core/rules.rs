//! Rule evaluation: an account's observation and its limits in, a verdict out. Pure: no AWS, no
//! clock, no I/O, so it cannot fail and is tested with plain data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Account;
use crate::core::model::Problem;

/// What one check saw of one account.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Running instances of every region that could be read, zeros included.
    pub regions: BTreeMap<String, u64>,
    /// The month's estimated charges, when the account has a charges rule and they could be read.
    pub estimated_charges_usd: Option<f64>,
    /// How fast the estimated charges grew over the spend window, when read.
    pub spend_rate_usd_per_hour: Option<f64>,
    /// What the running instances cost an hour, when every one of them could be priced.
    pub burn_rate_usd_per_hour: Option<f64>,
    /// What runs of the services beyond EC2, by `max_running` key (`rds`, `ecs_tasks`), over
    /// the regions that could be read.
    pub counts: BTreeMap<String, u64>,
    /// Amazon Bedrock's invocations over the last hour, over the regions that could be read,
    /// when the account has the rule.
    pub bedrock_invocations_per_hour: Option<u64>,
    /// What Amazon Bedrock's tokens of the last hour cost, when every model could be priced.
    pub bedrock_burn_rate_usd_per_hour: Option<f64>,
    /// What could not be read.
    pub errors: Vec<Problem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Ok,
    /// Nothing failed among what could be read, but something could not be read.
    Error,
    /// A rule failed. Wins over `Error`: what was read already proves it.
    Fail,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Fail => "fail",
        }
    }
}

/// A number as the rule knows it: a count stays an integer in JSON, an amount stays a decimal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Quantity {
    Count(u64),
    Usd(f64),
}

impl Quantity {
    /// As people read it: `12`, `$612.50`, or with `per_hour` `$41.20/h`.
    pub fn text(self, per_hour: bool) -> String {
        match self {
            Self::Count(n) => n.to_string(),
            Self::Usd(x) if per_hour => format!("${x:.2}/h"),
            Self::Usd(x) => format!("${x:.2}"),
        }
    }
}

impl Violation {
    fn per_hour(&self) -> bool {
        self.rule.ends_with("_per_hour")
    }

    /// What was observed, as people read it.
    pub fn observed_text(&self) -> String {
        self.observed.text(self.per_hour())
    }

    /// The limit, as people read it.
    pub fn limit_text(&self) -> String {
        self.limit.text(self.per_hour())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub rule: String,
    pub limit: Quantity,
    pub observed: Quantity,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub state: State,
    /// Sum over the regions that could be read.
    pub running_instances: u64,
    pub violations: Vec<Violation>,
}

/// Evaluates the account's Fail rules against what was observed.
///
/// Instances tagged exempt are counted too: an exemption protects an instance from being
/// stopped, it does not hide it from the count (an intruder could tag its own instances).
pub fn evaluate(account: &Account, seen: &Observation) -> Verdict {
    let running_instances = seen.regions.values().sum();
    let mut violations = Vec::new();
    if let Some(limit) = account.max_running_instances
        && running_instances > limit
    {
        violations.push(Violation {
            rule: "max_running_instances".into(),
            limit: Quantity::Count(limit),
            observed: Quantity::Count(running_instances),
        });
    }
    if let (Some(limit), Some(observed)) = (
        account.max_estimated_charges_usd,
        seen.estimated_charges_usd,
    ) && observed > limit
    {
        violations.push(Violation {
            rule: "max_estimated_charges_usd".into(),
            limit: Quantity::Usd(limit),
            observed: Quantity::Usd(observed),
        });
    }
    for (rule, limit, observed) in [
        (
            "max_spend_rate_usd_per_hour",
            account.max_spend_rate_usd_per_hour,
            seen.spend_rate_usd_per_hour,
        ),
        (
            "max_burn_rate_usd_per_hour",
            account.max_burn_rate_usd_per_hour,
            seen.burn_rate_usd_per_hour,
        ),
        (
            "max_bedrock_burn_rate_usd_per_hour",
            account.max_bedrock_burn_rate_usd_per_hour,
            seen.bedrock_burn_rate_usd_per_hour,
        ),
    ] {
        if let (Some(limit), Some(observed)) = (limit, observed)
            && observed > limit
        {
            violations.push(Violation {
                rule: rule.into(),
                limit: Quantity::Usd(limit),
                observed: Quantity::Usd(observed),
            });
        }
    }
    if let (Some(limit), Some(observed)) = (
        account.max_bedrock_invocations_per_hour,
        seen.bedrock_invocations_per_hour,
    ) && observed > limit
    {
        violations.push(Violation {
            rule: "max_bedrock_invocations_per_hour".into(),
            limit: Quantity::Count(limit),
            observed: Quantity::Count(observed),
        });
    }
    for (key, limit) in &account.max_running {
        if let Some(observed) = seen.counts.get(key)
            && observed > limit
        {
            violations.push(Violation {
                rule: format!("max_running.{key}"),
                limit: Quantity::Count(*limit),
                observed: Quantity::Count(*observed),
            });
        }
    }
    let state = if !violations.is_empty() {
        State::Fail
    } else if !seen.errors.is_empty() {
        State::Error
    } else {
        State::Ok
    };
    Verdict {
        state,
        running_instances,
        violations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn account(limits: &str) -> Account {
        let text = format!("[[accounts]]\nid = \"123456789012\"\n{limits}\n");
        Config::parse(Path::new("t.toml"), &text)
            .unwrap()
            .accounts
            .remove(0)
    }

    fn seen(regions: &[(&str, u64)], charges: Option<f64>, errors: usize) -> Observation {
        Observation {
            regions: regions.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
            estimated_charges_usd: charges,
            errors: (0..errors)
                .map(|i| Problem::region("ap-south-1", format!("e{i}")))
                .collect(),
            ..Default::default()
        }
    }

    #[track_caller]
    fn check(limits: &str, observation: Observation, state: State, rules: &[&str]) {
        let v = evaluate(&account(limits), &observation);
        assert_eq!(v.state, state, "{v:?}");
        assert_eq!(
            v.violations
                .iter()
                .map(|v| v.rule.as_str())
                .collect::<Vec<_>>(),
            rules
        );
    }

    #[test]
    fn a_service_count_over_its_limit_fails_by_its_key() {
        let a = account("max_running = { rds = 2, ecs_tasks = 50 }");
        let mut seen = seen(&[("us-east-1", 0)], None, 0);
        seen.counts = [("rds".to_owned(), 3), ("ecs_tasks".to_owned(), 50)].into();
        let v = evaluate(&a, &seen);
        assert_eq!(v.state, State::Fail);
        assert_eq!(v.violations.len(), 1);
        assert_eq!(v.violations[0].rule, "max_running.rds");
        assert_eq!(v.violations[0].observed, Quantity::Count(3));
    }

    #[test]
    fn verdicts() {
        let limit4 = "max_running_instances = 4";
        check(
            limit4,
            seen(&[("us-east-1", 4), ("eu-west-1", 0)], None, 0),
            State::Ok,
            &[],
        );
        check(
            limit4,
            seen(&[("us-east-1", 3), ("eu-west-1", 2)], None, 0),
            State::Fail,
            &["max_running_instances"],
        );
        // An unreadable region is an error, never a zero that passes.
        check(
            limit4,
            seen(&[("us-east-1", 1)], None, 1),
            State::Error,
            &[],
        );
        // What was read already proves a Fail: the unreadable region cannot undo it.
        check(
            limit4,
            seen(&[("us-east-1", 9)], None, 1),
            State::Fail,
            &["max_running_instances"],
        );
        check(
            "max_running_instances = 0",
            seen(&[("us-east-1", 1)], None, 0),
            State::Fail,
            &["max_running_instances"],
        );
        check(
            "",
            seen(&[("us-east-1", 1000)], Some(1e9), 0),
            State::Ok,
            &[],
        );
        let both = "max_running_instances = 4\nmax_estimated_charges_usd = 500.0";
        check(
            both,
            seen(&[("us-east-1", 1)], Some(500.0), 0),
            State::Ok,
            &[],
        );
        check(
            both,
            seen(&[("us-east-1", 5)], Some(500.01), 0),
            State::Fail,
            &["max_running_instances", "max_estimated_charges_usd"],
        );
    }

    #[test]
    fn quantities_keep_their_json_shape() {
        let v = evaluate(
            &account("max_running_instances = 4\nmax_estimated_charges_usd = 500.0"),
            &seen(&[("us-east-1", 12)], Some(612.5), 0),
        );
        assert_eq!(
            serde_json::to_string(&v.violations).unwrap(),
            r#"[{"rule":"max_running_instances","limit":4,"observed":12},{"rule":"max_estimated_charges_usd","limit":500.0,"observed":612.5}]"#
        );
    }
}
