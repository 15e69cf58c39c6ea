//! `runaway check`: one survey of every account and region, evaluated against each account's
//! Fail rules. Changes nothing.

pub use crate::core::reports::{AccountReport, CheckReport};
use chrono::{DateTime, Utc};

use crate::app::accounts::Watched;
use crate::app::survey::{AccountSurvey, survey};
use crate::config::{Account, Config};
use crate::core::model::Problem;
use crate::core::rules::{self, Observation, State};
use crate::ports::{Cloud, Purpose};

/// Checks the accounts once.
/// Checks the accounts once; `now`: when the check started, as the report says.
pub async fn run(
    cloud: &dyn Cloud,
    config: &Config,
    accounts: &[&Account],
    now: DateTime<Utc>,
) -> CheckReport {
    let checked_at = now;
    let surveys = survey(
        cloud,
        accounts,
        Purpose::Check,
        None,
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
        errors: Vec::new(),
    }
}

/// Checks the watched accounts (configured and discovered) once; an organisation that could
/// not be read is an error of the report.
pub async fn run_watched(
    cloud: &dyn Cloud,
    config: &Config,
    watched: &Watched,
    now: DateTime<Utc>,
) -> CheckReport {
    let accounts: Vec<&Account> = watched.accounts.iter().collect();
    let mut report = run(cloud, config, &accounts, now).await;
    for a in &mut report.accounts {
        a.source = watched.source(&a.account_id);
    }
    if let Some(p) = &watched.problem {
        report.errors.push(p.clone());
        report.state = report.state.max(State::Error);
    }
    report
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
        source: "configured",
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
