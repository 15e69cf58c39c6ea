//! The bot, against a real moto server and a local Slack Web API stand-in: the whole loop
//! Fail → alert → (deadline | Halt now | Override) → instances stopped in moto → message updated
//! → SNS e-mail published. First with the bot's steps driven directly with a chosen clock, then
//! through `runaway serve` itself: signatures, slash commands, a restart mid-grace.

use crate::common::bot::*;
use crate::common::config::{APPROVER, Toml};
use crate::common::slack::{Mode, SlackStandIn, button_value, command_body, press_body, text_of};
use crate::common::*;
use chrono::Utc;
use runawaytrain::adapters::slack::sign;
use runawaytrain::app::bot::Outcome;
use runawaytrain::core::incident::{Press, Status};
use serde_json::{Value, json};

const STRANGER: &str = "USTRANGER1";

fn config_text(grace: &str, topic: &str) -> String {
    Toml::new()
        .guard(&format!(
            "check_every = \"10s\"\ngrace_period = \"{grace}\"\nsnooze = \"1h\""
        ))
        .slack(&[APPROVER])
        .notify(topic)
        .payer(&["us-east-1", "eu-west-1"], "max_running_instances = 2")
        .into()
}

struct Setup {
    moto: Moto,
    slack: SlackStandIn,
    bot: Stepped,
    _dir: tempfile::TempDir,
    euw1: aws_config::SdkConfig,
}

async fn setup(grace: &str) -> Setup {
    let h = BotHarness::start(|topic| config_text(grace, topic)).await;
    let euw1 = h.moto.sdk("eu-west-1").await;
    launch(&h.moto.sdk("us-east-1").await, 2, &[], false).await;
    launch(&euw1, 1, &[], false).await;
    Setup {
        moto: h.moto,
        slack: h.slack,
        bot: h.bot,
        _dir: h.dir,
        euw1,
    }
}

/// When the incident's actions run, from the journal.
fn deadline_of(s: &Setup, incident: &str) -> chrono::DateTime<Utc> {
    s.bot
        .journal
        .get_incident(incident)
        .unwrap()
        .unwrap()
        .deadline
        .expect("a deadline once delivered")
}

/// The incident of the first alert posted.
fn first_alert(s: &Setup) -> String {
    button_value(
        &s.slack.calls_to("chat.postMessage")[0].body,
        "runaway_approve",
    )
    .unwrap()
}

/// A second alert was posted, for another incident than `before`.
#[track_caller]
fn assert_new_alert(s: &Setup, before: &str) {
    let posts = s.slack.calls_to("chat.postMessage");
    assert_eq!(posts.len(), 2);
    assert_ne!(
        button_value(&posts[1].body, "runaway_approve").unwrap(),
        before
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_alerts_once_then_the_deadline_runs_the_actions() {
    let s = setup("10m").await;
    let now = Utc::now();
    s.bot.check_step(now).await.unwrap();

    // The dead-man's switch: the completed check put its heartbeat in the guard's region.
    let cw = aws_sdk_cloudwatch::Client::new(&s.moto.sdk("us-east-1").await);
    let metrics = cw
        .list_metrics()
        .namespace("Runawaytrain")
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = metrics
        .metrics()
        .iter()
        .filter_map(|m| m.metric_name())
        .collect();
    assert_eq!(names, ["Heartbeat"]);
    let stats = cw
        .get_metric_statistics()
        .namespace("Runawaytrain")
        .metric_name("Heartbeat")
        .start_time((std::time::SystemTime::now() - std::time::Duration::from_secs(600)).into())
        .end_time((std::time::SystemTime::now() + std::time::Duration::from_secs(60)).into())
        .period(60)
        .statistics(aws_sdk_cloudwatch::types::Statistic::SampleCount)
        .send()
        .await
        .unwrap();
    let beats: f64 = stats
        .datapoints()
        .iter()
        .filter_map(|d| d.sample_count())
        .sum();
    assert_eq!(beats, 1.0, "one heartbeat per completed check");

    let posts = s.slack.calls_to("chat.postMessage");
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].authorization.as_deref(),
        Some("Bearer xoxb-test-token")
    );
    let alert = &posts[0].body;
    assert_eq!(alert["channel"], "C0123456789");
    let incident = button_value(alert, "runaway_approve").expect("a Halt now button");
    assert_eq!(
        button_value(alert, "runaway_override").as_deref(),
        Some(incident.as_str())
    );
    let approve = alert["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_id"] == "runaway_approve")
        .unwrap();
    assert_eq!(approve["style"], "danger");
    assert!(approve["confirm"]["title"]["text"].is_string());
    let text = text_of(alert);
    assert!(
        text.contains("max_running_instances") && text.contains("3 (limit 2)"),
        "{text}"
    );
    assert!(
        text.contains("us-east-1 2") && text.contains("eu-west-1 1"),
        "{text}"
    );
    // The grace period runs from when the alert was delivered: the post, then its update
    // saying until when.
    let due = deadline_of(&s, &incident);
    assert!(
        due >= now + chrono::Duration::minutes(10)
            && due < now + chrono::Duration::minutes(10) + chrono::Duration::seconds(10),
        "{due}"
    );
    let said = s
        .slack
        .wait_for("chat.update", 5, |b| {
            text_of(b).contains(&due.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        })
        .await;
    assert_eq!(said["ts"], "1700000000.000001", "the alert itself, updated");
    assert!(text.contains("within 10m of this alert"), "{text}");
    assert!(text.contains("stop every running instance"), "{text}");
    assert!(alert["blocks"].as_array().unwrap().len() <= 50);
    // SNS: the notify list hears of it too.
    let mail = emails(&s.moto);
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].0.contains("payer") && mail[0].1.contains(&incident),
        "{mail:?}"
    );

    // A later check that still fails, worse: the same incident is updated, no new alert.
    launch(&s.euw1, 1, &[], false).await;
    s.bot
        .check_step(now + chrono::Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(s.slack.calls_to("chat.postMessage").len(), 1);
    let update = s
        .slack
        .wait_for("chat.update", 5, |b| text_of(b).contains("4 (limit 2)"))
        .await;
    assert_eq!(
        update["ts"],
        posts[0].body["ts"]
            .as_str()
            .map_or(json!("1700000000.000001"), |t| json!(t))
    );
    // Not due yet.
    assert!(
        s.bot
            .deadline_step(due - chrono::Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(count(&s.euw1, "running").await, 2);

    // The deadline passes with nobody overriding: the actions run, once.
    let fired = s.bot.deadline_step(due).await.unwrap();
    assert_eq!(fired, std::slice::from_ref(&incident));
    assert!(
        s.bot
            .deadline_step(now + chrono::Duration::minutes(11))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(count(&s.euw1, "stopped").await, 2);
    assert_eq!(count(&s.moto.sdk("us-east-1").await, "stopped").await, 2);
    let done = s
        .slack
        .wait_for("chat.update", 5, |b| {
            text_of(b).contains("stopped 4 instances")
        })
        .await;
    let text = text_of(&done);
    assert!(text.contains("Deadline passed"), "{text}");
    assert!(
        button_value(&done, "runaway_approve").is_none(),
        "buttons must go once decided"
    );
    let row = s.bot.journal.get_incident(&incident).unwrap().unwrap();
    assert_eq!(row.status, Status::Executed);
    assert_eq!(row.decided_by.as_deref(), Some("deadline"));
    let mail = emails(&s.moto);
    assert_eq!(mail.len(), 2, "{mail:?}");
    assert!(
        mail[1].0.contains("actions ran") && mail[1].1.contains("stopped 4 instances"),
        "{mail:?}"
    );

    // The account is within limits now: the next check is quiet.
    s.bot
        .check_step(now + chrono::Duration::minutes(12))
        .await
        .unwrap();
    assert_eq!(s.slack.calls_to("chat.postMessage").len(), 1);
    // A new runaway after the halt (worse than the halt left it) is a new incident.
    launch(&s.euw1, 3, &[], false).await;
    s.bot
        .check_step(now + chrono::Duration::minutes(13))
        .await
        .unwrap();
    assert_new_alert(&s, &incident);
}

#[tokio::test(flavor = "multi_thread")]
async fn halt_now_runs_at_once_and_double_clicks_run_nothing_twice() {
    let s = setup("10m").await;
    let now = Utc::now();
    s.bot.check_step(now).await.unwrap();
    let incident = first_alert(&s);
    let url = format!("{}1", s.slack.responses);
    let (a, b) = tokio::join!(
        s.bot
            .press(Press::Approve, &incident, APPROVER, Some(&url), now),
        s.bot
            .press(Press::Approve, &incident, APPROVER, Some(&url), now),
    );
    // One wins; the other finds it decided (approved, or executed by then).
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::Decided(Status::Approved))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::AlreadyDecided(_)))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(count(&s.euw1, "stopped").await, 1);
    let stops: i64 = rusqlite::Connection::open(s.bot.journal.store())
        .unwrap()
        .query_row(
            "SELECT count(*) FROM changes WHERE incident_id = ?1 AND action = 'stop_instance'",
            [&incident],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stops, 3, "each instance stopped once");
    let done = s
        .slack
        .wait_for("chat.update", 5, |b| {
            text_of(b).contains("stopped 3 instances")
        })
        .await;
    assert!(
        text_of(&done).contains(&format!("Halted* by <@{APPROVER}>")),
        "{done}"
    );
    // The deadline later finds nothing to do.
    assert!(
        s.bot
            .deadline_step(now + chrono::Duration::hours(1))
            .await
            .unwrap()
            .is_empty()
    );
    let presses = s.bot.journal.presses(&incident).unwrap();
    assert_eq!(presses.len(), 2);
    assert!(presses.iter().all(|p| p.0 == APPROVER && p.2));
}

#[tokio::test(flavor = "multi_thread")]
async fn override_closes_the_alert_and_keeps_the_account_quiet_unless_worse() {
    let s = setup("10m").await;
    let now = Utc::now();
    s.bot.check_step(now).await.unwrap();
    let incident = button_value(
        &s.slack.calls_to("chat.postMessage")[0].body,
        "runaway_override",
    )
    .unwrap();
    let outcome = s
        .bot
        .press(Press::Override, &incident, APPROVER, None, now)
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Decided(Status::Overridden));
    let closed = s
        .slack
        .wait_for("chat.update", 5, |b| text_of(b).contains("Overridden"))
        .await;
    assert!(button_value(&closed, "runaway_approve").is_none());
    // Nothing runs at the deadline; the same picture raises no new alert during the snooze.
    assert!(
        s.bot
            .deadline_step(now + chrono::Duration::minutes(11))
            .await
            .unwrap()
            .is_empty()
    );
    s.bot
        .check_step(now + chrono::Duration::minutes(20))
        .await
        .unwrap();
    assert_eq!(s.slack.calls_to("chat.postMessage").len(), 1);
    assert_eq!(count(&s.euw1, "running").await, 1);
    // Worse than what was overridden: a new incident and alert.
    launch(&s.euw1, 2, &[], false).await;
    s.bot
        .check_step(now + chrono::Duration::minutes(25))
        .await
        .unwrap();
    assert_new_alert(&s, &incident);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stranger_is_refused_told_and_journaled() {
    let s = setup("10m").await;
    let now = Utc::now();
    s.bot.check_step(now).await.unwrap();
    let incident = first_alert(&s);
    let url = format!("{}stranger", s.slack.responses);
    let outcome = s
        .bot
        .press(Press::Approve, &incident, STRANGER, Some(&url), now)
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Refused);
    let told = s.slack.wait_for("response/stranger", 5, |_| true).await;
    assert_eq!(told["response_type"], "ephemeral");
    assert!(
        told["text"]
            .as_str()
            .unwrap()
            .contains("Only the guard's approvers")
    );
    assert_eq!(
        s.bot
            .journal
            .get_incident(&incident)
            .unwrap()
            .unwrap()
            .status,
        Status::Open
    );
    assert_eq!(count(&s.euw1, "running").await, 1);
    let presses = s.bot.journal.presses(&incident).unwrap();
    assert_eq!(
        presses,
        [(
            STRANGER.to_owned(),
            "approve".to_owned(),
            false,
            "refused: not an approver".to_owned()
        )]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_rate_limits_are_waited_out() {
    let s = setup("10m").await;
    s.slack.set_mode(Mode::RateLimitOnce);
    s.bot.check_step(Utc::now()).await.unwrap();
    let calls = s.slack.calls();
    // Refused with 429, posted once after Retry-After, then updated with its deadline.
    assert_eq!(calls.len(), 3, "{calls:#?}");
    assert!(!calls[0].answered_ok && calls[1].answered_ok);
    assert_eq!(s.slack.calls_to("chat.postMessage").len(), 1);
    assert_eq!(s.slack.messages().len(), 1);
    assert_eq!(
        s.bot
            .metrics
            .slack_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn when_slack_fails_the_e_mail_says_so_and_the_deadline_still_holds() {
    for mode in [Mode::ServerError, Mode::InvalidAuth] {
        let s = setup("10m").await;
        s.slack.set_mode(mode);
        let now = Utc::now();
        s.bot.check_step(now).await.unwrap();
        let mail = emails(&s.moto);
        assert_eq!(mail.len(), 1, "{mode:?}");
        assert!(
            mail[0].1.contains("Slack alert could not be posted"),
            "{mode:?}: {mail:?}"
        );
        if mode == Mode::InvalidAuth {
            assert!(mail[0].1.contains("invalid_auth"), "{mail:?}");
        }
        assert!(
            !mail[0].1.contains("xoxb-test-token"),
            "the token leaked: {mail:?}"
        );
        assert_eq!(
            s.bot
                .metrics
                .slack_failures
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        // Only the e-mail was delivered: the grace period runs from it.
        let incident = s.bot.journal.recent_incidents(1).unwrap()[0].id.clone();
        let due = deadline_of(&s, &incident);
        assert!(due >= now + chrono::Duration::minutes(10), "{due}");
        assert_eq!(s.bot.deadline_step(due).await.unwrap().len(), 1);
        assert_eq!(count(&s.euw1, "stopped").await, 1);
    }
}

// ----- through `runaway serve` ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn serve_refuses_unsigned_requests_and_answers_signed_ones() {
    let moto = Moto::start();
    let slack = SlackStandIn::start().await;
    let topic = topic(&moto).await;
    let use1 = moto.sdk("us-east-1").await;
    launch(&use1, 3, &[], false).await;
    let w = Workdir::new(&config_text("10m", &topic));
    let serve = Serve::start(&w, &moto.url, &slack).await;
    let alert = slack.wait_for("chat.postMessage", 20, |_| true).await;
    let incident = button_value(&alert, "runaway_approve").unwrap();

    // Every way of not being Slack gets 401 and changes nothing.
    let body = press_body(
        "runaway_approve",
        &incident,
        APPROVER,
        &format!("{}x", slack.responses),
    );
    let now = Utc::now().timestamp();
    let good = sign(SIGNING_SECRET, now, body.as_bytes());
    for (what, ts, sig, sent) in [
        (
            "bad signature",
            now,
            Some(sign("not-the-secret", now, body.as_bytes())),
            body.clone(),
        ),
        (
            "stale timestamp",
            now - 301,
            Some(sign(SIGNING_SECRET, now - 301, body.as_bytes())),
            body.clone(),
        ),
        ("missing headers", now, None, body.clone()),
        (
            "body altered",
            now,
            Some(good.clone()),
            body.replace(APPROVER, "UOTHERUSER"),
        ),
    ] {
        let r = serve.post("/slack/interactions", &sent, ts, sig).await;
        assert_eq!(r.status(), 401, "{what}");
    }
    assert_eq!(count(&use1, "running").await, 3);

    // Slash commands: help, status, and a halt that waits for its confirmation button.
    let help = serve
        .signed("/slack/commands", &command_body("", STRANGER, None))
        .await;
    assert_eq!(help.status(), 200);
    let help = help.text().await.unwrap();
    assert!(help.contains("/runaway halt") && help.contains("/runaway isolate"));
    let status: Value = serve
        .signed("/slack/commands", &command_body("status", STRANGER, None))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        status["text"].as_str().unwrap().contains(&incident),
        "{status}"
    );
    let refused: Value = serve
        .signed("/slack/commands", &command_body("halt", STRANGER, None))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        refused["text"]
            .as_str()
            .unwrap()
            .contains("Only the guard's approvers"),
        "{refused}"
    );
    let confirm: Value = serve
        .signed(
            "/slack/commands",
            &command_body("halt payer", APPROVER, None),
        )
        .await
        .json()
        .await
        .unwrap();
    let manual = button_value(&confirm, "runaway_confirm_halt").expect("a confirmation button");
    assert_eq!(count(&use1, "running").await, 3);
    let url = format!("{}confirm", slack.responses);
    let r = serve
        .signed(
            "/slack/interactions",
            &press_body("runaway_confirm_halt", &manual, APPROVER, &url),
        )
        .await;
    assert_eq!(r.status(), 200);
    let result = slack
        .wait_for("response/confirm", 20, |b| {
            text_of(b).contains("stopped 3 instances")
        })
        .await;
    assert_eq!(result["replace_original"], true);
    assert_eq!(count(&use1, "stopped").await, 3);

    // /runaway restore: a stranger is refused; an approver gets the instances back.
    let restore = |user: &str, url: &str| {
        command_body(
            &format!("restore {manual} --start-instances"),
            user,
            Some(url),
        )
    };
    let refused = format!("{}restore-stranger", slack.responses);
    let answer: Value = serve
        .signed("/slack/commands", &restore(STRANGER, &refused))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("Only the guard's approvers"),
        "{answer}"
    );
    assert_eq!(count(&use1, "stopped").await, 3);
    let url = format!("{}restore", slack.responses);
    serve
        .signed("/slack/commands", &restore(APPROVER, &url))
        .await;
    let done = slack.wait_for("response/restore", 20, |_| true).await;
    assert!(
        // Three instances started, and their three incident tags taken off.
        done["text"].as_str().unwrap().contains("restored 6"),
        "{done}"
    );
    assert_eq!(count(&use1, "running").await, 3);

    // /runaway isolate: a confirmation, then the instance cut off, said through response_url.
    let target = states(&use1).await.into_keys().next().unwrap();
    let confirm: Value = serve
        .signed(
            "/slack/commands",
            &command_body(&format!("isolate {target} payer"), APPROVER, None),
        )
        .await
        .json()
        .await
        .unwrap();
    let asked = button_value(&confirm, "runaway_confirm_isolate").expect("a confirmation button");
    let url = format!("{}isolate", slack.responses);
    serve
        .signed(
            "/slack/interactions",
            &press_body("runaway_confirm_isolate", &asked, APPROVER, &url),
        )
        .await;
    let isolated = slack
        .wait_for("response/isolate", 20, |b| {
            text_of(b).contains("isolation_group")
        })
        .await;
    assert!(text_of(&isolated).contains(&target), "{isolated}");
    assert_eq!(count(&use1, "running").await, 3, "isolated, still running");

    // Health and metrics.
    let health: Value = reqwest::get(format!("{}/healthz", serve.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert!(health["last_check"].is_string());
    // Which build answers, as `runaway --version` names it.
    let version = std::process::Command::new(env!("CARGO_BIN_EXE_runaway"))
        .arg("--version")
        .output()
        .unwrap()
        .stdout;
    assert_eq!(
        format!("runaway {}", health["version"].as_str().unwrap()),
        String::from_utf8(version).unwrap().trim()
    );
    let metrics = reqwest::get(format!("{}/metrics", serve.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("runaway_checks_total 1"), "{metrics}");
    assert!(
        metrics.contains("runaway_instances_stopped_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("runaway_refused_presses_total 2"),
        "{metrics}"
    );
    assert!(metrics.contains("runaway_open_incidents 1"), "{metrics}");

    // SIGTERM: a clean exit 0.
    assert_eq!(serve.stop("-TERM").await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_in_the_grace_period_keeps_the_deadline_and_alerts_once() {
    let moto = Moto::start();
    let slack = SlackStandIn::start().await;
    let topic = topic(&moto).await;
    let use1 = moto.sdk("us-east-1").await;
    launch(&use1, 3, &[], false).await;
    let w = Workdir::new(&config_text("6s", &topic));
    let serve = Serve::start(&w, &moto.url, &slack).await;
    let alert = slack.wait_for("chat.postMessage", 20, |_| true).await;
    let incident = button_value(&alert, "runaway_approve").unwrap();
    // Killed without a chance to clean up, inside the grace period.
    serve.stop("-KILL").await;
    assert_eq!(count(&use1, "running").await, 3);
    let serve = Serve::start(&w, &moto.url, &slack).await;
    let done = slack
        .wait_for("chat.update", 30, |b| {
            text_of(b).contains("stopped 3 instances")
        })
        .await;
    assert!(text_of(&done).contains(&incident));
    assert_eq!(count(&use1, "stopped").await, 3);
    assert_eq!(
        slack.calls_to("chat.postMessage").len(),
        1,
        "the restart must not alert again"
    );
    assert_executed_at_its_deadline(&w.path("journal.db"), &incident);
    assert_eq!(serve.stop("-TERM").await.code(), Some(0));

    // `runaway status` reads the same journal.
    let out = w.run(&moto.url, &["status", "--json"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let status = out.json();
    assert!(status["last_check"].is_string(), "{status}");
    assert_eq!(status["open_incidents"], json!([]));
    let recent = &status["recent_incidents"][0];
    assert_eq!(recent["incident"], incident.as_str());
    assert_eq!(recent["status"], "executed");
    assert_eq!(recent["decided_by"], "deadline");
    assert_eq!(status["accounts"][0]["account_id"], PAYER);
    let text = w.run(&moto.url, &["status"], &[]).await;
    assert!(
        text.stdout.contains(&format!("{incident} alert executed")),
        "{text:?}"
    );
}
