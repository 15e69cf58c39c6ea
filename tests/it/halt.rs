//! `runaway halt` against a real moto server: exemptions that hold, Auto Scaling groups that
//! stay down, two accounts, more than one page and one batch, dry run, the journal, refusals.

use std::collections::BTreeSet;

use crate::common::config::Toml;
use crate::common::*;
use aws_sdk_autoscaling::types::SuspendedProcess;
use rusqlite::Connection;
use serde_json::json;

fn config(extra_guard: &str) -> String {
    Toml::new()
        .guard(extra_guard)
        .payer(&["us-east-1", "eu-west-1"], "")
        .member("research", &["us-east-1", "ap-southeast-2"], "")
        .into()
}

fn ids(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn stops_everything_but_the_exempt_in_every_region_of_both_accounts() {
    let moto = Moto::start();
    let use1 = moto.sdk("us-east-1").await;
    let euw1 = moto.sdk("eu-west-1").await;
    let member = moto.sdk_in(MEMBER, "ap-southeast-2").await;
    let plain = launch(&use1, 3, &[], false).await;
    let tagged = launch(&use1, 2, &[("runaway:exempt", "true")], false).await;
    let listed = launch(&euw1, 2, &[], true).await;
    let in_member = launch(&member, 4, &[], false).await;
    let own = launch(&euw1, 1, &[], false).await;
    let w = Workdir::new(&config(&format!("exempt_instances = [\"{}\"]", listed[0])));
    let env = [("RUNAWAY_SELF_INSTANCE_ID", own[0].as_str())];

    // Dry run: the plan, nothing changed, nothing journaled.
    let out = w
        .run(&moto.url, &["halt", "--dry-run", "--json"], &env)
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    assert_eq!(r["incident"], serde_json::Value::Null);
    assert_eq!(r["dry_run"], true);
    assert_eq!(
        ids(&r["accounts"][0]["stopped"]["us-east-1"]),
        plain.iter().cloned().collect()
    );
    assert_eq!(count(&use1, "running").await, 5);
    assert_eq!(count(&member, "running").await, 4);
    assert!(!w.path("journal.db").exists(), "a dry run journaled");

    // For real.
    let out = w.run(&moto.url, &["halt", "--yes", "--json"], &env).await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    let incident = r["incident"].as_str().expect("an incident id").to_owned();
    let payer = &r["accounts"][0];
    assert_eq!(
        ids(&payer["stopped"]["us-east-1"]),
        plain.iter().cloned().collect()
    );
    assert_eq!(
        ids(&payer["stopped"]["eu-west-1"]),
        [listed[1].clone()].into()
    );
    assert_eq!(
        ids(&r["accounts"][1]["stopped"]["ap-southeast-2"]),
        in_member.iter().cloned().collect()
    );
    let skipped: Vec<(String, String)> = payer["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["instance_id"].as_str().unwrap().to_owned(),
                s["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    for (id, reason) in &skipped {
        let expected = if tagged.contains(id) {
            "tagged runaway:exempt=true"
        } else if *id == listed[0] {
            "exempt_instances"
        } else {
            assert_eq!(*id, own[0]);
            "the guard runs on this instance"
        };
        assert!(reason.contains(expected), "{id}: {reason}");
    }

    // In moto: stopped, not terminated; the exempt still run.
    let states = states(&use1).await;
    assert!(plain.iter().all(|i| states[i] == "stopped"), "{states:?}");
    assert!(tagged.iter().all(|i| states[i] == "running"), "{states:?}");
    let states_eu = crate::common::states(&euw1).await;
    assert_eq!(states_eu[&listed[0]], "running");
    assert_eq!(states_eu[&own[0]], "running");
    assert_eq!(states_eu[&listed[1]], "stopped");
    assert_eq!(count(&member, "stopped").await, 4);

    // The journal holds the incident, what was found, and every change done.
    let db = Connection::open(w.path("journal.db")).unwrap();
    let (kind, status): (String, String) = db
        .query_row(
            "SELECT kind, status FROM incidents WHERE id = ?1",
            [&incident],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((kind.as_str(), status.as_str()), ("halt", "executed"));
    let stops: Vec<(String, String, String)> = db
        .prepare("SELECT account_id, target, status FROM changes WHERE incident_id = ?1 AND action = 'stop_instance' ORDER BY target")
        .unwrap()
        .query_map([&incident], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stops.len(), 3 + 1 + 4);
    assert!(stops.iter().all(|(_, _, s)| s == "done"), "{stops:?}");
    assert_eq!(stops.iter().filter(|(a, _, _)| a == MEMBER).count(), 4);
    let found: i64 = db
        .query_row(
            "SELECT count(*) FROM findings WHERE incident_id = ?1",
            [&incident],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(found, 3 + 2 + 2 + 1 + 4);

    // A second halt finds nothing left to stop, and leaves the exempt alone again.
    let out = w.run(&moto.url, &["halt", "--yes", "--json"], &env).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["accounts"][0]["stopped"], json!({}));
    assert_eq!(count(&use1, "running").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn suspends_auto_scaling_groups_first_so_their_instances_stay_stopped() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    auto_scaling_group(&sdk, "web", 3).await;
    // Already suspended by someone else: the journal must record it as the state before.
    asg.suspend_processes()
        .auto_scaling_group_name("web")
        .scaling_processes("AZRebalance")
        .send()
        .await
        .unwrap();
    assert_eq!(count(&sdk, "running").await, 3);

    let w = Workdir::new(&format!(
        "[guard]\nstate_path = \"journal.db\"\n[[accounts]]\nid = \"{PAYER}\"\nregions = [\"us-east-1\"]\n"
    ));
    let dry = w
        .run(&moto.url, &["halt", "--dry-run", "--json"], &[])
        .await;
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(
        dry.json()["accounts"][0]["suspended"],
        json!([{"region": "us-east-1", "group": "web", "processes": ["Launch", "ReplaceUnhealthy", "HealthCheck"]}])
    );
    let suspended = |g: &aws_sdk_autoscaling::types::AutoScalingGroup| -> BTreeSet<String> {
        g.suspended_processes()
            .iter()
            .filter_map(SuspendedProcess::process_name)
            .map(str::to_owned)
            .collect()
    };
    let group = asg.describe_auto_scaling_groups().send().await.unwrap();
    assert_eq!(
        suspended(&group.auto_scaling_groups()[0]),
        ["AZRebalance".to_string()].into()
    );

    let out = w.run(&moto.url, &["halt", "--yes", "--json"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    assert_eq!(
        r["accounts"][0]["stopped"]["us-east-1"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(r["accounts"][0]["suspended"][0]["group"], "web");
    let group = asg.describe_auto_scaling_groups().send().await.unwrap();
    let now = suspended(&group.auto_scaling_groups()[0]);
    for p in ["Launch", "ReplaceUnhealthy", "HealthCheck", "AZRebalance"] {
        assert!(now.contains(p), "{p} not suspended: {now:?}");
    }
    // Nothing replaced the stopped instances.
    assert_eq!(count(&sdk, "running").await, 0);
    assert_eq!(count(&sdk, "stopped").await, 3);

    // The suspension was journaled before the stops, with the state it changed from.
    let db = Connection::open(w.path("journal.db")).unwrap();
    let rows: Vec<(String, String, String)> = db
        .prepare("SELECT action, target, before FROM changes ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows[0].0, "suspend_processes");
    assert_eq!(rows[0].1, "web");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&rows[0].2).unwrap(),
        json!({"suspended_processes": ["AZRebalance"]})
    );
    assert!(
        rows[1..4].iter().all(|r| r.0 == "stop_instance"),
        "{rows:?}"
    );
    // Then each stopped instance is tagged with the incident, journaled too.
    assert!(rows[4..].iter().all(|r| r.0 == "tag_instance"), "{rows:?}");
    let incident: String = db
        .query_row("SELECT id FROM incidents", [], |r| r.get(0))
        .unwrap();
    let tags = aws_sdk_ec2::Client::new(&sdk)
        .describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("key")
                .values("runaway:incident")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 3);
    assert!(
        tags.tags()
            .iter()
            .all(|t| t.value() == Some(incident.as_str()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stops_more_than_a_page_and_a_batch_in_one_region() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    launch(&sdk, 130, &[], true).await;
    let w = Workdir::new(&format!(
        "[guard]\nstate_path = \"j.db\"\n[[accounts]]\nid = \"{PAYER}\"\nregions = [\"us-east-1\"]\n"
    ));
    let out = w.run(&moto.url, &["halt", "--yes", "--json"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.json()["accounts"][0]["stopped"]["us-east-1"]
            .as_array()
            .unwrap()
            .len(),
        130
    );
    assert_eq!(count(&sdk, "stopped").await, 130);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_time_spot_instances_are_reported_as_skipped() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let plain = launch(&sdk, 1, &[], false).await;
    aws_sdk_ec2::Client::new(&sdk)
        .request_spot_instances()
        .instance_count(1)
        .r#type(aws_sdk_ec2::types::SpotInstanceType::OneTime)
        .launch_specification(
            aws_sdk_ec2::types::RequestSpotLaunchSpecification::builder()
                .image_id("ami-12c6146b")
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(count(&sdk, "running").await, 2);
    let w = Workdir::new(&format!(
        "[guard]\nstate_path = \"j.db\"\n[[accounts]]\nid = \"{PAYER}\"\nregions = [\"us-east-1\"]\n"
    ));
    let out = w.run(&moto.url, &["halt", "--yes", "--json"], &[]).await;
    // Done in part: an instance that should stop is still running.
    assert_eq!(out.code, 1, "{out:?}");
    let a = &out.json()["accounts"][0];
    assert_eq!(
        ids(&a["stopped"]["us-east-1"]),
        plain.iter().cloned().collect()
    );
    assert!(
        a["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("one-time Spot"),
        "{a}"
    );
    assert_eq!(a["skipped"][0]["exempt"], false);
    assert_eq!(count(&sdk, "running").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_without_yes_when_there_is_no_terminal() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    launch(&sdk, 2, &[], false).await;
    let w = Workdir::new(&config(""));
    let out = w.run(&moto.url, &["halt"], &[]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--yes"), "{out:?}");
    assert_eq!(count(&sdk, "running").await, 2);
    assert!(!w.path("journal.db").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn halts_only_the_named_account() {
    let moto = Moto::start();
    let payer = moto.sdk("us-east-1").await;
    let member = moto.sdk_in(MEMBER, "us-east-1").await;
    launch(&payer, 2, &[], false).await;
    launch(&member, 2, &[], false).await;
    let w = Workdir::new(&config(""));
    let out = w
        .run(
            &moto.url,
            &["halt", "--yes", "--json", "--account", "research"],
            &[],
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(count(&member, "stopped").await, 2);
    assert_eq!(count(&payer, "running").await, 2);

    let out = w
        .run(
            &moto.url,
            &["halt", "--yes", "--account", "333333333333"],
            &[],
        )
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("no account \"333333333333\""),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_region_makes_the_halt_partial_but_the_rest_goes_on() {
    let moto = Moto::start();
    let payer = moto.sdk("us-east-1").await;
    launch(&payer, 2, &[], false).await;
    // moto answers 500 for a region it does not know: a region whose endpoint fails.
    let w = Workdir::new(&format!(
        "[guard]\nstate_path = \"j.db\"\n[[accounts]]\nid = \"{PAYER}\"\nregions = [\"us-east-1\", \"zz-nowhere-1\"]\n"
    ));
    let out = w.run(&moto.url, &["halt", "--yes", "--json"], &[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let a = &out.json()["accounts"][0];
    assert_eq!(
        a["stopped"]["us-east-1"].as_array().unwrap().len(),
        2,
        "{a}"
    );
    assert_eq!(a["errors"][0]["region"], "zz-nowhere-1", "{a}");
    assert_eq!(count(&payer, "stopped").await, 2);
    let db = Connection::open(w.path("j.db")).unwrap();
    let (status, problems): (String, i64) = db
        .query_row(
            "SELECT status, (SELECT count(*) FROM problems p WHERE p.incident_id = i.id) FROM incidents i",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), problems), ("partial", 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_endpoint_changes_nothing_and_says_why() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let w = Workdir::new(&config(""));
    let out = w.run(&closed, &["halt", "--yes", "--json"], &[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
    let r = out.json();
    for a in r["accounts"].as_array().unwrap() {
        assert!(
            a["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("cannot reach AWS"),
            "{r}"
        );
        assert_eq!(a["stopped"], json!({}));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unwritable_journal_changes_nothing() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    launch(&sdk, 2, &[], false).await;
    let w = Workdir::new(&format!(
        "[guard]\nstate_path = \"no/such/dir/j.db\"\n[[accounts]]\nid = \"{PAYER}\"\nregions = [\"us-east-1\"]\n"
    ));
    let out = w.run(&moto.url, &["halt", "--yes"], &[]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("j.db") && out.stderr.contains("does not exist"),
        "{out:?}"
    );
    assert_eq!(count(&sdk, "running").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn asks_on_a_terminal_and_stops_only_when_told_yes() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    launch(&sdk, 2, &[], false).await;
    let w = Workdir::new(&config(""));
    let out = w.run_in_terminal(&moto.url, &["halt"], "no\n").await;
    assert!(out.stdout.contains("Stop these 2 instances?"), "{out:?}");
    assert!(
        out.stdout.contains("not confirmed: nothing changed"),
        "{out:?}"
    );
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(count(&sdk, "running").await, 2);

    let out = w.run_in_terminal(&moto.url, &["halt"], "yes\n").await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("stopped 2 instances"), "{out:?}");
    assert_eq!(count(&sdk, "stopped").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_aws_refuses_to_stop_is_skipped_and_the_rest_of_its_batch_stops() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ids = launch(&sdk, 5, &[], false).await;
    // moto stops anything; the stand-in answers for AWS that ids[2] has an instance-store root.
    let proxy = RefusingProxy::start(&moto.url, vec![ids[2].clone()]);
    let w = Workdir::new(&format!(
        "[guard]\nstate_path = \"j.db\"\n[[accounts]]\nid = \"{PAYER}\"\nregions = [\"us-east-1\"]\n"
    ));
    let out = w.run(&proxy.url, &["halt", "--yes", "--json"], &[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let a = &out.json()["accounts"][0];
    let stopped = self::ids(&a["stopped"]["us-east-1"]);
    assert_eq!(stopped.len(), 4, "{a}");
    assert!(!stopped.contains(&ids[2]));
    assert_eq!(a["skipped"][0]["instance_id"], ids[2].as_str());
    assert!(
        a["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("does not have an 'ebs' root device"),
        "{a}"
    );
    assert_eq!(a["errors"], json!([]));
    let states = states(&sdk).await;
    assert_eq!(states[&ids[2]], "running");
    assert_eq!(states.values().filter(|s| *s == "stopped").count(), 4);
    // Journaled: the batch was planned, the refused stop is a failed change with AWS's words.
    let db = Connection::open(w.path("j.db")).unwrap();
    let (status, error): (String, String) = db
        .query_row(
            "SELECT status, error FROM changes WHERE target = ?1",
            [&ids[2]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, "failed");
    assert!(error.contains("UnsupportedOperation"), "{error}");
}

/// Every action traceable: in a member account the guard's session is named after the incident
/// (what CloudTrail shows of each call), each stopped instance carries `runaway:incident=<id>`,
/// and `restore` takes the tag off again.
#[tokio::test(flavor = "multi_thread")]
async fn a_halts_sessions_and_tags_name_its_incident_and_restore_removes_the_tags() {
    let moto = Moto::start();
    let sdk = moto.sdk_in(MEMBER, "us-east-1").await;
    let ids = launch(&sdk, 2, &[], false).await;
    let w = Workdir::new(&format!(
        "[guard]\nstate_path = \"j.db\"\n[[accounts]]\nid = \"{MEMBER}\"\nrole_arn = \"{MEMBER_ROLE}\"\nregions = [\"us-east-1\"]\n"
    ));
    // A dry run acts for no incident: its session says what it is for.
    assert_eq!(w.run(&moto.url, &["halt", "--dry-run"], &[]).await.code, 0);
    let out = w.run(&moto.url, &["halt", "--yes"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let db = Connection::open(w.path("j.db")).unwrap();
    let incident: String = db
        .query_row("SELECT id FROM incidents", [], |r| r.get(0))
        .unwrap();
    let sessions: Vec<String> = moto.data()["sts"]["AssumedRole"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["role_arn"] == MEMBER_ROLE)
        .map(|s| s["session_name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        sessions.contains(&"runawaytrain-halt".to_owned()),
        "{sessions:?}"
    );
    assert!(
        sessions.contains(&format!("runaway-{incident}")),
        "{sessions:?}"
    );

    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let tagged = || async {
        let out = ec2
            .describe_tags()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("key")
                    .values("runaway:incident")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        out.tags()
            .iter()
            .map(|t| {
                (
                    t.resource_id().unwrap().to_owned(),
                    t.value().unwrap().to_owned(),
                )
            })
            .collect::<std::collections::BTreeSet<_>>()
    };
    let expected: std::collections::BTreeSet<_> =
        ids.iter().map(|i| (i.clone(), incident.clone())).collect();
    assert_eq!(tagged().await, expected);

    let out = w
        .run(&moto.url, &["restore", &incident, "--yes", "--json"], &[])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(tagged().await.is_empty(), "restore removes the tag");
    let restored = out.json()["restored"].to_string();
    assert!(restored.contains("tag_instance"), "{restored}");
    // The instances stay stopped (no --start-instances): restoring the tag is not starting them.
    assert_eq!(count(&sdk, "stopped").await, 2);
}
