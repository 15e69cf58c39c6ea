//! What IAM authorises for the EC2 calls of `isolate` and `isolate --forensics`, as the Service
//! Authorization Reference lists their resources and condition keys: each resource the call
//! names (security group, interface, volume, snapshot, image, subnet, VPC), the resource types
//! it creates as `type/*`, `aws:RequestTag/*` and `aws:TagKeys` from its tag specifications, the
//! implied `ec2:CreateTags` with `ec2:CreateAction` when it tags what it creates, the
//! `aws:ResourceTag/*` of the resources it changes (read from moto, as IAM reads them), and the
//! `iam:PassRole` that re-associating an instance profile implies.

use std::collections::BTreeMap;

use super::between;
use crate::common::iam_policy::Request;

/// Asks moto something with the caller's own signature: (service, form body) → answer's body.
pub(super) type Look<'a> = &'a dyn Fn(&str, &str) -> String;

/// The requests of one isolation call, or `None` when `action` is not one of them.
pub(super) fn requests(
    action: &str,
    params: &BTreeMap<String, String>,
    region: &str,
    a: &str,
    look: Look<'_>,
) -> Option<Vec<Request>> {
    let arn = |kind: &str, id: &str| format!("arn:aws:ec2:{region}:{a}:{kind}/{id}");
    let global = |kind: &str, id: &str| format!("arn:aws:ec2:{region}::{kind}/{id}");
    let numbered = |name: &str| -> Vec<String> {
        (1..)
            .map_while(|n| params.get(&format!("{name}.{n}")).cloned())
            .collect()
    };
    let one = |name: &str| params.get(name).cloned().into_iter().collect::<Vec<_>>();
    let groups = |name: &str| -> Vec<String> {
        numbered(name)
            .iter()
            .map(|g| arn("security-group", g))
            .collect()
    };
    // (resources, tags given at creation, the types it creates and tags)
    let (resources, creates): (Vec<String>, Vec<String>) = match action {
        "CreateSecurityGroup" => (
            [arn("security-group", "*")]
                .into_iter()
                .chain(one("VpcId").iter().map(|v| arn("vpc", v)))
                .collect(),
            vec![arn("security-group", "*")],
        ),
        "RevokeSecurityGroupEgress"
        | "AuthorizeSecurityGroupIngress"
        | "AuthorizeSecurityGroupEgress" => (
            one("GroupId")
                .iter()
                .map(|g| arn("security-group", g))
                .collect(),
            vec![],
        ),
        "ModifyNetworkInterfaceAttribute" => (
            one("NetworkInterfaceId")
                .iter()
                .map(|n| arn("network-interface", n))
                .chain(groups("SecurityGroupId"))
                .collect(),
            vec![],
        ),
        "ModifyInstanceAttribute" | "DescribeInstanceAttribute" | "AssociateIamInstanceProfile" => {
            (
                one("InstanceId")
                    .iter()
                    .map(|i| arn("instance", i))
                    .chain(groups("GroupId"))
                    .collect(),
                vec![],
            )
        }
        "DisassociateIamInstanceProfile" => {
            let id = params.get("AssociationId")?;
            let answer = look(
                "ec2",
                &format!(
                    "Action=DescribeIamInstanceProfileAssociations&Version=2016-11-15&AssociationId.1={id}"
                ),
            );
            let instance = between(&answer, "<instanceId>", "</instanceId>")
                .unwrap_or_else(|| panic!("no instance found for association {id}: {answer}"));
            (vec![arn("instance", &instance)], vec![])
        }
        "CreateSnapshot" => (
            one("VolumeId")
                .iter()
                .map(|v| arn("volume", v))
                .chain([global("snapshot", "*")])
                .collect(),
            vec![global("snapshot", "*")],
        ),
        "CreateVolume" => (
            [arn("volume", "*")]
                .into_iter()
                .chain(one("SnapshotId").iter().map(|s| global("snapshot", s)))
                .collect(),
            vec![arn("volume", "*")],
        ),
        "RunInstances" => (
            [
                arn("instance", "*"),
                arn("volume", "*"),
                arn("network-interface", "*"),
            ]
            .into_iter()
            .chain(one("ImageId").iter().map(|i| global("image", i)))
            .chain(one("SubnetId").iter().map(|s| arn("subnet", s)))
            .chain(groups("SecurityGroupId"))
            .collect(),
            [arn("instance", "*"), arn("volume", "*")]
                .into_iter()
                .filter(|r| tagged_at_creation(r, params))
                .collect(),
        ),
        "AttachVolume" => (
            one("InstanceId")
                .iter()
                .map(|i| arn("instance", i))
                .chain(one("VolumeId").iter().map(|v| arn("volume", v)))
                .collect(),
            vec![],
        ),
        _ => return None,
    };
    let request_tags = request_tags(params);
    let mut creation = BTreeMap::new();
    if !request_tags.is_empty() {
        creation.insert(
            "aws:TagKeys".to_owned(),
            request_tags.keys().cloned().collect::<Vec<_>>(),
        );
        for (k, v) in &request_tags {
            creation.insert(format!("aws:RequestTag/{k}"), vec![v.clone()]);
        }
    }
    let mut out = Vec::new();
    for resource in resources {
        let mut context = creation.clone();
        // An existing resource's own tags, as IAM reads them.
        if !resource.ends_with("/*") && !resource.contains(":image/") {
            let id = resource.rsplit('/').next().unwrap();
            for (k, v) in tags_of(id, look) {
                context.insert(format!("aws:ResourceTag/{k}"), vec![v]);
            }
        }
        out.push(Request {
            action: format!("ec2:{action}"),
            resource,
            principal: None,
            context,
        });
    }
    if !request_tags.is_empty() {
        for resource in creates {
            let mut context = creation.clone();
            context.insert("ec2:CreateAction".into(), vec![action.to_owned()]);
            out.push(Request {
                action: "ec2:CreateTags".into(),
                resource,
                principal: None,
                context,
            });
        }
    }
    if action == "AssociateIamInstanceProfile" {
        out.push(pass_role(params, a, look));
    }
    Some(out)
}

/// Re-associating a profile passes its role to EC2: `iam:PassRole` on the role.
fn pass_role(params: &BTreeMap<String, String>, a: &str, look: Look<'_>) -> Request {
    let profile = params
        .get("IamInstanceProfile.Name")
        .cloned()
        .or_else(|| {
            params
                .get("IamInstanceProfile.Arn")
                .map(|arn| arn.rsplit('/').next().unwrap().to_owned())
        })
        .expect("a profile name or ARN");
    let answer = look(
        "iam",
        &format!("Action=GetInstanceProfile&Version=2010-05-08&InstanceProfileName={profile}"),
    );
    let role = between(&answer, "<Arn>arn:aws:iam::", "</Arn>")
        .filter(|r| r.contains(":role/"))
        .map(|r| format!("arn:aws:iam::{r}"))
        .unwrap_or_else(|| format!("arn:aws:iam::{a}:role/*"));
    Request::new("iam:PassRole", &role).with("iam:PassedToService", &["ec2.amazonaws.com"])
}

/// The tags of `TagSpecification.N`, all resource types together.
fn request_tags(params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    for (k, key) in params {
        let Some(rest) = k.strip_prefix("TagSpecification.") else {
            continue;
        };
        if let Some(prefix) = rest.strip_suffix(".Key") {
            let value = params
                .get(&format!("TagSpecification.{prefix}.Value"))
                .cloned()
                .unwrap_or_default();
            tags.insert(key.clone(), value);
        }
    }
    tags
}

/// Whether the call's tag specifications tag `resource`'s type (`instance`, `volume`).
fn tagged_at_creation(resource: &str, params: &BTreeMap<String, String>) -> bool {
    params
        .iter()
        .filter(|(k, _)| k.starts_with("TagSpecification.") && k.ends_with(".ResourceType"))
        .any(|(_, kind)| resource.contains(&format!(":{kind}/")))
}

/// An EC2 resource's tags, read from moto.
fn tags_of(id: &str, look: Look<'_>) -> Vec<(String, String)> {
    let answer = look(
        "ec2",
        &format!(
            "Action=DescribeTags&Version=2016-11-15&Filter.1.Name=resource-id&Filter.1.Value.1={id}"
        ),
    );
    answer
        .split("<item>")
        .skip(1)
        .filter_map(|item| {
            Some((
                between(item, "<key>", "</key>")?,
                between(item, "<value>", "</value>").unwrap_or_default(),
            ))
        })
        .collect()
}
