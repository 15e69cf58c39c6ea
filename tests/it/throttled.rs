//! Halts and lockouts that AWS throttles. moto never throttles, so a proxy with token buckets
//! (`scripts/throttle_proxy.py`) stands in front of it and answers as AWS does: EC2's
//! StopInstances metered by instances (`RequestLimitExceeded`, HTTP 503), IAM's writes by
//! requests (`Throttling`, HTTP 400). Every refused call must be retried and nothing lost; after
//! the first refusal the guard sends no more than the bucket refills.

use crate::common::config::Toml;
use crate::common::throttle::{Metered, Throttle};
use crate::common::*;
use serde_json::Value;

/// The calls of `action`, and the index of the first refusal.
fn calls(log: &[Metered], action: &str) -> (Vec<Metered>, usize) {
    let calls: Vec<Metered> = log.iter().filter(|m| m.action == action).cloned().collect();
    let first = calls
        .iter()
        .position(|m| !m.accepted)
        .unwrap_or_else(|| panic!("the bucket never refused a {action}: {calls:?}"));
    (calls, first)
}

/// After the first refusal at `t0`: never refused again, and never more accepted by any time
/// than `rate` refills from `t0` (plus one call's rounding).
fn paced_after_refusal(calls: &[Metered], first: usize, rate: f64, slack: f64) {
    let t0 = calls[first].t;
    assert!(
        calls[first + 1..].iter().all(|m| m.accepted),
        "refused again after the first refusal: {:?}",
        &calls[first..(first + 6).min(calls.len())]
    );
    let mut spent = 0.0;
    for m in &calls[first + 1..] {
        spent += m.cost;
        let allowed = rate * (m.t - t0) + slack;
        assert!(
            spent <= allowed,
            "{spent} tokens spent {:.2} s after the refusal, the bucket refilled {allowed:.1}",
            m.t - t0
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_halt_of_300_instances_through_a_small_bucket_stops_every_one_paced() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ids = launch(&sdk, 300, &[], false).await;
    // EC2's real bucket is 1,000 instances refilled at 20 a second; this one is 50 at 25.
    let proxy = Throttle::start(&moto.url, &["--ec2-burst", "50", "--ec2-rate", "25"]);
    let w = Workdir::new(
        &Toml::new()
            .guard("stop_rate = 25")
            .payer(&["us-east-1"], "")
            .to_string(),
    );
    let out = w.run(&proxy.url, &["halt", "--yes", "--json"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let r = out.json();
    let a = &r["accounts"][0];
    let stopped: Vec<&str> = a["stopped"]["us-east-1"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(stopped.len(), 300);
    assert_eq!(a["errors"], Value::Array(vec![]), "{a}");
    assert_eq!(count(&sdk, "running").await, 0);
    assert_eq!(count(&sdk, "stopped").await, ids.len());

    let (stops, first) = calls(&proxy.log(), "StopInstances");
    let accepted: f64 = stops.iter().filter(|m| m.accepted).map(|m| m.cost).sum();
    assert_eq!(accepted, 300.0, "each instance stopped exactly once");
    paced_after_refusal(&stops, first, 25.0, 1.0);
    // 250 instances at most after the first 50: at least 10 s at 25 a second.
    let last = stops.last().unwrap().t;
    assert!(last - stops[0].t >= 9.0, "{} s", last - stops[0].t);

    let refusals = stops.iter().filter(|m| !m.accepted).count();
    assert_eq!(a["throttled"]["refusals"], refusals, "{a}");
    let waited = a["throttled"]["waited_seconds"].as_f64().unwrap();
    assert!(waited >= 8.0 && waited <= last + 1.0, "{waited}");

    // Journaled once each: one stop per instance in the journal, each done.
    let db = rusqlite::Connection::open(w.path("journal.db")).unwrap();
    let (rows, done): (i64, i64) = db
        .query_row(
            "SELECT COUNT(*), SUM(status = 'done') FROM changes WHERE action = 'stop_instance'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((rows, done), (300, 300));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lockout_and_its_restore_through_a_throttled_iam_lose_nothing() {
    let moto = Moto::start_with(&[("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")]);
    let iam = aws_sdk_iam::Client::new(&moto.sdk("us-east-1").await);
    let users: Vec<String> = (0..30).map(|i| format!("dev{i:02}")).collect();
    for u in users
        .iter()
        .map(String::as_str)
        .chain(["breakglass", "moto"])
    {
        iam.create_user().user_name(u).send().await.unwrap();
        iam.create_access_key().user_name(u).send().await.unwrap();
    }
    // IAM publishes no figures; this bucket is 10 writes, refilled at 20 a second.
    let proxy = Throttle::start(&moto.url, &["--iam-burst", "10", "--iam-rate", "20"]);
    let w = Workdir::new(
        &Toml::new()
            .guard("exempt_principals = [\"breakglass\"]\niam_rate = 20")
            .payer(&["us-east-1"], "")
            .to_string(),
    );
    let out = w.run(&proxy.url, &["lockout", "--yes"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("throttled by IAM") || out.stderr.contains("throttled by IAM"),
        "{out:?}"
    );
    for u in &users {
        assert_eq!(key_status(&iam, u).await, "Inactive", "{u}");
        assert_eq!(
            attached_policies(&iam, u).await,
            ["arn:aws:iam::aws:policy/AWSDenyAll"],
            "{u}"
        );
    }
    assert_eq!(key_status(&iam, "breakglass").await, "Active");
    let log = proxy.log();
    let iam_writes: Vec<Metered> = log.iter().filter(|m| m.bucket == "iam").cloned().collect();
    let first = iam_writes.iter().position(|m| !m.accepted).unwrap();
    paced_after_refusal(&iam_writes, first, 20.0, 1.0);
    assert_eq!(iam_writes.iter().filter(|m| m.accepted).count(), 60);

    // The restore's writes are paced too, and undo every change.
    let incident = out
        .stdout
        .lines()
        .chain(out.stderr.lines())
        .find_map(|l| l.strip_prefix("incident "))
        .expect("the incident named")
        .to_owned();
    let done = log.len();
    let out = w
        .run(&proxy.url, &["restore", &incident, "--yes", "--json"], &[])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["restored"].as_array().unwrap().len(), 60);
    for u in &users {
        assert_eq!(key_status(&iam, u).await, "Active", "{u}");
        assert!(attached_policies(&iam, u).await.is_empty(), "{u}");
    }
    let undo: Vec<Metered> = proxy.log()[done..]
        .iter()
        .filter(|m| m.bucket == "iam")
        .cloned()
        .collect();
    assert_eq!(undo.iter().filter(|m| m.accepted).count(), 60);
    if let Some(first) = undo.iter().position(|m| !m.accepted) {
        paced_after_refusal(&undo, first, 20.0, 1.0);
    }
}
