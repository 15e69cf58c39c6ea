//! Incidents: opened by a CLI command or by the bot, decided through conditional updates
//! (`claim`), closed with what the actions did.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{
    JournalError, SqliteJournal, json_of, json_text, new_incident_id, time_of, unreadable,
};
use crate::core::incident::{Observed, Status};
use crate::ports::journal::IncidentRow;

pub(super) const INCIDENT_COLUMNS: &str = "id, kind, status, actor, account_id, accounts, opened_at, deadline, decided_by, \
     decided_at, observed, slack_channel, slack_ts, snooze_until, result, acting_process, response_url, launchers, finding, target";

pub(super) fn incident_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IncidentRow> {
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
        launchers: json_of(id_, "launchers", r.get(17)?)?,
        finding: json_of(id_, "finding", r.get(18)?)?,
        target: json_of(id_, "target", r.get(19)?)?,
        id,
    })
}

impl SqliteJournal {
    /// Opens an incident and returns its id.
    pub fn open_incident(
        &self,
        kind: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        self.open_incident_as(&new_incident_id(at), kind, actor, at)
    }

    /// A fresh incident id, for an incident opened later with [`Journal::open_incident_as`]
    /// (the guard's sessions are named after it before it is opened).
    pub fn incident_id(at: DateTime<Utc>) -> String {
        new_incident_id(at)
    }

    /// Opens an incident under an id from [`Journal::incident_id`].
    pub fn open_incident_as(
        &self,
        id: &str,
        kind: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        let id = id.to_owned();
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

    /// Opens an incident for a GuardDuty finding about `resource`: status `open`, without a
    /// deadline until the alert is delivered.
    pub fn open_finding(
        &self,
        account_id: &str,
        resource: &str,
        finding: &crate::core::guardduty::FindingIncident,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        let id = new_incident_id(at);
        self.with("open an incident", |c| {
            c.execute(
                "INSERT INTO incidents (id, kind, status, opened_at, actor, account_id, resource, finding, updated_at)
                 VALUES (?1, ?6, 'open', ?2, ?7, ?3, ?4, ?5, ?2)",
                params![id, at.to_rfc3339(), account_id, resource, json_text(finding), finding.kind(), finding.actor()],
            )
        })?;
        Ok(id)
    }

    /// The latest finding incident of the account about `resource`.
    pub fn latest_finding(
        &self,
        account_id: &str,
        resource: &str,
    ) -> Result<Option<IncidentRow>, JournalError> {
        self.with("read the latest finding incident", |c| {
            c.query_row(
                &format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE kind IN ('finding', 'tamper', 'bedrock') AND account_id = ?1 AND resource = ?2
                     ORDER BY opened_at DESC, rowid DESC LIMIT 1"
                ),
                params![account_id, resource],
                incident_row,
            )
            .optional()
        })
    }

    /// Journals a finding incident's latest finding and response.
    pub fn update_finding(
        &self,
        id: &str,
        finding: &crate::core::guardduty::FindingIncident,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with("update the finding incident", |c| {
            c.execute(
                "UPDATE incidents SET finding = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, json_text(finding), at.to_rfc3339()],
            )
        })?;
        Ok(())
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

    /// Opens an isolation asked for with `/runaway isolate`, waiting for its confirmation
    /// button. `deadline`: when it lapses unconfirmed; `response_url`: where to say so.
    pub fn open_isolation_request(
        &self,
        target: &crate::core::isolation::IsolationTarget,
        user: &str,
        deadline: DateTime<Utc>,
        response_url: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        let id = new_incident_id(at);
        self.with("open an incident", |c| {
            c.execute(
                "INSERT INTO incidents (id, kind, status, opened_at, actor, account_id, resource, target, updated_at, deadline, response_url)
                 VALUES (?1, 'isolate', 'awaiting_confirmation', ?2, ?3, ?4, ?5, ?6, ?2, ?7, ?8)",
                params![
                    id,
                    at.to_rfc3339(),
                    format!("slack:{user}"),
                    target.account_id,
                    format!("instance:{}", target.instance_id),
                    json_text(target),
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

    /// Journals who launched the alert's instances, as just looked up.
    pub fn set_launchers(
        &self,
        id: &str,
        launchers: &crate::core::launchers::Launchers,
    ) -> Result<(), JournalError> {
        self.with("record the launchers", |c| {
            c.execute(
                "UPDATE incidents SET launchers = ?2 WHERE id = ?1",
                params![id, json_text(launchers)],
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
}
