//! `examples/deployed-replicas`: two replicas on the journal's DynamoDB table.

use super::first_boot::{Image, sha256_of};
use super::*;
use crate::common::*;

/// The deployed replicas (examples/deployed-replicas): the journal's table on-demand, with
/// point-in-time recovery, deletion protection and the module's own key; two instances in two
/// zones, no journal volume, a first boot (executed in a throwaway root) that installs the binary
/// and formats and mounts nothing; and the guard, with the role's
/// own session, keeps its journal in that table, judged by IAM: its items, its indexes, nothing
/// else.
#[tokio::test(flavor = "multi_thread")]
async fn the_replicas_example_applies_two_zones_on_one_protected_table() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let subnets = ec2.describe_subnets().send().await.unwrap();
    let mut by_zone = std::collections::BTreeMap::new();
    for s in subnets.subnets() {
        by_zone
            .entry(s.availability_zone().unwrap().to_owned())
            .or_insert_with(|| s.subnet_id().unwrap().to_owned());
    }
    let two: Vec<String> = by_zone.values().take(2).cloned().collect();
    let work = tempfile::tempdir().unwrap();
    copy_module(work.path());
    let example = work.path().join("terraform/examples/deployed-replicas");
    std::fs::write(
        example.join("provider_override.tf"),
        provider_override(&moto.url, &[("", "us-east-1")]),
    )
    .unwrap();
    init(&example);
    let buckets = tempfile::tempdir().unwrap();
    let release = buckets
        .path()
        .join("releases-bucket/runawaytrain/runaway-1");
    std::fs::create_dir_all(release.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_runaway"), &release).unwrap();
    let sha = sha256_of(&release);
    let tf_vars = [
        format!("-var=subnet_ids=[\"{}\",\"{}\"]", two[0], two[1]),
        "-var=binary_s3_bucket=releases-bucket".into(),
        "-var=binary_s3_key=runawaytrain/runaway-1".into(),
        format!("-var=binary_sha256={sha}"),
        "-var=ami_id=ami-12c6146b".into(),
    ];
    terraform_with_vars(&example, "apply", &tf_vars);
    let output = |name: &str| {
        String::from_utf8(terraform(&example, &["output", "-json", name]).stdout).unwrap()
    };
    let ids: Vec<String> = serde_json::from_str(&output("bot_instance_ids")).unwrap();
    let key: String = serde_json::from_str(&output("journal_kms_key_arn")).unwrap();

    // Two replicas, one per zone, each without a volume of its own for the journal.
    assert_eq!(ids.len(), 2, "{ids:?}");
    let described = ec2
        .describe_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
        .unwrap();
    let bots: Vec<_> = described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    let zones: std::collections::BTreeSet<&str> = bots
        .iter()
        .map(|b| b.placement().unwrap().availability_zone().unwrap())
        .collect();
    assert_eq!(zones.len(), 2, "one replica per zone: {zones:?}");
    for id in &ids {
        let volumes = ec2
            .describe_volumes()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("attachment.instance-id")
                    .values(id)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            volumes.volumes().len(),
            1,
            "the root volume only: {volumes:?}"
        );
        let script = user_data(&ec2, id).await;
        assert!(
            !script.contains("mkfs") && !script.contains("Elastic_Block_Store"),
            "nothing to format with the journal on DynamoDB:\n{script}"
        );
        let image = Image::new();
        let boot = image.boot(&script, buckets.path());
        assert_eq!(boot.code, 0, "{boot:?}");
        for command in ["blkid", "mkfs.ext4", "mountpoint", "mount "] {
            assert_eq!(boot.called(command), 0, "{command}: {boot:?}");
        }
        assert!(boot.calls.ends_with(&[
            "systemctl daemon-reload".to_owned(),
            "systemctl enable runawaytrain.service".to_owned(),
            "systemctl restart runawaytrain.service".to_owned(),
        ]));
        assert_eq!(sha256_of(&image.path("/usr/local/bin/runaway")), sha);
        assert!(!image.path("/etc/fstab").exists(), "no volume to mount");
        let (code, said) = image.verify();
        assert_eq!((code, said.as_str()), (0, ""), "systemd-analyze verify");
        assert!(
            image
                .unit_environment()
                .contains(&("RUNAWAY_CONFIG_SSM".into(), "/runawaytrain/config".into())),
            "{}",
            image.unit()
        );
    }

    // The table: on-demand, protected, recoverable, encrypted with the module's key, keyed as
    // `runaway journal init` makes it.
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = ddb
        .describe_table()
        .table_name("runawaytrain-journal")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
    );
    assert_eq!(table.deletion_protection_enabled(), Some(true));
    let sse = table.sse_description().unwrap();
    assert_eq!(sse.kms_master_key_arn(), Some(key.as_str()));
    let mut indexes: Vec<&str> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, ["GSI1", "GSI2", "GSI3"]);
    let backups = ddb
        .describe_continuous_backups()
        .table_name("runawaytrain-journal")
        .send()
        .await
        .unwrap();
    assert_eq!(
        backups
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .map(|s| s.as_str()),
        Some("ENABLED")
    );
    let deleted = ddb
        .delete_table()
        .table_name("runawaytrain-journal")
        .send()
        .await;
    assert!(deleted.is_err(), "deletion protection holds");

    // The guard's own session, with the configuration the module wrote: a halt journaled in
    // the table, then read back by status. Every journal call judged, on the table or its
    // indexes only, and allowed.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let (_, proxy, vars) = guard_session(&moto, &iam).await;
    launch(&sdk, 2, &[], false).await;
    let w = Workdir::new("this file is not read");
    let mut env = env(&vars);
    env.extend([
        ("RUNAWAY_CONFIG_SSM", "/runawaytrain/config"),
        ("AWS_REGION", "us-east-1"),
        ("RUNAWAY_SELF_INSTANCE_ID", "none"),
    ]);
    let out = w.run(&proxy.url, &["halt", "--yes", "--json"], &env).await;
    assert_eq!(out.code, 0, "{out:?}");
    let halt: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let incident = halt["incident"].as_str().unwrap().to_owned();
    for args in [&["status", "--json"][..], &["status", &incident][..]] {
        let out = w.run(&proxy.url, args, &env).await;
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert!(out.stdout.contains(&incident), "{args:?}: {out:?}");
    }
    let judged = proxy.judged();
    assert!(judged.iter().all(|j| j.decision.allowed()), "{judged:?}");
    let arn = format!("arn:aws:dynamodb:us-east-1:{PAYER}:table/runawaytrain-journal");
    let journal: Vec<_> = judged
        .iter()
        .filter(|j| j.action.starts_with("dynamodb:"))
        .collect();
    for action in ["DescribeTable", "PutItem", "UpdateItem", "GetItem", "Query"] {
        assert!(
            journal
                .iter()
                .any(|j| j.action == format!("dynamodb:{action}")),
            "{action} judged: {journal:?}"
        );
    }
    assert!(
        journal
            .iter()
            .all(|j| j.resource == arn || j.resource.starts_with(&format!("{arn}/index/"))),
        "{journal:?}"
    );
    for index in ["GSI1", "GSI3"] {
        assert!(
            journal
                .iter()
                .any(|j| j.resource == format!("{arn}/index/{index}")),
            "the changes and the latest incidents read through their indexes: {journal:?}"
        );
    }

    // Torn down by the operator: protection off first, as AWS requires.
    ddb.update_table()
        .table_name("runawaytrain-journal")
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap();
    terraform_with_vars(&example, "destroy", &tf_vars);
    let (roles, policies, _, topics) = names(&moto).await;
    assert!(roles.is_empty() && policies.is_empty() && topics.is_empty());
}
