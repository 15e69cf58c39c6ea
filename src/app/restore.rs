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

use crate::app::journaled;
use crate::config::{Config, RegionName};
use crate::core::change::{ChangeKind, ChangeStatus, INCIDENT_TAG};
use crate::core::incident::Status;
use crate::core::services::ServiceChange;
use crate::ports::journal::{ChangeRow, Journal, JournalError};
use crate::ports::{AccountCloud, Clock, Cloud, CloudError, ErrorKind, PrincipalKind, Purpose};

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
async fn settle(
    journal: &dyn Journal,
    incident: &str,
    max_wait: Duration,
    clock: Clock<'_>,
) -> Result<(), RestoreError> {
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
                if journal.take_over(incident, row.status, clock())? {
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

/// The tag a `TagInstance` change put: its `key` (older journals: the incident tag) and value.
fn tag_of(row: &ChangeRow, incident: &str) -> (String, String) {
    (
        detail(row, "key").unwrap_or_else(|| INCIDENT_TAG.to_owned()),
        detail(row, "value").unwrap_or_else(|| incident.to_owned()),
    )
}

/// The id a change's call returned (a snapshot, a group, a volume, an instance), if any.
fn outcome_id(row: &ChangeRow) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(row.outcome.as_deref()?).ok()?;
    v.as_str().map(str::to_owned)
}

/// A field of the change's `before` (the state it changed from).
fn before(row: &ChangeRow, key: &str) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(row.before.as_deref()?).ok()?;
    Some(v[key].clone()).filter(|v| !v.is_null())
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
    journal: &dyn Journal,
    incident: &str,
    start_instances: bool,
    max_wait: Duration,
    clock: Clock<'_>,
) -> Result<RestoreReport, RestoreError> {
    settle(journal, incident, max_wait, clock).await?;
    let mut called = false;
    undo_all(
        cloud,
        config,
        journal,
        incident,
        start_instances,
        clock,
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
    journal: &dyn Journal,
    incident: &str,
    start_instances: bool,
    clock: Clock<'_>,
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
            .filter(|r| r.restore_status == Some(ChangeStatus::Done))
            .count(),
    };
    // To undo: what happened or may have happened, and was not undone yet.
    let todo: Vec<&ChangeRow> = rows
        .iter()
        .filter(|r| {
            r.status != ChangeStatus::Failed && r.restore_status != Some(ChangeStatus::Done)
        })
        .collect();
    let not_undone = |r: &ChangeRow, reason: String| NotUndone {
        account_id: r.account_id.clone(),
        region: r.region.clone(),
        action: r.action,
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
        let Some(account) = config.account(account_id) else {
            for r in mine {
                report.errors.push(not_undone(
                    r,
                    format!("account {account_id} is no longer in the configuration"),
                ));
            }
            continue;
        };
        let conn = match cloud
            .connect(&account, Purpose::Restore, Some(incident))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                for r in mine {
                    report.errors.push(not_undone(r, e.to_string()));
                }
                continue;
            }
        };
        // Order: start the instances, then give an isolated one its network and profile back,
        // then put it back in its group and resume the groups, then the rest of its state, then
        // give the access back. What restore keeps (evidence, shared groups) is only listed.
        let rank = |r: &&ChangeRow| match r.action {
            ChangeKind::StopInstance
            | ChangeKind::StopDbInstance
            | ChangeKind::StopDbCluster
            | ChangeKind::StopNotebook => 0,
            ChangeKind::ScaleEcsService
            | ChangeKind::SetConcurrency
            | ChangeKind::DisableBatchQueue
            | ChangeKind::DisableBatchEnvironment => 3,
            ChangeKind::TagInstance => 1,
            ChangeKind::SetInterfaceGroups | ChangeKind::DisassociateProfile => 2,
            ChangeKind::DetachFromGroup | ChangeKind::SuspendProcesses => 3,
            ChangeKind::ProtectInstance => 4,
            ChangeKind::AttachUserPolicy
            | ChangeKind::AttachRolePolicy
            | ChangeKind::DeactivateAccessKey
            | ChangeKind::DeactivateServiceCredential
            | ChangeKind::PutRolePolicy
            | ChangeKind::PutUserPolicy => 5,
            ChangeKind::CreateSecurityGroup
            | ChangeKind::CreateSnapshot
            | ChangeKind::AdmitForensics
            | ChangeKind::CreateVolume
            | ChangeKind::RunForensicInstance
            | ChangeKind::AttachVolume
            | ChangeKind::StopEcsTask
            | ChangeKind::StopSagemakerJob => 6,
        };
        let (kept, mine): (Vec<&ChangeRow>, Vec<&ChangeRow>) = mine
            .into_iter()
            .partition(|r| r.action.kept_by_restore().is_some());
        for r in kept {
            let why = r.action.kept_by_restore().unwrap_or_default();
            let what = outcome_id(r)
                .map(|id| format!(" ({id})"))
                .unwrap_or_default();
            report.kept.push(not_undone(r, format!("{why}{what}")));
        }
        let mut mine = mine;
        mine.sort_by_key(|r| (rank(r), r.id));

        // Instances, batched per region.
        let mut stops: BTreeMap<&str, Vec<&ChangeRow>> = BTreeMap::new();
        for r in mine.iter().filter(|r| r.action == ChangeKind::StopInstance) {
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
                let row_ids: Vec<i64> = batch_rows.iter().map(|r| r.id).collect();
                let ids: Vec<String> = batch.iter().map(|t| t.to_string()).collect();
                let results = journaled::undo(journal, &row_ids, clock, async || {
                    *called = true;
                    let per_target: BTreeMap<&str, Result<(), CloudError>> =
                        match conn.start_instances(&region_name, &ids).await {
                            Ok(()) => batch.iter().map(|t| (*t, Ok(()))).collect(),
                            Err(_) => {
                                let mut each = BTreeMap::new();
                                for t in batch {
                                    let one = [t.to_string()];
                                    each.insert(*t, conn.start_instances(&region_name, &one).await);
                                }
                                each
                            }
                        };
                    batch_rows
                        .iter()
                        .map(|r| per_target[r.target.as_str()].clone())
                        .collect()
                })
                .await?;
                record(&mut report, batch_rows.into_iter().zip(results), not_undone);
            }
        }

        // The incident's tags, off every instance it tagged: one call per region, tag and batch.
        let mut tags: BTreeMap<(&str, String, String), Vec<&ChangeRow>> = BTreeMap::new();
        for r in mine.iter().filter(|r| r.action == ChangeKind::TagInstance) {
            let (key, value) = tag_of(r, incident);
            tags.entry((r.region.as_str(), key, value))
                .or_default()
                .push(r);
        }
        for ((region, key, value), rows) in tags {
            let Ok(region_name) = RegionName::parse(region) else {
                continue;
            };
            for batch in rows.chunks(crate::app::halt::STOP_BATCH) {
                let row_ids: Vec<i64> = batch.iter().map(|r| r.id).collect();
                let mut ids: Vec<String> = batch.iter().map(|r| r.target.clone()).collect();
                ids.dedup();
                let results = journaled::undo(journal, &row_ids, clock, async || {
                    *called = true;
                    let r = conn
                        .tag_instances(&region_name, &ids, &key, &value, false)
                        .await;
                    vec![r; batch.len()]
                })
                .await?;
                record(&mut report, batch.iter().copied().zip(results), not_undone);
            }
        }

        let mut undone: BTreeMap<(ChangeKind, String, String), Result<(), CloudError>> =
            BTreeMap::new();
        // IAM writes are sent without the SDK's retries: paced here once IAM throttles.
        let mut paced = crate::app::paced::Paced::new(account.policy.iam_rate, 1);
        for r in mine
            .iter()
            .filter(|r| !matches!(r.action, ChangeKind::StopInstance | ChangeKind::TagInstance))
        {
            // A service change whose undo starts something (a database, a notebook) waits for
            // --start-instances, as stopped instances do.
            let starts = r.action.is_service()
                && r.before
                    .as_deref()
                    .and_then(|b| serde_json::from_str::<ServiceChange>(b).ok())
                    .is_some_and(|undo| crate::core::services::undo_starts(&undo));
            if starts && !start_instances {
                report.kept.push(not_undone(
                    r,
                    "stopped: restore with --start-instances to start it".into(),
                ));
                continue;
            }
            if r.action == ChangeKind::SuspendProcesses
                && held.contains(&(r.account_id.clone(), r.region.clone(), r.target.clone()))
            {
                report.kept.push(not_undone(r, "processes left suspended: its instances stay stopped, and resuming would let the group terminate them (restore with --start-instances)".into()));
                continue;
            }
            // A database stopped again (`restop.rs`) has one row per stop: started once.
            let key = (r.action, r.region.clone(), r.target.clone());
            let before = r
                .action
                .is_service()
                .then(|| undone.get(&key).cloned())
                .flatten();
            let results = journaled::undo(journal, &[r.id], clock, async || match before {
                Some(result) => vec![result],
                None => {
                    *called = true;
                    vec![paced.one(|| undo(conn.as_ref(), r)).await]
                }
            })
            .await?;
            undone.insert(key, results[0].clone());
            record(&mut report, [*r].into_iter().zip(results), not_undone);
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

/// Adds the journaled outcomes of undos to the report.
fn record<'r>(
    report: &mut RestoreReport,
    outcomes: impl IntoIterator<Item = (&'r ChangeRow, Result<(), CloudError>)>,
    not_undone: impl Fn(&ChangeRow, String) -> NotUndone,
) {
    for (r, res) in outcomes {
        match res {
            Ok(()) => report.restored.push(Undone {
                account_id: r.account_id.clone(),
                region: r.region.clone(),
                action: r.action,
                target: r.target.clone(),
            }),
            Err(e) => report.errors.push(not_undone(r, e.to_string())),
        }
    }
}

/// Undoes one non-instance change.
async fn undo(conn: &dyn AccountCloud, r: &ChangeRow) -> Result<(), CloudError> {
    let missing = |what: &str| CloudError {
        kind: ErrorKind::Other,
        operation: "restore",
        code: None,
        message: format!("the journaled change has no {what}"),
    };

    match r.action {
        ChangeKind::SuspendProcesses => {
            let region = RegionName::parse(&r.region).map_err(|_| missing("region"))?;
            conn.resume_processes(&region, &r.target, &processes(r))
                .await
        }
        ChangeKind::AttachUserPolicy | ChangeKind::AttachRolePolicy => {
            let kind = if r.action == ChangeKind::AttachUserPolicy {
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
        ChangeKind::DeactivateAccessKey => {
            let user = detail(r, "user").ok_or_else(|| missing("user"))?;
            conn.set_access_key(&user, &r.target, true).await
        }
        ChangeKind::DeactivateServiceCredential => {
            let user = detail(r, "user").ok_or_else(|| missing("user"))?;
            conn.set_service_credential(&user, &r.target, true).await
        }
        ChangeKind::PutRolePolicy | ChangeKind::PutUserPolicy => {
            let name = detail(r, "policy_name").ok_or_else(|| missing("policy_name"))?;
            let kind = if r.action == ChangeKind::PutRolePolicy {
                PrincipalKind::Role
            } else {
                PrincipalKind::User
            };
            match conn.set_inline_policy(kind, &r.target, &name, None).await {
                // Not there (any more, or a crash came before the put): as before.
                Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
                other => other,
            }
        }
        ChangeKind::ProtectInstance => {
            let region = RegionName::parse(&r.region).map_err(|_| missing("region"))?;
            let iso = conn.isolation();
            let protection = before(r, "termination_protection")
                .and_then(|v| v.as_bool())
                .ok_or_else(|| missing("termination_protection before"))?;
            let shutdown = before(r, "shutdown_behavior")
                .and_then(|v| v.as_str().map(str::to_owned))
                .ok_or_else(|| missing("shutdown_behavior before"))?;
            iso.set_shutdown_behavior(&region, &r.target, &shutdown)
                .await?;
            iso.set_termination_protection(&region, &r.target, protection)
                .await
        }
        ChangeKind::DetachFromGroup => {
            let region = RegionName::parse(&r.region).map_err(|_| missing("region"))?;
            let group = detail(r, "group").ok_or_else(|| missing("group"))?;
            conn.isolation()
                .set_group_membership(&region, &r.target, &group, true)
                .await
        }
        ChangeKind::DisassociateProfile => {
            let region = RegionName::parse(&r.region).map_err(|_| missing("region"))?;
            let arn = detail(r, "profile_arn").ok_or_else(|| missing("profile_arn"))?;
            conn.isolation()
                .associate_profile(&region, &r.target, &arn)
                .await
                .map_err(|e| CloudError {
                    message: format!(
                        "{}; to do it by hand: aws ec2 associate-iam-instance-profile --region {} --instance-id {} --iam-instance-profile Arn={arn}",
                        e.message, r.region, r.target
                    ),
                    ..e
                })
        }
        ChangeKind::SetInterfaceGroups => {
            let region = RegionName::parse(&r.region).map_err(|_| missing("region"))?;
            let groups: Vec<String> = before(r, "groups")
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| missing("groups before"))?;
            conn.isolation()
                .set_interface_groups(&region, &r.target, &groups)
                .await
        }
        // Kept, never undone: listed apart before undoing anything.
        ChangeKind::CreateSecurityGroup
        | ChangeKind::CreateSnapshot
        | ChangeKind::AdmitForensics
        | ChangeKind::CreateVolume
        | ChangeKind::RunForensicInstance
        | ChangeKind::AttachVolume => Err(CloudError {
            message: "kept on purpose, never undone".into(),
            ..missing("undo")
        }),
        // Compute beyond EC2: the journaled undo (`before`) is the change that gives back what
        // was there (a start, the desired count, the reserved concurrency).
        ChangeKind::StopDbInstance
        | ChangeKind::StopDbCluster
        | ChangeKind::ScaleEcsService
        | ChangeKind::SetConcurrency
        | ChangeKind::StopNotebook
        | ChangeKind::DisableBatchQueue
        | ChangeKind::DisableBatchEnvironment => {
            let region = RegionName::parse(&r.region).map_err(|_| missing("region"))?;
            let change: ServiceChange = r
                .before
                .as_deref()
                .and_then(|b| serde_json::from_str(b).ok())
                .ok_or_else(|| missing("undo"))?;
            conn.service_change(&region, &change).await
        }
        ChangeKind::StopEcsTask | ChangeKind::StopSagemakerJob => Err(CloudError {
            message: "stopped for good: it cannot be started again".into(),
            ..missing("undo")
        }),
        // Started and untagged in their batches (`undo_all`), which the caller leaves out.
        ChangeKind::StopInstance | ChangeKind::TagInstance => Err(CloudError {
            message: "undone in its batch, never one by one".into(),
            ..missing("undo")
        }),
    }
}
