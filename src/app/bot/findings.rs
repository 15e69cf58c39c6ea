//! GuardDuty findings in the bot: a finding a `[[guardduty]]` rule takes opens an incident for
//! its resource (or updates the one already open for it), alerted like any other, and its
//! response — isolate or stop the instance — runs at the rule's deadline unless someone
//! overrides. A finding about an access key offers the lockout of that key's user.

use std::sync::Arc;

use super::{Bot, StepClock};
use crate::app::halt;
use crate::config::{Account, RegionName};
use crate::core::events::Outcome;
use crate::core::guardduty::{self, Finding, FindingIncident, Response};
use crate::core::incident::Status;
use crate::core::launchers::{Attribution, Launcher, Launchers, LaunchersState};
use crate::ports::journal::{IncidentRow, JournalError};

impl Bot {
    /// What a finding event of a watched account leads to: an incident (opened or updated), or
    /// kept with why no rule takes it.
    pub(super) fn on_finding(
        self: &Arc<Self>,
        account: &Account,
        detail: &serde_json::Value,
        clock: StepClock,
    ) -> Result<(Outcome, Option<String>), JournalError> {
        let finding = match guardduty::read(detail) {
            Ok(f) => f,
            Err(why) => return Ok((Outcome::Kept, Some(why))),
        };
        let rule = match guardduty::matching(&self.config.guardduty, &finding) {
            Ok(r) => r,
            Err(why) => return Ok((Outcome::Kept, Some(why))),
        };
        let now = clock.now();
        let grace = rule.grace_period.unwrap_or(account.policy.grace_period);
        let new = FindingIncident::new(finding, rule, grace, now);
        let launchers = key_user(account, &new.finding, now);
        self.open_or_update(account, new, launchers, clock)
    }

    /// One incident per resource of a finding or per tampering principal: a repeat updates the
    /// open one, unless it was closed as a false alarm whose snooze has ended; else a new one
    /// is opened (with who can be locked out, if known) and alerted.
    pub(super) fn open_or_update(
        self: &Arc<Self>,
        account: &Account,
        new: FindingIncident,
        launchers: Option<Launchers>,
        clock: StepClock,
    ) -> Result<(Outcome, Option<String>), JournalError> {
        let now = clock.now();
        let resource = new
            .tamper
            .as_ref()
            .map_or_else(|| new.finding.resource(), |t| t.resource());
        let latest = self
            .journal
            .latest_finding(account.id.as_str(), &resource)?;
        let same = latest.filter(|row| {
            !(row.status == Status::Overridden && row.snooze_until.is_none_or(|t| now >= t))
        });
        match same {
            Some(row) => {
                let mut kept = row.finding.clone().unwrap_or_else(|| new.clone());
                kept.seen_again(new);
                self.journal.update_finding(&row.id, &kept, now)?;
                tracing::info!(incident.id = %row.id, resource, findings = kept.findings, "{} incident updated", kept.kind());
                self.spawn_refresh(&row.id);
                Ok((Outcome::Incident, Some(format!("updated {}", row.id))))
            }
            None => {
                let id = self
                    .journal
                    .open_finding(account.id.as_str(), &resource, &new, now)?;
                if let Some(launchers) = launchers {
                    self.journal.set_launchers(&id, &launchers)?;
                }
                tracing::info!(incident.id = %id, resource, response = new.response.as_str(), "{} incident opened", new.kind());
                self.spawn_delivery(&id, now, clock, false);
                Ok((Outcome::Incident, Some(format!("opened {id}"))))
            }
        }
    }

    /// Carries out a decided finding incident: isolates or stops its instance. An instance that
    /// is gone (or exempt, or the guard's own) is reported, never acted on.
    pub(super) async fn execute_finding(
        &self,
        row: &IncidentRow,
        clock: StepClock,
    ) -> Result<(Status, serde_json::Value), JournalError> {
        let Some(f) = &row.finding else {
            return Ok((
                Status::Partial,
                serde_json::json!({"error": "the incident has no finding"}),
            ));
        };
        let account = row.account_id.as_deref().and_then(|a| self.account(a));
        if row.kind == "bedrock" {
            return self.bedrock_response(row, account.as_deref(), clock).await;
        }
        if f.response == Response::Lockout {
            return self.lockout_response(row, account.as_deref(), clock).await;
        }
        let (Some(account), Some(instance)) = (account, f.finding.instance_id.as_deref()) else {
            return Ok((
                Status::Executed,
                serde_json::json!({"note": "nothing to do: the finding is not about an instance of a configured account"}),
            ));
        };
        let Ok(region) = RegionName::parse(&f.finding.region) else {
            return Ok((
                Status::Partial,
                serde_json::json!({"error": format!("the finding's region {:?} is not a region", f.finding.region)}),
            ));
        };
        match f.response {
            Response::Alert | Response::Lockout => Ok((
                Status::Executed,
                serde_json::json!({"note": "an alert only"}),
            )),
            Response::Isolate => {
                self.isolate_instance(&account, region, instance, &row.id, clock)
                    .await
            }
            Response::Stop => {
                let accounts = [account.as_ref()];
                let mut plan = halt::plan(
                    self.cloud.as_ref(),
                    &accounts,
                    Some(&row.id),
                    self.config.guard.max_concurrency,
                    self.own(),
                )
                .await;
                let only = halt::Scope::Only([instance.to_owned()].into());
                halt::narrow(&mut plan, |_| only.clone()).await;
                let report = halt::execute(
                    plan,
                    Some((self.journal.as_ref(), &row.id)),
                    self.config.guard.max_concurrency,
                    &|| clock.now(),
                )
                .await;
                let stopped = report.stopped();
                let status = match (report.complete(), stopped) {
                    (true, 0) => Status::Resolved,
                    (true, _) => Status::Executed,
                    (false, _) => Status::Partial,
                };
                let mut result = serde_json::json!({ "halt": report });
                if stopped == 0 {
                    result["note"] =
                        format!("{instance} was not running (or is exempt): nothing stopped")
                            .into();
                }
                Ok((status, result))
            }
        }
    }
}

impl Bot {
    /// Locks out `launchers` of `account` under the incident `row`, journaled (a press or a
    /// deadline).
    pub(super) async fn lock_out(
        &self,
        row: &IncidentRow,
        account: &Account,
        launchers: &[crate::core::launchers::Launcher],
        clock: StepClock,
    ) -> Result<crate::app::lockout::AccountLockout, JournalError> {
        crate::app::lockout_launchers::run(
            self.cloud.as_ref(),
            account,
            launchers,
            &row.id,
            row.opened_at,
            Some(self.journal.as_ref()),
            &|| clock.now(),
        )
        .await
    }

    /// A finding's or tampering's `lockout` response: the incident's principal locked out as
    /// `lockout_launchers` does (never the guard, an exempt principal, root).
    async fn lockout_response(
        &self,
        row: &IncidentRow,
        account: Option<&Account>,
        clock: StepClock,
    ) -> Result<(Status, serde_json::Value), JournalError> {
        let launchers = row
            .launchers
            .as_ref()
            .map(|l| l.attribution.launchers.clone())
            .unwrap_or_default();
        let Some(account) = account.filter(|_| !launchers.is_empty()) else {
            return Ok((
                Status::Partial,
                serde_json::json!({"error": "no principal to lock out: the incident names none of a configured account"}),
            ));
        };
        let done = self.lock_out(row, account, &launchers, clock).await?;
        let status = if done.errors.is_empty() {
            Status::Executed
        } else {
            Status::Partial
        };
        let report = crate::app::lockout::LockoutReport {
            incident: Some(row.id.clone()),
            dry_run: false,
            accounts: vec![done],
        };
        Ok((status, serde_json::json!({ "lockout": report })))
    }
}

/// The IAM user whose access key a finding is about, as a launcher the lockout can act on.
fn key_user(
    account: &Account,
    f: &Finding,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Launchers> {
    let (key, user) = (f.access_key_id.as_ref()?, f.user_name.as_ref()?);
    if f.user_type.as_deref() != Some("IAMUser") {
        return None;
    }
    let arn = format!(
        "arn:{}:iam::{}:user/{user}",
        crate::config::partition_of(&f.region),
        account.id
    );
    let exempt = account
        .policy
        .exempt_principals
        .iter()
        .any(|p| p == user || *p == arn);
    Some(Launchers {
        state: LaunchersState::Known,
        source: "guardduty".into(),
        since: now,
        looked_at: now,
        attribution: Attribution {
            launchers: vec![Launcher {
                principal_arn: arn,
                kind: "IAMUser".into(),
                user_name: Some(user.clone()),
                role_arn: None,
                access_key_id: Some(key.clone()),
                source_ips: Vec::new(),
                user_agents: Vec::new(),
                instances: 0,
                instance_ids: Vec::new(),
                regions: Default::default(),
                exempt,
            }],
            ..Default::default()
        },
        unattributed: None,
        error: None,
    })
}
