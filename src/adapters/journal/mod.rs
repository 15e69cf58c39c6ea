//! The journal's stores. `sqlite`: the embedded default (`state_path`); `dynamodb`: one
//! table shared by replicas. Each implements the journal port (`crate::ports::journal::Journal`);
//! only these modules know their store.

/// The port's calls that every store answers with its own method of the same name (used inside
/// each store's `impl Journal`, beside what differs: `store` and the lease). The port's types
/// are imported where it is used.
macro_rules! delegate_journal {
    ($store:ident) => {
        fn open_incident(
            &self,
            kind: &str,
            actor: &str,
            at: DateTime<Utc>,
        ) -> Result<String, JournalError> {
            $store::open_incident(self, kind, actor, at)
        }

        fn open_incident_as(
            &self,
            id: &str,
            kind: &str,
            actor: &str,
            at: DateTime<Utc>,
        ) -> Result<String, JournalError> {
            $store::open_incident_as(self, id, kind, actor, at)
        }

        fn close_incident(
            &self,
            id: &str,
            status: &str,
            at: DateTime<Utc>,
        ) -> Result<(), JournalError> {
            $store::close_incident(self, id, status, at)
        }

        fn incident(&self, id: &str) -> Result<Option<(String, String)>, JournalError> {
            $store::incident(self, id)
        }

        fn open_alert(
            &self,
            account_id: &str,
            observed: &Observed,
            at: DateTime<Utc>,
        ) -> Result<String, JournalError> {
            $store::open_alert(self, account_id, observed, at)
        }

        fn open_finding(
            &self,
            account_id: &str,
            resource: &str,
            finding: &crate::core::guardduty::FindingIncident,
            at: DateTime<Utc>,
        ) -> Result<String, JournalError> {
            $store::open_finding(self, account_id, resource, finding, at)
        }

        fn latest_finding(
            &self,
            account_id: &str,
            resource: &str,
        ) -> Result<Option<IncidentRow>, JournalError> {
            $store::latest_finding(self, account_id, resource)
        }

        fn update_finding(
            &self,
            id: &str,
            finding: &crate::core::guardduty::FindingIncident,
            at: DateTime<Utc>,
        ) -> Result<(), JournalError> {
            $store::update_finding(self, id, finding, at)
        }

        fn set_deadline(&self, id: &str, deadline: DateTime<Utc>) -> Result<bool, JournalError> {
            $store::set_deadline(self, id, deadline)
        }

        fn open_manual(
            &self,
            accounts: &[String],
            user: &str,
            deadline: DateTime<Utc>,
            response_url: Option<&str>,
            at: DateTime<Utc>,
        ) -> Result<String, JournalError> {
            $store::open_manual(self, accounts, user, deadline, response_url, at)
        }

        fn open_isolation_request(
            &self,
            target: &crate::core::isolation::IsolationTarget,
            user: &str,
            deadline: DateTime<Utc>,
            response_url: Option<&str>,
            at: DateTime<Utc>,
        ) -> Result<String, JournalError> {
            $store::open_isolation_request(self, target, user, deadline, response_url, at)
        }

        fn set_slack_message(&self, id: &str, channel: &str, ts: &str) -> Result<(), JournalError> {
            $store::set_slack_message(self, id, channel, ts)
        }

        fn update_observed(
            &self,
            id: &str,
            observed: &Observed,
            at: DateTime<Utc>,
        ) -> Result<(), JournalError> {
            $store::update_observed(self, id, observed, at)
        }

        fn set_launchers(
            &self,
            id: &str,
            launchers: &crate::core::launchers::Launchers,
        ) -> Result<(), JournalError> {
            $store::set_launchers(self, id, launchers)
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
            $store::claim(self, id, from, to, by, at, snooze_until)
        }

        fn take_over(
            &self,
            id: &str,
            from: Status,
            at: DateTime<Utc>,
        ) -> Result<bool, JournalError> {
            $store::take_over(self, id, from, at)
        }

        fn set_acting(&self, id: &str) -> Result<(), JournalError> {
            $store::set_acting(self, id)
        }

        fn finish_incident(
            &self,
            id: &str,
            status: Status,
            result: &serde_json::Value,
            snooze_until: Option<DateTime<Utc>>,
            at: DateTime<Utc>,
        ) -> Result<(), JournalError> {
            $store::finish_incident(self, id, status, result, snooze_until, at)
        }

        fn get_incident(&self, id: &str) -> Result<Option<IncidentRow>, JournalError> {
            $store::get_incident(self, id)
        }

        fn latest_alert(&self, account_id: &str) -> Result<Option<IncidentRow>, JournalError> {
            $store::latest_alert(self, account_id)
        }

        fn incidents_in(&self, statuses: &[Status]) -> Result<Vec<IncidentRow>, JournalError> {
            $store::incidents_in(self, statuses)
        }

        fn recent_incidents(&self, limit: usize) -> Result<Vec<IncidentRow>, JournalError> {
            $store::recent_incidents(self, limit)
        }

        fn record_findings(
            &self,
            incident: &str,
            account_id: &str,
            region: &str,
            findings: &[Finding<'_>],
        ) -> Result<(), JournalError> {
            $store::record_findings(self, incident, account_id, region, findings)
        }

        fn record_problem(
            &self,
            incident: &str,
            account_id: &str,
            region: Option<&str>,
            message: &str,
            at: DateTime<Utc>,
        ) -> Result<(), JournalError> {
            $store::record_problem(self, incident, account_id, region, message, at)
        }

        fn plan_changes(
            &self,
            incident: &str,
            changes: &[PlannedChange],
            at: DateTime<Utc>,
        ) -> Result<Vec<i64>, JournalError> {
            $store::plan_changes(self, incident, changes, at)
        }

        fn finish_changes(
            &self,
            outcomes: &[(i64, Result<(), String>)],
            at: DateTime<Utc>,
        ) -> Result<(), JournalError> {
            $store::finish_changes(self, outcomes, at)
        }

        fn set_change_outcome(
            &self,
            id: i64,
            outcome: &serde_json::Value,
        ) -> Result<(), JournalError> {
            $store::set_change_outcome(self, id, outcome)
        }

        fn record_capture(
            &self,
            incident: &str,
            account_id: &str,
            region: &str,
            capture: &crate::ports::InstanceCapture,
            at: DateTime<Utc>,
        ) -> Result<(), JournalError> {
            $store::record_capture(self, incident, account_id, region, capture, at)
        }

        fn captures(
            &self,
            incident: &str,
        ) -> Result<Vec<(String, String, crate::ports::InstanceCapture)>, JournalError> {
            $store::captures(self, incident)
        }

        fn changes(&self, incident: &str) -> Result<Vec<ChangeRow>, JournalError> {
            $store::changes(self, incident)
        }

        fn stopped_databases(&self) -> Result<Vec<(String, ChangeRow)>, JournalError> {
            $store::stopped_databases(self)
        }

        fn mark_restore(
            &self,
            outcomes: &[(i64, Option<Result<(), String>>)],
            at: DateTime<Utc>,
        ) -> Result<(), JournalError> {
            $store::mark_restore(self, outcomes, at)
        }

        fn stopped_group_members(
            &self,
            incident: &str,
        ) -> Result<Vec<(String, String, String, String)>, JournalError> {
            $store::stopped_group_members(self, incident)
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
            $store::record_press(self, incident, user, action, allowed, outcome, at)
        }

        fn presses(
            &self,
            incident: &str,
        ) -> Result<Vec<(String, String, bool, String)>, JournalError> {
            $store::presses(self, incident)
        }

        fn record_check(
            &self,
            at: DateTime<Utc>,
            state: &str,
            duration_ms: u64,
            report: &serde_json::Value,
            ok_counts: &[(&str, &[String])],
        ) -> Result<(), JournalError> {
            $store::record_check(self, at, state, duration_ms, report, ok_counts)
        }

        fn last_ok_check(&self, account: &str) -> Result<Option<LastOk>, JournalError> {
            $store::last_ok_check(self, account)
        }

        fn last_check(&self) -> Result<Option<(DateTime<Utc>, serde_json::Value)>, JournalError> {
            $store::last_check(self)
        }

        fn checks_since(
            &self,
            since: DateTime<Utc>,
        ) -> Result<Vec<(DateTime<Utc>, serde_json::Value)>, JournalError> {
            $store::checks_since(self, since)
        }

        fn has_event(&self, event_id: &str) -> Result<bool, JournalError> {
            $store::has_event(self, event_id)
        }

        fn record_events(&self, records: &[EventRecord]) -> Result<Vec<Outcome>, JournalError> {
            $store::record_events(self, records)
        }

        fn events_since(&self, since: DateTime<Utc>) -> Result<Vec<EventRow>, JournalError> {
            $store::events_since(self, since)
        }

        fn launch_call_records(
            &self,
            account: &str,
            since: DateTime<Utc>,
        ) -> Result<Vec<serde_json::Value>, JournalError> {
            $store::launch_call_records(self, account, since)
        }

        fn prune_events(&self, before: DateTime<Utc>) -> Result<usize, JournalError> {
            $store::prune_events(self, before)
        }

        fn cached_price(
            &self,
            key: &PriceKey,
            since: DateTime<Utc>,
        ) -> Result<Option<Option<f64>>, JournalError> {
            $store::cached_price(self, key, since)
        }

        fn cache_price(
            &self,
            key: &PriceKey,
            usd_per_hour: Option<f64>,
            at: DateTime<Utc>,
        ) -> Result<(), JournalError> {
            $store::cache_price(self, key, usd_per_hour, at)
        }
    };
}

pub mod dynamodb;
pub mod sqlite;

pub use dynamodb::DynamoJournal;
pub use sqlite::SqliteJournal;
