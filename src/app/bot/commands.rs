//! Button presses and slash commands: approvers only, every one journaled, every decision a
//! conditional update of the incident.

use std::sync::atomic::Ordering;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::{Bot, StepClock, after};
use super::{MAX_CONFIRMATION_WAIT, Outcome};
use crate::core::incident::{Press, Status};
use crate::ports::journal::JournalError;
use crate::ports::{IncidentView, Reply};

impl Bot {
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
        let action = press.name();
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
        let Some((from, to)) = press.transition() else {
            return self
                .lockout_launchers_press(&row, user, &action, response_url, now)
                .await;
        };
        // A confirmation confirms only what it was asked for.
        let mismatched = match press {
            Press::ConfirmHalt => row.kind != "manual",
            Press::ConfirmIsolate => row.kind != "isolate",
            _ => false,
        };
        if mismatched {
            self.journal.record_press(
                Some(incident),
                user,
                &action,
                true,
                "not this incident's button",
                now,
            )?;
            self.tell(
                response_url,
                &format!(
                    "That button does not belong to incident `{incident}`: nothing was changed."
                ),
            )
            .await;
            return Ok(Outcome::AlreadyDecided(row.status));
        }
        if press == Press::Isolate {
            match &row.finding {
                Some(f) if f.finding.instance_id.is_some() && row.status == Status::Open => {
                    let mut f = f.clone();
                    f.response = crate::core::guardduty::Response::Isolate;
                    self.journal.update_finding(incident, &f, now)?;
                }
                Some(f) if f.finding.instance_id.is_some() => {}
                _ => {
                    self.journal.record_press(
                        Some(incident),
                        user,
                        &action,
                        true,
                        "no instance",
                        now,
                    )?;
                    self.tell(response_url, &format!("Incident `{incident}` is not a GuardDuty finding about an instance: nothing to isolate.")).await;
                    return Ok(Outcome::AlreadyDecided(row.status));
                }
            }
        }
        // The two-person rule: what acts waits for a second, different approver. Asked of an
        // incident already decided, it falls through to say so.
        if to == Status::Approved && row.status == from {
            let requester = press
                .confirms_a_request()
                .then(|| row.actor.strip_prefix("slack:"))
                .flatten();
            if !self
                .approved_by_enough(incident, &action, user, requester, response_url, now)
                .await?
            {
                return Ok(Outcome::Waiting);
            }
        }
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
            // Replicas: only the leader carries approved actions out (its deadline step takes
            // an approved incident up within a second), so that a halt approved here never
            // runs beside the leader's, and only the leader's fenced writes journal it.
            Status::Approved if self.lease.shared && !self.lease.leads(now) => {
                drop(running);
                self.refresh_message(incident, response_url).await?;
            }
            Status::Approved => {
                self.execute(incident, response_url, StepClock::new(now))
                    .await?
            }
            _ => self.refresh_message(incident, response_url).await?,
        }
        Ok(Outcome::Decided(to))
    }

    /// **Lock out launchers**: the principals the alert names, locked out under the incident
    /// (so that `restore` undoes it with the rest). The incident itself is not decided.
    async fn lockout_launchers_press(
        &self,
        row: &crate::ports::journal::IncidentRow,
        user: &str,
        action: &str,
        response_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Outcome, JournalError> {
        let account = row.account_id.as_deref().and_then(|a| self.account(a));
        let launchers = row
            .launchers
            .as_ref()
            .map(|f| f.attribution.launchers.clone())
            .unwrap_or_default();
        let Some(account) = account.filter(|_| !launchers.is_empty()) else {
            self.journal.record_press(
                Some(&row.id),
                user,
                action,
                true,
                "launchers not known",
                now,
            )?;
            self.tell(
                response_url,
                &format!("Who launched incident `{}`'s instances is not known yet: nobody was locked out.", row.id),
            )
            .await;
            return Ok(Outcome::AlreadyDecided(row.status));
        };
        if !self
            .approved_by_enough(&row.id, action, user, None, response_url, now)
            .await?
        {
            return Ok(Outcome::Waiting);
        }
        let clock = StepClock::new(now);
        let done = self.lock_out(row, &account, &launchers, clock).await?;
        let outcome = format!(
            "locked out: {} changes, {} errors",
            done.changes.len(),
            done.errors.len()
        );
        self.journal
            .record_press(Some(&row.id), user, action, true, &outcome, now)?;
        tracing::info!(incident.id = %row.id, user, changes = done.changes.len(), "launchers locked out");
        let report = crate::app::lockout::LockoutReport {
            incident: Some(row.id.clone()),
            dry_run: false,
            accounts: vec![done],
        };
        self.tell(response_url, &crate::text::terminal::lockout(&report))
            .await;
        Ok(Outcome::Decided(row.status))
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
        if self.journal.get_incident(incident)?.is_none() {
            self.tell(response_url, &format!("There is no incident `{incident}`."))
                .await;
            return Ok(Outcome::Unknown);
        }
        if !self
            .approved_by_enough(incident, "restore", user, None, response_url, now)
            .await?
        {
            return Ok(Outcome::Waiting);
        }
        self.journal
            .record_press(Some(incident), user, "restore", true, "restoring", now)?;
        let started = Instant::now();
        match crate::app::restore::run(
            self.cloud.as_ref(),
            &self.config,
            self.journal.as_ref(),
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

    pub(super) async fn tell(&self, response_url: Option<&str>, text: &str) {
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
}
