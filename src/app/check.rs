//! `runaway check`: one survey of every account and region, evaluated against each account's
//! Fail rules. Changes nothing.

pub use crate::core::reports::{AccountReport, CheckReport};
use chrono::{DateTime, Utc};

use std::collections::{BTreeMap, BTreeSet};

use crate::app::accounts::Watched;
use crate::app::survey::{AccountSurvey, survey};
use crate::config::{Account, Config};
use crate::core::model::Problem;
use crate::core::money::{self, PriceKey, Product};
use crate::core::rules::{self, Observation, State};
use crate::core::tokens;
use crate::ports::journal::Journal;
use crate::ports::{Cloud, Purpose};

/// Checks the accounts once; `now`: when the check started, as the report says. `journal`:
/// where on-demand prices are kept a day (none: fetched every time).
pub async fn run(
    cloud: &dyn Cloud,
    config: &Config,
    accounts: &[&Account],
    journal: Option<&dyn Journal>,
    now: DateTime<Utc>,
) -> CheckReport {
    let checked_at = now;
    let surveys = survey(
        cloud,
        accounts,
        Purpose::Check,
        None,
        config.guard.max_concurrency,
        Some(now),
    )
    .await;
    // Every price the burn rates need, once for the whole check.
    let keys: BTreeSet<PriceKey> = surveys
        .iter()
        .filter(|s| s.account.max_burn_rate_usd_per_hour.is_some())
        .flat_map(price_keys)
        .chain(
            surveys
                .iter()
                .filter(|s| s.account.max_bedrock_burn_rate_usd_per_hour.is_some())
                .flat_map(token_keys),
        )
        .chain(surveys.iter().flat_map(provisioned_keys))
        .collect();
    let (prices, unpriced) = if keys.is_empty() {
        Default::default()
    } else {
        crate::app::prices::lookup(cloud, journal, &keys, now).await
    };
    let accounts: Vec<AccountReport> = surveys
        .iter()
        .map(|s| report(config, s, now, &prices, &unpriced))
        .collect();
    let state = accounts.iter().map(|a| a.state).max().unwrap_or(State::Ok);
    CheckReport {
        checked_at,
        state,
        accounts,
        errors: Vec::new(),
        restopped: Vec::new(),
    }
}

/// What the burn rate of an account prices: one key per running instance, and one per instance
/// hour of its databases, notebooks and endpoints.
fn price_keys(s: &AccountSurvey<'_>) -> Vec<PriceKey> {
    let ec2 = s
        .regions
        .iter()
        .filter_map(|r| Some((&r.region, r.instances.as_ref().ok()?)))
        .flat_map(|(region, list)| {
            list.iter().filter_map(move |i| {
                Some(PriceKey {
                    instance_type: i.instance_type.clone()?,
                    region: region.to_string(),
                    product: Product::ec2(money::operating_system(i.platform.as_deref())),
                })
            })
        });
    let services = s
        .services
        .iter()
        .filter_map(|sv| Some((&sv.region, sv.resources.as_ref().ok()?)))
        .flat_map(|(region, list)| {
            list.iter()
                .flat_map(move |r| money::service_hours(&r.what, region.as_str()))
        });
    ec2.chain(services).collect()
}

/// What the token burn rate of an account prices: each model's input and output tokens, per
/// region it was used in.
fn token_keys(s: &AccountSurvey<'_>) -> Vec<PriceKey> {
    s.bedrock
        .iter()
        .filter_map(|(region, usage)| Some((region, usage.as_ref().ok()?)))
        .flat_map(|(region, list)| tokens::price_keys(region.as_str(), list))
        .collect()
}

/// What the provisioned throughputs billed now cost: one key per model and commitment.
fn provisioned_keys(s: &AccountSurvey<'_>) -> Vec<PriceKey> {
    s.provisioned
        .iter()
        .filter_map(|(_, list)| list.as_ref().ok())
        .flatten()
        .filter(|p| p.billed())
        .map(|p| p.price_key())
        .collect()
}

/// The account's provisioned throughputs, each with its hourly cost or why it has none; a region
/// whose list could not be read is an error of that region.
fn provisioned(
    s: &AccountSurvey<'_>,
    prices: &BTreeMap<PriceKey, f64>,
    unpriced: &BTreeMap<PriceKey, String>,
    errors: &mut Vec<Problem>,
) -> Vec<crate::core::provisioned::Provisioned> {
    let mut out = Vec::new();
    for (region, list) in &s.provisioned {
        match list {
            Ok(list) => out.extend(list.iter().cloned().map(|mut p| {
                let key = p.price_key();
                match prices.get(&key) {
                    Some(unit) if p.billed() => {
                        p.usd_per_hour = Some(unit * f64::from(p.model_units))
                    }
                    _ if !p.billed() => {}
                    _ => {
                        p.unpriced = Some(
                            unpriced
                                .get(&key)
                                .cloned()
                                .unwrap_or_else(|| "no price".into()),
                        )
                    }
                }
                p
            })),
            Err(e) => errors.push(Problem::region(region.as_str(), e)),
        }
    }
    out
}

/// Checks the watched accounts (configured and discovered) once; an organisation that could
/// not be read is an error of the report.
pub async fn run_watched(
    cloud: &dyn Cloud,
    config: &Config,
    watched: &Watched,
    journal: Option<&dyn Journal>,
    now: DateTime<Utc>,
) -> CheckReport {
    let accounts: Vec<&Account> = watched.accounts.iter().collect();
    let mut report = run(cloud, config, &accounts, journal, now).await;
    for a in &mut report.accounts {
        a.source = watched.source(&a.account_id);
    }
    if let Some(p) = &watched.problem {
        report.errors.push(p.clone());
        report.state = report.state.max(State::Error);
    }
    report
}

fn report(
    config: &Config,
    s: &AccountSurvey<'_>,
    now: DateTime<Utc>,
    prices: &BTreeMap<PriceKey, f64>,
    unpriced: &BTreeMap<PriceKey, String>,
) -> AccountReport {
    let mut seen = Observation::default();
    let mut counted = Vec::new();
    if let Some(e) = &s.account_error {
        seen.errors.push(Problem::account(e));
    }
    for r in &s.regions {
        match &r.instances {
            Ok(list) => {
                seen.regions.insert(r.region.to_string(), list.len() as u64);
                counted.extend(list.iter().map(|i| i.id.clone()));
            }
            Err(e) => seen.errors.push(Problem::region(r.region.as_str(), e)),
        }
    }
    let mut services: BTreeMap<String, crate::core::services::ServiceCount> = BTreeMap::new();
    for sv in &s.services {
        match &sv.resources {
            Ok(list) => {
                let n: u64 = list.iter().map(|r| r.what.counted()).sum();
                let count = services.entry(sv.service.as_str().to_owned()).or_default();
                count.running += n;
                count.regions.insert(sv.region.to_string(), n);
                for r in list {
                    if let Some(key) = r.what.count_key() {
                        *seen.counts.entry(key.to_owned()).or_default() += r.what.counted();
                    }
                }
            }
            Err(e) => seen.errors.push(Problem::region(sv.region.as_str(), e)),
        }
    }
    let mut models: BTreeMap<String, u64> = BTreeMap::new();
    let invocations_rule = s.account.max_bedrock_invocations_per_hour.is_some();
    let tokens_rule = s.account.max_bedrock_burn_rate_usd_per_hour.is_some();
    if invocations_rule || tokens_rule {
        let mut total = 0u64;
        for (region, usage) in &s.bedrock {
            match usage {
                Ok(list) => {
                    for m in list {
                        let n = m.invocations.max(0.0).round() as u64;
                        total += n;
                        *models.entry(m.model_id.clone()).or_default() += n;
                    }
                }
                Err(e) => seen.errors.push(Problem::region(region.as_str(), e)),
            }
        }
        seen.bedrock_invocations_per_hour = invocations_rule.then_some(total);
    }
    let mut model_costs = Vec::new();
    if tokens_rule {
        let read = s
            .bedrock
            .iter()
            .filter_map(|(region, usage)| Some((region.as_str(), usage.as_ref().ok()?.as_slice())));
        let burn = tokens::burn(read, prices);
        no_price(
            "max_bedrock_burn_rate_usd_per_hour",
            &burn.unpriced,
            unpriced,
            &mut seen.errors,
        );
        seen.bedrock_burn_rate_usd_per_hour = burn.usd_per_hour;
        model_costs = burn.by_model;
    }
    let mut bedrock_models: Vec<(String, u64)> =
        models.into_iter().filter(|(_, n)| *n > 0).collect();
    bedrock_models.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let home = config.guard.home_region.as_str();
    let account = s.account;
    match &s.charges {
        None => {}
        Some(Ok(points)) => {
            if account.max_estimated_charges_usd.is_some() {
                match money::latest(points, now - chrono::Duration::hours(24)) {
                    Some(usd) => seen.estimated_charges_usd = Some(usd),
                    None => seen.errors.push(Problem::region(home, no_charges(account))),
                }
            }
            if account.max_spend_rate_usd_per_hour.is_some() {
                let since = money::window_start(now, account.spend_window);
                match money::spend_rate(points, since) {
                    Ok(rate) => seen.spend_rate_usd_per_hour = Some(rate),
                    Err(why) => seen.errors.push(Problem::region(
                        home,
                        format!("max_spend_rate_usd_per_hour: {why}"),
                    )),
                }
            }
        }
        Some(Err(e)) => seen.errors.push(Problem::region(home, e)),
    }
    let mut top = Vec::new();
    if account.max_burn_rate_usd_per_hour.is_some() {
        let burn = money::burn(&price_keys(s), prices);
        no_price(
            "max_burn_rate_usd_per_hour",
            &burn.unpriced,
            unpriced,
            &mut seen.errors,
        );
        seen.burn_rate_usd_per_hour = burn.usd_per_hour;
        top = burn.by_type.into_iter().take(TOP_TYPES).collect();
    }
    let bedrock_provisioned = provisioned(s, prices, unpriced, &mut seen.errors);
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
        spend_rate_usd_per_hour: seen.spend_rate_usd_per_hour,
        burn_rate_usd_per_hour: seen.burn_rate_usd_per_hour,
        bedrock_invocations_per_hour: seen.bedrock_invocations_per_hour,
        bedrock_models,
        bedrock_burn_rate_usd_per_hour: seen.bedrock_burn_rate_usd_per_hour,
        bedrock_model_costs: model_costs,
        bedrock_provisioned,
        top_instance_types: top,
        violations: verdict.violations,
        errors: seen.errors,
        services,
        counted: {
            counted.sort_unstable();
            counted
        },
    }
}

/// An error of the account for each key `rule` could not price, with why.
fn no_price(
    rule: &str,
    keys: &[PriceKey],
    unpriced: &BTreeMap<PriceKey, String>,
    errors: &mut Vec<Problem>,
) {
    for key in keys {
        let why = unpriced.get(key).map(String::as_str).unwrap_or("no price");
        errors.push(Problem::account(format!(
            "{rule}: no on-demand price for {}: {why}",
            key.describe()
        )));
    }
}

/// Instance types an account's report names, most expensive first.
const TOP_TYPES: usize = 5;

fn no_charges(account: &Account) -> String {
    match account.role_arn {
        Some(_) => format!(
            "no AWS/Billing EstimatedCharges for LinkedAccount {} in the last 24 hours: is the guard's own account the payer, with billing alerts enabled, and home_region us-east-1?",
            account.id
        ),
        None => "no AWS/Billing EstimatedCharges (Currency=USD) data in the last 24 hours: \
             are billing alerts enabled, and is home_region the billing region (us-east-1)?"
            .into(),
    }
}
