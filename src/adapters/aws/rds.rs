//! RDS: the DB instances and Aurora clusters of a region that are `available`; stopping and
//! starting them (never deleting).

use std::collections::BTreeMap;

use super::{AwsAccount, classify};
use crate::config::RegionName;
use crate::core::services::{Resource, Service, What};
use crate::ports::CloudError;

fn tags_of(tags: &[aws_sdk_rds::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// Instances and clusters that are `available` (an instance of a cluster is stopped with its
/// cluster, so it is not listed on its own; its class is the cluster's, for the burn rate).
/// Clusters are read only when an available instance belongs to one: an Aurora or Multi-AZ
/// cluster runs on its instances (Aurora Serverless v1, which had none, is retired). The tags
/// come with the descriptions.
pub(super) async fn resources(
    acc: &AwsAccount,
    region: &RegionName,
) -> Result<Vec<Resource>, CloudError> {
    let client = acc.rds(region);
    let mut out = Vec::new();
    // Cluster id → the classes of its members that are available.
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pages = client.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("rds:DescribeDBInstances", e))?;
        for i in page.db_instances() {
            if i.db_instance_status() != Some("available") {
                continue;
            }
            let class = i.db_instance_class().unwrap_or_default().to_owned();
            if let Some(cluster) = i.db_cluster_identifier() {
                members.entry(cluster.to_owned()).or_default().push(class);
                continue;
            }
            out.push(Resource {
                service: Service::Rds,
                arn: i.db_instance_arn().unwrap_or_default().to_owned(),
                what: What::DbInstance {
                    id: i.db_instance_identifier().unwrap_or_default().to_owned(),
                    class,
                    engine: i.engine().unwrap_or_default().to_owned(),
                    multi_az: i.multi_az().unwrap_or(false),
                },
                tags: tags_of(i.tag_list()),
            });
        }
    }
    // A cluster that runs has member instances: with none listed there is nothing to read
    // (one call a region for an account without databases).
    if members.is_empty() {
        return Ok(out);
    }
    let mut pages = client.describe_db_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("rds:DescribeDBClusters", e))?;
        for c in page.db_clusters() {
            if c.status() != Some("available") {
                continue;
            }
            let id = c.db_cluster_identifier().unwrap_or_default().to_owned();
            out.push(Resource {
                service: Service::Rds,
                arn: c.db_cluster_arn().unwrap_or_default().to_owned(),
                what: What::DbCluster {
                    members: members.remove(&id).unwrap_or_default(),
                    engine: c.engine().unwrap_or_default().to_owned(),
                    id,
                },
                tags: tags_of(c.tag_list()),
            });
        }
    }
    Ok(out)
}

pub(super) async fn set_instance(
    acc: &AwsAccount,
    region: &RegionName,
    id: &str,
    run: bool,
) -> Result<(), CloudError> {
    let client = acc.rds(region);
    if run {
        client
            .start_db_instance()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| classify("rds:StartDBInstance", e))?;
    } else {
        client
            .stop_db_instance()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| classify("rds:StopDBInstance", e))?;
    }
    Ok(())
}

pub(super) async fn set_cluster(
    acc: &AwsAccount,
    region: &RegionName,
    id: &str,
    run: bool,
) -> Result<(), CloudError> {
    let client = acc.rds(region);
    if run {
        client
            .start_db_cluster()
            .db_cluster_identifier(id)
            .send()
            .await
            .map_err(|e| classify("rds:StartDBCluster", e))?;
    } else {
        client
            .stop_db_cluster()
            .db_cluster_identifier(id)
            .send()
            .await
            .map_err(|e| classify("rds:StopDBCluster", e))?;
    }
    Ok(())
}
