//! How alerts reach people, against moto and the Slack stand-in, with the bot's steps driven
//! directly: a post whose answer is lost is not posted twice, a rate-limited Slack holds up
//! neither the check nor another account's alert, the grace period runs from delivery, an
//! alert cut short by a crash is delivered after it, and a `/runaway halt` nobody confirms
//! lapses.

use std::time::Duration;

use crate::common::bot::*;
use crate::common::config::{APPROVER, Toml};
use crate::common::slack::{Mode, text_of};
use crate::common::*;
use chrono::Utc;
use runawaytrain::app::bot::Outcome;
use runawaytrain::core::incident::{Observed, Press, Status};

fn config(grace: &str, topic: &str, accounts: &[&str]) -> String {
    let mut toml = Toml::new()
        .guard(&format!(
            "check_every = \"10s\"\ngrace_period = \"{grace}\""
        ))
        .slack(&[APPROVER])
        .notify(topic);
    for id in accounts {
        let role = if *id == PAYER {
            String::new()
        } else {
            format!("role_arn = \"arn:aws:iam::{id}:role/runawaytrain-member\"\n")
        };
        toml = toml.account(&format!(
            "id = \"{id}\"\n{role}regions = [\"us-east-1\"]\nmax_running_instances = 0"
        ));
    }
    toml.into()
}

fn alerts(h: &BotHarness) -> Vec<runawaytrain::ports::journal::IncidentRow> {
    h.bot.journal.recent_incidents(100).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_whose_answer_was_lost_is_found_not_posted_twice() {
    let h = BotHarness::start(|t| config("10m", t, &[PAYER])).await;
    launch(&h.moto.sdk("us-east-1").await, 1, &[], false).await;
    // Slack posts the alert but answers 500 (a timeout at its edge): the guard cannot know.
    h.slack.set_mode(Mode::LandThenFail);
    h.bot.check_step(Utc::now()).await.unwrap();
    let messages = h.slack.messages();
    assert_eq!(messages.len(), 1, "posted twice: {messages:#?}");
    let row = &alerts(&h)[0];
    assert_eq!(
        row.slack_ts.as_deref(),
        messages[0]["ts"].as_str(),
        "the post was found again"
    );
    assert!(row.deadline.is_some());
    let mail = emails(&h.moto);
    assert_eq!(mail.len(), 1);
    assert!(!mail[0].1.contains("could not be posted"), "{mail:?}");
    // Found by the metadata every alert carries.
    assert_eq!(messages[0]["metadata"]["event_payload"]["incident"], row.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_slack_holds_up_neither_the_check_nor_the_deadline() {
    let h = BotHarness::start(|t| config("10m", t, &[PAYER])).await;
    launch(&h.moto.sdk("us-east-1").await, 1, &[], false).await;
    // Every call: 429 with Retry-After 60, longer than the client's whole budget (4 s here).
    h.slack.set_mode(Mode::RateLimitLong);
    // Slow too, so that the delivery is surely still going when the check step returns.
    h.slack.set_delay(Duration::from_millis(1500));
    let now = Utc::now();
    h.bot.0.check_step(now).await.unwrap();
    // The check step is over while the alert is still being delivered.
    assert!(!h.bot.0.tasks.is_empty(), "the check waited for Slack");
    h.bot.0.idle().await;
    // The 429 was not waited out: one attempt, then the e-mail, which says Slack failed.
    assert_eq!(h.slack.calls().len(), 1, "{:#?}", h.slack.calls());
    let mail = emails(&h.moto);
    assert_eq!(mail.len(), 1);
    assert!(mail[0].1.contains("rate limited"), "{mail:?}");
    // The e-mail was the first delivery: the grace period runs from it, and the deadline holds.
    let row = &alerts(&h)[0];
    let due = row.deadline.expect("a deadline");
    assert!(due >= now + chrono::Duration::minutes(10), "{due}");
    assert!(
        mail[0]
            .1
            .contains(&due.format("%Y-%m-%d %H:%M:%S UTC").to_string())
    );
    assert!(h.bot.deadline_step(due).await.unwrap().contains(&row.id));
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_of_two_accounts_go_out_at_once_and_each_grace_period_starts_at_its_delivery() {
    let h = BotHarness::start(|t| config("10m", t, &[PAYER, MEMBER])).await;
    launch(&h.moto.sdk("us-east-1").await, 1, &[], false).await;
    launch(&h.moto.sdk_in(MEMBER, "us-east-1").await, 1, &[], false).await;
    // A slow Slack: every call takes 1.5 s.
    h.slack.set_delay(Duration::from_millis(1500));
    let now = Utc::now();
    h.bot.check_step(now).await.unwrap();
    assert_eq!(h.slack.calls_to("chat.postMessage").len(), 2);
    assert!(
        h.slack.max_in_flight() >= 2,
        "one account's alert waited on the other's"
    );
    for row in alerts(&h) {
        // Posted at the earliest 1.5 s after the check: the grace period starts then, not at
        // the check.
        let due = row.deadline.expect("a deadline");
        assert!(
            due >= now + chrono::Duration::minutes(10) + chrono::Duration::milliseconds(1500),
            "{}: {due}",
            row.id
        );
        assert!(
            h.bot
                .deadline_step(due - chrono::Duration::milliseconds(100))
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_that_reached_nobody_still_acts_from_the_end_of_the_check() {
    let h = BotHarness::start(|t| {
        config("10m", t, &[PAYER]).replace("sns_topic_arn", "# no topic\n# sns_topic_arn")
    })
    .await;
    let use1 = h.moto.sdk("us-east-1").await;
    launch(&use1, 1, &[], false).await;
    h.slack.set_mode(Mode::InvalidAuth);
    let now = Utc::now();
    h.bot.check_step(now).await.unwrap();
    let row = &alerts(&h)[0];
    let due = row.deadline.expect("a deadline even so");
    assert!(
        due >= now + chrono::Duration::minutes(10)
            && due < now + chrono::Duration::minutes(10) + chrono::Duration::seconds(5),
        "{due}"
    );
    assert!(h.bot.deadline_step(due).await.unwrap().contains(&row.id));
    assert_eq!(count(&use1, "stopped").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_cut_short_by_a_crash_is_delivered_once_after_it() {
    let h = BotHarness::start(|t| config("10m", t, &[PAYER])).await;
    // As a process killed between opening the incident and delivering its alert leaves it.
    let observed = Observed {
        running_instances: 1,
        ..Observed::default()
    };
    let id = h
        .bot
        .journal
        .open_alert(PAYER, &observed, Utc::now())
        .unwrap();
    let now = Utc::now();
    assert!(h.bot.deadline_step(now).await.unwrap().is_empty());
    let row = h.bot.journal.get_incident(&id).unwrap().unwrap();
    assert!(row.slack_ts.is_some() && row.deadline.is_some());
    assert!(row.deadline.unwrap() >= now + chrono::Duration::minutes(10));
    h.bot.deadline_step(Utc::now()).await.unwrap();
    assert_eq!(h.slack.messages().len(), 1, "delivered once");
    assert_eq!(emails(&h.moto).len(), 1);

    // Killed after the post landed but before its ts was journaled: found, not posted again.
    let lost = h
        .bot
        .journal
        .open_alert(PAYER, &observed, Utc::now())
        .unwrap();
    let landed: serde_json::Value = reqwest::Client::new()
        .post(format!("{}chat.postMessage", h.slack.api))
        .json(
            &serde_json::json!({"channel": "C0123456789", "text": "alert",
            "metadata": {"event_type": "runaway_incident", "event_payload": {"incident": lost}}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    h.bot.deadline_step(Utc::now()).await.unwrap();
    assert_eq!(h.slack.messages().len(), 2, "posted twice");
    let row = h.bot.journal.get_incident(&lost).unwrap().unwrap();
    assert_eq!(row.slack_ts.as_deref(), landed["ts"].as_str());
    assert!(row.deadline.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_halt_nobody_confirms_lapses_says_so_and_its_button_does_nothing() {
    let h = BotHarness::start(|t| config("2m", t, &[PAYER])).await;
    let use1 = h.moto.sdk("us-east-1").await;
    launch(&use1, 1, &[], false).await;
    let now = Utc::now();
    let url = format!("{}halt", h.slack.responses);
    let view = h
        .bot
        .request_halt(APPROVER, None, Some(&url), now)
        .unwrap()
        .unwrap();
    assert_eq!(view.status, Status::AwaitingConfirmation);
    assert_eq!(view.deadline, Some(now + chrono::Duration::minutes(2)));
    // Still waiting a moment before the grace period ends.
    h.bot
        .deadline_step(now + chrono::Duration::seconds(119))
        .await
        .unwrap();
    let waiting = h
        .bot
        .journal
        .incidents_in(&[Status::AwaitingConfirmation])
        .unwrap();
    assert_eq!(waiting.len(), 1);
    // Then it lapses, and the confirmation message says so, without its button.
    let lapsed = h
        .bot
        .deadline_step(now + chrono::Duration::minutes(2))
        .await
        .unwrap();
    assert_eq!(lapsed, vec![view.id.clone()]);
    let said = h.slack.wait_for("response/halt", 5, |_| true).await;
    let text = text_of(&said);
    assert!(text.contains("Not confirmed"), "{text}");
    assert!(!text.contains("runaway_confirm_halt"), "{text}");
    assert_eq!(said["replace_original"], true);
    assert!(
        h.bot
            .journal
            .incidents_in(&[Status::AwaitingConfirmation, Status::Open])
            .unwrap()
            .is_empty(),
        "no longer an open incident"
    );
    // A late press changes nothing.
    let late = h
        .bot
        .press(
            Press::ConfirmHalt,
            &view.id,
            APPROVER,
            None,
            now + chrono::Duration::minutes(3),
        )
        .await
        .unwrap();
    assert_eq!(late, Outcome::AlreadyDecided(Status::Unconfirmed));
    assert_eq!(count(&use1, "running").await, 1);
}
