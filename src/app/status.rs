//! `runaway status` and `/runaway status`: open and recent incidents and the last check, read
//! from the journal.

use std::fmt::Write;

use serde_json::{Value, json};

use crate::config::Config;
use crate::core::incident::Status;
use crate::ports::journal::{IncidentRow, Journal, JournalError};

/// Incidents still waiting or being carried out.
const OPEN: [Status; 5] = [
    Status::Open,
    Status::AwaitingConfirmation,
    Status::Approved,
    Status::Expired,
    Status::Executing,
];

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn row_json(r: &IncidentRow) -> Value {
    json!({
        "incident": r.id, "kind": r.kind, "status": r.status.as_str(), "actor": r.actor,
        "accounts": r.account_id.clone().map_or_else(|| r.accounts.clone(), |a| vec![a]),
        "opened_at": rfc3339(r.opened_at), "deadline": r.deadline.map(rfc3339),
        "decided_by": r.decided_by, "decided_at": r.decided_at.map(rfc3339),
    })
}

/// The status as one JSON object.
pub fn json(
    journal: &dyn Journal,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, JournalError> {
    let last = journal.last_check()?;
    let open = journal.incidents_in(&OPEN)?;
    let recent = journal.recent_incidents(10)?;
    let since = now - chrono::Duration::hours(crate::core::trend::HOURS as i64);
    let checks = journal.checks_since(since)?;
    let accounts: Vec<Value> = config
        .accounts
        .iter()
        .map(|a| {
            let seen = last.as_ref().and_then(|(_, r)| {
                r["accounts"]
                    .as_array()?
                    .iter()
                    .find(|x| x["account_id"] == a.id.as_str())
                    .cloned()
            });
            let trend = crate::core::trend::trend(&checks, a.id.as_str(), now);
            json!({
                "account_id": a.id, "name": a.name,
                "state": seen.as_ref().map(|s| s["state"].clone()),
                "running_instances": seen.as_ref().map(|s| s["running_instances"].clone()),
                "trend": trend,
            })
        })
        .collect();
    // Replicas sharing a DynamoDB journal: which one leads (none with the SQLite journal).
    let leader = journal.lease()?.map(|l| {
        json!({
            "holder": l.holder, "expires": rfc3339(l.expires),
            "live": l.expires > now,
        })
    });
    Ok(json!({
        "leader": leader,
        "last_check": last.as_ref().map(|(at, _)| rfc3339(*at)),
        "accounts": accounts,
        "open_incidents": open.iter().map(row_json).collect::<Vec<_>>(),
        "recent_incidents": recent.iter().map(row_json).collect::<Vec<_>>(),
    }))
}

/// The status as text for people.
pub fn text(
    journal: &dyn Journal,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, JournalError> {
    let v = json(journal, config, now)?;
    let mut out = match v["last_check"].as_str() {
        Some(at) => format!("Last check: {at}\n"),
        None => "No check by runaway serve yet.\n".to_owned(),
    };
    let leader = &v["leader"];
    if let Some(holder) = leader["holder"].as_str() {
        let expires = leader["expires"].as_str().unwrap_or("");
        if leader["live"] == true {
            let _ = writeln!(out, "Leader: {holder} (lease until {expires})");
        } else {
            let _ = writeln!(
                out,
                "No leader: the lease of {holder} expired at {expires} (no replica of runaway serve is running?)"
            );
        }
    }
    for a in v["accounts"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "• {} ({}): {}, {} running",
            a["name"].as_str().unwrap_or(""),
            a["account_id"].as_str().unwrap_or(""),
            a["state"].as_str().unwrap_or("not checked"),
            a["running_instances"]
                .as_u64()
                .map_or("?".into(), |n| n.to_string())
        );
        let trend: Option<crate::core::trend::Trend> =
            serde_json::from_value(a["trend"].clone()).ok();
        if let Some(line) = trend.as_ref().and_then(crate::core::trend::line) {
            let _ = writeln!(out, "  {line}");
        }
    }
    let open = v["open_incidents"].as_array().cloned().unwrap_or_default();
    if open.is_empty() {
        out.push_str("No open incidents.\n");
    } else {
        let _ = writeln!(out, "Open incidents: {}", open.len());
        for i in &open {
            let _ = writeln!(
                out,
                "• {} {} on {} (deadline {})",
                i["incident"].as_str().unwrap_or(""),
                i["status"].as_str().unwrap_or(""),
                i["accounts"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default(),
                i["deadline"].as_str().unwrap_or("none")
            );
        }
    }
    let recent = v["recent_incidents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !recent.is_empty() {
        out.push_str("Recent incidents:\n");
        for i in recent.iter().take(5) {
            let _ = writeln!(
                out,
                "• {} {} {} opened {}",
                i["incident"].as_str().unwrap_or(""),
                i["kind"].as_str().unwrap_or(""),
                i["status"].as_str().unwrap_or(""),
                i["opened_at"].as_str().unwrap_or("")
            );
        }
    }
    Ok(out)
}

/// One incident as one JSON object: `{"incident": {"id", "account_id", "status", ...,
/// "launchers": [...]}}`; `None` when the journal has no such incident.
pub fn incident_json(journal: &dyn Journal, id: &str) -> Result<Option<Value>, JournalError> {
    let Some(row) = journal.get_incident(id)? else {
        return Ok(None);
    };
    let mut v = row_json(&row);
    let launchers = row.launchers.as_ref();
    let fields = json!({
        "id": row.id,
        "account_id": row.account_id,
        "observed": row.observed,
        "result": row.result,
        "launchers": launchers.map(|l| l.attribution.launchers.clone()).unwrap_or_default(),
        "launchers_state": launchers.map(|l| l.state),
        "launchers_source": launchers.map(|l| l.source.clone()),
        "launchers_unattributed": launchers.and_then(|l| l.unattributed),
        "launchers_skipped": launchers.map(|l| json!({
            "malformed": l.attribution.malformed, "foreign": l.attribution.foreign,
            "failed": l.attribution.failed, "guard": l.attribution.guard,
        })),
    });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), fields) {
        obj.extend(more);
    }
    Ok(Some(json!({ "incident": v })))
}

/// One incident as text for people.
pub fn incident_text(journal: &dyn Journal, id: &str) -> Result<Option<String>, JournalError> {
    let Some(row) = journal.get_incident(id)? else {
        return Ok(None);
    };
    let mut out = format!(
        "Incident {} ({}): {}, opened {}\n",
        row.id,
        row.kind,
        row.status.as_str(),
        rfc3339(row.opened_at)
    );
    if let Some(a) = &row.account_id {
        let _ = writeln!(out, "Account: {a}");
    }
    if let Some(o) = &row.observed {
        let _ = writeln!(out, "Running instances: {}", o.running_instances);
    }
    if let Some(by) = &row.decided_by {
        let _ = writeln!(
            out,
            "Decided by {by} at {}",
            row.decided_at.map(rfc3339).unwrap_or_default()
        );
    }
    if let Some(found) = &row.launchers {
        out.push_str("Launched by:\n");
        for line in crate::text::launchers::lines(found) {
            let _ = writeln!(out, "  {line}");
        }
    }
    // What its halt did, EC2 and every other service (`status INCIDENT --json`: `result`).
    let halt = row.result.as_ref().and_then(|r| {
        serde_json::from_value::<crate::app::halt::HaltReport>(r["halt"].clone()).ok()
    });
    if let Some(h) = halt {
        out.push_str("Halted:\n");
        for a in &h.accounts {
            for line in crate::text::terminal::account_halt(a, h.dry_run, false).lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    // Every change it journaled, by kind: done, and undone by a restore.
    let mut kinds: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for c in journal.changes(id)? {
        if c.status == crate::core::change::ChangeStatus::Done {
            let e = kinds.entry(c.action.to_string()).or_default();
            e.0 += 1;
            if c.restore_status == Some(crate::core::change::ChangeStatus::Done) {
                e.1 += 1;
            }
        }
    }
    if !kinds.is_empty() {
        let list: Vec<String> = kinds
            .iter()
            .map(|(k, (done, undone))| match undone {
                0 => format!("{k} {done}"),
                u => format!("{k} {done} ({u} restored)"),
            })
            .collect();
        let _ = writeln!(out, "Changes journaled: {}", list.join(", "));
    }
    Ok(Some(out))
}
