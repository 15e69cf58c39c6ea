//! Isolating an instance: the EC2 and Auto Scaling calls of each step of the playbook.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, AttributeValue, Filter, IamInstanceProfileSpecification,
    InstanceAttributeName, IpPermission, IpRange, Ipv6Range, ResourceType, Tag, TagSpecification,
};

use super::{AwsAccount, classify};
use crate::config::RegionName;
use crate::ports::{
    CloudError, ErrorKind, ForensicLaunch, GroupRules, InstanceCapture, Interface, Isolation,
    ProfileAssociation, Ready, Volume,
};

pub(super) fn tag_spec(kind: ResourceType, tags: &[(String, String)]) -> TagSpecification {
    let mut spec = TagSpecification::builder().resource_type(kind);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(k).value(v).build());
    }
    spec.build()
}

fn when(t: &aws_smithy_types::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn all_traffic() -> IpPermission {
    IpPermission::builder()
        .ip_protocol("-1")
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
        .build()
}

#[async_trait]
impl Isolation for AwsAccount {
    async fn capture(
        &self,
        region: &RegionName,
        instance: &str,
    ) -> Result<InstanceCapture, CloudError> {
        let ec2 = self.ec2(region);
        let out = ec2
            .describe_instances()
            .instance_ids(instance)
            .send()
            .await
            .map_err(|e| classify("ec2:DescribeInstances", e))?;
        let Some(i) = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(instance))
        else {
            return Err(CloudError {
                kind: ErrorKind::NotFound,
                operation: "ec2:DescribeInstances",
                code: Some("InvalidInstanceID.NotFound".into()),
                message: format!("no instance {instance} in {region}"),
            });
        };
        let attribute = |name: InstanceAttributeName| {
            ec2.describe_instance_attribute()
                .instance_id(instance)
                .attribute(name)
                .send()
        };
        let protection = attribute(InstanceAttributeName::DisableApiTermination)
            .await
            .map_err(|e| classify("ec2:DescribeInstanceAttribute", e))?;
        let shutdown = attribute(InstanceAttributeName::InstanceInitiatedShutdownBehavior)
            .await
            .map_err(|e| classify("ec2:DescribeInstanceAttribute", e))?;
        let profiles = ec2
            .describe_iam_instance_profile_associations()
            .filters(
                Filter::builder()
                    .name("instance-id")
                    .values(instance)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("ec2:DescribeIamInstanceProfileAssociations", e))?;
        let profile = profiles
            .iam_instance_profile_associations()
            .iter()
            .find(|a| {
                a.state()
                    .is_some_and(|s| matches!(s.as_str(), "associated" | "associating"))
            })
            .and_then(|a| {
                Some(ProfileAssociation {
                    association_id: a.association_id()?.to_owned(),
                    profile_arn: a.iam_instance_profile()?.arn()?.to_owned(),
                })
            });
        let groups = self
            .autoscaling(region)
            .describe_auto_scaling_instances()
            .instance_ids(instance)
            .send()
            .await
            .map_err(|e| classify("autoscaling:DescribeAutoScalingInstances", e))?;
        let auto_scaling_group = groups
            .auto_scaling_instances()
            .iter()
            .find(|g| g.instance_id() == Some(instance))
            .and_then(|g| g.auto_scaling_group_name().map(str::to_owned));
        Ok(InstanceCapture {
            instance_id: instance.to_owned(),
            state: i
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            instance_type: i
                .instance_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            image_id: i.image_id().map(str::to_owned),
            launch_time: i.launch_time().and_then(when),
            vpc_id: i.vpc_id().map(str::to_owned),
            subnet_id: i.subnet_id().map(str::to_owned),
            availability_zone: i
                .placement()
                .and_then(|p| p.availability_zone())
                .map(str::to_owned),
            private_ip: i.private_ip_address().map(str::to_owned),
            public_ip: i.public_ip_address().map(str::to_owned),
            key_name: i.key_name().map(str::to_owned),
            platform: i.platform_details().map(str::to_owned),
            interfaces: i
                .network_interfaces()
                .iter()
                .filter_map(|n| {
                    Some(Interface {
                        id: n.network_interface_id()?.to_owned(),
                        groups: n
                            .groups()
                            .iter()
                            .filter_map(|g| g.group_id().map(str::to_owned))
                            .collect(),
                        private_ip: n.private_ip_address().map(str::to_owned),
                    })
                })
                .collect(),
            profile,
            auto_scaling_group,
            volumes: i
                .block_device_mappings()
                .iter()
                .filter_map(|b| {
                    Some(Volume {
                        id: b.ebs()?.volume_id()?.to_owned(),
                        device: b.device_name()?.to_owned(),
                    })
                })
                .collect(),
            tags: i
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
                .collect::<BTreeMap<_, _>>(),
            termination_protection: protection
                .disable_api_termination()
                .and_then(|v| v.value())
                .unwrap_or(false),
            shutdown_behavior: shutdown
                .instance_initiated_shutdown_behavior()
                .and_then(|v| v.value())
                .unwrap_or("stop")
                .to_owned(),
        })
    }

    async fn set_termination_protection(
        &self,
        region: &RegionName,
        instance: &str,
        on: bool,
    ) -> Result<(), CloudError> {
        self.ec2(region)
            .modify_instance_attribute()
            .instance_id(instance)
            .disable_api_termination(AttributeBooleanValue::builder().value(on).build())
            .send()
            .await
            .map_err(|e| classify("ec2:ModifyInstanceAttribute", e))?;
        Ok(())
    }

    async fn set_shutdown_behavior(
        &self,
        region: &RegionName,
        instance: &str,
        behavior: &str,
    ) -> Result<(), CloudError> {
        self.ec2(region)
            .modify_instance_attribute()
            .instance_id(instance)
            .instance_initiated_shutdown_behavior(AttributeValue::builder().value(behavior).build())
            .send()
            .await
            .map_err(|e| classify("ec2:ModifyInstanceAttribute", e))?;
        Ok(())
    }

    async fn set_group_membership(
        &self,
        region: &RegionName,
        instance: &str,
        group: &str,
        attach: bool,
    ) -> Result<(), CloudError> {
        let asg = self.autoscaling(region);
        if attach {
            asg.attach_instances()
                .auto_scaling_group_name(group)
                .instance_ids(instance)
                .send()
                .await
                .map_err(|e| classify("autoscaling:AttachInstances", e))?;
        } else {
            asg.detach_instances()
                .auto_scaling_group_name(group)
                .instance_ids(instance)
                .should_decrement_desired_capacity(true)
                .send()
                .await
                .map_err(|e| classify("autoscaling:DetachInstances", e))?;
        }
        Ok(())
    }

    async fn disassociate_profile(
        &self,
        region: &RegionName,
        association_id: &str,
    ) -> Result<(), CloudError> {
        self.ec2(region)
            .disassociate_iam_instance_profile()
            .association_id(association_id)
            .send()
            .await
            .map_err(|e| classify("ec2:DisassociateIamInstanceProfile", e))?;
        Ok(())
    }

    async fn associate_profile(
        &self,
        region: &RegionName,
        instance: &str,
        profile_arn: &str,
    ) -> Result<(), CloudError> {
        self.ec2(region)
            .associate_iam_instance_profile()
            .instance_id(instance)
            .iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .arn(profile_arn)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("ec2:AssociateIamInstanceProfile", e))?;
        Ok(())
    }

    async fn find_group(
        &self,
        region: &RegionName,
        vpc: &str,
        name: &str,
    ) -> Result<Option<String>, CloudError> {
        let out = self
            .ec2(region)
            .describe_security_groups()
            .filters(Filter::builder().name("vpc-id").values(vpc).build())
            .filters(Filter::builder().name("group-name").values(name).build())
            .send()
            .await
            .map_err(|e| classify("ec2:DescribeSecurityGroups", e))?;
        Ok(out
            .security_groups()
            .iter()
            .find(|g| g.group_name() == Some(name) && g.vpc_id() == Some(vpc))
            .and_then(|g| g.group_id().map(str::to_owned)))
    }

    async fn create_group(
        &self,
        region: &RegionName,
        vpc: &str,
        name: &str,
        description: &str,
        rules: GroupRules,
        tags: &[(String, String)],
    ) -> Result<String, CloudError> {
        let ec2 = self.ec2(region);
        let out = ec2
            .create_security_group()
            .group_name(name)
            .description(description)
            .vpc_id(vpc)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, tags))
            .send()
            .await
            .map_err(|e| classify("ec2:CreateSecurityGroup", e))?;
        let id = out.group_id().unwrap_or_default().to_owned();
        // A new VPC group allows all outbound IPv4 traffic: take it away unless wanted.
        if rules == GroupRules::Nothing {
            ec2.revoke_security_group_egress()
                .group_id(&id)
                .ip_permissions(
                    IpPermission::builder()
                        .ip_protocol("-1")
                        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                        .build(),
                )
                .send()
                .await
                .map_err(|e| classify("ec2:RevokeSecurityGroupEgress", e))?;
        }
        match rules {
            GroupRules::Nothing | GroupRules::OutboundOnly => {}
            GroupRules::AllowAll => {
                ec2.authorize_security_group_ingress()
                    .group_id(&id)
                    .ip_permissions(all_traffic())
                    .send()
                    .await
                    .map_err(|e| classify("ec2:AuthorizeSecurityGroupIngress", e))?;
                ec2.authorize_security_group_egress()
                    .group_id(&id)
                    .ip_permissions(
                        IpPermission::builder()
                            .ip_protocol("-1")
                            .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| classify("ec2:AuthorizeSecurityGroupEgress", e))?;
            }
        }
        Ok(id)
    }

    async fn set_interface_groups(
        &self,
        region: &RegionName,
        interface: &str,
        groups: &[String],
    ) -> Result<(), CloudError> {
        self.ec2(region)
            .modify_network_interface_attribute()
            .network_interface_id(interface)
            .set_groups(Some(groups.to_vec()))
            .send()
            .await
            .map_err(|e| classify("ec2:ModifyNetworkInterfaceAttribute", e))?;
        Ok(())
    }

    async fn create_snapshot(
        &self,
        region: &RegionName,
        volume: &str,
        description: &str,
        tags: &[(String, String)],
    ) -> Result<String, CloudError> {
        let out = self
            .ec2(region)
            .create_snapshot()
            .volume_id(volume)
            .description(description)
            .tag_specifications(tag_spec(ResourceType::Snapshot, tags))
            .send()
            .await
            .map_err(|e| classify("ec2:CreateSnapshot", e))?;
        Ok(out.snapshot_id().unwrap_or_default().to_owned())
    }

    async fn subnet(
        &self,
        region: &RegionName,
        subnet: &str,
    ) -> Result<(String, String), CloudError> {
        super::forensics::subnet(self, region, subnet).await
    }

    async fn admit(&self, region: &RegionName, group: &str, from: &str) -> Result<(), CloudError> {
        super::forensics::admit(self, region, group, from).await
    }

    async fn wait_ready(
        &self,
        region: &RegionName,
        what: Ready,
        ids: &[String],
        timeout: std::time::Duration,
    ) -> Result<(), CloudError> {
        super::forensics::wait_ready(self, region, what, ids, timeout).await
    }

    async fn create_volume(
        &self,
        region: &RegionName,
        snapshot: &str,
        zone: &str,
        tags: &[(String, String)],
    ) -> Result<String, CloudError> {
        super::forensics::create_volume(self, region, snapshot, zone, tags).await
    }

    async fn run_forensic_instance(
        &self,
        region: &RegionName,
        launch: &ForensicLaunch,
    ) -> Result<String, CloudError> {
        super::forensics::run_forensic_instance(self, region, launch).await
    }

    async fn attach_volume(
        &self,
        region: &RegionName,
        volume: &str,
        instance: &str,
        device: &str,
    ) -> Result<(), CloudError> {
        super::forensics::attach_volume(self, region, volume, instance, device).await
    }
}
