//! `examples/deployed-bot`: the bot's instance, sandboxed and exempt; its first boot executed in
//! a throwaway root; an upgrade that keeps the journal and an open incident's deadline.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::first_boot::{Image, sha256_of};
use super::*;
use crate::common::slack::SlackStandIn;
use crate::common::socket::SocketStandIn;
use crate::common::*;

/// The deployed bot (examples/deployed-bot): one Graviton instance running as the guard's role,
/// IMDSv2 only, encrypted volumes, no inbound rule in Socket Mode, the configuration in SSM.
/// Its user data, as `terraform apply` rendered it, is executed: it installs the binary only when
/// its SHA-256 matches (and refuses, changing nothing, when it does not), formats the journal's
/// volume only when blank, and writes a unit that `systemd-analyze` verifies and rates at an
/// exposure of 2.0 or lower. The installed binary, run with the unit's own environment, opens
/// an incident; an upgrade (a new binary: apply, the instance replaced, the journal's volume
/// kept and booted again) resumes it and halts at its deadline, sparing the bot's instance.
#[tokio::test(flavor = "multi_thread")]
async fn the_deployed_bot_example_applies_boots_and_upgrades() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let subnet = ec2.describe_subnets().send().await.unwrap().subnets()[0]
        .subnet_id
        .clone()
        .unwrap();
    // The bucket, a directory: the binary built here (1), and the same with bytes appended (2:
    // another SHA-256, still a working binary), as an operator uploads a new release.
    let buckets = tempfile::tempdir().unwrap();
    let releases = buckets.path().join("releases-bucket/runawaytrain");
    std::fs::create_dir_all(&releases).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_runaway"), releases.join("runaway-1")).unwrap();
    let mut next = std::fs::read(releases.join("runaway-1")).unwrap();
    next.extend_from_slice(b"\nrunawaytrain: the next release\n");
    std::fs::write(releases.join("runaway-2"), next).unwrap();
    let (sha1, sha2) = (
        sha256_of(&releases.join("runaway-1")),
        sha256_of(&releases.join("runaway-2")),
    );
    let work = tempfile::tempdir().unwrap();
    copy_module(work.path());
    let example = work.path().join("terraform/examples/deployed-bot");
    std::fs::write(
        example.join("provider_override.tf"),
        provider_override(&moto.url, &[("", "us-east-1")]),
    )
    .unwrap();
    init(&example);
    let tf_vars = |release: &str, sha: &str| {
        vec![
            format!("-var=subnet_id={subnet}"),
            "-var=binary_s3_bucket=releases-bucket".into(),
            format!("-var=binary_s3_key=runawaytrain/{release}"),
            format!("-var=binary_sha256={sha}"),
            "-var=ami_id=ami-12c6146b".into(),
        ]
    };
    terraform_with_vars(&example, "apply", &tf_vars("runaway-1", &sha1));
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
    let journal_volume = volumes
        .iter()
        .find(|v| {
            v.attachments()
                .iter()
                .any(|a| a.device() == Some("/dev/sdf"))
        })
        .expect("the journal's volume on /dev/sdf")
        .volume_id()
        .unwrap()
        .to_owned();
    // NVMe names an EBS volume by its id without the dash.
    let journal = journal_volume.replace('-', "");
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

    // The user data holds no secret: the unit reads them from SSM.
    let script = user_data(&ec2, &id).await;
    assert!(
        !script.contains("xoxb-")
            && !script.contains("xapp-")
            && !script.contains("SIGNING_SECRET"),
        "{script}"
    );
    let device = format!("/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{journal}");
    let volume = tempfile::tempdir().unwrap();

    // A binary that is not the one named: refused before anything else, nothing changed.
    let wrong = tempfile::tempdir().unwrap();
    let wrong_releases = wrong.path().join("releases-bucket/runawaytrain");
    std::fs::create_dir_all(&wrong_releases).unwrap();
    std::fs::copy(releases.join("runaway-2"), wrong_releases.join("runaway-1")).unwrap();
    let refused = Image::new();
    refused.attach(&device, volume.path());
    let boot = refused.boot(&script, wrong.path());
    assert_ne!(boot.code, 0, "{boot:?}");
    assert!(
        boot.stderr
            .contains(&format!("does not have the SHA-256 {sha1}")),
        "{boot:?}"
    );
    assert_eq!(boot.calls.len(), 1, "only the download: {boot:?}");
    assert!(!refused.path("/usr/local/bin/runaway").exists());
    assert!(refused.unit().is_empty());
    assert!(
        !volume.path().join(".filesystem").exists(),
        "volume untouched"
    );

    // A volume blkid cannot tell (an ambivalent probe): never formatted, the boot stops.
    let unclear = tempfile::tempdir().unwrap();
    std::fs::write(unclear.path().join(".ambivalent"), "").unwrap();
    let cautious = Image::new();
    cautious.attach(&device, unclear.path());
    let boot = cautious.boot(&script, buckets.path());
    assert_ne!(boot.code, 0, "{boot:?}");
    assert!(boot.stderr.contains("not formatting it"), "{boot:?}");
    assert_eq!(boot.called("mkfs.ext4"), 0, "{boot:?}");
    assert!(!cautious.path("/usr/local/bin/runaway").exists());
    assert!(cautious.unit().is_empty());

    // The first boot: the binary checked and installed, the blank volume formatted, mounted, the
    // unit written and started.
    let first = Image::new();
    first.attach(&device, volume.path());
    let boot = first.boot(&script, buckets.path());
    assert_eq!(boot.code, 0, "{boot:?}");
    assert_eq!(sha256_of(&first.path("/usr/local/bin/runaway")), sha1);
    assert_eq!(
        std::fs::metadata(first.path("/usr/local/bin/runaway"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert_eq!(
        boot.called(&format!("mkfs.ext4 -q -L runawaytrain {device}")),
        1,
        "{boot:?}"
    );
    let order: Vec<&str> = boot
        .calls
        .iter()
        .map(|c| c.split(' ').next().unwrap())
        .filter(|c| ["aws", "useradd", "mkfs.ext4", "mount", "systemctl"].contains(c))
        .collect();
    assert_eq!(
        order,
        [
            "aws",
            "useradd",
            "mkfs.ext4",
            "mount",
            "systemctl",
            "systemctl",
            "systemctl"
        ],
        "{boot:?}"
    );
    assert!(boot.calls.ends_with(&[
        "systemctl daemon-reload".to_owned(),
        "systemctl enable runawaytrain.service".to_owned(),
        "systemctl restart runawaytrain.service".to_owned(),
    ]));
    let unit = first.unit();
    for line in [
        "User=runawaytrain",
        "ExecStart=/usr/local/bin/runaway serve",
        "WorkingDirectory=/var/lib/runawaytrain",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=runawaytrain",
        "CapabilityBoundingSet=",
        "Environment=RUNAWAY_CONFIG_SSM=/runawaytrain/config",
        "Environment=SLACK_BOT_TOKEN_SSM=/runawaytrain/slack-bot-token",
        "Environment=SLACK_APP_TOKEN_SSM=/runawaytrain/slack-app-token",
        "Environment=RUNAWAY_LISTEN=127.0.0.1:3000",
    ] {
        assert!(unit.lines().any(|l| l.trim() == line), "{line} in:\n{unit}");
    }
    let (code, said) = first.verify();
    assert_eq!((code, said.as_str()), (0, ""), "systemd-analyze verify");
    let (exposure, table) = first.exposure();
    assert!(exposure <= 2.0, "exposure {exposure} > 2.0:\n{table}");
    println!("systemd-analyze security: exposure {exposure}");

    // Run again on the same instance (a new binary the same way): nothing formatted twice,
    // fstab's line once, the unit restarted.
    let again = first.boot(&script, buckets.path());
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.called("mkfs.ext4"), 0, "{again:?}");
    assert_eq!(again.called("useradd"), 0, "{again:?}");
    let fstab = std::fs::read_to_string(first.path("/etc/fstab")).unwrap();
    assert_eq!(
        fstab,
        format!("{device} /var/lib/runawaytrain ext4 defaults,nofail 0 2\n")
    );
    assert_eq!(again.called("systemctl restart runawaytrain.service"), 1);

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
    let seen = states(&sdk).await;
    assert_eq!(seen[&id], "running", "the bot is exempt: {seen:?}");
    assert!(
        seen.iter().any(|(i, s)| i != &id && s == "stopped"),
        "{seen:?}"
    );

    // The installed binary as its unit runs it: the unit's environment, its working directory
    // (the journal's volume). Too many instances: an incident opens, its deadline 45 s away.
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    for (name, value) in [
        ("/runawaytrain/slack-bot-token", "xoxb-deployed-bot"),
        ("/runawaytrain/slack-app-token", "xapp-1-deployed-bot"),
    ] {
        ssm.put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
    let grace = short_grace(&ssm).await;
    let launched = launch(&sdk, 21, &[], false).await;
    let slack = SlackStandIn::start().await;
    let socket = SocketStandIn::start().await;
    slack.with_socket(&socket.url);
    let serve = run_unit(&first, &moto, &slack, &id).await;
    slack
        .wait_for("chat.postMessage", 60, |m| {
            m.to_string().contains("runaway_approve")
        })
        .await;
    let journal_db = volume.path().join("runaway.db");
    let (incident, deadline) = open_incident(&journal_db).await;
    serve.stop("-TERM").await;
    assert_eq!(count(&sdk, "running").await, 22, "nothing halted yet");

    // The upgrade: the new binary's key and hash applied. The instance is replaced; the journal's
    // volume is the same one, attached to the new instance.
    terraform_with_vars(&example, "apply", &tf_vars("runaway-2", &sha2));
    let upgraded =
        String::from_utf8(terraform(&example, &["output", "-raw", "bot_instance_id"]).stdout)
            .unwrap();
    assert_ne!(upgraded, id, "a new instance");
    let attached = ec2
        .describe_volumes()
        .volume_ids(&journal_volume)
        .send()
        .await
        .unwrap();
    let attachments = attached.volumes()[0].attachments();
    assert_eq!(
        attachments
            .iter()
            .map(|a| (a.instance_id().unwrap(), a.device().unwrap()))
            .collect::<Vec<_>>(),
        [(upgraded.as_str(), "/dev/sdf")],
        "the journal's volume, kept"
    );
    short_grace_again(&ssm, &grace).await;
    let script = user_data(&ec2, &upgraded).await;
    assert!(script.contains(&sha2), "{script}");
    let second = Image::new();
    second.attach(&device, volume.path());
    let boot = second.boot(&script, buckets.path());
    assert_eq!(boot.code, 0, "{boot:?}");
    assert_eq!(
        boot.called("mkfs.ext4"),
        0,
        "the journal is not formatted again: {boot:?}"
    );
    assert_eq!(boot.called("mount /var/lib/runawaytrain"), 1, "{boot:?}");
    assert_eq!(sha256_of(&second.path("/usr/local/bin/runaway")), sha2);

    // The new binary resumes the open incident and halts at its deadline.
    let serve = run_unit(&second, &moto, &slack, &upgraded).await;
    let until = std::time::Instant::now() + Duration::from_secs(120);
    while incident_status(&journal_db, &incident) != "executed" {
        assert!(
            std::time::Instant::now() < until,
            "{incident} was not executed (deadline {deadline})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_executed_at_its_deadline(&journal_db, &incident);
    serve.stop("-TERM").await;
    let after = states(&sdk).await;
    assert!(launched.iter().all(|i| after[i] == "stopped"), "{after:?}");
    assert_eq!(after[&upgraded], "running", "the bot is exempt: {after:?}");

    terraform_with_vars(&example, "destroy", &tf_vars("runaway-2", &sha2));
    let (roles, policies, _, topics) = names(&moto).await;
    assert!(roles.is_empty() && policies.is_empty() && topics.is_empty());
}

/// The configuration Terraform wrote, with the payer's grace period shortened to 45 s (the
/// operator's own tuning, put back after each apply, which restores the module's text).
async fn short_grace(ssm: &aws_sdk_ssm::Client) -> String {
    let text = ssm
        .get_parameter()
        .name("/runawaytrain/config")
        .with_decryption(true)
        .send()
        .await
        .unwrap()
        .parameter
        .and_then(|p| p.value)
        .unwrap();
    let actions = "actions = [\"stop_instances\"]";
    assert!(text.contains(actions), "{text}");
    let tuned = text.replacen(actions, &format!("{actions}\ngrace_period = \"45s\""), 1);
    short_grace_again(ssm, &tuned).await;
    tuned
}

async fn short_grace_again(ssm: &aws_sdk_ssm::Client, text: &str) {
    ssm.put_parameter()
        .name("/runawaytrain/config")
        .value(text)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

/// `ExecStart` of the unit in `image`: its binary, its `Environment=` (but `RUNAWAY_LISTEN`: the
/// test's own free port), in its `WorkingDirectory`, against the emulator and the Slack stand-in;
/// the instance metadata service is the test's word for the instance id.
async fn run_unit(image: &Image, moto: &Moto, slack: &SlackStandIn, instance: &str) -> Serve {
    let unit = image.unit();
    let field = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} in:\n{unit}"))
            .to_owned()
    };
    assert_eq!(field("ExecStart="), "/usr/local/bin/runaway serve");
    let environment = image.unit_environment();
    let mut env: Vec<(&str, &str)> = environment
        .iter()
        .filter(|(k, _)| k != "RUNAWAY_LISTEN")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.push(("RUNAWAY_SELF_INSTANCE_ID", instance));
    Serve::start_installed(
        &image.path("/usr/local/bin/runaway"),
        &image.path(&field("WorkingDirectory=")),
        &moto.url,
        slack,
        &env,
    )
    .await
}

/// The open incident of the journal and its deadline. The Slack stand-in has the alert as
/// soon as it is sent; the bot journals the deadline once Slack has answered, a moment later.
async fn open_incident(db: &std::path::Path) -> (String, String) {
    for _ in 0..200 {
        let (id, deadline): (String, Option<String>) = rusqlite::Connection::open(db)
            .unwrap()
            .query_row(
                "SELECT id, deadline FROM incidents WHERE status = 'open'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        if let Some(deadline) = deadline {
            return (id, deadline);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the open incident's deadline was not journaled within 10 s of its alert")
}

fn incident_status(db: &std::path::Path, id: &str) -> String {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT status FROM incidents WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
}
