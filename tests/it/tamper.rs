//! Tampering and stops behind the guard's back, through the real event path: the documented
//! CloudTrail records (`tests/fixtures/cloudtrail/`) put on moto's EventBridge as CloudTrail
//! delivers them (moto keeps no trail), matched by the module's own two patterns (read from
//! `modules/event-pattern`), carried by its SQS queue to the bot's event step. The payer is
//! reached through the role `runawaytrain-guard`, so that the guard's identity is a role session
//! as in a deployment (moto's AssumeRole needs no role to exist).

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::common::bot::*;
use crate::common::config::{APPROVER, Toml};
use crate::common::events::{journaled, put_cloudtrail as put};
use crate::common::slack::{button_value, text_of};
use crate::common::*;
use runawaytrain::core::events::Outcome;
use runawaytrain::core::incident::{Press, Status};

const GUARD_ROLE: &str = "runawaytrain-guard";

fn lockout_arn() -> String {
    format!("arn:aws:iam::{PAYER}:policy/runawaytrain-lockout")
}

fn config(rules: &str) -> impl FnOnce(&str, &str) -> String {
    let rules = rules.to_owned();
    move |topic, queue_url| {
        Toml::new()
            .guard(&format!(
                "grace_period = \"10m\"\nlockout_policy_arn = \"{}\"\nlaunch_deny_policy_arn = \"arn:aws:iam::{PAYER}:policy/runawaytrain-launch-deny\"",
                lockout_arn()
            ))
            .slack(&[APPROVER])
            .notify(topic)
            .events(queue_url)
            .account(&format!(
                "id = \"{PAYER}\"\nname = \"payer\"\nrole_arn = \"arn:aws:iam::{PAYER}:role/{GUARD_ROLE}\"\nregions = [\"us-east-1\", \"eu-west-1\"]\nwatch_stops = true\nexpected_principals = [\"nightly-stop\"]\ntag_admins = [\"platform\"]\n{rules}"
            ))
            .into()
    }
}

/// A documented record, as CloudTrail would deliver it now, by `who` with `key`.
fn record(name: &str, who: Value) -> Value {
    let path = format!(
        "{}/tests/fixtures/cloudtrail/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut r: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    r["userIdentity"] = who;
    r["eventTime"] = json!(Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
    r["eventID"] = json!(format!("{name}-{}", next_id()));
    r
}

fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

fn mallory(key: &str) -> Value {
    json!({"type": "IAMUser", "principalId": "AIDAMALLORYEXAMPLE", "arn": format!("arn:aws:iam::{PAYER}:user/mallory"),
           "accountId": PAYER, "accessKeyId": key, "userName": "mallory"})
}

fn session(role: &str, name: &str) -> Value {
    json!({"type": "AssumedRole", "principalId": "AROAEXAMPLE:s",
           "arn": format!("arn:aws:sts::{PAYER}:assumed-role/{role}/{name}"), "accountId": PAYER,
           "accessKeyId": "ASIAEXAMPLE", "sessionContext": {"sessionIssuer": {"type": "Role",
           "arn": format!("arn:aws:iam::{PAYER}:role/{role}"), "accountId": PAYER, "userName": role}}})
}

/// mallory, with a real access key, and the module's lockout policy.
async fn seed(moto: &Moto) -> (aws_sdk_iam::Client, String) {
    let iam = aws_sdk_iam::Client::new(&moto.sdk("us-east-1").await);
    iam.create_user().user_name("mallory").send().await.unwrap();
    let key = access_key(&iam, "mallory").await;
    lockout_policy(&iam).await;
    (iam, key)
}

/// Someone stops an instance behind the guard's back: a `tamper` incident names the principal,
/// the key, the source IP and what was done, and offers Lock out, which locks out exactly that
/// key's user; restore undoes it. The guard's own stop, an expected principal's and a tag
/// admin's tag are not tampering; a call neither pattern forwards never reaches the queue.
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_behind_the_guards_back_is_alerted_with_who_and_lock_out_locks_out_that_key() {
    let (h, _pipe) = BotHarness::with_module_events(3, 30, config("")).await;
    let (iam, key) = seed(&h.moto).await;
    let ids = launch(&h.moto.sdk("eu-west-1").await, 2, &[], false).await;
    let stop_of = |who: Value| {
        let mut r = record("stop-instances", who);
        r["requestParameters"]["instancesSet"]["items"][0]["instanceId"] = json!(ids[0]);
        r
    };
    let mut described = record("stop-instances", mallory(&key));
    described["eventName"] = json!("DescribeInstances");
    put(
        &h.moto,
        "eu-west-1",
        &[
            stop_of(mallory(&key)),
            stop_of(session(GUARD_ROLE, "runaway-inc-1")),
            stop_of(session("nightly-stop", "lambda")),
            record("create-tags", session("platform", "terraform")),
            described,
        ],
    )
    .await;
    let said = journaled(&h, 4).await;
    assert_eq!(
        said.len(),
        4,
        "DescribeInstances is not forwarded: {said:?}"
    );
    let notes = |o: Outcome| -> Vec<&str> {
        said.iter()
            .filter(|(x, _)| *x == o)
            .map(|(_, n)| n.as_str())
            .collect()
    };
    assert_eq!(notes(Outcome::Incident).len(), 1, "{said:?}");
    let mut ignored = notes(Outcome::Ignored);
    ignored.sort();
    assert_eq!(
        ignored,
        [
            "a tag admin (tag_admins)",
            "an expected principal (expected_principals)",
            "the guard's own call"
        ]
    );

    let row = &h.bot.journal.recent_incidents(10).unwrap()[0];
    assert_eq!((row.kind.as_str(), row.status), ("tamper", Status::Open));
    assert_eq!(row.actor, "cloudtrail");
    let post = h
        .slack
        .calls_to("chat.postMessage")
        .last()
        .cloned()
        .expect("alerted in Slack");
    let text = text_of(&post.body);
    for needed in [
        "Stopped behind the guard's back",
        &format!("arn:aws:iam::{PAYER}:user/mallory"),
        &key,
        "203.0.113.66",
        &format!("stopped {}", ids[0]),
        "StopInstances",
        "Alert only",
    ] {
        assert!(text.contains(needed), "{needed} in {text}");
    }
    assert_eq!(
        button_value(&post.body, "runaway_lockout_launchers").as_deref(),
        Some(row.id.as_str())
    );
    let emails = emails(&h.moto);
    let (subject, body) = emails
        .iter()
        .find(|(s, _)| s.contains("tampering by mallory (StopInstances)"))
        .expect("e-mailed");
    assert!(subject.ends_with(": open"), "{subject}");
    assert!(
        body.contains(&key) && body.contains("203.0.113.66"),
        "{body}"
    );
    // Alert only: the deadline does nothing.
    assert!(
        h.bot
            .deadline_step(Utc::now() + Duration::hours(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(key_status(&iam, "mallory").await, "Active");

    let done = h
        .bot
        .press(
            Press::LockoutLaunchers,
            &row.id,
            "UAPPROVER1",
            None,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(done, runawaytrain::app::bot::Outcome::Decided(Status::Open));
    assert_eq!(key_status(&iam, "mallory").await, "Inactive");
    assert_eq!(attached_policies(&iam, "mallory").await, [lockout_arn()]);
    // The instance it stopped is the operator's to judge: the guard changed nothing there.
    let states = states(&h.moto.sdk("eu-west-1").await).await;
    assert!(ids.iter().all(|i| states[i] == "running"), "{states:?}");

    let report = h.restore(&row.id).await;
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(key_status(&iam, "mallory").await, "Active");
    assert!(attached_policies(&iam, "mallory").await.is_empty());
}

/// Every documented kind of defence evasion aimed at the guard or its senses reaches it through
/// the module's tamper pattern and gathers in one incident of its principal; the first,
/// `StopLogging`, takes a `[[tamper]]` rule locking out at once, and the deadline locks the key
/// out. Look-alikes on someone else's rule or role are not tampering.
#[tokio::test(flavor = "multi_thread")]
async fn defence_evasion_of_every_kind_gathers_in_one_incident_locked_out_at_the_deadline() {
    let rules =
        "\n[[tamper]]\ncall = \"StopLogging\"\nresponse = \"lockout\"\ngrace_period = \"0s\"\n";
    let (h, _pipe) = BotHarness::with_module_events(3, 30, config(rules)).await;
    let (iam, key) = seed(&h.moto).await;
    put(
        &h.moto,
        "us-east-1",
        &[record("stop-logging", mallory(&key))],
    )
    .await;
    let first = journaled(&h, 1).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, Outcome::Incident, "{first:?}");

    let evasions = [
        "delete-trail",
        "update-trail",
        "put-event-selectors",
        "delete-detector",
        "update-detector",
        "disassociate-from-administrator-account",
        "disable-rule",
        "delete-rule",
        "remove-targets",
        "put-rule",
        "set-queue-attributes",
        "delete-queue",
        "attach-role-policy",
        "update-assume-role-policy",
        "detach-user-policy",
        "create-policy-version",
    ];
    let mut records: Vec<Value> = evasions
        .iter()
        .map(|name| record(name, mallory(&key)))
        .collect();
    // The lockout policy is the configured one; the tamper pattern carries IAM's inline-policy
    // write to the guard's role too.
    records[14]["requestParameters"]["policyArn"] = json!(lockout_arn());
    records[15]["requestParameters"]["policyArn"] = json!(format!(
        "arn:aws:iam::{PAYER}:policy/runawaytrain-launch-deny"
    ));
    let mut inline = record("attach-role-policy", mallory(&key));
    inline["eventName"] = json!("PutRolePolicy");
    inline["requestParameters"] = json!({"roleName": GUARD_ROLE, "policyName": "x",
        "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[]}"});
    records.push(inline);
    let mut other_rule = record("disable-rule", mallory(&key));
    other_rule["requestParameters"]["name"] = json!("nightly-report");
    let mut other_role = record("attach-role-policy", mallory(&key));
    other_role["requestParameters"]["roleName"] = json!("ci");
    records.extend([other_rule, other_role]);
    put(&h.moto, "us-east-1", &records).await;
    // Both patterns carry the PutRolePolicy record (the guard's own writes, and tampering):
    // one event id, acted on once, the second delivery journaled as a duplicate.
    let said = journaled(&h, 1 + records.len() + 1).await;
    let of = |o: Outcome| said.iter().filter(|(x, _)| *x == o).count();
    assert_eq!(
        (
            of(Outcome::Incident),
            of(Outcome::Ignored),
            of(Outcome::Duplicate)
        ),
        (1 + evasions.len() + 1, 2, 1),
        "{said:#?}"
    );
    let incidents = h.bot.journal.recent_incidents(10).unwrap();
    assert_eq!(incidents.len(), 1, "one incident for mallory");
    let row = &incidents[0];
    let f = row.finding.clone().unwrap();
    assert_eq!(f.findings as usize, 2 + evasions.len());
    assert_eq!(f.response, runawaytrain::core::guardduty::Response::Lockout);
    let t = f.tamper.unwrap();
    assert_eq!(t.earlier.len(), runawaytrain::core::tamper::EARLIER_KEPT);

    let ran = h
        .bot
        .deadline_step(Utc::now() + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(ran, std::slice::from_ref(&row.id));
    assert_eq!(key_status(&iam, "mallory").await, "Inactive");
    assert_eq!(attached_policies(&iam, "mallory").await, [lockout_arn()]);
    let row = h.bot.journal.get_incident(&row.id).unwrap().unwrap();
    assert_eq!(row.status, Status::Executed, "{:?}", row.result);
    let update = h.slack.calls_to("chat.update").last().cloned().unwrap();
    let text = text_of(&update.body);
    assert!(
        text.contains("Deadline passed") && text.contains("lock out"),
        "{text}"
    );
}
