//! `runaway journal copy`: a journal moved between stores, incidents and changes intact. Here
//! through the port (`ports::journal::copy`), a SQLite journal to the emulator's DynamoDB and
//! back to a file, everything compared; the command itself in `dynamodb_journal.rs`.

use chrono::{DateTime, Duration, Utc};
use runawaytrain::adapters::journal::{DynamoJournal, SqliteJournal};
use runawaytrain::core::change::{ChangeKind, ChangeStatus};
use runawaytrain::core::incident::Status;
use runawaytrain::core::money::{PriceKey, Product};
use runawaytrain::ports::journal::{Finding, Journal, PlannedChange, copy};
use serde_json::json;

fn at(minute: i64) -> DateTime<Utc> {
    // Sub-microsecond digits, as `Utc::now()` has them: a copy keeps them.
    "2026-12-06T10:00:00.123456789Z"
        .parse::<DateTime<Utc>>()
        .unwrap()
        + Duration::minutes(minute)
}

fn change(action: ChangeKind, target: &str) -> PlannedChange {
    PlannedChange {
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        action,
        target: target.into(),
        detail: json!({"why": "max_running_instances"}),
        before: json!({"state": "available"}),
    }
}

/// A journal with one of everything a copy carries, in the states restore cares about.
fn fill(j: &dyn Journal) -> (String, String) {
    // A halt: an instance stopped and restored, a database stopped and not yet started, one
    // change that failed; findings, a problem, the call's outcome.
    let halt = j.open_incident("halt", "cli:alice", at(0)).unwrap();
    let ids = j
        .plan_changes(
            &halt,
            &[
                change(ChangeKind::StopInstance, "i-1"),
                change(ChangeKind::StopDbInstance, "db-1"),
                change(ChangeKind::StopInstance, "i-2"),
            ],
            at(1),
        )
        .unwrap();
    j.set_change_outcome(ids[0], &json!({"previous": "running"}))
        .unwrap();
    j.finish_changes(
        &[
            (ids[0], Ok(())),
            (ids[1], Ok(())),
            (ids[2], Err("UnauthorizedOperation".into())),
        ],
        at(2),
    )
    .unwrap();
    j.mark_restore(&[(ids[0], Some(Ok(())))], at(30)).unwrap();
    j.record_findings(
        &halt,
        "111111111111",
        "us-east-1",
        &[
            Finding {
                instance_id: "i-1",
                decision: "stop",
                reason: None,
                auto_scaling_group: Some("web"),
            },
            Finding {
                instance_id: "i-9",
                decision: "skip",
                reason: Some("exempt".into()),
                auto_scaling_group: None,
            },
        ],
    )
    .unwrap();
    j.record_problem(&halt, "111111111111", None, "throttled", at(2))
        .unwrap();
    j.close_incident(&halt, "partial", at(3)).unwrap();

    // An alert waiting on its deadline, delivered to Slack, with presses.
    let observed = serde_json::from_value(json!({
        "running_instances": 7, "regions": {"us-east-1": 7}, "estimated_charges_usd": 12.5,
        "violations": [{"rule": "max_running_instances", "limit": 5, "observed": 7}]
    }))
    .unwrap();
    let alert = j.open_alert("111111111111", &observed, at(5)).unwrap();
    assert!(j.set_deadline(&alert, at(20)).unwrap());
    j.set_slack_message(&alert, "C1", "1700000000.000100")
        .unwrap();
    j.record_press(Some(&alert), "U1", "halt_now", true, "waiting", at(6))
        .unwrap();
    j.record_press(None, "U2", "status", true, "answered", at(7))
        .unwrap();

    // An isolation asked for and decided, with the instance as it was.
    let target = serde_json::from_value(json!({
        "account_id": "111111111111", "region": "us-east-1", "instance_id": "i-7"
    }))
    .unwrap();
    let isolate = j
        .open_isolation_request(
            &target,
            "U1",
            at(60),
            Some("https://hooks.slack.test/r"),
            at(8),
        )
        .unwrap();
    assert!(
        j.claim(
            &isolate,
            Status::AwaitingConfirmation,
            Status::Executing,
            "U1",
            at(9),
            None
        )
        .unwrap()
    );
    let capture = serde_json::from_value(json!({
        "instance_id": "i-7", "state": "running", "instance_type": "t3.micro",
        "interfaces": [], "volumes": [], "tags": {"Name": "web-7"},
        "termination_protection": false, "shutdown_behavior": "stop"
    }))
    .unwrap();
    j.record_capture(&isolate, "111111111111", "us-east-1", &capture, at(9))
        .unwrap();

    // Checks, the last ok one with what it counted; prices.
    let report = |state: &str| json!({"accounts": [{"account_id": "111111111111", "state": state, "running_instances": 2}]});
    let counted = ["i-1".to_owned(), "i-2".to_owned()];
    j.record_check(
        at(10),
        "ok",
        120,
        &report("ok"),
        &[("111111111111", &counted)],
    )
    .unwrap();
    j.record_check(at(15), "fail", 130, &report("fail"), &[])
        .unwrap();
    let key = |t: &str, product: Product| PriceKey {
        instance_type: t.into(),
        region: "us-east-1".into(),
        product,
    };
    j.cache_price(
        &key(
            "t3.micro",
            Product::Ec2 {
                operating_system: "Linux".into(),
            },
        ),
        Some(0.0104),
        at(11),
    )
    .unwrap();
    j.cache_price(
        &key(
            "x9.huge",
            Product::Ec2 {
                operating_system: "Linux".into(),
            },
        ),
        None,
        at(11),
    )
    .unwrap();
    (halt, alert)
}

fn sorted(j: &dyn Journal) -> runawaytrain::ports::journal::JournalCopy {
    let mut c = j.export().unwrap();
    c.sort();
    c
}

/// SQLite to DynamoDB and back to a file: everything the first held, the second and third
/// hold alike, read through the port as restore and the bot read it; the copy's change ids
/// are kept and new changes number after them; a copy into a journal that holds incidents is
/// refused and changes nothing.
#[test]
fn a_journal_copied_to_dynamodb_and_back_keeps_everything_restore_needs() {
    let dir = tempfile::tempdir().unwrap();
    let source = SqliteJournal::open(&dir.path().join("source.db")).unwrap();
    let (halt, alert) = fill(&source);
    let original = sorted(&source);
    assert_eq!(
        (
            original.incidents.len(),
            original.changes.len(),
            original.findings.len()
        ),
        (3, 3, 2)
    );
    assert_eq!(
        (
            original.presses.len(),
            original.captures.len(),
            original.checks.len()
        ),
        (2, 1, 2)
    );
    assert_eq!((original.ok_counts.len(), original.prices.len()), (1, 2));

    let moto = crate::common::Moto::start_serial();
    let sdk = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(moto.sdk("us-east-1"));
    let table = DynamoJournal::init_with_sdk("copied-journal", &sdk).unwrap();
    let copied = copy(&source, &table).unwrap();
    assert_eq!((copied.incidents, copied.changes, copied.checks), (3, 3, 2));
    assert_eq!(
        sorted(&table),
        original,
        "the table holds what the file held"
    );

    // What restore and the bot read, answered alike.
    assert_eq!(
        table.changes(&halt).unwrap(),
        source.changes(&halt).unwrap()
    );
    assert_eq!(
        table.get_incident(&alert).unwrap(),
        source.get_incident(&alert).unwrap()
    );
    assert_eq!(
        table.latest_alert("111111111111").unwrap().unwrap().id,
        alert
    );
    assert_eq!(
        table.incidents_in(&[Status::Open]).unwrap(),
        source.incidents_in(&[Status::Open]).unwrap()
    );
    let stopped = table.stopped_databases().unwrap();
    assert_eq!(stopped.len(), 1);
    assert_eq!(
        (stopped[0].0.as_str(), stopped[0].1.target.as_str()),
        (halt.as_str(), "db-1")
    );
    assert_eq!(
        table.presses(&alert).unwrap(),
        source.presses(&alert).unwrap()
    );
    assert_eq!(
        table.last_ok_check("111111111111").unwrap(),
        source.last_ok_check("111111111111").unwrap()
    );
    assert_eq!(
        table.stopped_group_members(&halt).unwrap(),
        source.stopped_group_members(&halt).unwrap()
    );

    // New changes number after the copied ones.
    let last = original.changes.iter().map(|c| c.row.id).max().unwrap();
    let next = table
        .plan_changes(&halt, &[change(ChangeKind::StopInstance, "i-3")], at(40))
        .unwrap();
    assert!(next[0] > last, "{next:?} after {last}");
    assert_eq!(table.changes(&halt).unwrap().len(), 4);
    assert_eq!(
        table.changes(&halt).unwrap()[3].status,
        ChangeStatus::Pending
    );

    // Into a journal that holds incidents: refused, nothing written.
    let before = sorted(&table);
    let e = copy(&source, &table).unwrap_err();
    assert!(e.message.contains("already holds incidents"), "{e}");
    assert_eq!(sorted(&table), before);

    // And back to a file: the table's journal, that new change with it.
    let back = SqliteJournal::open(&dir.path().join("back.db")).unwrap();
    copy(&table, &back).unwrap();
    assert_eq!(sorted(&back), before);
    assert_eq!(sorted(&source), original, "the source is only read");
}
