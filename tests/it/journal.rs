//! The journal port's behaviour, one suite for every store: each test runs against a fresh,
//! empty journal of each kind (`stores`), through `&dyn Journal` only, as the application
//! sees it: the SQLite journal in a temporary directory and the DynamoDB journal on the
//! emulator's DynamoDB; a store added to `stores` is held to every test here. What is only SQLite's (migrations of older files, a
//! file that is not a journal) is tested with the SQLite adapter.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use runawaytrain::adapters::journal::{DynamoJournal, SqliteJournal};
use runawaytrain::core::change::{ChangeKind, ChangeStatus};
use runawaytrain::core::events::Outcome;
use runawaytrain::core::incident::{Observed, Status};
use runawaytrain::core::money::{PriceKey, Product};
use runawaytrain::ports::journal::{EventRecord, Finding, Journal, PlannedChange};
use serde_json::json;

/// A store under test, with what keeps it alive.
struct Store {
    name: &'static str,
    journal: Box<dyn Journal>,
    _keep: Box<dyn std::any::Any>,
}

/// A fresh journal of each store: a SQLite file in a temporary directory, and a DynamoDB table
/// made by `init` on the emulator (moto's DynamoDB, its own server for each test, answering one
/// request at a time: moto's conditional writes are not atomic under concurrent requests,
/// AWS's are; see `Moto::start_serial`).
fn stores() -> Vec<Store> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteJournal::open(&dir.path().join("journal.db")).unwrap();
    let moto = crate::common::Moto::start_serial();
    let sdk = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(moto.sdk("us-east-1"));
    let dynamodb = DynamoJournal::init_with_sdk("runawaytrain-journal", &sdk).unwrap();
    vec![
        Store {
            name: "sqlite",
            journal: Box::new(sqlite),
            _keep: Box::new(dir),
        },
        Store {
            name: "dynamodb",
            journal: Box::new(dynamodb),
            _keep: Box::new(moto),
        },
    ]
}

/// Runs `test` against a fresh journal of every store, naming the store when it fails.
fn each(test: impl Fn(&dyn Journal)) {
    for s in stores() {
        let name = s.name;
        let run = std::panic::AssertUnwindSafe(|| test(s.journal.as_ref()));
        if let Err(e) = std::panic::catch_unwind(run) {
            eprintln!("the {name} journal failed");
            std::panic::resume_unwind(e);
        }
    }
}

fn at(minute: i64) -> DateTime<Utc> {
    "2026-12-06T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minute)
}

fn observed(running: u64) -> Observed {
    serde_json::from_value(json!({
        "running_instances": running, "regions": {"us-east-1": running},
        "estimated_charges_usd": null,
        "violations": [{"rule": "max_running_instances", "limit": 1, "observed": running}]
    }))
    .unwrap()
}

fn planned(target: &str) -> PlannedChange {
    PlannedChange {
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        action: ChangeKind::StopInstance,
        target: target.into(),
        detail: json!({}),
        before: json!({"state": "running"}),
    }
}

#[test]
fn an_alert_opens_without_a_deadline_and_its_first_deadline_holds() {
    each(|j| {
        let id = j.open_alert("111111111111", &observed(3), at(0)).unwrap();
        assert!(id.starts_with("inc-"), "{id}");
        let row = j.get_incident(&id).unwrap().expect("the incident");
        assert_eq!((row.status, row.deadline), (Status::Open, None));
        assert_eq!(row.observed.unwrap().running_instances, 3);
        assert!(
            j.set_deadline(&id, at(5)).unwrap(),
            "the first delivery sets it"
        );
        assert!(
            !j.set_deadline(&id, at(9)).unwrap(),
            "nothing moves it after"
        );
        assert_eq!(j.get_incident(&id).unwrap().unwrap().deadline, Some(at(5)));
        assert_eq!(j.latest_alert("111111111111").unwrap().unwrap().id, id);
        assert!(j.latest_alert("222222222222").unwrap().is_none());
        j.update_observed(&id, &observed(7), at(1)).unwrap();
        j.set_slack_message(&id, "C1", "1700000000.000100").unwrap();
        let row = j.get_incident(&id).unwrap().unwrap();
        assert_eq!(row.observed.unwrap().running_instances, 7);
        assert_eq!(
            (row.slack_channel.as_deref(), row.slack_ts.as_deref()),
            (Some("C1"), Some("1700000000.000100"))
        );
        let open: Vec<String> = j
            .incidents_in(&[Status::Open])
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(open, std::slice::from_ref(&id));
        assert!(
            j.get_incident("inc-00000000-000000-0000")
                .unwrap()
                .is_none()
        );
    });
}

#[test]
fn a_claim_is_won_once_whoever_asks_at_the_same_time() {
    each(|j| {
        for round in 0..20 {
            let id = j
                .open_alert("111111111111", &observed(3), at(round))
                .unwrap();
            // A press of Halt now, a press of Override and the deadline, all at once.
            let outcomes: Vec<(Status, bool)> = std::thread::scope(|s| {
                let claims: Vec<_> = [Status::Approved, Status::Overridden, Status::Expired]
                    .into_iter()
                    .map(|to| {
                        let id = &id;
                        s.spawn(move || {
                            (
                                to,
                                j.claim(id, Status::Open, to, "U1", at(round), None)
                                    .unwrap(),
                            )
                        })
                    })
                    .collect();
                claims.into_iter().map(|c| c.join().unwrap()).collect()
            });
            let won: Vec<Status> = outcomes
                .iter()
                .filter(|(_, w)| *w)
                .map(|(s, _)| *s)
                .collect();
            assert_eq!(won.len(), 1, "round {round}: {outcomes:?}");
            let row = j.get_incident(&id).unwrap().unwrap();
            assert_eq!(row.status, won[0]);
            assert_eq!(row.decided_by.as_deref(), Some("U1"));
        }
    });
}

#[test]
fn an_incident_is_carried_out_once_and_closed_with_its_result() {
    each(|j| {
        let id = j.open_alert("111111111111", &observed(3), at(0)).unwrap();
        let snooze = Some(at(60));
        assert!(
            j.claim(&id, Status::Open, Status::Overridden, "U2", at(1), snooze)
                .unwrap()
        );
        assert_eq!(j.get_incident(&id).unwrap().unwrap().snooze_until, snooze);
        assert!(
            !j.claim(&id, Status::Open, Status::Approved, "U3", at(2), None)
                .unwrap(),
            "decided already"
        );

        let id = j.open_alert("111111111111", &observed(4), at(3)).unwrap();
        assert!(
            j.claim(&id, Status::Open, Status::Approved, "U1", at(4), None)
                .unwrap()
        );
        j.set_acting(&id).unwrap();
        assert!(
            j.get_incident(&id)
                .unwrap()
                .unwrap()
                .acting_process
                .is_some()
        );
        let result = json!({"stopped": 4});
        j.finish_incident(&id, Status::Executed, &result, None, at(5))
            .unwrap();
        let row = j.get_incident(&id).unwrap().unwrap();
        assert_eq!((row.status, row.result), (Status::Executed, Some(result)));
        // A process that finds an incident left half done takes it over once.
        let id = j.open_alert("222222222222", &observed(2), at(6)).unwrap();
        assert!(
            j.claim(&id, Status::Open, Status::Expired, "deadline", at(7), None)
                .unwrap()
        );
        assert!(j.take_over(&id, Status::Expired, at(8)).unwrap());
        assert!(!j.take_over(&id, Status::Expired, at(9)).unwrap());
        assert_eq!(
            j.get_incident(&id).unwrap().unwrap().status,
            Status::Partial
        );
        let recent = j.recent_incidents(2).unwrap();
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[0].id, id, "newest first");
    });
}

#[test]
fn cli_manual_and_isolation_incidents_keep_what_they_were_opened_with() {
    each(|j| {
        let id = j.open_incident("halt", "cli:ops", at(0)).unwrap();
        assert_eq!(
            j.incident(&id).unwrap(),
            Some(("halt".into(), "executing".into()))
        );
        j.close_incident(&id, "partial", at(1)).unwrap();
        assert_eq!(
            j.incident(&id).unwrap(),
            Some(("halt".into(), "partial".into()))
        );
        let chosen = runawaytrain::ports::journal::new_incident_id(at(2));
        assert_eq!(
            j.open_incident_as(&chosen, "lockout", "cli:ops", at(2))
                .unwrap(),
            chosen
        );
        let accounts = vec!["111111111111".to_owned(), "222222222222".to_owned()];
        let id = j
            .open_manual(
                &accounts,
                "U1",
                at(5),
                Some("https://hooks.example/r"),
                at(3),
            )
            .unwrap();
        let row = j.get_incident(&id).unwrap().unwrap();
        assert_eq!(row.status, Status::AwaitingConfirmation);
        assert_eq!(row.accounts, accounts);
        assert_eq!(row.deadline, Some(at(5)));
        assert_eq!(row.response_url.as_deref(), Some("https://hooks.example/r"));
    });
}

#[test]
fn a_change_is_journaled_before_and_after_and_its_undoing_too() {
    each(|j| {
        let inc = j.open_incident("halt", "cli:test", at(0)).unwrap();
        let ids = j
            .plan_changes(&inc, &[planned("i-1"), planned("i-2")], at(0))
            .unwrap();
        assert_eq!(ids.len(), 2);
        let pending = j.changes(&inc).unwrap();
        assert!(pending.iter().all(|c| c.status == ChangeStatus::Pending));
        j.set_change_outcome(ids[0], &json!({"snapshot": "snap-1"}))
            .unwrap();
        j.finish_changes(
            &[
                (ids[0], Ok(())),
                (ids[1], Err("IncorrectInstanceState".into())),
            ],
            at(1),
        )
        .unwrap();
        let rows = j.changes(&inc).unwrap();
        assert_eq!(
            rows.iter()
                .map(|c| (c.target.as_str(), c.status))
                .collect::<Vec<_>>(),
            [("i-1", ChangeStatus::Done), ("i-2", ChangeStatus::Failed)]
        );
        assert_eq!(rows[1].error.as_deref(), Some("IncorrectInstanceState"));
        let before: serde_json::Value =
            serde_json::from_str(rows[0].before.as_deref().unwrap()).unwrap();
        assert_eq!(before, json!({"state": "running"}));
        let outcome: serde_json::Value =
            serde_json::from_str(rows[0].outcome.as_deref().unwrap()).unwrap();
        assert_eq!(outcome["snapshot"], "snap-1");
        assert_eq!(rows[0].restore_status, None);
        j.mark_restore(&[(ids[0], None)], at(2)).unwrap();
        assert_eq!(
            j.changes(&inc).unwrap()[0].restore_status,
            Some(ChangeStatus::Pending)
        );
        j.mark_restore(&[(ids[0], Some(Ok(())))], at(3)).unwrap();
        assert_eq!(
            j.changes(&inc).unwrap()[0].restore_status,
            Some(ChangeStatus::Done)
        );
        assert!(j.changes("inc-00000000-000000-0000").unwrap().is_empty());
    });
}

#[test]
fn findings_problems_and_group_members_are_kept_with_their_incident() {
    each(|j| {
        let inc = j.open_incident("halt", "cli:test", at(0)).unwrap();
        j.record_findings(
            &inc,
            "111111111111",
            "eu-west-1",
            &[
                Finding {
                    instance_id: "i-1",
                    decision: "stop",
                    reason: None,
                    auto_scaling_group: Some("web"),
                },
                Finding {
                    instance_id: "i-2",
                    decision: "skip",
                    reason: Some("exempt".into()),
                    auto_scaling_group: None,
                },
            ],
        )
        .unwrap();
        j.record_problem(&inc, "111111111111", Some("eu-west-1"), "throttled", at(1))
            .unwrap();
        let members = j.stopped_group_members(&inc).unwrap();
        assert_eq!(members.len(), 1, "{members:?}");
        // (account, region, Auto Scaling group, instance).
        let (account, region, group, instance) = &members[0];
        assert_eq!(
            (
                account.as_str(),
                region.as_str(),
                instance.as_str(),
                group.as_str()
            ),
            ("111111111111", "eu-west-1", "i-1", "web")
        );
    });
}

#[test]
fn presses_and_checks_are_kept_and_the_last_ok_check_knows_what_it_counted() {
    each(|j| {
        let inc = j.open_alert("111111111111", &observed(3), at(0)).unwrap();
        j.record_press(Some(&inc), "U1", "halt_now", true, "approved", at(1))
            .unwrap();
        j.record_press(
            Some(&inc),
            "U9",
            "override",
            false,
            "not an approver",
            at(2),
        )
        .unwrap();
        j.record_press(None, "U1", "status", true, "answered", at(3))
            .unwrap();
        let presses = j.presses(&inc).unwrap();
        assert_eq!(
            presses,
            [
                ("U1".into(), "halt_now".into(), true, "approved".into()),
                (
                    "U9".into(),
                    "override".into(),
                    false,
                    "not an approver".into()
                )
            ]
        );

        assert!(j.last_check().unwrap().is_none());
        assert!(j.last_ok_check("111111111111").unwrap().is_none());
        let report = |state: &str, running: u64| json!({"accounts": [{"account_id": "111111111111", "state": state, "running_instances": running}]});
        let ids = ["i-1".to_owned(), "i-2".to_owned()];
        j.record_check(
            at(10),
            "ok",
            120,
            &report("ok", 2),
            &[("111111111111", &ids)],
        )
        .unwrap();
        j.record_check(at(15), "fail", 130, &report("fail", 9), &[])
            .unwrap();
        let (when, last) = j.last_check().unwrap().unwrap();
        assert_eq!(
            (when, last["accounts"][0]["state"].as_str()),
            (at(15), Some("fail"))
        );
        let ok = j.last_ok_check("111111111111").unwrap().unwrap();
        assert_eq!((ok.at, ok.running), (at(10), 2));
        assert_eq!(ok.counted, Some(BTreeSet::from(ids.clone())));
        assert!(j.last_ok_check("222222222222").unwrap().is_none());
        // The trends' read: the checks since a time, oldest first, with their reports.
        let since = j.checks_since(at(12)).unwrap();
        assert_eq!(since.len(), 1);
        assert_eq!(
            (
                since[0].0,
                since[0].1["accounts"][0]["running_instances"].as_u64()
            ),
            (at(15), Some(9))
        );
        let all: Vec<_> = j
            .checks_since(at(0))
            .unwrap()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(all, [at(10), at(15)], "oldest first");
        assert!(j.checks_since(at(16)).unwrap().is_empty());
    });
}

fn event(id: Option<&str>, message: &str, outcome: Outcome, received: i64) -> EventRecord {
    EventRecord {
        event_id: id.map(str::to_owned),
        message_id: message.into(),
        account_id: Some("111111111111".into()),
        region: Some("eu-west-1".into()),
        detail_type: Some("EC2 Instance State-change Notification".into()),
        source: Some("aws.ec2".into()),
        time: Some(at(received)),
        received_at: at(received),
        outcome,
        note: None,
        detail: Some(json!({"instance-id": "i-1", "state": "running"})),
    }
}

#[test]
fn an_event_is_journaled_once_and_its_redeliveries_as_duplicates() {
    each(|j| {
        let first = j
            .record_events(&[
                event(Some("e1"), "m1", Outcome::Check, 0),
                event(Some("e1"), "m2", Outcome::Coalesced, 0),
                event(None, "m3", Outcome::Problem, 0),
            ])
            .unwrap();
        assert_eq!(
            first,
            [Outcome::Check, Outcome::Duplicate, Outcome::Problem]
        );
        assert!(j.has_event("e1").unwrap());
        assert!(!j.has_event("e2").unwrap());
        // The same unreadable message again: one row, two receives.
        let again = j
            .record_events(&[event(None, "m3", Outcome::Problem, 1)])
            .unwrap();
        assert_eq!(again, [Outcome::Problem]);
        let rows = j.events_since(at(-60)).unwrap();
        let summary: Vec<(&str, Outcome, u32)> = rows
            .iter()
            .map(|r| (r.id.as_str(), r.outcome, r.receives))
            .collect();
        assert_eq!(
            summary,
            [
                ("e1", Outcome::Check, 1),
                ("e1", Outcome::Duplicate, 1),
                ("m3", Outcome::Problem, 2)
            ]
        );
        assert_eq!(rows[0].detail.as_ref().unwrap()["state"], "running");
        assert_eq!(j.prune_events(at(60 * 24)).unwrap(), 3);
        assert!(j.events_since(at(-60)).unwrap().is_empty());
    });
}

#[test]
fn a_price_is_kept_a_while_and_a_missing_one_is_kept_as_missing() {
    each(|j| {
        let key = |t: &str| PriceKey {
            instance_type: t.into(),
            region: "us-east-1".into(),
            product: Product::ec2("Linux"),
        };
        assert_eq!(j.cached_price(&key("t3.micro"), at(0)).unwrap(), None);
        j.cache_price(&key("t3.micro"), Some(0.0104), at(10))
            .unwrap();
        j.cache_price(&key("x9.huge"), None, at(10)).unwrap();
        assert_eq!(
            j.cached_price(&key("t3.micro"), at(0)).unwrap(),
            Some(Some(0.0104))
        );
        assert_eq!(j.cached_price(&key("x9.huge"), at(0)).unwrap(), Some(None));
        assert_eq!(
            j.cached_price(&key("t3.micro"), at(11)).unwrap(),
            None,
            "older than asked for"
        );
        j.cache_price(&key("t3.micro"), Some(0.011), at(20))
            .unwrap();
        assert_eq!(
            j.cached_price(&key("t3.micro"), at(11)).unwrap(),
            Some(Some(0.011))
        );
    });
}

#[test]
fn a_store_says_where_it_is() {
    for s in stores() {
        let store = s.journal.store();
        assert!(
            store.ends_with("journal.db") || store == "dynamodb:runawaytrain-journal",
            "{}: {store}",
            s.name
        );
    }
}

/// Two replicas' journals on one DynamoDB table (the lease means nothing to the embedded
/// journal, whose one process always leads).
#[test]
fn one_replica_holds_the_lease_and_a_successor_fences_the_one_it_replaced() {
    let moto = crate::common::Moto::start_serial();
    let sdk = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(moto.sdk("us-east-1"));
    let a = DynamoJournal::init_with_sdk("runawaytrain-journal", &sdk).unwrap();
    let b = DynamoJournal::open_with("runawaytrain-journal", &sdk).unwrap();
    let lease_a = a.take_lease("a", at(0), at(1)).unwrap();
    assert_eq!((lease_a.holder.as_str(), lease_a.expires), ("a", at(1)));
    // b asks while a's lease runs: a keeps it.
    let seen = b.take_lease("b", at(0), at(1)).unwrap();
    assert_eq!((seen.holder.as_str(), seen.token), ("a", lease_a.token));
    // a renews: the same token, a later expiry.
    let renewed = a.take_lease("a", at(0), at(2)).unwrap();
    assert_eq!((renewed.token, renewed.expires), (lease_a.token, at(2)));
    let inc = a.open_incident("halt", "serve", at(0)).unwrap();
    assert_eq!(
        a.plan_changes(&inc, &[planned("i-1")], at(0))
            .unwrap()
            .len(),
        1
    );

    // a stops renewing (paused, or dead); once expired, b takes over with the next token.
    let lease_b = b.take_lease("b", at(3), at(4)).unwrap();
    assert_eq!(
        (lease_b.holder.as_str(), lease_b.token),
        ("b", lease_a.token + 1)
    );
    // a wakes up: whatever it journals now is refused, so it does nothing in AWS.
    let stale = a.plan_changes(&inc, &[planned("i-2")], at(3)).unwrap_err();
    assert!(
        stale.to_string().contains("lease was taken over"),
        "{stale}"
    );
    assert_eq!(a.changes(&inc).unwrap().len(), 1, "nothing journaled");
    assert_eq!(
        b.plan_changes(&inc, &[planned("i-2")], at(3))
            .unwrap()
            .len(),
        1
    );
    // And a sees b's lease when it asks again.
    assert_eq!(a.take_lease("a", at(3), at(4)).unwrap().holder, "b");
    // Still refused until a stands down (its bot does once nothing it began as leader runs):
    // then it journals as a follower does, a press's changes unfenced.
    assert!(a.plan_changes(&inc, &[planned("i-3")], at(3)).is_err());
    a.stand_down();
    assert_eq!(
        a.plan_changes(&inc, &[planned("i-3")], at(3))
            .unwrap()
            .len(),
        1
    );

    // b gives the lease up (a clean shutdown): a takes it at once.
    b.release_lease("b").unwrap();
    let again = a.take_lease("a", at(3), at(5)).unwrap();
    assert_eq!(
        (again.holder.as_str(), again.token),
        ("a", lease_b.token + 1)
    );

    // Both ask at once for an expired lease: one gets it, and both see the same holder.
    let (la, lb) = std::thread::scope(|s| {
        let ta = s.spawn(|| a.take_lease("a", at(6), at(7)).unwrap());
        let tb = s.spawn(|| b.take_lease("b", at(6), at(7)).unwrap());
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!(la, lb, "one holder");
    assert_eq!(la.token, again.token + 1);
}
