//! Batch: the job queues and managed compute environments of a region that are `ENABLED`, and
//! the jobs running in each queue (reported, never cancelled); disabling and enabling.

use std::collections::BTreeMap;

use aws_sdk_batch::types::{CeState, CeType, JobStatus, JqState};

use super::{AwsAccount, classify};
use crate::config::RegionName;
use crate::core::services::{Resource, Service, What};
use crate::ports::CloudError;

fn tags_of(tags: Option<&std::collections::HashMap<String, String>>) -> BTreeMap<String, String> {
    tags.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

pub(super) async fn resources(
    acc: &AwsAccount,
    region: &RegionName,
) -> Result<Vec<Resource>, CloudError> {
    let client = acc.batch(region);
    let mut out = Vec::new();
    let mut pages = client.describe_job_queues().into_paginator().send();
    let mut queues = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("batch:DescribeJobQueues", e))?;
        for q in page.job_queues() {
            let (Some(name), Some(arn)) = (q.job_queue_name(), q.job_queue_arn()) else {
                continue;
            };
            queues.push(name.to_owned());
            if q.state() == Some(&JqState::Enabled) {
                out.push(Resource {
                    service: Service::Batch,
                    arn: arn.to_owned(),
                    what: What::BatchQueue {
                        name: name.to_owned(),
                    },
                    tags: tags_of(q.tags()),
                });
            }
        }
    }
    let mut pages = client
        .describe_compute_environments()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("batch:DescribeComputeEnvironments", e))?;
        for c in page.compute_environments() {
            let (Some(name), Some(arn)) =
                (c.compute_environment_name(), c.compute_environment_arn())
            else {
                continue;
            };
            if c.state() == Some(&CeState::Enabled) && c.r#type() == Some(&CeType::Managed) {
                out.push(Resource {
                    service: Service::Batch,
                    arn: arn.to_owned(),
                    what: What::BatchEnvironment {
                        name: name.to_owned(),
                    },
                    tags: tags_of(c.tags()),
                });
            }
        }
    }
    for queue in queues {
        let mut pages = client
            .list_jobs()
            .job_queue(&queue)
            .job_status(JobStatus::Running)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("batch:ListJobs", e))?;
            for j in page.job_summary_list() {
                let Some(id) = j.job_id() else { continue };
                out.push(Resource {
                    service: Service::Batch,
                    arn: j.job_arn().unwrap_or(id).to_owned(),
                    what: What::BatchJob {
                        queue: queue.clone(),
                        id: id.to_owned(),
                    },
                    tags: BTreeMap::new(),
                });
            }
        }
    }
    Ok(out)
}

pub(super) async fn set_queue(
    acc: &AwsAccount,
    region: &RegionName,
    name: &str,
    enabled: bool,
) -> Result<(), CloudError> {
    acc.batch(region)
        .update_job_queue()
        .job_queue(name)
        .state(if enabled {
            JqState::Enabled
        } else {
            JqState::Disabled
        })
        .send()
        .await
        .map_err(|e| classify("batch:UpdateJobQueue", e))?;
    Ok(())
}

pub(super) async fn set_environment(
    acc: &AwsAccount,
    region: &RegionName,
    name: &str,
    enabled: bool,
) -> Result<(), CloudError> {
    acc.batch(region)
        .update_compute_environment()
        .compute_environment(name)
        .state(if enabled {
            CeState::Enabled
        } else {
            CeState::Disabled
        })
        .send()
        .await
        .map_err(|e| classify("batch:UpdateComputeEnvironment", e))?;
    Ok(())
}
