//! GuardDuty findings driving the guard: GuardDuty's sample findings put on moto's EventBridge
//! as GuardDuty sends them (moto has no GuardDuty), through its SQS queue to the bot's event
//! step; the instance they name seeded in moto and checked after the response.

use chrono::{Duration, Utc};

use crate::common::bot::*;
use crate::common::config::{APPROVER, Toml};
use crate::common::events::*;
use crate::common::isolation::*;
use crate::common::slack::{button_value, text_of};
use crate::common::*;
use runawaytrain::core::events::Outcome;
use runawaytrain::core::incident::{Press, Status};

const BACKDOOR: &str = "backdoor-ec2-cc-activity-dns";
const KEY: &str = "unauthorized-access-iam-user-malicious-ip-caller";

fn config(rules: &str) -> impl FnOnce(&str, &str) -> String {
    let rules = rules.to_owned();
    move |topic, queue_url| {
        Toml::new()
            .guard("grace_period = \"10m\"")
            .slack(&[APPROVER])
            .notify(topic)
            .events(queue_url)
            .payer(&["us-east-1"], &rules)
            .into()
    }
}

const ISOLATE_BACKDOORS: &str = r#"
[[guardduty]]
finding = "Backdoor:EC2/*"
min_severity = 7.0
response = "isolate"
grace_period = "2m"
"#;

/// GuardDuty's sample finding about the seeded instance.
fn about(name: &str, instance: &str, severity: f64, count: u64) -> serde_json::Value {
    let mut f = sample_finding(name, severity, count);
    f["resource"]["instanceDetails"]["instanceId"] = instance.into();
    f
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backdoor_finding_isolates_at_the_deadline_and_a_repeat_updates_the_same_incident() {
    let (h, _pipe) = BotHarness::with_events(3, 30, config(ISOLATE_BACKDOORS)).await;
    let sdk = h.moto.sdk("us-east-1").await;
    let c = compromised_instance(&sdk).await;
    let t0 = Utc::now();

    put_finding(&h.moto, "us-east-1", &about(BACKDOOR, &c.instance, 8.0, 1)).await;
    assert_eq!(h.bot.events_step(t0).await, [Outcome::Incident]);
    let incidents = h.bot.journal.recent_incidents(10).unwrap();
    assert_eq!(incidents.len(), 1);
    let incident = incidents[0].clone();
    assert_eq!(
        (incident.kind.as_str(), incident.status),
        ("finding", Status::Open)
    );
    let messages = h.slack.messages();
    assert_eq!(messages.len(), 1);
    let alert = text_of(&messages[0]);
    for said in [
        "Command and Control server domain name queried",
        "Backdoor:EC2/C&CActivity.B!DNS",
        "8 (High)",
        c.instance.as_str(),
        PAYER,
        "us-east-1",
    ] {
        assert!(alert.contains(said), "{said} not in {alert}");
    }
    assert_eq!(
        button_value(&messages[0], "runaway_approve").as_deref(),
        Some(incident.id.as_str()),
        "Isolate now"
    );
    assert!(button_value(&messages[0], "runaway_override").is_some());

    // GuardDuty sees it again: the same incident, counted, its message rewritten.
    put_finding(&h.moto, "us-east-1", &about(BACKDOOR, &c.instance, 8.0, 4)).await;
    assert_eq!(h.bot.events_step(t0).await, [Outcome::Incident]);
    assert_eq!(h.bot.journal.recent_incidents(10).unwrap().len(), 1);
    let row = h.bot.journal.get_incident(&incident.id).unwrap().unwrap();
    let f = row.finding.unwrap();
    assert_eq!((f.findings, f.finding.count), (2, 4));
    assert_eq!(h.slack.messages().len(), 1, "no second alert");
    assert!(
        h.slack
            .calls_to("chat.update")
            .iter()
            .any(|c| c.body.to_string().contains("2 finding(s) here"))
    );

    // Nothing before the deadline; isolated at it.
    let deadline = row.deadline.expect("delivered: the grace period runs");
    assert!(
        h.bot
            .deadline_step(deadline - Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(look(&sdk, &c.instance).await.groups, c.groups);
    assert_eq!(
        h.bot.deadline_step(deadline).await.unwrap(),
        std::slice::from_ref(&incident.id)
    );
    let now = look(&sdk, &c.instance).await;
    let (isolation, _, _) = group_named(&sdk, "runaway-isolation").await.unwrap();
    assert_eq!(now.groups, [isolation]);
    assert_eq!(now.state, "running");
    assert_eq!(now.profile, None);
    assert!(now.group_members.is_empty());
    assert!(now.termination_protection);
    assert_eq!(now.tags["runaway:quarantine"], incident.id);
    let row = h.bot.journal.get_incident(&incident.id).unwrap().unwrap();
    assert_eq!(
        (row.status, row.decided_by.as_deref()),
        (Status::Executed, Some("deadline"))
    );
    let last = h.slack.calls_to("chat.update").pop().unwrap();
    assert!(
        last.body.to_string().contains("isolation_group"),
        "{:?}",
        last.body
    );
    let mails = emails(&h.moto);
    assert!(
        mails
            .iter()
            .any(|(s, b)| s.contains("GuardDuty") && b.contains("snapshot")),
        "{mails:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_finding_below_the_minimum_severity_or_of_an_unwatched_account_does_nothing() {
    let (h, pipe) = BotHarness::with_events(3, 30, config(ISOLATE_BACKDOORS)).await;
    let sdk = h.moto.sdk("us-east-1").await;
    let c = compromised_instance(&sdk).await;
    let before = look(&sdk, &c.instance).await;
    put_finding(&h.moto, "us-east-1", &about(BACKDOOR, &c.instance, 5.0, 1)).await;
    assert_eq!(h.bot.events_step(Utc::now()).await, [Outcome::Kept]);
    let mut other = about(BACKDOOR, &c.instance, 9.0, 1);
    other["accountId"] = "999999999999".into();
    pipe.send(&envelope(
        "0c1f6a3e-7d52-4c0e-9a0e-111111111111",
        "999999999999",
        "us-east-1",
        "GuardDuty Finding",
        other,
    ))
    .await;
    assert_eq!(h.bot.events_step(Utc::now()).await, [Outcome::Ignored]);
    let events = h
        .bot
        .journal
        .events_since(Utc::now() - Duration::hours(1))
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.note.as_deref().is_some_and(|n| n.contains("below"))),
        "{events:?}"
    );
    assert!(h.bot.journal.recent_incidents(10).unwrap().is_empty());
    assert!(h.slack.messages().is_empty());
    h.bot
        .deadline_step(Utc::now() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(look(&sdk, &c.instance).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_only_finding_waits_for_a_press_and_isolate_isolates_it() {
    let rules = r#"
[[guardduty]]
finding = "*"
min_severity = 4.0
response = "alert"
"#;
    let (h, _pipe) = BotHarness::with_events(3, 30, config(rules)).await;
    let sdk = h.moto.sdk("us-east-1").await;
    let c = compromised_instance(&sdk).await;
    put_finding(&h.moto, "us-east-1", &about(BACKDOOR, &c.instance, 8.0, 1)).await;
    // A key's finding: its user is offered for lockout.
    put_finding(&h.moto, "us-east-1", &sample_finding(KEY, 8.0, 1)).await;
    let outcomes = h.bot.events_step(Utc::now()).await;
    assert_eq!(outcomes, [Outcome::Incident, Outcome::Incident]);
    let messages = h.slack.messages();
    assert_eq!(messages.len(), 2);
    let (instance_alert, key_alert): (Vec<_>, Vec<_>) = messages
        .iter()
        .partition(|m| text_of(m).contains(&c.instance));
    let id = button_value(instance_alert[0], "runaway_isolate").expect("an Isolate button");
    assert!(
        button_value(instance_alert[0], "runaway_approve").is_none(),
        "alert only"
    );
    assert!(
        button_value(key_alert[0], "runaway_lockout_launchers").is_some(),
        "the key's user can be locked out"
    );
    assert!(button_value(key_alert[0], "runaway_isolate").is_none());

    // No deadline acts on an alert.
    assert!(
        h.bot
            .deadline_step(Utc::now() + Duration::days(2))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(look(&sdk, &c.instance).await.groups, c.groups);
    // Only approvers.
    h.bot
        .press(Press::Isolate, &id, "USTRANGER1", None, Utc::now())
        .await
        .unwrap();
    assert_eq!(look(&sdk, &c.instance).await.groups, c.groups);
    h.bot
        .press(Press::Isolate, &id, "UAPPROVER1", None, Utc::now())
        .await
        .unwrap();
    h.bot.idle().await;
    let now = look(&sdk, &c.instance).await;
    assert_ne!(now.groups, c.groups);
    assert_eq!(now.tags["runaway:quarantine"], id);
    let row = h.bot.journal.get_incident(&id).unwrap().unwrap();
    assert_eq!(
        (row.status, row.decided_by.as_deref()),
        (Status::Executed, Some("UAPPROVER1"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_response_stops_only_that_instance_and_a_gone_one_is_only_reported() {
    let rules = r#"
[[guardduty]]
finding = "Backdoor:EC2/*"
response = "stop"
grace_period = "0s"
"#;
    let (h, _pipe) = BotHarness::with_events(3, 30, config(rules)).await;
    let sdk = h.moto.sdk("us-east-1").await;
    let c = compromised_instance(&sdk).await;
    let others = launch(&sdk, 2, &[], false).await;
    put_finding(&h.moto, "us-east-1", &about(BACKDOOR, &c.instance, 8.0, 1)).await;
    // A finding about an instance that no longer exists.
    put_finding(
        &h.moto,
        "us-east-1",
        &about(BACKDOOR, "i-0123456789abcdef0", 8.0, 1),
    )
    .await;
    let t = Utc::now();
    assert_eq!(
        h.bot.events_step(t).await,
        [Outcome::Incident, Outcome::Incident]
    );
    let fired = h.bot.deadline_step(t + Duration::seconds(1)).await.unwrap();
    assert_eq!(fired.len(), 2, "grace period 0: at once");
    let states = states(&sdk).await;
    assert_eq!(states[&c.instance], "stopped");
    assert!(others.iter().all(|i| states[i] == "running"), "{states:?}");
    let rows = h.bot.journal.recent_incidents(10).unwrap();
    let gone = rows
        .iter()
        .find(|r| {
            r.finding.as_ref().unwrap().finding.instance_id.as_deref()
                == Some("i-0123456789abcdef0")
        })
        .unwrap();
    assert_eq!(gone.status, Status::Resolved, "{gone:?}");
    assert!(h.bot.journal.changes(&gone.id).unwrap().is_empty());
}
