//! `runaway status` and `/runaway status`: open and recent incidents and the last check, read
//! from the journal.

use std::fmt::Write;

use serde_json::{Value, json};

use crate::adapters::journal::{IncidentRow, Journal, JournalError};
use crate::config::Config;
use crate::core::incident::Status;

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
pub fn json(journal: &Journal, config: &Config) -> Result<Value, JournalError> {
    let last = journal.last_check()?;
    let open = journal.incidents_in(&OPEN)?;
    let recent = journal.recent_incidents(10)?;
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
            json!({
                "account_id": a.id, "name": a.name,
                "state": seen.as_ref().map(|s| s["state"].clone()),
                "running_instances": seen.as_ref().map(|s| s["running_instances"].clone()),
            })
        })
        .collect();
    Ok(json!({
        "last_check": last.as_ref().map(|(at, _)| rfc3339(*at)),
        "accounts": accounts,
        "open_incidents": open.iter().map(row_json).collect::<Vec<_>>(),
        "recent_incidents": recent.iter().map(row_json).collect::<Vec<_>>(),
    }))
}

/// The status as text for people.
pub fn text(journal: &Journal, config: &Config) -> Result<String, JournalError> {
    let v = json(journal, config)?;
    let mut out = match v["last_check"].as_str() {
        Some(at) => format!("Last check: {at}\n"),
        None => "No check by runaway serve yet.\n".to_owned(),
    };
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
