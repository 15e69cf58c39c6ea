//! The journal port, kept on DynamoDB: each call is its method of the same name.

use chrono::{DateTime, Utc};

use super::DynamoJournal;
use crate::core::events::Outcome;
use crate::core::incident::{Observed, Status};
use crate::core::money::PriceKey;
use crate::ports::journal::{
    ChangeRow, EventRecord, EventRow, Finding, IncidentRow, Journal, JournalError, LastOk, Lease,
    PlannedChange,
};

impl Journal for DynamoJournal {
    fn store(&self) -> String {
        format!("dynamodb:{}", self.table)
    }

    fn take_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Lease, JournalError> {
        DynamoJournal::take_lease(self, holder, now, until)
    }

    fn release_lease(&self, holder: &str) -> Result<(), JournalError> {
        DynamoJournal::release_lease(self, holder)
    }

    fn open_incident(
        &self,
        kind: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        DynamoJournal::open_incident(self, kind, actor, at)
    }

    fn open_incident_as(
        &self,
        id: &str,
        kind: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        DynamoJournal::open_incident_as(self, id, kind, actor, at)
    }

    fn close_incident(
        &self,
        id: &str,
        status: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        DynamoJournal::close_incident(self, id, status, at)
    }

    fn incident(&self, id: &str) -> Result<Option<(String, String)>, JournalError> {
        DynamoJournal::incident(self, id)
    }

    fn open_alert(
        &self,
        account_id: &str,
        observed: &Observed,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        DynamoJournal::open_alert(self, account_id, observed, at)
    }

    fn open_finding(
        &self,
        account_id: &str,
        resource: &str,
        finding: &crate::core::guardduty::FindingIncident,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        DynamoJournal::open_finding(self, account_id, resource, finding, at)
    }

    fn latest_finding(
        &self,
        account_id: &str,
        resource: &str,
    ) -> Result<Option<IncidentRow>, JournalError> {
        DynamoJournal::latest_finding(self, account_id, resource)
    }

    fn update_finding(
        &self,
        id: &str,
        finding: &crate::core::guardduty::FindingIncident,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        DynamoJournal::update_finding(self, id, finding, at)
    }

    fn set_deadline(&self, id: &str, deadline: DateTime<Utc>) -> Result<bool, JournalError> {
        DynamoJournal::set_deadline(self, id, deadline)
    }

    fn open_manual(
        &self,
        accounts: &[String],
        user: &str,
        deadline: DateTime<Utc>,
        response_url: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        DynamoJournal::open_manual(self, accounts, user, deadline, response_url, at)
    }

    fn open_isolation_request(
        &self,
        target: &crate::core::isolation::IsolationTarget,
        user: &str,
        deadline: DateTime<Utc>,
        response_url: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        DynamoJournal::open_isolation_request(self, target, user, deadline, response_url, at)
    }

    fn set_slack_message(&self, id: &str, channel: &str, ts: &str) -> Result<(), JournalError> {
        DynamoJournal::set_slack_message(self, id, channel, ts)
    }

    fn update_observed(
        &self,
        id: &str,
        observed: &Observed,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        DynamoJournal::update_observed(self, id, observed, at)
    }

    fn set_launchers(
        &self,
        id: &str,
        launchers: &crate::core::launchers::Launchers,
    ) -> Result<(), JournalError> {
        DynamoJournal::set_launchers(self, id, launchers)
    }

    fn claim(
        &self,
        id: &str,
        from: Status,
        to: Status,
        by: &str,
        at: DateTime<Utc>,
        snooze_until: Option<DateTime<Utc>>,
    ) -> Result<bool, JournalError> {
        DynamoJournal::claim(self, id, from, to, by, at, snooze_until)
    }

    fn take_over(&self, id: &str, from: Status, at: DateTime<Utc>) -> Result<bool, JournalError> {
        DynamoJournal::take_over(self, id, from, at)
    }

    fn set_acting(&self, id: &str) -> Result<(), JournalError> {
        DynamoJournal::set_acting(self, id)
    }

    fn finish_incident(
        &self,
        id: &str,
        status: Status,
        result: &serde_json::Value,
        snooze_until: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        DynamoJournal::finish_incident(self, id, status, result, snooze_until, at)
    }

    fn get_incident(&self, id: &str) -> Result<Option<IncidentRow>, JournalError> {
        DynamoJournal::get_incident(self, id)
    }

    fn latest_alert(&self, account_id: &str) -> Result<Option<IncidentRow>, JournalError> {
        DynamoJournal::latest_alert(self, account_id)
    }

    fn incidents_in(&self, statuses: &[Status]) -> Result<Vec<IncidentRow>, JournalError> {
        DynamoJournal::incidents_in(self, statuses)
    }

    fn recent_incidents(&self, limit: usize) -> Result<Vec<IncidentRow>, JournalError> {
        DynamoJournal::recent_incidents(self, limit)
    }

    fn record_findings(
        &self,
        incident: &str,
        account_id: &str,
        region: &str,
        findings: &[Finding<'_>],
    ) -> Result<(), JournalError> {
        DynamoJournal::record_findings(self, incident, account_id, region, findings)
    }

    fn record_problem(
        &self,
        incident: &str,
        account_id: &str,
        region: Option<&str>,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        DynamoJournal::record_problem(self, incident, account_id, region, message, at)
    }

    fn plan_changes(
        &self,
        incident: &str,
        changes: &[PlannedChange],
        at: DateTime<Utc>,
    ) -> Result<Vec<i64>, JournalError> {
        DynamoJournal::plan_changes(self, incident, changes, at)
    }

    fn finish_changes(
        &self,
        outcomes: &[(i64, Result<(), String>)],
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        DynamoJournal::finish_changes(self, outcomes, at)
    }

    fn set_change_outcome(&self, id: i64, outcome: &serde_json::Value) -> Result<(), JournalError> {
        DynamoJournal::set_change_outcome(self, id, outcome)
    }

    fn record_capture(
        &self,
        incident: &str,
        account_id: &str,
        region: &str,
        capture: &crate::ports::InstanceCapture,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        DynamoJournal::record_capture(self, incident, account_id, region, capture, at)
    }

    fn captures(
        &self,
        incident: &str,
    ) -> Result<Vec<(String, String, crate::ports::InstanceCapture)>, JournalError> {
        DynamoJournal::captures(self, incident)
    }

    fn changes(&self, incident: &str) -> Result<Vec<ChangeRow>, JournalError> {
        DynamoJournal::changes(self, incident)
    }

    fn stopped_databases(&self) -> Result<Vec<(String, ChangeRow)>, JournalError> {
        DynamoJournal::stopped_databases(self)
    }

    fn mark_restore(
        &self,
        outcomes: &[(i64, Option<Result<(), String>>)],
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        DynamoJournal::mark_restore(self, outcomes, at)
    }

    fn stopped_group_members(
        &self,
        incident: &str,
    ) -> Result<Vec<(String, String, String, String)>, JournalError> {
        DynamoJournal::stopped_group_members(self, incident)
    }

    fn record_press(
        &self,
        incident: Option<&str>,
        user: &str,
        action: &str,
        allowed: bool,
        outcome: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        DynamoJournal::record_press(self, incident, user, action, allowed, outcome, at)
    }

    fn presses(&self, incident: &str) -> Result<Vec<(String, String, bool, String)>, JournalError> {
        DynamoJournal::presses(self, incident)
    }

    fn record_check(
        &self,
        at: DateTime<Utc>,
        state: &str,
        duration_ms: u64,
        report: &serde_json::Value,
        ok_counts: &[(&str, &[String])],
    ) -> Result<(), JournalError> {
        DynamoJournal::record_check(self, at, state, duration_ms, report, ok_counts)
    }

    fn last_ok_check(&self, account: &str) -> Result<Option<LastOk>, JournalError> {
        DynamoJournal::last_ok_check(self, account)
    }

    fn last_check(&self) -> Result<Option<(DateTime<Utc>, serde_json::Value)>, JournalError> {
        DynamoJournal::last_check(self)
    }

    fn has_event(&self, event_id: &str) -> Result<bool, JournalError> {
        DynamoJournal::has_event(self, event_id)
    }

    fn record_events(&self, records: &[EventRecord]) -> Result<Vec<Outcome>, JournalError> {
        DynamoJournal::record_events(self, records)
    }

    fn events_since(&self, since: DateTime<Utc>) -> Result<Vec<EventRow>, JournalError> {
        DynamoJournal::events_since(self, since)
    }

    fn launch_call_records(
        &self,
        account: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<serde_json::Value>, JournalError> {
        DynamoJournal::launch_call_records(self, account, since)
    }

    fn prune_events(&self, before: DateTime<Utc>) -> Result<usize, JournalError> {
        DynamoJournal::prune_events(self, before)
    }

    fn cached_price(
        &self,
        key: &PriceKey,
        since: DateTime<Utc>,
    ) -> Result<Option<Option<f64>>, JournalError> {
        DynamoJournal::cached_price(self, key, since)
    }

    fn cache_price(
        &self,
        key: &PriceKey,
        usd_per_hour: Option<f64>,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        DynamoJournal::cache_price(self, key, usd_per_hour, at)
    }
}
