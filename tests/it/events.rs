//! The event path against the emulator: EventBridge rules and an SQS queue with a dead-letter
//! queue built on moto (`common::events`), the bot's event step driven directly, and `runaway
//! serve` end to end. moto emits no events when instances launch: the tests launch instances
//! and put the event EC2 would send, in its documented format.

use std::time::Duration;

use crate::common::bot::*;
use crate::common::config::{APPROVER, Toml};
use crate::common::events::*;
use crate::common::*;
use chrono::Utc;
use runawaytrain::core::events::Outcome;
use std::sync::atomic::Ordering;

const STATE_CHANGE: &str = "EC2 Instance State-change Notification";

fn config(topic: &str, queue_url: &str) -> String {
    Toml::new()
        .guard("check_every = \"5m\"\ngrace_period = \"10m\"")
        .slack(&[APPROVER])
        .notify(topic)
        .events(queue_url)
        .payer(&["us-east-1", "eu-west-1"], "max_running_instances = 2")
        .into()
}

fn running(id: &str, account: &str, instance: &str) -> String {
    envelope(
        id,
        account,
        "eu-west-1",
        STATE_CHANGE,
        serde_json::json!({"instance-id": instance, "state": "running"}),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_launch_event_checks_its_account_and_alerts_at_once() {
    let (h, pipe) = BotHarness::with_events(3, 30, config).await;
    let ids = launch(&h.moto.sdk("eu-west-1").await, 3, &[], false).await;
    // As EC2 would: one event per instance, in eu-west-1, forwarded to the home region's bus.
    put_state_changes(&h.moto, "eu-west-1", &ids, "running").await;

    let outcomes = h.bot.events_step(Utc::now()).await;
    // One check for the burst: the first event starts it, the others join it.
    assert_eq!(
        outcomes,
        [Outcome::Check, Outcome::Coalesced, Outcome::Coalesced]
    );
    assert_eq!(h.bot.metrics.event_checks.load(Ordering::Relaxed), 1);
    // The alert went out without waiting for the periodic check.
    assert_eq!(h.bot.metrics.checks.load(Ordering::Relaxed), 0);
    let messages = h.slack.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(
        crate::common::slack::text_of(&messages[0]).contains('3'),
        "{}",
        crate::common::slack::text_of(&messages[0])
    );
    let incident = &h.bot.journal.recent_incidents(10).unwrap()[0];
    assert_eq!(incident.account_id.as_deref(), Some(PAYER));
    assert_eq!(incident.observed.as_ref().unwrap().running_instances, 3);
    // Journaled, then deleted.
    assert_eq!(pipe.depth(&pipe.queue_url).await, 0);
    let rows = h
        .bot
        .journal
        .events_since(Utc::now() - chrono::Duration::hours(1))
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().all(|r| r.account.as_deref() == Some(PAYER)
            && r.detail_type.as_deref() == Some(STATE_CHANGE))
    );
    let mut instances: Vec<String> = rows
        .iter()
        .map(|r| {
            r.detail.as_ref().unwrap()["instance-id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    instances.sort();
    let mut launched = ids.clone();
    launched.sort();
    assert_eq!(instances, launched);

    // Events of a later launch, while the account is already alerted, update the same alert.
    launch(&h.moto.sdk("eu-west-1").await, 1, &[], false).await;
    put_state_changes(&h.moto, "eu-west-1", &["i-later".to_owned()], "pending").await;
    tokio::time::sleep(runawaytrain::app::bot::MIN_SPACING).await;
    assert_eq!(h.bot.events_step(Utc::now()).await, [Outcome::Check]);
    assert_eq!(h.bot.metrics.event_checks.load(Ordering::Relaxed), 2);
    let incidents = h.bot.journal.recent_incidents(10).unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].observed.as_ref().unwrap().running_instances, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_delivered_twice_is_journaled_once_and_checks_once_even_after_a_restart() {
    let (h, pipe) = BotHarness::with_events(3, 30, config).await;
    launch(&h.moto.sdk("eu-west-1").await, 3, &[], false).await;
    let body = running("6a7e8feb-b491-4cf7-a9f1-bf3703467718", PAYER, "i-0abc");
    pipe.send(&body).await;
    pipe.send(&body).await;
    assert_eq!(
        h.bot.events_step(Utc::now()).await,
        [Outcome::Check, Outcome::Duplicate]
    );
    assert_eq!(h.bot.metrics.event_checks.load(Ordering::Relaxed), 1);
    assert_eq!(h.bot.metrics.events_duplicate.load(Ordering::Relaxed), 1);
    assert_eq!(pipe.depth(&pipe.queue_url).await, 0, "both deleted");
    assert_eq!(h.slack.messages().len(), 1);

    // The guard restarts; SQS delivers the event once more (at least once).
    let again = h.restarted().await;
    pipe.send(&body).await;
    assert_eq!(again.events_step(Utc::now()).await, [Outcome::Duplicate]);
    assert_eq!(again.metrics.event_checks.load(Ordering::Relaxed), 0);
    assert_eq!(h.slack.messages().len(), 1);
    let rows = again
        .journal
        .events_since(Utc::now() - chrono::Duration::hours(1))
        .unwrap();
    let outcomes: Vec<Outcome> = rows.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Check, Outcome::Duplicate, Outcome::Duplicate]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_messages_are_problems_that_reach_the_dead_letter_queue_and_stop_nothing() {
    let (h, pipe) = BotHarness::with_events(2, 30, config).await;
    let bad = [
        "not json at all".to_owned(),
        envelope(
            "e-unknown",
            PAYER,
            "eu-west-1",
            "Some Other Event",
            serde_json::json!({}),
        ),
        envelope(
            "e-missing",
            PAYER,
            "eu-west-1",
            STATE_CHANGE,
            serde_json::json!({"state": "running"}),
        ),
    ];
    for body in &bad {
        pipe.send(body).await;
    }
    // A good event among them is taken as usual.
    pipe.send(&running("e-good", PAYER, "i-0abc")).await;
    let first = h.bot.events_step(Utc::now()).await;
    assert_eq!(first.iter().filter(|o| **o == Outcome::Problem).count(), 3);
    assert_eq!(first.iter().filter(|o| **o == Outcome::Check).count(), 1);
    // Released at once: the second receive is the last one the redrive policy allows.
    let second = h.bot.events_step(Utc::now()).await;
    assert_eq!(second, [Outcome::Problem; 3]);
    // SQS moves them to the dead-letter queue on the next receive.
    assert_eq!(h.bot.events_step(Utc::now()).await, []);
    assert_eq!(pipe.depth(&pipe.queue_url).await, 0);
    assert_eq!(pipe.depth(&pipe.dlq_url).await, 3);
    assert_eq!(h.bot.metrics.event_problems.load(Ordering::Relaxed), 6);

    let rows = h
        .bot
        .journal
        .events_since(Utc::now() - chrono::Duration::hours(1))
        .unwrap();
    let problems: Vec<_> = rows
        .iter()
        .filter(|r| r.outcome == Outcome::Problem)
        .collect();
    assert_eq!(problems.len(), 3, "one row per message: {rows:#?}");
    assert!(
        problems
            .iter()
            .all(|p| p.receives == 2 && p.id == p.message_id)
    );
    let notes: Vec<&str> = problems.iter().filter_map(|p| p.note.as_deref()).collect();
    assert!(notes.iter().any(|n| n.contains("not JSON")), "{notes:?}");
    assert!(
        notes.iter().any(|n| n.contains("unknown detail-type")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("detail.instance-id")),
        "{notes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_of_an_account_not_watched_is_journaled_and_ignored() {
    let (h, pipe) = BotHarness::with_events(3, 30, config).await;
    pipe.send(&running("e-stranger", "999999999999", "i-0abc"))
        .await;
    assert_eq!(h.bot.events_step(Utc::now()).await, [Outcome::Ignored]);
    assert_eq!(h.bot.metrics.event_checks.load(Ordering::Relaxed), 0);
    assert!(h.slack.messages().is_empty());
    assert_eq!(pipe.depth(&pipe.queue_url).await, 0);
    let rows = h
        .bot
        .journal
        .events_since(Utc::now() - chrono::Duration::hours(1))
        .unwrap();
    assert_eq!(rows[0].account.as_deref(), Some("999999999999"));
    assert_eq!(rows[0].note.as_deref(), Some("account not watched"));
}

#[tokio::test(flavor = "multi_thread")]
async fn events_taken_by_a_guard_that_died_come_back_after_their_visibility_timeout() {
    let (h, pipe) = BotHarness::with_events(5, 1, config).await;
    launch(&h.moto.sdk("eu-west-1").await, 3, &[], false).await;
    pipe.send(&running("e-inflight", PAYER, "i-0abc")).await;
    // A guard receives it and dies before journaling or deleting it.
    let taken = pipe
        .sqs
        .receive_message()
        .queue_url(&pipe.queue_url)
        .send()
        .await
        .unwrap();
    assert_eq!(taken.messages().len(), 1);
    assert_eq!(h.bot.events_step(Utc::now()).await, [], "in flight");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(h.bot.events_step(Utc::now()).await, [Outcome::Check]);
    assert_eq!(h.slack.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_that_cannot_be_reached_fails_the_step_and_changes_nothing() {
    let (h, pipe) = BotHarness::with_events(3, 30, config).await;
    pipe.send(&running("e-1", PAYER, "i-0abc")).await;
    // The same queue, through an endpoint where nothing listens.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&dead)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    let aws = runawaytrain::adapters::aws::Aws::new(
        sdk,
        &runawaytrain::config::RegionName::parse("us-east-1").unwrap(),
    );
    let queue =
        runawaytrain::adapters::aws::SqsQueue::new(&aws, h.bot.config.events.as_ref().unwrap());
    let settings = runawaytrain::ports::QueueSettings {
        max_receive_count: Some(3),
        visibility_timeout: Duration::from_secs(30),
    };
    let err = h
        .bot
        .0
        .events_step(&queue, &settings, Duration::from_secs(1), Utc::now())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("sqs:ReceiveMessage") && text.contains("cannot reach AWS"),
        "{text}"
    );
    assert!(!text.contains("testing"), "no credential in errors: {text}");
    assert!(h.bot.metrics.last_receive().is_none());
    assert_eq!(
        pipe.depth(&pipe.queue_url).await,
        1,
        "the event waits on the queue"
    );
}

/// `runaway serve` end to end: the periodic check runs once at start and not again for five
/// minutes, so only the event path can raise this alert.
#[tokio::test(flavor = "multi_thread")]
async fn serve_alerts_on_a_launch_event_within_seconds_and_lists_it() {
    let moto = Moto::start();
    let topic = topic(&moto).await;
    let pipe = event_pipe(&moto, 3, 30).await;
    let w = Workdir::new(&config(&topic, &pipe.queue_url));
    let slack = crate::common::slack::SlackStandIn::start().await;
    let serve = Serve::start(&w, &moto.url, &slack).await;
    let health = wait_for_health(&serve, |h| !h["last_check"].is_null()).await;
    assert_eq!(health["status"], "ok", "{health}");

    let launched = std::time::Instant::now();
    let ids = launch(&moto.sdk("eu-west-1").await, 3, &[], false).await;
    put_state_changes(&moto, "eu-west-1", &ids, "running").await;
    slack.wait_for("chat.postMessage", 15, |_| true).await;
    let latency = launched.elapsed();
    assert!(latency < Duration::from_secs(15), "{latency:?}");
    let health = wait_for_health(&serve, |h| !h["events"]["last_receive"].is_null()).await;
    assert_eq!(health["status"], "ok", "{health}");
    // Any check that joined the burst runs a second after the first.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let metrics = metrics_of(&serve).await;
    assert!(
        metrics.contains("runaway_events_received_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("runaway_checks_total 1\n"),
        "one periodic check only: {metrics}"
    );

    let out = w.run(&moto.url, &["events", "--json"], &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let events = out.json()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 3);
    let outcomes: Vec<&str> = events
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    // A long poll returns once a message is there: the burst may come in two receives, and a
    // check already running when the rest arrives is followed by one more, a second later.
    let checks = outcomes.iter().filter(|o| **o == "check").count();
    assert!(
        (1..=2).contains(&checks) && outcomes[0] == "check",
        "{outcomes:?}"
    );
    assert!(
        metrics.contains(&format!("runaway_event_checks_total {checks}\n")),
        "{metrics}"
    );
    for key in [
        "id",
        "account",
        "region",
        "detail_type",
        "time",
        "received_at",
        "outcome",
    ] {
        assert!(events[0].get(key).is_some(), "{key} in {}", events[0]);
    }
    let text = w.run(&moto.url, &["events", "--since", "1h"], &[]).await;
    assert_eq!(text.code, 0);
    assert!(
        text.stdout.contains(STATE_CHANGE) && text.stdout.contains("3 messages"),
        "{}",
        text.stdout
    );
    let bad = w.run(&moto.url, &["events", "--since", "soon"], &[]).await;
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--since"), "{}", bad.stderr);
    serve.stop("-TERM").await;
}

/// The queue is down: the loop backs off and goes on, `/healthz` says when it last read, and
/// the periodic checks go on regardless.
#[tokio::test(flavor = "multi_thread")]
async fn serve_goes_on_checking_while_the_queue_is_down() {
    let moto = Moto::start();
    let topic = topic(&moto).await;
    let pipe = event_pipe(&moto, 3, 30).await;
    let w = Workdir::new(&config(&topic, &pipe.queue_url));
    let slack = crate::common::slack::SlackStandIn::start().await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let serve =
        Serve::start_with_env(&w, &moto.url, &slack, &[("AWS_ENDPOINT_URL_SQS", &dead)]).await;
    let health = wait_for_health(&serve, |h| !h["last_check"].is_null()).await;
    assert!(health["events"]["last_receive"].is_null(), "{health}");
    assert_eq!(health["events"]["loop"]["running"], true, "{health}");
    // Backing off: 1 s, then up to 2 s, ...: a few failures within seconds, not a hot loop.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let metrics = metrics_of(&serve).await;
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("runaway_event_receive_failures_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=6).contains(&failures), "{metrics}");
    assert!(metrics.contains("runaway_checks_total 1\n"), "{metrics}");
    serve.stop("-TERM").await;
}

async fn metrics_of(serve: &Serve) -> String {
    reqwest::get(format!("{}/metrics", serve.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn wait_for_health(
    serve: &Serve,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..150 {
        let body: serde_json::Value = reqwest::get(format!("{}/healthz", serve.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ready(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("runaway serve never got ready");
}

/// A periodic check that started before an event's check must not undo what the newer one
/// decided: its observation is older. Driven with chosen clocks: the event's check at `t1`, then
/// a check that started at `t0 < t1` and saw the instances gone.
#[tokio::test(flavor = "multi_thread")]
async fn a_check_older_than_the_one_that_decided_decides_nothing() {
    let (h, _pipe) = BotHarness::with_events(3, 30, config).await;
    let ids = launch(&h.moto.sdk("eu-west-1").await, 3, &[], false).await;
    let t1 = Utc::now();
    h.bot.0.check_account(PAYER, t1).await.unwrap().unwrap();
    h.bot.idle().await;
    let incident = h.bot.journal.recent_incidents(10).unwrap()[0].clone();
    assert_eq!(incident.status, runawaytrain::core::incident::Status::Open);

    aws_sdk_ec2::Client::new(&h.moto.sdk("eu-west-1").await)
        .terminate_instances()
        .set_instance_ids(Some(ids))
        .send()
        .await
        .unwrap();
    let older = h
        .bot
        .check_step(t1 - chrono::Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!(older.accounts[0].running_instances, 0);
    let row = h.bot.journal.get_incident(&incident.id).unwrap().unwrap();
    assert_eq!(
        row.status,
        runawaytrain::core::incident::Status::Open,
        "an older check resolved it"
    );

    h.bot
        .check_step(t1 + chrono::Duration::seconds(1))
        .await
        .unwrap();
    let row = h.bot.journal.get_incident(&incident.id).unwrap().unwrap();
    assert_eq!(row.status, runawaytrain::core::incident::Status::Resolved);
}
