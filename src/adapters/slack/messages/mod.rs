//! Block Kit: an incident's message in every state, within Slack's limits, built on
//! slack-morphism's typed models (`SlackBlock`, `SlackMessageContent`): a block or a field
//! Slack does not know cannot be written.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use slack_morphism::prelude::{
    SlackActionsBlock, SlackBlock, SlackBlockButtonElement, SlackBlockButtonStyle,
    SlackBlockConfirmItem, SlackBlockMarkDownText, SlackBlockPlainText, SlackBlockText,
    SlackContextBlock, SlackContextBlockElement, SlackHeaderBlock, SlackMessageContent,
    SlackSectionBlock,
};

use super::requests::action_id;
use crate::config::Action;
use crate::core::incident::{Press, Status};
use crate::ports::IncidentView;
use crate::text::summarise;

mod finding;
mod isolate;
mod tamper;

/// Slack's limits, as its own SDK enforces them.
const MAX_SECTION_TEXT: usize = 3000;
const MAX_HEADER_TEXT: usize = 150;
const MAX_FIELDS: usize = 10;
/// Account outcomes shown in one message; the rest are counted.
const MAX_OUTCOME_SECTIONS: usize = 40;

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn mrkdwn(text: String) -> SlackBlockText {
    SlackBlockText::MarkDown(SlackBlockMarkDownText::new(text))
}

/// A button of the guard, the incident id as its value.
fn button(press: Press, incident: &str, label: &str) -> SlackBlockButtonElement {
    SlackBlockButtonElement::new(label.into())
        .with_action_id(action_id(press).into())
        .with_value(incident.into())
}

/// A danger-style button with its confirm dialog, the incident id as its value.
fn danger_button(
    press: Press,
    incident: &str,
    label: &str,
    title: &str,
    text: &str,
) -> SlackBlockButtonElement {
    let confirm = SlackBlockConfirmItem::new(
        title.into(),
        mrkdwn(truncate(text, 300)),
        label.into(),
        "Cancel".into(),
    )
    .with_style("danger".into());
    button(press, incident, label)
        .with_style(SlackBlockButtonStyle::Danger)
        .with_confirm(confirm)
}

fn actions_block(block_id: &str, buttons: Vec<SlackBlockButtonElement>) -> SlackBlock {
    SlackBlock::Actions(
        SlackActionsBlock::new(buttons.into_iter().map(Into::into).collect())
            .with_block_id(block_id.to_owned().into()),
    )
}

fn section(text: &str) -> SlackBlock {
    SlackBlock::Section(
        SlackSectionBlock::new().with_text(mrkdwn(truncate(text, MAX_SECTION_TEXT))),
    )
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn who(by: Option<&str>) -> String {
    match by {
        Some("deadline") | None => "the deadline".into(),
        Some(user) => format!("<@{user}>"),
    }
}

fn action_text(a: Action, exempt_tag: &str) -> String {
    match a {
        Action::StopInstances => format!(
            "stop every running instance in every region (never terminate; instances tagged `{exempt_tag}=true` are left alone)"
        ),
        Action::LockoutUsers => {
            "lock out the IAM users (deny-all policy, access keys deactivated)".into()
        }
        Action::BlockLaunches => "block new launches (launch-deny policy)".into(),
        Action::BlockBedrock => {
            "block Amazon Bedrock (deny policy on model invocations and model-access set-up; Bedrock API keys set Inactive)".into()
        }
        Action::RevokeSessions => {
            "revoke every user's and role's sessions issued before the incident (new sessions still work)".into()
        }
        Action::LockoutLaunchers => {
            "lock out who launched the instances (the key used set Inactive and the deny-all policy; a role's older sessions revoked)".into()
        }
    }
}

fn accounts_text(view: &IncidentView) -> String {
    view.accounts
        .iter()
        .map(|(id, name)| {
            if id == name {
                id.clone()
            } else {
                format!("{name} ({id})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The answer to a slash command that only its author sees.
pub fn ephemeral(text: &str) -> Value {
    json!({"response_type": "ephemeral", "text": text})
}

/// The answer to a slash command that the channel sees: an incident's message.
pub fn in_channel(view: &IncidentView) -> Value {
    let mut message = incident_message(view);
    message["response_type"] = json!("in_channel");
    message
}

/// The message of an incident (`text` fallback and `blocks`), for every status, as JSON.
pub fn incident_message(view: &IncidentView) -> Value {
    serde_json::to_value(incident_content(view)).expect("Block Kit models serialise")
}

/// The message of an incident (`text` fallback and `blocks`), for every status.
pub fn incident_content(view: &IncidentView) -> SlackMessageContent {
    if let Some(f) = &view.finding {
        if let Some(t) = &f.tamper {
            return tamper::content(view, f, t);
        }
        return finding::content(view, f);
    }
    if let Some(t) = &view.target {
        return isolate::content(view, t);
    }
    let accounts = accounts_text(view);
    let manual = view.observed.is_none();
    let title = if manual {
        format!("Halt requested: {accounts}")
    } else {
        format!("🚨 {accounts} fails its rules")
    };
    let mut blocks = vec![SlackBlock::Header(SlackHeaderBlock::new(
        SlackBlockPlainText::new(truncate(&title, MAX_HEADER_TEXT))
            .with_emoji(true)
            .into(),
    ))];
    let mut fallback = title.clone();

    if let Some(o) = &view.observed {
        let fields: Vec<SlackBlockText> = o
            .violations
            .iter()
            .take(MAX_FIELDS)
            .map(|v| {
                let (observed, limit) = (v.observed_text(), v.limit_text());
                mrkdwn(format!("*{}*\n{observed} (limit {limit})", v.rule))
            })
            .collect();
        if !fields.is_empty() {
            blocks.push(SlackBlock::Section(
                SlackSectionBlock::new().with_fields(fields),
            ));
        }
        fallback += &format!(
            ": {}",
            o.violations
                .iter()
                .map(|v| format!("{} {} > {}", v.rule, v.observed_text(), v.limit_text()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let regions: Vec<String> = o.regions.iter().map(|(r, n)| format!("{r} {n}")).collect();
        if !regions.is_empty() {
            blocks.push(section(&format!(
                "*Running instances:* {} in {}\n{}",
                o.running_instances,
                crate::text::terminal::count(regions.len(), "region"),
                summarise(&regions, 40, " · ")
            )));
        }
    }
    if let Some(o) = &view.observed
        && let Some(burn) = o.burn_rate_usd_per_hour
    {
        let accelerated = o.top_instance_types.iter().any(|t| t.accelerated);
        blocks.push(section(&truncate(
            &format!(
                "*Burn rate:* ${burn:.2}/h{}\n{}",
                if accelerated {
                    " · ⚠️ accelerated instances"
                } else {
                    ""
                },
                crate::text::money::top_types(&o.top_instance_types)
            ),
            2900,
        )));
        fallback += &format!(". Burn rate ${burn:.2}/h");
    }
    if let Some(o) = &view.observed
        && let Some(burn) = o.bedrock_burn_rate_usd_per_hour
    {
        blocks.push(section(&truncate(
            &format!(
                "*Bedrock tokens:* ${burn:.2}/h\n{}",
                crate::text::money::model_costs(&o.bedrock_model_costs)
            ),
            2900,
        )));
        fallback += &format!(". Bedrock tokens ${burn:.2}/h");
    }
    // The climb that led here: the account's last 24 h, an hour a bar (`core::trend`). In a
    // code span, so that Slack keeps its spacing; a few dozen characters, far inside a
    // context element's 3,000.
    if let Some(line) = &view.trend {
        blocks.push(SlackBlock::Context(SlackContextBlock::new(vec![
            SlackContextBlockElement::MarkDown(SlackBlockMarkDownText::new(truncate(
                &format!("`{line}`"),
                2900,
            ))),
        ])));
    }
    if let Some(found) = &view.launchers {
        let lines = crate::text::launchers::lines(found);
        blocks.push(section(&truncate(
            &format!("*Launched by:* {}", lines.join("\n")),
            2900,
        )));
    }

    if !view.waiting.is_empty() {
        let who: Vec<String> = view.waiting.iter().map(|u| format!("<@{u}>")).collect();
        blocks.push(section(&truncate(
            &format!(
                "*Two-person rule:* asked by {}: waiting for a second, different approver.",
                who.join(", ")
            ),
            2900,
        )));
    }
    let actions: Vec<String> = view
        .actions
        .iter()
        .map(|a| format!("• {}", action_text(*a, &view.exempt_tag)))
        .collect();
    match view.status {
        Status::Open => {
            let (by, at) = match view.deadline {
                Some(t) => (format!("by {}", utc(t)), format!("at {}", utc(t))),
                None => {
                    let within = format!(
                        "within {} of this alert",
                        humantime::format_duration(view.grace_period)
                    );
                    (within.clone(), within)
                }
            };
            blocks.push(section(&format!(
                "*If nobody overrides {by}:*\n{}",
                actions.join("\n")
            )));
            blocks.push(actions_block(
                "runaway_decide",
                vec![
                    danger_button(
                        Press::Approve,
                        &view.id,
                        "Halt now",
                        "Halt now?",
                        &format!(
                            "Run the actions on {accounts} now, without waiting for the deadline."
                        ),
                    ),
                    button(Press::Override, &view.id, "Override"),
                ]
                .into_iter()
                .chain(lockout_launchers_button(view))
                .collect(),
            ));
            fallback += &format!(". Actions {at} unless overridden.");
        }
        Status::AwaitingConfirmation => {
            let by = view
                .deadline
                .map(|t| format!(" by {}", utc(t)))
                .unwrap_or_default();
            blocks.push(section(&format!(
                "*Confirm{by} to run:*\n{}",
                actions.join("\n")
            )));
            blocks.push(actions_block(
                "runaway_confirm",
                vec![danger_button(
                    Press::ConfirmHalt,
                    &view.id,
                    "Halt",
                    "Halt these accounts?",
                    &format!("Stop every running, non-exempt instance of {accounts}."),
                )],
            ));
        }
        _ => {
            let at = view.decided_at.map(utc).unwrap_or_default();
            let decision = match view.status {
                Status::Unconfirmed => format!(
                    "*Not confirmed* by {at}: the halt lapsed, nothing was done. Ask again with `/runaway halt`."
                ),
                Status::Overridden => format!(
                    "*Overridden* by {} at {at}: closed as a false alarm, nothing was done.",
                    who(view.decided_by.as_deref())
                ),
                Status::Resolved => {
                    format!("*Resolved* at {at}: back within its limits, nothing was done.")
                }
                _ if view.decided_by.as_deref() == Some("deadline") => {
                    format!("*Deadline passed* at {at} with nobody overriding: actions run.")
                }
                _ => format!("*Halted* by {} at {at}.", who(view.decided_by.as_deref())),
            };
            fallback += &format!(". {}", decision.replace('*', ""));
            blocks.push(section(&decision));
            if let Some(outcome) = &view.outcome {
                // One section per account, within the 50-block limit.
                for a in outcome.iter().take(MAX_OUTCOME_SECTIONS) {
                    blocks.push(section(&outcome_text(a)));
                }
                if outcome.len() > MAX_OUTCOME_SECTIONS {
                    blocks.push(section(&format!(
                        "… and {} more accounts: see the e-mail or `runaway status`.",
                        outcome.len() - MAX_OUTCOME_SECTIONS
                    )));
                }
            } else if matches!(view.status, Status::Approved | Status::Expired) {
                blocks.push(section("_Running the actions…_"));
            }
            for a in view.lockout.iter().flatten().take(MAX_OUTCOME_SECTIONS) {
                blocks.push(section(&lockout_text(a)));
            }
        }
    }
    blocks.push(SlackBlock::Context(SlackContextBlock::new(vec![
        SlackContextBlockElement::MarkDown(SlackBlockMarkDownText::new(format!(
            "incident `{}` · runawaytrain",
            view.id
        ))),
    ])));
    blocks.truncate(50);
    SlackMessageContent::new()
        .with_text(truncate(&fallback, 3000))
        .with_blocks(blocks)
}

/// **Lock out launchers**, once the alert names someone it could act on.
fn lockout_launchers_button(view: &IncidentView) -> Option<SlackBlockButtonElement> {
    let found = view.launchers.as_ref()?;
    found
        .attribution
        .launchers
        .iter()
        .any(|l| !l.exempt)
        .then(|| {
            danger_button(
                Press::LockoutLaunchers,
                &view.id,
                "Lock out launchers",
                "Lock out the launchers?",
                "Set the access keys they used Inactive and attach the deny-all policy (users); revoke their roles' sessions issued before the incident. Exempt principals are never touched; restore undoes it.",
            )
        })
}

fn lockout_text(a: &crate::app::lockout::AccountLockout) -> String {
    use crate::app::lockout::LockoutChange;
    let (mut users, mut roles, mut keys) = (BTreeSetOf::new(), BTreeSetOf::new(), 0usize);
    let mut revoked = BTreeSetOf::new();
    let mut bedrock_keys = 0usize;
    for c in &a.changes {
        match c {
            LockoutChange::RevokeRoleSessions { principal, .. } => {
                revoked.insert(format!("role {principal}"));
            }
            LockoutChange::RevokeUserSessions { principal, .. } => {
                revoked.insert(format!("user {principal}"));
            }
            LockoutChange::AttachUserPolicy { principal, .. } => {
                users.insert(principal.clone());
            }
            LockoutChange::AttachRolePolicy { principal, .. } => {
                roles.insert(principal.clone());
            }
            LockoutChange::DeactivateAccessKey { .. } => keys += 1,
            LockoutChange::DeactivateServiceCredential { .. } => bedrock_keys += 1,
        }
    }
    let mut text = format!(
        "*{} ({})*: deny policies attached to {} users and {} roles, {keys} access keys set Inactive",
        a.name,
        a.account_id,
        users.len(),
        roles.len()
    );
    if bedrock_keys > 0 {
        text += &format!(", {bedrock_keys} Bedrock API keys set Inactive");
    }
    if !revoked.is_empty() {
        let names: Vec<String> = revoked.into_iter().collect();
        text += &format!(
            ", older sessions revoked on {}",
            summarise(&names, 10, ", ")
        );
    }
    if !a.exempt.is_empty() {
        let spared: Vec<String> = a
            .exempt
            .iter()
            .map(|e| format!("{} ({})", e.principal, e.reason))
            .collect();
        text += &format!("\nSpared: {}", summarise(&spared, 10, ", "));
    }
    if !a.errors.is_empty() {
        let errors: Vec<String> = a.errors.iter().map(|e| e.message.clone()).collect();
        text += &format!(
            "\n*Errors:* {}\n{}",
            errors.len(),
            summarise(&errors, 5, "\n")
        );
    }
    text
}

type BTreeSetOf = std::collections::BTreeSet<String>;

fn outcome_text(a: &crate::app::halt::AccountHalt) -> String {
    let stopped: usize = a.stopped.values().map(Vec::len).sum();
    let by_region: Vec<String> = a
        .stopped
        .iter()
        .map(|(r, ids)| format!("{r} {}", ids.len()))
        .collect();
    let mut text = format!(
        "*{} ({})*: stopped {stopped} instances",
        a.name, a.account_id
    );
    if !by_region.is_empty() {
        text += &format!(" ({})", summarise(&by_region, 20, ", "));
    }
    if !a.suspended.is_empty() {
        let groups: Vec<String> = a
            .suspended
            .iter()
            .map(|s| format!("{} ({})", s.group, s.region))
            .collect();
        text += &format!(
            "\nSuspended Auto Scaling groups first: {}",
            summarise(&groups, 10, ", ")
        );
    }
    let exempt = a.skipped.iter().filter(|s| s.exempt).count();
    if exempt > 0 {
        text += &format!("\nLeft running as exempt: {exempt}");
    }
    for line in crate::text::services::halted(&a.services, false) {
        text += &format!("\n{line}");
    }
    let unstoppable: Vec<String> = a
        .skipped
        .iter()
        .filter(|s| !s.exempt)
        .map(|s| format!("`{}` ({}): {}", s.instance_id, s.region, s.reason))
        .collect();
    if !unstoppable.is_empty() {
        text += &format!(
            "\n*Still running:* {}\n{}",
            unstoppable.len(),
            summarise(&unstoppable, 10, "\n")
        );
    }
    if !a.errors.is_empty() {
        let errors: Vec<String> = a
            .errors
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.region.as_deref().unwrap_or("account"),
                    e.message
                )
            })
            .collect();
        text += &format!(
            "\n*Errors:* {}\n{}",
            errors.len(),
            summarise(&errors, 5, "\n")
        );
    }
    text
}

#[cfg(test)]
mod tests;
