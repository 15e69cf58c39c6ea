//! `isolate --forensics` and its restore on the applied single-account example, by the guard's
//! own session, judged by the stand-in for IAM with each call's resources and condition keys
//! (`common::authorizing::isolation`): every call allowed by the statement meant for it, the one
//! known refusal (re-associating the instance profile needs `iam:PassRole`, which the module
//! never grants) reported with the command to run by hand, and what isolation must not do
//! refused by the same policy.

use super::*;
use crate::common::isolation::compromised_instance;

/// What isolate, its forensics and its restore call, each judged on named resources.
const JUDGED: [&str; 14] = [
    "ec2:DescribeInstanceAttribute",
    "ec2:ModifyInstanceAttribute",
    "ec2:CreateSecurityGroup",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:ModifyNetworkInterfaceAttribute",
    "ec2:DisassociateIamInstanceProfile",
    "autoscaling:DetachInstances",
    "ec2:CreateSnapshot",
    "ec2:CreateTags",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:RunInstances",
    "ec2:CreateVolume",
    "ec2:AttachVolume",
    "autoscaling:AttachInstances",
];

/// `toml`: the example's `runaway_toml` output with the journal and the exemptions set.
pub(super) async fn within_the_policy(
    moto: &Moto,
    guard: &[serde_json::Value],
    proxy: &AuthorizingProxy,
    env: &[(&str, &str)],
    toml: &str,
) {
    let sdk = moto.sdk("us-east-1").await;
    let c = compromised_instance(&sdk).await;
    let w = Workdir::new(&format!(
        "{}\nregions = [\"us-east-1\"]\nforensics_subnet_id = \"{}\"\nforensics_ami = \"ami-12c6146b\"\n",
        toml, c.subnet
    ));
    let before = proxy.judged().len();
    let out = w
        .run(
            &proxy.url,
            &[
                "isolate",
                &c.instance,
                "--account",
                PAYER,
                "--forensics",
                "--yes",
                "--json",
            ],
            env,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    let incident = r["incident"].as_str().unwrap().to_owned();
    // Every step done; the instance kept running (its memory is evidence) unless --stop.
    assert!(
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "done" || (s["step"] == "stop" && s["status"] == "skipped")),
        "{r}"
    );
    assert!(r["forensic_instance"].is_string(), "{r}");
    let judged: Vec<_> = proxy.judged().split_off(before);
    let denied: Vec<_> = judged.iter().filter(|j| !j.decision.allowed()).collect();
    assert!(denied.is_empty(), "isolate within the policy: {denied:?}");
    // Tagged at creation: each CreateTags judged with its ec2:CreateAction.
    for kind in ["security-group/*", "snapshot/*", "instance/*", "volume/*"] {
        assert!(
            judged
                .iter()
                .any(|j| j.action == "ec2:CreateTags" && j.resource.ends_with(kind)),
            "CreateTags on {kind} judged: {judged:?}"
        );
    }

    // Restore: everything given back but the profile, which IAM refuses by the deny on PassRole.
    let before = proxy.judged().len();
    let out = w
        .run(&proxy.url, &["restore", &incident, "--yes", "--json"], env)
        .await;
    assert_eq!(out.code, 1, "done in part: {out:?}");
    let r = out.json();
    let errors = r["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{r}");
    assert!(
        errors[0]["reason"]
            .as_str()
            .unwrap()
            .contains("aws ec2 associate-iam-instance-profile"),
        "{r}"
    );
    let restore: Vec<_> = proxy.judged().split_off(before);
    let denied: Vec<_> = restore.iter().filter(|j| !j.decision.allowed()).collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(
        (denied[0].action.as_str(), denied[0].decision.clone()),
        (
            "iam:PassRole",
            Decision::ExplicitDeny("NeverCreateInIamOrPassRoles".into())
        )
    );
    assert!(denied[0].resource.contains(":role/"), "{:?}", denied[0]);

    let all: Vec<_> = judged.iter().chain(&restore).collect();
    for action in JUDGED {
        let of: Vec<_> = all.iter().filter(|j| j.action == action).collect();
        assert!(!of.is_empty(), "{action} was judged");
        assert!(
            of.iter().all(|j| j.resource != "*"),
            "{action} judged on named resources: {of:?}"
        );
    }

    // What isolation must not do, refused by the same policy.
    let arn = |kind: &str, id: &str| format!("arn:aws:ec2:us-east-1:{PAYER}:{kind}/{id}");
    let tagged = |r: Request| r.with("aws:ResourceTag/runaway:incident", &["inc-1"]);
    for (request, why) in [
        // Another group's rules: only the guard's own groups, tagged with an incident.
        (
            Request::new(
                "ec2:RevokeSecurityGroupEgress",
                &arn("security-group", "sg-web"),
            ),
            "implicit",
        ),
        (
            Request::new(
                "ec2:AuthorizeSecurityGroupIngress",
                &arn("security-group", "sg-web"),
            ),
            "implicit",
        ),
        // A launch not tagged with an incident.
        (
            Request::new("ec2:RunInstances", &arn("instance", "*")),
            "implicit",
        ),
        // A volume attached to an instance that is not the guard's.
        (
            Request::new("ec2:AttachVolume", &arn("instance", &c.instance)),
            "implicit",
        ),
        // Tags on anything else than what isolation creates, or with another key.
        (
            Request::new("ec2:CreateTags", &arn("security-group", "sg-web"))
                .with("aws:TagKeys", &["runaway:incident"]),
            "implicit",
        ),
        (
            Request::new("ec2:DeleteSecurityGroup", &arn("security-group", "sg-1")),
            "implicit",
        ),
        (
            tagged(Request::new("ec2:DeleteVolume", &arn("volume", "vol-1"))),
            "implicit",
        ),
        (
            Request::new(
                "ec2:DeleteSnapshot",
                "arn:aws:ec2:us-east-1::snapshot/snap-1",
            ),
            "implicit",
        ),
    ] {
        assert_eq!(refused(guard, &request), why, "{request:?}");
    }
}
