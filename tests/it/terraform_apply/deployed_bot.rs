//! `examples/deployed-bot`: the bot's instance, sandboxed and exempt.

use super::*;
use crate::common::*;

/// The deployed bot (examples/deployed-bot): one Graviton instance running as the guard's role,
/// IMDSv2 only, an encrypted volume, no inbound rule in Socket Mode, a first boot that checks
/// the binary's SHA-256 and installs a sandboxed unit, the configuration in SSM; and the guard,
/// reading that configuration with the role's session, never stops its own instance.
#[tokio::test(flavor = "multi_thread")]
async fn the_deployed_bot_example_applies_sandboxed_and_exempt() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let subnet = ec2.describe_subnets().send().await.unwrap().subnets()[0]
        .subnet_id
        .clone()
        .unwrap();
    let sha = "ab".repeat(32);
    let work = tempfile::tempdir().unwrap();
    copy_module(work.path());
    let example = work.path().join("terraform/examples/deployed-bot");
    std::fs::write(
        example.join("provider_override.tf"),
        provider_override(&moto.url, &[("", "us-east-1")]),
    )
    .unwrap();
    init(&example);
    let tf_vars = [
        format!("-var=subnet_id={subnet}"),
        "-var=binary_s3_bucket=releases-bucket".into(),
        "-var=binary_s3_key=runawaytrain/runaway-0.1.0-aarch64".into(),
        format!("-var=binary_sha256={sha}"),
        "-var=ami_id=ami-12c6146b".into(),
    ];
    terraform_with_vars(&example, "apply", &tf_vars);
    let id = String::from_utf8(terraform(&example, &["output", "-raw", "bot_instance_id"]).stdout)
        .unwrap();

    let bot = ec2
        .describe_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap()
        .reservations()[0]
        .instances()[0]
        .clone();
    assert_eq!(bot.instance_type().unwrap().as_str(), "t4g.small");
    assert_eq!(
        bot.metadata_options()
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str()),
        Some("required"),
        "IMDSv2 only"
    );
    assert!(
        bot.iam_instance_profile()
            .and_then(|p| p.arn())
            .unwrap()
            .ends_with("instance-profile/runawaytrain-guard"),
        "the guard's role"
    );
    let tags: std::collections::BTreeMap<&str, &str> = bot
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags.get("runaway:exempt"), Some(&"true"));
    // Its volumes, the journal's own among them, all encrypted.
    let attached = ec2
        .describe_volumes()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("attachment.instance-id")
                .values(&id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let volumes = attached.volumes();
    assert_eq!(volumes.len(), 2, "root and journal: {volumes:?}");
    assert!(
        volumes.iter().all(|v| v.encrypted() == Some(true)),
        "{volumes:?}"
    );
    let journal = volumes
        .iter()
        .find(|v| {
            v.attachments()
                .iter()
                .any(|a| a.device() == Some("/dev/sdf"))
        })
        .expect("the journal's volume on /dev/sdf")
        .volume_id()
        .unwrap()
        .replace('-', "");
    let groups: Vec<String> = bot
        .security_groups()
        .iter()
        .chain(bot.network_interfaces().iter().flat_map(|n| n.groups()))
        .filter_map(|g| g.group_id().map(str::to_owned))
        .collect();
    assert!(!groups.is_empty(), "{bot:?}");
    let sg = ec2
        .describe_security_groups()
        .group_ids(&groups[0])
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .clone();
    assert!(sg.ip_permissions().is_empty(), "nothing comes in: {sg:?}");
    let out: Vec<(Option<i32>, Option<i32>)> = sg
        .ip_permissions_egress()
        .iter()
        .map(|p| (p.from_port(), p.to_port()))
        .collect();
    assert_eq!(out, [(Some(443), Some(443))], "HTTPS out only");

    // The first boot: the binary checked before it is installed, the unit sandboxed, the
    // settings read from SSM by runaway itself, and no secret anywhere in it.
    let data = ec2
        .describe_instance_attribute()
        .instance_id(&id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap()
        .user_data
        .and_then(|u| u.value)
        .unwrap();
    let script = String::from_utf8(base64_decode(&data)).unwrap();
    let check = script
        .find("sha256sum --check --strict")
        .expect("the hash check");
    let install = script.find("install -o root").expect("the install");
    assert!(check < install, "checked before installed:\n{script}");
    assert!(script.contains(&format!("{sha}  $download")), "{script}");
    let mount = script
        .find("mount /var/lib/runawaytrain")
        .expect("the journal mounted");
    assert!(
        mount < script.find("systemctl enable").unwrap()
            && script.contains(&format!("Amazon_Elastic_Block_Store_{journal}")),
        "the journal's volume mounted before the unit starts:\n{script}"
    );
    for line in [
        "User=runawaytrain",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=runawaytrain",
        "CapabilityBoundingSet=",
        "Environment=RUNAWAY_CONFIG_SSM=/runawaytrain/config",
        "Environment=SLACK_BOT_TOKEN_SSM=/runawaytrain/slack-bot-token",
        "Environment=SLACK_APP_TOKEN_SSM=/runawaytrain/slack-app-token",
        "Environment=RUNAWAY_LISTEN=127.0.0.1:3000",
    ] {
        assert!(
            script.lines().any(|l| l.trim() == line),
            "{line} in:\n{script}"
        );
    }
    assert!(
        !script.contains("SIGNING_SECRET"),
        "no signing secret in Socket Mode"
    );
    assert!(
        !script.contains("xoxb-") && !script.contains("xapp-"),
        "{script}"
    );

    // The guard's own session reads that configuration from SSM and halts: the bot's instance
    // is spared, another is stopped.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let (_, proxy, vars) = guard_session(&moto, &iam).await;
    launch(&sdk, 1, &[], false).await;
    let w = Workdir::new("this file is not read");
    let mut env = env(&vars);
    env.extend([
        ("RUNAWAY_CONFIG_SSM", "/runawaytrain/config"),
        ("AWS_REGION", "us-east-1"),
        ("RUNAWAY_SELF_INSTANCE_ID", "none"),
    ]);
    let out = w.run(&proxy.url, &["halt", "--yes", "--json"], &env).await;
    assert_eq!(out.code, 0, "{out:?}");
    let judged = proxy.judged();
    assert!(judged.iter().all(|j| j.decision.allowed()), "{judged:?}");
    assert!(judged.iter().any(|j| j.action == "ssm:GetParameter"
        && j.resource == format!("arn:aws:ssm:us-east-1:{PAYER}:parameter/runawaytrain/config")));
    let states: std::collections::BTreeMap<String, String> = ec2
        .describe_instances()
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            (
                i.instance_id().unwrap().to_owned(),
                i.state().unwrap().name().unwrap().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(states[&id], "running", "the bot is exempt: {states:?}");
    assert!(
        states.iter().any(|(i, s)| i != &id && s == "stopped"),
        "{states:?}"
    );

    terraform_with_vars(&example, "destroy", &tf_vars);
    let (roles, policies, _, topics) = names(&moto).await;
    assert!(roles.is_empty() && policies.is_empty() && topics.is_empty());
}
