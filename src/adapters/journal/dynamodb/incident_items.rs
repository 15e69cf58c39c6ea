//! An incident's item: its keys and index keys, reading it back, and the conditional writes
//! every incident method is made of.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{Item, assignments, json, key_time, lost, s, said, text, time};
use crate::core::incident::Status;
use crate::ports::journal::IncidentRow;

pub(super) const SK: &str = "INCIDENT";

pub(super) fn pk(id: &str) -> AttributeValue {
    s(format!("INC#{id}"))
}

/// The `GSI1` partition of an account's alerts.
pub(super) fn alert_owner(account: &str) -> String {
    format!("ALERT#{account}")
}

/// The `GSI1` partition of the findings about one resource of an account.
pub(super) fn finding_owner(account: &str, resource: &str) -> String {
    format!("FINDING#{account}#{resource}")
}

/// The sort key of every index: when it was opened, then its id.
pub(super) fn order(opened: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", key_time(opened))
}

pub(super) fn row(item: &Item) -> Result<IncidentRow, String> {
    let id = text(item, "id").ok_or("an incident without an id")?;
    let fail = |e: String| format!("incident {id}: {e}");
    let status = text(item, "status").unwrap_or_default();
    Ok(IncidentRow {
        kind: text(item, "kind").unwrap_or_default(),
        status: Status::parse(&status).ok_or_else(|| {
            fail(format!(
                "status {status:?} is not a status this build knows"
            ))
        })?,
        actor: text(item, "actor").unwrap_or_default(),
        account_id: text(item, "account_id"),
        accounts: json(item, "accounts").map_err(fail)?.unwrap_or_default(),
        opened_at: time(item, "opened_at")
            .map_err(fail)?
            .ok_or_else(|| fail("no opened_at".into()))?,
        deadline: time(item, "deadline").map_err(fail)?,
        decided_by: text(item, "decided_by"),
        decided_at: time(item, "decided_at").map_err(fail)?,
        observed: json(item, "observed").map_err(fail)?,
        slack_channel: text(item, "slack_channel"),
        slack_ts: text(item, "slack_ts"),
        snooze_until: time(item, "snooze_until").map_err(fail)?,
        result: json(item, "result").map_err(fail)?,
        acting_process: text(item, "acting_process"),
        response_url: text(item, "response_url"),
        launchers: json(item, "launchers").map_err(fail)?,
        finding: json(item, "finding").map_err(fail)?,
        target: json(item, "target").map_err(fail)?,
        id,
    })
}

/// A new incident's item: its keys and index keys, and `fields`.
pub(super) fn new_item(
    id: &str,
    kind: &str,
    status: &str,
    at: DateTime<Utc>,
    actor: &str,
    owner: Option<String>,
    fields: Vec<(&str, Option<String>)>,
) -> Item {
    let sort = order(at, id);
    let mut item: Item = [
        ("PK", pk(id)),
        ("SK", s(SK)),
        ("id", s(id)),
        ("kind", s(kind)),
        ("status", s(status)),
        ("actor", s(actor)),
        ("opened_at", s(at.to_rfc3339())),
        ("GSI2PK", s(format!("STATUS#{status}"))),
        ("GSI2SK", s(&sort)),
        ("GSI3PK", s("INCIDENTS")),
        ("GSI3SK", s(&sort)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(owner) = owner {
        item.insert("GSI1PK".into(), s(owner));
        item.insert("GSI1SK".into(), s(&sort));
    }
    for (k, v) in fields {
        if let Some(v) = v {
            item.insert(k.to_owned(), s(v));
        }
    }
    item
}

/// Puts a new incident; refused if the id is taken.
pub(super) async fn put(c: &Client, table: &str, item: Item) -> Result<(), String> {
    c.put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await
        .map_err(said)?;
    Ok(())
}

/// Sets (`Some`) and removes (`None`) attributes of an existing incident, if `condition` holds
/// (`#status = :from`, or `attribute_not_exists(deadline)`); whether it did.
pub(super) async fn update(
    c: &Client,
    table: &str,
    id: &str,
    changes: Vec<(&str, Option<AttributeValue>)>,
    condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
) -> Result<bool, String> {
    let mut a = assignments(changes);
    let mut cond = "attribute_exists(PK)".to_owned();
    if let Some((more, values)) = condition {
        cond.push_str(&format!(" AND {more}"));
        for (k, v) in values {
            a.values.insert(k.to_owned(), v);
        }
        if more.contains("#status") {
            a.names.insert("#status".into(), "status".into());
        }
    }
    match c
        .update_item()
        .table_name(table)
        .key("PK", pk(id))
        .key("SK", s(SK))
        .update_expression(a.expr)
        .set_expression_attribute_names(Some(a.names))
        .set_expression_attribute_values((!a.values.is_empty()).then_some(a.values))
        .condition_expression(cond)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if lost(&e) => Ok(false),
        Err(e) => Err(said(e)),
    }
}

/// The attributes a new status moves: the status and its index key.
pub(super) fn status_of(status: &str, opened: &str) -> Vec<(&'static str, Option<AttributeValue>)> {
    vec![
        ("status", Some(s(status))),
        ("GSI2PK", Some(s(format!("STATUS#{status}")))),
        ("GSI2SK", Some(s(opened))),
    ]
}

pub(super) fn time_text(t: Option<DateTime<Utc>>) -> Option<AttributeValue> {
    t.map(|t| s(t.to_rfc3339()))
}

/// The incident's index sort key (kept when its status moves).
pub(super) async fn sort_key(c: &Client, table: &str, id: &str) -> Result<String, String> {
    let out = c
        .get_item()
        .table_name(table)
        .key("PK", pk(id))
        .key("SK", s(SK))
        .projection_expression("GSI3SK")
        .consistent_read(true)
        .send()
        .await
        .map_err(said)?;
    Ok(out
        .item()
        .and_then(|i| text(i, "GSI3SK"))
        .unwrap_or_default())
}
