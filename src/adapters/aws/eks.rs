//! EKS: the managed node groups of every cluster of a region, with their desired size, and its
//! running self-managed nodes (the count of `eks_nodes`). Read only: the nodes are EC2
//! instances, halted by the EC2 path; a node group is never scaled to zero (AWS would
//! terminate its nodes).

use aws_sdk_ec2::types::Filter;

use super::{AwsAccount, classify};
use crate::config::RegionName;
use crate::core::services::{Resource, Service, What};
use crate::ports::CloudError;

pub(super) async fn resources(
    acc: &AwsAccount,
    region: &RegionName,
) -> Result<Vec<Resource>, CloudError> {
    let client = acc.eks(region);
    let mut clusters = Vec::new();
    let mut pages = client.list_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("eks:ListClusters", e))?;
        clusters.extend(page.clusters().iter().cloned());
    }
    let mut out = Vec::new();
    for cluster in clusters {
        if let Some(nodes) = self_managed(acc, region, &cluster).await? {
            out.push(nodes);
        }
        let mut groups = Vec::new();
        let mut pages = client
            .list_nodegroups()
            .cluster_name(&cluster)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("eks:ListNodegroups", e))?;
            groups.extend(page.nodegroups().iter().cloned());
        }
        for name in groups {
            let described = client
                .describe_nodegroup()
                .cluster_name(&cluster)
                .nodegroup_name(&name)
                .send()
                .await
                .map_err(|e| classify("eks:DescribeNodegroup", e))?;
            let Some(g) = described.nodegroup() else {
                continue;
            };
            let desired = g
                .scaling_config()
                .and_then(|s| s.desired_size())
                .unwrap_or(0);
            if desired <= 0 {
                continue;
            }
            out.push(Resource {
                service: Service::Eks,
                arn: g.nodegroup_arn().unwrap_or_default().to_owned(),
                what: What::NodeGroup {
                    cluster: cluster.clone(),
                    name: name.clone(),
                    desired,
                },
                tags: g
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// The tag EKS and its tooling give every node of a cluster, managed or self-managed.
fn cluster_tag(cluster: &str) -> String {
    format!("kubernetes.io/cluster/{cluster}")
}

/// The running nodes of `cluster` that no managed node group owns (no `eks:nodegroup-name`
/// tag): one `DescribeInstances` filtered by the cluster's tag, and the cluster's ARN when
/// there are any.
async fn self_managed(
    acc: &AwsAccount,
    region: &RegionName,
    cluster: &str,
) -> Result<Option<Resource>, CloudError> {
    let filter = |name: &str, value: &str| Filter::builder().name(name).values(value).build();
    let mut pages = acc
        .ec2(region)
        .describe_instances()
        .filters(filter("tag-key", &cluster_tag(cluster)))
        .filters(filter("instance-state-name", "running"))
        .max_results(1000)
        .into_paginator()
        .send();
    let mut nodes = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ec2:DescribeInstances", e))?;
        for i in page.reservations().iter().flat_map(|r| r.instances()) {
            let tag = |key: &str| {
                i.tags()
                    .iter()
                    .find(|t| t.key() == Some(key))
                    .and_then(|t| t.value())
                    .map(str::to_owned)
            };
            if tag(crate::core::services::EKS_NODE_TAGS[1]).is_some() {
                continue;
            }
            if let Some(id) = i.instance_id() {
                nodes.push((id.to_owned(), tag(super::ASG_TAG)));
            }
        }
    }
    if nodes.is_empty() {
        return Ok(None);
    }
    let described = acc
        .eks(region)
        .describe_cluster()
        .name(cluster)
        .send()
        .await
        .map_err(|e| classify("eks:DescribeCluster", e))?;
    let c = described.cluster();
    Ok(Some(Resource {
        service: Service::Eks,
        arn: c.and_then(|c| c.arn()).unwrap_or_default().to_owned(),
        what: What::SelfManagedNodes {
            cluster: cluster.to_owned(),
            nodes,
        },
        tags: c
            .and_then(|c| c.tags())
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    }))
}
