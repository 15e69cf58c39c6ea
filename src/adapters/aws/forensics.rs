//! The forensic instance of an isolation: the subnet read, the forensic group admitted, the
//! waits, the instance launched and the evidence volumes made and attached.

use aws_sdk_ec2::types::{IpPermission, ResourceType, UserIdGroupPair};

use super::isolation::tag_spec;
use super::{AwsAccount, classify};
use crate::config::RegionName;
use crate::ports::{CloudError, ErrorKind, ForensicLaunch, Ready};

pub(super) async fn subnet(
    acc: &AwsAccount,
    region: &RegionName,
    subnet: &str,
) -> Result<(String, String), CloudError> {
    let out = acc
        .ec2(region)
        .describe_subnets()
        .subnet_ids(subnet)
        .send()
        .await
        .map_err(|e| classify("ec2:DescribeSubnets", e))?;
    out.subnets()
        .iter()
        .find_map(|s| Some((s.vpc_id()?.to_owned(), s.availability_zone()?.to_owned())))
        .ok_or_else(|| CloudError {
            kind: ErrorKind::NotFound,
            operation: "ec2:DescribeSubnets",
            code: None,
            message: format!("no subnet {subnet} in {region}"),
        })
}

pub(super) async fn admit(
    acc: &AwsAccount,
    region: &RegionName,
    group: &str,
    from: &str,
) -> Result<(), CloudError> {
    acc.ec2(region)
        .authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("-1")
                .user_id_group_pairs(UserIdGroupPair::builder().group_id(from).build())
                .build(),
        )
        .send()
        .await
        .map_err(|e| classify("ec2:AuthorizeSecurityGroupIngress", e))?;
    Ok(())
}

pub(super) async fn wait_ready(
    acc: &AwsAccount,
    region: &RegionName,
    what: Ready,
    ids: &[String],
    timeout: std::time::Duration,
) -> Result<(), CloudError> {
    let ec2 = acc.ec2(region);
    let started = std::time::Instant::now();
    loop {
        let (operation, ready): (&'static str, Result<bool, CloudError>) = match what {
            Ready::Snapshots => (
                "ec2:DescribeSnapshots",
                ec2.describe_snapshots()
                    .set_snapshot_ids(Some(ids.to_vec()))
                    .send()
                    .await
                    .map(|o| {
                        o.snapshots().len() == ids.len()
                            && o.snapshots()
                                .iter()
                                .all(|s| s.state().is_some_and(|s| s.as_str() == "completed"))
                    })
                    .map_err(|e| classify("ec2:DescribeSnapshots", e)),
            ),
            Ready::Volumes => (
                "ec2:DescribeVolumes",
                ec2.describe_volumes()
                    .set_volume_ids(Some(ids.to_vec()))
                    .send()
                    .await
                    .map(|o| {
                        o.volumes().len() == ids.len()
                            && o.volumes()
                                .iter()
                                .all(|v| v.state().is_some_and(|s| s.as_str() == "available"))
                    })
                    .map_err(|e| classify("ec2:DescribeVolumes", e)),
            ),
            Ready::Instance => (
                "ec2:DescribeInstances",
                ec2.describe_instances()
                    .set_instance_ids(Some(ids.to_vec()))
                    .send()
                    .await
                    .map(|o| {
                        o.reservations()
                            .iter()
                            .flat_map(|r| r.instances())
                            .all(|i| {
                                i.state()
                                    .and_then(|s| s.name())
                                    .is_some_and(|n| n.as_str() == "running")
                            })
                    })
                    .map_err(|e| classify("ec2:DescribeInstances", e)),
            ),
        };
        if ready? {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(CloudError {
                kind: ErrorKind::Other,
                operation,
                code: None,
                message: format!("{} not ready after {}s", ids.join(", "), timeout.as_secs()),
            });
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

pub(super) async fn create_volume(
    acc: &AwsAccount,
    region: &RegionName,
    snapshot: &str,
    zone: &str,
    tags: &[(String, String)],
) -> Result<String, CloudError> {
    let out = acc
        .ec2(region)
        .create_volume()
        .snapshot_id(snapshot)
        .availability_zone(zone)
        .tag_specifications(tag_spec(ResourceType::Volume, tags))
        .send()
        .await
        .map_err(|e| classify("ec2:CreateVolume", e))?;
    Ok(out.volume_id().unwrap_or_default().to_owned())
}

pub(super) async fn run_forensic_instance(
    acc: &AwsAccount,
    region: &RegionName,
    launch: &ForensicLaunch,
) -> Result<String, CloudError> {
    let out = acc
        .ec2(region)
        .run_instances()
        .image_id(&launch.image_id)
        .instance_type(launch.instance_type.as_str().into())
        .subnet_id(&launch.subnet_id)
        .security_group_ids(&launch.group_id)
        .min_count(1)
        .max_count(1)
        .tag_specifications(tag_spec(ResourceType::Instance, &launch.tags))
        .tag_specifications(tag_spec(ResourceType::Volume, &launch.tags))
        .send()
        .await
        .map_err(|e| classify("ec2:RunInstances", e))?;
    out.instances()
        .first()
        .and_then(|i| i.instance_id())
        .map(str::to_owned)
        .ok_or_else(|| CloudError {
            kind: ErrorKind::Other,
            operation: "ec2:RunInstances",
            code: None,
            message: "no instance in the answer".into(),
        })
}

pub(super) async fn attach_volume(
    acc: &AwsAccount,
    region: &RegionName,
    volume: &str,
    instance: &str,
    device: &str,
) -> Result<(), CloudError> {
    acc.ec2(region)
        .attach_volume()
        .volume_id(volume)
        .instance_id(instance)
        .device(device)
        .send()
        .await
        .map_err(|e| classify("ec2:AttachVolume", e))?;
    Ok(())
}
