//! The journal: an embedded SQLite database (`state_path`) that records every incident, what the
//! guard found, and every change it makes in AWS — written before the change (`pending`, with
//! the state it changes from) and updated after it (`done` or `failed`). WAL mode with
//! `synchronous = FULL`: a commit that returned is on disk, so a crash at any point leaves a
//! journal that says what may have been done.
//!
//! Only this module runs SQL.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE incidents (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,              -- 'halt'
    status     TEXT NOT NULL,              -- 'executing', 'executed', 'partial'
    opened_at  TEXT NOT NULL,
    closed_at  TEXT,
    actor      TEXT NOT NULL               -- who asked: 'cli:<user>', later a Slack user id
);
CREATE TABLE findings (                    -- what the guard found before acting
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    account_id  TEXT NOT NULL,
    region      TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    decision    TEXT NOT NULL,             -- 'stop' or 'skip'
    reason      TEXT,
    auto_scaling_group TEXT
);
CREATE TABLE changes (                     -- every change in AWS, before and after
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    account_id  TEXT NOT NULL,
    region      TEXT NOT NULL,
    action      TEXT NOT NULL,             -- 'stop_instance', 'suspend_processes'
    target      TEXT NOT NULL,             -- instance id, group name
    detail      TEXT,                      -- JSON: what the change does
    before      TEXT,                      -- JSON: the state it changes from
    status      TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    error       TEXT,
    planned_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX changes_by_incident ON changes(incident_id);
CREATE TABLE problems (                    -- what could not be read or done
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    account_id  TEXT NOT NULL,
    region      TEXT,
    message     TEXT NOT NULL,
    at          TEXT NOT NULL
);
";

#[derive(Debug, thiserror::Error)]
#[error("journal {path}: {message}")]
pub struct JournalError {
    pub path: PathBuf,
    pub message: String,
}

/// One change to journal: its target, what it does and the state it changes from.
#[derive(Debug, Clone)]
pub struct PlannedChange {
    pub account_id: String,
    pub region: String,
    pub action: &'static str,
    pub target: String,
    pub detail: serde_json::Value,
    pub before: serde_json::Value,
}

/// A found instance and what the guard decided for it.
#[derive(Debug, Clone)]
pub struct Finding<'a> {
    pub instance_id: &'a str,
    pub decision: &'static str,
    pub reason: Option<String>,
    pub auto_scaling_group: Option<&'a str>,
}

/// A change as journaled.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRow {
    pub id: i64,
    pub account_id: String,
    pub region: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub status: String,
    pub error: Option<String>,
}

pub struct Journal {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Journal {
    /// Opens (or creates) the journal and proves it writable, before anything changes in AWS.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let fail = |e: &dyn std::fmt::Display| JournalError {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(fail(&format!("directory {} does not exist", dir.display())));
        }
        let conn = Connection::open(path).map_err(|e| fail(&e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| fail(&e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| fail(&format!("not a usable SQLite database: {e}")))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(fail(&format!("cannot switch to WAL mode (got {mode})")));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| fail(&e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| fail(&format!("not a usable SQLite database: {e}")))?;
        match version {
            0 => {
                let tables: i64 = conn
                    .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                    .map_err(|e| fail(&e))?;
                if tables > 0 {
                    return Err(fail(&"not a runawaytrain journal (it has other tables)"));
                }
                conn.execute_batch(&format!(
                    "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
                .map_err(|e| fail(&format!("cannot create the journal: {e}")))?;
            }
            SCHEMA_VERSION => {
                // Prove it writable now rather than halfway through a halt.
                conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")
                    .map_err(|e| fail(&format!("not writable: {e}")))?;
            }
            v => {
                return Err(fail(&format!(
                    "schema version {v} is newer than this build understands ({SCHEMA_VERSION})"
                )));
            }
        }
        Ok(Journal {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, JournalError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|e| JournalError {
            path: self.path.clone(),
            message: format!("cannot {what}: {e}"),
        })
    }

    /// Opens an incident and returns its id.
    pub fn open_incident(
        &self,
        kind: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        let id = new_incident_id(at);
        self.with("open an incident", |c| {
            c.execute(
                "INSERT INTO incidents (id, kind, status, opened_at, actor) VALUES (?1, ?2, 'executing', ?3, ?4)",
                params![id, kind, at.to_rfc3339(), actor],
            )
        })?;
        Ok(id)
    }

    pub fn close_incident(
        &self,
        id: &str,
        status: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with("close the incident", |c| {
            c.execute(
                "UPDATE incidents SET status = ?2, closed_at = ?3 WHERE id = ?1",
                params![id, status, at.to_rfc3339()],
            )
        })?;
        Ok(())
    }

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
                        incident, ch.account_id, ch.region, ch.action, ch.target,
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

    /// The changes journaled under an incident, in the order they were planned.
    pub fn changes(&self, incident: &str) -> Result<Vec<ChangeRow>, JournalError> {
        self.with("read changes", |c| {
            let mut q = c.prepare(
                "SELECT id, account_id, region, action, target, before, status, error
                 FROM changes WHERE incident_id = ?1 ORDER BY id",
            )?;
            q.query_map([incident], |r| {
                Ok(ChangeRow {
                    id: r.get(0)?,
                    account_id: r.get(1)?,
                    region: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    before: r.get(5)?,
                    status: r.get(6)?,
                    error: r.get(7)?,
                })
            })?
            .collect()
        })
    }

    /// An incident's kind and status, if it exists.
    pub fn incident(&self, id: &str) -> Result<Option<(String, String)>, JournalError> {
        self.with("read an incident", |c| {
            c.query_row(
                "SELECT kind, status FROM incidents WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
    }
}

/// `inc-YYYYMMDD-HHMMSS-xxxx`: sortable by time, short enough to type in `/runaway restore`.
fn new_incident_id(at: DateTime<Utc>) -> String {
    format!(
        "inc-{}-{:04x}",
        at.format("%Y%m%d-%H%M%S"),
        rand::random::<u16>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn journals_a_change_before_and_after() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("j.db")).unwrap();
        let now = Utc::now();
        let inc = j.open_incident("halt", "cli:test", now).unwrap();
        assert!(inc.starts_with("inc-"), "{inc}");
        let planned = |target: &str| PlannedChange {
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            action: "stop_instance",
            target: target.into(),
            detail: json!({}),
            before: json!({"state": "running"}),
        };
        let ids = j
            .plan_changes(&inc, &[planned("i-1"), planned("i-2")], now)
            .unwrap();
        let pending = j.changes(&inc).unwrap();
        assert!(pending.iter().all(|c| c.status == "pending"));
        j.finish_changes(
            &[
                (ids[0], Ok(())),
                (ids[1], Err("IncorrectInstanceState".into())),
            ],
            now,
        )
        .unwrap();
        let rows = j.changes(&inc).unwrap();
        assert_eq!(
            rows.iter().map(|c| c.status.as_str()).collect::<Vec<_>>(),
            ["done", "failed"]
        );
        assert_eq!(rows[1].error.as_deref(), Some("IncorrectInstanceState"));
        assert_eq!(rows[0].before.as_deref(), Some(r#"{"state":"running"}"#));
        j.close_incident(&inc, "partial", now).unwrap();
        drop(j);
        // Reopening keeps everything.
        let j = Journal::open(&dir.path().join("j.db")).unwrap();
        assert_eq!(
            j.incident(&inc).unwrap(),
            Some(("halt".into(), "partial".into()))
        );
    }

    #[test]
    fn refuses_what_is_not_a_journal() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.db");
        std::fs::write(
            &garbage,
            b"this is not a database, just some bytes that go on and on and on",
        )
        .unwrap();
        let e = Journal::open(&garbage).err().expect("garbage accepted");
        assert!(e.to_string().contains("garbage.db"), "{e}");
        let e = Journal::open(&dir.path().join("missing/j.db"))
            .err()
            .expect("missing dir accepted");
        assert!(e.message.contains("does not exist"), "{e}");
    }
}
