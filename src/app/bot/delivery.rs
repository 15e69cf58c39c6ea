//! The check step: a check of every account, what it means for each account's incident, and
//! the delivery of new alerts (Slack, then e-mail), each in a task of its own.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::{Bot, Running, StepClock, after, left_at};
use crate::app::check::{self, CheckReport};
use crate::core::incident::{self, Observed, OnCheck, Status};
use crate::core::rules::State;
use crate::ports::journal::JournalError;

impl Bot {
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
        let watched = self.watched().await;
        let report = check::run_watched(
            self.cloud.as_ref(),
            &self.config,
            &watched,
            Some(self.journal.as_ref()),
            now,
        )
        .await;
        let ms = started.elapsed().as_millis() as u64;
        let ok_counts: Vec<(&str, &[String])> = report
            .accounts
            .iter()
            .filter(|a| a.state == State::Ok)
            .map(|a| (a.account_id.as_str(), a.counted.as_slice()))
            .collect();
        self.journal.record_check(
            report.checked_at,
            report.state.as_str(),
            ms,
            &serde_json::to_value(&report).unwrap_or_default(),
            &ok_counts,
        )?;
        self.metrics.checks.fetch_add(1, Ordering::Relaxed);
        self.metrics.last_check_ms.store(ms, Ordering::Relaxed);
        self.metrics
            .last_check_at
            .store(report.checked_at.timestamp(), Ordering::Relaxed);
        self.metrics.record_outcome(&report);
        tracing::info!(state = ?report.state, duration_ms = ms, "check done");
        // The dead-man's switch: the module's alarm fires when these stop. A heartbeat that
        // cannot be put is said, never fatal: its absence is the alarm.
        if let Err(e) = self.cloud.heartbeat(report.checked_at).await {
            tracing::warn!(error = %e, "heartbeat metric not put");
        }
        self.decide(&report, clock)?;
        // Databases AWS started again (after 7 days) while their incident keeps them stopped.
        let mut report = report;
        report.restopped = crate::app::restop::run(
            self.cloud.as_ref(),
            &self.config,
            self.journal.as_ref(),
            &|| clock.now(),
        )
        .await?;
        self.metrics
            .last_step_ms
            .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        Ok(report)
    }

    /// Checks one account because an event said something launched there, with the same
    /// consequences as the periodic check (which stays the source of truth: this check is not
    /// recorded as "the last check" of the organisation). `None` for an account not watched.
    pub async fn check_account(
        self: &Arc<Self>,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<CheckReport>, JournalError> {
        let Some(account) = self.account(account_id) else {
            return Ok(None);
        };
        let clock = StepClock::new(now);
        let started = Instant::now();
        let report = check::run(
            self.cloud.as_ref(),
            &self.config,
            &[&account],
            Some(self.journal.as_ref()),
            now,
        )
        .await;
        self.metrics.event_checks.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            account.id = account_id,
            state = ?report.state,
            duration_ms = started.elapsed().as_millis() as u64,
            "check of one account done (an event)"
        );
        self.decide(&report, clock)?;
        Ok(Some(report))
    }

    /// What a check means for each account's incident. Decisions are made one check at a time,
    /// and never from a check older than the one that last decided for the account: a periodic
    /// check that started before a launch must not resolve the alert an event-driven check
    /// opened after it.
    fn decide(
        self: &Arc<Self>,
        report: &CheckReport,
        clock: StepClock,
    ) -> Result<(), JournalError> {
        let mut decided = self.decided.lock().unwrap_or_else(|p| p.into_inner());
        let checked = clock.now();
        let mut open_alerts = None;
        for a in &report.accounts {
            let Some(account) = self.account(&a.account_id) else {
                continue;
            };
            if decided
                .get(&a.account_id)
                .is_some_and(|last| *last > report.checked_at)
            {
                tracing::debug!(account.id = %a.account_id, "a newer check has decided already");
                continue;
            }
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
                    spend_rate_usd_per_hour: a.spend_rate_usd_per_hour,
                    burn_rate_usd_per_hour: a.burn_rate_usd_per_hour,
                    top_instance_types: a.top_instance_types.clone(),
                    bedrock_burn_rate_usd_per_hour: a.bedrock_burn_rate_usd_per_hour,
                    bedrock_model_costs: a.bedrock_model_costs.clone(),
                }),
                State::Ok => None,
                // What could not be read decides nothing: no alert, and no all-clear.
                State::Error => continue,
            };
            decided.insert(a.account_id.clone(), report.checked_at);
            // An account found ok matters only if it has an open alert, which is then its latest
            // (an alert opens only when the latest is not open): one read of the open alerts
            // for all of them, not one per account (an organisation has hundreds).
            let latest = match &observed {
                None => {
                    if open_alerts.is_none() {
                        open_alerts = Some(self.open_alerts()?);
                    }
                    open_alerts
                        .as_ref()
                        .and_then(|open| open.get(&a.account_id))
                        .cloned()
                }
                Some(_) => self.journal.latest_alert(&a.account_id)?,
            };
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
                    self.spawn_delivery(&id, checked, clock, false);
                    self.spawn_launchers(&id, clock);
                }
                (OnCheck::Update, Some(l), Some(o)) => {
                    self.journal.update_observed(&l.id, &o, checked)?;
                    tracing::info!(incident.id = %l.id, account.id = %a.account_id, "incident updated");
                    self.spawn_refresh(&l.id);
                    self.spawn_launchers(&l.id, clock);
                }
                // Still failing as it was: look again for launchers CloudTrail has not
                // delivered yet.
                (OnCheck::Nothing, Some(l), Some(_))
                    if l.status == Status::Open
                        && l.launchers.as_ref().is_none_or(|f| {
                            f.state == crate::core::launchers::LaunchersState::NotKnownYet
                        }) =>
                {
                    self.spawn_launchers(&l.id, clock);
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
        Ok(())
    }

    /// The open alerts, by account.
    fn open_alerts(
        &self,
    ) -> Result<std::collections::HashMap<String, crate::ports::journal::IncidentRow>, JournalError>
    {
        Ok(self
            .journal
            .incidents_in(&[Status::Open])?
            .into_iter()
            .filter(|r| r.kind == "alert")
            .filter_map(|r| Some((r.account_id.clone()?, r)))
            .collect())
    }

    /// Looks up who launched the alert's instances in a task of its own, and rewrites the
    /// message when that changes what it says.
    pub(super) fn spawn_launchers(self: &Arc<Self>, id: &str, clock: StepClock) {
        let Some(mark) = Running::begin(&self.looking, id) else {
            return;
        };
        let (bot, id) = (self.clone(), id.to_owned());
        self.tasks.spawn(async move {
            let _mark = mark;
            if let Err(e) = bot.look_for_launchers(&id, clock).await {
                tracing::error!(incident.id = %id, error = %e, "launchers not looked up");
            }
        });
    }

    async fn look_for_launchers(&self, id: &str, clock: StepClock) -> Result<(), JournalError> {
        let Some(row) = self.journal.get_incident(id)? else {
            return Ok(());
        };
        let Some(account) = row.account_id.as_deref().and_then(|a| self.account(a)) else {
            return Ok(());
        };
        let running = row.observed.as_ref().map_or(0, |o| o.running_instances);
        let found = crate::app::launchers::find(
            self.cloud.as_ref(),
            self.journal.as_ref(),
            &self.config.accounts,
            &account,
            crate::app::launchers::Incident {
                id,
                opened_at: row.opened_at,
                running,
            },
            clock.now(),
        )
        .await?;
        let said = |l: &crate::core::launchers::Launchers| {
            (l.state, l.attribution.launchers.clone(), l.unattributed)
        };
        let changed = row.launchers.as_ref().map(said) != Some(said(&found));
        self.journal.set_launchers(id, &found)?;
        if changed {
            tracing::info!(incident.id = id, launchers = found.attribution.launchers.len(), state = ?found.state, "launchers looked up");
            // Read again: the alert may have been posted meanwhile. If it is not posted yet, the
            // post (made after this) says what was found.
            let now = self.journal.get_incident(id)?;
            if now.as_ref().is_some_and(|r| r.slack_ts.is_some()) {
                self.refresh_message(id, None).await?;
            }
            // Named for the first time: the notify list hears it too (its first e-mail went out
            // with the alert, before CloudTrail had said anything).
            let first_named = found.state == crate::core::launchers::LaunchersState::Known
                && row
                    .launchers
                    .as_ref()
                    .is_none_or(|l| l.state != crate::core::launchers::LaunchersState::Known);
            if let (true, Some(now)) = (first_named, now) {
                self.email(&account, &self.view(&now), None).await;
            }
        }
        Ok(())
    }

    /// Rewrites the incident's message from the journal in a task of its own. While one
    /// rewrite is in flight, later calls only ask for one more once it is done (it reads the
    /// journal afresh): a burst of repeated findings or Bedrock calls makes two Slack calls.
    pub(super) fn spawn_refresh(self: &Arc<Self>, id: &str) {
        if let Some(later) = self
            .deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            later.insert(id.to_owned());
            return;
        }
        {
            let mut g = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(again) = g.get_mut(id) {
                *again = true;
                return;
            }
            g.insert(id.to_owned(), false);
        }
        let (bot, id) = (self.clone(), id.to_owned());
        self.tasks.spawn(async move {
            loop {
                if let Err(e) = bot.refresh_message(&id, None).await {
                    tracing::error!(incident.id = %id, error = %e, "message not updated");
                }
                let mut g = bot.refreshing.lock().unwrap_or_else(|p| p.into_inner());
                match g.get_mut(&id) {
                    Some(again) if *again => *again = false,
                    _ => {
                        g.remove(&id);
                        break;
                    }
                }
            }
        });
    }

    /// Delivers a new alert in a task of its own (unless this process is delivering it already).
    /// `checked`: the end of the check, from which the grace period runs if the alert reaches
    /// nobody.
    /// `recovering`: the alert was opened by a process that died before delivering it.
    pub(super) fn spawn_delivery(
        self: &Arc<Self>,
        id: &str,
        checked: DateTime<Utc>,
        clock: StepClock,
        recovering: bool,
    ) {
        let Some(mark) = Running::begin(&self.delivering, id) else {
            return;
        };
        let (bot, id) = (self.clone(), id.to_owned());
        self.tasks.spawn(async move {
            let _mark = mark;
            if let Err(e) = bot.deliver(&id, checked, clock, recovering).await {
                tracing::error!(incident.id = %id, error = %e, "alert not delivered");
            }
        });
    }

    /// Posts the alert to Slack and e-mails the notify list. The grace period runs from when the
    /// alert was first delivered (the Slack post, else the e-mail); if it reached nobody, from
    /// the end of the check: a guard that cannot reach people must still act.
    pub(super) async fn deliver(
        &self,
        id: &str,
        checked: DateTime<Utc>,
        clock: StepClock,
        recovering: bool,
    ) -> Result<(), JournalError> {
        let Some(row) = self.journal.get_incident(id)? else {
            return Ok(());
        };
        let Some(account) = row.account_id.as_deref().and_then(|a| self.account(a)) else {
            return Ok(());
        };
        let grace = match &row.finding {
            Some(f) => std::time::Duration::from_secs(f.grace_seconds),
            None => account.policy.grace_period,
        };
        let channel = account
            .slack_channel
            .as_ref()
            .or(self.config.slack.channel.as_ref());
        // After a crash, the alert may have been posted without its ts journaled: look first.
        let found = match (channel, &row.slack_ts, recovering) {
            (Some(channel), None, true) => self
                .chat
                .find_incident(channel, id)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(incident.id = id, error = %e, "could not look for the alert");
                    None
                }),
            _ => None,
        };
        let slack_error = match (channel, &row.slack_ts) {
            (_, Some(_)) => None,
            (None, None) => Some("no Slack channel configured".to_owned()),
            (Some(channel), None) => {
                let posted = match found {
                    Some(ts) => Ok(ts),
                    None => self.chat.post_incident(channel, &self.view(&row)).await,
                };
                match posted {
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
                }
            }
        };
        let Some(row) = self.journal.get_incident(id)? else {
            return Ok(());
        };
        let mut view = self.view(&row);
        // Not delivered yet: the e-mail is the first delivery, and says the deadline it sets.
        let provisional = after(clock.now(), grace);
        view.deadline = view.deadline.or(Some(provisional));
        let mailed = self.email(&account, &view, slack_error.as_deref()).await;
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
}

/// While it lives, message rewrites asked for are gathered; when it is dropped (the receive
/// taken, or given up on an error), each gathered incident is rewritten once.
pub(super) struct RefreshBatch(Arc<Bot>);

impl RefreshBatch {
    pub(super) fn begin(bot: &Arc<Bot>) -> RefreshBatch {
        *bot.deferred.lock().unwrap_or_else(|p| p.into_inner()) = Some(Default::default());
        RefreshBatch(bot.clone())
    }
}

impl Drop for RefreshBatch {
    fn drop(&mut self) {
        let gathered = self
            .0
            .deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default();
        for id in gathered {
            self.0.spawn_refresh(&id);
        }
    }
}
