//! The bot behind `runaway serve`: one check step, one deadline step, button presses and slash
//! commands, each callable on its own (the tests drive them with their own clock); the server
//! (`crate::adapters::http`) is a thin loop around them.
//!
//! Every decision goes through the journal first: an incident is opened, updated and claimed
//! (`Journal::claim`, a conditional update) before anything is posted or run, so a double
//! click, a Slack retry or a deadline racing a press runs the actions once, and a restart picks
//! up open incidents and their deadlines from the journal.

mod acting;
mod approvals;
mod bedrock;
mod commands;
mod deadlines;
mod delivery;
mod events;
mod findings;
mod isolating;
mod lease;
mod metrics;
mod policy_writes;
mod run;
mod tamper;
mod triggers;

pub use events::{EventsError, RECEIVE_WAIT, run_events};
pub use lease::{LEASE_TTL, LeaseState, run_lease};
pub use metrics::{LoopBeat, Metrics};
pub use run::run_loops;
pub use triggers::MIN_SPACING;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::app::halt;
use crate::config::{Account, Config};
use crate::core::incident::{Latest, Status};
use crate::ports::journal::{IncidentRow, Journal};
use crate::ports::{Chat, Cloud, EventQueue, Notifier};

type Marks = Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

/// An incident being acted on (or alerted about) in this process; unmarked when dropped, so it
/// can move into the task doing the work.
struct Running {
    set: Marks,
    id: String,
}

impl Running {
    fn begin(set: &Marks, id: &str) -> Option<Running> {
        let mut g = set.lock().unwrap_or_else(|p| p.into_inner());
        g.insert(id.to_owned()).then(|| Running {
            set: set.clone(),
            id: id.to_owned(),
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// The clock of one step: the time the step was called with, moved on by the time it has taken
/// since. Tests drive steps with a chosen `now`; nothing below reads the wall clock.
#[derive(Clone, Copy)]
struct StepClock {
    start: DateTime<Utc>,
    since: Instant,
}

impl StepClock {
    fn new(now: DateTime<Utc>) -> Self {
        StepClock {
            start: now,
            since: Instant::now(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        after(self.start, self.since.elapsed())
    }
}

/// The longest a `/runaway halt` waits for its confirmation: Slack's `response_url`, through
/// which its expiry is said, lives 30 minutes.
const MAX_CONFIRMATION_WAIT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

pub struct Bot {
    pub config: Config,
    running: Marks,
    /// Incidents whose alert is being delivered by this process.
    delivering: Marks,
    /// Incidents whose launchers are being looked up by this process.
    looking: Marks,
    /// Incidents whose message is being rewritten by this process, and whether it changed
    /// again meanwhile (one more rewrite then): a burst of updates makes two Slack calls, not
    /// one each.
    refreshing: Arc<std::sync::Mutex<std::collections::HashMap<String, bool>>>,
    /// While one receive of the event queue is being taken: the incidents whose message is to
    /// be rewritten once it is done (a burst of events about one incident, one rewrite).
    deferred: std::sync::Mutex<Option<std::collections::BTreeSet<String>>>,
    /// Deliveries, message updates and actions started by the steps, so that no Slack call or
    /// halt holds up the next check or deadline. Awaited (within a bound) at shutdown.
    pub tasks: tokio_util::task::TaskTracker,
    cloud: Arc<dyn Cloud>,
    chat: Arc<dyn Chat>,
    notifier: Arc<dyn Notifier>,
    pub journal: Arc<dyn Journal>,
    pub metrics: Metrics,
    own_instance: Option<String>,
    /// The ARNs of the guard's own ECS task and service, never halted.
    own_compute: Vec<String>,
    /// The event path's queue, when `[events]` is set.
    pub events: Option<Arc<dyn EventQueue>>,
    /// Checks asked for by events, per account.
    triggers: triggers::Triggers,
    /// Per account, the start of the check that last decided for it: decisions are made one
    /// check at a time, and never from an older check than that.
    decided: std::sync::Mutex<std::collections::HashMap<String, DateTime<Utc>>>,
    /// The organisation's accounts found at the last check that could list them.
    discovered: std::sync::RwLock<std::collections::BTreeSet<String>>,
    /// Which replica leads (`lease.rs`): only the leader's loops check, fire deadlines and read
    /// the event queue.
    pub lease: LeaseState,
}

/// The account as an incident left it, for the next check's decision: as overridden, or once
/// the actions ran, as seen minus the instances they stopped.
fn left_at(row: &IncidentRow) -> Latest {
    let mut observed = row.observed.clone().unwrap_or_default();
    if let Some(report) = row
        .result
        .as_ref()
        .and_then(|r| serde_json::from_value::<halt::HaltReport>(r["halt"].clone()).ok())
    {
        observed.running_instances = observed
            .running_instances
            .saturating_sub(report.stopped() as u64);
    }
    Latest {
        status: row.status,
        observed,
        snooze_until: row.snooze_until,
    }
}

/// `now + d`, saturating at the end of time: never zero, never a panic. Durations of the
/// configuration are at most 30 days, so this is plain addition for any real clock.
pub fn after(now: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    crate::config::checked_after(now, d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `now - d`, saturating at the start of time.
pub fn before(now: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// What a press or a slash command led to, for the HTTP layer and the tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Not an approver: refused, journaled, told.
    Refused,
    /// No such incident.
    Unknown,
    /// Someone or something decided first.
    AlreadyDecided(Status),
    /// Decided now; with `Approved`, the actions ran.
    Decided(Status),
    /// The two-person rule: asked, and waiting for a second, different approver.
    Waiting,
}

impl Bot {
    pub fn new(
        config: Config,
        cloud: Arc<dyn Cloud>,
        chat: Arc<dyn Chat>,
        notifier: Arc<dyn Notifier>,
        journal: Arc<dyn Journal>,
        own_instance: Option<String>,
    ) -> Bot {
        let shared = journal.store().starts_with("dynamodb:");
        Bot {
            lease: LeaseState::new(crate::adapters::process::this_process(), LEASE_TTL, shared),
            config,
            running: Default::default(),
            delivering: Default::default(),
            looking: Default::default(),
            refreshing: Default::default(),
            deferred: Default::default(),
            tasks: tokio_util::task::TaskTracker::new(),
            cloud,
            chat,
            notifier,
            journal,
            metrics: Metrics::default(),
            own_instance,
            own_compute: Vec::new(),
            events: None,
            triggers: Default::default(),
            decided: Default::default(),
            discovered: Default::default(),
        }
    }

    /// With this replica's name (the lease's holder when it leads) and the lease's length.
    pub fn with_lease(mut self, holder: String, ttl: std::time::Duration) -> Bot {
        let shared = self.lease.shared;
        self.lease = LeaseState::new(holder, ttl, shared);
        self
    }

    /// With the guard's own ECS task and service (their ARNs), never halted.
    pub fn with_own_compute(mut self, arns: Vec<String>) -> Bot {
        self.own_compute = arns;
        self
    }

    /// The guard's own compute, as a halt spares it.
    fn own(&self) -> halt::Own<'_> {
        halt::Own {
            instance: self.own_instance.as_deref(),
            compute: &self.own_compute,
        }
    }

    /// With the event path's queue: `run_loops` then long-polls it too.
    pub fn with_events(mut self, queue: Arc<dyn EventQueue>) -> Bot {
        self.events = Some(queue);
        self
    }

    /// Marks an incident as being acted on in this process; `None` if it already is.
    fn begin(&self, id: &str) -> Option<Running> {
        Running::begin(&self.running, id)
    }

    /// Waits until the work the steps started in the background is done (tests, shutdown).
    pub async fn idle(&self) {
        while !self.tasks.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// A watched account: configured, or discovered at the last check.
    fn account(&self, id: &str) -> Option<std::borrow::Cow<'_, Account>> {
        if let Some(a) = self.config.accounts.iter().find(|a| a.id.as_str() == id) {
            return Some(std::borrow::Cow::Borrowed(a));
        }
        let known = self
            .discovered
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id);
        known.then(|| self.config.account(id)).flatten()
    }

    /// The accounts to check now: read from the organisation, or, when it cannot be read, the
    /// ones discovered last time (and the problem said).
    async fn watched(&self) -> crate::app::accounts::Watched {
        let mut w = crate::app::accounts::watched(self.cloud.as_ref(), &self.config).await;
        let mut known = self.discovered.write().unwrap_or_else(|p| p.into_inner());
        if w.problem.is_none() {
            *known = w.discovered.clone();
        } else {
            for id in known.iter() {
                if let Some(a) = self.config.account(id) {
                    w.accounts.push(a.into_owned());
                    w.discovered.insert(id.clone());
                }
            }
        }
        w
    }

    pub fn is_approver(&self, user: &str) -> bool {
        self.config.slack.approvers.iter().any(|a| a == user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_past_the_end_of_time_saturates_and_is_never_zero() {
        let now = Utc::now();
        assert_eq!(
            after(now, std::time::Duration::from_secs(600)),
            now + chrono::Duration::minutes(10)
        );
        // chrono::Duration::from_std fails on this; it must not become "now".
        assert_eq!(
            after(now, std::time::Duration::MAX),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(
            after(DateTime::<Utc>::MAX_UTC, std::time::Duration::from_secs(1)),
            DateTime::<Utc>::MAX_UTC
        );
    }
}
