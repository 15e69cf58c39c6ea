//! The playbook's last step: a forensic instance launched in the configured subnet, in its own
//! group that the isolation group admits inbound, with a volume made from each snapshot
//! attached. Journaled like every step; `restore` keeps all of it (the responder decides).

use std::time::Duration;

use serde_json::json;

use super::Isolating;
use crate::core::change::ChangeKind;
use crate::core::isolation::{self, FORENSICS_GROUP, Step, StepStatus};
use crate::ports::journal::JournalError;
use crate::ports::{ForensicLaunch, GroupRules, Ready};

/// How long the snapshots may take to complete, and the instance and volumes to be ready.
const SNAPSHOTS_WAIT: Duration = Duration::from_secs(3600);
const READY_WAIT: Duration = Duration::from_secs(600);

impl Isolating<'_> {
    pub(super) async fn forensics(&mut self) -> Result<(), JournalError> {
        let target = self.target;
        let region = &target.region;
        let iso = self.conn.isolation();
        let Some(f) = target.account.policy.forensics.as_ref() else {
            self.report.push(
                Step::Forensics,
                StepStatus::Failed,
                "not configured: set forensics_subnet_id and forensics_ami",
            );
            return Ok(());
        };
        let id = self.capture.instance_id.clone();
        let volumes = self.capture.volumes.len();
        if self.journal.is_none() {
            self.report.push(
                Step::Forensics,
                StepStatus::Planned,
                format!(
                    "launch a {} from {} in {}, in {FORENSICS_GROUP} (admitted by the isolation group), with {volumes} volume(s) made from the snapshots",
                    f.instance_type, f.ami, f.subnet_id
                ),
            );
            return Ok(());
        }
        let fail = |me: &mut Self, what: String| {
            me.report.push(Step::Forensics, StepStatus::Failed, what);
        };
        if self.report.snapshots.len() != volumes || volumes == 0 {
            fail(
                self,
                "no forensic instance: not every volume was snapshotted".into(),
            );
            return Ok(());
        }
        let (vpc, zone) = match iso.subnet(region, &f.subnet_id).await {
            Ok(found) => found,
            Err(e) => {
                fail(self, format!("cannot read {}: {e}", f.subnet_id));
                return Ok(());
            }
        };
        let Ok(Some(group)) = self
            .group(
                Step::Forensics,
                &vpc,
                FORENSICS_GROUP,
                GroupRules::OutboundOnly,
            )
            .await?
        else {
            return Ok(());
        };
        // The isolation group admits the forensic one (group rules hold within one VPC).
        match (self.isolation_group.clone(), self.capture.vpc_id.as_deref()) {
            (Some(isolation), Some(v)) if v == vpc => {
                let change = self.change(ChangeKind::AdmitForensics, &isolation, json!({"from": group}), json!({}));
                let r = self.make(change, async || iso.admit(region, &isolation, &group).await).await?;
                self.said(Step::Forensics, r, format!("{isolation} admits {group} inbound"));
            }
            _ => self.report.push(
                Step::Forensics,
                StepStatus::Skipped,
                format!("{} is not in the isolated instance's VPC: the forensic instance reaches only its volumes", f.subnet_id),
            ),
        }
        let snapshots = self.report.snapshots.clone();
        if let Err(e) = iso
            .wait_ready(region, Ready::Snapshots, &snapshots, SNAPSHOTS_WAIT)
            .await
        {
            fail(self, format!("snapshots not completed: {e}"));
            return Ok(());
        }
        let tags = self.tags(&[("runaway:forensics-of", &id)]);
        let launch = ForensicLaunch {
            image_id: f.ami.clone(),
            instance_type: f.instance_type.clone(),
            subnet_id: f.subnet_id.clone(),
            group_id: group.clone(),
            tags: tags.clone(),
        };
        let change = self.change(
            ChangeKind::RunForensicInstance,
            &f.subnet_id,
            json!({"image": f.ami, "instance_type": f.instance_type, "group": group, "of": id}),
            json!({}),
        );
        let r = self
            .make(change, async || {
                iso.run_forensic_instance(region, &launch).await
            })
            .await?;
        let Some(Ok(forensic)) = r.clone() else {
            self.said(
                Step::Forensics,
                r,
                format!("launch a {} from {}", f.instance_type, f.ami),
            );
            return Ok(());
        };
        self.report.forensic_instance = Some(forensic.clone());
        self.said(
            Step::Forensics,
            r,
            format!("{forensic} launched from {} in {}", f.ami, f.subnet_id),
        );
        if let Err(e) = iso
            .wait_ready(
                region,
                Ready::Instance,
                std::slice::from_ref(&forensic),
                READY_WAIT,
            )
            .await
        {
            fail(self, format!("{forensic} not running: {e}"));
            return Ok(());
        }
        let devices = isolation::forensic_devices(snapshots.len());
        for (snapshot, device) in snapshots.iter().zip(devices) {
            let change = self.change(
                ChangeKind::CreateVolume,
                snapshot,
                json!({"zone": zone, "for": forensic}),
                json!({}),
            );
            let r = self
                .make(change, async || {
                    iso.create_volume(region, snapshot, &zone, &tags).await
                })
                .await?;
            let Some(Ok(volume)) = r.clone() else {
                self.said(Step::Forensics, r, format!("volume from {snapshot}"));
                continue;
            };
            self.said(Step::Forensics, r, format!("{volume} from {snapshot}"));
            if let Err(e) = iso
                .wait_ready(
                    region,
                    Ready::Volumes,
                    std::slice::from_ref(&volume),
                    READY_WAIT,
                )
                .await
            {
                fail(self, format!("{volume} not available: {e}"));
                continue;
            }
            let change = self.change(
                ChangeKind::AttachVolume,
                &volume,
                json!({"instance": forensic, "device": device}),
                json!({}),
            );
            let r = self
                .make(change, async || {
                    iso.attach_volume(region, &volume, &forensic, &device).await
                })
                .await?;
            self.said(
                Step::Forensics,
                r,
                format!("{volume} attached to {forensic} as {device}"),
            );
        }
        Ok(())
    }
}
