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
    if let Some(f) = &view.finding {
        if let Some(t) = &f.tamper {
            return tamper(view, f, t, &accounts);
        }
        return finding(view, f, &accounts);
    }
    if let Some(t) = &view.target {
        let subject = format!(
            "runawaytrain: isolation of {} in {accounts}: {}",
            t.instance_id,
            view.status.as_str()
        );
        let mut body = format!(
            "Incident {}: isolation of {} in {accounts} ({}), asked by {}: {}.\n",
            view.id,
            t.instance_id,
            t.region,
            view.decided_by.as_deref().unwrap_or("an approver"),
            view.status.as_str()
        );
        if let Some(iso) = &view.isolation {
            body += &crate::text::isolation::isolation(iso);
        }
        if let Some(e) = &view.error {
            let _ = writeln!(body, "Nothing done: {e}");
        }
        return (subject, body);
    }
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
                v.observed_text(),
                v.limit_text()
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
    if let Some(o) = &view.observed {
        if let Some(rate) = o.spend_rate_usd_per_hour {
            let _ = writeln!(body, "Spend rate: ${rate:.2}/h");
        }
        if let Some(burn) = o.burn_rate_usd_per_hour {
            let _ = writeln!(
                body,
                "Burn rate: ${burn:.2}/h ({})",
                crate::text::money::top_types(&o.top_instance_types)
            );
        }
        if let Some(burn) = o.bedrock_burn_rate_usd_per_hour {
            let _ = writeln!(
                body,
                "Bedrock tokens: ${burn:.2}/h ({})",
                crate::text::money::model_costs(&o.bedrock_model_costs)
            );
        }
    }
    if let Some(line) = &view.trend {
        let _ = writeln!(body, "Last {line}");
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

/// The e-mail of a GuardDuty finding incident.
fn finding(
    view: &IncidentView,
    f: &crate::core::guardduty::FindingIncident,
    accounts: &str,
) -> (String, String) {
    use crate::core::guardduty::Response;
    let g = &f.finding;
    let subject = format!(
        "runawaytrain: GuardDuty {} on {accounts}: {}",
        g.finding_type,
        view.status.as_str()
    );
    let mut body = format!(
        "Incident {} on {accounts}: {}.\n{}\n- type: {}\n- severity: {}\n- resource: {}\n- region: {}\n- count: {} (GuardDuty), {} finding(s) in this incident\n",
        view.id,
        view.status.as_str(),
        g.title,
        g.finding_type,
        g.severity,
        f.finding.resource(),
        g.region,
        g.count,
        f.findings,
    );
    if let Some(found) = &view.launchers {
        for line in crate::text::launchers::lines(found) {
            let _ = writeln!(body, "Key of: {line}");
        }
    }
    if view.status == Status::Open {
        match (f.response, view.deadline) {
            (Response::Alert, _) => {
                body += "\nAlert only: nothing happens unless an approver acts in Slack.\n"
            }
            (Response::Lockout, Some(d)) => {
                let _ = writeln!(
                    body,
                    "\nUnless an approver overrides in Slack, the guard will lock out {} (key {}) at {}.",
                    g.user_name.as_deref().unwrap_or("the key's user"),
                    g.access_key_id.as_deref().unwrap_or("?"),
                    d.format("%Y-%m-%d %H:%M:%S UTC")
                );
            }
            (r, Some(d)) => {
                let _ = writeln!(
                    body,
                    "\nUnless an approver overrides in Slack, the guard will {} {} at {}.",
                    r.as_str(),
                    g.instance_id.as_deref().unwrap_or("the instance"),
                    d.format("%Y-%m-%d %H:%M:%S UTC")
                );
            }
            _ => {}
        }
    }
    if let Some(iso) = &view.isolation {
        body.push('\n');
        body += &crate::text::isolation::isolation(iso);
    }
    for a in view.outcome.iter().flatten() {
        body += &crate::text::terminal::account_halt(a, false, true);
    }
    error_and_lockout(view, &mut body);
    (subject, body)
}

/// The e-mail of a tamper incident: who, with which key, from where, did what.
fn tamper(
    view: &IncidentView,
    f: &crate::core::guardduty::FindingIncident,
    t: &crate::core::tamper::Tamper,
    accounts: &str,
) -> (String, String) {
    use crate::core::guardduty::Response;
    let subject = format!(
        "runawaytrain: tampering by {} ({}) on {accounts}: {}",
        t.who_short(),
        t.event_name,
        view.status.as_str()
    );
    let unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "not recorded".into());
    let mut body = format!(
        "Incident {} on {accounts}: {}.\n{} {}\n- principal: {} ({})\n- key: {}\n- source IP: {}\n- user agent: {}\n- call: {} ({}) in {} at {}\n- calls in this incident: {}\n",
        view.id,
        view.status.as_str(),
        t.principal_arn,
        t.what,
        t.principal_arn,
        t.principal_type,
        unknown(&t.access_key_id),
        unknown(&t.source_ip),
        unknown(&t.user_agent),
        t.event_name,
        t.event_source,
        t.region,
        t.time.format("%Y-%m-%d %H:%M:%S UTC"),
        f.findings,
    );
    for e in &t.earlier {
        let _ = writeln!(body, "  before: {e}");
    }
    if view.status == Status::Open {
        match (f.response, view.deadline) {
            (Response::Lockout, Some(d)) => {
                let _ = writeln!(
                    body,
                    "\nUnless an approver overrides in Slack, the guard will lock out {} at {}.",
                    t.who(),
                    d.format("%Y-%m-%d %H:%M:%S UTC")
                );
            }
            _ => {
                body += "\nAlert only: nothing happens unless an approver presses Lock out in Slack (or runs `runaway lockout --launchers INCIDENT`).\n"
            }
        }
    }
    error_and_lockout(view, &mut body);
    (subject, body)
}

/// Why nothing was done, and what a lockout did, at the end of a finding's or tampering's mail.
fn error_and_lockout(view: &IncidentView, body: &mut String) {
    if let Some(e) = &view.error {
        let _ = writeln!(body, "\nNothing done: {e}");
    }
    if let Some(accounts) = &view.lockout {
        body.push('\n');
        *body += &crate::text::terminal::lockout(&crate::app::lockout::LockoutReport {
            incident: Some(view.id.clone()),
            dry_run: false,
            accounts: accounts.clone(),
        });
    }
}
