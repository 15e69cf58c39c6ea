//! `runaway isolate`: cuts a compromised instance off and preserves it for investigation, in
//! the playbook's order. The instance is captured into the journal first; every step is then
//! journaled before and after its calls, so that `restore INCIDENT` undoes them (all but the
//! snapshots, which are evidence). A step that fails is reported and the next ones still run:
//! half an isolation is better than none. A dry run reads the instance and says what would be
//! done, changing nothing. With `--forensics`, the playbook's last step (`forensics.rs`).

mod forensics;
mod network;

use serde_json::json;

use crate::app::journaled;
use crate::config::{Account, RegionName};
use crate::core::change::{ChangeKind, QUARANTINE_TAG, TICKET_TAG};
use crate::core::isolation::{self, IsolationReport, Options, Step, StepStatus};
use crate::ports::journal::{Journal, JournalError, PlannedChange};
use crate::ports::{AccountCloud, Clock, Cloud, CloudError, InstanceCapture, Purpose};

#[derive(Debug, thiserror::Error)]
pub enum IsolateError {
    /// The guard will not isolate this instance (its own, exempt, gone); nothing changed.
    #[error("{0}: nothing changed")]
    Refused(String),
    /// The account or the instance could not be read; nothing changed.
    #[error("{0}: nothing changed")]
    Unreadable(CloudError),
    /// The journal failed; `changed` says whether anything had been changed in AWS by then.
    #[error("{error}")]
    Journal { error: JournalError, changed: bool },
}

/// The instance to isolate.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub account: &'a Account,
    pub region: RegionName,
    pub instance: String,
}

/// Isolates the instance under `incident` (journaled), or with `journal = None` says what it
/// would do.
pub async fn run(
    cloud: &dyn Cloud,
    target: &Target<'_>,
    options: &Options,
    own_instance: Option<&str>,
    journal: Option<(&dyn Journal, &str)>,
    clock: Clock<'_>,
) -> Result<IsolationReport, IsolateError> {
    let conn = cloud
        .connect(target.account, Purpose::Isolate, journal.map(|(_, i)| i))
        .await
        .map_err(IsolateError::Unreadable)?;
    let capture = conn
        .isolation()
        .capture(&target.region, &target.instance)
        .await
        .map_err(IsolateError::Unreadable)?;
    let policy = &target.account.policy;
    let exempt: std::collections::BTreeSet<String> = policy
        .exempt_instances
        .iter()
        .map(|i| i.as_str().to_owned())
        .collect();
    if let Some(why) = isolation::refusal(&capture, &policy.exempt_tag, &exempt, own_instance) {
        return Err(IsolateError::Refused(why));
    }
    let mut run = Isolating {
        conn: conn.as_ref(),
        target,
        capture: &capture,
        clock,
        journal,
        report: IsolationReport {
            incident: journal.map(|(_, i)| i.to_owned()),
            account_id: target.account.id.to_string(),
            region: target.region.to_string(),
            instance_id: capture.instance_id.clone(),
            dry_run: journal.is_none(),
            steps: Vec::new(),
            snapshots: Vec::new(),
            forensic_instance: None,
        },
        changed: false,
        isolation_group: None,
        ticket: options.ticket.clone(),
    };
    run.all(options)
        .await
        .map_err(|error| IsolateError::Journal {
            error,
            changed: run.changed,
        })?;
    tracing::info!(
        incident.id = ?run.report.incident,
        instance = %capture.instance_id,
        failed = run.report.failed(),
        "isolation done"
    );
    Ok(run.report)
}

struct Isolating<'a> {
    conn: &'a dyn AccountCloud,
    target: &'a Target<'a>,
    capture: &'a InstanceCapture,
    clock: Clock<'a>,
    journal: Option<(&'a dyn Journal, &'a str)>,
    report: IsolationReport,
    /// Whether a call that changes AWS has been made.
    changed: bool,
    /// The VPC's isolation group, once found or made.
    isolation_group: Option<String>,
    /// `--ticket`: tagged on what isolation creates (runaway:ticket).
    ticket: Option<String>,
}

impl Isolating<'_> {
    fn change(
        &self,
        action: ChangeKind,
        target: &str,
        detail: serde_json::Value,
        before: serde_json::Value,
    ) -> PlannedChange {
        PlannedChange {
            account_id: self.target.account.id.to_string(),
            region: self.target.region.to_string(),
            action,
            target: target.to_owned(),
            detail,
            before,
        }
    }

    /// Makes one journaled change (or, in a dry run, reports it planned); its result.
    async fn make<T: serde::Serialize + Clone>(
        &mut self,
        change: PlannedChange,
        act: impl AsyncFnOnce() -> Result<T, CloudError>,
    ) -> Result<Option<Result<T, CloudError>>, JournalError> {
        let Some((journal, incident)) = self.journal else {
            return Ok(None);
        };
        self.changed = true;
        journaled::make_returning(journal, incident, &change, self.clock, act)
            .await
            .map(Some)
    }

    /// Reports a step from what its change did.
    fn said<T>(&mut self, step: Step, result: Option<Result<T, CloudError>>, done: String) {
        match result {
            None => self.report.push(step, StepStatus::Planned, done),
            Some(Ok(_)) => self.report.push(step, StepStatus::Done, done),
            Some(Err(e)) => self
                .report
                .push(step, StepStatus::Failed, format!("{done}: {e}")),
        }
    }

    async fn all(&mut self, options: &Options) -> Result<(), JournalError> {
        let c = self.capture;
        let target = self.target;
        let region = &target.region;
        let id = c.instance_id.as_str();

        // 1. What it was, before anything changes.
        if let Some((journal, incident)) = self.journal {
            journal.record_capture(
                incident,
                self.target.account.id.as_str(),
                region.as_str(),
                c,
                (self.clock)(),
            )?;
        }
        let summary = format!(
            "{} {} in {}: {} interface(s), {} volume(s){}{}",
            c.state,
            c.instance_type,
            c.vpc_id.as_deref().unwrap_or("no VPC"),
            c.interfaces.len(),
            c.volumes.len(),
            c.auto_scaling_group
                .as_deref()
                .map(|g| format!(", group {g}"))
                .unwrap_or_default(),
            c.profile
                .as_ref()
                .map(|p| format!(", profile {}", p.profile_arn))
                .unwrap_or_default(),
        );
        let status = if self.journal.is_some() {
            StepStatus::Done
        } else {
            StepStatus::Planned
        };
        self.report.push(Step::Capture, status, summary);

        // 2. Termination protection, and shutdown from inside stops rather than terminates.
        match isolation::protection(c) {
            None => self.report.push(
                Step::TerminationProtection,
                StepStatus::Skipped,
                "already protected, shutdown behaviour stop",
            ),
            Some((detail, before)) => {
                let change = self.change(ChangeKind::ProtectInstance, id, detail, before);
                let iso = self.conn.isolation();
                let r = self
                    .make(change, async || {
                        iso.set_termination_protection(region, id, true).await?;
                        iso.set_shutdown_behavior(region, id, "stop").await
                    })
                    .await?;
                self.said(
                    Step::TerminationProtection,
                    r,
                    "termination protection on, shutdown behaviour stop".into(),
                );
            }
        }

        // 3. Out of its Auto Scaling group: neither replaced nor terminated by it.
        match &c.auto_scaling_group {
            None => self.report.push(
                Step::DetachAutoScaling,
                StepStatus::Skipped,
                "not in an Auto Scaling group",
            ),
            Some(group) => {
                let change = self.change(
                    ChangeKind::DetachFromGroup,
                    id,
                    json!({"group": group, "decrement_desired_capacity": true}),
                    json!({"group": group}),
                );
                let iso = self.conn.isolation();
                let r = self
                    .make(change, async || {
                        iso.set_group_membership(region, id, group, false).await
                    })
                    .await?;
                self.said(
                    Step::DetachAutoScaling,
                    r,
                    format!("detached from {group}, desired capacity decremented"),
                );
            }
        }

        // 4. No more credentials from the instance profile.
        match &c.profile {
            None => self.report.push(
                Step::DisassociateProfile,
                StepStatus::Skipped,
                "no instance profile",
            ),
            Some(p) => {
                let change = self.change(
                    ChangeKind::DisassociateProfile,
                    id,
                    json!({"association_id": p.association_id, "profile_arn": p.profile_arn}),
                    json!({"profile_arn": p.profile_arn}),
                );
                let iso = self.conn.isolation();
                let r = self
                    .make(change, async || {
                        iso.disassociate_profile(region, &p.association_id).await
                    })
                    .await?;
                self.said(
                    Step::DisassociateProfile,
                    r,
                    format!("{} disassociated", p.profile_arn),
                );
            }
        }

        // 5. The network: every interface into the isolation group, through the untracked one.
        self.network().await?;

        // 6. Evidence: a snapshot of every volume.
        if c.volumes.is_empty() {
            self.report
                .push(Step::Snapshot, StepStatus::Skipped, "no EBS volume");
        }
        for v in &c.volumes {
            let tags = self.tags(&[("runaway:instance", id), ("runaway:device", &v.device)]);
            let description = format!(
                "runawaytrain: {} of {id} ({})",
                v.device,
                self.incident_or_plan()
            );
            let change = self.change(
                ChangeKind::CreateSnapshot,
                &v.id,
                json!({"instance": id, "device": v.device}),
                json!({}),
            );
            let iso = self.conn.isolation();
            let r = self
                .make(change, async || {
                    iso.create_snapshot(region, &v.id, &description, &tags)
                        .await
                })
                .await?;
            let what = match &r {
                Some(Ok(snap)) => {
                    self.report.snapshots.push(snap.clone());
                    format!("{snap} of {} ({})", v.id, v.device)
                }
                _ => format!("snapshot of {} ({})", v.id, v.device),
            };
            self.said(Step::Snapshot, r, what);
        }

        // 7. Said on the instance itself: runaway:quarantine only, the one key the guard's policy
        // lets it write there (the ticket is tagged on the snapshots and groups it creates).
        let value = self.incident_or_plan();
        let change = self.change(
            ChangeKind::TagInstance,
            id,
            json!({"key": QUARANTINE_TAG, "value": value}),
            json!({}),
        );
        let conn = self.conn;
        let r = self
            .make(change, async || {
                conn.tag_instances(region, &[id.to_owned()], QUARANTINE_TAG, &value, true)
                    .await
            })
            .await?;
        self.said(Step::Tag, r, format!("{QUARANTINE_TAG}={value}"));

        // 8. Stopped only when asked: memory is evidence.
        if !options.stop {
            self.report.push(
                Step::Stop,
                StepStatus::Skipped,
                "kept running: memory is evidence (--stop to stop it)",
            );
        } else if !matches!(c.state.as_str(), "running" | "pending") {
            self.report.push(
                Step::Stop,
                StepStatus::Skipped,
                format!("already {}", c.state),
            );
        } else {
            let change = self.change(
                ChangeKind::StopInstance,
                id,
                json!({}),
                json!({"state": c.state}),
            );
            let conn = self.conn;
            let r = self
                .make(change, async || {
                    conn.stop_instances(region, &[id.to_owned()], false).await
                })
                .await?;
            self.said(Step::Stop, r, "stopped".into());
        }

        // 9. The responder's forensic instance, with the evidence attached.
        if options.forensics {
            self.forensics().await?;
        }
        Ok(())
    }

    fn incident_or_plan(&self) -> String {
        self.journal
            .map(|(_, i)| i.to_owned())
            .unwrap_or_else(|| "<incident>".into())
    }

    fn tags(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut tags = vec![("runaway:incident".to_owned(), self.incident_or_plan())];
        if let Some(t) = &self.ticket {
            tags.push((TICKET_TAG.to_owned(), t.clone()));
        }
        tags.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        tags
    }
}
