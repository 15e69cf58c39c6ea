//! What two replicas must never do twice, or do without the lease: a leader frozen past its
//! lease and woken, a press to the follower at the leader's deadline, both replicas restarted
//! in a grace period, and DynamoDB out of reach. Every StopInstances call passes through a
//! counting stand-in in front of moto (`RefusingProxy`, refusing nothing), so "once" is
//! counted per instance at the AWS API, not read from the guard's own journal only.

use std::time::Duration;

use chrono::{DateTime, Utc};
use runawaytrain::adapters::journal::DynamoJournal;
use runawaytrain::core::change::ChangeKind;
use runawaytrain::core::incident::Status;

use super::{TABLE, health, replica, world};
use crate::common::slack::{approve_value, press_body, text_of};
use crate::common::*;

/// Each of the account's instances asked to stop exactly once, and journaled stopped once.
async fn stopped_once(sdk: &aws_config::SdkConfig, proxy: &RefusingProxy, incident: &str) {
    let stops = proxy.stops_of();
    assert_eq!(stops.len(), 3, "{stops:?}");
    assert!(
        stops.values().all(|n| *n == 1),
        "each instance once: {stops:?}"
    );
    assert_eq!(count(sdk, "stopped").await, 3);
    let journal = DynamoJournal::open_with(TABLE, sdk).unwrap();
    let journaled = journal
        .changes(incident)
        .unwrap()
        .into_iter()
        .filter(|c| c.action == ChangeKind::StopInstance)
        .count();
    assert_eq!(journaled, 3);
    assert_eq!(
        journal.recent_incidents(10).unwrap().len(),
        1,
        "one incident"
    );
}

/// The alert's deadline, once its delivery has journaled it (just after Slack took the post).
async fn deadline_of(sdk: &aws_config::SdkConfig, incident: &str) -> DateTime<Utc> {
    let journal = DynamoJournal::open_with(TABLE, sdk).unwrap();
    for _ in 0..100 {
        let row = journal.get_incident(incident).unwrap().unwrap();
        if let Some(deadline) = row.deadline {
            return deadline;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no deadline journaled for the delivered alert {incident}");
}

/// **Halt now** pressed by an approver on `replica`, and the halt's message once it ran.
async fn halt_now_on(replica: &Serve, slack: &crate::common::slack::SlackStandIn, incident: &str) {
    let body = press_body(
        "runaway_approve",
        incident,
        "UAPPROVER1",
        &format!("{}press", slack.responses),
    );
    let answer = replica.signed("/slack/interactions", &body).await;
    assert_eq!(answer.status().as_u16(), 200);
    slack
        .wait_for("chat.update", 40, |m| {
            text_of(m).contains("stopped 3 instances")
        })
        .await;
}

fn signal(serve: &Serve, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &serve.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// A leader frozen (SIGSTOP) past its lease while its alert waits: the follower takes the lease
/// and acts at the deadline; woken (SIGCONT) after that, the old leader finds itself a follower
/// and makes no change: no second StopInstances, no second incident.
#[tokio::test(flavor = "multi_thread")]
async fn a_leader_frozen_past_its_lease_makes_no_change_when_it_wakes() {
    let (_moto, sdk, w, slack, proxy) = world(3, Duration::ZERO).await;
    let a = replica(&w, &proxy.url, &slack, "replica-a").await;
    let incident = approve_value(&slack.wait_for("chat.postMessage", 20, |_| true).await);
    let b = replica(&w, &proxy.url, &slack, "replica-b").await;
    signal(&a, "-STOP");
    let done = slack
        .wait_for("chat.update", 40, |m| {
            text_of(m).contains("stopped 3 instances")
        })
        .await;
    assert!(text_of(&done).contains("stopped 3 instances"), "{done}");
    let (_, h) = health(&b).await;
    assert_eq!(h["lease"]["holder"], "replica-b", "{h}");

    signal(&a, "-CONT");
    // Two of its renewals (every second with a 3-second lease) after it woke.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, h) = health(&a).await;
    assert_eq!(code, 200, "{h}");
    assert_eq!(
        (h["lease"]["role"].as_str(), h["lease"]["holder"].as_str()),
        (Some("follower"), Some("replica-b")),
        "{h}"
    );
    stopped_once(&sdk, &proxy, &incident).await;
    a.stop("-TERM").await;
    b.stop("-TERM").await;
}

/// Halt now pressed on the follower at the very moment the leader's deadline fires: one of
/// them carries the halt out, the other is told it is decided; each instance stopped once.
#[tokio::test(flavor = "multi_thread")]
async fn a_press_to_the_follower_racing_the_leaders_deadline_has_one_winner() {
    let (_moto, sdk, w, slack, proxy) = world(3, Duration::ZERO).await;
    let a = replica(&w, &proxy.url, &slack, "replica-a").await;
    let incident = approve_value(&slack.wait_for("chat.postMessage", 20, |_| true).await);
    let b = replica(&w, &proxy.url, &slack, "replica-b").await;
    let (_, h) = health(&b).await;
    assert_eq!(h["lease"]["role"], "follower", "{h}");

    let deadline = deadline_of(&sdk, &incident).await;
    let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    halt_now_on(&b, &slack, &incident).await;
    // Give a second carrier, if there were one, time to call AWS.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stopped_once(&sdk, &proxy, &incident).await;
    let journal = DynamoJournal::open_with(TABLE, &sdk).unwrap();
    let row = journal.get_incident(&incident).unwrap().unwrap();
    assert!(matches!(row.status, Status::Executed), "{:?}", row.status);
    let decided_by = row.decided_by.unwrap();
    assert!(
        decided_by == "UAPPROVER1" || decided_by.contains("deadline"),
        "{decided_by}"
    );
    let presses = journal.presses(&incident).unwrap();
    assert_eq!(presses.len(), 1, "the press journaled once: {presses:?}");
    a.stop("-TERM").await;
    b.stop("-TERM").await;
}

/// Both replicas stopped in the grace period and started again together: the alert is not
/// posted again, its deadline holds, and the halt happens once.
#[tokio::test(flavor = "multi_thread")]
async fn both_replicas_restarted_in_the_grace_period_redo_nothing() {
    let (_moto, sdk, w, slack, proxy) = world(3, Duration::ZERO).await;
    let a = replica(&w, &proxy.url, &slack, "replica-a").await;
    let incident = approve_value(&slack.wait_for("chat.postMessage", 20, |_| true).await);
    let b = replica(&w, &proxy.url, &slack, "replica-b").await;
    let deadline = deadline_of(&sdk, &incident).await;
    a.stop("-TERM").await;
    b.stop("-TERM").await;
    let (a, b) = (
        replica(&w, &proxy.url, &slack, "replica-a").await,
        replica(&w, &proxy.url, &slack, "replica-b").await,
    );
    slack
        .wait_for("chat.update", 40, |m| {
            text_of(m).contains("stopped 3 instances")
        })
        .await;
    assert_eq!(
        slack.calls_to("chat.postMessage").len(),
        1,
        "the alert is not posted again"
    );
    assert_eq!(
        deadline_of(&sdk, &incident).await,
        deadline,
        "the deadline held"
    );
    let decided = DynamoJournal::open_with(TABLE, &sdk)
        .unwrap()
        .get_incident(&incident)
        .unwrap()
        .unwrap()
        .decided_at
        .unwrap();
    assert!(
        decided >= deadline,
        "not before its deadline: {decided} / {deadline}"
    );
    stopped_once(&sdk, &proxy, &incident).await;
    a.stop("-TERM").await;
    b.stop("-TERM").await;
}

/// DynamoDB out of reach (every connection to it cut) in the grace period: the leader cannot
/// renew, steps down and says so (`/healthz` 503, the lease's error), and lets its deadline pass
/// without acting. Reachable again, it takes the lease back and carries the halt out once.
#[tokio::test(flavor = "multi_thread")]
async fn with_dynamodb_out_of_reach_the_leader_steps_down_and_never_acts_without_the_lease() {
    let (moto, sdk, w, slack, proxy) = world(3, Duration::ZERO).await;
    let dynamodb = Cuttable::start(&moto.url);
    let a = Serve::start_with_env(
        &w,
        &proxy.url,
        &slack,
        &[
            ("RUNAWAY_REPLICA", "replica-a"),
            ("RUNAWAY_LEASE_TTL_SECS", "3"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &dynamodb.url),
        ],
    )
    .await;
    let incident = approve_value(&slack.wait_for("chat.postMessage", 20, |_| true).await);
    let deadline = deadline_of(&sdk, &incident).await;
    dynamodb.cut();
    let mut stepped_down = None;
    for _ in 0..50 {
        let (code, h) = health(&a).await;
        if code == 503 {
            stepped_down = Some(h);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let h = stepped_down.expect("/healthz says 503 once the lease cannot be renewed");
    assert_ne!(h["lease"]["role"], "leader", "{h}");
    assert!(h.to_string().contains("lease"), "{h}");

    // The deadline passes; nothing is done without the lease.
    let past = (deadline - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(3);
    tokio::time::sleep(past).await;
    assert!(proxy.stops_of().is_empty(), "{:?}", proxy.stops_of());
    assert_eq!(count(&sdk, "running").await, 3);

    dynamodb.mend();
    slack
        .wait_for("chat.update", 40, |m| {
            text_of(m).contains("stopped 3 instances")
        })
        .await;
    // It leads again: the role /healthz reports follows the renewal (every third of the
    // lease's lifetime), so it is read until it says so, within a few seconds.
    let mut seen = health(&a).await;
    for _ in 0..50 {
        if seen.0 == 200 && seen.1["lease"]["role"] == "leader" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        seen = health(&a).await;
    }
    let (code, h) = seen;
    assert_eq!(
        (code, h["lease"]["role"].as_str()),
        (200, Some("leader")),
        "{h}"
    );
    stopped_once(&sdk, &proxy, &incident).await;
    a.stop("-TERM").await;
}

/// Halt now pressed on the follower long before the deadline, AWS slow to answer (every
/// StopInstances held 2 s, so the halt spans several of the leader's deadline steps): the
/// press is a claim, and the approved halt is carried out once, by the leader; each instance
/// is asked to stop once.
#[tokio::test(flavor = "multi_thread")]
async fn a_halt_approved_on_the_follower_is_carried_out_once() {
    let (_moto, sdk, w, slack, proxy) = world(3, Duration::from_secs(2)).await;
    let a = replica(&w, &proxy.url, &slack, "replica-a").await;
    let incident = approve_value(&slack.wait_for("chat.postMessage", 20, |_| true).await);
    let b = replica(&w, &proxy.url, &slack, "replica-b").await;
    let (_, h) = health(&b).await;
    assert_eq!(h["lease"]["role"], "follower", "{h}");
    halt_now_on(&b, &slack, &incident).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stopped_once(&sdk, &proxy, &incident).await;
    let row = DynamoJournal::open_with(TABLE, &sdk)
        .unwrap()
        .get_incident(&incident)
        .unwrap()
        .unwrap();
    assert_eq!(row.decided_by.as_deref(), Some("UAPPROVER1"));
    assert!(
        row.decided_at.unwrap() < row.deadline.unwrap(),
        "before the deadline"
    );
    a.stop("-TERM").await;
    b.stop("-TERM").await;
}
