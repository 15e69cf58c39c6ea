//! Fuzzed input (proptest, a bounded number of cases in the normal test run; `scripts/fuzz`
//! runs the same properties with many more). Over everything the guard reads from outside:
//! EventBridge envelopes and the CloudTrail records and GuardDuty findings in them, Slack's
//! slash commands and interaction payloads (the same types Socket Mode envelopes carry), the
//! configuration file, and journal rows. The property: never a panic, never an action, and an
//! error that names what was wrong. Documents are fuzzed two ways: arbitrary text and JSON, and
//! a valid document with one part removed or replaced (the mutations that get past a parser's
//! first check).

use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, TestRunner};
use serde_json::{Value, json};

/// Cases per property: `PROPTEST_CASES` (`scripts/fuzz`), else `default`.
fn cases(default: u32) -> Cases {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Cases {
        cases: n,
        failure_persistence: None,
        ..Cases::default()
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::String),
        // Strings that look like what is expected, so that the parser's later checks are hit.
        prop_oneof![
            Just("123456789012"),
            Just("us-east-1"),
            Just("2026-11-25T10:00:00Z"),
            Just("i-0123456789abcdef0"),
            Just("Instance"),
            Just("RunInstances"),
            Just("block_actions"),
            Just("runaway_approve"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path to a value in `v`, as keys and indexes.
fn paths(v: &Value, here: Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let mut p = here.clone();
                p.push(k.clone());
                out.push(p.clone());
                paths(child, p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let mut p = here.clone();
                p.push(i.to_string());
                out.push(p.clone());
                paths(child, p, out);
            }
        }
        _ => {}
    }
}

/// `valid` with the value at one of its paths removed (`None`) or replaced.
fn mutate(valid: &Value, pick: usize, with: Option<Value>) -> Value {
    let mut all = Vec::new();
    paths(valid, Vec::new(), &mut all);
    let mut v = valid.clone();
    let path = &all[pick % all.len()];
    let (last, parent) = path.split_last().unwrap();
    let mut at = &mut v;
    for key in parent {
        at = match at {
            Value::Object(m) => m.get_mut(key).unwrap(),
            Value::Array(a) => &mut a[key.parse::<usize>().unwrap()],
            _ => unreachable!(),
        };
    }
    match (at, with) {
        (Value::Object(m), None) => {
            m.remove(last);
        }
        (Value::Object(m), Some(w)) => {
            m.insert(last.clone(), w);
        }
        (Value::Array(a), None) => {
            a.remove(last.parse::<usize>().unwrap());
        }
        (Value::Array(a), Some(w)) => a[last.parse::<usize>().unwrap()] = w,
        _ => unreachable!(),
    }
    v
}

fn mutation() -> impl Strategy<Value = (usize, Option<Value>)> {
    (any::<usize>(), prop::option::of(json_value()))
}

fn run<S: Strategy>(
    default: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    TestRunner::new(cases(default))
        .run(&strategy, test)
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A launch call as CloudTrail records it, in its EventBridge envelope.
fn launch_envelope() -> Value {
    json!({
        "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
        "account": "123456789012", "time": "2026-11-25T10:00:00Z", "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09", "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
            "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.7",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/mallory",
                "accessKeyId": "AKIAEXAMPLE", "userName": "mallory"},
            "responseElements": {"instancesSet": {"items": [{"instanceId": "i-0123456789abcdef0",
                "instanceType": "p4d.24xlarge"}]}}
        }
    })
}

fn finding_envelope() -> Value {
    let detail = crate::common::events::sample_finding("backdoor-ec2-cc-activity-dns", 8.0, 3);
    json!({
        "version": "0", "id": "c8c4daa7-a20c-2f03-0070-b7393dd542ad",
        "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
        "account": "123456789012", "time": "2026-11-25T10:00:00Z", "region": "us-east-1",
        "resources": [], "detail": detail
    })
}

#[test]
fn eventbridge_envelopes_cloudtrail_records_and_findings_never_panic_and_say_what_is_wrong() {
    use runawaytrain::core::events::{decide, parse};
    run(512, ".*", |text: String| {
        if let Err(e) = parse(&text) {
            prop_assert!(!e.is_empty());
        }
        Ok(())
    });
    run(512, json_value(), |v| {
        if let Ok(event) = parse(&v.to_string()) {
            let _ = decide(&event, true);
        }
        Ok(())
    });
    for valid in [launch_envelope(), finding_envelope()] {
        assert!(
            parse(&valid.to_string()).is_ok(),
            "the valid document reads"
        );
        run(512, mutation(), |(pick, with)| {
            let doc = mutate(&valid, pick, with);
            match parse(&doc.to_string()) {
                Ok(event) => {
                    // Read, then decided on: neither panics.
                    let _ = decide(&event, true);
                    let _ = decide(&event, false);
                }
                Err(e) => prop_assert!(e.len() > 8, "{e:?}"),
            }
            Ok(())
        });
    }
}

#[test]
fn guardduty_findings_never_panic_and_name_the_field() {
    use runawaytrain::core::guardduty::read;
    let valid = crate::common::events::sample_finding(
        "unauthorized-access-iam-user-malicious-ip-caller",
        5.0,
        1,
    );
    assert!(read(&valid).is_ok());
    run(1024, mutation(), |(pick, with)| {
        let doc = mutate(&valid, pick, with);
        if let Err(e) = read(&doc) {
            // It names the field it could not read, as the document spells it.
            prop_assert!(
                e.contains("severity")
                    || e.contains("resource")
                    || e.contains("id")
                    || e.contains("type")
                    || e.contains("accountId")
                    || e.contains("region")
                    || e.contains("title")
                    || e.contains("count")
                    || e.contains("updatedAt")
                    || e.contains("instance")
                    || e.contains("accessKey"),
                "{e:?} for {doc}"
            );
        }
        Ok(())
    });
    run(512, json_value(), |v| {
        let _ = read(&v);
        Ok(())
    });
}

#[test]
fn tamper_records_never_panic_and_name_the_field() {
    use runawaytrain::core::tamper::{Watch, judge};
    let rules = ["runawaytrain-events".to_owned()];
    let (expected, admins) = (["nightly-stop".to_owned()], ["platform".to_owned()]);
    let watch = Watch {
        guard: "arn:aws:sts::123456789012:assumed-role/runawaytrain-guard/s",
        watch_stops: true,
        expected_principals: &expected,
        tag_admins: &admins,
        exempt_tag: "runaway:exempt",
        rules: &rules,
        queue: Some("runawaytrain-events"),
        policies: &["arn:aws:iam::123456789012:policy/runawaytrain-lockout"],
    };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cloudtrail");
    for entry in std::fs::read_dir(dir).unwrap() {
        let valid: Value =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        assert!(judge(&valid, &watch).is_ok(), "{valid}");
        run(128, mutation(), |(pick, with)| {
            let doc = mutate(&valid, pick, with);
            if let Err(e) = judge(&doc, &watch) {
                // The field it lacks, in backticks, or what the call is not.
                prop_assert!(
                    e.contains('`') || e.contains("not a call") || e.contains("rather than"),
                    "{e:?} for {doc}"
                );
            }
            Ok(())
        });
    }
    run(512, json_value(), |v| {
        let _ = judge(&v, &watch);
        Ok(())
    });
}

#[test]
fn slack_commands_and_interactions_never_panic() {
    use runawaytrain::adapters::slack::requests::{ButtonPress, SlashCommand};
    run(1024, prop::collection::vec(any::<u8>(), 0..600), |bytes| {
        let _ = SlashCommand::parse(&bytes);
        let _ = ButtonPress::parse(&bytes);
        Ok(())
    });
    // A real press with one part removed or replaced, as a form's `payload`.
    let press = json!({"type": "block_actions", "user": {"id": "U1", "username": "u", "team_id": "T1"},
        "api_app_id": "A1", "token": "t", "team": {"id": "T1", "domain": "d"},
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C1", "is_ephemeral": false},
        "trigger_id": "1.2.3", "channel": {"id": "C1", "name": "alerts"},
        "response_url": "https://hooks.slack.com/actions/T1/1/x",
        "actions": [{"type": "button", "action_id": "runaway_approve", "block_id": "b",
            "value": "inc-20261123-170000-3fa2", "action_ts": "1700000000.000002",
            "text": {"type": "plain_text", "text": "Halt now"}}]});
    let form = |v: &Value| serde_urlencoded::to_string([("payload", v.to_string())]).unwrap();
    assert!(ButtonPress::parse(form(&press).as_bytes()).is_ok());
    run(1024, mutation(), |(pick, with)| {
        let _ = ButtonPress::parse(form(&mutate(&press, pick, with)).as_bytes());
        Ok(())
    });
}

#[test]
fn the_configuration_never_panics_and_an_error_names_the_key_or_line() {
    use runawaytrain::config::Config;
    let valid = r#"
[guard]
check_every = "5m"
grace_period = "10m"
state_path = "runaway.db"

[slack]
channel = "C0123456789"
approvers = ["U0123456789"]
approvals_required = 1

[journal]
backend = "sqlite"

[[accounts]]
id = "123456789012"
name = "payer"
regions = ["us-east-1"]
max_running_instances = 5
max_estimated_charges_usd = 100.0
actions = ["stop_instances"]
halt_scope = "all"
"#;
    let path = std::path::Path::new("fuzzed.toml");
    if let Err(e) = Config::parse(path, valid) {
        panic!("the valid configuration: {e}");
    }
    run(512, ".*", |text: String| {
        if let Err(e) = Config::parse(path, &text) {
            prop_assert!(!e.to_string().is_empty());
        }
        Ok(())
    });
    // One line's value replaced with something else: an error names that key, or its line.
    let lines: Vec<&str> = valid.lines().collect();
    let values = prop_oneof![
        Just("\"\"".to_owned()),
        Just("-1".to_owned()),
        Just("1e309".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("true".to_owned()),
        Just("\"mars-1\"".to_owned()),
        Just("\"99999999999999999999\"".to_owned()),
        "[a-z0-9\" .\\[\\]-]{0,12}",
    ];
    run(
        1024,
        (any::<prop::sample::Index>(), values),
        |(i, value)| {
            let editable: Vec<usize> = (0..lines.len())
                .filter(|n| lines[*n].contains(" = "))
                .collect();
            let n = editable[i.index(editable.len())];
            let key = lines[n].split(" = ").next().unwrap();
            let mut edited = lines.clone();
            let line = format!("{key} = {value}");
            edited[n] = &line;
            let text = edited.join("\n");
            if let Err(e) = Config::parse(path, &text) {
                let said = e.to_string();
                prop_assert!(
                    said.contains(key) || said.contains("line") || said.contains("fuzzed.toml"),
                    "{said:?} for {line:?}"
                );
            }
            Ok(())
        },
    );
}

/// Journal rows as another build, a bad disk or a hand edit could leave them: every read
/// through the port either reads the row or is an error naming the incident, never a panic or
/// a row made up from defaults.
#[test]
fn journal_rows_that_cannot_be_read_are_errors_naming_them() {
    use runawaytrain::adapters::journal::SqliteJournal;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let j = SqliteJournal::open(&path).unwrap();
    let now = chrono::Utc::now();
    let id = j.open_incident("halt", "cli:fuzz", now).unwrap();
    drop(j);
    let columns = [
        "status",
        "opened_at",
        "deadline",
        "observed",
        "accounts",
        "result",
        "launchers",
        "finding",
        "target",
    ];
    run(
        256,
        (0..columns.len(), prop::option::of(".{0,40}")),
        |(c, value)| {
            let conn = rusqlite::Connection::open(&path).unwrap();
            let column = columns[c];
            let before: Option<String> = conn
                .query_row(
                    &format!("SELECT {column} FROM incidents WHERE id = ?1"),
                    [&id],
                    |r| r.get(0),
                )
                .unwrap();
            // `status` and `opened_at` are NOT NULL.
            let value = value.or_else(|| (c < 2).then(String::new));
            conn.execute(
                &format!("UPDATE incidents SET {column} = ?2 WHERE id = ?1"),
                rusqlite::params![id, value],
            )
            .unwrap();
            let j = SqliteJournal::open(&path).unwrap();
            match j.get_incident(&id) {
                Ok(row) => prop_assert!(row.is_some()),
                Err(e) => prop_assert!(e.message.contains(&id), "{e}"),
            }
            let _ = j.recent_incidents(10);
            drop(j);
            conn.execute(
                &format!("UPDATE incidents SET {column} = ?2 WHERE id = ?1"),
                rusqlite::params![id, before],
            )
            .unwrap();
            Ok(())
        },
    );
}

/// Through the real bot, against the emulator: fuzzed slash commands (from an approver and
/// from a stranger) and presses never change anything in AWS and always get an answer.
#[tokio::test(flavor = "multi_thread")]
async fn fuzzed_commands_and_presses_through_the_bot_never_act() {
    use crate::common::bot::BotHarness;
    use crate::common::*;
    use runawaytrain::adapters::slack::requests::{ButtonPress, SlashCommand};
    use runawaytrain::adapters::slack::{inbound, socket};
    let h = BotHarness::start(|topic| {
        crate::common::config::Toml::new()
            .guard("grace_period = \"10m\"")
            .slack(&[crate::common::config::APPROVER])
            .notify(topic)
            .payer(&["us-east-1"], "max_running_instances = 10")
            .into()
    })
    .await;
    let sdk = h.moto.sdk("us-east-1").await;
    launch(&sdk, 2, &[], false).await;
    let bot = h.bot.0.clone();
    let tasks = tokio_util::task::TaskTracker::new();
    let handler = inbound::Handler {
        bot: bot.clone(),
        tasks: tasks.clone(),
    };
    let words = prop_oneof![
        Just("halt".to_owned()),
        Just("restore".to_owned()),
        Just("isolate".to_owned()),
        Just("status".to_owned()),
        Just("--start-instances".to_owned()),
        Just(PAYER.to_owned()),
        Just("i-0123456789abcdef0".to_owned()),
        Just("inc-20261123-170000-3fa2".to_owned()),
        ".{0,16}",
    ];
    let strategy = (
        prop::collection::vec(words, 0..5),
        prop_oneof![Just("UAPPROVER1"), Just("USTRANGER1")],
        any::<prop::sample::Index>(),
        ".{0,30}",
    );
    let mut runner = TestRunner::new(cases(48));
    let samples = std::sync::Mutex::new(Vec::new());
    runner
        .run(&strategy, |case| {
            samples.lock().unwrap().push(case);
            Ok(())
        })
        .unwrap();
    for (words, user, which, incident) in samples.into_inner().unwrap() {
        let command = SlashCommand {
            text: words.join(" "),
            user_id: user.into(),
            response_url: Some(format!("{}fuzz", h.slack.responses)),
        };
        let reply = inbound::command(&bot, &tasks, &command);
        assert!(
            reply["text"].is_string() || reply["blocks"].is_array(),
            "{reply}"
        );
        let presses = runawaytrain::core::incident::Press::ALL;
        let press = ButtonPress {
            user_id: user.into(),
            response_url: None,
            press: presses[which.index(presses.len())],
            incident,
        };
        inbound::press(&bot, &tasks, press);
        // The same command in a Socket Mode envelope, whole and mutated, and a frame of
        // arbitrary text: handled, acknowledged by its own envelope id only.
        let envelope = json!({"type": "slash_commands", "envelope_id": "e-fuzz",
            "accepts_response_payload": true,
            "payload": {"team_id": "T1", "channel_id": "C0123456789", "user_id": command.user_id,
                "command": "/runaway", "text": command.text, "response_url": command.response_url,
                "trigger_id": "1.2.3", "api_app_id": "A1"}});
        for frame in [
            envelope.to_string(),
            mutate(
                &envelope,
                which.index(1 << 16),
                Some(json!(words.join(" "))),
            )
            .to_string(),
            words.join(" "),
        ] {
            if let Some(ack) = socket::ack_of_frame(&frame, &handler) {
                let ack: Value = serde_json::from_str(&ack).unwrap();
                let sent: Value = serde_json::from_str(&frame).expect("only an envelope is acked");
                assert_eq!(ack["envelope_id"], sent["envelope_id"], "{frame}");
            }
        }
    }
    tasks.close();
    tasks.wait().await;
    bot.idle().await;
    assert_eq!(count(&sdk, "running").await, 2, "nothing stopped");
    let iam = aws_sdk_iam::Client::new(&sdk);
    assert!(iam.list_users().send().await.unwrap().users().is_empty());
}
