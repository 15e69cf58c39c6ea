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

use crate::core::change::{ChangeKind, ChangeStatus};
use crate::core::incident::{Observed, Status};

/// The schema version this build writes (`PRAGMA user_version`): the number of migrations.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Every schema change ever made, in order: migration `n` (counted from 1) takes a journal of
/// version `n - 1` to version `n`; a new journal runs them all. A journal of any older version
/// is brought to the current one in order, in one transaction. Never edit one that shipped:
/// add the next.
const MIGRATIONS: [&str; 4] = [SCHEMA, MIGRATE_TO_2, MIGRATE_TO_3, MIGRATE_TO_4];

/// Version 1: CLI halts — incidents, findings, changes, problems.
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

/// Version 4: the process carrying out an incident's actions (so that `restore` waits for it
/// rather than racing it), and the `response_url` of a `/runaway halt` waiting for its
/// confirmation (so that its expiry can be said in Slack).
const MIGRATE_TO_4: &str = "
ALTER TABLE incidents ADD COLUMN acting_process TEXT;  -- 'pid@start' of the process acting
ALTER TABLE incidents ADD COLUMN response_url TEXT;    -- cleared once the halt is decided
";

/// Version 3: the undoing of each change by `restore`, journaled like the change itself.
const MIGRATE_TO_3: &str = "
ALTER TABLE changes ADD COLUMN restore_status TEXT CHECK (restore_status IN ('pending', 'done', 'failed'));
ALTER TABLE changes ADD COLUMN restore_error TEXT;
ALTER TABLE changes ADD COLUMN restored_at TEXT;
";

/// Version 2: the bot's incidents (alerts with deadlines, Slack messages, decisions), button
/// presses and check runs.
const MIGRATE_TO_2: &str = "
ALTER TABLE incidents ADD COLUMN account_id TEXT;
ALTER TABLE incidents ADD COLUMN accounts TEXT;       -- JSON list, for a /runaway halt
ALTER TABLE incidents ADD COLUMN deadline TEXT;
ALTER TABLE incidents ADD COLUMN decided_by TEXT;
ALTER TABLE incidents ADD COLUMN decided_at TEXT;
ALTER TABLE incidents ADD COLUMN observed TEXT;       -- JSON: what the check saw
ALTER TABLE incidents ADD COLUMN slack_channel TEXT;
ALTER TABLE incidents ADD COLUMN slack_ts TEXT;
ALTER TABLE incidents ADD COLUMN snooze_until TEXT;
ALTER TABLE incidents ADD COLUMN result TEXT;         -- JSON: what the actions did
ALTER TABLE incidents ADD COLUMN updated_at TEXT;
CREATE INDEX incidents_by_account ON incidents(account_id, opened_at);
CREATE INDEX incidents_by_status ON incidents(status);
CREATE TABLE presses (                     -- every button press and slash command that acts
    incident_id TEXT,
    user_id     TEXT NOT NULL,
    action      TEXT NOT NULL,
    allowed     INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE TABLE checks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    checked_at  TEXT NOT NULL,
    state       TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    report      TEXT NOT NULL
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
    pub action: ChangeKind,
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
    pub action: ChangeKind,
    pub target: String,
    pub detail: Option<String>,
    pub before: Option<String>,
    pub status: ChangeStatus,
    pub error: Option<String>,
    /// How `restore` left it: `None` (not undone), `pending`, `done` or `failed`.
    pub restore_status: Option<ChangeStatus>,
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
        let mut conn = Connection::open(path).map_err(|e| fail(&e))?;
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
        migrate(&mut conn).map_err(|e| fail(&e))?;
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
        let me = crate::adapters::process::this_process();
        self.with("open an incident", |c| {
            c.execute(
                "INSERT INTO incidents (id, kind, status, opened_at, actor, acting_process) VALUES (?1, ?2, 'executing', ?3, ?4, ?5)",
                params![id, kind, at.to_rfc3339(), actor, me],
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

    /// The changes journaled under an incident, in the order they were planned.
    pub fn changes(&self, incident: &str) -> Result<Vec<ChangeRow>, JournalError> {
        self.with("read changes", |c| {
            let mut q = c.prepare(
                "SELECT id, account_id, region, action, target, detail, before, status, error, restore_status
                 FROM changes WHERE incident_id = ?1 ORDER BY id",
            )?;
            q.query_map([incident], |r| {
                let id: i64 = r.get(0)?;
                let row = format!("change {id}");
                let action: String = r.get(3)?;
                let status: String = r.get(7)?;
                let restore_status: Option<String> = r.get(9)?;
                let status_of = |column: &str, s: &str| {
                    ChangeStatus::parse(s)
                        .ok_or_else(|| unreadable(&row, column, s, "pending, done or failed"))
                };
                Ok(ChangeRow {
                    id,
                    account_id: r.get(1)?,
                    region: r.get(2)?,
                    action: ChangeKind::parse(&action).ok_or_else(|| {
                        unreadable(&row, "action", &action, "a change this build knows")
                    })?,
                    target: r.get(4)?,
                    detail: r.get(5)?,
                    before: r.get(6)?,
                    status: status_of("status", &status)?,
                    error: r.get(8)?,
                    restore_status: restore_status
                        .as_deref()
                        .map(|s| status_of("restore_status", s))
                        .transpose()?,
                })
            })?
            .collect()
        })
    }

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

/// An incident as the bot and `status` read it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub id: String,
    pub kind: String,
    pub status: Status,
    pub actor: String,
    pub account_id: Option<String>,
    pub accounts: Vec<String>,
    pub opened_at: DateTime<Utc>,
    pub deadline: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub observed: Option<Observed>,
    pub slack_channel: Option<String>,
    pub slack_ts: Option<String>,
    pub snooze_until: Option<DateTime<Utc>>,
    pub result: Option<serde_json::Value>,
    /// `pid@start` of the process carrying out (or that carried out) the actions.
    pub acting_process: Option<String>,
    /// The `response_url` of a `/runaway halt` still waiting for its confirmation.
    pub response_url: Option<String>,
}

const INCIDENT_COLUMNS: &str = "id, kind, status, actor, account_id, accounts, opened_at, deadline, decided_by, \
     decided_at, observed, slack_channel, slack_ts, snooze_until, result, acting_process, response_url";

/// Brings the journal to [`SCHEMA_VERSION`]: every missing migration, in order, in one
/// transaction taken before the version is read, so two processes opening one old journal
/// migrate it once. A file that is not a journal, or of a newer schema, is refused untouched.
fn migrate(conn: &mut Connection) -> Result<(), String> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| format!("not a usable SQLite database, or not writable: {e}"))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| format!("not a usable SQLite database: {e}"))?;
    if version == 0 {
        let tables: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        if tables > 0 {
            return Err("not a runawaytrain journal (it has other tables)".into());
        }
    }
    if !(0..=SCHEMA_VERSION).contains(&version) {
        return Err(format!(
            "schema version {version} is newer than this build understands ({SCHEMA_VERSION})"
        ));
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let to = n + 1;
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", to as i64))
            .map_err(|e| {
                format!("cannot upgrade the journal from version {version} to {to}: {e}")
            })?;
    }
    // Committing even when nothing changed proves the journal writable now rather than
    // halfway through a halt.
    tx.commit().map_err(|e| format!("not writable: {e}"))
}

/// A value of a row that this build cannot read: an error naming the row, never a default.
fn unreadable(row: &str, column: &str, value: &str, expected: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("{row}: {column} {value:?} is not {expected}").into(),
    )
}

fn time_of(row: &str, column: &str, s: Option<String>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    s.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| unreadable(row, column, &s, "an RFC 3339 time"))
    })
    .transpose()
}

fn json_of<T: serde::de::DeserializeOwned>(
    row: &str,
    column: &str,
    s: Option<String>,
) -> rusqlite::Result<Option<T>> {
    s.map(|s| {
        serde_json::from_str(&s)
            .map_err(|e| unreadable(row, column, &s, &format!("JSON this build reads ({e})")))
    })
    .transpose()
}

fn incident_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IncidentRow> {
    let id: String = r.get(0)?;
    let name = format!("incident {id}");
    let id_ = &name;
    let status: String = r.get(2)?;
    let opened_at: String = r.get(6)?;
    Ok(IncidentRow {
        kind: r.get(1)?,
        status: Status::parse(&status)
            .ok_or_else(|| unreadable(&name, "status", &status, "a status this build knows"))?,
        actor: r.get(3)?,
        account_id: r.get(4)?,
        accounts: json_of(id_, "accounts", r.get(5)?)?.unwrap_or_default(),
        opened_at: time_of(id_, "opened_at", Some(opened_at))?.expect("some in, some out"),
        deadline: time_of(id_, "deadline", r.get(7)?)?,
        decided_by: r.get(8)?,
        decided_at: time_of(id_, "decided_at", r.get(9)?)?,
        observed: json_of(id_, "observed", r.get(10)?)?,
        slack_channel: r.get(11)?,
        slack_ts: r.get(12)?,
        snooze_until: time_of(id_, "snooze_until", r.get(13)?)?,
        result: json_of(id_, "result", r.get(14)?)?,
        acting_process: r.get(15)?,
        response_url: r.get(16)?,
        id,
    })
}

/// The bot's side of the journal.
impl Journal {
    /// Opens an alert incident for an account: status `open`, without a deadline until the
    /// alert is delivered ([`Journal::set_deadline`]).
    pub fn open_alert(
        &self,
        account_id: &str,
        observed: &Observed,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        let id = new_incident_id(at);
        self.with("open an incident", |c| {
            c.execute(
                "INSERT INTO incidents (id, kind, status, opened_at, actor, account_id, observed, updated_at)
                 VALUES (?1, 'alert', 'open', ?2, 'runaway serve', ?3, ?4, ?2)",
                params![id, at.to_rfc3339(), account_id, json_text(observed)],
            )
        })?;
        Ok(id)
    }

    /// Sets the incident's deadline if it has none yet; whether it did. The first delivery of
    /// an alert sets it, and nothing moves it afterwards.
    pub fn set_deadline(&self, id: &str, deadline: DateTime<Utc>) -> Result<bool, JournalError> {
        let changed = self.with("set the deadline", |c| {
            c.execute(
                "UPDATE incidents SET deadline = ?2 WHERE id = ?1 AND deadline IS NULL",
                params![id, deadline.to_rfc3339()],
            )
        })?;
        Ok(changed == 1)
    }

    /// Opens a halt asked for with `/runaway halt`, waiting for its confirmation button.
    /// `deadline`: when it lapses unconfirmed; `response_url`: where to say so.
    pub fn open_manual(
        &self,
        accounts: &[String],
        user: &str,
        deadline: DateTime<Utc>,
        response_url: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        let id = new_incident_id(at);
        self.with("open an incident", |c| {
            c.execute(
                "INSERT INTO incidents (id, kind, status, opened_at, actor, accounts, updated_at, deadline, response_url)
                 VALUES (?1, 'manual', 'awaiting_confirmation', ?2, ?3, ?4, ?2, ?5, ?6)",
                params![
                    id,
                    at.to_rfc3339(),
                    format!("slack:{user}"),
                    json_text(&accounts),
                    deadline.to_rfc3339(),
                    response_url
                ],
            )
        })?;
        Ok(id)
    }

    pub fn set_slack_message(&self, id: &str, channel: &str, ts: &str) -> Result<(), JournalError> {
        self.with("record the Slack message", |c| {
            c.execute(
                "UPDATE incidents SET slack_channel = ?2, slack_ts = ?3 WHERE id = ?1",
                params![id, channel, ts],
            )
        })?;
        Ok(())
    }

    pub fn update_observed(
        &self,
        id: &str,
        observed: &Observed,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with("update the incident", |c| {
            c.execute(
                "UPDATE incidents SET observed = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, json_text(observed), at.to_rfc3339()],
            )
        })?;
        Ok(())
    }

    /// Moves an incident from `from` to `to` if, and only if, it is still in `from`: the one
    /// place that decides who wins a double click, a retry or a deadline racing a press.
    pub fn claim(
        &self,
        id: &str,
        from: Status,
        to: Status,
        by: &str,
        at: DateTime<Utc>,
        snooze_until: Option<DateTime<Utc>>,
    ) -> Result<bool, JournalError> {
        // Whoever wins the claim is the process that carries the decision out.
        let me = crate::adapters::process::this_process();
        let changed = self.with("decide the incident", |c| {
            c.execute(
                "UPDATE incidents SET status = ?3, decided_by = ?4, decided_at = ?5, snooze_until = ?6, updated_at = ?5,
                     acting_process = ?7, response_url = NULL
                 WHERE id = ?1 AND status = ?2",
                params![id, from.as_str(), to.as_str(), by, at.to_rfc3339(), snooze_until.map(|t| t.to_rfc3339()), me],
            )
        })?;
        Ok(changed == 1)
    }

    /// Closes as `partial` an incident left in `from` (being carried out) by a process that is
    /// gone, if it is still in `from`; so that nobody resumes it.
    pub fn take_over(
        &self,
        id: &str,
        from: Status,
        at: DateTime<Utc>,
    ) -> Result<bool, JournalError> {
        let changed = self.with("take over the incident", |c| {
            c.execute(
                "UPDATE incidents SET status = 'partial', closed_at = ?3, updated_at = ?3 WHERE id = ?1 AND status = ?2",
                params![id, from.as_str(), at.to_rfc3339()],
            )
        })?;
        Ok(changed == 1)
    }

    /// Records that this process carries out the incident's actions (see [`crate::adapters::process`]).
    pub fn set_acting(&self, id: &str) -> Result<(), JournalError> {
        let me = crate::adapters::process::this_process();
        self.with("record the acting process", |c| {
            c.execute(
                "UPDATE incidents SET acting_process = ?2 WHERE id = ?1",
                params![id, me],
            )
        })?;
        Ok(())
    }

    /// Records what the actions did, and the final status.
    pub fn finish_incident(
        &self,
        id: &str,
        status: Status,
        result: &serde_json::Value,
        snooze_until: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with("close the incident", |c| {
            c.execute(
                "UPDATE incidents SET status = ?2, result = ?3, snooze_until = ?4, closed_at = ?5, updated_at = ?5 WHERE id = ?1",
                params![id, status.as_str(), result.to_string(), snooze_until.map(|t| t.to_rfc3339()), at.to_rfc3339()],
            )
        })?;
        Ok(())
    }

    pub fn get_incident(&self, id: &str) -> Result<Option<IncidentRow>, JournalError> {
        self.with("read an incident", |c| {
            c.query_row(
                &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1"),
                [id],
                incident_row,
            )
            .optional()
        })
    }

    /// The account's latest alert incident.
    pub fn latest_alert(&self, account_id: &str) -> Result<Option<IncidentRow>, JournalError> {
        self.with("read the latest incident", |c| {
            c.query_row(
                &format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE kind = 'alert' AND account_id = ?1
                     ORDER BY opened_at DESC, rowid DESC LIMIT 1"
                ),
                [account_id],
                incident_row,
            )
            .optional()
        })
    }

    /// Incidents in one of `statuses`, oldest first.
    pub fn incidents_in(&self, statuses: &[Status]) -> Result<Vec<IncidentRow>, JournalError> {
        let list: Vec<String> = statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        self.with("read incidents", |c| {
            let mut q = c.prepare(&format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE status IN ({}) ORDER BY opened_at, rowid",
                list.join(", ")
            ))?;
            q.query_map([], incident_row)?.collect()
        })
    }

    /// The latest incidents, newest first.
    pub fn recent_incidents(&self, limit: usize) -> Result<Vec<IncidentRow>, JournalError> {
        self.with("read incidents", |c| {
            let mut q = c.prepare(&format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY opened_at DESC, rowid DESC LIMIT ?1"
            ))?;
            q.query_map([limit as i64], incident_row)?.collect()
        })
    }

    /// Journals a press or an acting slash command, allowed or refused, with its outcome.
    pub fn record_press(
        &self,
        incident: Option<&str>,
        user: &str,
        action: &str,
        allowed: bool,
        outcome: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with("record a press", |c| {
            c.execute(
                "INSERT INTO presses (incident_id, user_id, action, allowed, outcome, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![incident, user, action, allowed, outcome, at.to_rfc3339()],
            )
        })?;
        Ok(())
    }

    /// Presses journaled for an incident: (user, action, allowed, outcome).
    pub fn presses(
        &self,
        incident: &str,
    ) -> Result<Vec<(String, String, bool, String)>, JournalError> {
        self.with("read presses", |c| {
            let mut q = c.prepare("SELECT user_id, action, allowed, outcome FROM presses WHERE incident_id = ?1 ORDER BY rowid")?;
            q.query_map([incident], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect()
        })
    }

    /// Records a check run (keeping the last 1,000).
    pub fn record_check(
        &self,
        at: DateTime<Utc>,
        state: &str,
        duration_ms: u64,
        report: &serde_json::Value,
    ) -> Result<(), JournalError> {
        self.with("record the check", |c| {
            c.execute(
                "INSERT INTO checks (checked_at, state, duration_ms, report) VALUES (?1, ?2, ?3, ?4)",
                params![at.to_rfc3339(), state, duration_ms as i64, report.to_string()],
            )?;
            c.execute("DELETE FROM checks WHERE id <= (SELECT max(id) - 1000 FROM checks)", [])
        })?;
        Ok(())
    }

    /// The last check: when, and its report.
    pub fn last_check(&self) -> Result<Option<(DateTime<Utc>, serde_json::Value)>, JournalError> {
        self.with("read the last check", |c| {
            c.query_row(
                "SELECT id, checked_at, report FROM checks ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    let row = format!("check {}", r.get::<_, i64>(0)?);
                    let at = time_of(&row, "checked_at", Some(r.get(1)?))?.expect("some");
                    let report = json_of(&row, "report", Some(r.get(2)?))?.expect("some");
                    Ok((at, report))
                },
            )
            .optional()
        })
    }
}

fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
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
            action: ChangeKind::StopInstance,
            target: target.into(),
            detail: json!({}),
            before: json!({"state": "running"}),
        };
        let ids = j
            .plan_changes(&inc, &[planned("i-1"), planned("i-2")], now)
            .unwrap();
        let pending = j.changes(&inc).unwrap();
        assert!(pending.iter().all(|c| c.status == ChangeStatus::Pending));
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
            rows.iter().map(|c| c.status).collect::<Vec<_>>(),
            [ChangeStatus::Done, ChangeStatus::Failed]
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

    /// A journal file as an older build left it, from the SQL it ran (`tests/fixtures/`).
    fn old_journal(dir: &Path, version: i64) -> PathBuf {
        let sql = match version {
            1 => include_str!("../../../tests/fixtures/journal-v1.sql"),
            2 => include_str!("../../../tests/fixtures/journal-v2.sql"),
            3 => include_str!("../../../tests/fixtures/journal-v3.sql"),
            _ => unreachable!(),
        };
        let path = dir.join(format!("v{version}.db"));
        let c = Connection::open(&path).unwrap();
        c.execute_batch(sql).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, version);
        path
    }

    #[test]
    fn every_older_journal_upgrades_in_order_to_the_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        for version in 1..SCHEMA_VERSION {
            let path = old_journal(dir.path(), version);
            let j = Journal::open(&path).unwrap_or_else(|e| panic!("version {version}: {e}"));
            let v: i64 = j
                .with("read", |c| {
                    c.query_row("PRAGMA user_version", [], |r| r.get(0))
                })
                .unwrap();
            assert_eq!(v, SCHEMA_VERSION, "from version {version}");
            // What the old build wrote reads back, and the new columns are usable.
            let halt = "inc-20261101-100000-0001";
            let row = j.get_incident(halt).unwrap().expect("the old halt");
            assert_eq!((row.kind.as_str(), row.status), ("halt", Status::Partial));
            let changes = j.changes(halt).unwrap();
            assert_eq!(changes.len(), 1, "from version {version}");
            let restored = (version >= 3).then_some(ChangeStatus::Done);
            assert_eq!(changes[0].restore_status, restored);
            j.mark_restore(&[(changes[0].id, Some(Ok(())))], Utc::now())
                .unwrap();
            j.set_acting(halt).unwrap();
            assert_eq!(
                j.get_incident(halt).unwrap().unwrap().acting_process,
                Some(crate::adapters::process::this_process())
            );
            if version >= 2 {
                let alert = j.get_incident("inc-20261102-100000-0002").unwrap().unwrap();
                assert_eq!(alert.status, Status::Open);
                assert_eq!(alert.observed.unwrap().running_instances, 3);
                assert!(j.last_check().unwrap().is_some());
            }
            drop(j);
            // A second open finds it current and changes nothing.
            Journal::open(&path).unwrap();
        }
    }

    #[test]
    fn a_failed_upgrade_changes_nothing_and_a_newer_journal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // A version-2 file whose upgrade to 3 cannot run (the column is there already).
        let path = old_journal(dir.path(), 2);
        let c = Connection::open(&path).unwrap();
        c.execute_batch("ALTER TABLE changes ADD COLUMN restored_at TEXT;")
            .unwrap();
        drop(c);
        let e = Journal::open(&path)
            .err()
            .expect("a broken upgrade accepted");
        assert!(e.message.contains("from version 2 to 3"), "{e}");
        let c = Connection::open(&path).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 2, "the upgrade is one transaction");
        let columns: i64 = c
            .query_row(
                "SELECT count(*) FROM pragma_table_info('changes') WHERE name = 'restore_status'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(columns, 0, "no half-applied migration");
        drop(c);

        let newer = dir.path().join("newer.db");
        let c = Connection::open(&newer).unwrap();
        c.execute_batch(&format!("PRAGMA user_version = {};", SCHEMA_VERSION + 1))
            .unwrap();
        drop(c);
        let e = Journal::open(&newer)
            .err()
            .expect("a newer journal accepted");
        assert!(e.message.contains("newer than this build"), "{e}");
    }

    #[test]
    fn a_row_that_cannot_be_read_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("j.db")).unwrap();
        let now = Utc::now();
        let a = j
            .open_manual(&["123456789012".into()], "U1", now, None, now)
            .unwrap();
        let b = j
            .open_manual(&["123456789012".into()], "U1", now, None, now)
            .unwrap();
        j.with("corrupt", |c| {
            c.execute(
                "UPDATE incidents SET status = 'exploded' WHERE id = ?1",
                [&a],
            )?;
            c.execute(
                "UPDATE incidents SET opened_at = 'yesterday' WHERE id = ?1",
                [&b],
            )
        })
        .unwrap();
        let e = j.get_incident(&a).expect_err("an unknown status read back");
        assert!(
            e.message.contains(&a) && e.message.contains("exploded"),
            "{e}"
        );
        let e = j.get_incident(&b).expect_err("a bad time read back");
        assert!(
            e.message.contains(&b) && e.message.contains("yesterday"),
            "{e}"
        );
        // Lists fail too, rather than skip or default the row.
        assert!(j.recent_incidents(10).is_err());
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
