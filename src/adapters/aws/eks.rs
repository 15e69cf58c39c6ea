//! EKS: the node groups of every cluster of a region, with their desired size (the count of
//! `eks_nodes`). Read only: the nodes are EC2 instances, halted by the EC2 path; a node group
//! is never scaled to zero (AWS would terminate its nodes).

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
