//! The table exported whole, and a copy's incidents and changes written as they were
//! (`runaway journal copy`, `ports::journal::copy`). The export is the one Scan the guard
//! makes: a command run by hand, never a check or a press.

use aws_sdk_dynamodb::types::AttributeValue;

use super::changes::{change_item, change_row};
use super::incident_items::{self, new_item};
use super::{DynamoJournal, Item, json, json_text, lost, n, number, s, said, text, time};
use crate::ports::journal::{
    CopiedCapture, CopiedChange, CopiedCheck, CopiedFinding, CopiedIncident, CopiedOkCount,
    CopiedPress, CopiedPrice, CopiedProblem, JournalCopy,
};

/// An item's required time, or an error naming the item and the attribute.
fn at(item: &Item, name: &str, what: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    time(item, name)
        .map_err(|e| format!("{what}: {e}"))?
        .ok_or_else(|| format!("{what}: no {name}"))
}

/// Sorts one item of the table into the copy; the event log, counters and the lease stay.
fn sort_into(copy: &mut JournalCopy, item: &Item) -> Result<(), String> {
    let pk = text(item, "PK").unwrap_or_default();
    let sk = text(item, "SK").unwrap_or_default();
    let txt = |name: &str| text(item, name).unwrap_or_default();
    if let Some(incident) = pk.strip_prefix("INC#") {
        let incident = incident.to_owned();
        if sk == incident_items::SK {
            let row = incident_items::row(item)?;
            copy.incidents.push(CopiedIncident {
                closed_at: time(item, "closed_at")
                    .map_err(|e| format!("incident {}: {e}", row.id))?,
                resource: text(item, "resource"),
                row,
            });
        } else if sk.starts_with("FND#") {
            copy.findings.push(CopiedFinding {
                incident,
                account_id: txt("account_id"),
                region: txt("region"),
                instance_id: txt("instance_id"),
                decision: txt("decision"),
                reason: text(item, "reason"),
                auto_scaling_group: text(item, "auto_scaling_group"),
            });
        } else if sk.starts_with("PRB#") {
            copy.problems.push(CopiedProblem {
                at: at(item, "at", &format!("a problem of {incident}"))?,
                incident,
                account_id: txt("account_id"),
                region: text(item, "region"),
                message: txt("message"),
            });
        } else if let Some(rest) = sk.strip_prefix("CAP#") {
            // Its time, or for a capture journaled before it was kept, the key's
            // (`CAP#<time>#<instance>`, to the microsecond).
            let what = format!("a capture of {incident}");
            let at = match time(item, "at").map_err(|e| format!("{what}: {e}"))? {
                Some(at) => at,
                None => {
                    let when = rest.rsplit_once('#').map(|(t, _)| t).unwrap_or(rest);
                    chrono::DateTime::parse_from_rfc3339(when)
                        .map_err(|_| format!("{what}: {sk:?} does not start with its time"))?
                        .with_timezone(&chrono::Utc)
                }
            };
            copy.captures.push(CopiedCapture {
                capture: json(item, "description")
                    .map_err(|e| format!("{what}: {e}"))?
                    .ok_or_else(|| format!("{what}: no description"))?,
                incident,
                account_id: txt("account_id"),
                region: txt("region"),
                at,
            });
        }
    } else if pk.starts_with("CHG#") {
        let row = change_row(item)?;
        let what = format!("change {}", row.id);
        let when = |name: &str| time(item, name).map_err(|e| format!("{what}: {e}"));
        copy.changes.push(CopiedChange {
            incident: txt("incident"),
            planned_at: at(item, "planned_at", &what)?,
            finished_at: when("finished_at")?,
            restore_error: text(item, "restore_error"),
            restored_at: when("restored_at")?,
            row,
        });
    } else if let Some(incident) = pk.strip_prefix("PRESS#") {
        copy.presses.push(CopiedPress {
            incident: (incident != "-").then(|| incident.to_owned()),
            user: txt("user_id"),
            action: txt("action"),
            allowed: matches!(item.get("allowed"), Some(AttributeValue::Bool(true))),
            outcome: txt("outcome"),
            at: at(item, "at", "a press")?,
        });
    } else if pk == "CHECKS" {
        copy.checks.push(CopiedCheck {
            at: at(item, "checked_at", "a check")?,
            state: txt("state"),
            duration_ms: number(item, "duration_ms").unwrap_or(0).max(0) as u64,
            report: super::activity::report_of(item)?,
        });
    } else if let Some(account) = pk.strip_prefix("OK#") {
        if let Some(ids) = json::<Vec<String>>(item, "counted")? {
            copy.ok_counts.push(CopiedOkCount {
                account: account.to_owned(),
                at: at(item, "at", &format!("the ok check of {account}"))?,
                instance_ids: ids,
            });
        }
    } else if let Some(key) = pk.strip_prefix("PRICE#") {
        copy.prices.push(CopiedPrice {
            key: serde_json::from_str(key)
                .map_err(|e| format!("price {key}: not a price key ({e})"))?,
            usd_per_hour: text(item, "usd_per_hour")
                .map(|v| {
                    v.parse::<f64>()
                        .map_err(|_| format!("price {key}: {v:?} is not a number"))
                })
                .transpose()?,
            at: at(item, "fetched_at", &format!("price {key}"))?,
        });
    }
    Ok(())
}

/// A copied incident's item, with the index keys its kind is found by.
fn incident_item(i: &CopiedIncident) -> Item {
    let r = &i.row;
    let owner = match (r.kind.as_str(), &r.account_id, &i.resource) {
        ("alert", Some(account), _) => Some(incident_items::alert_owner(account)),
        ("finding" | "tamper" | "bedrock", Some(account), Some(resource)) => {
            Some(incident_items::finding_owner(account, resource))
        }
        _ => None,
    };
    let rfc = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339());
    new_item(
        &r.id,
        &r.kind,
        r.status.as_str(),
        r.opened_at,
        &r.actor,
        owner,
        vec![
            ("account_id", r.account_id.clone()),
            (
                "accounts",
                (!r.accounts.is_empty()).then(|| json_text(&r.accounts)),
            ),
            ("deadline", rfc(r.deadline)),
            ("decided_by", r.decided_by.clone()),
            ("decided_at", rfc(r.decided_at)),
            ("observed", r.observed.as_ref().map(json_text)),
            ("slack_channel", r.slack_channel.clone()),
            ("slack_ts", r.slack_ts.clone()),
            ("snooze_until", rfc(r.snooze_until)),
            ("result", r.result.as_ref().map(json_text)),
            ("acting_process", r.acting_process.clone()),
            ("response_url", r.response_url.clone()),
            ("launchers", r.launchers.as_ref().map(json_text)),
            ("finding", r.finding.as_ref().map(json_text)),
            ("target", r.target.as_ref().map(json_text)),
            ("closed_at", rfc(i.closed_at)),
            ("resource", i.resource.clone()),
        ],
    )
}

impl DynamoJournal {
    pub fn export(&self) -> Result<JournalCopy, crate::ports::journal::JournalError> {
        self.run("export the journal", |c, t| async move {
            let mut copy = JournalCopy::default();
            let mut pages = c
                .scan()
                .table_name(&t)
                .consistent_read(true)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                for item in page.map_err(said)?.items() {
                    sort_into(&mut copy, item)?;
                }
            }
            Ok(copy)
        })
    }

    pub fn import_records(
        &self,
        copy: &JournalCopy,
    ) -> Result<(), crate::ports::journal::JournalError> {
        let incidents: Vec<Item> = copy.incidents.iter().map(incident_item).collect();
        let changes: Vec<Item> = copy
            .changes
            .iter()
            .map(|ch| {
                let mut item = change_item(&ch.incident, &ch.row, ch.planned_at);
                let mut set = |k: &str, v: Option<String>| {
                    if let Some(v) = v {
                        item.insert(k.to_owned(), s(v));
                    }
                };
                set("finished_at", ch.finished_at.map(|t| t.to_rfc3339()));
                set("restore_error", ch.restore_error.clone());
                set("restored_at", ch.restored_at.map(|t| t.to_rfc3339()));
                item
            })
            .collect();
        let last = copy.changes.iter().map(|c| c.row.id).max();
        self.run("import incidents and changes", |c, t| async move {
            for item in incidents {
                incident_items::put(&c, &t, item).await?;
            }
            for item in changes {
                c.put_item()
                    .table_name(&t)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(PK)")
                    .send()
                    .await
                    .map_err(said)?;
            }
            // The next change planned here is numbered after the last one copied.
            if let Some(last) = last {
                let raised = c
                    .update_item()
                    .table_name(&t)
                    .key("PK", s("COUNTER"))
                    .key("SK", s("CHANGES"))
                    .update_expression("SET #v = :last")
                    .condition_expression("attribute_not_exists(#v) OR #v < :last")
                    .expression_attribute_names("#v", "value")
                    .expression_attribute_values(":last", n(last))
                    .send()
                    .await;
                match raised {
                    Ok(_) => {}
                    Err(e) if lost(&e) => {}
                    Err(e) => return Err(said(e)),
                }
            }
            Ok(())
        })
    }
}
