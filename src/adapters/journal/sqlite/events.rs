//! The event path's messages: each event once (by EventBridge id), later deliveries marked
//! `duplicate`, and messages that are not events as `problem`s counted per SQS message id.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{JournalError, SqliteJournal, json_of, time_of, unreadable};
use crate::core::events::Outcome;
use crate::ports::journal::{EventRecord, EventRow};

impl SqliteJournal {
    /// Whether the event was journaled before (not as a duplicate).
    pub fn has_event(&self, event_id: &str) -> Result<bool, JournalError> {
        self.with("look up an event", |c| {
            c.query_row(
                "SELECT 1 FROM events WHERE event_id = ?1 AND outcome <> 'duplicate'",
                [event_id],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
        })
    }

    /// Journals the messages of one receive in one transaction; returns each one's outcome as
    /// journaled: an event journaled already becomes a `duplicate` row (whatever was decided
    /// for it), a problem seen before counts one more receive.
    pub fn record_events(&self, records: &[EventRecord]) -> Result<Vec<Outcome>, JournalError> {
        self.with("journal events", |c| {
            let tx = c.transaction()?;
            let mut out = Vec::with_capacity(records.len());
            for r in records {
                let insert = |outcome: Outcome| {
                    tx.execute(
                        "INSERT OR IGNORE INTO events (event_id, message_id, account_id, region, detail_type, source, time, received_at, outcome, note, detail)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                        params![
                            r.event_id,
                            r.message_id,
                            r.account_id,
                            r.region,
                            r.detail_type,
                            r.source,
                            r.time.map(|t| t.to_rfc3339()),
                            r.received_at.to_rfc3339(),
                            outcome.as_str(),
                            r.note,
                            r.detail.as_ref().map(|d| d.to_string()),
                        ],
                    )
                };
                let outcome = if r.outcome == Outcome::Problem {
                    if insert(Outcome::Problem)? == 0 {
                        tx.execute(
                            "UPDATE events SET receives = receives + 1, received_at = ?2, note = ?3
                             WHERE message_id = ?1 AND outcome = 'problem'",
                            params![r.message_id, r.received_at.to_rfc3339(), r.note],
                        )?;
                    }
                    Outcome::Problem
                } else if insert(r.outcome)? == 1 {
                    r.outcome
                } else {
                    insert(Outcome::Duplicate)?;
                    Outcome::Duplicate
                };
                out.push(outcome);
            }
            tx.commit()?;
            Ok(out)
        })
    }

    /// The messages received since `since`, oldest first; with `kinds`, only those
    /// `detail-type`s.
    pub fn events_since(&self, since: DateTime<Utc>) -> Result<Vec<EventRow>, JournalError> {
        self.with("read events", |c| {
            let mut q = c.prepare(
                "SELECT seq, event_id, message_id, account_id, region, detail_type, time, received_at, outcome, note, receives, detail
                 FROM events WHERE received_at >= ?1 ORDER BY received_at, seq",
            )?;
            q.query_map([since.to_rfc3339()], |r| {
                let row = format!("event row {}", r.get::<_, i64>(0)?);
                let event_id: Option<String> = r.get(1)?;
                let message_id: String = r.get(2)?;
                let outcome: String = r.get(8)?;
                Ok(EventRow {
                    id: event_id.unwrap_or_else(|| message_id.clone()),
                    message_id,
                    account: r.get(3)?,
                    region: r.get(4)?,
                    detail_type: r.get(5)?,
                    time: time_of(&row, "time", r.get(6)?)?,
                    received_at: time_of(&row, "received_at", Some(r.get(7)?))?.expect("some"),
                    outcome: Outcome::parse(&outcome)
                        .ok_or_else(|| unreadable(&row, "outcome", &outcome, "an event outcome"))?,
                    note: r.get(9)?,
                    receives: r.get(10)?,
                    detail: json_of(&row, "detail", r.get(11)?)?,
                })
            })?
            .collect()
        })
    }

    /// The CloudTrail records of the launch calls the event path brought for `account` since
    /// `since` (the `detail` of each `AWS API Call via CloudTrail` event, once per event).
    pub fn launch_call_records(
        &self,
        account: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<serde_json::Value>, JournalError> {
        self.with("read launch calls", |c| {
            let mut q = c.prepare(
                "SELECT seq, detail FROM events WHERE account_id = ?1 AND detail_type = ?2
                 AND outcome <> 'duplicate' AND time >= ?3 ORDER BY time, seq",
            )?;
            q.query_map(
                params![account, crate::core::events::API_CALL, since.to_rfc3339()],
                |r| {
                    let row = format!("event row {}", r.get::<_, i64>(0)?);
                    Ok(json_of(&row, "detail", r.get(1)?)?.unwrap_or_default())
                },
            )?
            .collect()
        })
    }

    /// Forgets messages received before `before`; returns how many.
    pub fn prune_events(&self, before: DateTime<Utc>) -> Result<usize, JournalError> {
        self.with("prune events", |c| {
            c.execute(
                "DELETE FROM events WHERE received_at < ?1",
                [before.to_rfc3339()],
            )
        })
    }
}
