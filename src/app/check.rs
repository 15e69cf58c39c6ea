//! `runaway check`: one survey of every account and region, evaluated against each account's
//! Fail rules. Changes nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

use crate::app::survey::{AccountSurvey, survey};
use crate::config::{Account, Config};
use crate::core::model::Problem;
use crate::core::rules::{self, Observation, State, Violation};
use crate::ports::{Cloud, Purpose};

/// The report of one check, as printed by `check --json`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    #[serde(serialize_with = "rfc3339")]
    pub checked_at: DateTime<Utc>,
    pub state: State,
    pub accounts: Vec<AccountReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountReport {
    pub account_id: String,
    pub name: String,
    pub state: State,
    pub running_instances: u64,
    /// Every region checked, zeros included; a region that could not be read is absent here and
    /// present in `errors`.
    pub regions: BTreeMap<String, u64>,
    pub estimated_charges_usd: Option<f64>,
    pub violations: Vec<Violation>,
    pub errors: Vec<Problem>,
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

/// Checks the accounts once.
pub async fn run(cloud: &dyn Cloud, config: &Config, accounts: &[&Account]) -> CheckReport {
    let checked_at = Utc::now();
    let surveys = survey(
        cloud,
        accounts,
        Purpose::Check,
        config.guard.max_concurrency,
        true,
    )
    .await;
    let accounts: Vec<AccountReport> = surveys.iter().map(|s| report(config, s)).collect();
    let state = accounts.iter().map(|a| a.state).max().unwrap_or(State::Ok);
    CheckReport {
        checked_at,
        state,
        accounts,
    }
}

fn report(config: &Config, s: &AccountSurvey<'_>) -> AccountReport {
    let mut seen = Observation::default();
    if let Some(e) = &s.account_error {
        seen.errors.push(Problem::account(e));
    }
    for r in &s.regions {
        match &r.instances {
            Ok(list) => {
                seen.regions.insert(r.region.to_string(), list.len() as u64);
            }
            Err(e) => seen.errors.push(Problem::region(r.region.as_str(), e)),
        }
    }
    match &s.charges {
        None => {}
        Some(Ok(Some(usd))) => seen.estimated_charges_usd = Some(*usd),
        Some(Ok(None)) => seen.errors.push(Problem::region(
            config.guard.home_region.as_str(),
            "no AWS/Billing EstimatedCharges (Currency=USD) data in the last 24 hours: \
             are billing alerts enabled, and is home_region the billing region (us-east-1)?",
        )),
        Some(Err(e)) => seen
            .errors
            .push(Problem::region(config.guard.home_region.as_str(), e)),
    }
    let verdict = rules::evaluate(s.account, &seen);
    for v in &verdict.violations {
        tracing::info!(account.id = %s.account.id, rule = %v.rule, "rule fails");
    }
    AccountReport {
        account_id: s.account.id.to_string(),
        name: s.account.name.clone(),
        state: verdict.state,
        running_instances: verdict.running_instances,
        regions: seen.regions,
        estimated_charges_usd: seen.estimated_charges_usd,
        violations: verdict.violations,
        errors: seen.errors,
    }
}
