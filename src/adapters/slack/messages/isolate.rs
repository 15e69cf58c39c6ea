//! The message of a `/runaway isolate`: the instance, the confirmation button, and once
//! confirmed what each step did.

use super::*;
use crate::core::isolation::IsolationTarget;

pub(super) fn content(view: &IncidentView, t: &IsolationTarget) -> SlackMessageContent {
    let title = format!(
        "Isolation requested: {} in {} ({})",
        t.instance_id,
        accounts_text(view),
        t.region
    );
    let mut blocks = vec![SlackBlock::Header(SlackHeaderBlock::new(
        SlackBlockPlainText::new(truncate(&title, MAX_HEADER_TEXT))
            .with_emoji(true)
            .into(),
    ))];
    let mut fallback = title.clone();
    let steps = "termination protection on · out of its Auto Scaling group · instance profile off · every interface into `runaway-isolation` · every volume snapshotted · tagged `runaway:quarantine`. It keeps running; `restore` undoes all but the snapshots.";
    match view.status {
        Status::AwaitingConfirmation => {
            let by = view
                .deadline
                .map(|d| format!(" by {}", utc(d)))
                .unwrap_or_default();
            blocks.push(section(&format!("*Confirm{by} to isolate it:* {steps}")));
            blocks.push(actions_block(
                "runaway_confirm",
                vec![danger_button(
                    Press::ConfirmIsolate,
                    &view.id,
                    "Isolate",
                    "Isolate this instance?",
                    &format!("Cut {} off and snapshot its volumes.", t.instance_id),
                )],
            ));
        }
        Status::Unconfirmed => {
            let text = format!(
                "*Not confirmed* by {}: the isolation lapsed, nothing was done.",
                view.decided_at.map(utc).unwrap_or_default()
            );
            fallback += &format!(". {}", text.replace('*', ""));
            blocks.push(section(&text));
        }
        _ => {
            let text = format!(
                "*Isolation confirmed* by {} at {}.",
                who(view.decided_by.as_deref()),
                view.decided_at.map(utc).unwrap_or_default()
            );
            fallback += &format!(". {}", text.replace('*', ""));
            blocks.push(section(&text));
            match (&view.isolation, &view.error) {
                (Some(iso), _) => blocks.push(super::finding::isolation_section(iso)),
                (None, Some(e)) => blocks.push(section(&format!("*Nothing done:* {e}"))),
                (None, None) => blocks.push(section("_Isolating…_")),
            }
        }
    }
    blocks.push(SlackBlock::Context(SlackContextBlock::new(vec![
        SlackContextBlockElement::MarkDown(SlackBlockMarkDownText::new(format!(
            "incident `{}` · runawaytrain",
            view.id
        ))),
    ])));
    SlackMessageContent::new()
        .with_text(truncate(&fallback, 3000))
        .with_blocks(blocks)
}
