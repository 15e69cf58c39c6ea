//! Halting the compute beyond EC2 (`halt_services`): per service and region, what to halt and
//! what to leave is decided before any call (`core::services::plan`: the exemption tag, the
//! exempt list, the guard's own compute), then each change is journaled before and after with
//! the change that undoes it, one resource at a time. A dry run reports the plan and changes
//! nothing (these services have no `DryRun`).

use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::json;

/// Calls made at once to one service in one region: well inside every service's API rate.
const CALLS_AT_ONCE: usize = 8;

use crate::app::journaled;
use crate::app::survey::ServiceSurvey;
use crate::config::{Account, RegionName};
use crate::core::change::ChangeKind;
use crate::core::model::Problem;
use crate::core::reports::{ServiceHalt, SkippedResource};
use crate::core::services::{self, Exempt, Leave, Resource, Service};
use crate::ports::journal::{Journal, JournalError, PlannedChange};
use crate::ports::{AccountCloud, Clock, CloudError};

/// What a halt does to one service in one region.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    pub service: Service,
    pub region: RegionName,
    pub halt: Vec<Resource>,
    pub leave: Vec<(Resource, Leave)>,
    /// Why the service could not be read there: nothing of it is halted in that region.
    pub error: Option<CloudError>,
}

/// The plans of the services `account` halts, from what the survey read.
pub(super) fn plan_account(
    surveyed: Vec<ServiceSurvey>,
    account: &Account,
    own: &[String],
) -> Vec<ServicePlan> {
    let ex = Exempt {
        tag: &account.policy.exempt_tag,
        arns: &account.policy.exempt_resources,
        own,
    };
    surveyed
        .into_iter()
        .filter(|s| account.halt_services.contains(&s.service))
        .map(|s| match s.resources {
            Ok(found) => {
                let (halt, leave) = services::plan(found, &ex);
                ServicePlan {
                    service: s.service,
                    region: s.region,
                    halt,
                    leave,
                    error: None,
                }
            }
            Err(e) => ServicePlan {
                service: s.service,
                region: s.region,
                halt: Vec::new(),
                leave: Vec::new(),
                error: Some(e),
            },
        })
        .collect()
}

/// Leaves everything of the plans running, with why (a `halt_scope` narrower than all).
pub(super) fn leave_all(plans: &mut [ServicePlan], why: &str) {
    for p in plans {
        let halt = std::mem::take(&mut p.halt);
        p.leave.extend(
            halt.into_iter()
                .map(|r| (r, Leave::OutOfScope(why.to_owned()))),
        );
    }
}

/// Carries out one service's plan in one region (`journal = None`: a dry run).
pub(super) async fn halt(
    conn: &dyn AccountCloud,
    account_id: &str,
    plan: ServicePlan,
    journal: Option<(&dyn Journal, &str)>,
    clock: Clock<'_>,
) -> (Service, ServiceHalt) {
    let region = plan.region.as_str();
    let mut out = ServiceHalt {
        skipped: plan
            .leave
            .iter()
            .map(|(r, why)| SkippedResource {
                arn: r.arn.clone(),
                region: region.to_owned(),
                reason: match (why, journal) {
                    (Leave::Reported(_), Some((j, _))) => with_price(why, r, region, j, clock()),
                    _ => why.to_string(),
                },
            })
            .collect(),
        ..Default::default()
    };
    if let Some(e) = &plan.error {
        out.errors.push(Problem::region(region, e));
    }
    let changes: Vec<_> = plan.halt.iter().map(services::halt_change).collect();
    let halted = |out: &mut ServiceHalt, r: &Resource, restorable: bool| {
        out.stopped.push(r.arn.clone());
        if !restorable {
            out.not_restorable.push(r.arn.clone());
        }
    };
    let Some((j, incident)) = journal else {
        for (r, (_, undo)) in plan.halt.iter().zip(&changes) {
            halted(&mut out, r, undo.is_some());
        }
        return (plan.service, out);
    };
    // One journal transaction for the region's changes, then the calls, a few at once.
    let planned: Vec<PlannedChange> = plan
        .halt
        .iter()
        .zip(&changes)
        .map(|(r, (change, undo))| PlannedChange {
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            action: ChangeKind::of_service(change),
            target: r.arn.clone(),
            detail: json!(change),
            before: json!(undo),
        })
        .collect();
    let result: Result<Vec<Result<(), CloudError>>, JournalError> =
        journaled::make(j, incident, &planned, clock, async || {
            // Boxed in a loop, not built in a stream closure, so the future stays `Send`.
            let mut calls: Vec<BoxFuture<'_, Result<(), CloudError>>> = Vec::new();
            for (change, _) in &changes {
                calls.push(conn.service_change(&plan.region, change));
            }
            futures::stream::iter(calls)
                .buffered(CALLS_AT_ONCE)
                .collect()
                .await
        })
        .await;
    match result {
        Ok(results) => {
            for ((r, (_, undo)), result) in plan.halt.iter().zip(&changes).zip(results) {
                match result {
                    Ok(()) => halted(&mut out, r, undo.is_some()),
                    Err(e) => out
                        .errors
                        .push(Problem::region(region, format!("{}: {e}", r.arn))),
                }
            }
        }
        // The journal refused a write, before the calls (none made) or after them (made, and
        // journaled `pending`): as for EC2, nothing more is done here.
        Err(e) => out.errors.push(Problem::region(
            region,
            format!("{e}; stopped acting on {} in this region", plan.service),
        )),
    }
    tracing::info!(
        account.id = account_id,
        region,
        service = plan.service.as_str(),
        halted = out.stopped.len(),
        left = out.skipped.len(),
        dry_run = journal.is_none(),
        "service halted"
    );
    (plan.service, out)
}

/// What is only reported (an endpoint) with what it costs an hour, when a check priced its
/// instances within the day (prices kept in the journal): no Price List call in a halt.
fn with_price(
    why: &Leave,
    r: &Resource,
    region: &str,
    j: &dyn Journal,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let keys = crate::core::money::service_hours(&r.what, region);
    let since = now - crate::app::prices::KEEP;
    let prices: Option<Vec<f64>> = keys
        .iter()
        .map(|k| j.cached_price(k, since).ok().flatten().flatten())
        .collect();
    match prices {
        Some(p) if !p.is_empty() => format!(
            "{why}; it costs ${:.2} an hour on demand (AWS Price List)",
            p.iter().sum::<f64>()
        ),
        _ => why.to_string(),
    }
}
