//! The guard watching its own inline-policy writes (`allow_session_revocation`): IAM's
//! `PutUserPolicy`/`PutRolePolicy` as CloudTrail records them, put on moto's EventBridge as
//! `AWS API Call via CloudTrail` events (moto keeps no trail: the test puts the events CloudTrail
//! would) and carried by its SQS queue to the bot's event step. The guard's identity on the
//! emulator is the ambient user `moto`.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use chrono::Utc;
use serde_json::{Value, json};

use crate::common::bot::*;
use crate::common::config::{APPROVER, Toml};
use crate::common::*;
use runawaytrain::core::events::Outcome;

fn config(topic: &str, queue_url: &str) -> String {
    Toml::new()
        .guard("grace_period = \"10m\"")
        .slack(&[APPROVER])
        .notify(topic)
        .events(queue_url)
        .payer(
            &["us-east-1"],
            "max_running_instances = 0\nactions = [\"revoke_sessions\"]\nallow_session_revocation = true",
        )
        .into()
}

/// The guard's identity on the emulator, as CloudTrail would name it.
fn guard() -> Value {
    json!({"type": "IAMUser", "principalId": "AIDAMOTO", "arn": format!("arn:aws:sts::{PAYER}:user/moto"),
           "accountId": PAYER, "accessKeyId": "AKIAGUARD", "userName": "moto"})
}

/// A `PutUserPolicy` record as CloudTrail writes it (the document as the request sent it).
fn put_user_policy(who: Value, user: &str, name: &str, document: &Value) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": who,
        "eventTime": Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": "iam.amazonaws.com",
        "eventName": "PutUserPolicy",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.50",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"userName": user, "policyName": name, "policyDocument": document.to_string()},
        "responseElements": null,
        "requestID": "0a1b2c3d-0000-4000-8000-000000000000",
        "eventID": format!("5f1c0b38-0000-4000-8000-{:012}", next_id()),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": PAYER,
        "eventCategory": "Management",
    })
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Puts CloudTrail records on the us-east-1 default bus, as IAM's events arrive there.
async fn put_iam_events(moto: &Moto, records: &[Value]) {
    let eb = aws_sdk_eventbridge::Client::new(&moto.sdk("us-east-1").await);
    let mut req = eb.put_events();
    for r in records {
        req = req.entries(
            PutEventsRequestEntry::builder()
                .source("aws.iam")
                .detail_type("AWS API Call via CloudTrail")
                .detail(r.to_string())
                .build(),
        );
    }
    assert_eq!(req.send().await.unwrap().failed_entry_count, 0);
}

/// The guard's own revocation, as it journaled it, passes; the same name with a forged
/// document, a name the guard never gives, and each is told to the notify list and kept as a
/// problem of `/healthz`, across a restart; someone else's write is not the guard's business.
#[tokio::test(flavor = "multi_thread")]
async fn a_policy_write_by_the_guards_role_that_it_did_not_journal_is_told() {
    let (h, _pipe) = BotHarness::with_events(3, 30, config).await;
    let sdk = h.moto.sdk("us-east-1").await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    iam.create_user().user_name("carol").send().await.unwrap();
    launch(&sdk, 1, &[], false).await;
    h.bot.check_step(Utc::now()).await.unwrap();
    let ran = h
        .bot
        .deadline_step(Utc::now() + chrono::Duration::minutes(11))
        .await
        .unwrap();
    let incident = ran[0].clone();
    let name = format!("runawaytrain-revoke-{incident}");
    let written = iam
        .get_user_policy()
        .user_name("carol")
        .policy_name(&name)
        .send()
        .await
        .expect("revoke_sessions wrote carol's revocation");
    let revocation: Value =
        serde_json::from_str(&urlencoding_decode(written.policy_document())).unwrap();
    let before = crate::common::bot::emails(&h.moto).len();

    let allow = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let ops = json!({"type": "IAMUser", "arn": format!("arn:aws:iam::{PAYER}:user/ops"), "accountId": PAYER,
                     "accessKeyId": "AKIAOPS", "userName": "ops"});
    put_iam_events(
        &h.moto,
        &[
            put_user_policy(guard(), "carol", &name, &revocation),
            put_user_policy(guard(), "carol", &name, &allow),
            put_user_policy(guard(), "carol", "backdoor", &allow),
            put_user_policy(ops, "carol", "backdoor", &allow),
        ],
    )
    .await;
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.extend(h.bot.events_step(Utc::now()).await);
        if outcomes.len() >= 4 {
            break;
        }
    }
    let events = h
        .bot
        .journal
        .events_since(Utc::now() - chrono::Duration::hours(1))
        .unwrap();
    let said: Vec<(Outcome, String)> = events
        .iter()
        .map(|e| (e.outcome, e.note.clone().unwrap_or_default()))
        .collect();
    assert_eq!(said.len(), 4, "{said:?}");
    let of = |o: Outcome| said.iter().filter(|(x, _)| *x == o).count();
    assert_eq!(
        (
            of(Outcome::Kept),
            of(Outcome::Alerted),
            of(Outcome::Ignored)
        ),
        (1, 2, 1),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|(o, n)| *o == Outcome::Kept && n.contains(&incident)),
        "{said:?}"
    );
    assert!(
        said.iter().any(|(o, n)| *o == Outcome::Alerted
            && n.contains("differs")
            && n.contains("user carol")
            && n.contains("203.0.113.50")),
        "{said:?}"
    );

    // Both are tampering by whoever holds the guard's role: one tamper incident of its
    // principal, the two writes counted (the Lock out it offers leaves the guard's own identity).
    let tamper: Vec<_> = h
        .bot
        .journal
        .recent_incidents(10)
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "tamper")
        .collect();
    assert_eq!(tamper.len(), 1, "{tamper:?}");
    let f = tamper[0].finding.clone().unwrap();
    assert_eq!(f.findings, 2);
    assert!(
        f.tamper.unwrap().what.contains("does not account for"),
        "{:?}",
        tamper[0].finding
    );

    // The notify list heard of both, and /healthz says so.
    let emails = crate::common::bot::emails(&h.moto);
    let told: Vec<&(String, String)> = emails[before..]
        .iter()
        .filter(|(subject, _)| subject.contains("did not journal"))
        .collect();
    assert_eq!(told.len(), 2, "{emails:?}");
    assert!(told.iter().any(|(_, body)| body.contains("\"backdoor\"")));
    let problems = h.bot.metrics.unexpected_writes(Utc::now());
    assert_eq!(problems.len(), 2, "{problems:?}");
    let facts = healthy_facts(problems);
    let (healthy, body) = runawaytrain::core::health::assess(&facts);
    assert!(!healthy && body["problems"].to_string().contains("did not journal"));

    // After a restart they are still problems of /healthz, and forgotten after seven days.
    let again = h.restarted().await;
    again.recall_unexpected_writes(Utc::now()).unwrap();
    assert_eq!(again.metrics.unexpected_writes(Utc::now()).len(), 2);
    assert!(
        again
            .metrics
            .unexpected_writes(Utc::now() + chrono::Duration::days(8))
            .is_empty()
    );
}

/// `/healthz`'s facts of a healthy guard, with `unexpected_writes`.
fn healthy_facts(unexpected_writes: Vec<String>) -> runawaytrain::core::health::Facts {
    use runawaytrain::core::health::{Facts, LoopState};
    let now = Utc::now();
    let alive = LoopState {
        running: true,
        last_beat: Some(now),
    };
    Facts {
        now,
        started: now,
        check_every: chrono::Duration::minutes(5),
        last_check: Some(now),
        last_check_state: Some("fail"),
        accounts_checked: 1,
        accounts_unreadable: 0,
        check_loop: alive,
        deadline_loop: alive,
        events: None,
        socket: None,
        unexpected_writes,
        lease: None,
    }
}
