//! ECS: the services with a desired count above zero and the standalone tasks (started by
//! `RunTask`) of every cluster of a region; scaling a service, stopping a task.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{DesiredStatus, ServiceField, TaskField};

use super::{AwsAccount, classify};
use crate::config::RegionName;
use crate::core::services::{Resource, Service, What};
use crate::ports::CloudError;

fn tags_of(tags: &[aws_sdk_ecs::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// The last part of an ARN (`…/cluster/name` → `name`).
fn last(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

pub(super) async fn resources(
    acc: &AwsAccount,
    region: &RegionName,
    tags: bool,
) -> Result<Vec<Resource>, CloudError> {
    let client = acc.ecs(region);
    let mut clusters = Vec::new();
    let mut pages = client.list_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ecs:ListClusters", e))?;
        clusters.extend(page.cluster_arns().iter().cloned());
    }
    let mut out = Vec::new();
    for cluster in clusters {
        let mut services = Vec::new();
        let mut pages = client
            .list_services()
            .cluster(&cluster)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ecs:ListServices", e))?;
            services.extend(page.service_arns().iter().cloned());
        }
        // DescribeServices takes at most 10 services per call.
        for chunk in services.chunks(10) {
            let mut req = client
                .describe_services()
                .cluster(&cluster)
                .set_services(Some(chunk.to_vec()));
            if tags {
                req = req.include(ServiceField::Tags);
            }
            let described = req
                .send()
                .await
                .map_err(|e| classify("ecs:DescribeServices", e))?;
            for s in described.services() {
                if s.desired_count() <= 0 {
                    continue;
                }
                out.push(Resource {
                    service: Service::Ecs,
                    arn: s.service_arn().unwrap_or_default().to_owned(),
                    what: What::EcsService {
                        cluster: last(&cluster).to_owned(),
                        name: s.service_name().unwrap_or_default().to_owned(),
                        desired: s.desired_count(),
                        running: s.running_count(),
                    },
                    tags: tags_of(s.tags()),
                });
            }
        }
        let mut tasks = Vec::new();
        let mut pages = client
            .list_tasks()
            .cluster(&cluster)
            .desired_status(DesiredStatus::Running)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ecs:ListTasks", e))?;
            tasks.extend(page.task_arns().iter().cloned());
        }
        // DescribeTasks takes at most 100 tasks per call.
        for chunk in tasks.chunks(100) {
            let mut req = client
                .describe_tasks()
                .cluster(&cluster)
                .set_tasks(Some(chunk.to_vec()));
            if tags {
                req = req.include(TaskField::Tags);
            }
            let described = req
                .send()
                .await
                .map_err(|e| classify("ecs:DescribeTasks", e))?;
            for t in described.tasks() {
                // A service's tasks are halted through the service (its desired count).
                let of_service = t.group().is_some_and(|g| g.starts_with("service:"))
                    || t.started_by().is_some_and(|s| s.starts_with("ecs-svc/"));
                if of_service {
                    continue;
                }
                let arn = t.task_arn().unwrap_or_default().to_owned();
                out.push(Resource {
                    service: Service::Ecs,
                    what: What::EcsTask {
                        cluster: last(&cluster).to_owned(),
                        id: last(&arn).to_owned(),
                    },
                    arn,
                    tags: tags_of(t.tags()),
                });
            }
        }
    }
    Ok(out)
}

pub(super) async fn scale_service(
    acc: &AwsAccount,
    region: &RegionName,
    cluster: &str,
    service: &str,
    desired: i32,
) -> Result<(), CloudError> {
    acc.ecs(region)
        .update_service()
        .cluster(cluster)
        .service(service)
        .desired_count(desired)
        .send()
        .await
        .map_err(|e| classify("ecs:UpdateService", e))?;
    Ok(())
}

pub(super) async fn stop_task(
    acc: &AwsAccount,
    region: &RegionName,
    cluster: &str,
    task: &str,
) -> Result<(), CloudError> {
    acc.ecs(region)
        .stop_task()
        .cluster(cluster)
        .task(task)
        .reason("runawaytrain: halted in an incident")
        .send()
        .await
        .map_err(|e| classify("ecs:StopTask", e))?;
    Ok(())
}
