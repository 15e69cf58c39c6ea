//! Auto Scaling: which processes a group has suspended, suspending and resuming them.

use std::collections::BTreeMap;

use super::{AwsAccount, classify};
use crate::config::RegionName;
use crate::ports::CloudError;

pub(super) async fn suspended_processes(
    acc: &AwsAccount,
    region: &RegionName,
    groups: &[String],
) -> Result<BTreeMap<String, Vec<String>>, CloudError> {
    let client = acc.autoscaling(region);
    let mut out = BTreeMap::new();
    // DescribeAutoScalingGroups takes at most 100 names per call.
    for chunk in groups.chunks(100) {
        let mut pages = client
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names(Some(chunk.to_vec()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("autoscaling:DescribeAutoScalingGroups", e))?;
            for g in page.auto_scaling_groups() {
                let suspended = g
                    .suspended_processes()
                    .iter()
                    .filter_map(|p| p.process_name().map(str::to_owned))
                    .collect();
                out.insert(
                    g.auto_scaling_group_name().unwrap_or_default().to_owned(),
                    suspended,
                );
            }
        }
    }
    Ok(out)
}

pub(super) async fn suspend_processes(
    acc: &AwsAccount,
    region: &RegionName,
    group: &str,
    processes: &[String],
) -> Result<(), CloudError> {
    acc.autoscaling(region)
        .suspend_processes()
        .auto_scaling_group_name(group)
        .set_scaling_processes(Some(processes.to_vec()))
        .send()
        .await
        .map_err(|e| classify("autoscaling:SuspendProcesses", e))?;
    Ok(())
}

pub(super) async fn resume_processes(
    acc: &AwsAccount,
    region: &RegionName,
    group: &str,
    processes: &[String],
) -> Result<(), CloudError> {
    acc.autoscaling(region)
        .resume_processes()
        .auto_scaling_group_name(group)
        .set_scaling_processes(Some(processes.to_vec()))
        .send()
        .await
        .map_err(|e| classify("autoscaling:ResumeProcesses", e))?;
    Ok(())
}
