//! The journal port: what the guard keeps of incidents, the changes it makes in AWS (journaled
//! before each change, with the state it changes from), presses, checks, events and prices, in
//! its own words. One implementation today, the embedded SQLite journal
//! (`adapters::journal::sqlite`); the application sees only this trait.
//!
//! Every race is settled by the store with a conditional write (`claim`, `take_over`,
//! `set_deadline`): whichever caller's write lands first wins, the others are told they lost.

use chrono::{DateTime, Utc};

use crate::core::change::{ChangeKind, ChangeStatus};
use crate::core::events::Outcome;
use crate::core::incident::{Observed, Status};
use crate::core::money::PriceKey;

mod copy;
pub use copy::{
    Copied, CopiedCapture, CopiedChange, CopiedCheck, CopiedFinding, CopiedIncident, CopiedOkCount,
    CopiedPress, CopiedPrice, CopiedProblem, JournalCopy, copy,
};

/// A journal that cannot be read or written: where (`store`: the file, or the table) and why.
#[derive(Debug, thiserror::Error)]
#[error("journal {store}: {message}")]
pub struct JournalError {
    pub store: String,
    pub message: String,
}

/// `inc-YYYYMMDD-HHMMSS-xxxx`: sortable by time, short enough to type in `/runaway restore`.
pub fn new_incident_id(at: DateTime<Utc>) -> String {
    format!(
        "inc-{}-{:04x}",
        at.format("%Y%m%d-%H%M%S"),
        rand::random::<u16>()
    )
}

/// The last periodic check that found an account ok.
#[derive(Debug, Clone, PartialEq)]
pub struct LastOk {
    pub at: DateTime<Utc>,
    /// How many instances it counted running.
    pub running: u64,
    /// Which: `None` when that check was journaled by a build that did not keep them.
    pub counted: Option<std::collections::BTreeSet<String>>,
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
    /// What the call returned (JSON): a snapshot's id, a created group's id.
    pub outcome: Option<String>,
}

/// A message to journal, as the event loop read it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// EventBridge's id; `None` for a message that is not an event.
    pub event_id: Option<String>,
    pub message_id: String,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub detail_type: Option<String>,
    pub source: Option<String>,
    pub time: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub outcome: Outcome,
    /// Why: the problem, or why the event was ignored or kept.
    pub note: Option<String>,
    pub detail: Option<serde_json::Value>,
}

/// A journaled message, as `runaway events` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EventRow {
    /// The event id, or for a problem the SQS message id.
    pub id: String,
    pub message_id: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub detail_type: Option<String>,
    pub time: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    #[serde(serialize_with = "outcome_text")]
    pub outcome: Outcome,
    pub note: Option<String>,
    /// How many times the message was received (problems; 1 otherwise).
    pub receives: u32,
    #[serde(skip)]
    pub detail: Option<serde_json::Value>,
}

fn outcome_text<S: serde::Serializer>(o: &Outcome, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(o.as_str())
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
    /// Who launched the alert's instances, as last looked up.
    pub launchers: Option<crate::core::launchers::Launchers>,
    /// A finding incident's finding and response.
    pub finding: Option<crate::core::guardduty::FindingIncident>,
    /// The instance a `/runaway isolate` asks to isolate.
    pub target: Option<crate::core::isolation::IsolationTarget>,
}

/// The lease of the leading replica, when several `runaway serve` processes share one journal:
/// who holds it, until when, and its fencing token (one higher for each new holder).
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub holder: String,
    pub expires: DateTime<Utc>,
    pub token: i64,
}

/// The journal, whatever keeps it. Shared by every task of a process (`Send + Sync`); each call
/// is one durable write or one consistent read.
pub trait Journal: Send + Sync {
    /// Where it is kept, as errors and `status` name it: a file's path, or a table.
    fn store(&self) -> String;

    /// Takes the lease for `holder` until `until` if it is free, expired at `now`, or already
    /// `holder`'s (then renewed, its token kept); the lease as it stands after, whoever holds
    /// it. Once this journal has held the lease, every change it journals is conditioned on
    /// that token: after a successor took the lease, they are refused, so a paused leader that
    /// wakes up cannot act after its successor did.
    fn take_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Lease, JournalError>;

    /// Gives the lease up, if `holder` holds it.
    fn release_lease(&self, holder: &str) -> Result<(), JournalError>;

    /// Stops conditioning this journal's changes on the lease it last held: called once
    /// another replica holds it and nothing this one began while leading still runs, so that a
    /// follower's own presses journal again. Taking the lease again fences anew.
    fn stand_down(&self) {}

    /// The lease as it stands, whoever holds it, expired or not; `None` when no replica ever
    /// took it (or the store has none: SQLite serves one process).
    fn lease(&self) -> Result<Option<Lease>, JournalError>;

    /// Everything kept, for another store to take in ([`copy()`]). Reads the whole store once
    /// (on DynamoDB, the one Scan the guard makes; never in a check or a press).
    fn export(&self) -> Result<JournalCopy, JournalError>;

    /// Writes the incidents and changes of a copy as they were, change ids kept; the rest of a
    /// copy goes through the ordinary writes ([`copy()`]).
    fn import_records(&self, copy: &JournalCopy) -> Result<(), JournalError>;

    /// Opens an incident and returns its id.
    fn open_incident(
        &self,
        kind: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError>;

    /// Opens an incident under an id from [`new_incident_id`].
    fn open_incident_as(
        &self,
        id: &str,
        kind: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError>;

    fn close_incident(&self, id: &str, status: &str, at: DateTime<Utc>)
    -> Result<(), JournalError>;

    /// An incident's kind and status, if it exists.
    fn incident(&self, id: &str) -> Result<Option<(String, String)>, JournalError>;

    /// Opens an alert incident for an account: status `open`, without a deadline until the
    /// alert is delivered ([`Journal::set_deadline`]).
    fn open_alert(
        &self,
        account_id: &str,
        observed: &Observed,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError>;

    /// Opens an incident for a GuardDuty finding about `resource`: status `open`, without a
    /// deadline until the alert is delivered.
    fn open_finding(
        &self,
        account_id: &str,
        resource: &str,
        finding: &crate::core::guardduty::FindingIncident,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError>;

    /// The latest finding incident of the account about `resource`.
    fn latest_finding(
        &self,
        account_id: &str,
        resource: &str,
    ) -> Result<Option<IncidentRow>, JournalError>;

    /// Journals a finding incident's latest finding and response.
    fn update_finding(
        &self,
        id: &str,
        finding: &crate::core::guardduty::FindingIncident,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError>;

    /// Sets the incident's deadline if it has none yet; whether it did. The first delivery of
    /// an alert sets it, and nothing moves it afterwards.
    fn set_deadline(&self, id: &str, deadline: DateTime<Utc>) -> Result<bool, JournalError>;

    /// Opens a halt asked for with `/runaway halt`, waiting for its confirmation button.
    /// `deadline`: when it lapses unconfirmed; `response_url`: where to say so.
    fn open_manual(
        &self,
        accounts: &[String],
        user: &str,
        deadline: DateTime<Utc>,
        response_url: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError>;

    /// Opens an isolation asked for with `/runaway isolate`, waiting for its confirmation
    /// button. `deadline`: when it lapses unconfirmed; `response_url`: where to say so.
    fn open_isolation_request(
        &self,
        target: &crate::core::isolation::IsolationTarget,
        user: &str,
        deadline: DateTime<Utc>,
        response_url: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError>;

    fn set_slack_message(&self, id: &str, channel: &str, ts: &str) -> Result<(), JournalError>;

    fn update_observed(
        &self,
        id: &str,
        observed: &Observed,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError>;

    /// Journals who launched the alert's instances, as just looked up.
    fn set_launchers(
        &self,
        id: &str,
        launchers: &crate::core::launchers::Launchers,
    ) -> Result<(), JournalError>;

    /// Moves an incident from `from` to `to` if, and only if, it is still in `from`: the one
    /// place that decides who wins a double click, a retry or a deadline racing a press.
    fn claim(
        &self,
        id: &str,
        from: Status,
        to: Status,
        by: &str,
        at: DateTime<Utc>,
        snooze_until: Option<DateTime<Utc>>,
    ) -> Result<bool, JournalError>;

    /// Closes as `partial` an incident left in `from` (being carried out) by a process that is
    /// gone, if it is still in `from`; so that nobody resumes it.
    fn take_over(&self, id: &str, from: Status, at: DateTime<Utc>) -> Result<bool, JournalError>;

    /// Records that this process carries out the incident's actions (see [`crate::adapters::process`]).
    fn set_acting(&self, id: &str) -> Result<(), JournalError>;

    /// Records what the actions did, and the final status.
    fn finish_incident(
        &self,
        id: &str,
        status: Status,
        result: &serde_json::Value,
        snooze_until: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError>;

    fn get_incident(&self, id: &str) -> Result<Option<IncidentRow>, JournalError>;

    /// The account's latest alert incident.
    fn latest_alert(&self, account_id: &str) -> Result<Option<IncidentRow>, JournalError>;

    /// Incidents in one of `statuses`, oldest first.
    fn incidents_in(&self, statuses: &[Status]) -> Result<Vec<IncidentRow>, JournalError>;

    /// The latest incidents, newest first.
    fn recent_incidents(&self, limit: usize) -> Result<Vec<IncidentRow>, JournalError>;

    fn record_findings(
        &self,
        incident: &str,
        account_id: &str,
        region: &str,
        findings: &[Finding<'_>],
    ) -> Result<(), JournalError>;

    fn record_problem(
        &self,
        incident: &str,
        account_id: &str,
        region: Option<&str>,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError>;

    /// Journals changes as `pending`, in one transaction, before they are made. Returns their
    /// row ids, in order.
    fn plan_changes(
        &self,
        incident: &str,
        changes: &[PlannedChange],
        at: DateTime<Utc>,
    ) -> Result<Vec<i64>, JournalError>;

    /// Records the outcome of changes journaled by [`Journal::plan_changes`].
    fn finish_changes(
        &self,
        outcomes: &[(i64, Result<(), String>)],
        at: DateTime<Utc>,
    ) -> Result<(), JournalError>;

    /// Records what a change's call returned (before it is marked done).
    fn set_change_outcome(&self, id: i64, outcome: &serde_json::Value) -> Result<(), JournalError>;

    /// Journals an instance as it was before the guard isolated it.
    fn record_capture(
        &self,
        incident: &str,
        account_id: &str,
        region: &str,
        capture: &crate::ports::InstanceCapture,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError>;

    /// The instances an incident captured before isolating them: `(account, region, capture)`.
    fn captures(
        &self,
        incident: &str,
    ) -> Result<Vec<(String, String, crate::ports::InstanceCapture)>, JournalError>;

    /// The changes journaled under an incident, in the order they were planned.
    fn changes(&self, incident: &str) -> Result<Vec<ChangeRow>, JournalError>;

    /// Databases the guard stopped and no restore has started yet, with their incidents: AWS
    /// starts a stopped database again after 7 days, and the guard stops it again.
    fn stopped_databases(&self) -> Result<Vec<(String, ChangeRow)>, JournalError>;

    /// Journals the undoing of changes: `pending` before the calls, `done`/`failed` after.
    fn mark_restore(
        &self,
        outcomes: &[(i64, Option<Result<(), String>>)],
        at: DateTime<Utc>,
    ) -> Result<(), JournalError>;

    /// Instance ids of Auto Scaling group members this incident stopped (from its findings).
    fn stopped_group_members(
        &self,
        incident: &str,
    ) -> Result<Vec<(String, String, String, String)>, JournalError>;

    /// Journals a press or an acting slash command, allowed or refused, with its outcome.
    fn record_press(
        &self,
        incident: Option<&str>,
        user: &str,
        action: &str,
        allowed: bool,
        outcome: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError>;

    /// Presses journaled for an incident: (user, action, allowed, outcome).
    fn presses(&self, incident: &str) -> Result<Vec<(String, String, bool, String)>, JournalError>;

    /// Records a check run (keeping the last 1,000), and for each account it found ok the
    /// instance ids it counted running (`ok_counts`: account id → sorted ids), in one
    /// transaction.
    fn record_check(
        &self,
        at: DateTime<Utc>,
        state: &str,
        duration_ms: u64,
        report: &serde_json::Value,
        ok_counts: &[(&str, &[String])],
    ) -> Result<(), JournalError>;

    /// The last periodic check that found `account` ok: when, how many instances ran, and
    /// which (`None` when that check was journaled by a build that did not keep them).
    fn last_ok_check(&self, account: &str) -> Result<Option<LastOk>, JournalError>;

    /// The last check: when, and its report.
    fn last_check(&self) -> Result<Option<(DateTime<Utc>, serde_json::Value)>, JournalError>;

    /// The checks at or after `since`, oldest first: when, and each report (the trends of
    /// `runaway status` and of an alert).
    fn checks_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, serde_json::Value)>, JournalError>;

    /// Whether the event was journaled before (not as a duplicate).
    fn has_event(&self, event_id: &str) -> Result<bool, JournalError>;

    /// Journals the messages of one receive in one transaction; returns each one's outcome as
    /// journaled: an event journaled already becomes a `duplicate` row (whatever was decided
    /// for it), a problem seen before counts one more receive.
    fn record_events(&self, records: &[EventRecord]) -> Result<Vec<Outcome>, JournalError>;

    /// The messages received since `since`, oldest first; with `kinds`, only those
    /// `detail-type`s.
    fn events_since(&self, since: DateTime<Utc>) -> Result<Vec<EventRow>, JournalError>;

    /// The CloudTrail records of the launch calls the event path brought for `account` since
    /// `since` (the `detail` of each `AWS API Call via CloudTrail` event, once per event).
    fn launch_call_records(
        &self,
        account: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<serde_json::Value>, JournalError>;

    /// Forgets messages received before `before`; returns how many.
    fn prune_events(&self, before: DateTime<Utc>) -> Result<usize, JournalError>;

    /// The price of `key` fetched at or after `since`: `Some(None)` when the Price List had
    /// none; `None` when not cached (or older).
    fn cached_price(
        &self,
        key: &PriceKey,
        since: DateTime<Utc>,
    ) -> Result<Option<Option<f64>>, JournalError>;

    fn cache_price(
        &self,
        key: &PriceKey,
        usd_per_hour: Option<f64>,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError>;
}
