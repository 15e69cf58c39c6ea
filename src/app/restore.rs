//! `runaway restore INCIDENT`: undoes exactly what one incident changed, from its journal, and
//! nothing else — detaches only the policies it attached, reactivates only the keys it
//! deactivated, resumes only the scaling processes it suspended, and (with `--start-instances`)
//! starts only the instances it stopped.
//!
//! Each undo is journaled like a change (`restore_status` pending → done/failed), so a second
//! restore changes nothing, and a restore cut short resumes where it stopped. A change left
//! `pending` by a crash may or may not have happened: its undo is tolerant (detaching a policy
//! that is not attached is fine). A change that `failed` never happened and is not undone.

pub use crate::core::reports::{NotUndone, RestoreReport, Undone};
use std::collections::{BTreeMap, BTreeSet};

use std::time::Duration;

use chrono::Utc;

use crate::adapters::journal::{ChangeRow, Journal, JournalError};
use crate::config::{Config, RegionName};
use crate::core::incident::Status;
use crate::ports::{AccountCloud, Cloud, CloudError, ErrorKind, PrincipalKind, Purpose};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("no incident {0:?} in the journal")]
    UnknownIncident(String),
    /// Its actions are still being carried out by a live process, past the wait.
    #[error(
        "incident {incident} is still being carried out (by process {process}); nothing was restored: try again once it has finished"
    )]
    StillRunning { incident: String, process: String },
    /// The journal failed; `changed` says whether any undo had been attempted in AWS by then.
    #[error("{error}")]
    Journal { error: JournalError, changed: bool },
}

impl From<JournalError> for RestoreError {
    fn from(error: JournalError) -> Self {
        RestoreError::Journal {
            error,
            changed: false,
        }
    }
}

/// How long a restore waits for an incident's actions in flight to finish.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// Waits until nobody is carrying out the incident's actions any more: a restore that ran
/// beside them would undo only what was journaled so far, and the rest would stay changed. An
/// incident left half-done by a process that died is taken over (closed as `partial`) so that a
/// restarted `runaway serve` does not resume — redo — what the restore undoes.
async fn settle(journal: &Journal, incident: &str, max_wait: Duration) -> Result<(), RestoreError> {
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        let Some(row) = journal.get_incident(incident)? else {
            return Err(RestoreError::UnknownIncident(incident.to_owned()));
        };
        if !matches!(
            row.status,
            Status::Executing | Status::Approved | Status::Expired
        ) {
            return Ok(());
        }
        match row.acting_process {
            Some(p) if crate::adapters::process::is_alive(&p) => {
                if started.elapsed() >= max_wait {
                    return Err(RestoreError::StillRunning {
                        incident: incident.to_owned(),
                        process: p,
                    });
                }
                if !said {
                    tracing::warn!(incident.id = incident, process = %p, "waiting for the incident's actions to finish before restoring");
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            process => {
                if journal.take_over(incident, row.status, Utc::now())? {
                    tracing::warn!(incident.id = incident, process = ?process, status = row.status.as_str(), "actions cut short by a process that is gone: closed as partial, then restored");
                    return Ok(());
                }
            }
        }
    }
}

fn detail(row: &ChangeRow, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(row.detail.as_deref()?).ok()?;
    match &v[key] {
        serde_json::Value::String(s) => Some(s.clone()),
        other if !other.is_null() => Some(other.to_string()),
        _ => None,
    }
}

fn processes(row: &ChangeRow) -> Vec<String> {
    row.detail
        .as_deref()
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .and_then(|v| serde_json::from_value(v["processes"].clone()).ok())
        .unwrap_or_default()
}

/// Undoes the incident's changes, once nobody is carrying them out any more (waiting at most
/// `max_wait`).
pub async fn run(
    cloud: &dyn Cloud,
    config: &Config,
    journal: &Journal,
    incident: &str,
    start_instances: bool,
    max_wait: Duration,
) -> Result<RestoreReport, RestoreError> {
    settle(journal, incident, max_wait).await?;
    let mut called = false;
    undo_all(
        cloud,
        config,
        journal,
        incident,
        start_instances,
        &mut called,
    )
    .await
    .map_err(|error| RestoreError::Journal {
        error,
        changed: called,
    })
}

async fn undo_all(
    cloud: &dyn Cloud,
    config: &Config,
    journal: &Journal,
    incident: &str,
    start_instances: bool,
    called: &mut bool,
) -> Result<RestoreReport, JournalError> {
    let rows = journal.changes(incident)?;
    let mut report = RestoreReport {
        incident: incident.to_owned(),
        restored: Vec::new(),
        kept: Vec::new(),
        errors: Vec::new(),
        already_restored: rows
            .iter()
            .filter(|r| r.restore_status.as_deref() == Some("done"))
            .count(),
    };
    // To undo: what happened or may have happened, and was not undone yet.
    let todo: Vec<&ChangeRow> = rows
        .iter()
        .filter(|r| r.status != "failed" && r.restore_status.as_deref() != Some("done"))
        .collect();
    let not_undone = |r: &ChangeRow, reason: String| NotUndone {
        account_id: r.account_id.clone(),
        region: r.region.clone(),
        action: r.action.clone(),
        target: r.target.clone(),
        reason,
    };
    // Groups whose members this incident stopped: resuming them while those stay stopped would
    // let the group terminate the stopped instances and launch others.
    let held: BTreeSet<(String, String, String)> = if start_instances {
        BTreeSet::new()
    } else {
        journal
            .stopped_group_members(incident)?
            .into_iter()
            .map(|(account, region, group, _)| (account, region, group))
            .collect()
    };

    let accounts: BTreeSet<&str> = todo.iter().map(|r| r.account_id.as_str()).collect();
    for account_id in accounts {
        let mine: Vec<&ChangeRow> = todo
            .iter()
            .copied()
            .filter(|r| r.account_id == account_id)
            .collect();
        let Some(account) = config.accounts.iter().find(|a| a.id.as_str() == account_id) else {
            for r in mine {
                report.errors.push(not_undone(
                    r,
                    format!("account {account_id} is no longer in the configuration"),
                ));
            }
            continue;
        };
        let conn = match cloud.connect(account, Purpose::Restore).await {
            Ok(c) => c,
            Err(e) => {
                for r in mine {
                    report.errors.push(not_undone(r, e.to_string()));
                }
                continue;
            }
        };
        // Order: start the instances, then resume their groups, then give the access back.
        let rank = |r: &&ChangeRow| match r.action.as_str() {
            "stop_instance" => 0,
            "suspend_processes" => 1,
            _ => 2,
        };
        let mut mine = mine;
        mine.sort_by_key(|r| (rank(r), r.id));

        // Instances, batched per region.
        let mut stops: BTreeMap<&str, Vec<&ChangeRow>> = BTreeMap::new();
        for r in mine.iter().filter(|r| r.action == "stop_instance") {
            if start_instances {
                stops.entry(r.region.as_str()).or_default().push(r);
            } else {
                report.kept.push(not_undone(
                    r,
                    "stopped: restore with --start-instances to start it".into(),
                ));
            }
        }
        for (region, rows) in stops {
            let Ok(region_name) = RegionName::parse(region) else {
                continue;
            };
            // A crash and a resumed run can journal one instance twice: start it once.
            let mut by_target: BTreeMap<&str, Vec<&ChangeRow>> = BTreeMap::new();
            for r in rows {
                by_target.entry(r.target.as_str()).or_default().push(r);
            }
            let targets: Vec<&str> = by_target.keys().copied().collect();
            for batch in targets.chunks(crate::app::halt::STOP_BATCH) {
                let batch_rows: Vec<&ChangeRow> = batch
                    .iter()
                    .flat_map(|t| by_target[t].iter().copied())
                    .collect();
                journal.mark_restore(
                    &batch_rows.iter().map(|r| (r.id, None)).collect::<Vec<_>>(),
                    Utc::now(),
                )?;
                let ids: Vec<String> = batch.iter().map(|t| t.to_string()).collect();
                *called = true;
                let per_target: Vec<(&str, Result<(), CloudError>)> =
                    match conn.start_instances(&region_name, &ids).await {
                        Ok(()) => batch.iter().map(|t| (*t, Ok(()))).collect(),
                        Err(_) => {
                            let mut each = Vec::new();
                            for t in batch {
                                each.push((
                                    *t,
                                    conn.start_instances(&region_name, &[t.to_string()]).await,
                                ));
                            }
                            each
                        }
                    };
                let outcomes = per_target
                    .into_iter()
                    .flat_map(|(t, res)| by_target[t].iter().map(move |r| (*r, res.clone())))
                    .collect();
                record(journal, &mut report, outcomes, not_undone)?;
            }
        }

        for r in mine.iter().filter(|r| r.action != "stop_instance") {
            if r.action == "suspend_processes"
                && held.contains(&(r.account_id.clone(), r.region.clone(), r.target.clone()))
            {
                report.kept.push(not_undone(r, "processes left suspended: its instances stay stopped, and resuming would let the group terminate them (restore with --start-instances)".into()));
                continue;
            }
            journal.mark_restore(&[(r.id, None)], Utc::now())?;
            *called = true;
            let result = undo(conn.as_ref(), r).await;
            record(journal, &mut report, vec![(*r, result)], not_undone)?;
        }
    }
    tracing::info!(
        incident.id = incident,
        restored = report.restored.len(),
        errors = report.errors.len(),
        "restore done"
    );
    Ok(report)
}

fn record(
    journal: &Journal,
    report: &mut RestoreReport,
    outcomes: Vec<(&ChangeRow, Result<(), CloudError>)>,
    not_undone: impl Fn(&ChangeRow, String) -> NotUndone,
) -> Result<(), JournalError> {
    let marks: Vec<(i64, Option<Result<(), String>>)> = outcomes
        .iter()
        .map(|(r, res)| (r.id, Some(res.clone().map_err(|e| e.to_string()))))
        .collect();
    journal.mark_restore(&marks, Utc::now())?;
    for (r, res) in outcomes {
        match res {
            Ok(()) => report.restored.push(Undone {
                account_id: r.account_id.clone(),
                region: r.region.clone(),
                action: r.action.clone(),
                target: r.target.clone(),
            }),
            Err(e) => report.errors.push(not_undone(r, e.to_string())),
        }
    }
    Ok(())
}

/// Undoes one non-instance change.
async fn undo(conn: &dyn AccountCloud, r: &ChangeRow) -> Result<(), CloudError> {
    let missing = |what: &str| CloudError {
        kind: ErrorKind::Other,
        operation: "restore",
        code: None,
        message: format!("the journaled change has no {what}"),
    };

    match r.action.as_str() {
        "suspend_processes" => {
            let region = RegionName::parse(&r.region).map_err(|_| missing("region"))?;
            conn.resume_processes(&region, &r.target, &processes(r))
                .await
        }
        "attach_user_policy" | "attach_role_policy" => {
            let kind = if r.action == "attach_user_policy" {
                PrincipalKind::User
            } else {
                PrincipalKind::Role
            };
            let policy = detail(r, "policy_arn").ok_or_else(|| missing("policy_arn"))?;
            match conn.set_policy(kind, &r.target, &policy, false).await {
                // Not attached (any more, or a crash came before the attach): the state before
                // the incident already holds.
                Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
                other => other,
            }
        }
        "deactivate_access_key" => {
            let user = detail(r, "user").ok_or_else(|| missing("user"))?;
            conn.set_access_key(&user, &r.target, true).await
        }
        other => Err(CloudError {
            kind: ErrorKind::Other,
            operation: "restore",
            code: None,
            message: format!("no undo for {other:?}"),
        }),
    }
}
