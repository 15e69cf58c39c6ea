//! `runaway isolate` against moto: every step checked in the emulator, `restore` bringing the
//! instance back (the snapshots kept), a dry run changing nothing, the refusals.

use crate::common::config::{APPROVER, Toml};
use crate::common::isolation::*;
use crate::common::*;

/// `runaway isolate INSTANCE --account payer FLAGS`, here.
async fn isolate(w: &Workdir, moto: &Moto, instance: &str, flags: &[&str]) -> Output {
    let mut args = vec!["isolate", instance, "--account", "payer"];
    args.extend_from_slice(flags);
    w.run(&moto.url, &args, &[]).await
}

fn config(extra: &str) -> String {
    Toml::new().payer(&["us-east-1"], extra).into()
}

#[tokio::test(flavor = "multi_thread")]
async fn isolation_checked_step_by_step_and_restore_brings_it_back() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let c = compromised_instance(&sdk).await;
    let before = look(&sdk, &c.instance).await;
    assert_eq!(before.group_members, std::slice::from_ref(&c.instance));
    assert_eq!(before.profile.as_deref(), Some(c.profile_arn.as_str()));
    let w = Workdir::new(&config(""));

    let out = isolate(
        &w,
        &moto,
        &c.instance,
        &["--ticket", "SEC-42", "--yes", "--json"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    let incident = r["incident"].as_str().unwrap().to_owned();
    let steps: Vec<(String, String)> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().into(),
                s["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let order: Vec<&str> = steps.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        order,
        [
            "capture",
            "termination_protection",
            "detach_auto_scaling",
            "disassociate_profile",
            "isolation_group",
            "snapshot",
            "snapshot",
            "tag",
            "stop"
        ],
        "the playbook's order"
    );
    assert!(steps[..8].iter().all(|(_, s)| s == "done"), "{steps:?}");
    assert_eq!(steps[8].1, "skipped", "kept running without --stop");

    // Each step, as the emulator sees it.
    let now = look(&sdk, &c.instance).await;
    assert_eq!(now.state, "running", "memory is evidence");
    assert!(now.termination_protection);
    assert_eq!(now.shutdown_behavior, "stop");
    assert!(now.group_members.is_empty(), "detached from its group");
    assert_eq!(now.desired, 0, "desired capacity decremented: not replaced");
    assert_eq!(now.profile, None, "profile disassociated");
    let (isolation, inbound, outbound) = group_named(&sdk, "runaway-isolation").await.unwrap();
    assert_eq!((inbound, outbound), (0, 0), "no rule either way");
    assert_eq!(now.groups, std::slice::from_ref(&isolation));
    let (_, untracked_in, untracked_out) = group_named(&sdk, "runaway-isolation-untracked")
        .await
        .unwrap();
    assert!(untracked_in > 0 && untracked_out > 0, "allow-all both ways");
    assert_eq!(now.tags["runaway:quarantine"], incident);
    // The guard writes no other key on an instance: the ticket is on what it creates.
    assert!(!now.tags.contains_key("runaway:ticket"), "{:?}", now.tags);
    let snaps = snapshots(&sdk).await;
    let taken: Vec<String> = serde_json::from_value(r["snapshots"].clone()).unwrap();
    assert_eq!(taken.len(), 2);
    for s in &taken {
        let tags = &snaps[s];
        assert_eq!(tags["runaway:incident"], incident);
        assert_eq!(tags["runaway:instance"], c.instance);
        assert!(tags["runaway:device"].starts_with("/dev/"), "{tags:?}");
        assert_eq!(tags["runaway:ticket"], "SEC-42");
    }
    // The capture is in the journal, with what the instance was attached to.
    let db = rusqlite::Connection::open(w.path("journal.db")).unwrap();
    let capture: String = db
        .query_row(
            "SELECT description FROM captures WHERE incident_id = ?1",
            [&incident],
            |r| r.get(0),
        )
        .unwrap();
    let capture: serde_json::Value = serde_json::from_str(&capture).unwrap();
    assert_eq!(capture["auto_scaling_group"], "web");
    assert_eq!(capture["profile"]["profile_arn"], c.profile_arn.as_str());
    assert_eq!(
        capture["interfaces"][0]["groups"],
        serde_json::json!(c.groups)
    );
    assert_eq!(capture["volumes"].as_array().unwrap().len(), 2);
    drop(db);

    // A second isolation of the same instance has nothing left to do but evidence and tags.
    let again = isolate(&w, &moto, &c.instance, &["--dry-run", "--json"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    let statuses: std::collections::BTreeMap<String, String> = again.json()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().into(),
                s["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    for step in [
        "termination_protection",
        "detach_auto_scaling",
        "disassociate_profile",
        "isolation_group",
    ] {
        assert_eq!(statuses[step], "skipped", "{step}: {statuses:?}");
    }

    let out = w
        .run(&moto.url, &["restore", &incident, "--yes", "--json"], &[])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let back = look(&sdk, &c.instance).await;
    assert_eq!(
        back.group_members,
        std::slice::from_ref(&c.instance),
        "back in its group"
    );
    assert_eq!(back.desired, 1);
    assert_eq!(back.profile.as_deref(), Some(c.profile_arn.as_str()));
    assert_eq!(back.groups, c.groups, "its own security groups again");
    assert_eq!(back.termination_protection, before.termination_protection);
    assert_eq!(back.shutdown_behavior, before.shutdown_behavior);
    assert!(!back.tags.contains_key("runaway:quarantine"));
    assert!(!back.tags.contains_key("runaway:ticket"));
    // The snapshots stay, and restore says so.
    let snaps = snapshots(&sdk).await;
    assert!(taken.iter().all(|s| snaps.contains_key(s)));
    let kept = out.json()["kept"].to_string();
    for s in &taken {
        assert!(kept.contains(s.as_str()), "{kept}");
    }
    // A second restore changes nothing.
    let twice = w
        .run(&moto.url, &["restore", &incident, "--yes", "--json"], &[])
        .await;
    assert_eq!(twice.code, 0, "{twice:?}");
    assert_eq!(twice.json()["restored"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_changes_nothing_and_stop_is_only_on_request() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let c = compromised_instance(&sdk).await;
    let snapshots_before = snapshots(&sdk).await;
    let before = look(&sdk, &c.instance).await;
    let w = Workdir::new(&config(""));

    let out = isolate(&w, &moto, &c.instance, &["--stop", "--dry-run", "--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    assert_eq!(r["dry_run"], true);
    assert!(r["incident"].is_null());
    let planned = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "planned")
        .count();
    assert!(planned >= 8, "{r}");
    assert_eq!(look(&sdk, &c.instance).await, before, "nothing changed");
    assert!(group_named(&sdk, "runaway-isolation").await.is_none());
    assert_eq!(snapshots(&sdk).await, snapshots_before);
    assert!(!w.path("journal.db").exists(), "a dry run journals nothing");

    // Without --yes and without a terminal, it refuses before anything.
    let out = w
        .run(
            &moto.url,
            &["isolate", &c.instance, "--account", "payer"],
            &[],
        )
        .await;
    assert_eq!(out.code, 2, "{out:?}");

    let out = isolate(&w, &moto, &c.instance, &["--stop", "--yes", "--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(look(&sdk, &c.instance).await.state, "stopped");
    let stop = out.json()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "stop")
        .cloned()
        .unwrap();
    assert_eq!(stop["status"], "done");
}

#[tokio::test(flavor = "multi_thread")]
async fn exempt_unknown_and_malformed_instances_are_refused_and_nothing_changes() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let exempt = launch(&sdk, 1, &[("runaway:exempt", "true")], false).await;
    let w = Workdir::new(&config(""));
    for (args, says) in [
        (
            vec!["isolate", exempt[0].as_str(), "--account", "payer", "--yes"],
            "exempt",
        ),
        (
            vec![
                "isolate",
                "i-0123456789abcdef0",
                "--account",
                "payer",
                "--yes",
            ],
            "i-0123456789abcdef0",
        ),
        (
            vec!["isolate", "web-1", "--account", "payer", "--yes"],
            "INSTANCE",
        ),
        (
            vec![
                "isolate",
                exempt[0].as_str(),
                "--account",
                "nobody",
                "--yes",
            ],
            "nobody",
        ),
        (
            vec![
                "isolate",
                exempt[0].as_str(),
                "--account",
                "payer",
                "--ticket",
                "",
                "--yes",
            ],
            "--ticket",
        ),
    ] {
        let out = w.run(&moto.url, &args, &[]).await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains(says), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains("nothing changed") || !out.stderr.contains("isolated"),
            "{out:?}"
        );
    }
    assert!(group_named(&sdk, "runaway-isolation").await.is_none());
    let db = rusqlite::Connection::open(w.path("journal.db")).ok();
    let changes: i64 = db
        .and_then(|d| {
            d.query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
                .ok()
        })
        .unwrap_or(0);
    assert_eq!(changes, 0);
}

mod from_slack {
    use super::*;
    use crate::common::bot::BotHarness;
    use chrono::{Duration, Utc};
    use runawaytrain::adapters::slack::messages::in_channel;
    use runawaytrain::core::incident::{Press, Status};

    fn bot_config(topic: &str) -> String {
        Toml::new()
            .slack(&[APPROVER])
            .notify(topic)
            .payer(&["us-east-1"], "")
            .into()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn slash_isolate_asks_for_a_confirmation_that_only_its_own_button_gives() {
        let h = BotHarness::start(bot_config).await;
        let sdk = h.moto.sdk("us-east-1").await;
        let c = compromised_instance(&sdk).await;
        let now = Utc::now();
        let refused = h
            .bot
            .request_isolate("USTRANGER1", &[&c.instance], None, now)
            .unwrap();
        assert!(refused.unwrap_err().contains("approvers"));
        for bad in [vec!["web-1"], vec![], vec![c.instance.as_str(), "nobody"]] {
            let said = h
                .bot
                .request_isolate("UAPPROVER1", &bad, None, now)
                .unwrap();
            assert!(said.is_err(), "{bad:?}");
        }
        assert!(h.bot.journal.recent_incidents(10).unwrap().is_empty());

        let view = h
            .bot
            .request_isolate(
                "UAPPROVER1",
                &[&c.instance, "payer", "us-east-1"],
                None,
                now,
            )
            .unwrap()
            .unwrap();
        assert_eq!(view.status, Status::AwaitingConfirmation);
        let message = in_channel(&view);
        assert_eq!(
            crate::common::slack::button_value(&message, "runaway_confirm_isolate").as_deref(),
            Some(view.id.as_str())
        );
        // A halt's confirmation does not confirm an isolation; a stranger cannot.
        for (press, user) in [
            (Press::ConfirmHalt, "UAPPROVER1"),
            (Press::ConfirmIsolate, "USTRANGER1"),
        ] {
            h.bot.press(press, &view.id, user, None, now).await.unwrap();
            assert_eq!(look(&sdk, &c.instance).await.groups, c.groups, "{press:?}");
        }
        h.bot
            .press(Press::ConfirmIsolate, &view.id, "UAPPROVER1", None, now)
            .await
            .unwrap();
        h.bot.idle().await;
        let isolated = look(&sdk, &c.instance).await;
        assert_ne!(isolated.groups, c.groups);
        assert_eq!(isolated.tags["runaway:quarantine"], view.id);
        let row = h.bot.journal.get_incident(&view.id).unwrap().unwrap();
        assert_eq!(row.status, Status::Executed);

        // Another request nobody confirms lapses, nothing done.
        let other = launch(&sdk, 1, &[], false).await;
        let view = h
            .bot
            .request_isolate("UAPPROVER1", &[&other[0]], None, now)
            .unwrap()
            .unwrap();
        h.bot.deadline_step(now + Duration::hours(1)).await.unwrap();
        let row = h.bot.journal.get_incident(&view.id).unwrap().unwrap();
        assert_eq!(row.status, Status::Unconfirmed);
        assert!(h.bot.journal.changes(&view.id).unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forensics_launches_an_instance_with_the_evidence_attached_that_restore_keeps() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let c = compromised_instance(&sdk).await;
    let w = Workdir::new(&config(""));
    // Not configured: refused before anything.
    let out = isolate(&w, &moto, &c.instance, &["--forensics", "--yes"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("forensics_subnet_id"), "{out:?}");

    let w = Workdir::new(&config(&format!(
        "forensics_subnet_id = \"{}\"\nforensics_ami = \"ami-12c6146b\"\nforensics_instance_type = \"t3.large\"",
        c.subnet
    )));
    let out = isolate(&w, &moto, &c.instance, &["--forensics", "--yes", "--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    let incident = r["incident"].as_str().unwrap().to_owned();
    let forensic = r["forensic_instance"]
        .as_str()
        .expect("a forensic instance")
        .to_owned();
    let forensics: Vec<&serde_json::Value> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"] == "forensics")
        .collect();
    assert!(
        forensics.iter().all(|s| s["status"] == "done"),
        "{forensics:?}"
    );

    // The forensic instance runs in the subnet, in its own group, tagged with the incident,
    // with a volume made from each snapshot attached after its root.
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let d = ec2
        .describe_instances()
        .instance_ids(&forensic)
        .send()
        .await
        .unwrap();
    let i = &d.reservations()[0].instances()[0];
    assert_eq!(i.subnet_id(), Some(c.subnet.as_str()));
    assert_eq!(i.instance_type().unwrap().as_str(), "t3.large");
    let (forensics_group, _, _) = group_named(&sdk, "runaway-forensics").await.unwrap();
    assert_eq!(
        i.security_groups()[0].group_id(),
        Some(forensics_group.as_str())
    );
    assert!(
        i.tags()
            .iter()
            .any(|t| t.key() == Some("runaway:incident") && t.value() == Some(incident.as_str()))
    );
    let attached: Vec<(String, String)> = i
        .block_device_mappings()
        .iter()
        .map(|b| {
            (
                b.device_name().unwrap().to_owned(),
                b.ebs().unwrap().volume_id().unwrap().to_owned(),
            )
        })
        .filter(|(d, _)| d.starts_with("/dev/sd") && d != "/dev/sda1")
        .collect();
    assert_eq!(
        attached.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>(),
        ["/dev/sdf", "/dev/sdg"]
    );
    let taken: Vec<String> = serde_json::from_value(r["snapshots"].clone()).unwrap();
    let volumes = ec2
        .describe_volumes()
        .set_volume_ids(Some(attached.iter().map(|(_, v)| v.clone()).collect()))
        .send()
        .await
        .unwrap();
    let from: std::collections::BTreeSet<&str> = volumes
        .volumes()
        .iter()
        .map(|v| v.snapshot_id().unwrap())
        .collect();
    assert_eq!(from, taken.iter().map(String::as_str).collect());
    // The isolation group admits the forensic group, and nothing else.
    let iso = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values("runaway-isolation")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let rules = iso.security_groups()[0].ip_permissions();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0].user_id_group_pairs()[0].group_id(),
        Some(forensics_group.as_str())
    );
    assert!(rules[0].ip_ranges().is_empty());

    // restore gives the instance back and leaves the responder's forensic instance alone.
    let out = w
        .run(&moto.url, &["restore", &incident, "--yes", "--json"], &[])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(look(&sdk, &c.instance).await.groups, c.groups);
    assert_eq!(states(&sdk).await[&forensic], "running");
    assert!(out.json()["kept"].to_string().contains(&forensic));
}
