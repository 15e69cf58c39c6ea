//! The two-person rule (`[slack] approvals_required = 2`) against moto and the Slack stand-in:
//! Halt now, a `/runaway halt` confirmation and `/runaway restore` each run only once a
//! second, different approver has asked; one person asking twice counts once; the first ask
//! shows who waits; the deadline still acts on its own; every press is journaled.

use crate::common::bot::*;
use crate::common::config::Toml;
use crate::common::slack::{button_value, text_of};
use crate::common::*;
use chrono::Utc;
use runawaytrain::app::bot::Outcome;
use runawaytrain::core::approvals::WAITING;
use runawaytrain::core::incident::{Press, Status};

const FIRST: &str = "UAPPROVER1";
const SECOND: &str = "UAPPROVER2";

fn config(required: &str, topic: &str) -> String {
    Toml::new()
        .guard("check_every = \"10s\"\ngrace_period = \"10m\"")
        .slack(&[FIRST, SECOND])
        .slack_line(required)
        .notify(topic)
        .payer(&["us-east-1"], "max_running_instances = 1")
        .into()
}

async fn alerted(required: &str) -> (BotHarness, aws_config::SdkConfig, String) {
    let h = BotHarness::start(|topic| config(required, topic)).await;
    let sdk = h.moto.sdk("us-east-1").await;
    launch(&sdk, 3, &[], false).await;
    h.bot.check_step(Utc::now()).await.unwrap();
    let alert = &h.slack.calls_to("chat.postMessage")[0].body;
    let incident = button_value(alert, "runaway_approve").unwrap();
    (h, sdk, incident)
}

#[tokio::test(flavor = "multi_thread")]
async fn halt_now_waits_for_a_second_different_approver() {
    let (h, sdk, incident) = alerted("approvals_required = 2").await;
    let now = Utc::now();
    let url = format!("{}1", h.slack.responses);

    // The first ask: nothing runs, the presser is told, the message shows who waits.
    let first = h
        .bot
        .press(Press::Approve, &incident, FIRST, Some(&url), now)
        .await
        .unwrap();
    assert_eq!(first, Outcome::Waiting);
    assert_eq!(count(&sdk, "running").await, 3, "nothing stopped");
    let told = h
        .slack
        .wait_for("response/1", 5, |b| {
            text_of(b).contains("second, different approver")
        })
        .await;
    assert!(text_of(&told).contains(FIRST), "{told}");
    let shown = h
        .slack
        .wait_for("chat.update", 5, |b| text_of(b).contains("Two-person rule"))
        .await;
    assert!(text_of(&shown).contains(&format!("<@{FIRST}>")), "{shown}");
    assert_eq!(
        h.bot
            .journal
            .get_incident(&incident)
            .unwrap()
            .unwrap()
            .status,
        Status::Open
    );

    // The same person again counts once.
    let again = h
        .bot
        .press(Press::Approve, &incident, FIRST, Some(&url), now)
        .await
        .unwrap();
    assert_eq!(again, Outcome::Waiting);
    assert_eq!(
        count(&sdk, "running").await,
        3,
        "one person twice is not two"
    );

    // A second, different approver: it runs, once.
    let second = h
        .bot
        .press(Press::Approve, &incident, SECOND, Some(&url), now)
        .await
        .unwrap();
    assert_eq!(second, Outcome::Decided(Status::Approved));
    assert_eq!(count(&sdk, "stopped").await, 3);
    let row = h.bot.journal.get_incident(&incident).unwrap().unwrap();
    assert_eq!(row.decided_by.as_deref(), Some(SECOND));

    // Every press journaled: three asks, and the approval.
    let presses = h.bot.journal.presses(&incident).unwrap();
    let waiting: Vec<&str> = presses
        .iter()
        .filter(|p| p.3 == WAITING)
        .map(|p| p.0.as_str())
        .collect();
    assert_eq!(waiting, [FIRST, FIRST, SECOND]);
    assert!(presses.iter().any(|p| p.0 == SECOND && p.3 == "approved"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deadline_still_acts_alone_and_one_approval_is_enough_by_default() {
    // Two-person rule: one ask, then the deadline runs the actions on its own.
    let (h, sdk, incident) = alerted("approvals_required = 2").await;
    let now = Utc::now();
    let asked = h
        .bot
        .press(Press::Approve, &incident, FIRST, None, now)
        .await
        .unwrap();
    assert_eq!(asked, Outcome::Waiting);
    let fired = h
        .bot
        .deadline_step(now + chrono::Duration::minutes(11))
        .await
        .unwrap();
    assert_eq!(fired, std::slice::from_ref(&incident));
    assert_eq!(count(&sdk, "stopped").await, 3);

    // Without the rule, one press runs at once.
    let (h, sdk, incident) = alerted("").await;
    let one = h
        .bot
        .press(Press::Approve, &incident, FIRST, None, Utc::now())
        .await
        .unwrap();
    assert_eq!(one, Outcome::Decided(Status::Approved));
    assert_eq!(count(&sdk, "stopped").await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slash_halt_needs_a_confirmation_by_someone_else_and_restore_two_asks() {
    let h = BotHarness::start(|topic| config("approvals_required = 2", topic)).await;
    let sdk = h.moto.sdk("us-east-1").await;
    launch(&sdk, 1, &[], false).await;
    let now = Utc::now();
    let url = format!("{}2", h.slack.responses);
    let view = h
        .bot
        .request_halt(FIRST, None, Some(&url), now)
        .unwrap()
        .unwrap();
    // Who asked waits for someone else, as the confirmation message says.
    assert_eq!(view.waiting, [FIRST]);
    let own = h
        .bot
        .press(Press::ConfirmHalt, &view.id, FIRST, Some(&url), now)
        .await
        .unwrap();
    assert_eq!(
        own,
        Outcome::Waiting,
        "one's own request is not a second approval"
    );
    assert_eq!(count(&sdk, "running").await, 1);
    let other = h
        .bot
        .press(Press::ConfirmHalt, &view.id, SECOND, Some(&url), now)
        .await
        .unwrap();
    assert_eq!(other, Outcome::Decided(Status::Approved));
    assert_eq!(count(&sdk, "stopped").await, 1);

    // /runaway restore: the first ask waits, a second approver's runs it.
    let first = h
        .bot
        .restore(FIRST, &view.id, true, Some(&url), now)
        .await
        .unwrap();
    assert_eq!(first, Outcome::Waiting);
    assert_eq!(count(&sdk, "stopped").await, 1, "nothing restored yet");
    let second = h
        .bot
        .restore(SECOND, &view.id, true, Some(&url), now)
        .await
        .unwrap();
    assert_eq!(second, Outcome::Decided(Status::Executed));
    assert_eq!(count(&sdk, "running").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn approvals_required_other_than_1_or_2_or_without_two_approvers_is_exit_2() {
    let moto = Moto::start();
    for (slack, says) in [
        (
            "approvers = [\"U1\", \"U2\"]\napprovals_required = 3",
            "expected 1 or 2",
        ),
        (
            "approvers = [\"U1\"]\napprovals_required = 2",
            "at least two approvers",
        ),
    ] {
        let text = format!(
            "[slack]\nchannel = \"C0123456789\"\n{slack}\n\n[[accounts]]\nid = \"{PAYER}\"\nname = \"payer\"\nregions = [\"us-east-1\"]\nmax_running_instances = 1\n"
        );
        let w = Workdir::new(&text);
        let out = w.run(&moto.url, &["check"], &[]).await;
        assert_eq!(out.code, 2, "{slack}: {out:?}");
        assert!(
            out.stderr.contains("slack.approvals_required") && out.stderr.contains(says),
            "{slack}: {out:?}"
        );
    }
}
