//! The changes the guard makes in AWS: journaled `pending` before, `done`/`failed` after, and
//! their undoing by `restore`; what a halt found, and the problems it met.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{JournalError, SqliteJournal, unreadable};
use crate::core::change::{ChangeKind, ChangeStatus};
use crate::ports::journal::{ChangeRow, Finding, PlannedChange};

impl SqliteJournal {
    pub fn record_findings(
        &self,
        incident: &str,
        account_id: &str,
        region: &str,
        findings: &[Finding<'_>],
    ) -> Result<(), JournalError> {
        self.with("record findings", |c| {
            let tx = c.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO findings (incident_id, account_id, region, instance_id, decision, reason, auto_scaling_group)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for f in findings {
                    insert.execute(params![incident, account_id, region, f.instance_id, f.decision, f.reason, f.auto_scaling_group])?;
                }
            }
            tx.commit()
        })
    }

    pub fn record_problem(
        &self,
        incident: &str,
        account_id: &str,
        region: Option<&str>,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with("record a problem", |c| {
            c.execute(
                "INSERT INTO problems (incident_id, account_id, region, message, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![incident, account_id, region, message, at.to_rfc3339()],
            )
        })?;
        Ok(())
    }

    /// Journals changes as `pending`, in one transaction, before they are made. Returns their
    /// row ids, in order.
    pub fn plan_changes(
        &self,
        incident: &str,
        changes: &[PlannedChange],
        at: DateTime<Utc>,
    ) -> Result<Vec<i64>, JournalError> {
        self.with("journal planned changes", |c| {
            let tx = c.transaction()?;
            let mut ids = Vec::with_capacity(changes.len());
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO changes (incident_id, account_id, region, action, target, detail, before, status, planned_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)",
                )?;
                for ch in changes {
                    insert.execute(params![
                        incident, ch.account_id, ch.region, ch.action.as_str(), ch.target,
                        ch.detail.to_string(), ch.before.to_string(), at.to_rfc3339()
                    ])?;
                    ids.push(tx.last_insert_rowid());
                }
            }
            tx.commit()?;
            Ok(ids)
        })
    }

    /// Records the outcome of changes journaled by [`Journal::plan_changes`].
    pub fn finish_changes(
        &self,
        outcomes: &[(i64, Result<(), String>)],
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with("journal the result of changes", |c| {
            let tx = c.transaction()?;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE changes SET status = ?2, error = ?3, finished_at = ?4 WHERE id = ?1",
                )?;
                for (id, outcome) in outcomes {
                    let (status, error) = match outcome {
                        Ok(()) => ("done", None),
                        Err(e) => ("failed", Some(e.as_str())),
                    };
                    update.execute(params![id, status, error, at.to_rfc3339()])?;
                }
            }
            tx.commit()
        })
    }

    /// Records what a change's call returned (before it is marked done).
    pub fn set_change_outcome(
        &self,
        id: i64,
        outcome: &serde_json::Value,
    ) -> Result<(), JournalError> {
        self.with("journal what a change returned", |c| {
            c.execute(
                "UPDATE changes SET outcome = ?2 WHERE id = ?1",
                params![id, outcome.to_string()],
            )
        })?;
        Ok(())
    }

    /// Journals an instance as it was before the guard isolated it.
    pub fn record_capture(
        &self,
        incident: &str,
        account_id: &str,
        region: &str,
        capture: &crate::ports::InstanceCapture,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with("journal the instance's capture", |c| {
            c.execute(
                "INSERT INTO captures (incident_id, account_id, region, instance_id, captured_at, description)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    incident,
                    account_id,
                    region,
                    capture.instance_id,
                    at.to_rfc3339(),
                    super::json_text(capture)
                ],
            )
        })?;
        Ok(())
    }

    /// The instances an incident captured before isolating them: `(account, region, capture)`.
    pub fn captures(
        &self,
        incident: &str,
    ) -> Result<Vec<(String, String, crate::ports::InstanceCapture)>, JournalError> {
        self.with("read captures", |c| {
            let mut q = c.prepare(
                "SELECT account_id, region, instance_id, description FROM captures WHERE incident_id = ?1 ORDER BY rowid",
            )?;
            q.query_map([incident], |r| {
                let name = format!("capture of {}", r.get::<_, String>(2)?);
                let capture = super::json_of(&name, "description", r.get(3)?)?
                    .ok_or_else(|| unreadable(&name, "description", "NULL", "a capture"))?;
                Ok((r.get(0)?, r.get(1)?, capture))
            })?
            .collect()
        })
    }

    /// The changes journaled under an incident, in the order they were planned.
    pub fn changes(&self, incident: &str) -> Result<Vec<ChangeRow>, JournalError> {
        self.with("read changes", |c| {
            let mut q = c.prepare(
                "SELECT id, account_id, region, action, target, detail, before, status, error, restore_status, outcome
                 FROM changes WHERE incident_id = ?1 ORDER BY id",
            )?;
            q.query_map([incident], change_row)?.collect()
        })
    }

    /// Databases the guard stopped and no restore has started yet, with their incidents: AWS
    /// starts a stopped database again after 7 days, and the guard stops it again.
    pub fn stopped_databases(&self) -> Result<Vec<(String, ChangeRow)>, JournalError> {
        self.with("read the stopped databases", |c| {
            let mut q = c.prepare(
                "SELECT id, account_id, region, action, target, detail, before, status, error, restore_status, outcome, incident_id
                 FROM changes WHERE action IN ('stop_db_instance', 'stop_db_cluster') AND status = 'done'
                   AND restore_status IS NULL ORDER BY id",
            )?;
            q.query_map([], |r| Ok((r.get(11)?, change_row(r)?)))?
                .collect()
        })
    }
}

/// One row of `changes`, its first eleven columns as [`Journal::changes`] selects them.
pub(super) fn change_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChangeRow> {
    let id: i64 = r.get(0)?;
    let row = format!("change {id}");
    let action: String = r.get(3)?;
    let status: String = r.get(7)?;
    let restore_status: Option<String> = r.get(9)?;
    let status_of = |column: &str, s: &str| {
        ChangeStatus::parse(s).ok_or_else(|| unreadable(&row, column, s, "pending, done or failed"))
    };
    Ok(ChangeRow {
        id,
        account_id: r.get(1)?,
        region: r.get(2)?,
        action: ChangeKind::parse(&action)
            .ok_or_else(|| unreadable(&row, "action", &action, "a change this build knows"))?,
        target: r.get(4)?,
        detail: r.get(5)?,
        before: r.get(6)?,
        status: status_of("status", &status)?,
        error: r.get(8)?,
        restore_status: restore_status
            .as_deref()
            .map(|s| status_of("restore_status", s))
            .transpose()?,
        outcome: r.get(10)?,
    })
}

impl SqliteJournal {
    /// Journals the undoing of changes: `pending` before the calls, `done`/`failed` after.
    pub fn mark_restore(
        &self,
        outcomes: &[(i64, Option<Result<(), String>>)],
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with("journal the restore", |c| {
            let tx = c.transaction()?;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE changes SET restore_status = ?2, restore_error = ?3, restored_at = ?4 WHERE id = ?1",
                )?;
                for (id, outcome) in outcomes {
                    let (status, error) = match outcome {
                        None => ("pending", None),
                        Some(Ok(())) => ("done", None),
                        Some(Err(e)) => ("failed", Some(e.as_str())),
                    };
                    update.execute(params![id, status, error, at.to_rfc3339()])?;
                }
            }
            tx.commit()
        })
    }

    /// Instance ids of Auto Scaling group members this incident stopped (from its findings).
    pub fn stopped_group_members(
        &self,
        incident: &str,
    ) -> Result<Vec<(String, String, String, String)>, JournalError> {
        self.with("read findings", |c| {
            let mut q = c.prepare(
                "SELECT account_id, region, auto_scaling_group, instance_id FROM findings
                 WHERE incident_id = ?1 AND decision = 'stop' AND auto_scaling_group IS NOT NULL",
            )?;
            q.query_map([incident], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect()
        })
    }
}
