//! The message of a GuardDuty finding incident: the finding's title, type, severity, resource,
//! account, region and count; what happens at the deadline; the Isolate, Override and Lock out
//! buttons; and, once decided, what the response did.

use super::*;
use crate::core::guardduty::{FindingIncident, Response};
use crate::core::isolation::StepStatus;

/// GuardDuty's names for its severity bands.
fn band(severity: f64) -> &'static str {
    match severity {
        s if s >= 7.0 => "High",
        s if s >= 4.0 => "Medium",
        _ => "Low",
    }
}

pub(super) fn content(view: &IncidentView, f: &FindingIncident) -> SlackMessageContent {
    let finding = &f.finding;
    let title = format!("🛡️ GuardDuty: {}", finding.title);
    let mut blocks = vec![SlackBlock::Header(SlackHeaderBlock::new(
        SlackBlockPlainText::new(truncate(&title, MAX_HEADER_TEXT))
            .with_emoji(true)
            .into(),
    ))];
    let resource = match (&finding.instance_id, &finding.access_key_id) {
        (Some(i), _) => format!("instance `{i}`"),
        (None, Some(k)) => format!(
            "access key `{k}`{}",
            finding
                .user_name
                .as_deref()
                .map(|u| format!(" of {u}"))
                .unwrap_or_default()
        ),
        _ => finding.resource_type.clone(),
    };
    let fields = vec![
        mrkdwn(format!("*Type*\n{}", truncate(&finding.finding_type, 200))),
        mrkdwn(format!(
            "*Severity*\n{} ({})",
            finding.severity,
            band(finding.severity)
        )),
        mrkdwn(format!("*Resource*\n{resource}")),
        mrkdwn(format!("*Account*\n{}", accounts_text(view))),
        mrkdwn(format!("*Region*\n{}", finding.region)),
        mrkdwn(format!(
            "*Count*\n{} (GuardDuty), {} finding(s) here",
            finding.count, f.findings
        )),
    ];
    blocks.push(SlackBlock::Section(
        SlackSectionBlock::new().with_fields(fields),
    ));
    let mut fallback = format!(
        "{title} ({} {}, severity {}) in {} {}",
        finding.finding_type,
        resource.replace('`', ""),
        finding.severity,
        accounts_text(view),
        finding.region
    );
    if let Some(found) = &view.launchers {
        let lines = crate::text::launchers::lines(found);
        blocks.push(section(&format!("*Key of:* {}", lines.join("\n"))));
    }
    let instance = finding.instance_id.as_deref().unwrap_or("the instance");
    let what = match f.response {
        Response::Isolate => {
            format!("isolate {instance} (it keeps running, cut off; its volumes are snapshotted)")
        }
        Response::Stop => format!("stop {instance}"),
        Response::Lockout => format!(
            "lock out {} (its key {} set Inactive, the deny-all policy attached)",
            finding.user_name.as_deref().unwrap_or("the key's user"),
            finding.access_key_id.as_deref().unwrap_or("?")
        ),
        Response::Alert => String::new(),
    };
    match view.status {
        Status::Open => {
            let mut buttons = Vec::new();
            if f.acts() {
                let by = view
                    .deadline
                    .map(|t| format!("by {}", utc(t)))
                    .unwrap_or_else(|| {
                        format!(
                            "within {} of this alert",
                            humantime::format_duration(std::time::Duration::from_secs(
                                f.grace_seconds
                            ))
                        )
                    });
                blocks.push(section(&format!("*If nobody overrides {by}:* {what}")));
                fallback += &format!(". Will {what} unless overridden.");
                let label = match f.response {
                    Response::Stop => "Stop now",
                    Response::Lockout => "Lock out now",
                    _ => "Isolate now",
                };
                buttons.push(danger_button(
                    Press::Approve,
                    &view.id,
                    label,
                    &format!("{label}?"),
                    &format!(
                        "{} now, without waiting for the deadline.",
                        capitalised(&what)
                    ),
                ));
            } else {
                blocks.push(section(
                    "*Alert only:* nothing happens unless someone presses a button.",
                ));
            }
            if f.response != Response::Isolate && finding.instance_id.is_some() {
                buttons.push(danger_button(
                    Press::Isolate,
                    &view.id,
                    "Isolate",
                    "Isolate the instance?",
                    &format!("Cut {instance} off (isolation security group, profile off, out of its Auto Scaling group) and snapshot its volumes. It keeps running; restore undoes all but the snapshots."),
                ));
            }
            buttons.push(button(Press::Override, &view.id, "Override"));
            if f.response != Response::Lockout {
                buttons.extend(lockout_launchers_button(view));
            }
            blocks.push(actions_block("runaway_decide", buttons));
        }
        _ => {
            let decision = decision(view, &what);
            fallback += &format!(". {}", decision.replace('*', ""));
            blocks.push(section(&decision));
            if let Some(iso) = &view.isolation {
                blocks.push(isolation_section(iso));
            }
            for a in view.outcome.iter().flatten().take(MAX_OUTCOME_SECTIONS) {
                blocks.push(section(&outcome_text(a)));
            }
            closing_sections(view, &mut blocks);
        }
    }
    blocks.push(SlackBlock::Context(SlackContextBlock::new(vec![
        SlackContextBlockElement::MarkDown(SlackBlockMarkDownText::new(format!(
            "incident `{}` · finding `{}` · rule `{}` · runawaytrain",
            view.id,
            truncate(&finding.id, 80),
            truncate(&f.rule, 80)
        ))),
    ])));
    blocks.truncate(50);
    SlackMessageContent::new()
        .with_text(truncate(&fallback, 3000))
        .with_blocks(blocks)
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// How a finding's or tampering's incident was decided, with `what` its response did.
pub(super) fn decision(view: &IncidentView, what: &str) -> String {
    let at = view.decided_at.map(utc).unwrap_or_default();
    match view.status {
        Status::Overridden => format!(
            "*Overridden* by {} at {at}: closed as a false alarm, nothing was done.",
            who(view.decided_by.as_deref())
        ),
        _ if view.decided_by.as_deref() == Some("deadline") => {
            format!("*Deadline passed* at {at} with nobody overriding: {what}.")
        }
        _ => format!(
            "*Decided* by {} at {at}: {what}.",
            who(view.decided_by.as_deref())
        ),
    }
}

/// Why nothing was done, what a lockout did, and whether the response is still running.
pub(super) fn closing_sections(view: &IncidentView, blocks: &mut Vec<SlackBlock>) {
    if let Some(e) = &view.error {
        blocks.push(section(&format!("*Nothing done:* {e}")));
    }
    for a in view.lockout.iter().flatten().take(MAX_OUTCOME_SECTIONS) {
        blocks.push(section(&lockout_text(a)));
    }
    if matches!(view.status, Status::Approved | Status::Expired) {
        blocks.push(section("_Running the response…_"));
    }
}

/// What an isolation did, a line per step.
pub(super) fn isolation_section(iso: &crate::core::isolation::IsolationReport) -> SlackBlock {
    let lines: Vec<String> = iso
        .steps
        .iter()
        .map(|s| {
            let mark = match s.status {
                StepStatus::Done => "✅",
                StepStatus::Skipped => "➖",
                StepStatus::Failed => "❌",
                StepStatus::Planned => "…",
            };
            format!("{mark} {}: {}", s.step.as_str(), truncate(&s.detail, 200))
        })
        .collect();
    section(&format!("*Isolation*\n{}", lines.join("\n")))
}
