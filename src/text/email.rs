//! The e-mail of an incident, for the notify list's SNS topic: plain text, complete on its own
//! (it is the fallback when Slack is down). Pure.

use std::fmt::Write;

use crate::core::incident::Status;
use crate::ports::IncidentView;

/// `(subject, body)` of the e-mail about the incident in its current state.
pub fn email(view: &IncidentView) -> (String, String) {
    let accounts = view
        .accounts
        .iter()
        .map(|(id, name)| {
            if id == name {
                id.clone()
            } else {
                format!("{name} ({id})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let subject = match view.status {
        Status::Executed | Status::Partial => format!("runawaytrain: actions ran on {accounts}"),
        Status::Overridden => format!("runawaytrain: alert on {accounts} overridden"),
        _ => format!("runawaytrain: {accounts} fails its rules"),
    };
    let mut body = format!(
        "Incident {} on {accounts}: {}.\n",
        view.id,
        view.status.as_str()
    );
    if let Some(o) = &view.observed {
        for v in &o.violations {
            let _ = writeln!(
                body,
                "- {}: observed {}, limit {}",
                v.rule,
                q(v.observed),
                q(v.limit)
            );
        }
        let regions: Vec<String> = o.regions.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = writeln!(
            body,
            "Running instances: {} ({})",
            o.running_instances,
            regions.join(", ")
        );
    }
    if let Some(found) = &view.launchers {
        let _ = writeln!(body, "Launched by:");
        for line in crate::text::launchers::lines(found) {
            let _ = writeln!(body, "- {line}");
        }
    }
    if view.status == Status::Open
        && let Some(deadline) = view.deadline
    {
        let _ = writeln!(
            body,
            "\nUnless an approver overrides in Slack, the guard acts at {}:",
            deadline.format("%Y-%m-%d %H:%M:%S UTC")
        );
        for a in &view.actions {
            let _ = writeln!(
                body,
                "- {}",
                serde_json::to_value(a)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            );
        }
    }
    if let Some(outcome) = &view.outcome {
        body.push('\n');
        for a in outcome {
            body += &crate::text::terminal::account_halt(a, false, true);
        }
        let _ = writeln!(
            body,
            "\nEvery change is journaled under incident {}.",
            view.id
        );
    }
    (subject, body)
}

fn q(x: crate::core::rules::Quantity) -> String {
    match x {
        crate::core::rules::Quantity::Count(n) => n.to_string(),
        crate::core::rules::Quantity::Usd(v) => format!("${v:.2}"),
    }
}
