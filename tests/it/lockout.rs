//! Lockout, launch block and restore against a real moto server (started with AWS managed
//! policies loaded, so `AWSDenyAll` exists): what changes, what never does, restore compared
//! field by field with the state before, restore twice, refusals, a journal that cannot be used,
//! and crashes (SIGKILL) in the grace period and in the middle of the actions.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::config::{APPROVER, Toml};
use crate::common::slack::{SlackStandIn, approve_value, text_of};
use crate::common::*;
use serde_json::{Value, json};

const DENY_ALL: &str = "arn:aws:iam::aws:policy/AWSDenyAll";

/// A user's attached policies, and access keys with their status.
type UserState = (Vec<String>, Vec<(String, String)>);

/// Every user's attached policies and keys, and every role's attached policies.
#[derive(Debug, PartialEq, Clone)]
struct IamState {
    users: BTreeMap<String, UserState>,
    roles: BTreeMap<String, Vec<String>>,
}

async fn iam_state(iam: &aws_sdk_iam::Client) -> IamState {
    let mut users = BTreeMap::new();
    for u in iam.list_users().send().await.unwrap().users() {
        let name = u.user_name().to_owned();
        let mut policies: Vec<String> = iam
            .list_attached_user_policies()
            .user_name(&name)
            .send()
            .await
            .unwrap()
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect();
        policies.sort();
        let mut keys: Vec<(String, String)> = iam
            .list_access_keys()
            .user_name(&name)
            .send()
            .await
            .unwrap()
            .access_key_metadata()
            .iter()
            .map(|k| {
                (
                    k.access_key_id().unwrap().to_owned(),
                    k.status().unwrap().as_str().to_owned(),
                )
            })
            .collect();
        keys.sort();
        users.insert(name, (policies, keys));
    }
    let mut roles = BTreeMap::new();
    for r in iam.list_roles().send().await.unwrap().roles() {
        let name = r.role_name().to_owned();
        let mut policies: Vec<String> = iam
            .list_attached_role_policies()
            .role_name(&name)
            .send()
            .await
            .unwrap()
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect();
        policies.sort();
        roles.insert(name, policies);
    }
    IamState { users, roles }
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Users alice (an Active and an Inactive key), bob (no key), carol (AWSDenyAll already
/// attached), breakglass (exempt, Active key), moto (the identity the guard runs as in moto,
/// Active key); roles app and a service-linked role; the launch-deny policy. Returns its ARN.
async fn seed_iam(iam: &aws_sdk_iam::Client) -> String {
    for u in ["alice", "bob", "carol", "breakglass", "moto"] {
        iam.create_user().user_name(u).send().await.unwrap();
    }
    for u in ["alice", "alice", "breakglass", "moto"] {
        iam.create_access_key().user_name(u).send().await.unwrap();
    }
    let alice_keys = iam
        .list_access_keys()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    let second = alice_keys.access_key_metadata()[1]
        .access_key_id()
        .unwrap()
        .to_owned();
    iam.update_access_key()
        .user_name("alice")
        .access_key_id(second)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    iam.attach_user_policy()
        .user_name("carol")
        .policy_arn(DENY_ALL)
        .send()
        .await
        .unwrap();
    iam.create_role()
        .role_name("app")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap();
    iam.create_service_linked_role()
        .aws_service_name("autoscaling.amazonaws.com")
        .send()
        .await
        .unwrap();
    iam.create_policy()
        .policy_name("runawaytrain-launch-deny")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["ec2:RunInstances","ec2:StartInstances"],"Resource":"*"}]}"#)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap()
}

fn toml(exempt: &str, launch_deny: &str, extra: &str) -> Toml {
    Toml::new()
        .guard(&format!(
            "exempt_principals = [{exempt}]\nlaunch_deny_policy_arn = \"{launch_deny}\"\n{extra}"
        ))
        .payer(
            &["us-east-1"],
            "max_running_instances = 0\nactions = [\"stop_instances\", \"lockout_users\", \"block_launches\"]",
        )
}

fn config(exempt: &str, launch_deny: &str, extra: &str) -> String {
    toml(exempt, launch_deny, extra).into()
}

fn moto_with_policies() -> Moto {
    Moto::start_with(&[("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")])
}

#[tokio::test(flavor = "multi_thread")]
async fn lockout_then_restore_brings_iam_back_field_by_field() {
    let moto = moto_with_policies();
    let iam = aws_sdk_iam::Client::new(&moto.sdk("us-east-1").await);
    let deny = seed_iam(&iam).await;
    let before = iam_state(&iam).await;
    let w = Workdir::new(&config("\"breakglass\"", &deny, ""));

    // Dry run: the plan, nothing changed, nothing journaled.
    let dry = w
        .run(&moto.url, &["lockout", "--dry-run", "--json"], &[])
        .await;
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(dry.json()["incident"], Value::Null);
    assert_eq!(iam_state(&iam).await, before);
    assert!(!w.path("journal.db").exists());

    let out = w.run(&moto.url, &["lockout", "--yes", "--json"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    let incident = r["incident"].as_str().unwrap().to_owned();
    let spared: Vec<(String, String)> = r["accounts"][0]["exempt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["principal"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        spared.contains(&("breakglass".into(), "listed in exempt_principals".into())),
        "{spared:?}"
    );
    assert!(
        spared.contains(&("moto".into(), "the guard's own identity".into())),
        "{spared:?}"
    );
    assert!(
        spared
            .iter()
            .any(|(p, r)| p.starts_with("AWSServiceRoleForAutoScaling")
                && r == "service-linked role"),
        "{spared:?}"
    );

    let after = iam_state(&iam).await;
    let both = {
        let mut v = vec![DENY_ALL.to_owned(), deny.clone()];
        v.sort();
        v
    };
    assert_eq!(after.users["alice"].0, both);
    assert!(
        after.users["alice"].1.iter().all(|(_, s)| s == "Inactive"),
        "{:?}",
        after.users["alice"]
    );
    assert_eq!(after.users["bob"].0, both);
    assert_eq!(after.users["carol"].0, both);
    assert_eq!(after.users["breakglass"], before.users["breakglass"]);
    assert_eq!(after.users["moto"], before.users["moto"]);
    assert_eq!(after.roles["app"], vec![deny.clone()]);
    let linked = before
        .roles
        .keys()
        .find(|r| r.starts_with("AWSServiceRoleFor"))
        .unwrap();
    assert_eq!(after.roles[linked], before.roles[linked]);
    // Nothing deleted.
    assert_eq!(after.users.len(), before.users.len());
    assert_eq!(after.users["alice"].1.len(), 2);

    // Restore: exactly the state before, field by field — carol keeps the AWSDenyAll she had,
    // alice's Inactive key stays Inactive.
    let out = w
        .run(&moto.url, &["restore", &incident, "--yes", "--json"], &[])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    assert_eq!(r["restored"].as_array().unwrap().len(), 7, "{r}");
    assert_eq!(iam_state(&iam).await, before);

    // Twice: nothing more to do, nothing changed.
    let out = w
        .run(&moto.url, &["restore", &incident, "--yes", "--json"], &[])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    assert_eq!(r["restored"], json!([]));
    assert_eq!(r["already_restored"], 7);
    assert_eq!(iam_state(&iam).await, before);

    // An unknown incident is a usage error.
    let out = w
        .run(
            &moto.url,
            &["restore", "inc-20000101-000000-0000", "--yes"],
            &[],
        )
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("no incident"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_a_lockout_that_leaves_no_exempt_principal() {
    let moto = moto_with_policies();
    let iam = aws_sdk_iam::Client::new(&moto.sdk("us-east-1").await);
    let deny = seed_iam(&iam).await;
    let before = iam_state(&iam).await;
    for exempt in ["", "\"nobody-here\""] {
        let w = Workdir::new(&config(exempt, &deny, ""));
        let out = w.run(&moto.url, &["lockout", "--yes", "--json"], &[]).await;
        assert_eq!(out.code, 1, "{out:?}");
        let msg = out.json()["accounts"][0]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            msg.contains("refusing to lock out account 123456789012")
                && msg.contains("no break-glass principal"),
            "{msg}"
        );
        assert_eq!(iam_state(&iam).await, before);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_or_unwritable_journal_changes_nothing() {
    let moto = moto_with_policies();
    let iam = aws_sdk_iam::Client::new(&moto.sdk("us-east-1").await);
    let deny = seed_iam(&iam).await;
    let before = iam_state(&iam).await;
    let sdk = moto.sdk("us-east-1").await;
    launch(&sdk, 2, &[], false).await;

    let w = Workdir::new(&config("\"breakglass\"", &deny, ""));
    std::fs::write(w.path("journal.db"), vec![0x42u8; 8192]).unwrap();
    for args in [&["lockout", "--yes"][..], &["halt", "--yes"][..]] {
        let out = w.run(&moto.url, args, &[]).await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains("journal.db"), "{out:?}");
    }
    let w =
        Workdir::new(&config("\"breakglass\"", &deny, "").replace("journal.db", "gone/journal.db"));
    let out = w.run(&moto.url, &["lockout", "--yes"], &[]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("does not exist"), "{out:?}");
    assert_eq!(iam_state(&iam).await, before);
    assert_eq!(count(&sdk, "running").await, 2);
}

// ----- through `runaway serve`: crashes --------------------------------------------------------

fn serve_config(deny: &str, grace: &str, topic: &str) -> String {
    toml(
        "\"breakglass\"",
        deny,
        &format!("check_every = \"1h\"\ngrace_period = \"{grace}\""),
    )
    .slack(&[APPROVER])
    .notify(topic)
    .into()
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_in_the_grace_period_it_acts_once_at_the_deadline_and_restore_undoes_it_all() {
    let moto = moto_with_policies();
    let sdk = moto.sdk("us-east-1").await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let deny = seed_iam(&iam).await;
    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name("t")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    launch(&sdk, 3, &[], false).await;
    let iam_before = iam_state(&iam).await;
    let slack = SlackStandIn::start().await;
    let w = Workdir::new(&serve_config(&deny, "8s", &topic));

    let first = Serve::start(&w, &moto.url, &slack).await;
    let incident = approve_value(&slack.wait_for("chat.postMessage", 20, |_| true).await);
    first.stop("-KILL").await;
    assert_eq!(count(&sdk, "running").await, 3);
    assert_eq!(iam_state(&iam).await, iam_before);

    let second = Serve::start(&w, &moto.url, &slack).await;
    let done = slack
        .wait_for("chat.update", 40, |b| {
            text_of(b).contains("stopped 3 instances")
        })
        .await;
    assert!(
        text_of(&done).contains("access keys set Inactive"),
        "{done}"
    );
    assert_eq!(count(&sdk, "stopped").await, 3);
    assert_ne!(iam_state(&iam).await, iam_before);
    assert_executed_at_its_deadline(&w.path("journal.db"), &incident);
    second.stop("-KILL").await;

    let out = w
        .run(
            &moto.url,
            &["restore", &incident, "--start-instances", "--yes", "--json"],
            &[],
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(count(&sdk, "running").await, 3);
    assert_eq!(iam_state(&iam).await, iam_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_in_the_middle_of_the_actions_it_finishes_without_repeating_and_restore_undoes_it_all()
 {
    let moto = moto_with_policies();
    let sdk = moto.sdk("us-east-1").await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let deny = seed_iam(&iam).await;
    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name("t")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    auto_scaling_group(&sdk, "web", 2).await;
    launch(&sdk, 248, &[], false).await;
    let iam_before = iam_state(&iam).await;
    let slack = SlackStandIn::start().await;
    let w = Workdir::new(&serve_config(&deny, "2s", &topic));

    // A slow AWS: each StopInstances call is held 3 s. Killed while the second batch is held.
    let proxy = RefusingProxy::start_with_delay(&moto.url, vec![], Duration::from_secs(3));
    let first = Serve::start(&w, &proxy.url, &slack).await;
    let incident = approve_value(&slack.wait_for("chat.postMessage", 20, |_| true).await);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while proxy.stops_seen.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the halt never reached its second batch"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.stop("-KILL").await;
    // The call the guard was waiting on still reaches AWS, as it would: let it land.
    while proxy.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let db = rusqlite::Connection::open(w.path("journal.db")).unwrap();
    let status: String = db
        .query_row(
            "SELECT status FROM incidents WHERE id = ?1",
            [&incident],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        status, "expired",
        "killed after the decision, before the end"
    );
    assert!(count(&sdk, "running").await > 0);

    // Restarted (AWS fast again): it finishes what was left, once.
    let second = Serve::start(&w, &moto.url, &slack).await;
    slack
        .wait_for("chat.update", 60, |b| {
            text_of(b).contains("deny policies attached")
        })
        .await;
    let status: String = db
        .query_row(
            "SELECT status FROM incidents WHERE id = ?1",
            [&incident],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "executed");
    assert_eq!(count(&sdk, "running").await, 0);
    assert_eq!(count(&sdk, "stopped").await, 250);
    let twice: i64 = db
        .query_row(
            "SELECT count(*) FROM (SELECT target FROM changes WHERE incident_id = ?1 AND action = 'stop_instance' AND status = 'done' GROUP BY target HAVING count(*) > 1)",
            [&incident],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(twice, 0, "an instance was stopped twice");
    let suspended: i64 = db
        .query_row("SELECT count(*) FROM changes WHERE incident_id = ?1 AND action = 'suspend_processes' AND status = 'done'", [&incident], |r| r.get(0))
        .unwrap();
    assert_eq!(suspended, 1, "the group was suspended once");
    second.stop("-KILL").await;

    // Restore: every instance it stopped runs again, the group's processes are resumed, IAM is
    // as before.
    let out = w
        .run(
            &moto.url,
            &["restore", &incident, "--start-instances", "--yes", "--json"],
            &[],
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(count(&sdk, "running").await, 250);
    assert_eq!(iam_state(&iam).await, iam_before);
    let group = asg.describe_auto_scaling_groups().send().await.unwrap();
    assert!(
        group.auto_scaling_groups()[0]
            .suspended_processes()
            .is_empty(),
        "{:?}",
        group.auto_scaling_groups()[0].suspended_processes()
    );
}
