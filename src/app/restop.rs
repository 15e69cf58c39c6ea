//! AWS starts a stopped RDS database or Aurora cluster again after 7 days. While its incident
//! has not given it back (`restore --start-instances`), every check of `runaway serve` stops it
//! again: journaled under the same incident as a re-stop (the same undo), and said in the check's
//! report.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::app::journaled;
use crate::config::{Config, RegionName};
use crate::core::services::{Service, ServiceChange};
use crate::ports::journal::{ChangeRow, Journal, JournalError, PlannedChange};
use crate::ports::{Clock, Cloud, Purpose};

pub use crate::core::reports::Restopped;

/// Stops again every database its incident stopped that AWS has started since.
pub async fn run(
    cloud: &dyn Cloud,
    config: &Config,
    journal: &dyn Journal,
    clock: Clock<'_>,
) -> Result<Vec<Restopped>, JournalError> {
    // The latest stop of each database, by account and region.
    let mut latest: BTreeMap<(String, String), BTreeMap<String, (String, ChangeRow)>> =
        BTreeMap::new();
    for (incident, row) in journal.stopped_databases()? {
        latest
            .entry((row.account_id.clone(), row.region.clone()))
            .or_default()
            .insert(row.target.clone(), (incident, row));
    }
    let mut out = Vec::new();
    for ((account_id, region), stops) in latest {
        let (Some(account), Ok(region_name)) =
            (config.account(&account_id), RegionName::parse(&region))
        else {
            continue;
        };
        let Some((first, _)) = stops.values().next() else {
            continue;
        };
        let conn = match cloud.connect(&account, Purpose::Halt, Some(first)).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(account.id = %account_id, region, error = %e, "stopped databases not looked at");
                continue;
            }
        };
        let running: BTreeSet<String> = match conn
            .service_resources(&region_name, Service::Rds, false)
            .await
        {
            Ok(found) => found.into_iter().map(|r| r.arn).collect(),
            Err(e) => {
                tracing::warn!(account.id = %account_id, region, error = %e, "stopped databases not looked at");
                continue;
            }
        };
        for (arn, (incident, row)) in stops {
            if !running.contains(&arn) {
                continue;
            }
            let (Some(change), Some(undo)) = (
                row.detail
                    .as_deref()
                    .and_then(|d| serde_json::from_str::<ServiceChange>(d).ok()),
                row.before
                    .as_deref()
                    .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok()),
            ) else {
                continue;
            };
            let mut detail = json!(change);
            detail["restop"] = json!(true);
            let planned = PlannedChange {
                account_id: account_id.clone(),
                region: region.clone(),
                action: row.action,
                target: arn.clone(),
                detail,
                before: undo,
            };
            let result = journaled::make(journal, &incident, &[planned], clock, async || {
                vec![conn.service_change(&region_name, &change).await]
            })
            .await?
            .remove(0);
            tracing::warn!(incident.id = %incident, account.id = %account_id, region, arn, ok = result.is_ok(), "a database AWS started again is stopped again");
            out.push(Restopped {
                incident,
                account_id: account_id.clone(),
                region: region.clone(),
                arn,
                error: result.err().map(|e| e.to_string()),
            });
        }
    }
    Ok(out)
}
