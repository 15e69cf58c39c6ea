//! The journal file exported whole, and a copy's incidents and changes written as they were
//! (`runaway journal copy`, `ports::journal::copy`).

use rusqlite::params;

use super::changes::change_row;
use super::incidents::{INCIDENT_COLUMNS, incident_row};
use super::{JournalError, SqliteJournal, json_of, json_text, time_of, unreadable};
use crate::ports::journal::{
    CopiedCapture, CopiedChange, CopiedCheck, CopiedFinding, CopiedIncident, CopiedOkCount,
    CopiedPress, CopiedPrice, CopiedProblem, JournalCopy,
};

fn time(
    s: Option<String>,
    row: &str,
    column: &str,
) -> rusqlite::Result<chrono::DateTime<chrono::Utc>> {
    let v = s.clone().unwrap_or_default();
    time_of(row, column, s)?.ok_or_else(|| unreadable(row, column, &v, "an RFC 3339 time"))
}

impl SqliteJournal {
    pub fn export(&self) -> Result<JournalCopy, JournalError> {
        self.with("export the journal", |c| {
            let mut copy = JournalCopy::default();
            let mut q = c.prepare(&format!(
                "SELECT {INCIDENT_COLUMNS}, closed_at, resource FROM incidents ORDER BY opened_at, rowid"
            ))?;
            copy.incidents = q
                .query_map([], |r| {
                    let row = incident_row(r)?;
                    let name = format!("incident {}", row.id);
                    Ok(CopiedIncident {
                        closed_at: time_of(&name, "closed_at", r.get(20)?)?,
                        resource: r.get(21)?,
                        row,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut q = c.prepare(
                "SELECT id, account_id, region, action, target, detail, before, status, error, restore_status, outcome,
                        incident_id, planned_at, finished_at, restore_error, restored_at
                 FROM changes ORDER BY id",
            )?;
            copy.changes = q
                .query_map([], |r| {
                    let row = change_row(r)?;
                    let name = format!("change {}", row.id);
                    Ok(CopiedChange {
                        incident: r.get(11)?,
                        planned_at: time(r.get(12)?, &name, "planned_at")?,
                        finished_at: time_of(&name, "finished_at", r.get(13)?)?,
                        restore_error: r.get(14)?,
                        restored_at: time_of(&name, "restored_at", r.get(15)?)?,
                        row,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut q = c.prepare(
                "SELECT incident_id, account_id, region, instance_id, decision, reason, auto_scaling_group
                 FROM findings ORDER BY rowid",
            )?;
            copy.findings = q
                .query_map([], |r| {
                    Ok(CopiedFinding {
                        incident: r.get(0)?,
                        account_id: r.get(1)?,
                        region: r.get(2)?,
                        instance_id: r.get(3)?,
                        decision: r.get(4)?,
                        reason: r.get(5)?,
                        auto_scaling_group: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut q = c.prepare(
                "SELECT incident_id, account_id, region, message, at FROM problems ORDER BY rowid",
            )?;
            copy.problems = q
                .query_map([], |r| {
                    Ok(CopiedProblem {
                        incident: r.get(0)?,
                        account_id: r.get(1)?,
                        region: r.get(2)?,
                        message: r.get(3)?,
                        at: time(r.get(4)?, "problem", "at")?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut q = c.prepare(
                "SELECT incident_id, user_id, action, allowed, outcome, at FROM presses ORDER BY rowid",
            )?;
            copy.presses = q
                .query_map([], |r| {
                    Ok(CopiedPress {
                        incident: r.get(0)?,
                        user: r.get(1)?,
                        action: r.get(2)?,
                        allowed: r.get(3)?,
                        outcome: r.get(4)?,
                        at: time(r.get(5)?, "press", "at")?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut q = c.prepare(
                "SELECT incident_id, account_id, region, captured_at, description FROM captures ORDER BY rowid",
            )?;
            copy.captures = q
                .query_map([], |r| {
                    let incident: String = r.get(0)?;
                    let name = format!("capture of {incident}");
                    Ok(CopiedCapture {
                        account_id: r.get(1)?,
                        region: r.get(2)?,
                        at: time(r.get(3)?, &name, "captured_at")?,
                        capture: json_of(&name, "description", r.get(4)?)?
                            .ok_or_else(|| unreadable(&name, "description", "", "a capture"))?,
                        incident,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut q = c.prepare(
                "SELECT id, checked_at, state, duration_ms, report FROM checks ORDER BY id",
            )?;
            copy.checks = q
                .query_map([], |r| {
                    let name = format!("check {}", r.get::<_, i64>(0)?);
                    Ok(CopiedCheck {
                        at: time(r.get(1)?, &name, "checked_at")?,
                        state: r.get(2)?,
                        duration_ms: r.get::<_, i64>(3)?.max(0) as u64,
                        report: json_of(&name, "report", r.get(4)?)?.unwrap_or_default(),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut q =
                c.prepare("SELECT account_id, checked_at, instance_ids FROM ok_counts ORDER BY account_id")?;
            copy.ok_counts = q
                .query_map([], |r| {
                    let account: String = r.get(0)?;
                    let name = format!("ok_counts {account}");
                    Ok(CopiedOkCount {
                        at: time(r.get(1)?, &name, "checked_at")?,
                        instance_ids: json_of(&name, "instance_ids", r.get(2)?)?
                            .unwrap_or_default(),
                        account,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut q = c.prepare("SELECT key, usd_per_hour, fetched_at FROM prices ORDER BY key")?;
            copy.prices = q
                .query_map([], |r| {
                    let key: Option<String> = r.get(0)?;
                    Ok(CopiedPrice {
                        key: json_of("price", "key", key)?
                            .ok_or_else(|| unreadable("price", "key", "", "a price key"))?,
                        usd_per_hour: r.get(1)?,
                        at: time(r.get(2)?, "price", "fetched_at")?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(copy)
        })
    }

    pub fn import_records(&self, copy: &JournalCopy) -> Result<(), JournalError> {
        let rfc = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339());
        self.with("import incidents and changes", |c| {
            let tx = c.transaction()?;
            for i in &copy.incidents {
                let r = &i.row;
                tx.execute(
                    "INSERT INTO incidents (id, kind, status, actor, account_id, accounts, opened_at, deadline, decided_by,
                         decided_at, observed, slack_channel, slack_ts, snooze_until, result, acting_process, response_url,
                         launchers, finding, target, closed_at, resource)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
                    params![
                        r.id,
                        r.kind,
                        r.status.as_str(),
                        r.actor,
                        r.account_id,
                        (!r.accounts.is_empty()).then(|| json_text(&r.accounts)),
                        r.opened_at.to_rfc3339(),
                        rfc(r.deadline),
                        r.decided_by,
                        rfc(r.decided_at),
                        r.observed.as_ref().map(json_text),
                        r.slack_channel,
                        r.slack_ts,
                        rfc(r.snooze_until),
                        r.result.as_ref().map(json_text),
                        r.acting_process,
                        r.response_url,
                        r.launchers.as_ref().map(json_text),
                        r.finding.as_ref().map(json_text),
                        r.target.as_ref().map(json_text),
                        rfc(i.closed_at),
                        i.resource,
                    ],
                )?;
            }
            for ch in &copy.changes {
                let r = &ch.row;
                tx.execute(
                    "INSERT INTO changes (id, incident_id, account_id, region, action, target, detail, before, status, error,
                         planned_at, finished_at, restore_status, restore_error, restored_at, outcome)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                    params![
                        r.id,
                        ch.incident,
                        r.account_id,
                        r.region,
                        r.action.as_str(),
                        r.target,
                        r.detail,
                        r.before,
                        r.status.as_str(),
                        r.error,
                        ch.planned_at.to_rfc3339(),
                        rfc(ch.finished_at),
                        r.restore_status.map(|s| s.as_str()),
                        ch.restore_error,
                        rfc(ch.restored_at),
                        r.outcome,
                    ],
                )?;
            }
            tx.commit()
        })
    }
}
