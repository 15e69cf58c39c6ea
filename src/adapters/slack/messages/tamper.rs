//! The message of a tamper incident: who (principal, key, source IP) did what to the guard or
//! behind its back, the earlier calls of the same principal, what happens at the deadline; the
//! Lock out and Override buttons; and, once decided, what the lockout did.

use super::*;
use crate::core::guardduty::{FindingIncident, Response};
use crate::core::tamper::{Category, Tamper};

/// Earlier calls listed in the message; the rest are counted.
const MAX_EARLIER: usize = 5;

pub(super) fn content(view: &IncidentView, f: &FindingIncident, t: &Tamper) -> SlackMessageContent {
    let kind = match t.category {
        Category::Stops => "Stopped behind the guard's back",
        Category::Evasion => "Tampering with the guard",
        Category::ExemptTag => "Exemption tag moved",
        Category::Bedrock => "Amazon Bedrock called by an unexpected principal",
    };
    let title = format!("🚨 {kind}: {}", f.finding.title);
    let mut blocks = vec![SlackBlock::Header(SlackHeaderBlock::new(
        SlackBlockPlainText::new(truncate(&title, MAX_HEADER_TEXT))
            .with_emoji(true)
            .into(),
    ))];
    let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "not recorded".into());
    let fields = vec![
        mrkdwn(format!(
            "*Principal*\n`{}`",
            truncate(&t.principal_arn, 400)
        )),
        mrkdwn(format!("*Key*\n`{}`", or_unknown(&t.access_key_id))),
        mrkdwn(format!("*Source IP*\n{}", or_unknown(&t.source_ip))),
        mrkdwn(format!("*Call*\n{} ({})", t.event_name, t.event_source)),
        mrkdwn(format!("*Account*\n{}", accounts_text(view))),
        mrkdwn(format!("*Region*\n{}", t.region)),
    ];
    blocks.push(SlackBlock::Section(
        SlackSectionBlock::new().with_fields(fields),
    ));
    blocks.push(section(&format!(
        "*What:* {} at {}",
        truncate(&t.what, 2000),
        utc(t.time)
    )));
    if !t.earlier.is_empty() {
        let mut lines: Vec<String> = t
            .earlier
            .iter()
            .rev()
            .take(MAX_EARLIER)
            .map(|e| format!("• {}", truncate(e, 300)))
            .collect();
        if t.earlier.len() > MAX_EARLIER {
            lines.push(format!("…and {} earlier", t.earlier.len() - MAX_EARLIER));
        }
        blocks.push(section(&format!(
            "*Before that* ({} call(s) in this incident):\n{}",
            f.findings,
            lines.join("\n")
        )));
    }
    let mut fallback = format!(
        "{title}: {} by {} with key {} from {} in {} {}",
        t.event_name,
        t.principal_arn,
        or_unknown(&t.access_key_id),
        or_unknown(&t.source_ip),
        accounts_text(view),
        t.region
    );
    let exempt = view
        .launchers
        .as_ref()
        .is_some_and(|l| l.attribution.launchers.iter().all(|l| l.exempt));
    let who = truncate(t.who(), 300);
    match view.status {
        Status::Open => {
            let mut buttons = Vec::new();
            if f.response == Response::Lockout {
                let by = view
                    .deadline
                    .map(|t| format!("by {}", utc(t)))
                    .unwrap_or_else(|| "soon after this alert".into());
                blocks.push(section(&format!(
                    "*If nobody overrides {by}:* lock out `{who}`"
                )));
                fallback += &format!(". Will lock out {who} unless overridden.");
                buttons.push(danger_button(
                    Press::Approve,
                    &view.id,
                    "Lock out now",
                    "Lock out now?",
                    &format!("Lock out {who} now, without waiting for the deadline."),
                ));
            } else {
                blocks.push(section(
                    "*Alert only:* nothing happens unless someone presses a button.",
                ));
                if !exempt {
                    buttons.push(danger_button(
                        Press::LockoutLaunchers,
                        &view.id,
                        "Lock out",
                        "Lock out this principal?",
                        "An IAM user: the access key it used set Inactive and the deny-all policy attached. A role: its sessions issued before the incident revoked (or the launch-deny policy attached). Exempt principals and the guard are never touched; restore undoes it.",
                    ));
                }
            }
            if exempt {
                blocks.push(section(&format!(
                    "`{who}` is listed in exempt_principals: the guard never locks it out."
                )));
            }
            buttons.push(button(Press::Override, &view.id, "Override"));
            blocks.push(actions_block("runaway_decide", buttons));
        }
        _ => {
            let what = match f.response {
                Response::Lockout => format!("lock out {who}"),
                _ => "alert only".into(),
            };
            let decision = super::finding::decision(view, &what);
            fallback += &format!(". {}", decision.replace('*', ""));
            blocks.push(section(&decision));
            super::finding::closing_sections(view, &mut blocks);
        }
    }
    blocks.push(SlackBlock::Context(SlackContextBlock::new(vec![
        SlackContextBlockElement::MarkDown(SlackBlockMarkDownText::new(format!(
            "incident `{}` · tamper `{}` · event `{}` · rule `{}` · runawaytrain",
            view.id,
            t.category.as_str(),
            truncate(&f.finding.id, 80),
            truncate(&f.rule, 80)
        ))),
    ])));
    blocks.truncate(50);
    SlackMessageContent::new()
        .with_text(truncate(&fallback, 3000))
        .with_blocks(blocks)
}
