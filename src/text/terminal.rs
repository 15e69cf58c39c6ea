//! What people read in a terminal: the check table, the halt plan and the halt report. JSON
//! output is the reports' `Serialize` form and lives with them.

use std::fmt::Write;

use crate::app::check::CheckReport;
use crate::app::halt::{HaltPlan, HaltReport};
use crate::core::rules::State;

/// `1 region`, `2 regions`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn state(s: State) -> &'static str {
    match s {
        State::Ok => "ok",
        State::Fail => "FAIL",
        State::Error => "ERROR",
    }
}

/// Lays out rows in columns, the first row being the header.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| format!("{cell:<w$}", w = widths[c]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub fn check(r: &CheckReport) -> String {
    let mut rows = vec![
        [
            "ACCOUNT",
            "NAME",
            "STATE",
            "RUNNING",
            "EST. CHARGES",
            "BURN",
            "VIOLATIONS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for a in &r.accounts {
        let violations: Vec<String> = a
            .violations
            .iter()
            .map(|v| format!("{} {} > {}", v.rule, v.observed_text(), v.limit_text()))
            .collect();
        rows.push(vec![
            a.account_id.clone(),
            if a.source == "discovered" {
                format!("{} (discovered)", a.name)
            } else {
                a.name.clone()
            },
            state(a.state).into(),
            a.running_instances.to_string(),
            a.estimated_charges_usd
                .map_or("-".into(), |x| format!("${x:.2}")),
            a.burn_rate_usd_per_hour
                .map_or("-".into(), |x| format!("${x:.2}/h")),
            if violations.is_empty() {
                "-".into()
            } else {
                violations.join("; ")
            },
        ]);
    }
    let mut out = format!(
        "check at {}: {}\n\n",
        r.checked_at.format("%Y-%m-%d %H:%M:%S UTC"),
        state(r.state)
    );
    out += &table(&rows);
    for e in &r.errors {
        let _ = writeln!(out, "\n{}", e.message);
    }
    for a in &r.accounts {
        let busy: Vec<String> = a
            .regions
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "\n{} ({}): {} checked{}{}",
            a.account_id,
            a.name,
            count(a.regions.len(), "region"),
            if busy.is_empty() {
                String::new()
            } else {
                format!("; running: {}", busy.join(", "))
            },
            if a.errors.is_empty() {
                String::new()
            } else {
                format!("; {} could not be read:", a.errors.len())
            }
        );
        if !a.services.is_empty() {
            let _ = writeln!(
                out,
                "  other services: {}",
                crate::text::services::counts(&a.services)
            );
        }
        if let Some(rate) = a.spend_rate_usd_per_hour {
            let _ = writeln!(out, "  spend rate: ${rate:.2}/h");
        }
        if !a.top_instance_types.is_empty() {
            let _ = writeln!(
                out,
                "  burn by type: {}",
                crate::text::money::top_types(&a.top_instance_types)
            );
        }
        for p in &a.bedrock_provisioned {
            let _ = writeln!(out, "  {}", crate::text::money::provisioned(p));
        }
        if let Some(burn) = a.bedrock_burn_rate_usd_per_hour {
            let _ = writeln!(
                out,
                "  bedrock tokens: ${burn:.2}/h ({})",
                crate::text::money::model_costs(&a.bedrock_model_costs)
            );
        }
        for e in &a.errors {
            let _ = writeln!(
                out,
                "  {}: {}",
                e.region.as_deref().unwrap_or("account"),
                e.message
            );
        }
    }
    out
}

pub fn halt_plan(p: &HaltPlan<'_>) -> String {
    let (stop, skip, regions, groups) = p.totals();
    let mut out = String::new();
    for a in &p.accounts {
        let _ = writeln!(out, "{} ({}):", a.account.id, a.account.name);
        for (region, plan) in &a.regions {
            if plan.stop.is_empty() && plan.skip.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "  {region}: stop {}, leave {}",
                plan.stop.len(),
                plan.skip.len()
            );
            for (group, members) in &plan.groups {
                let _ = writeln!(
                    out,
                    "    suspend Auto Scaling group {group} first ({} instances)",
                    members.len()
                );
            }
            for (id, reason) in &plan.skip {
                let _ = writeln!(out, "    leave {id}: {reason}");
            }
        }
        for s in &a.services {
            if s.halt.is_empty() && s.leave.is_empty() && s.error.is_none() {
                continue;
            }
            let _ = writeln!(
                out,
                "  {} {}: halt {}, leave {}",
                s.region,
                s.service,
                s.halt.len(),
                s.leave.len()
            );
            for r in &s.halt {
                let _ = writeln!(out, "    halt {}", r.arn);
            }
            for (r, why) in &s.leave {
                let _ = writeln!(out, "    leave {}: {why}", r.arn);
            }
            if let Some(e) = &s.error {
                let _ = writeln!(out, "    cannot read: {e}");
            }
        }
        for e in &a.errors {
            let _ = writeln!(
                out,
                "  cannot read {}: {}",
                e.region.as_deref().unwrap_or("the account"),
                e.message
            );
        }
    }
    let services = p.services_to_halt();
    let _ = writeln!(
        out,
        "\nplan: stop {stop} instances in {regions} regions of {} accounts, suspend {groups} Auto Scaling groups, leave {skip} running{}{}",
        p.accounts.len(),
        if services > 0 {
            format!("; halt {services} resources of other services")
        } else {
            String::new()
        },
        if p.errors() > 0 {
            format!("; {} places could not be read", p.errors())
        } else {
            String::new()
        }
    );
    out
}

/// One account's part of a halt: what was stopped (by region, with the instance ids when
/// `ids`), the groups suspended first, what was left running and why, and what failed. Shared by
/// the CLI and the notify e-mail.
pub fn account_halt(a: &crate::app::halt::AccountHalt, dry_run: bool, ids: bool) -> String {
    let verb = if dry_run { "would stop" } else { "stopped" };
    let n: usize = a.stopped.values().map(Vec::len).sum();
    let mut out = format!(
        "{} ({}): {verb} {n} instances in {}\n",
        a.account_id,
        a.name,
        count(a.stopped.len(), "region")
    );
    for (region, stopped) in &a.stopped {
        let _ = match ids {
            true => writeln!(out, "  {region}: {}", stopped.join(" ")),
            false => writeln!(out, "  {region}: {}", stopped.len()),
        };
    }
    for s in &a.suspended {
        let suspended = if dry_run {
            "would suspend"
        } else {
            "suspended"
        };
        let _ = writeln!(
            out,
            "  {} Auto Scaling group {}: {suspended} {}",
            s.region,
            s.group,
            s.processes.join(", ")
        );
    }
    for s in &a.skipped {
        let _ = writeln!(
            out,
            "  left {} in {}: {}",
            s.instance_id, s.region, s.reason
        );
    }
    for e in &a.errors {
        let _ = writeln!(
            out,
            "  error in {}: {}",
            e.region.as_deref().unwrap_or("the account"),
            e.message
        );
    }
    for line in crate::text::services::halted(&a.services, dry_run) {
        let _ = writeln!(out, "  {line}");
    }
    if let Some(line) = throttled(&a.throttled, "EC2") {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// What AWS's throttling cost, in one line: `None` when it never throttled.
pub fn throttled(t: &crate::core::pacing::Throttling, service: &str) -> Option<String> {
    (!t.is_none()).then(|| {
        format!(
            "throttled by {service} {}: paced, {:.1} s spent waiting for its rate limit",
            count(t.refusals as usize, "time"),
            t.waited_seconds
        )
    })
}

pub fn halt(r: &HaltReport) -> String {
    let verb = if r.dry_run { "would stop" } else { "stopped" };
    let mut out = match &r.incident {
        Some(id) => format!("incident {id}\n"),
        None => "dry run: nothing changed, nothing journaled\n".to_string(),
    };
    for a in &r.accounts {
        out += &account_halt(a, r.dry_run, false);
    }
    let _ = writeln!(
        out,
        "{}: {verb} {} instances{}",
        if r.complete() { "done" } else { "done in part" },
        r.stopped(),
        match r.services_stopped() {
            0 => String::new(),
            n => format!(", {n} resources of other services"),
        }
    );
    out
}

pub fn lockout(r: &crate::app::lockout::LockoutReport) -> String {
    let mut out = match &r.incident {
        Some(id) => format!("incident {id}\n"),
        None => "plan (nothing changed yet):\n".to_string(),
    };
    for a in &r.accounts {
        let _ = writeln!(
            out,
            "{} ({}): {} changes",
            a.account_id,
            a.name,
            a.changes.len()
        );
        for c in &a.changes {
            let _ = match c {
                crate::app::lockout::LockoutChange::AttachUserPolicy {
                    principal,
                    policy_arn,
                } => writeln!(out, "  attach {policy_arn} to user {principal}"),
                crate::app::lockout::LockoutChange::AttachRolePolicy {
                    principal,
                    policy_arn,
                } => writeln!(out, "  attach {policy_arn} to role {principal}"),
                crate::app::lockout::LockoutChange::DeactivateAccessKey {
                    principal,
                    access_key_id,
                } => {
                    writeln!(
                        out,
                        "  set access key {access_key_id} of user {principal} Inactive"
                    )
                }
                crate::app::lockout::LockoutChange::DeactivateServiceCredential {
                    principal,
                    credential_id,
                    ..
                } => writeln!(
                    out,
                    "  set Bedrock API key {credential_id} of user {principal} Inactive"
                ),
                crate::app::lockout::LockoutChange::RevokeUserSessions {
                    principal,
                    before,
                    ..
                } => writeln!(
                    out,
                    "  revoke the sessions of user {principal} issued before {}",
                    before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                crate::app::lockout::LockoutChange::RevokeRoleSessions {
                    principal,
                    before,
                    ..
                } => writeln!(
                    out,
                    "  revoke the sessions of role {principal} issued before {}",
                    before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            };
        }
        for e in &a.exempt {
            let _ = writeln!(out, "  spare {}: {}", e.principal, e.reason);
        }
        for e in &a.errors {
            let _ = writeln!(out, "  error: {}", e.message);
        }
        if let Some(line) = throttled(&a.throttled, "IAM") {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

pub fn restore(r: &crate::app::restore::RestoreReport) -> String {
    let mut out = format!("incident {}: restored {}", r.incident, r.restored.len());
    if r.already_restored > 0 {
        let _ = write!(out, " ({} already restored before)", r.already_restored);
    }
    out.push('\n');
    for u in &r.restored {
        let _ = writeln!(
            out,
            "  undid {} {} ({} {})",
            u.action, u.target, u.account_id, u.region
        );
    }
    for k in &r.kept {
        let _ = writeln!(
            out,
            "  kept {} {} ({} {}): {}",
            k.action, k.target, k.account_id, k.region, k.reason
        );
    }
    for e in &r.errors {
        let _ = writeln!(
            out,
            "  could not undo {} {} ({} {}): {}",
            e.action, e.target, e.account_id, e.region, e.reason
        );
    }
    out
}

/// `runaway events`: one line per message received, with what it led to.
pub fn events(r: &crate::app::events::EventsReport) -> String {
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    if r.events.is_empty() {
        return format!("No events received since {} UTC.\n", time(r.since));
    }
    let mut rows = vec![
        [
            "RECEIVED (UTC)",
            "ACCOUNT",
            "REGION",
            "EVENT",
            "OUTCOME",
            "ID",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for e in &r.events {
        let outcome = match (&e.note, e.receives) {
            (Some(note), n) if n > 1 => {
                format!("{} ({note}; received {n} times)", e.outcome.as_str())
            }
            (Some(note), _) => format!("{} ({note})", e.outcome.as_str()),
            (None, _) => e.outcome.as_str().to_owned(),
        };
        rows.push(vec![
            time(e.received_at),
            e.account.clone().unwrap_or_else(|| "-".into()),
            e.region.clone().unwrap_or_else(|| "-".into()),
            e.detail_type.clone().unwrap_or_else(|| "-".into()),
            outcome,
            e.id.clone(),
        ]);
    }
    let mut out = table(&rows);
    let _ = writeln!(
        out,
        "\n{} since {} UTC.",
        count(r.events.len(), "message"),
        time(r.since)
    );
    out
}
