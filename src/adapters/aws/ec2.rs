//! EC2: the account's regions, its running instances (three light reads), stops and starts.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ec2::types::{Filter, SpotInstanceType};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;

use super::{ASG_TAG, AwsAccount, ENABLED_OPT_IN, classify};
use crate::config::RegionName;
use crate::core::model::{Instance, Lifecycle};
use crate::ports::CloudError;

pub(super) async fn enabled_regions(acc: &AwsAccount) -> Result<Vec<RegionName>, CloudError> {
    let out = acc
        .ec2(&acc.home_region)
        .describe_regions()
        .all_regions(true)
        .send()
        .await
        .map_err(|e| classify("ec2:DescribeRegions", e))?;
    let partition = acc.home_region.partition();
    let mut regions: Vec<RegionName> = out
        .regions()
        .iter()
        .filter(|r| {
            r.opt_in_status()
                .is_some_and(|s| ENABLED_OPT_IN.contains(&s))
        })
        .filter_map(|r| RegionName::parse(r.region_name()?).ok())
        .filter(|r| r.partition() == partition)
        .collect();
    regions.sort();
    Ok(regions)
}

pub(super) async fn running_instances(
    acc: &AwsAccount,
    region: &RegionName,
    tag_keys: &[String],
) -> Result<Vec<Instance>, CloudError> {
    // Three light reads instead of DescribeInstances, whose full descriptions are the
    // heaviest EC2 read (and the most throttled one): the running ids, then the tags asked
    // for (read after the ids, so an instance tagged at launch has its tags), then the Spot
    // requests. Whether AWS can stop an instance is left to AWS to say at stop time.
    let ec2 = acc.ec2(region);
    let mut ids = Vec::new();
    let mut pages = ec2
        .describe_instance_status()
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        )
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ec2:DescribeInstanceStatus", e))?;
        ids.extend(
            page.instance_statuses()
                .iter()
                .filter_map(|s| s.instance_id().map(str::to_owned)),
        );
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }

    let mut keys: Vec<String> = tag_keys.to_vec();
    keys.push(ASG_TAG.to_owned());
    let mut tags: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut pages = ec2
        .describe_tags()
        .filters(
            Filter::builder()
                .name("resource-type")
                .values("instance")
                .build(),
        )
        .filters(Filter::builder().name("key").set_values(Some(keys)).build())
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ec2:DescribeTags", e))?;
        for t in page.tags() {
            if let (Some(id), Some(key)) = (t.resource_id(), t.key()) {
                tags.entry(id.to_owned())
                    .or_default()
                    .insert(key.to_owned(), t.value().unwrap_or("").to_owned());
            }
        }
    }

    // Only persistent Spot requests can be stopped. If the requests cannot be read, the
    // instances count as on-demand, and AWS refuses to stop a one-time Spot instance itself.
    let spot = acc.spot_types(region).await.unwrap_or_else(|e| {
        tracing::warn!(region = %region, error = %e, "spot requests unreadable");
        HashMap::new()
    });
    Ok(ids
        .into_iter()
        .map(|id| {
            let tags = tags.remove(&id).unwrap_or_default();
            Instance {
                lifecycle: match spot.get(&id) {
                    Some(&persistent) => Lifecycle::Spot { persistent },
                    None => Lifecycle::OnDemand,
                },
                auto_scaling_group: tags.get(ASG_TAG).cloned(),
                tags,
                id,
                instance_type: None,
                platform: None,
            }
        })
        .collect())
}

pub(super) async fn stop_instances(
    acc: &AwsAccount,
    region: &RegionName,
    ids: &[String],
    dry_run: bool,
) -> Result<(), CloudError> {
    let mut call = acc
        .ec2(region)
        .stop_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .dry_run(dry_run)
        .customize();
    if !dry_run {
        // The halt paces its stops (`app::paced`): a retry of the SDK's own would not be paced.
        call = call.config_override(
            aws_sdk_ec2::config::Builder::default().retry_config(RetryConfig::disabled()),
        );
    }
    let result = call.send().await;
    match result {
        Ok(_) => Ok(()),
        // With DryRun, AWS answers "would have succeeded" as an error.
        Err(e) if dry_run && e.code() == Some("DryRunOperation") => Ok(()),
        Err(e) => Err(classify("ec2:StopInstances", e)),
    }
}

/// Every running instance with its type and platform, from DescribeInstances alone (accounts
/// with a burn rate rule): one read says the ids, the tags and the types, where the light path
/// would need another. See BENCHMARKS.md, "Reading the instance types".
pub(super) async fn running_instances_typed(
    acc: &AwsAccount,
    region: &RegionName,
    tag_keys: &[String],
) -> Result<Vec<Instance>, CloudError> {
    let mut pages = acc
        .ec2(region)
        .describe_instances()
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        )
        .max_results(1000)
        .into_paginator()
        .send();
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("ec2:DescribeInstances", e))?;
        for i in page.reservations().iter().flat_map(|r| r.instances()) {
            let Some(id) = i.instance_id() else { continue };
            let tags: BTreeMap<String, String> = i
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value().unwrap_or(""))))
                .filter(|(k, _)| *k == ASG_TAG || tag_keys.iter().any(|want| want == k))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            found.push((
                id.to_owned(),
                tags,
                i.instance_type().map(|t| t.as_str().to_owned()),
                i.platform_details().map(str::to_owned),
            ));
        }
    }
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let spot = acc.spot_types(region).await.unwrap_or_else(|e| {
        tracing::warn!(region = %region, error = %e, "spot requests unreadable");
        HashMap::new()
    });
    Ok(found
        .into_iter()
        .map(|(id, tags, instance_type, platform)| Instance {
            lifecycle: match spot.get(&id) {
                Some(&persistent) => Lifecycle::Spot { persistent },
                None => Lifecycle::OnDemand,
            },
            auto_scaling_group: tags.get(ASG_TAG).cloned(),
            tags,
            id,
            instance_type,
            platform,
        })
        .collect())
}

/// When each of `ids` was launched (DescribeInstances, only for a `halt_scope = "new"` halt).
pub(super) async fn launch_times(
    acc: &AwsAccount,
    region: &RegionName,
    ids: &[String],
) -> Result<std::collections::BTreeMap<String, chrono::DateTime<chrono::Utc>>, CloudError> {
    let mut out = std::collections::BTreeMap::new();
    for chunk in ids.chunks(1000) {
        let mut pages = acc
            .ec2(region)
            .describe_instances()
            .set_instance_ids(Some(chunk.to_vec()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ec2:DescribeInstances", e))?;
            for i in page.reservations().iter().flat_map(|r| r.instances()) {
                if let (Some(id), Some(t)) = (i.instance_id(), i.launch_time())
                    && let Some(at) = chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
                {
                    out.insert(id.to_owned(), at);
                }
            }
        }
    }
    Ok(out)
}

pub(super) async fn tag_instances(
    acc: &AwsAccount,
    region: &RegionName,
    ids: &[String],
    key: &str,
    value: &str,
    add: bool,
) -> Result<(), CloudError> {
    let tag = aws_sdk_ec2::types::Tag::builder()
        .key(key)
        .value(value)
        .build();
    let ec2 = acc.ec2(region);
    if add {
        ec2.create_tags()
            .set_resources(Some(ids.to_vec()))
            .tags(tag)
            .send()
            .await
            .map_err(|e| classify("ec2:CreateTags", e))?;
    } else {
        // With a value, EC2 deletes the tag only where it still has that value.
        ec2.delete_tags()
            .set_resources(Some(ids.to_vec()))
            .tags(tag)
            .send()
            .await
            .map_err(|e| classify("ec2:DeleteTags", e))?;
    }
    Ok(())
}

pub(super) async fn start_instances(
    acc: &AwsAccount,
    region: &RegionName,
    ids: &[String],
) -> Result<(), CloudError> {
    acc.ec2(region)
        .start_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(|e| classify("ec2:StartInstances", e))?;
    Ok(())
}

impl AwsAccount {
    /// Request types of the region's Spot requests, by instance id.
    pub(super) async fn spot_types(
        &self,
        region: &RegionName,
    ) -> Result<HashMap<String, bool>, CloudError> {
        let mut pages = self
            .ec2(region)
            .describe_spot_instance_requests()
            .into_paginator()
            .send();
        let mut types = HashMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ec2:DescribeSpotInstanceRequests", e))?;
            for r in page.spot_instance_requests() {
                if let Some(id) = r.instance_id() {
                    types.insert(
                        id.to_owned(),
                        r.r#type() == Some(&SpotInstanceType::Persistent),
                    );
                }
            }
        }
        Ok(types)
    }
}
