//! What people and the bot did around incidents: every press and acting slash command, and
//! every check run.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{JournalError, SqliteJournal, json_of, time_of};
use crate::ports::journal::LastOk;

impl SqliteJournal {
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

    /// Records a check run (keeping the last 1,000), and for each account it found ok the
    /// instance ids it counted running (`ok_counts`: account id → sorted ids), in one
    /// transaction.
    pub fn record_check(
        &self,
        at: DateTime<Utc>,
        state: &str,
        duration_ms: u64,
        report: &serde_json::Value,
        ok_counts: &[(&str, &[String])],
    ) -> Result<(), JournalError> {
        self.with("record the check", |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO checks (checked_at, state, duration_ms, report) VALUES (?1, ?2, ?3, ?4)",
                params![at.to_rfc3339(), state, duration_ms as i64, report.to_string()],
            )?;
            tx.execute("DELETE FROM checks WHERE id <= (SELECT max(id) - 1000 FROM checks)", [])?;
            for (account, ids) in ok_counts {
                tx.execute(
                    "INSERT INTO ok_counts (account_id, checked_at, instance_ids) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(account_id) DO UPDATE SET checked_at = excluded.checked_at, instance_ids = excluded.instance_ids",
                    params![account, at.to_rfc3339(), super::json_text(ids)],
                )?;
            }
            tx.commit()
        })?;
        Ok(())
    }

    /// The last periodic check that found `account` ok: when, how many instances ran, and
    /// which (`None` when that check was journaled by a build that did not keep them).
    pub fn last_ok_check(&self, account: &str) -> Result<Option<LastOk>, JournalError> {
        let Some((at, running)) = self.last_ok_check_at(account)? else {
            return Ok(None);
        };
        let counted = self.with("read the last ok check's instances", |c| {
            let row: Option<(String, String)> = c
                .query_row(
                    "SELECT checked_at, instance_ids FROM ok_counts WHERE account_id = ?1",
                    [account],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((checked_at, ids)) = row else {
                return Ok(None);
            };
            let row = format!("ok_counts {account}");
            let when = time_of(&row, "checked_at", Some(checked_at))?.expect("some");
            let ids: Vec<String> = json_of(&row, "instance_ids", Some(ids))?.expect("some");
            Ok((when == at).then(|| ids.into_iter().collect()))
        })?;
        Ok(Some(LastOk {
            at,
            running,
            counted,
        }))
    }

    fn last_ok_check_at(
        &self,
        account: &str,
    ) -> Result<Option<(DateTime<Utc>, u64)>, JournalError> {
        self.with("read the last ok check", |c| {
            let mut q = c.prepare("SELECT id, checked_at, report FROM checks ORDER BY id DESC")?;
            let mut rows = q.query([])?;
            while let Some(r) = rows.next()? {
                let row = format!("check {}", r.get::<_, i64>(0)?);
                let report: serde_json::Value =
                    json_of(&row, "report", Some(r.get(2)?))?.expect("some");
                let ok = report["accounts"].as_array().and_then(|list| {
                    list.iter()
                        .find(|a| a["account_id"] == account && a["state"] == "ok")
                });
                if let Some(a) = ok {
                    let at = time_of(&row, "checked_at", Some(r.get(1)?))?.expect("some");
                    return Ok(Some((at, a["running_instances"].as_u64().unwrap_or(0))));
                }
            }
            Ok(None)
        })
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

    /// The checks at or after `since`, oldest first (newest first from the table, stopping at
    /// the first older one: ids grow with time).
    pub fn checks_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, serde_json::Value)>, JournalError> {
        self.with("read the checks", |c| {
            let mut q = c.prepare("SELECT id, checked_at, report FROM checks ORDER BY id DESC")?;
            let mut rows = q.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let row = format!("check {}", r.get::<_, i64>(0)?);
                let at = time_of(&row, "checked_at", Some(r.get(1)?))?.expect("some");
                if at < since {
                    break;
                }
                let report = json_of(&row, "report", Some(r.get(2)?))?.expect("some");
                out.push((at, report));
            }
            out.reverse();
            Ok(out)
        })
    }
}
