//! An instance worth isolating, seeded in moto as a compromised web server would be: in a VPC,
//! a member of an Auto Scaling group, with an instance profile and a second EBS volume; and what
//! the tests read back of it.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_ec2::types::{Filter, InstanceAttributeName};

pub struct Compromised {
    pub instance: String,
    pub subnet: String,
    pub group: String,
    pub profile_arn: String,
    /// The security groups of its interface before isolation.
    pub groups: Vec<String>,
    pub volumes: Vec<String>,
}

/// Seeds the region: a VPC and subnet, a web security group, an Auto Scaling group of one
/// instance from a launch template, an instance profile associated with it, a data volume.
pub async fn compromised_instance(sdk: &SdkConfig) -> Compromised {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let asg = aws_sdk_autoscaling::Client::new(sdk);
    let iam = aws_sdk_iam::Client::new(sdk);
    let zone = format!("{}a", sdk.region().unwrap());
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.0.1.0/24")
        .availability_zone(&zone)
        .send()
        .await
        .unwrap()
        .subnet
        .unwrap()
        .subnet_id
        .unwrap();
    let web = ec2
        .create_security_group()
        .group_name("web")
        .description("web servers")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    ec2.create_launch_template()
        .launch_template_name("web")
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-12c6146b")
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                .security_group_ids(&web)
                .build(),
        )
        .send()
        .await
        .unwrap();
    asg.create_auto_scaling_group()
        .auto_scaling_group_name("web")
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_name("web")
                .build(),
        )
        .min_size(0)
        .max_size(3)
        .desired_capacity(1)
        .vpc_zone_identifier(&subnet)
        .send()
        .await
        .unwrap();
    let instance = asg
        .describe_auto_scaling_instances()
        .send()
        .await
        .unwrap()
        .auto_scaling_instances()[0]
        .instance_id()
        .unwrap()
        .to_owned();
    iam.create_role()
        .role_name("web")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();
    let profile_arn = iam
        .create_instance_profile()
        .instance_profile_name("web")
        .send()
        .await
        .unwrap()
        .instance_profile
        .unwrap()
        .arn;
    iam.add_role_to_instance_profile()
        .instance_profile_name("web")
        .role_name("web")
        .send()
        .await
        .unwrap();
    ec2.associate_iam_instance_profile()
        .instance_id(&instance)
        .iam_instance_profile(
            aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                .arn(&profile_arn)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let data = ec2
        .create_volume()
        .availability_zone(&zone)
        .size(8)
        .send()
        .await
        .unwrap()
        .volume_id
        .unwrap();
    ec2.attach_volume()
        .volume_id(&data)
        .instance_id(&instance)
        .device("/dev/sdf")
        .send()
        .await
        .unwrap();
    let seen = look(sdk, &instance).await;
    assert_eq!(seen.volumes.len(), 2, "root and data volumes");
    Compromised {
        groups: seen.groups.clone(),
        volumes: seen.volumes.clone(),
        instance,
        subnet,
        group: "web".into(),
        profile_arn,
    }
}

/// What the emulator says of the instance now.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub state: String,
    pub groups: Vec<String>,
    pub volumes: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub termination_protection: bool,
    pub shutdown_behavior: String,
    pub profile: Option<String>,
    /// Members of the Auto Scaling group `web`, and its desired capacity.
    pub group_members: Vec<String>,
    pub desired: i32,
}

pub async fn look(sdk: &SdkConfig, instance: &str) -> Seen {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let out = ec2
        .describe_instances()
        .instance_ids(instance)
        .send()
        .await
        .unwrap();
    let i = &out.reservations()[0].instances()[0];
    let attr = |a: InstanceAttributeName| {
        ec2.describe_instance_attribute()
            .instance_id(instance)
            .attribute(a)
            .send()
    };
    let protection = attr(InstanceAttributeName::DisableApiTermination)
        .await
        .unwrap();
    let shutdown = attr(InstanceAttributeName::InstanceInitiatedShutdownBehavior)
        .await
        .unwrap();
    let profile = ec2
        .describe_iam_instance_profile_associations()
        .filters(
            Filter::builder()
                .name("instance-id")
                .values(instance)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .iam_instance_profile_associations()
        .iter()
        .find_map(|a| a.iam_instance_profile()?.arn().map(str::to_owned));
    let groups = aws_sdk_autoscaling::Client::new(sdk)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("web")
        .send()
        .await
        .unwrap();
    let group = groups.auto_scaling_groups().first();
    Seen {
        state: i.state().unwrap().name().unwrap().as_str().to_owned(),
        groups: i.network_interfaces()[0]
            .groups()
            .iter()
            .map(|g| g.group_id().unwrap().to_owned())
            .collect(),
        volumes: i
            .block_device_mappings()
            .iter()
            .map(|b| b.ebs().unwrap().volume_id().unwrap().to_owned())
            .collect(),
        tags: i
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
            .collect(),
        termination_protection: protection
            .disable_api_termination()
            .and_then(|v| v.value())
            .unwrap(),
        shutdown_behavior: shutdown
            .instance_initiated_shutdown_behavior()
            .and_then(|v| v.value())
            .unwrap()
            .to_owned(),
        profile,
        group_members: group
            .map(|g| {
                g.instances()
                    .iter()
                    .map(|i| i.instance_id().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default(),
        desired: group.and_then(|g| g.desired_capacity()).unwrap_or(-1),
    }
}

/// A security group of the region by name: its id, inbound and outbound rule counts.
pub async fn group_named(sdk: &SdkConfig, name: &str) -> Option<(String, usize, usize)> {
    let out = aws_sdk_ec2::Client::new(sdk)
        .describe_security_groups()
        .filters(Filter::builder().name("group-name").values(name).build())
        .send()
        .await
        .unwrap();
    out.security_groups().first().map(|g| {
        (
            g.group_id().unwrap().to_owned(),
            g.ip_permissions().len(),
            g.ip_permissions_egress().len(),
        )
    })
}

/// The region's snapshots: id → tags.
pub async fn snapshots(sdk: &SdkConfig) -> BTreeMap<String, BTreeMap<String, String>> {
    let out = aws_sdk_ec2::Client::new(sdk)
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .unwrap();
    out.snapshots()
        .iter()
        .map(|s| {
            (
                s.snapshot_id().unwrap().to_owned(),
                s.tags()
                    .iter()
                    .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
                    .collect(),
            )
        })
        .collect()
}
