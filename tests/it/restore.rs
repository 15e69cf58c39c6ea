//! Exit statuses that tell the truth, and a restore that neither races the actions it undoes nor
//! leaves them to be redone: against a real moto server, with the journal failing on purpose
//! (an SQLite trigger that refuses one kind of write, as a full disk would) at chosen points.

use std::time::Duration;

use crate::common::config::Toml;
use crate::common::*;
use rusqlite::Connection;

fn config() -> String {
    Toml::new().payer(&["us-east-1"], "").into()
}

/// Makes the journal refuse writes that match `when` (an SQL trigger condition on `table`).
fn break_journal(w: &Workdir, name: &str, event: &str, when: &str) {
    let db = Connection::open(w.path("journal.db")).unwrap();
    db.execute_batch(&format!(
        "CREATE TRIGGER {name} BEFORE {event} FOR EACH ROW WHEN {when}
         BEGIN SELECT RAISE(FAIL, 'disk full (test)'); END;"
    ))
    .unwrap();
}

fn mend_journal(w: &Workdir, name: &str) {
    let db = Connection::open(w.path("journal.db")).unwrap();
    db.execute_batch(&format!("DROP TRIGGER {name};")).unwrap();
}

fn only_incident(w: &Workdir) -> String {
    let db = Connection::open(w.path("journal.db")).unwrap();
    db.query_row("SELECT id FROM incidents", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_failure_after_changes_is_never_exit_2() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    launch(&sdk, 3, &[], false).await;
    let w = Workdir::new(&config());
    // The journal exists (status creates it); then it cannot close incidents.
    assert_eq!(w.run(&moto.url, &["status"], &[]).await.code, 0);
    break_journal(
        &w,
        "no_close",
        "UPDATE OF closed_at ON incidents",
        "NEW.closed_at IS NOT NULL",
    );

    let out = w.run(&moto.url, &["halt", "--yes", "--json"], &[]).await;
    // The instances were stopped: exit 2 ("nothing was changed") would be a lie.
    assert_eq!(count(&sdk, "stopped").await, 3);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.json()["accounts"][0]["stopped"]["us-east-1"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(
        out.stderr.contains("the halt ran as printed") && out.stderr.contains("disk full"),
        "{out:?}"
    );
    mend_journal(&w, "no_close");
    let incident = only_incident(&w);

    // A restore whose journal fails before its first undo changed nothing: exit 2.
    break_journal(
        &w,
        "no_pending",
        "UPDATE OF restore_status ON changes",
        "NEW.restore_status = 'pending'",
    );
    let out = w
        .run(
            &moto.url,
            &["restore", &incident, "--start-instances", "--yes"],
            &[],
        )
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(count(&sdk, "stopped").await, 3, "nothing was started");
    mend_journal(&w, "no_pending");

    // One that fails after its undos went out changed something: exit 1, and it says so.
    break_journal(
        &w,
        "no_done",
        "UPDATE OF restore_status ON changes",
        "NEW.restore_status = 'done'",
    );
    let out = w
        .run(
            &moto.url,
            &["restore", &incident, "--start-instances", "--yes"],
            &[],
        )
        .await;
    assert_eq!(count(&sdk, "running").await, 3);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("the restore undid some changes"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_waits_for_the_actions_in_flight_and_then_undoes_them_all() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ids = launch(&sdk, 250, &[], false).await;
    // A slow AWS: every StopInstances call is held for a second (three batches of 100).
    let slow = RefusingProxy::start_with_delay(&moto.url, Vec::new(), Duration::from_secs(1));
    let w = std::sync::Arc::new(Workdir::new(&config()));
    let (w2, url) = (w.clone(), slow.url.clone());
    let halt = tokio::spawn(async move { w2.run(&url, &["halt", "--yes"], &[]).await });
    // Once the first batch is on its way, the incident is being carried out.
    for _ in 0..300 {
        if slow.stops_seen.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(slow.stops_seen.load(std::sync::atomic::Ordering::SeqCst) > 0);
    let incident = only_incident(&w);
    let out = w
        .run(
            &moto.url,
            &["restore", &incident, "--start-instances", "--yes", "--json"],
            &[("RUNAWAY_LOG", "warn")],
        )
        .await;
    let halted = halt.await.unwrap();
    assert_eq!(halted.code, 0, "{halted:?}");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("waiting for the incident"), "{out:?}");
    // Everything the halt stopped was started again: none is left behind.
    let started = out.json()["restored"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "stop_instance")
        .count();
    assert_eq!(started, ids.len(), "{out:?}");
    // And each one's incident tag was taken off.
    let untagged = out.json()["restored"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "tag_instance")
        .count();
    assert_eq!(untagged, ids.len(), "{out:?}");
    assert_eq!(count(&sdk, "running").await, ids.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incident_left_by_a_dead_process_is_taken_over_so_nobody_redoes_it() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    launch(&sdk, 2, &[], false).await;
    let w = Workdir::new(&config());
    assert_eq!(w.run(&moto.url, &["halt", "--yes"], &[]).await.code, 0);
    let incident = only_incident(&w);
    // As a `runaway serve` killed in the middle of its actions leaves it.
    let db = Connection::open(w.path("journal.db")).unwrap();
    db.execute(
        "UPDATE incidents SET status = 'approved', acting_process = '1@1' WHERE id = ?1",
        [&incident],
    )
    .unwrap();
    let out = w
        .run(
            &moto.url,
            &["restore", &incident, "--start-instances", "--yes"],
            &[],
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(count(&sdk, "running").await, 2);
    let status: String = db
        .query_row(
            "SELECT status FROM incidents WHERE id = ?1",
            [&incident],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "partial", "a restarted serve must not resume it");
}
