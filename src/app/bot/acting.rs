//! Carrying a decided incident out: the halt and lockout actions, the message rewritten, the
//! notify list e-mailed; and the view of an incident that people are shown.

use std::sync::atomic::Ordering;

use super::{Bot, StepClock, after};
use crate::app::{halt, lockout};
use crate::config::{Account, Action};
use crate::core::incident::Status;
use crate::ports::journal::{IncidentRow, JournalError};
use crate::ports::{IncidentView, Reply};

impl Bot {
    // ----- acting -----------------------------------------------------------------------

    /// Runs a decided incident's actions, journals the result, updates the message and
    /// e-mails the notify list.
    pub(super) async fn execute(
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
        if matches!(
            row.kind.as_str(),
            "finding" | "tamper" | "bedrock" | "isolate"
        ) {
            let (status, result) = if row.kind != "isolate" {
                self.execute_finding(&row, clock).await?
            } else {
                self.execute_isolation(&row, clock).await?
            };
            let account = row.account_id.as_deref().and_then(|a| self.account(a));
            let accounts: Vec<&Account> = account.iter().map(|a| a.as_ref()).collect();
            return self
                .close_out(&row, status, &result, &accounts, response_url, clock.now())
                .await;
        }
        let ids: Vec<String> = match &row.account_id {
            Some(a) => vec![a.clone()],
            None => row.accounts.clone(),
        };
        let owned: Vec<std::borrow::Cow<'_, Account>> =
            ids.iter().filter_map(|i| self.account(i)).collect();
        let accounts: Vec<&Account> = owned.iter().map(|a| a.as_ref()).collect();
        let stops = row.kind == "manual"
            || accounts
                .iter()
                .any(|a| a.actions.contains(&Action::StopInstances));
        let report = if stops {
            let mut plan = halt::plan(
                self.cloud.as_ref(),
                &accounts,
                Some(id),
                self.config.guard.max_concurrency,
                self.own(),
            )
            .await;
            if row.kind != "manual" {
                let scopes = self.scopes(&row, &accounts)?;
                halt::narrow(&mut plan, |a| {
                    scopes
                        .iter()
                        .find(|(id, _)| id == a.id.as_str())
                        .map_or(halt::Scope::All, |(_, s)| s.clone())
                })
                .await;
            }
            Some(
                halt::execute(
                    plan,
                    Some((self.journal.as_ref(), id)),
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
                    Some((self.journal.as_ref(), id)),
                    self.config.guard.max_concurrency,
                    &|| clock.now(),
                )
                .await,
            )
        };
        // Only who launched the instances, once CloudTrail has named them.
        let mut locked = locked;
        if row.kind != "manual" {
            for a in accounts
                .iter()
                .filter(|a| a.actions.contains(&Action::LockoutLaunchers))
            {
                let account_lockout = match &row.launchers {
                    Some(found) if !found.attribution.launchers.is_empty() => {
                        crate::app::lockout_launchers::run(
                            self.cloud.as_ref(),
                            a,
                            &found.attribution.launchers,
                            id,
                            row.opened_at,
                            Some(self.journal.as_ref()),
                            &|| clock.now(),
                        )
                        .await?
                    }
                    _ => lockout::AccountLockout {
                        account_id: a.id.to_string(),
                        name: a.name.clone(),
                        changes: Vec::new(),
                        exempt: Vec::new(),
                        errors: vec![crate::core::model::Problem::account(
                            "lockout_launchers: who launched the instances is not known (no CloudTrail record yet): nobody was locked out",
                        )],
                        throttled: Default::default(),
                    },
                };
                locked
                    .get_or_insert_with(|| lockout::LockoutReport {
                        incident: Some(id.to_owned()),
                        dry_run: false,
                        accounts: Vec::new(),
                    })
                    .accounts
                    .push(account_lockout);
            }
        }
        if row.kind != "manual" {
            for a in accounts
                .iter()
                .filter(|a| a.actions.contains(&Action::RevokeSessions))
            {
                let revoked = crate::app::lockout_launchers::revoke_sessions(
                    self.cloud.as_ref(),
                    a,
                    id,
                    row.opened_at,
                    Some(self.journal.as_ref()),
                    &|| clock.now(),
                )
                .await?;
                locked
                    .get_or_insert_with(|| lockout::LockoutReport {
                        incident: Some(id.to_owned()),
                        dry_run: false,
                        accounts: Vec::new(),
                    })
                    .accounts
                    .push(revoked);
            }
        }
        let complete = report.as_ref().is_none_or(|r| r.complete())
            && locked.as_ref().is_none_or(|l| l.complete());
        let status = if complete {
            Status::Executed
        } else {
            Status::Partial
        };
        let result = serde_json::json!({ "halt": report, "lockout": locked });
        if let Some(r) = &report {
            self.metrics
                .instances_stopped
                .fetch_add(r.stopped() as u64, Ordering::Relaxed);
        }
        self.close_out(&row, status, &result, &accounts, response_url, clock.now())
            .await
    }

    /// The end of every incident carried out, whatever its kind: the result journaled (with
    /// the first account's snooze), counted, the message rewritten, and the notify list of each
    /// account e-mailed.
    async fn close_out(
        &self,
        row: &IncidentRow,
        status: Status,
        result: &serde_json::Value,
        accounts: &[&Account],
        response_url: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), JournalError> {
        let id = row.id.as_str();
        let snooze = accounts.first().map(|a| after(now, a.policy.snooze));
        self.journal
            .finish_incident(id, status, result, snooze, now)?;
        self.metrics
            .incidents_executed
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            incident.id = id,
            incident.kind = %row.kind,
            status = status.as_str(),
            "incident carried out"
        );
        self.refresh_message(id, response_url).await?;
        let row = self.journal.get_incident(id)?.expect("exists");
        let view = self.view(&row);
        for account in accounts {
            self.email(account, &view, None).await;
        }
        Ok(())
    }

    /// Rewrites the incident's Slack message (or answers through `response_url` for a halt
    /// asked for with a slash command) to show its current state.
    pub(super) async fn refresh_message(
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

    /// The account's notify topic: its own, else `[notify]`'s.
    pub(super) fn topic_of<'a>(&'a self, account: &'a Account) -> Option<&'a str> {
        account
            .sns_topic_arn
            .as_deref()
            .or(self.config.notify.sns_topic_arn.as_deref())
    }

    /// E-mails the account's notify list; whether it was published. When Slack failed, says
    /// so: nobody is left uninformed.
    pub(super) async fn email(
        &self,
        account: &Account,
        view: &IncidentView,
        slack_error: Option<&str>,
    ) -> bool {
        let Some(topic) = self.topic_of(account) else {
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
    /// Each account's `halt_scope` for this incident, as instances or a time.
    fn scopes(
        &self,
        row: &IncidentRow,
        accounts: &[&Account],
    ) -> Result<Vec<(String, halt::Scope)>, crate::ports::journal::JournalError> {
        let mut out = Vec::new();
        for a in accounts {
            let scope = match a.halt_scope {
                crate::config::HaltScope::All => halt::Scope::All,
                // Never seen ok by this guard: nothing running is known to be good.
                crate::config::HaltScope::New => match self.journal.last_ok_check(a.id.as_str())? {
                    Some(ok) => halt::Scope::LaunchedSince(ok.at),
                    None => halt::Scope::All,
                },
                // Only what non-exempt launchers started; none known, none stopped (the report
                // says so through the launchers' state in the alert).
                crate::config::HaltScope::Launchers => halt::Scope::Only(
                    row.launchers
                        .iter()
                        .flat_map(|f| &f.attribution.launchers)
                        .filter(|l| !l.exempt)
                        .flat_map(|l| l.instance_ids.iter().cloned())
                        .collect(),
                ),
            };
            out.push((a.id.to_string(), scope));
        }
        Ok(out)
    }

    /// The account's trend line over the 24 h before `at` (an alert's opening), from the
    /// journal's checks; `None` when no check saw it, or the journal could not say.
    fn trend(&self, account: &str, at: chrono::DateTime<chrono::Utc>) -> Option<String> {
        let since = at - chrono::Duration::hours(crate::core::trend::HOURS as i64);
        match self.journal.checks_since(since) {
            Ok(checks) => {
                crate::core::trend::line(&crate::core::trend::trend(&checks, account, at))
            }
            Err(e) => {
                tracing::warn!(error = %e, "the checks could not be read for the alert's trend");
                None
            }
        }
    }

    pub fn view(&self, row: &IncidentRow) -> IncidentView {
        let ids: Vec<String> = match &row.account_id {
            Some(a) => vec![a.clone()],
            None => row.accounts.clone(),
        };
        let owned: Vec<std::borrow::Cow<'_, Account>> =
            ids.iter().filter_map(|i| self.account(i)).collect();
        let accounts: Vec<&Account> = owned.iter().map(|a| a.as_ref()).collect();
        let actions: Vec<Action> = match row.kind.as_str() {
            "manual" => vec![Action::StopInstances],
            "finding" | "tamper" | "bedrock" | "isolate" => Vec::new(),
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
        let trend = match (&row.observed, ids.as_slice()) {
            (Some(_), [account]) => self.trend(account, row.opened_at),
            _ => None,
        };
        IncidentView {
            trend,
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
            launchers: row.launchers.clone(),
            finding: row.finding.clone(),
            target: row.target.clone(),
            isolation: row.result.as_ref().and_then(|r| {
                serde_json::from_value::<crate::core::isolation::IsolationReport>(
                    r["isolation"].clone(),
                )
                .ok()
            }),
            error: row
                .result
                .as_ref()
                .and_then(|r| r["error"].as_str().or(r["note"].as_str()))
                .map(str::to_owned),
            waiting: match row.status {
                Status::Open | Status::AwaitingConfirmation => {
                    self.waiting_approvers(&row.id, row.actor.strip_prefix("slack:"))
                }
                _ => Vec::new(),
            },
        }
    }

    /// The text of `/runaway status` and `runaway status`.
    pub fn status_text(&self, now: chrono::DateTime<chrono::Utc>) -> Result<String, JournalError> {
        crate::app::status::text(self.journal.as_ref(), &self.config, now)
    }
}
