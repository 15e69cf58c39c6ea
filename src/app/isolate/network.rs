//! Step 5, the network: the VPC's isolation groups found or made, every interface moved into
//! the isolation group through the untracked one.

use serde_json::json;

use super::Isolating;
use crate::core::change::ChangeKind;
use crate::core::isolation::{self, ISOLATION_GROUP, Step, StepStatus, UNTRACKED_GROUP};
use crate::ports::GroupRules;
use crate::ports::journal::JournalError;

impl Isolating<'_> {
    /// The VPC's group named `name`, found or (journaled) created with `rules`; `None` if it
    /// could not be had (said in the report), or in a dry run where it does not exist yet.
    pub(super) async fn group(
        &mut self,
        step: Step,
        vpc: &str,
        name: &str,
        rules: GroupRules,
    ) -> Result<Result<Option<String>, ()>, JournalError> {
        let target = self.target;
        let region = &target.region;
        let iso = self.conn.isolation();
        match iso.find_group(region, vpc, name).await {
            Ok(Some(g)) => return Ok(Ok(Some(g))),
            Ok(None) => {}
            Err(e) => {
                self.report.push(
                    step,
                    StepStatus::Failed,
                    format!("cannot look for {name} in {vpc}: {e}"),
                );
                return Ok(Err(()));
            }
        }
        let description = match rules {
            GroupRules::Nothing => "runawaytrain isolation: no inbound, no outbound",
            GroupRules::AllowAll => "runawaytrain isolation, first step: all traffic untracked",
            GroupRules::OutboundOnly => "runawaytrain forensics: admitted by the isolation group",
        };
        let tags = self.tags(&[]);
        let target = format!("{vpc}/{name}");
        let change = self.change(
            ChangeKind::CreateSecurityGroup,
            &target,
            json!({"vpc": vpc, "name": name}),
            json!({}),
        );
        match self
            .make(change, async || {
                iso.create_group(region, vpc, name, description, rules, &tags)
                    .await
            })
            .await?
        {
            None => {
                self.report
                    .push(step, StepStatus::Planned, format!("create {name} in {vpc}"));
                Ok(Ok(None))
            }
            Some(Ok(g)) => Ok(Ok(Some(g))),
            Some(Err(e)) => {
                self.report.push(
                    step,
                    StepStatus::Failed,
                    format!("cannot create {name} in {vpc}: {e}"),
                );
                Ok(Err(()))
            }
        }
    }

    pub(super) async fn network(&mut self) -> Result<(), JournalError> {
        let c = self.capture;
        let Some(vpc) = c.vpc_id.as_deref() else {
            self.report.push(
                Step::IsolationGroup,
                StepStatus::Failed,
                "not in a VPC: no security group can isolate it (stop it instead)",
            );
            return Ok(());
        };
        let Ok(isolation_group) = self
            .group(
                Step::IsolationGroup,
                vpc,
                ISOLATION_GROUP,
                GroupRules::Nothing,
            )
            .await?
        else {
            return Ok(());
        };
        self.isolation_group = isolation_group.clone();
        let moves = isolation::interfaces_to_move(c, isolation_group.as_deref());
        if moves.is_empty() {
            self.report.push(
                Step::IsolationGroup,
                StepStatus::Skipped,
                format!("every interface is in {ISOLATION_GROUP} already"),
            );
            return Ok(());
        }
        let Ok(untracked) = self
            .group(
                Step::IsolationGroup,
                vpc,
                UNTRACKED_GROUP,
                GroupRules::AllowAll,
            )
            .await?
        else {
            return Ok(());
        };
        let target = self.target;
        let region = &target.region;
        for (eni, before) in moves {
            let shown_group = isolation_group
                .clone()
                .unwrap_or_else(|| ISOLATION_GROUP.into());
            let what = format!(
                "{eni}: {} → {shown_group}, through {}",
                before.join(","),
                untracked.as_deref().unwrap_or(UNTRACKED_GROUP)
            );
            let (Some(to), Some(via)) = (isolation_group.clone(), untracked.clone()) else {
                self.report
                    .push(Step::IsolationGroup, StepStatus::Planned, what);
                continue;
            };
            let change = self.change(
                ChangeKind::SetInterfaceGroups,
                eni,
                json!({"groups": [to], "through": via}),
                json!({"groups": before}),
            );
            let iso = self.conn.isolation();
            let r = self
                .make(change, async || {
                    iso.set_interface_groups(region, eni, std::slice::from_ref(&via))
                        .await?;
                    iso.set_interface_groups(region, eni, std::slice::from_ref(&to))
                        .await
                })
                .await?;
            self.said(Step::IsolationGroup, r, what);
        }
        Ok(())
    }
}
