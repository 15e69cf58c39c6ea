//! The SQLite journal: an embedded database (`state_path`) that records every incident, what the
//! guard found, and every change it makes in AWS — written before the change (`pending`, with
//! the state it changes from) and updated after it (`done` or `failed`). WAL mode with
//! `synchronous = FULL`: a commit that returned is on disk, so a crash at any point leaves a
//! journal that says what may have been done.
//!
//! Only this module runs SQL. It implements the journal port (`ports::journal`) in `port.rs`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

mod activity;
mod changes;
mod copy;
mod events;
mod incidents;
mod prices;
mod schema;

mod port;

pub use crate::ports::journal::{
    ChangeRow, EventRecord, EventRow, Finding, IncidentRow, JournalError, LastOk, PlannedChange,
    new_incident_id,
};
pub use schema::SCHEMA_VERSION;
use schema::migrate;

/// The journal in an embedded SQLite file.
pub struct SqliteJournal {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SqliteJournal {
    /// Opens (or creates) the journal and proves it writable, before anything changes in AWS.
    pub fn open(path: &Path) -> Result<SqliteJournal, JournalError> {
        let fail = |e: &dyn std::fmt::Display| JournalError {
            store: path.display().to_string(),
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
        Ok(SqliteJournal {
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
            store: self.path.display().to_string(),
            message: format!("cannot {what}: {e}"),
        })
    }
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

fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::change::{ChangeKind, ChangeStatus};
    use crate::core::incident::Status;
    use rusqlite::Connection;
    use serde_json::json;

    /// What the port promises is held for every store by `tests/it/journal.rs`; what is the
    /// file's own: a change journaled and the incident closed are there when it is opened again.
    #[test]
    fn a_reopened_file_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let j = SqliteJournal::open(&dir.path().join("j.db")).unwrap();
        let now = Utc::now();
        let inc = j.open_incident("halt", "cli:test", now).unwrap();
        let change = PlannedChange {
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            action: ChangeKind::StopInstance,
            target: "i-1".into(),
            detail: json!({}),
            before: json!({"state": "running"}),
        };
        let ids = j.plan_changes(&inc, &[change], now).unwrap();
        j.finish_changes(&[(ids[0], Ok(()))], now).unwrap();
        j.close_incident(&inc, "executed", now).unwrap();
        drop(j);
        let j = SqliteJournal::open(&dir.path().join("j.db")).unwrap();
        assert_eq!(
            j.incident(&inc).unwrap(),
            Some(("halt".into(), "executed".into()))
        );
        assert_eq!(j.changes(&inc).unwrap()[0].status, ChangeStatus::Done);
    }

    /// A journal file as an older build left it, from the SQL it ran (`tests/fixtures/`).
    fn old_journal(dir: &Path, version: i64) -> PathBuf {
        let sql = match version {
            1 => include_str!("../../../../tests/fixtures/journal-v1.sql"),
            2 => include_str!("../../../../tests/fixtures/journal-v2.sql"),
            3 => include_str!("../../../../tests/fixtures/journal-v3.sql"),
            4 => include_str!("../../../../tests/fixtures/journal-v4.sql"),
            5 => include_str!("../../../../tests/fixtures/journal-v5.sql"),
            6 => include_str!("../../../../tests/fixtures/journal-v6.sql"),
            7 => include_str!("../../../../tests/fixtures/journal-v7.sql"),
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
            let j = SqliteJournal::open(&path).unwrap_or_else(|e| panic!("version {version}: {e}"));
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
            if version >= 4 {
                let halt = j.get_incident("inc-20261104-100000-0003").unwrap().unwrap();
                assert_eq!(halt.status, Status::AwaitingConfirmation);
                assert!(halt.response_url.is_some());
            }
            if version >= 6 {
                let alert = j.get_incident("inc-20261102-100000-0002").unwrap().unwrap();
                let launchers = alert.launchers.expect("the launchers of version 6");
                assert_eq!(
                    launchers.attribution.launchers[0].user_name.as_deref(),
                    Some("mallory")
                );
            }
            if version >= 5 {
                let old = j
                    .events_since("2026-11-01T00:00:00Z".parse().unwrap())
                    .unwrap();
                assert_eq!(old[0].outcome, crate::core::events::Outcome::Check);
            }
            // Changes read with their (new) outcome column; captures can be journaled.
            assert_eq!(changes[0].outcome, None);
            assert!(j.captures(halt).unwrap().is_empty());
            // The event path's table exists and takes events.
            let e = crate::ports::journal::EventRecord {
                event_id: Some("e1".into()),
                message_id: "m1".into(),
                account_id: None,
                region: None,
                detail_type: None,
                source: None,
                time: None,
                received_at: Utc::now(),
                outcome: crate::core::events::Outcome::Ignored,
                note: None,
                detail: None,
            };
            assert_eq!(
                j.record_events(&[e]).unwrap(),
                [crate::core::events::Outcome::Ignored]
            );
            drop(j);
            // A second open finds it current and changes nothing.
            SqliteJournal::open(&path).unwrap();
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
        let e = SqliteJournal::open(&path)
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
        let e = SqliteJournal::open(&newer)
            .err()
            .expect("a newer journal accepted");
        assert!(e.message.contains("newer than this build"), "{e}");
    }

    #[test]
    fn a_row_that_cannot_be_read_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let j = SqliteJournal::open(&dir.path().join("j.db")).unwrap();
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
        let e = SqliteJournal::open(&garbage)
            .err()
            .expect("garbage accepted");
        assert!(e.to_string().contains("garbage.db"), "{e}");
        let e = SqliteJournal::open(&dir.path().join("missing/j.db"))
            .err()
            .expect("missing dir accepted");
        assert!(e.message.contains("does not exist"), "{e}");
    }
}
