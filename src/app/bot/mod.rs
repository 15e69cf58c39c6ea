//! The bot behind `runaway serve`: one check step, one deadline step, button presses and slash
//! commands, each callable on its own (the tests drive them with their own clock); the server
//! (`crate::adapters::http`) is a thin loop around them.
//!
//! Every decision goes through the journal first: an incident is opened, updated and claimed
//! (`Journal::claim`, a conditional update) before anything is posted or run, so a double
//! click, a Slack retry or a deadline racing a press runs the actions once, and a restart picks
//! up open incidents and their deadlines from the journal.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::adapters::journal::{IncidentRow, Journal, JournalError};
use crate::app::check::{self, CheckReport};
use crate::app::halt;
use crate::app::lockout;
use crate::config::{Account, Action, Config};
use crate::core::incident::{self, Latest, Observed, OnCheck, Press, Status};
use crate::core::rules::State;
use crate::ports::{Chat, Cloud, IncidentView, Notifier, Reply};

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub checks: AtomicU64,
    pub last_check_ms: AtomicU64,
    /// Unix seconds of the last finished check; 0 before the first.
    pub last_check_at: AtomicI64,
    pub incidents_opened: AtomicU64,
    pub incidents_executed: AtomicU64,
    pub instances_stopped: AtomicU64,
    pub slack_failures: AtomicU64,
    pub sns_failures: AtomicU64,
    pub refused_presses: AtomicU64,
    /// The last check: its state (0 none yet, 1 ok, 2 error, 3 fail), accounts checked, and
    /// accounts it could not read at all.
    pub last_check_state: std::sync::atomic::AtomicU8,
    pub last_check_accounts: AtomicU64,
    pub last_check_unreadable: AtomicU64,
    pub check_loop: LoopBeat,
    pub deadline_loop: LoopBeat,
}

/// A loop's signs of life, for `/healthz`.
#[derive(Debug, Default)]
pub struct LoopBeat {
    running: std::sync::atomic::AtomicBool,
    /// Unix milliseconds of the last completed turn; 0 before the first.
    last: AtomicI64,
}

impl LoopBeat {
    /// Marks the loop running until the returned guard drops (the loop returns or panics).
    pub fn enter(&self) -> impl Drop + '_ {
        self.running.store(true, Ordering::SeqCst);
        struct Leave<'a>(&'a LoopBeat);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.running.store(false, Ordering::SeqCst);
            }
        }
        Leave(self)
    }

    pub fn beat(&self, at: DateTime<Utc>) {
        self.last.store(at.timestamp_millis(), Ordering::Relaxed);
    }

    pub fn state(&self) -> crate::core::health::LoopState {
        let last = self.last.load(Ordering::Relaxed);
        crate::core::health::LoopState {
            running: self.running.load(Ordering::SeqCst),
            last_beat: (last > 0)
                .then(|| DateTime::from_timestamp_millis(last))
                .flatten(),
        }
    }
}

impl Metrics {
    fn record_outcome(&self, report: &CheckReport) {
        let state = match report.state {
            State::Ok => 1,
            State::Error => 2,
            State::Fail => 3,
        };
        // An account is unreadable when nothing of it could be read: it errs and shows no
        // region counted.
        let unreadable = report
            .accounts
            .iter()
            .filter(|a| a.state == State::Error && a.regions.is_empty())
            .count();
        self.last_check_state.store(state, Ordering::Relaxed);
        self.last_check_accounts
            .store(report.accounts.len() as u64, Ordering::Relaxed);
        self.last_check_unreadable
            .store(unreadable as u64, Ordering::Relaxed);
    }

    pub fn last_check_state(&self) -> Option<&'static str> {
        match self.last_check_state.load(Ordering::Relaxed) {
            1 => Some("ok"),
            2 => Some("error"),
            3 => Some("fail"),
            _ => None,
        }
    }
}

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
    /// Deliveries, message updates and actions started by the steps, so that no Slack call or
    /// halt holds up the next check or deadline. Awaited (within a bound) at shutdown.
    pub tasks: tokio_util::task::TaskTracker,
    cloud: Arc<dyn Cloud>,
    chat: Arc<dyn Chat>,
    notifier: Arc<dyn Notifier>,
    pub journal: Arc<Journal>,
    pub metrics: Metrics,
    own_instance: Option<String>,
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
}

impl Bot {
    pub fn new(
        config: Config,
        cloud: Arc<dyn Cloud>,
        chat: Arc<dyn Chat>,
        notifier: Arc<dyn Notifier>,
        journal: Arc<Journal>,
        own_instance: Option<String>,
    ) -> Bot {
        Bot {
            config,
            running: Default::default(),
            delivering: Default::default(),
            tasks: tokio_util::task::TaskTracker::new(),
            cloud,
            chat,
            notifier,
            journal,
            metrics: Metrics::default(),
            own_instance,
        }
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

    fn account(&self, id: &str) -> Option<&Account> {
        self.config.accounts.iter().find(|a| a.id.as_str() == id)
    }

    pub fn is_approver(&self, user: &str) -> bool {
        self.config.slack.approvers.iter().any(|a| a == user)
    }

    // ----- the check step ---------------------------------------------------------------

    /// Checks every account once and opens, updates or resolves incidents. Alerts are
    /// delivered, and messages updated, in tasks of their own: accounts do not wait on each
    /// other, and Slack never holds up the next check.
    pub async fn check_step(
        self: &Arc<Self>,
        now: DateTime<Utc>,
    ) -> Result<CheckReport, JournalError> {
        let clock = StepClock::new(now);
        let started = Instant::now();
        let accounts: Vec<&Account> = self.config.accounts.iter().collect();
        let report = check::run(self.cloud.as_ref(), &self.config, &accounts, now).await;
        let ms = started.elapsed().as_millis() as u64;
        self.journal.record_check(
            report.checked_at,
            report.state.as_str(),
            ms,
            &serde_json::to_value(&report).unwrap_or_default(),
        )?;
        self.metrics.checks.fetch_add(1, Ordering::Relaxed);
        self.metrics.last_check_ms.store(ms, Ordering::Relaxed);
        self.metrics
            .last_check_at
            .store(report.checked_at.timestamp(), Ordering::Relaxed);
        self.metrics.record_outcome(&report);
        tracing::info!(state = ?report.state, duration_ms = ms, "check done");
        let checked = clock.now();

        for a in &report.accounts {
            let Some(account) = self.account(&a.account_id) else {
                continue;
            };
            let observed = match a.state {
                State::Fail => Some(Observed {
                    running_instances: a.running_instances,
                    regions: a
                        .regions
                        .iter()
                        .filter(|(_, n)| **n > 0)
                        .map(|(r, n)| (r.clone(), *n))
                        .collect(),
                    estimated_charges_usd: a.estimated_charges_usd,
                    violations: a.violations.clone(),
                }),
                State::Ok => None,
                // What could not be read decides nothing: no alert, and no all-clear.
                State::Error => continue,
            };
            let latest = self.journal.latest_alert(&a.account_id)?;
            let decision = incident::on_check(
                latest.as_ref().map(left_at).as_ref(),
                observed.as_ref(),
                checked,
            );
            match (decision, latest, observed) {
                (OnCheck::Open, _, Some(o)) => {
                    let id = self.journal.open_alert(account.id.as_str(), &o, checked)?;
                    self.metrics
                        .incidents_opened
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::info!(incident.id = %id, account.id = %account.id, "incident opened");
                    self.spawn_delivery(&id, checked, clock);
                }
                (OnCheck::Update, Some(l), Some(o)) => {
                    self.journal.update_observed(&l.id, &o, checked)?;
                    tracing::info!(incident.id = %l.id, account.id = %a.account_id, "incident updated");
                    self.spawn_refresh(&l.id);
                }
                (OnCheck::Resolve, Some(l), _)
                    if self.journal.claim(
                        &l.id,
                        Status::Open,
                        Status::Resolved,
                        "check",
                        checked,
                        None,
                    )? =>
                {
                    tracing::info!(incident.id = %l.id, account.id = %a.account_id, "incident resolved");
                    self.spawn_refresh(&l.id);
                }
                _ => {}
            }
        }
        Ok(report)
    }

    fn spawn_refresh(self: &Arc<Self>, id: &str) {
        let (bot, id) = (self.clone(), id.to_owned());
        self.tasks.spawn(async move {
            if let Err(e) = bot.refresh_message(&id, None).await {
                tracing::error!(incident.id = %id, error = %e, "message not updated");
            }
        });
    }

    /// Delivers a new alert in a task of its own (unless this process is delivering it already).
    /// `checked`: the end of the check, from which the grace period runs if the alert reaches
    /// nobody.
    fn spawn_delivery(self: &Arc<Self>, id: &str, checked: DateTime<Utc>, clock: StepClock) {
        let Some(mark) = Running::begin(&self.delivering, id) else {
            return;
        };
        let (bot, id) = (self.clone(), id.to_owned());
        self.tasks.spawn(async move {
            let _mark = mark;
            if let Err(e) = bot.deliver(&id, checked, clock).await {
                tracing::error!(incident.id = %id, error = %e, "alert not delivered");
            }
        });
    }

    /// Posts the alert to Slack and e-mails the notify list. The grace period runs from when the
    /// alert was first delivered (the Slack post, else the e-mail); if it reached nobody, from
    /// the end of the check: a guard that cannot reach people must still act.
    async fn deliver(
        &self,
        id: &str,
        checked: DateTime<Utc>,
        clock: StepClock,
    ) -> Result<(), JournalError> {
        let Some(row) = self.journal.get_incident(id)? else {
            return Ok(());
        };
        let Some(account) = row.account_id.as_deref().and_then(|a| self.account(a)) else {
            return Ok(());
        };
        let grace = account.policy.grace_period;
        let channel = account
            .slack_channel
            .as_ref()
            .or(self.config.slack.channel.as_ref());
        let slack_error = match (channel, &row.slack_ts) {
            (_, Some(_)) => None,
            (None, None) => Some("no Slack channel configured".to_owned()),
            (Some(channel), None) => match self.chat.post_incident(channel, &self.view(&row)).await
            {
                Ok(ts) => {
                    let delivered = clock.now();
                    self.journal.set_slack_message(id, channel, &ts)?;
                    if self.journal.set_deadline(id, after(delivered, grace))? {
                        tracing::info!(
                            incident.id = id,
                            "alert posted; the grace period runs from now"
                        );
                    }
                    // The post said "within the grace period"; now it can say until when.
                    self.refresh_message(id, None).await?;
                    None
                }
                Err(e) => {
                    self.metrics.slack_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(incident.id = %id, error = %e, "alert not posted to Slack");
                    Some(e.to_string())
                }
            },
        };
        let Some(row) = self.journal.get_incident(id)? else {
            return Ok(());
        };
        let mut view = self.view(&row);
        // Not delivered yet: the e-mail is the first delivery, and says the deadline it sets.
        let provisional = after(clock.now(), grace);
        view.deadline = view.deadline.or(Some(provisional));
        let mailed = self.email(account, &view, slack_error.as_deref()).await;
        if row.deadline.is_none() {
            let deadline = if mailed {
                provisional
            } else {
                tracing::error!(
                    incident.id = id,
                    "the alert reached nobody: the grace period runs from the end of the check"
                );
                after(checked, grace)
            };
            self.journal.set_deadline(id, deadline)?;
        }
        Ok(())
    }

    // ----- the deadline step ------------------------------------------------------------

    /// Starts the actions of every open incident whose deadline has passed, and lapses every
    /// `/runaway halt` left unconfirmed past its own. Returns their ids. The actions run in
    /// tasks of their own: one incident's halt never holds up another's deadline.
    pub async fn deadline_step(
        self: &Arc<Self>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, JournalError> {
        let clock = StepClock::new(now);
        let mut fired = Vec::new();
        for row in self.journal.incidents_in(&[
            Status::Open,
            Status::AwaitingConfirmation,
            Status::Approved,
            Status::Expired,
        ])? {
            // Decided but never finished: a process died in the middle of the actions. Finish
            // them: a new survey skips what is already stopped, a new IAM read what is already
            // locked out, so nothing done is done again.
            if matches!(row.status, Status::Approved | Status::Expired) {
                if let Some(running) = self.begin(&row.id) {
                    tracing::warn!(incident.id = %row.id, "resuming actions cut short");
                    self.journal.set_acting(&row.id)?;
                    self.spawn_execute(&row.id, running, clock);
                    fired.push(row.id);
                }
                continue;
            }
            // An alert never delivered: its process died before it could be. Deliver it now.
            if row.status == Status::Open && row.deadline.is_none() {
                self.spawn_delivery(&row.id, row.opened_at, clock);
                continue;
            }
            if !incident::is_due(row.status, row.deadline, now) {
                continue;
            }
            if row.status == Status::AwaitingConfirmation {
                if self.journal.claim(
                    &row.id,
                    Status::AwaitingConfirmation,
                    Status::Unconfirmed,
                    "deadline",
                    now,
                    None,
                )? {
                    tracing::info!(incident.id = %row.id, "halt not confirmed in time: lapsed");
                    self.spawn_lapse_note(&row.id, row.response_url.clone());
                    fired.push(row.id);
                }
                continue;
            }
            let Some(running) = self.begin(&row.id) else {
                continue;
            };
            if self.journal.claim(
                &row.id,
                Status::Open,
                Status::Expired,
                "deadline",
                now,
                None,
            )? {
                tracing::info!(incident.id = %row.id, "deadline passed, running the actions");
                self.spawn_execute(&row.id, running, clock);
                fired.push(row.id);
            }
        }
        Ok(fired)
    }

    fn spawn_execute(self: &Arc<Self>, id: &str, running: Running, clock: StepClock) {
        let (bot, id) = (self.clone(), id.to_owned());
        self.tasks.spawn(async move {
            let _running = running;
            if let Err(e) = bot.execute(&id, None, clock).await {
                tracing::error!(incident.id = %id, error = %e, "actions not journaled");
            }
        });
    }

    /// Says in Slack that a `/runaway halt` lapsed: its message loses its button.
    fn spawn_lapse_note(self: &Arc<Self>, id: &str, response_url: Option<String>) {
        let (bot, id) = (self.clone(), id.to_owned());
        self.tasks.spawn(async move {
            if let Err(e) = bot.refresh_message(&id, response_url.as_deref()).await {
                tracing::error!(incident.id = %id, error = %e, "lapse not said");
            }
        });
    }

    // ----- presses and commands ---------------------------------------------------------

    /// A button press by `user` on `incident`. `response_url` answers the presser.
    pub async fn press(
        &self,
        press: Press,
        incident: &str,
        user: &str,
        response_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, JournalError> {
        let action = format!("{press:?}").to_lowercase();
        if !self.is_approver(user) {
            let text = self.refuse(user, &action, Some(incident), now)?;
            self.tell(response_url, text).await;
            return Ok(Outcome::Refused);
        }
        let Some(row) = self.journal.get_incident(incident)? else {
            self.journal.record_press(
                Some(incident),
                user,
                &action,
                true,
                "unknown incident",
                now,
            )?;
            self.tell(response_url, &format!("There is no incident `{incident}`."))
                .await;
            return Ok(Outcome::Unknown);
        };
        let (from, to) = press.transition();
        let snooze = match to {
            Status::Overridden => row
                .account_id
                .as_deref()
                .and_then(|id| self.account(id))
                .map(|a| after(now, a.policy.snooze)),
            _ => None,
        };
        // Registered as running here before the claim, so the deadline step never takes a
        // just-approved incident for one cut short by a crash.
        let running = self.begin(incident);
        if running.is_none() || !self.journal.claim(incident, from, to, user, now, snooze)? {
            let current = self
                .journal
                .get_incident(incident)?
                .map_or(row.status, |r| r.status);
            self.journal.record_press(
                Some(incident),
                user,
                &action,
                true,
                &format!("already {}", current.as_str()),
                now,
            )?;
            self.tell(
                response_url,
                &format!(
                    "Incident `{incident}` is already {}: nothing more to do.",
                    current.as_str()
                ),
            )
            .await;
            return Ok(Outcome::AlreadyDecided(current));
        }
        self.journal
            .record_press(Some(incident), user, &action, true, to.as_str(), now)?;
        tracing::info!(
            incident.id = incident,
            user,
            status = to.as_str(),
            "incident decided"
        );
        match to {
            Status::Approved => {
                self.execute(incident, response_url, StepClock::new(now))
                    .await?
            }
            _ => self.refresh_message(incident, response_url).await?,
        }
        Ok(Outcome::Decided(to))
    }

    /// `/runaway halt [ACCOUNT]`: opens a halt waiting for its confirmation button, and returns
    /// the view of the confirmation message (or why not).
    pub fn request_halt(
        &self,
        user: &str,
        account: Option<&str>,
        response_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Result<IncidentView, String>, JournalError> {
        if !self.is_approver(user) {
            return Ok(Err(self.refuse(user, "halt", None, now)?.to_owned()));
        }
        let ids: Vec<String> = account.into_iter().map(str::to_owned).collect();
        let accounts = match self.config.select_accounts(&ids) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let ids: Vec<String> = accounts.iter().map(|a| a.id.to_string()).collect();
        // It lapses, button and all, after the grace period (of the shortest among the
        // accounts), and at most when Slack's response_url stops working.
        let wait = accounts
            .iter()
            .map(|a| a.policy.grace_period)
            .min()
            .unwrap_or(self.config.guard.defaults.grace_period)
            .min(MAX_CONFIRMATION_WAIT);
        let id = self
            .journal
            .open_manual(&ids, user, after(now, wait), response_url, now)?;
        self.journal
            .record_press(Some(&id), user, "halt", true, "awaiting confirmation", now)?;
        let row = self.journal.get_incident(&id)?.expect("just written");
        Ok(Ok(self.view(&row)))
    }

    /// Journals and counts a refused command by someone not among the approvers; returns what
    /// to tell them.
    pub fn refuse(
        &self,
        user: &str,
        action: &str,
        incident: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<&'static str, JournalError> {
        self.metrics.refused_presses.fetch_add(1, Ordering::Relaxed);
        self.journal.record_press(
            incident,
            user,
            action,
            false,
            "refused: not an approver",
            now,
        )?;
        tracing::warn!(incident.id = ?incident, user, action, "refused: not an approver");
        Ok(
            "Only the guard's approvers can halt, restore, approve or override. Nothing was changed.",
        )
    }

    /// `/runaway restore INCIDENT [--start-instances]`, by `user`: answers through
    /// `response_url` with what was restored.
    pub async fn restore(
        &self,
        user: &str,
        incident: &str,
        start_instances: bool,
        response_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, JournalError> {
        if !self.is_approver(user) {
            let text = self.refuse(user, "restore", Some(incident), now)?;
            self.tell(response_url, text).await;
            return Ok(Outcome::Refused);
        }
        self.journal
            .record_press(Some(incident), user, "restore", true, "restoring", now)?;
        let started = Instant::now();
        match crate::app::restore::run(
            self.cloud.as_ref(),
            &self.config,
            &self.journal,
            incident,
            start_instances,
            crate::app::restore::MAX_WAIT,
            &|| after(now, started.elapsed()),
        )
        .await
        {
            Ok(report) => {
                tracing::info!(
                    incident.id = incident,
                    user,
                    restored = report.restored.len(),
                    "restored"
                );
                self.tell(response_url, &crate::text::terminal::restore(&report))
                    .await;
                Ok(Outcome::Decided(Status::Executed))
            }
            Err(crate::app::restore::RestoreError::UnknownIncident(_)) => {
                self.tell(response_url, &format!("There is no incident `{incident}`."))
                    .await;
                Ok(Outcome::Unknown)
            }
            Err(e @ crate::app::restore::RestoreError::StillRunning { .. }) => {
                self.tell(response_url, &e.to_string()).await;
                Ok(Outcome::AlreadyDecided(Status::Executing))
            }
            Err(crate::app::restore::RestoreError::Journal { error, .. }) => Err(error),
        }
    }

    async fn tell(&self, response_url: Option<&str>, text: &str) {
        if let Some(url) = response_url
            && let Err(e) = self
                .chat
                .respond(url, &Reply::Ephemeral(text.to_owned()))
                .await
        {
            self.metrics.slack_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "answer not delivered");
        }
    }

    // ----- acting -----------------------------------------------------------------------

    /// Runs a decided incident's actions, journals the result, updates the message and
    /// e-mails the notify list.
    async fn execute(
        &self,
        id: &str,
        response_url: Option<&str>,
        clock: StepClock,
    ) -> Result<(), JournalError> {
        let row = self
            .journal
            .get_incident(id)?
            .expect("a claimed incident exists");
        self.refresh_message(id, response_url).await?;
        let ids: Vec<String> = match &row.account_id {
            Some(a) => vec![a.clone()],
            None => row.accounts.clone(),
        };
        let accounts: Vec<&Account> = ids.iter().filter_map(|i| self.account(i)).collect();
        let stops = row.kind == "manual"
            || accounts
                .iter()
                .any(|a| a.actions.contains(&Action::StopInstances));
        let report = if stops {
            let plan = halt::plan(
                self.cloud.as_ref(),
                &accounts,
                self.config.guard.max_concurrency,
                self.own_instance.as_deref(),
            )
            .await;
            Some(
                halt::execute(
                    plan,
                    Some((&self.journal, id)),
                    self.config.guard.max_concurrency,
                    &|| clock.now(),
                )
                .await,
            )
        } else {
            None
        };
        // The lockout actions (not for a /runaway halt, which only stops instances).
        let which: Vec<(&Account, lockout::Which)> = accounts
            .iter()
            .map(|a| (*a, lockout::Which::from_actions(&a.actions)))
            .filter(|(_, w)| row.kind != "manual" && w.any())
            .collect();
        let locked = if which.is_empty() {
            None
        } else {
            Some(
                lockout::run(
                    self.cloud.as_ref(),
                    &which,
                    Some((&self.journal, id)),
                    self.config.guard.max_concurrency,
                    &|| clock.now(),
                )
                .await,
            )
        };
        let complete = report.as_ref().is_none_or(|r| r.complete())
            && locked.as_ref().is_none_or(|l| l.complete());
        let status = if complete {
            Status::Executed
        } else {
            Status::Partial
        };
        let result = serde_json::json!({ "halt": report, "lockout": locked });
        let now = clock.now();
        let snooze = accounts.first().map(|a| after(now, a.policy.snooze));
        self.journal
            .finish_incident(id, status, &result, snooze, now)?;
        self.metrics
            .incidents_executed
            .fetch_add(1, Ordering::Relaxed);
        if let Some(r) = &report {
            self.metrics
                .instances_stopped
                .fetch_add(r.stopped() as u64, Ordering::Relaxed);
        }
        tracing::info!(
            incident.id = id,
            status = status.as_str(),
            "incident executed"
        );
        self.refresh_message(id, response_url).await?;
        let row = self.journal.get_incident(id)?.expect("exists");
        let view = self.view(&row);
        for account in &accounts {
            self.email(account, &view, None).await;
        }
        Ok(())
    }

    /// Rewrites the incident's Slack message (or answers through `response_url` for a halt
    /// asked for with a slash command) to show its current state.
    async fn refresh_message(
        &self,
        id: &str,
        response_url: Option<&str>,
    ) -> Result<(), JournalError> {
        let Some(row) = self.journal.get_incident(id)? else {
            return Ok(());
        };
        let view = self.view(&row);
        let result = match (&row.slack_channel, &row.slack_ts, response_url) {
            (Some(channel), Some(ts), _) => self.chat.update_incident(channel, ts, &view).await,
            (_, _, Some(url)) => {
                self.chat
                    .respond(url, &Reply::Incident(Box::new(view)))
                    .await
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            self.metrics.slack_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(incident.id = id, error = %e, "message not updated");
        }
        Ok(())
    }

    /// E-mails the account's notify list; whether it was published. When Slack failed, says
    /// so: nobody is left uninformed.
    async fn email(
        &self,
        account: &Account,
        view: &IncidentView,
        slack_error: Option<&str>,
    ) -> bool {
        let Some(topic) = account.sns_topic_arn.as_ref().or(self
            .config
            .notify
            .sns_topic_arn
            .as_ref())
        else {
            return false;
        };
        let (subject, mut body) = crate::text::email::email(view);
        if let Some(e) = slack_error {
            body = format!(
                "The Slack alert could not be posted ({e}). Override from the command line is not possible; stop the guard to prevent the actions.\n\n{body}"
            );
        }
        match self.notifier.publish(topic, &subject, &body).await {
            Ok(()) => true,
            Err(e) => {
                self.metrics.sns_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(incident.id = %view.id, error = %e, "notify e-mail not published");
                false
            }
        }
    }

    /// The view of an incident for messages.
    pub fn view(&self, row: &IncidentRow) -> IncidentView {
        let ids: Vec<String> = match &row.account_id {
            Some(a) => vec![a.clone()],
            None => row.accounts.clone(),
        };
        let accounts: Vec<&Account> = ids.iter().filter_map(|i| self.account(i)).collect();
        let actions: Vec<Action> = match row.kind.as_str() {
            "manual" => vec![Action::StopInstances],
            _ => accounts
                .first()
                .map(|a| a.actions.clone())
                .unwrap_or_default(),
        };
        let outcome = row
            .result
            .as_ref()
            .and_then(|r| serde_json::from_value::<halt::HaltReport>(r["halt"].clone()).ok())
            .map(|r| r.accounts);
        let lockout = row
            .result
            .as_ref()
            .and_then(|r| {
                serde_json::from_value::<lockout::LockoutReport>(r["lockout"].clone()).ok()
            })
            .map(|r| r.accounts);
        IncidentView {
            id: row.id.clone(),
            accounts: ids
                .iter()
                .map(|i| {
                    (
                        i.clone(),
                        self.account(i)
                            .map_or_else(|| i.clone(), |a| a.name.clone()),
                    )
                })
                .collect(),
            observed: row.observed.clone(),
            actions,
            deadline: row.deadline,
            grace_period: accounts
                .first()
                .map_or(self.config.guard.defaults.grace_period, |a| {
                    a.policy.grace_period
                }),
            status: row.status,
            decided_by: row.decided_by.clone(),
            decided_at: row.decided_at,
            exempt_tag: accounts.first().map_or_else(
                || self.config.guard.defaults.exempt_tag.clone(),
                |a| a.policy.exempt_tag.clone(),
            ),
            outcome,
            lockout,
        }
    }

    /// The text of `/runaway status` and `runaway status`.
    pub fn status_text(&self) -> Result<String, JournalError> {
        crate::app::status::text(&self.journal, &self.config)
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
