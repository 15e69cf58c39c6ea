//! What people see, as reviewed snapshots (insta): the Slack alert in its states, the halt
//! confirmation, the e-mail, and the terminal's check, halt, lockout, restore and status texts. A change to any of them shows up as a diff to review and accept
//! (`INSTA_UPDATE=always cargo test --test snapshots`, then read the `.snap` files).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{TimeZone, Utc};
use runawaytrain::adapters::journal::SqliteJournal;
use runawaytrain::app::check::{AccountReport, CheckReport};
use runawaytrain::app::halt::HaltReport;
use runawaytrain::app::halt::{AccountHalt, Skipped, Suspension};
use runawaytrain::app::lockout::{AccountLockout, ExemptPrincipal, LockoutChange, LockoutReport};
use runawaytrain::app::restore::{NotUndone, RestoreReport, Undone};
use runawaytrain::config::Action;
use runawaytrain::core::change::ChangeKind;
use runawaytrain::core::incident::{Observed, Status, violation};
use runawaytrain::core::model::Problem;
use runawaytrain::core::rules::{Quantity, State};
use runawaytrain::ports::IncidentView;

fn observed() -> Observed {
    Observed {
        running_instances: 12,
        regions: BTreeMap::from([("us-east-1".into(), 10), ("eu-west-1".into(), 2)]),
        estimated_charges_usd: Some(612.5),
        spend_rate_usd_per_hour: None,
        burn_rate_usd_per_hour: None,
        top_instance_types: vec![],
        bedrock_burn_rate_usd_per_hour: None,
        bedrock_model_costs: vec![],
        violations: vec![
            violation(
                "max_running_instances",
                Quantity::Count(4),
                Quantity::Count(12),
            ),
            violation(
                "max_estimated_charges_usd",
                Quantity::Usd(500.0),
                Quantity::Usd(612.5),
            ),
        ],
    }
}

pub(crate) fn view(status: Status) -> IncidentView {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 17, 0, 0).unwrap();
    let executed = matches!(status, Status::Executed | Status::Partial);
    IncidentView {
        id: "inc-20261123-170000-3fa2".into(),
        accounts: vec![("111111111111".into(), "payer".into())],
        observed: Some(observed()),
        actions: vec![Action::StopInstances, Action::LockoutUsers],
        deadline: Some(at + chrono::Duration::minutes(10)),
        grace_period: std::time::Duration::from_secs(600),
        status,
        decided_by: (status != Status::Open).then(|| {
            if executed {
                "deadline".into()
            } else {
                "U0123456789".into()
            }
        }),
        decided_at: (status != Status::Open).then_some(at + chrono::Duration::minutes(10)),
        exempt_tag: "runaway:exempt".into(),
        outcome: executed.then(|| {
            vec![AccountHalt {
                account_id: "111111111111".into(),
                name: "payer".into(),
                throttled: Default::default(),
                stopped: BTreeMap::from([
                    (
                        "us-east-1".into(),
                        (0..9).map(|i| format!("i-0000000000000000{i}")).collect(),
                    ),
                    (
                        "eu-west-1".into(),
                        vec!["i-0000000000000000a".into(), "i-0000000000000000b".into()],
                    ),
                ]),
                suspended: vec![Suspension {
                    region: "us-east-1".into(),
                    group: "web".into(),
                    processes: vec![
                        "Launch".into(),
                        "ReplaceUnhealthy".into(),
                        "HealthCheck".into(),
                        "AZRebalance".into(),
                    ],
                }],
                skipped: vec![Skipped {
                    instance_id: "i-0000000000000000c".into(),
                    region: "us-east-1".into(),
                    reason: "exempt: tagged runaway:exempt=true".into(),
                    exempt: true,
                }],
                errors: vec![],
                services: BTreeMap::from([(
                    "rds".into(),
                    runawaytrain::core::reports::ServiceHalt {
                        stopped: vec!["arn:aws:rds:us-east-1:111111111111:db:reports".into()],
                        skipped: vec![runawaytrain::core::reports::SkippedResource {
                            arn: "arn:aws:rds:us-east-1:111111111111:db:prod".into(),
                            region: "us-east-1".into(),
                            reason: "exempt (tag runaway:exempt=true)".into(),
                        }],
                        errors: vec![],
                        not_restorable: vec![],
                        nodes: vec![],
                    },
                )]),
            }]
        }),
        lockout: None,
        launchers: None,
        finding: None,
        target: None,
        isolation: None,
        error: None,
        waiting: Vec::new(),
        trend: None,
    }
}

#[test]
fn slack_alert_open() {
    insta::assert_json_snapshot!(runawaytrain::adapters::slack::incident_message(&view(
        Status::Open
    )));
}

#[test]
fn slack_alert_burn_rate() {
    let mut v = view(Status::Open);
    let o = v.observed.as_mut().unwrap();
    o.violations = vec![violation(
        "max_burn_rate_usd_per_hour",
        Quantity::Usd(50.0),
        Quantity::Usd(98.33),
    )];
    o.burn_rate_usd_per_hour = Some(98.33);
    o.top_instance_types = vec![
        runawaytrain::core::money::TypeCost {
            instance_type: "p4d.24xlarge".into(),
            instances: 3,
            usd_per_hour: 98.32,
            accelerated: true,
        },
        runawaytrain::core::money::TypeCost {
            instance_type: "t3.micro".into(),
            instances: 1,
            usd_per_hour: 0.0104,
            accelerated: false,
        },
    ];
    insta::assert_json_snapshot!(runawaytrain::adapters::slack::incident_message(&v));
    insta::assert_snapshot!(runawaytrain::text::email::email(&v).1);
}

/// Bedrock's tokens over their limit: the rate and the models by cost, in the alert and the
/// e-mail.
#[test]
fn slack_alert_bedrock_tokens() {
    let mut v = view(Status::Open);
    let o = v.observed.as_mut().unwrap();
    o.violations = vec![violation(
        "max_bedrock_burn_rate_usd_per_hour",
        Quantity::Usd(10.0),
        Quantity::Usd(15.35),
    )];
    o.bedrock_burn_rate_usd_per_hour = Some(15.35);
    o.bedrock_model_costs = vec![
        runawaytrain::core::tokens::ModelCost {
            model_id: "anthropic.claude-3-5-sonnet-20240620-v1:0".into(),
            usd_per_hour: 12.0,
        },
        runawaytrain::core::tokens::ModelCost {
            model_id: "eu.meta.llama3-70b-instruct-v1:0".into(),
            usd_per_hour: 3.35,
        },
    ];
    let message = runawaytrain::adapters::slack::incident_message(&v);
    assert!(
        message.to_string().contains("*Bedrock tokens:* $15.35/h"),
        "{message}"
    );
    insta::assert_json_snapshot!(message);
    insta::assert_snapshot!(runawaytrain::text::email::email(&v).1);
}

#[test]
fn slack_alert_overridden() {
    insta::assert_json_snapshot!(runawaytrain::adapters::slack::incident_message(&view(
        Status::Overridden
    )));
}

#[test]
fn slack_alert_executed() {
    insta::assert_json_snapshot!(runawaytrain::adapters::slack::incident_message(&view(
        Status::Executed
    )));
}

#[test]
fn email_executed() {
    let (subject, body) = runawaytrain::text::email::email(&view(Status::Executed));
    insta::assert_snapshot!(format!("Subject: {subject}\n\n{body}"));
}

#[test]
fn check_table() {
    let report = CheckReport {
        checked_at: Utc.with_ymd_and_hms(2026, 11, 23, 17, 0, 0).unwrap(),
        state: State::Fail,
        accounts: vec![
            AccountReport {
                account_id: "111111111111".into(),
                name: "payer".into(),
                source: "configured",
                state: State::Fail,
                running_instances: 12,
                regions: BTreeMap::from([
                    ("us-east-1".into(), 10),
                    ("eu-west-1".into(), 2),
                    ("sa-east-1".into(), 0),
                ]),
                estimated_charges_usd: Some(612.5),
                spend_rate_usd_per_hour: Some(41.2),
                burn_rate_usd_per_hour: Some(65.5504),
                bedrock_invocations_per_hour: None,
                bedrock_models: Vec::new(),
                bedrock_burn_rate_usd_per_hour: Some(15.35),
                bedrock_model_costs: vec![
                    runawaytrain::core::tokens::ModelCost {
                        model_id: "anthropic.claude-3-5-sonnet-20240620-v1:0".into(),
                        usd_per_hour: 12.0,
                    },
                    runawaytrain::core::tokens::ModelCost {
                        model_id: "eu.meta.llama3-70b-instruct-v1:0".into(),
                        usd_per_hour: 3.35,
                    },
                ],
                bedrock_provisioned: vec![],
                top_instance_types: vec![
                    runawaytrain::core::money::TypeCost {
                        instance_type: "p4d.24xlarge".into(),
                        instances: 2,
                        usd_per_hour: 65.54,
                        accelerated: true,
                    },
                    runawaytrain::core::money::TypeCost {
                        instance_type: "t3.micro".into(),
                        instances: 1,
                        usd_per_hour: 0.0104,
                        accelerated: false,
                    },
                ],
                violations: observed().violations,
                errors: vec![],
                services: Default::default(),
                counted: vec![],
            },
            AccountReport {
                account_id: "222222222222".into(),
                name: "research".into(),
                source: "discovered",
                state: State::Error,
                running_instances: 3,
                regions: BTreeMap::from([("eu-central-1".into(), 3)]),
                estimated_charges_usd: None,
                spend_rate_usd_per_hour: None,
                burn_rate_usd_per_hour: None,
                bedrock_invocations_per_hour: None,
                bedrock_models: Vec::new(),
                bedrock_burn_rate_usd_per_hour: None,
                bedrock_model_costs: Vec::new(),
                bedrock_provisioned: Vec::new(),
                top_instance_types: vec![],
                violations: vec![],
                errors: vec![Problem::region(
                    "ap-south-1",
                    "ec2:DescribeInstanceStatus: AuthFailure: AWS was not able to validate the provided access credentials",
                )],
                services: Default::default(),
                counted: vec![],
            },
        ],
        errors: vec![],
        restopped: vec![],
    };
    let _ = Path::new("");
    insta::assert_snapshot!(runawaytrain::text::terminal::check(&report));
}

pub(crate) fn lockout_outcome() -> Vec<AccountLockout> {
    vec![AccountLockout {
        account_id: "111111111111".into(),
        name: "payer".into(),
        throttled: Default::default(),
        changes: vec![
            LockoutChange::AttachUserPolicy {
                principal: "ci-deployer".into(),
                policy_arn: "arn:aws:iam::aws:policy/AWSDenyAll".into(),
            },
            LockoutChange::DeactivateAccessKey {
                principal: "ci-deployer".into(),
                access_key_id: "AKIAEXAMPLEKEY000001".into(),
            },
            LockoutChange::AttachRolePolicy {
                principal: "batch-runner".into(),
                policy_arn: "arn:aws:iam::111111111111:policy/runawaytrain-launch-deny".into(),
            },
        ],
        exempt: vec![
            ExemptPrincipal {
                principal: "breakglass".into(),
                reason: "exempt_principals".into(),
            },
            ExemptPrincipal {
                principal: "runawaytrain-guard".into(),
                reason: "the guard's own identity".into(),
            },
        ],
        errors: vec![Problem::account(
            "iam:UpdateAccessKey: AccessDenied: not authorized",
        )],
    }]
}

#[test]
fn slack_halt_confirmation() {
    let mut v = view(Status::AwaitingConfirmation);
    v.observed = None;
    v.actions = vec![Action::StopInstances];
    v.decided_by = None;
    v.decided_at = None;
    insta::assert_json_snapshot!(runawaytrain::adapters::slack::incident_message(&v));
}

#[test]
fn slack_alert_executed_with_lockout() {
    let mut v = view(Status::Partial);
    v.lockout = Some(lockout_outcome());
    insta::assert_json_snapshot!(runawaytrain::adapters::slack::incident_message(&v));
}

#[test]
fn terminal_halt() {
    let report = HaltReport {
        incident: Some("inc-20261123-170000-3fa2".into()),
        dry_run: false,
        accounts: view(Status::Executed).outcome.unwrap(),
    };
    insta::assert_snapshot!(runawaytrain::text::terminal::halt(&report));
}

#[test]
fn terminal_lockout() {
    let report = LockoutReport {
        incident: Some("inc-20261123-170000-3fa2".into()),
        dry_run: false,
        accounts: lockout_outcome(),
    };
    insta::assert_snapshot!(runawaytrain::text::terminal::lockout(&report));
}

#[test]
fn terminal_restore() {
    let undone = |action, target: &str| Undone {
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        action,
        target: target.into(),
    };
    let report = RestoreReport {
        incident: "inc-20261123-170000-3fa2".into(),
        restored: vec![
            undone(ChangeKind::AttachUserPolicy, "ci-deployer"),
            undone(ChangeKind::DeactivateAccessKey, "AKIAEXAMPLEKEY000001"),
        ],
        kept: vec![NotUndone {
            account_id: "111111111111".into(),
            region: "us-east-1".into(),
            action: ChangeKind::StopInstance,
            target: "i-00000000000000001".into(),
            reason: "stopped: restore with --start-instances to start it".into(),
        }],
        errors: vec![NotUndone {
            account_id: "111111111111".into(),
            region: "global".into(),
            action: ChangeKind::AttachRolePolicy,
            target: "batch-runner".into(),
            reason: "iam:DetachRolePolicy: AccessDenied: not authorized".into(),
        }],
        already_restored: 1,
    };
    insta::assert_snapshot!(runawaytrain::text::terminal::restore(&report));
}

/// A slow climb over a day: a check every 30 minutes (but none for three hours in the night),
/// from 2 instances to 11 and from $0.40/h to $2.20/h: `(how long ago, running, spend rate)`.
fn climb() -> Vec<(chrono::Duration, u64, f64)> {
    (1..48)
        .rev()
        .filter(|half_hours| !(20..26).contains(half_hours))
        .map(|half_hours: i64| {
            let n = 2 + (47 - half_hours as u64) / 5;
            (
                chrono::Duration::minutes(30 * half_hours),
                n,
                n as f64 * 0.2,
            )
        })
        .collect()
}

/// The alert carries the account's trend over the day before it, as the journal's checks saw
/// it: one context block in a code span, inside Block Kit's limits.
#[test]
fn slack_alert_with_its_trend() {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 17, 0, 0).unwrap();
    let checks: Vec<_> = climb()
        .into_iter()
        .map(|(ago, running, rate)| {
            (
                at - ago,
                serde_json::json!({"accounts": [{"account_id": "111111111111",
                    "running_instances": running, "spend_rate_usd_per_hour": rate}]}),
            )
        })
        .collect();
    let trend = runawaytrain::core::trend::trend(&checks, "111111111111", at);
    let mut v = view(Status::Open);
    v.trend = runawaytrain::core::trend::line(&trend);
    let message = runawaytrain::adapters::slack::incident_message(&v);
    let blocks = message["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    let context = blocks
        .iter()
        .find(|b| b["type"] == "context" && b.to_string().contains("24 h"))
        .expect("a trend block");
    let text = context["elements"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("`24 h  running ") && text.len() < 3000,
        "{text}"
    );
    insta::assert_json_snapshot!(message);
    // The notify e-mail carries the same line.
    let (_, body) = runawaytrain::text::email::email(&v);
    assert!(
        body.contains(&format!("Last {}", v.trend.as_deref().unwrap())),
        "{body}"
    );
}

#[test]
fn terminal_status() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runaway.toml");
    std::fs::write(
        &path,
        "[guard]\nstate_path = \"j.db\"\n[[accounts]]\nid = \"111111111111\"\nname = \"payer\"\nmax_running_instances = 4\n",
    )
    .unwrap();
    let config = runawaytrain::config::Config::load(&path).unwrap();
    let journal = SqliteJournal::open(&config.guard.state_path).unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 17, 0, 0).unwrap();
    for (ago, running, rate) in climb() {
        let report = serde_json::json!({"state": "ok", "accounts": [{"account_id": "111111111111",
            "name": "payer", "state": "ok", "running_instances": running,
            "spend_rate_usd_per_hour": rate}]});
        journal
            .record_check(at - ago, "ok", 800, &report, &[])
            .unwrap();
    }
    let report = serde_json::json!({"checked_at": "2026-11-23T17:00:00Z", "state": "fail",
        "accounts": [{"account_id": "111111111111", "name": "payer", "state": "fail",
            "running_instances": 12}]});
    journal.record_check(at, "fail", 840, &report, &[]).unwrap();
    let open = journal.open_alert("111111111111", &observed(), at).unwrap();
    journal
        .set_deadline(&open, at + chrono::Duration::minutes(10))
        .unwrap();
    let done = journal
        .open_incident("halt", "cli:ops", at - chrono::Duration::hours(2))
        .unwrap();
    journal
        .close_incident(&done, "executed", at - chrono::Duration::hours(2))
        .unwrap();
    let text = runawaytrain::app::status::text(&journal, &config, at)
        .unwrap()
        .replace(&open, "inc-OPEN")
        .replace(&done, "inc-DONE");
    insta::assert_snapshot!(text);
}

/// A GuardDuty finding incident about an instance, isolated at its deadline.
fn finding_view(status: Status) -> IncidentView {
    use runawaytrain::core::guardduty::{Finding, FindingIncident, Response};
    use runawaytrain::core::isolation::{IsolationReport, Step, StepReport, StepStatus};
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 17, 0, 0).unwrap();
    let finding = Finding {
        id: "16afba5c5c43e07c9e3e5e2e544e95df".into(),
        finding_type: "Backdoor:EC2/C&CActivity.B!DNS".into(),
        severity: 8.0,
        title:
            "Command and Control server domain name queried by EC2 instance i-0123456789abcdef0."
                .into(),
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        resource_type: "Instance".into(),
        instance_id: Some("i-0123456789abcdef0".into()),
        access_key_id: None,
        user_name: None,
        user_type: None,
        count: 4,
        updated_at: None,
    };
    let step = |step, status, detail: &str| StepReport {
        step,
        status,
        detail: detail.into(),
    };
    let mut v = view(status);
    v.observed = None;
    v.actions = vec![];
    v.outcome = None;
    v.decided_by = (status != Status::Open).then(|| "deadline".into());
    v.finding = Some(FindingIncident {
        tamper: None,
        finding,
        response: Response::Isolate,
        rule: "Backdoor:EC2/*".into(),
        grace_seconds: 120,
        findings: 2,
        first_seen: at,
        last_seen: at,
    });
    v.isolation = matches!(status, Status::Executed | Status::Partial).then(|| IsolationReport {
        incident: Some(v.id.clone()),
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        instance_id: "i-0123456789abcdef0".into(),
        dry_run: false,
        steps: vec![
            step(
                Step::Capture,
                StepStatus::Done,
                "running t3.micro in vpc-1: 1 interface(s), 2 volume(s), group web",
            ),
            step(
                Step::TerminationProtection,
                StepStatus::Done,
                "termination protection on, shutdown behaviour stop",
            ),
            step(
                Step::DetachAutoScaling,
                StepStatus::Done,
                "detached from web, desired capacity decremented",
            ),
            step(
                Step::DisassociateProfile,
                StepStatus::Skipped,
                "no instance profile",
            ),
            step(
                Step::IsolationGroup,
                StepStatus::Done,
                "eni-1: sg-web → sg-iso, through sg-untracked",
            ),
            step(
                Step::Snapshot,
                StepStatus::Done,
                "snap-1 of vol-1 (/dev/sda1)",
            ),
            step(
                Step::Snapshot,
                StepStatus::Failed,
                "snapshot of vol-2 (/dev/sdf): ec2:CreateSnapshot: SnapshotLimitExceeded",
            ),
            step(
                Step::Tag,
                StepStatus::Done,
                "runaway:quarantine=inc-20261123-170000-3fa2",
            ),
            step(
                Step::Stop,
                StepStatus::Skipped,
                "kept running: memory is evidence (--stop to stop it)",
            ),
        ],
        snapshots: vec!["snap-1".into()],
        forensic_instance: None,
    });
    v
}

#[test]
fn slack_finding_open() {
    insta::assert_json_snapshot!(runawaytrain::adapters::slack::incident_message(
        &finding_view(Status::Open)
    ));
}

#[test]
fn slack_finding_isolated_and_its_email() {
    let v = finding_view(Status::Partial);
    insta::assert_json_snapshot!(runawaytrain::adapters::slack::incident_message(&v));
    insta::assert_snapshot!(runawaytrain::text::email::email(&v).1);
}
