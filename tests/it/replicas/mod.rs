//! Two real `runaway serve` replicas sharing one DynamoDB journal on the emulator (moto served
//! one request at a time, so that its conditional writes are atomic as AWS's are; see
//! `Moto::start_serial`), with a 3-second lease (`RUNAWAY_LEASE_TTL_SECS`) instead of 30 so the
//! test waits seconds, not minutes.

use chrono::{DateTime, Utc};
use runawaytrain::adapters::journal::DynamoJournal;
use runawaytrain::core::change::{ChangeKind, ChangeStatus};
use serde_json::Value;

use crate::common::config::{APPROVER, Toml};
use crate::common::slack::{SlackStandIn, approve_value, text_of};
use crate::common::*;

mod races;

const TABLE: &str = "runawaytrain-journal";

fn config(topic: &str) -> String {
    Toml::new()
        .guard("check_every = \"1h\"\ngrace_period = \"10s\"")
        .section(
            "journal",
            &format!("backend = \"dynamodb\"\ntable = \"{TABLE}\""),
        )
        .slack(&[APPROVER])
        .notify(topic)
        .payer(&["us-east-1"], "max_running_instances = 0")
        .into()
}

async fn replica(w: &Workdir, endpoint: &str, slack: &SlackStandIn, name: &str) -> Serve {
    Serve::start_with_env(
        w,
        endpoint,
        slack,
        &[("RUNAWAY_REPLICA", name), ("RUNAWAY_LEASE_TTL_SECS", "3")],
    )
    .await
}

/// The emulator (serial), a topic, `n` running instances, the journal's table, Slack, and the
/// counting stand-in the replicas reach AWS through.
pub(super) async fn world(
    n: usize,
    slow_stops: std::time::Duration,
) -> (
    Moto,
    aws_config::SdkConfig,
    Workdir,
    SlackStandIn,
    RefusingProxy,
) {
    let moto = Moto::start_serial();
    let sdk = moto.sdk("us-east-1").await;
    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name("t")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    launch(&sdk, n, &[], false).await;
    let w = Workdir::new(&config(&topic));
    let init = w.run(&moto.url, &["journal", "init"], &[]).await;
    assert_eq!(init.code, 0, "{init:?}");
    let slack = SlackStandIn::start().await;
    let proxy = RefusingProxy::start_with_delay(&moto.url, Vec::new(), slow_stops);
    (moto, sdk, w, slack, proxy)
}

async fn health(serve: &Serve) -> (u16, Value) {
    let r = reqwest::get(format!("{}/healthz", serve.url))
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_leader_killed_in_the_grace_period_the_follower_acts_at_the_original_deadline_once() {
    let (moto, sdk, w, slack, _) = world(3, std::time::Duration::ZERO).await;
    let ids: Vec<String> = states(&sdk).await.into_keys().collect();
    let a = replica(&w, &moto.url, &slack, "replica-a").await;
    let incident = approve_value(&slack.wait_for("chat.postMessage", 20, |_| true).await);
    let b = replica(&w, &moto.url, &slack, "replica-b").await;
    let (code, h) = health(&b).await;
    assert_eq!(code, 200, "a follower is healthy: {h}");
    assert_eq!(
        (h["lease"]["role"].as_str(), h["lease"]["holder"].as_str()),
        (Some("follower"), Some("replica-a")),
        "{h}"
    );
    let (_, h) = health(&a).await;
    assert_eq!(h["lease"]["role"], "leader", "{h}");

    a.stop("-KILL").await;
    assert_eq!(
        count(&sdk, "running").await,
        3,
        "nothing done before the deadline"
    );
    let done = slack
        .wait_for("chat.update", 40, |m| {
            text_of(m).contains("stopped 3 instances")
        })
        .await;
    assert!(text_of(&done).contains("stopped 3 instances"), "{done}");
    assert_eq!(count(&sdk, "stopped").await, 3);
    let (_, h) = health(&b).await;
    assert_eq!(
        (h["lease"]["role"].as_str(), h["lease"]["holder"].as_str()),
        (Some("leader"), Some("replica-b")),
        "{h}"
    );

    // From the shared journal: the deadline the leader set held, and each instance was
    // journaled stopped exactly once.
    let journal = DynamoJournal::open_with(TABLE, &sdk).unwrap();
    let row = journal.get_incident(&incident).unwrap().unwrap();
    let deadline: DateTime<Utc> = row.deadline.expect("the deadline A set");
    let decided = row.decided_at.expect("decided");
    assert!(
        decided >= deadline && decided - deadline < chrono::Duration::seconds(4),
        "acted at the original deadline: {deadline} / {decided}"
    );
    let stops: Vec<_> = journal
        .changes(&incident)
        .unwrap()
        .into_iter()
        .filter(|c| c.action == ChangeKind::StopInstance)
        .collect();
    let mut targets: Vec<&str> = stops.iter().map(|c| c.target.as_str()).collect();
    targets.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(targets, expected, "each instance once");
    assert!(stops.iter().all(|c| c.status == ChangeStatus::Done));
    assert_eq!(
        journal
            .incidents_in(&[runawaytrain::core::incident::Status::Open])
            .unwrap()
            .len(),
        0,
        "no second incident"
    );
    b.stop("-TERM").await;
}

/// A lease length that is not whole seconds from 3 to 300 is refused at start, named, rather
/// than silently replaced by the default.
#[tokio::test(flavor = "multi_thread")]
async fn a_bad_lease_length_is_exit_2_naming_it() {
    let (moto, _sdk, w, slack, _) = world(0, std::time::Duration::ZERO).await;
    for bad in ["5m", "2", "301", ""] {
        let out = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            w.run(
                &moto.url,
                &["serve"],
                &[
                    ("RUNAWAY_LEASE_TTL_SECS", bad),
                    ("RUNAWAY_SLACK_API_URL", &slack.api),
                    ("SLACK_BOT_TOKEN", "xoxb-test-token"),
                    ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
                    ("RUNAWAY_LISTEN", &format!("127.0.0.1:{}", free_port())),
                ],
            ),
        )
        .await
        .unwrap_or_else(|_| panic!("serve ran with RUNAWAY_LEASE_TTL_SECS={bad:?}"));
        assert_eq!(out.code, 2, "{bad:?}: {out:?}");
        assert!(
            out.stderr.contains("RUNAWAY_LEASE_TTL_SECS") && out.stderr.contains("3 to 300"),
            "{bad:?}: {out:?}"
        );
    }
}
