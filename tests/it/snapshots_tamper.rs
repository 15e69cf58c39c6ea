//! What people see of a tamper incident, as reviewed snapshots (insta, as `snapshots.rs`): the
//! alert open with Lock out, the alert locked out at the deadline, and its e-mail. The tampering
//! is the documented `StopLogging` record, judged as the guard judges it.

use runawaytrain::core::guardduty::{FindingIncident, Response};
use runawaytrain::core::incident::Status;
use runawaytrain::core::launchers::{Attribution, Launcher, Launchers, LaunchersState};
use runawaytrain::core::tamper::{Verdict, Watch, judge};
use runawaytrain::ports::IncidentView;

use crate::snapshots::{lockout_outcome, view};

fn tamper_view(status: Status, response: Response) -> IncidentView {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cloudtrail/stop-logging.json"
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let watch = Watch {
        guard: "arn:aws:sts::123456789012:assumed-role/runawaytrain-guard/s",
        watch_stops: false,
        expected_principals: &[],
        tag_admins: &[],
        exempt_tag: "runaway:exempt",
        rules: &[],
        queue: None,
        policies: &[],
    };
    let Ok(Verdict::Tamper(first)) = judge(&record, &watch) else {
        panic!("StopLogging is tampering");
    };
    let mut deleted = record.clone();
    deleted["eventName"] = "DeleteTrail".into();
    deleted["eventTime"] = "2026-12-06T10:01:00Z".into();
    let Ok(Verdict::Tamper(then)) = judge(&deleted, &watch) else {
        panic!("DeleteTrail is tampering");
    };
    let at = first.time;
    let mut f = FindingIncident::of_tamper(
        *first.clone(),
        "123456789012",
        response,
        "StopLogging",
        std::time::Duration::from_secs(0),
        at,
    );
    f.seen_again(FindingIncident::of_tamper(
        *then,
        "123456789012",
        Response::Alert,
        "(none: alert)",
        std::time::Duration::from_secs(600),
        at,
    ));
    let mut v = view(status);
    v.accounts = vec![("123456789012".into(), "payer".into())];
    v.observed = None;
    v.actions = vec![];
    v.outcome = None;
    v.launchers = Some(Launchers {
        state: LaunchersState::Known,
        source: "cloudtrail".into(),
        since: at,
        looked_at: at,
        attribution: Attribution {
            launchers: vec![Launcher {
                principal_arn: first.principal_arn.clone(),
                kind: "IAMUser".into(),
                user_name: Some("mallory".into()),
                role_arn: None,
                access_key_id: first.access_key_id.clone(),
                source_ips: vec!["203.0.113.66".into()],
                user_agents: vec![],
                instances: 0,
                instance_ids: vec![],
                regions: Default::default(),
                exempt: false,
            }],
            records: 1,
            ..Default::default()
        },
        unattributed: None,
        error: None,
    });
    v.lockout = (status == Status::Executed).then(lockout_outcome);
    v.finding = Some(f);
    v
}

#[test]
fn slack_tamper_open_alert_only() {
    insta::assert_json_snapshot!(runawaytrain::adapters::slack::incident_message(
        &tamper_view(Status::Open, Response::Alert)
    ));
}

#[test]
fn slack_tamper_locked_out_at_the_deadline_and_its_email() {
    let v = tamper_view(Status::Executed, Response::Lockout);
    insta::assert_json_snapshot!(runawaytrain::adapters::slack::incident_message(&v));
    let (subject, body) = runawaytrain::text::email::email(&v);
    insta::assert_snapshot!(format!("{subject}\n\n{body}"));
}
