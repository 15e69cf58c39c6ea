//! Who launched a runaway, against the emulator: CloudTrail records in AWS's documented format
//! written to a CloudWatch Logs group by the test (the emulator keeps no trail), or brought by
//! the event path as `AWS API Call via CloudTrail` events; IAM users with their own keys.

use crate::common::bot::*;
use crate::common::config::{APPROVER, Toml};
use crate::common::*;
use chrono::Utc;
use runawaytrain::core::launchers::LaunchersState;
use serde_json::{Value, json};

mod counted;

const GROUP: &str = "org-trail";

fn config(topic: &str, events: Option<&str>) -> String {
    let toml = Toml::new()
        .guard(&format!(
            "check_every = \"5m\"\ngrace_period = \"10m\"\ncloudtrail_log_group = \"{GROUP}\"\nexempt_principals = [\"alice\"]"
        ))
        .slack(&[APPROVER])
        .notify(topic);
    let toml = match events {
        Some(q) => toml.events(q),
        None => toml,
    };
    toml.payer(&["us-east-1", "eu-west-1"], "max_running_instances = 2")
        .into()
}

/// An IAM user with an access key; returns the key id.
async fn user_with_key(moto: &Moto, name: &str) -> String {
    let iam = aws_sdk_iam::Client::new(&moto.sdk("us-east-1").await);
    iam.create_user().user_name(name).send().await.unwrap();
    iam.create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap()
        .access_key_id
}

/// A CloudTrail record of a launch call, as CloudTrail writes it.
fn record(identity: Value, event: &str, region: &str, ids: &[String], account: &str) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": "ec2.amazonaws.com",
        "eventName": event,
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.23",
        "userAgent": "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux",
        "requestParameters": {"instanceType": "p4d.24xlarge"},
        "responseElements": {"instancesSet": {"items": ids.iter().map(|i| json!({"instanceId": i})).collect::<Vec<_>>()}},
        "requestID": "5f1c0b38-0000-4000-8000-000000000000",
        "eventID": format!("{}", rand_id()),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management",
    })
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

fn user(name: &str, key: &str) -> Value {
    json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": format!("arn:aws:iam::{PAYER}:user/{name}"),
           "accountId": PAYER, "accessKeyId": key, "userName": name})
}

/// Writes records (or any lines) to the trail's log group, as CloudTrail delivers them.
async fn deliver(moto: &Moto, lines: &[String]) {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk("us-east-1").await);
    let _ = logs.create_log_group().log_group_name(GROUP).send().await;
    let stream = format!("{PAYER}_CloudTrail_us-east-1_{}", rand_id());
    logs.create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(&stream)
        .send()
        .await
        .unwrap();
    let now = Utc::now().timestamp_millis();
    let mut req = logs
        .put_log_events()
        .log_group_name(GROUP)
        .log_stream_name(&stream);
    for line in lines {
        req = req.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now)
                .message(line)
                .build()
                .unwrap(),
        );
    }
    req.send().await.unwrap();
}

fn launchers_of(h: &BotHarness) -> runawaytrain::core::launchers::Launchers {
    let row = &h.bot.journal.recent_incidents(10).unwrap()[0];
    h.bot
        .journal
        .get_incident(&row.id)
        .unwrap()
        .unwrap()
        .launchers
        .expect("launchers looked up")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_alert_names_the_launchers_from_the_trail_and_skips_what_is_not_theirs() {
    let h = BotHarness::start(|t| config(t, None)).await;
    // The last ok check: the window starts there.
    h.bot.check_step(Utc::now()).await.unwrap();
    let mallory = user_with_key(&h.moto, "mallory").await;
    let alice = user_with_key(&h.moto, "alice").await;
    let attack = launch(&h.moto.sdk("eu-west-1").await, 3, &[], false).await;
    let own = launch(&h.moto.sdk("us-east-1").await, 1, &[], false).await;
    let mut foreign = record(
        user("eve", "AKIAFOREIGN"),
        "RunInstances",
        "eu-west-1",
        &["i-0f0f0f0f0f0f0f0f0".into()],
        "999999999999",
    );
    foreign["recipientAccountId"] = json!("999999999999");
    let mut failed = record(
        user("mallory", &mallory),
        "RunInstances",
        "eu-west-1",
        &[],
        PAYER,
    );
    failed["errorCode"] = json!("Client.InstanceLimitExceeded");
    // The guard's own call (its ambient identity on the emulator) is never a launcher.
    let guard = record(
        json!({"type": "IAMUser", "arn": format!("arn:aws:sts::{PAYER}:user/moto"), "accountId": PAYER, "accessKeyId": "AKIAGUARD", "userName": "moto"}),
        "RunInstances",
        "us-east-1",
        &["i-0123456789abcdef0".into()],
        PAYER,
    );
    deliver(
        &h.moto,
        &[
            record(
                user("mallory", &mallory),
                "RunInstances",
                "eu-west-1",
                &attack,
                PAYER,
            )
            .to_string(),
            record(
                user("alice", &alice),
                "RunInstances",
                "us-east-1",
                &own,
                PAYER,
            )
            .to_string(),
            foreign.to_string(),
            failed.to_string(),
            guard.to_string(),
            "{\"eventName\": \"RunInstances\", truncated".into(),
        ],
    )
    .await;

    h.bot.check_step(Utc::now()).await.unwrap();
    let found = launchers_of(&h);
    assert_eq!(found.state, LaunchersState::Known, "{found:?}");
    assert_eq!(found.source, "cloudtrail_logs");
    let names: Vec<&str> = found
        .attribution
        .launchers
        .iter()
        .map(|l| l.principal_arn.as_str())
        .collect();
    assert_eq!(
        names,
        [
            format!("arn:aws:iam::{PAYER}:user/mallory"),
            format!("arn:aws:iam::{PAYER}:user/alice")
        ]
    );
    let m = &found.attribution.launchers[0];
    assert_eq!(m.access_key_id.as_deref(), Some(mallory.as_str()));
    assert_eq!(m.instances, 3);
    assert_eq!(m.regions["eu-west-1"], 3);
    assert_eq!(m.source_ips, ["198.51.100.23"]);
    assert!(!m.exempt);
    assert!(
        found.attribution.launchers[1].exempt,
        "alice is exempt: named, never acted on"
    );
    let a = &found.attribution;
    assert_eq!((a.foreign, a.failed, a.guard, a.malformed), (1, 1, 1, 1));
    assert_eq!(found.unattributed, Some(0));

    // The alert (posted, then rewritten once the launchers were known) and the e-mail name them.
    let said: String = h
        .slack
        .messages()
        .iter()
        .map(crate::common::slack::text_of)
        .collect();
    assert!(
        said.contains("Launched by") && said.contains("user/mallory") && said.contains(&mallory),
        "{said}"
    );
    let mails: String = emails(&h.moto).iter().map(|(_, m)| m.clone()).collect();
    assert!(mails.contains("Launched by"), "{mails}");

    // runaway status INCIDENT --json names them too.
    let id = h.bot.journal.recent_incidents(10).unwrap()[0].id.clone();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_runaway"))
        .args([
            "--config",
            h.dir.path().join("runaway.toml").to_str().unwrap(),
            "status",
            &id,
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let l = &v["incident"]["launchers"][0];
    assert_eq!(
        l["principal_arn"],
        format!("arn:aws:iam::{PAYER}:user/mallory")
    );
    assert_eq!(l["type"], "IAMUser");
    assert_eq!(l["access_key_id"], mallory);
    assert_eq!(l["instances"], 3);
    assert_eq!(l["regions"]["eu-west-1"], 3);
    assert_eq!(v["incident"]["launchers_state"], "known");
    let unknown = std::process::Command::new(env!("CARGO_BIN_EXE_runaway"))
        .args([
            "--config",
            h.dir.path().join("runaway.toml").to_str().unwrap(),
            "status",
            "inc-nope",
        ])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn until_the_records_arrive_the_alert_says_not_known_yet_then_names_them() {
    let h = BotHarness::start(|t| config(t, None)).await;
    h.bot.check_step(Utc::now()).await.unwrap();
    let mallory = user_with_key(&h.moto, "mallory").await;
    let attack = launch(&h.moto.sdk("eu-west-1").await, 3, &[], false).await;
    h.bot.check_step(Utc::now()).await.unwrap();
    assert_eq!(launchers_of(&h).state, LaunchersState::NotKnownYet);
    let said = crate::common::slack::text_of(h.slack.messages().last().unwrap());
    assert!(said.contains("not known yet"), "{said}");

    // CloudTrail delivers; the next check looks again and the message is rewritten.
    deliver(
        &h.moto,
        &[record(
            user("mallory", &mallory),
            "RunInstances",
            "eu-west-1",
            &attack,
            PAYER,
        )
        .to_string()],
    )
    .await;
    h.bot.check_step(Utc::now()).await.unwrap();
    assert_eq!(launchers_of(&h).state, LaunchersState::Known);
    let updates = h.slack.calls_to("chat.update");
    let last = updates.last().expect("the message was rewritten");
    assert!(
        last.body.to_string().contains("user/mallory"),
        "{:?}",
        last.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_paths_launch_calls_name_the_launchers_first() {
    let (h, pipe) = BotHarness::with_events(3, 30, |t, q| config(t, Some(q))).await;
    h.bot.check_step(Utc::now()).await.unwrap();
    let mallory = user_with_key(&h.moto, "mallory").await;
    let attack = launch(&h.moto.sdk("eu-west-1").await, 3, &[], false).await;
    let detail = record(
        user("mallory", &mallory),
        "RunInstances",
        "eu-west-1",
        &attack,
        PAYER,
    );
    pipe.send(&crate::common::events::envelope(
        "e-launch",
        PAYER,
        "eu-west-1",
        "AWS API Call via CloudTrail",
        detail,
    ))
    .await;
    let outcomes = h.bot.events_step(Utc::now()).await;
    assert_eq!(outcomes, [runawaytrain::core::events::Outcome::Check]);
    let found = launchers_of(&h);
    assert_eq!(found.source, "events", "{found:?}");
    assert_eq!(
        found.attribution.launchers[0].access_key_id.as_deref(),
        Some(mallory.as_str())
    );
}

/// Lock out exactly the launchers: the attacker's key goes Inactive (its other key and another
/// user's stay Active) and the deny-all policy is attached to it; a role session's older
/// sessions are revoked with the incident's time (with `allow_session_revocation`); an exempt
/// launcher is reported, untouched; a user who launched before the last ok check is no
/// launcher. `restore` undoes exactly it.
#[tokio::test(flavor = "multi_thread")]
async fn lockout_launchers_acts_on_exactly_them_and_restore_undoes_it() {
    lockout_launchers_case(true).await;
}

/// Without `allow_session_revocation` the guard writes no inline policy: the launcher role gets
/// the pre-made launch-deny policy attached instead, and `restore` detaches it.
#[tokio::test(flavor = "multi_thread")]
async fn without_session_revocation_a_launcher_role_gets_the_launch_deny_policy() {
    lockout_launchers_case(false).await;
}

async fn lockout_launchers_case(revocation: bool) {
    let lockout_arn = format!("arn:aws:iam::{PAYER}:policy/runawaytrain-lockout");
    let deny_arn = format!("arn:aws:iam::{PAYER}:policy/runawaytrain-launch-deny");
    let h = BotHarness::start(|t| {
        let role = if revocation {
            "allow_session_revocation = true\n".to_owned()
        } else {
            format!("launch_deny_policy_arn = \"{deny_arn}\"\n")
        };
        with_lockout_policy(config(t, None)) + "actions = [\"lockout_launchers\"]\n" + &role
    })
    .await;
    let iam = aws_sdk_iam::Client::new(&h.moto.sdk("us-east-1").await);
    create_lockout_policy(&h.moto).await;
    iam.create_policy()
        .policy_name("runawaytrain-launch-deny")
        .policy_document(r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*"}]}"#)
        .send()
        .await
        .unwrap();
    iam.create_role()
        .role_name("ci")
        .assume_role_policy_document(r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap();
    let bob = user_with_key(&h.moto, "bob").await;
    // Bob's launch is from before the last ok check: production, not the runaway.
    let prod = launch(&h.moto.sdk("us-east-1").await, 1, &[], false).await;
    let mut old = record(user("bob", &bob), "RunInstances", "us-east-1", &prod, PAYER);
    old["eventTime"] = json!(
        (Utc::now() - chrono::Duration::hours(2))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    );
    deliver_at(
        &h.moto,
        &[old.to_string()],
        Utc::now() - chrono::Duration::hours(2),
    )
    .await;
    h.bot.check_step(Utc::now()).await.unwrap();

    let mallory = user_with_key(&h.moto, "mallory").await;
    let spare = iam
        .create_access_key()
        .user_name("mallory")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap()
        .access_key_id;
    let alice = user_with_key(&h.moto, "alice").await;
    let a = launch(&h.moto.sdk("eu-west-1").await, 2, &[], false).await;
    let b = launch(&h.moto.sdk("eu-west-1").await, 1, &[], false).await;
    let c = launch(&h.moto.sdk("us-east-1").await, 1, &[], false).await;
    let ci = json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::{PAYER}:assumed-role/ci/build-7"),
        "accountId": PAYER, "accessKeyId": "ASIACISESSION", "sessionContext": {"sessionIssuer": {"type": "Role",
        "arn": format!("arn:aws:iam::{PAYER}:role/ci"), "accountId": PAYER, "userName": "ci"}}});
    deliver(
        &h.moto,
        &[
            record(
                user("mallory", &mallory),
                "RunInstances",
                "eu-west-1",
                &a,
                PAYER,
            )
            .to_string(),
            record(ci, "RunInstances", "eu-west-1", &b, PAYER).to_string(),
            record(
                user("alice", &alice),
                "RunInstances",
                "us-east-1",
                &c,
                PAYER,
            )
            .to_string(),
        ],
    )
    .await;
    h.bot.check_step(Utc::now()).await.unwrap();
    let row = h.bot.journal.recent_incidents(10).unwrap()[0].clone();
    let launchers = launchers_of(&h);
    assert_eq!(
        launchers.attribution.launchers.len(),
        3,
        "bob is no launcher: {launchers:?}"
    );

    let run = |args: Vec<String>| {
        let config = h.dir.path().join("runaway.toml");
        let moto = h.moto.url.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_runaway"))
                .arg("--config")
                .arg(config)
                .args(args)
                .env("AWS_ENDPOINT_URL", moto)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .unwrap()
        }
    };
    let key_status = |user: &'static str| {
        let iam = iam.clone();
        async move {
            iam.list_access_keys()
                .user_name(user)
                .send()
                .await
                .unwrap()
                .access_key_metadata()
                .iter()
                .map(|k| {
                    (
                        k.access_key_id().unwrap().to_owned(),
                        k.status().unwrap().as_str().to_owned(),
                    )
                })
                .collect::<std::collections::BTreeMap<_, _>>()
        }
    };

    // A dry run changes nothing.
    let dry = run(vec![
        "lockout".into(),
        "--launchers".into(),
        row.id.clone(),
        "--dry-run".into(),
        "--json".into(),
    ])
    .await;
    assert!(dry.status.success(), "{dry:?}");
    assert_eq!(key_status("mallory").await[&mallory], "Active");

    let out = run(vec![
        "lockout".into(),
        "--launchers".into(),
        row.id.clone(),
        "--yes".into(),
        "--json".into(),
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = key_status("mallory").await;
    assert_eq!(keys[&mallory], "Inactive", "the key used");
    assert_eq!(
        keys[&spare], "Active",
        "exactly the key used, not the other"
    );
    assert_eq!(
        attached_policies(&iam, "mallory").await,
        std::slice::from_ref(&lockout_arn)
    );
    assert_eq!(key_status("bob").await[&bob], "Active");
    assert!(attached_policies(&iam, "bob").await.is_empty());
    assert_eq!(key_status("alice").await[&alice], "Active");
    let spared = report["accounts"][0]["exempt"].to_string();
    assert!(
        spared.contains("user/alice") && spared.contains("exempt_principals"),
        "{spared}"
    );
    let role_attached = || {
        let iam = iam.clone();
        async move {
            iam.list_attached_role_policies()
                .role_name("ci")
                .send()
                .await
                .unwrap()
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    if revocation {
        let policy = iam
            .get_role_policy()
            .role_name("ci")
            .policy_name(format!("runawaytrain-revoke-{}", row.id))
            .send()
            .await
            .unwrap();
        let doc: Value =
            serde_json::from_str(&urlencoding_decode(policy.policy_document())).unwrap();
        assert_eq!(doc["Statement"][0]["Effect"], "Deny");
        assert_eq!(
            doc["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            row.opened_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        assert!(role_attached().await.is_empty());
    } else {
        let inline = iam
            .list_role_policies()
            .role_name("ci")
            .send()
            .await
            .unwrap();
        assert!(
            inline.policy_names().is_empty(),
            "no inline policy: {inline:?}"
        );
        assert_eq!(role_attached().await, std::slice::from_ref(&deny_arn));
    }

    let restored = run(vec!["restore".into(), row.id.clone(), "--yes".into()]).await;
    assert!(restored.status.success(), "{restored:?}");
    assert_eq!(key_status("mallory").await[&mallory], "Active");
    assert!(attached_policies(&iam, "mallory").await.is_empty());
    let left = iam
        .list_role_policies()
        .role_name("ci")
        .send()
        .await
        .unwrap();
    assert!(left.policy_names().is_empty(), "{left:?}");
    assert!(role_attached().await.is_empty());
}

/// As `deliver`, with the log events stamped `at`.
async fn deliver_at(moto: &Moto, lines: &[String], at: chrono::DateTime<Utc>) {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk("us-east-1").await);
    let _ = logs.create_log_group().log_group_name(GROUP).send().await;
    let stream = format!("{PAYER}_CloudTrail_us-east-1_{}", rand_id());
    logs.create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(&stream)
        .send()
        .await
        .unwrap();
    let mut req = logs
        .put_log_events()
        .log_group_name(GROUP)
        .log_stream_name(&stream);
    for line in lines {
        req = req.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(at.timestamp_millis())
                .message(line)
                .build()
                .unwrap(),
        );
    }
    req.send().await.unwrap();
}

/// At the deadline, the bot runs `lockout_launchers` as one of the incident's actions, on the
/// launchers the alert named.
#[tokio::test(flavor = "multi_thread")]
async fn the_deadline_locks_out_the_launchers_the_alert_named() {
    let h = BotHarness::start(|t| {
        with_lockout_policy(config(t, None))
            + "actions = [\"stop_instances\", \"lockout_launchers\"]\n"
    })
    .await;
    create_lockout_policy(&h.moto).await;
    h.bot.check_step(Utc::now()).await.unwrap();
    mallory_launches(&h).await;
    let ran = h
        .bot
        .deadline_step(Utc::now() + chrono::Duration::minutes(11))
        .await
        .unwrap();
    assert_eq!(ran.len(), 1);
    let keys = aws_sdk_iam::Client::new(&h.moto.sdk("us-east-1").await)
        .list_access_keys()
        .user_name("mallory")
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys.access_key_metadata()[0].status().unwrap().as_str(),
        "Inactive"
    );
    let row = h.bot.journal.get_incident(&ran[0]).unwrap().unwrap();
    assert_eq!(row.status, runawaytrain::core::incident::Status::Executed);
    let changes: Vec<String> = h
        .bot
        .journal
        .changes(&row.id)
        .unwrap()
        .iter()
        .map(|c| c.action.to_string())
        .collect();
    assert!(
        changes.contains(&"deactivate_access_key".to_owned())
            && changes.contains(&"attach_user_policy".to_owned()),
        "{changes:?}"
    );
    let said = crate::common::slack::text_of(h.slack.messages().last().unwrap());
    assert!(said.contains("deny policies attached to 1 users"), "{said}");
}

/// `halt_scope = "launchers"`: only what the launchers started stops; production launched before
/// the last ok check, and an exempt launcher's instance, keep running. `halt_scope = "new"`:
/// everything launched since the last ok check stops, without CloudTrail.
#[tokio::test(flavor = "multi_thread")]
async fn halt_scopes_stop_only_the_launchers_or_the_new_instances() {
    for scope in ["launchers", "new"] {
        let h =
            BotHarness::start(|t| config(t, None) + &format!("halt_scope = \"{scope}\"\n")).await;
        let prod = launch(&h.moto.sdk("us-east-1").await, 2, &[], false).await;
        h.bot.check_step(Utc::now()).await.unwrap();
        // Launch times have a resolution of a second: be clearly after the ok check.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let mallory = user_with_key(&h.moto, "mallory").await;
        let alice = user_with_key(&h.moto, "alice").await;
        let miners = launch(&h.moto.sdk("eu-west-1").await, 3, &[], false).await;
        let alices = launch(&h.moto.sdk("us-east-1").await, 1, &[], false).await;
        if scope == "launchers" {
            deliver(
                &h.moto,
                &[
                    record(
                        user("mallory", &mallory),
                        "RunInstances",
                        "eu-west-1",
                        &miners,
                        PAYER,
                    )
                    .to_string(),
                    record(
                        user("alice", &alice),
                        "RunInstances",
                        "us-east-1",
                        &alices,
                        PAYER,
                    )
                    .to_string(),
                ],
            )
            .await;
        }
        h.bot.check_step(Utc::now()).await.unwrap();
        let ran = h
            .bot
            .deadline_step(Utc::now() + chrono::Duration::minutes(11))
            .await
            .unwrap();
        assert_eq!(ran.len(), 1, "{scope}");
        let states = states(&h.moto.sdk("eu-west-1").await).await;
        assert!(
            miners.iter().all(|i| states[i] == "stopped"),
            "{scope}: {states:?}"
        );
        let home = crate::common::states(&h.moto.sdk("us-east-1").await).await;
        assert!(
            prod.iter().all(|i| home[i] == "running"),
            "{scope}: production keeps running: {home:?}"
        );
        let alice_state = &home[&alices[0]];
        match scope {
            "launchers" => assert_eq!(alice_state, "running", "an exempt launcher's instance"),
            _ => assert_eq!(alice_state, "stopped", "new, whoever launched it"),
        }
        let row = h.bot.journal.get_incident(&ran[0]).unwrap().unwrap();
        assert_eq!(
            row.status,
            runawaytrain::core::incident::Status::Executed,
            "{scope}"
        );
        let said = crate::common::slack::text_of(h.slack.messages().last().unwrap());
        assert!(said.contains("stopped"), "{said}");
    }
}

/// `revoke_sessions`: every non-exempt user and role gets the revocation (the incident's time as
/// the condition), never an exempt one or a service-linked role; `restore` removes exactly it.
#[tokio::test(flavor = "multi_thread")]
async fn revoke_sessions_revokes_every_user_and_role_that_may_be_touched_and_restore_undoes_it() {
    let h = BotHarness::start(|t| {
        config(t, None) + "actions = [\"revoke_sessions\"]\nallow_session_revocation = true\n"
    })
    .await;
    let iam = aws_sdk_iam::Client::new(&h.moto.sdk("us-east-1").await);
    let trust = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#;
    for (name, path) in [
        ("ci", "/"),
        (
            "AWSServiceRoleForAutoScaling",
            "/aws-service-role/autoscaling.amazonaws.com/",
        ),
    ] {
        iam.create_role()
            .role_name(name)
            .path(path)
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap();
    }
    user_with_key(&h.moto, "mallory").await;
    user_with_key(&h.moto, "alice").await;
    launch(&h.moto.sdk("eu-west-1").await, 3, &[], false).await;
    h.bot.check_step(Utc::now()).await.unwrap();
    let ran = h
        .bot
        .deadline_step(Utc::now() + chrono::Duration::minutes(11))
        .await
        .unwrap();
    let id = ran[0].clone();
    let row = h.bot.journal.get_incident(&id).unwrap().unwrap();
    let name = format!("runawaytrain-revoke-{id}");
    let user_policies = |u: &'static str| {
        let iam = iam.clone();
        async move {
            iam.list_user_policies()
                .user_name(u)
                .send()
                .await
                .unwrap()
                .policy_names()
                .to_vec()
        }
    };
    let role_policies = |r: &'static str| {
        let iam = iam.clone();
        async move {
            iam.list_role_policies()
                .role_name(r)
                .send()
                .await
                .unwrap()
                .policy_names()
                .to_vec()
        }
    };
    assert_eq!(user_policies("mallory").await, std::slice::from_ref(&name));
    assert_eq!(role_policies("ci").await, std::slice::from_ref(&name));
    assert!(user_policies("alice").await.is_empty(), "exempt");
    assert!(
        role_policies("AWSServiceRoleForAutoScaling")
            .await
            .is_empty(),
        "service-linked"
    );
    let doc = iam
        .get_role_policy()
        .role_name("ci")
        .policy_name(&name)
        .send()
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&urlencoding_decode(doc.policy_document())).unwrap();
    assert_eq!(
        doc["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
        row.opened_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert_eq!(row.status, runawaytrain::core::incident::Status::Executed);

    let report = h.restore(&id).await;
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(user_policies("mallory").await.is_empty());
    assert!(role_policies("ci").await.is_empty());
}

/// The alert carries **Lock out launchers** once it names someone; an approver's press locks out
/// exactly them (the incident stays open for its own decision), anyone else's changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_lock_out_launchers_button_acts_for_approvers_only() {
    use runawaytrain::app::bot::Outcome;
    use runawaytrain::core::incident::{Press, Status};
    let h = BotHarness::start(|t| with_lockout_policy(config(t, None))).await;
    let iam = aws_sdk_iam::Client::new(&h.moto.sdk("us-east-1").await);
    create_lockout_policy(&h.moto).await;
    h.bot.check_step(Utc::now()).await.unwrap();
    mallory_launches(&h).await;
    let id = h.bot.journal.recent_incidents(10).unwrap()[0].id.clone();
    let update = h
        .slack
        .calls_to("chat.update")
        .last()
        .cloned()
        .expect("rewritten with the launchers");
    assert_eq!(
        crate::common::slack::button_value(&update.body, "runaway_lockout_launchers").as_deref(),
        Some(id.as_str())
    );
    let refused = h
        .bot
        .press(Press::LockoutLaunchers, &id, "USTRANGER1", None, Utc::now())
        .await
        .unwrap();
    assert_eq!(refused, Outcome::Refused);
    assert_eq!(key_status(&iam, "mallory").await, "Active");
    let done = h
        .bot
        .press(Press::LockoutLaunchers, &id, "UAPPROVER1", None, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        done,
        Outcome::Decided(Status::Open),
        "the incident is not decided by it"
    );
    assert_eq!(key_status(&iam, "mallory").await, "Inactive");
    let changes: Vec<String> = h
        .bot
        .journal
        .changes(&id)
        .unwrap()
        .iter()
        .map(|c| c.action.to_string())
        .collect();
    assert_eq!(changes, ["deactivate_access_key", "attach_user_policy"]);
}

/// With the two-person rule, **Lock out launchers** waits for a second, different approver: the
/// first ask (and the same person's second) locks nobody out.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_two_person_rule_lock_out_launchers_waits_for_a_second_approver() {
    use runawaytrain::app::bot::Outcome;
    use runawaytrain::core::incident::{Press, Status};
    let h = BotHarness::start(|t| {
        with_lockout_policy(config(t, None)).replace(
            "approvers = [\"UAPPROVER1\"]",
            "approvers = [\"UAPPROVER1\", \"UAPPROVER2\"]\napprovals_required = 2",
        )
    })
    .await;
    let iam = aws_sdk_iam::Client::new(&h.moto.sdk("us-east-1").await);
    create_lockout_policy(&h.moto).await;
    h.bot.check_step(Utc::now()).await.unwrap();
    mallory_launches(&h).await;
    let id = h.bot.journal.recent_incidents(10).unwrap()[0].id.clone();
    for _ in 0..2 {
        let asked = h
            .bot
            .press(Press::LockoutLaunchers, &id, "UAPPROVER1", None, Utc::now())
            .await
            .unwrap();
        assert_eq!(asked, Outcome::Waiting);
        assert_eq!(
            key_status(&iam, "mallory").await,
            "Active",
            "one approver, however often, is not two"
        );
    }
    assert!(h.bot.journal.changes(&id).unwrap().is_empty());
    let done = h
        .bot
        .press(Press::LockoutLaunchers, &id, "UAPPROVER2", None, Utc::now())
        .await
        .unwrap();
    assert_eq!(done, Outcome::Decided(Status::Open));
    assert_eq!(key_status(&iam, "mallory").await, "Inactive");
}

/// `halt_scope = "launchers"` with nobody named (no CloudTrail record): nothing is stopped on a
/// guess, and the incident says it was not done in full.
#[tokio::test(flavor = "multi_thread")]
async fn with_no_launcher_known_the_launchers_scope_stops_nothing_and_says_so() {
    let h = BotHarness::start(|t| config(t, None) + "halt_scope = \"launchers\"\n").await;
    h.bot.check_step(Utc::now()).await.unwrap();
    let ids = launch(&h.moto.sdk("eu-west-1").await, 3, &[], false).await;
    h.bot.check_step(Utc::now()).await.unwrap();
    let ran = h
        .bot
        .deadline_step(Utc::now() + chrono::Duration::minutes(11))
        .await
        .unwrap();
    let row = h.bot.journal.get_incident(&ran[0]).unwrap().unwrap();
    assert_eq!(row.status, runawaytrain::core::incident::Status::Partial);
    let states = states(&h.moto.sdk("eu-west-1").await).await;
    assert!(ids.iter().all(|i| states[i] == "running"), "{states:?}");
    assert!(
        row.result
            .unwrap()
            .to_string()
            .contains("who launched the instances is not known")
    );
}

/// The module's own deny-all lockout policy, as [`with_lockout_policy`] names it.
async fn create_lockout_policy(moto: &Moto) {
    aws_sdk_iam::Client::new(&moto.sdk("us-east-1").await)
        .create_policy()
        .policy_name("runawaytrain-lockout")
        .policy_document(
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}"#,
        )
        .send()
        .await
        .unwrap();
}

/// mallory (an IAM user with a key) launches three instances in eu-west-1, CloudTrail delivers
/// the record, and a check sees them. Returns her key.
async fn mallory_launches(h: &BotHarness) -> String {
    let mallory = user_with_key(&h.moto, "mallory").await;
    let ids = launch(&h.moto.sdk("eu-west-1").await, 3, &[], false).await;
    let line = record(
        user("mallory", &mallory),
        "RunInstances",
        "eu-west-1",
        &ids,
        PAYER,
    );
    deliver(&h.moto, &[line.to_string()]).await;
    h.bot.check_step(Utc::now()).await.unwrap();
    mallory
}

/// The configuration with the module's own deny-all policy as the lockout policy (the emulator
/// has no AWS managed policies loaded here); each test creates it.
fn with_lockout_policy(config: String) -> String {
    config.replace(
        "exempt_principals = [\"alice\"]",
        &format!("exempt_principals = [\"alice\"]\nlockout_policy_arn = \"arn:aws:iam::{PAYER}:policy/runawaytrain-lockout\""),
    )
}

/// An organisation trail: every account's records in one group of the management account. A
/// member's incident reads them there (through the guard's own connection to that account) and
/// keeps only the member's records.
#[tokio::test(flavor = "multi_thread")]
async fn a_members_launchers_are_read_from_the_organisation_trail_of_the_payer() {
    let h = BotHarness::start(|t| {
        Toml::new()
            .guard(&format!(
                "check_every = \"5m\"\ncloudtrail_log_group = \"arn:aws:logs:us-east-1:{PAYER}:log-group:{GROUP}\""
            ))
            .slack(&[APPROVER])
            .notify(t)
            .payer(&["us-east-1"], "max_running_instances = 100")
            .member("research", &["eu-west-1"], "max_running_instances = 2")
            .into()
    })
    .await;
    h.bot.check_step(Utc::now()).await.unwrap();
    let ids = launch(&h.moto.sdk_in(MEMBER, "eu-west-1").await, 3, &[], false).await;
    let member_user = json!({"type": "IAMUser", "arn": format!("arn:aws:iam::{MEMBER}:user/mallory"),
        "accountId": MEMBER, "accessKeyId": "AKIAMEMBERKEY", "userName": "mallory"});
    deliver(
        &h.moto,
        &[
            record(member_user, "RunInstances", "eu-west-1", &ids, MEMBER).to_string(),
            record(
                user("bob", "AKIAPAYERKEY"),
                "RunInstances",
                "us-east-1",
                &["i-0aaaaaaaaaaaaaaaa".into()],
                PAYER,
            )
            .to_string(),
        ],
    )
    .await;
    h.bot.check_step(Utc::now()).await.unwrap();
    let found = launchers_of(&h);
    assert_eq!(found.source, "cloudtrail_logs", "{found:?}");
    assert_eq!(found.attribution.launchers.len(), 1);
    assert_eq!(
        found.attribution.launchers[0].principal_arn,
        format!("arn:aws:iam::{MEMBER}:user/mallory")
    );
    assert_eq!(found.attribution.foreign, 1, "the payer's own record");
}
