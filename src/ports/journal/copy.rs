//! A journal moved from one store to another (`runaway journal copy`), in the port's words:
//! what a store exports, and how another takes it in. Incidents and changes (their ids kept, so
//! that `restore` finds them as before) are written by the store itself
//! ([`Journal::import_records`]); everything else through the port's ordinary writes, so that
//! each store keeps laying its items out in one place.
//!
//! Not copied: the event log (a week of queue messages, kept for `runaway events`) and the
//! lease (the new store's replicas take their own).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{ChangeRow, Finding, IncidentRow, Journal, JournalError};
use crate::core::money::PriceKey;

/// An incident as kept, with what its row does not say.
#[derive(Debug, Clone, PartialEq)]
pub struct CopiedIncident {
    pub row: IncidentRow,
    pub closed_at: Option<DateTime<Utc>>,
    /// What a finding or isolation is about (`instance:i-...`).
    pub resource: Option<String>,
}

/// A change as kept, with its times and the undoing's error.
#[derive(Debug, Clone, PartialEq)]
pub struct CopiedChange {
    pub incident: String,
    pub row: ChangeRow,
    pub planned_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub restore_error: Option<String>,
    pub restored_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CopiedFinding {
    pub incident: String,
    pub account_id: String,
    pub region: String,
    pub instance_id: String,
    pub decision: String,
    pub reason: Option<String>,
    pub auto_scaling_group: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CopiedProblem {
    pub incident: String,
    pub account_id: String,
    pub region: Option<String>,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CopiedPress {
    pub incident: Option<String>,
    pub user: String,
    pub action: String,
    pub allowed: bool,
    pub outcome: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CopiedCapture {
    pub incident: String,
    pub account_id: String,
    pub region: String,
    pub capture: crate::ports::InstanceCapture,
    pub at: DateTime<Utc>,
}

/// A check run; `ok_counts`: the accounts it found ok whose counted instances are still the
/// latest kept, with them.
#[derive(Debug, Clone, PartialEq)]
pub struct CopiedCheck {
    pub at: DateTime<Utc>,
    pub state: String,
    pub duration_ms: u64,
    pub report: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CopiedOkCount {
    pub account: String,
    pub at: DateTime<Utc>,
    pub instance_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CopiedPrice {
    pub key: PriceKey,
    pub usd_per_hour: Option<f64>,
    pub at: DateTime<Utc>,
}

/// Everything one store keeps that another needs to carry on: each list in the order it was
/// written (incidents by opening, changes by id, checks by time).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalCopy {
    pub incidents: Vec<CopiedIncident>,
    pub changes: Vec<CopiedChange>,
    pub findings: Vec<CopiedFinding>,
    pub problems: Vec<CopiedProblem>,
    pub presses: Vec<CopiedPress>,
    pub captures: Vec<CopiedCapture>,
    pub checks: Vec<CopiedCheck>,
    pub ok_counts: Vec<CopiedOkCount>,
    pub prices: Vec<CopiedPrice>,
}

/// What a copy carried, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Copied {
    pub incidents: usize,
    pub changes: usize,
    pub findings: usize,
    pub problems: usize,
    pub presses: usize,
    pub captures: usize,
    pub checks: usize,
    pub prices: usize,
}

impl JournalCopy {
    pub fn counts(&self) -> Copied {
        Copied {
            incidents: self.incidents.len(),
            changes: self.changes.len(),
            findings: self.findings.len(),
            problems: self.problems.len(),
            presses: self.presses.len(),
            captures: self.captures.len(),
            checks: self.checks.len(),
            prices: self.prices.len(),
        }
    }

    /// Each list in one order whatever store it came from: by time, then by what tells two
    /// of one time apart.
    pub fn sort(&mut self) {
        self.incidents
            .sort_by(|a, b| (a.row.opened_at, &a.row.id).cmp(&(b.row.opened_at, &b.row.id)));
        self.changes.sort_by_key(|c| c.row.id);
        self.findings.sort_by(|a, b| {
            (&a.incident, &a.account_id, &a.region, &a.instance_id).cmp(&(
                &b.incident,
                &b.account_id,
                &b.region,
                &b.instance_id,
            ))
        });
        self.problems
            .sort_by(|a, b| (a.at, &a.incident, &a.message).cmp(&(b.at, &b.incident, &b.message)));
        self.presses.sort_by(|a, b| {
            (a.at, &a.incident, &a.user, &a.action, &a.outcome).cmp(&(
                b.at,
                &b.incident,
                &b.user,
                &b.action,
                &b.outcome,
            ))
        });
        self.captures.sort_by(|a, b| {
            (a.at, &a.incident, &a.capture.instance_id).cmp(&(
                b.at,
                &b.incident,
                &b.capture.instance_id,
            ))
        });
        self.checks.sort_by_key(|c| c.at);
        self.ok_counts.sort_by(|a, b| a.account.cmp(&b.account));
        self.prices.sort_by(|a, b| a.key.cmp(&b.key));
    }
}

/// Copies everything `from` keeps into `to`, which must hold no incident yet (a copy never
/// merges two journals: the change ids it keeps would collide). Nothing in `from` changes.
pub fn copy(from: &dyn Journal, to: &dyn Journal) -> Result<Copied, JournalError> {
    if !to.recent_incidents(1)?.is_empty() {
        return Err(JournalError {
            store: to.store(),
            message: "already holds incidents: a copy goes into an empty journal only (it never merges two)".into(),
        });
    }
    let mut copy = from.export()?;
    copy.sort();
    let decision = |d: &str| -> Result<&'static str, JournalError> {
        match d {
            "stop" => Ok("stop"),
            "skip" => Ok("skip"),
            other => Err(JournalError {
                store: from.store(),
                message: format!("a finding's decision {other:?} is not stop or skip"),
            }),
        }
    };
    to.import_records(&copy)?;
    let mut by_place: BTreeMap<(&str, &str, &str), Vec<Finding<'_>>> = BTreeMap::new();
    for f in &copy.findings {
        by_place
            .entry((&f.incident, &f.account_id, &f.region))
            .or_default()
            .push(Finding {
                instance_id: &f.instance_id,
                decision: decision(&f.decision)?,
                reason: f.reason.clone(),
                auto_scaling_group: f.auto_scaling_group.as_deref(),
            });
    }
    for ((incident, account, region), findings) in &by_place {
        to.record_findings(incident, account, region, findings)?;
    }
    for p in &copy.problems {
        to.record_problem(
            &p.incident,
            &p.account_id,
            p.region.as_deref(),
            &p.message,
            p.at,
        )?;
    }
    for p in &copy.presses {
        to.record_press(
            p.incident.as_deref(),
            &p.user,
            &p.action,
            p.allowed,
            &p.outcome,
            p.at,
        )?;
    }
    for c in &copy.captures {
        to.record_capture(&c.incident, &c.account_id, &c.region, &c.capture, c.at)?;
    }
    // Each account's counted instances go with the check that counted them, as they were
    // journaled (those of a check no longer kept are of no use to either store).
    let mut ok: BTreeMap<DateTime<Utc>, Vec<(&str, &[String])>> = BTreeMap::new();
    for o in &copy.ok_counts {
        ok.entry(o.at)
            .or_default()
            .push((&o.account, &o.instance_ids));
    }
    for c in &copy.checks {
        let counts = ok.remove(&c.at).unwrap_or_default();
        to.record_check(c.at, &c.state, c.duration_ms, &c.report, &counts)?;
    }
    for p in &copy.prices {
        to.cache_price(&p.key, p.usd_per_hour, p.at)?;
    }
    Ok(copy.counts())
}
