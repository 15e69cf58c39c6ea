//! Isolation from Slack: `/runaway isolate INSTANCE [ACCOUNT] [REGION]` asks for it (approvers
//! only), the confirmation button (`runaway_confirm_isolate`) carries it out; and the one way
//! the bot isolates an instance for an incident, for those and for GuardDuty findings.

use chrono::{DateTime, Utc};

use super::{Bot, StepClock, after};
use crate::app::isolate;
use crate::config::{Account, InstanceId, RegionName};
use crate::core::incident::Status;
use crate::core::isolation::{IsolationTarget, Options};
use crate::ports::IncidentView;
use crate::ports::journal::{IncidentRow, JournalError};

impl Bot {
    /// `/runaway isolate INSTANCE [ACCOUNT] [REGION]`: opens an isolation waiting for its
    /// confirmation button, and returns the view of the confirmation message (or why not).
    /// The account may be left out when only one is configured; the region defaults to
    /// `home_region`.
    pub fn request_isolate(
        &self,
        user: &str,
        words: &[&str],
        response_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Result<IncidentView, String>, JournalError> {
        if !self.is_approver(user) {
            return Ok(Err(self.refuse(user, "isolate", None, now)?.to_owned()));
        }
        const USAGE: &str = "Usage: `/runaway isolate INSTANCE [ACCOUNT] [REGION]`";
        let target = match words {
            [instance, rest @ ..] if rest.len() <= 2 => {
                let instance = match InstanceId::parse(instance) {
                    Ok(i) => i,
                    Err(e) => return Ok(Err(format!("{e}. {USAGE}"))),
                };
                let account = match rest.first() {
                    Some(a) => match self.config.select_accounts(&[(*a).to_owned()]) {
                        Ok(found) => found[0],
                        Err(e) => return Ok(Err(e)),
                    },
                    None if self.config.accounts.len() == 1 => &self.config.accounts[0],
                    None => {
                        return Ok(Err(format!(
                            "Name the instance's account: more than one is configured. {USAGE}"
                        )));
                    }
                };
                let region = match rest.get(1) {
                    Some(r) => match RegionName::parse(r) {
                        Ok(r) => r,
                        Err(e) => return Ok(Err(format!("{e}. {USAGE}"))),
                    },
                    None => self.config.guard.home_region.clone(),
                };
                IsolationTarget {
                    account_id: account.id.to_string(),
                    region: region.to_string(),
                    instance_id: instance.as_str().to_owned(),
                }
            }
            _ => return Ok(Err(USAGE.to_owned())),
        };
        let grace = self
            .account(&target.account_id)
            .map_or(self.config.guard.defaults.grace_period, |a| {
                a.policy.grace_period
            })
            .min(super::MAX_CONFIRMATION_WAIT);
        let id = self.journal.open_isolation_request(
            &target,
            user,
            after(now, grace),
            response_url,
            now,
        )?;
        self.journal.record_press(
            Some(&id),
            user,
            "isolate",
            true,
            "awaiting confirmation",
            now,
        )?;
        let row = self.journal.get_incident(&id)?.expect("just written");
        Ok(Ok(self.view(&row)))
    }

    /// Carries out a confirmed `/runaway isolate`.
    pub(super) async fn execute_isolation(
        &self,
        row: &IncidentRow,
        clock: StepClock,
    ) -> Result<(Status, serde_json::Value), JournalError> {
        let Some(t) = &row.target else {
            return Ok((
                Status::Partial,
                serde_json::json!({"error": "the incident names no instance"}),
            ));
        };
        let (Some(account), Ok(region)) =
            (self.account(&t.account_id), RegionName::parse(&t.region))
        else {
            return Ok((
                Status::Resolved,
                serde_json::json!({"error": format!("account {} is no longer in the configuration", t.account_id)}),
            ));
        };
        self.isolate_instance(&account, region, &t.instance_id, &row.id, clock)
            .await
    }

    /// Isolates `instance` under the incident `id`: the status to close it with and its result.
    /// Refused (gone, exempt, the guard's own) or unreadable: `resolved`, nothing changed.
    pub(super) async fn isolate_instance(
        &self,
        account: &Account,
        region: RegionName,
        instance: &str,
        id: &str,
        clock: StepClock,
    ) -> Result<(Status, serde_json::Value), JournalError> {
        let target = isolate::Target {
            account,
            region,
            instance: instance.to_owned(),
        };
        let result = isolate::run(
            self.cloud.as_ref(),
            &target,
            &Options::default(),
            self.own_instance.as_deref(),
            Some((self.journal.as_ref(), id)),
            &|| clock.now(),
        )
        .await;
        Ok(match result {
            Ok(report) => {
                let status = if report.failed() {
                    Status::Partial
                } else {
                    Status::Executed
                };
                (status, serde_json::json!({"isolation": report}))
            }
            Err(isolate::IsolateError::Journal { error, .. }) => return Err(error),
            Err(e) => (
                Status::Resolved,
                serde_json::json!({"error": e.to_string()}),
            ),
        })
    }
}
