//! The changes the guard makes in AWS, one item each (`PK = CHG#<id>`: ids from a counter, so
//! `finish_changes` and `mark_restore` reach an item by its id alone), listed by incident through
//! `GSI1` (`INCCHG#<incident>`) and, for stopped databases, through `GSI2` (`DBCHANGES`). A
//! halt's findings, problems and captures are items of its incident (`PK = INC#<id>`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::{
    DynamoJournal, Item, allocate, json, json_text, key_time, number, query_all, s, said, text,
};
use crate::core::change::{ChangeKind, ChangeStatus};
use crate::ports::journal::{ChangeRow, Finding, JournalError, PlannedChange};

/// DynamoDB's limit of items in one transaction.
const PER_TRANSACTION: usize = 100;

fn change_key(id: i64) -> String {
    format!("{id:020}")
}

fn pk(id: i64) -> AttributeValue {
    s(format!("CHG#{}", change_key(id)))
}

fn is_database(kind: ChangeKind) -> bool {
    matches!(kind, ChangeKind::StopDbInstance | ChangeKind::StopDbCluster)
}

pub(super) fn change_row(item: &Item) -> Result<ChangeRow, String> {
    let id = number(item, "id").ok_or("a change without an id")?;
    let fail =
        |column: &str, v: &str, what: &str| format!("change {id}: {column} {v:?} is not {what}");
    let action = text(item, "action").unwrap_or_default();
    let status = text(item, "status").unwrap_or_default();
    let status_of = |column: &str, v: &str| {
        ChangeStatus::parse(v).ok_or_else(|| fail(column, v, "pending, done or failed"))
    };
    Ok(ChangeRow {
        id,
        account_id: text(item, "account_id").unwrap_or_default(),
        region: text(item, "region").unwrap_or_default(),
        action: ChangeKind::parse(&action)
            .ok_or_else(|| fail("action", &action, "a change this build knows"))?,
        target: text(item, "target").unwrap_or_default(),
        detail: text(item, "detail"),
        before: text(item, "before"),
        status: status_of("status", &status)?,
        error: text(item, "error"),
        restore_status: text(item, "restore_status")
            .map(|v| status_of("restore_status", &v))
            .transpose()?,
        outcome: text(item, "outcome"),
    })
}

/// Writes `items` in transactions of at most [`PER_TRANSACTION`].
async fn write_all(c: &Client, items: Vec<TransactWriteItem>) -> Result<(), String> {
    write_fenced(c, items, None).await
}

/// As [`write_all`], each transaction also checking the lease's token when `fence` is
/// `(table, token)`: a journal whose lease was taken over writes nothing.
async fn write_fenced(
    c: &Client,
    items: Vec<TransactWriteItem>,
    fence: Option<(&str, i64)>,
) -> Result<(), String> {
    let room = PER_TRANSACTION - usize::from(fence.is_some());
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let mut chunk: Vec<TransactWriteItem> = items.by_ref().take(room).collect();
        if let Some((table, token)) = fence {
            chunk.push(super::lease::fenced(table, token)?);
        }
        match c
            .transact_write_items()
            .set_transact_items(Some(chunk))
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if fence.is_some() && super::lost(&e) => {
                let (_, token) = fence.expect("fenced");
                return Err(format!(
                    "the lease was taken over (this replica's token {token} is stale): not journaled, so not done"
                ));
            }
            Err(e) => return Err(said(e)),
        }
    }
    Ok(())
}

fn put(table: &str, item: Item) -> Result<TransactWriteItem, String> {
    Ok(TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .build()
                .map_err(|e| e.to_string())?,
        )
        .build())
}

/// Sets attributes of the change `id` (which must exist); `None` removes one.
fn update(
    table: &str,
    id: i64,
    sets: Vec<(&str, Option<String>)>,
) -> Result<TransactWriteItem, String> {
    let a = super::assignments(sets.into_iter().map(|(k, v)| (k, v.map(s))).collect());
    let u = Update::builder()
        .table_name(table)
        .key("PK", pk(id))
        .key("SK", s("CHANGE"))
        .condition_expression("attribute_exists(PK)")
        .update_expression(a.expr)
        .set_expression_attribute_names(Some(a.names))
        .set_expression_attribute_values((!a.values.is_empty()).then_some(a.values));
    Ok(TransactWriteItem::builder()
        .update(u.build().map_err(|e| e.to_string())?)
        .build())
}

fn item(pairs: Vec<(&str, Option<AttributeValue>)>) -> Item {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
        .collect()
}

/// A change's item, with the index keys that list it by incident and, for a database, among
/// the stopped databases.
pub(super) fn change_item(incident: &str, ch: &ChangeRow, planned_at: DateTime<Utc>) -> Item {
    let db = is_database(ch.action);
    item(vec![
        ("PK", Some(pk(ch.id))),
        ("SK", Some(s("CHANGE"))),
        ("id", Some(super::n(ch.id))),
        ("incident", Some(s(incident))),
        ("account_id", Some(s(&ch.account_id))),
        ("region", Some(s(&ch.region))),
        ("action", Some(s(ch.action.as_str()))),
        ("target", Some(s(&ch.target))),
        ("detail", ch.detail.clone().map(s)),
        ("before", ch.before.clone().map(s)),
        ("status", Some(s(ch.status.as_str()))),
        ("error", ch.error.clone().map(s)),
        ("restore_status", ch.restore_status.map(|r| s(r.as_str()))),
        ("outcome", ch.outcome.clone().map(s)),
        ("planned_at", Some(s(planned_at.to_rfc3339()))),
        ("GSI1PK", Some(s(format!("INCCHG#{incident}")))),
        ("GSI1SK", Some(s(change_key(ch.id)))),
        ("GSI2PK", db.then(|| s("DBCHANGES"))),
        ("GSI2SK", db.then(|| s(change_key(ch.id)))),
    ])
}

impl DynamoJournal {
    pub fn record_findings(
        &self,
        incident: &str,
        account_id: &str,
        region: &str,
        findings: &[Finding<'_>],
    ) -> Result<(), JournalError> {
        let items: Vec<Item> = findings
            .iter()
            .map(|f| {
                item(vec![
                    ("PK", Some(s(format!("INC#{incident}")))),
                    (
                        "SK",
                        Some(s(format!("FND#{account_id}#{region}#{}", f.instance_id))),
                    ),
                    ("account_id", Some(s(account_id))),
                    ("region", Some(s(region))),
                    ("instance_id", Some(s(f.instance_id))),
                    ("decision", Some(s(f.decision))),
                    ("reason", f.reason.clone().map(s)),
                    ("auto_scaling_group", f.auto_scaling_group.map(s)),
                ])
            })
            .collect();
        self.run("record findings", |c, t| async move {
            let writes = items
                .into_iter()
                .map(|i| put(&t, i))
                .collect::<Result<_, _>>()?;
            write_all(&c, writes).await
        })
    }

    pub fn record_problem(
        &self,
        incident: &str,
        account_id: &str,
        region: Option<&str>,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let problem = item(vec![
            ("PK", Some(s(format!("INC#{incident}")))),
            (
                "SK",
                Some(s(format!(
                    "PRB#{}#{:08x}",
                    key_time(at),
                    rand::random::<u32>()
                ))),
            ),
            ("account_id", Some(s(account_id))),
            ("region", region.map(s)),
            ("message", Some(s(message))),
            ("at", Some(s(at.to_rfc3339()))),
        ]);
        self.run("record a problem", |c, t| async move {
            c.put_item()
                .table_name(&t)
                .set_item(Some(problem))
                .send()
                .await
                .map_err(said)?;
            Ok(())
        })
    }

    pub fn plan_changes(
        &self,
        incident: &str,
        changes: &[PlannedChange],
        at: DateTime<Utc>,
    ) -> Result<Vec<i64>, JournalError> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let incident = incident.to_owned();
        let changes = changes.to_vec();
        let fence = self.fence();
        self.run("journal planned changes", |c, t| async move {
            let first = allocate(&c, &t, "CHANGES", changes.len() as i64).await?;
            let ids: Vec<i64> = (first..first + changes.len() as i64).collect();
            let mut writes = Vec::with_capacity(changes.len());
            for (id, ch) in ids.iter().zip(&changes) {
                let row = ChangeRow {
                    id: *id,
                    account_id: ch.account_id.clone(),
                    region: ch.region.clone(),
                    action: ch.action,
                    target: ch.target.clone(),
                    detail: Some(ch.detail.to_string()),
                    before: Some(ch.before.to_string()),
                    status: ChangeStatus::Pending,
                    error: None,
                    restore_status: None,
                    outcome: None,
                };
                writes.push(put(&t, change_item(&incident, &row, at))?);
            }
            write_fenced(&c, writes, fence.map(|token| (t.as_str(), token))).await?;
            Ok(ids)
        })
    }

    pub fn finish_changes(
        &self,
        outcomes: &[(i64, Result<(), String>)],
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let outcomes = outcomes.to_vec();
        self.run("journal the changes' outcomes", |c, t| async move {
            let mut writes = Vec::with_capacity(outcomes.len());
            for (id, outcome) in outcomes {
                let (status, error) = match outcome {
                    Ok(()) => ("done", None),
                    Err(e) => ("failed", Some(e)),
                };
                writes.push(update(
                    &t,
                    id,
                    vec![
                        ("status", Some(status.to_owned())),
                        ("error", error),
                        ("finished_at", Some(at.to_rfc3339())),
                    ],
                )?);
            }
            write_all(&c, writes).await
        })
    }

    pub fn set_change_outcome(
        &self,
        id: i64,
        outcome: &serde_json::Value,
    ) -> Result<(), JournalError> {
        let outcome = outcome.to_string();
        self.run("journal the change's outcome", |c, t| async move {
            write_all(&c, vec![update(&t, id, vec![("outcome", Some(outcome))])?]).await
        })
    }

    pub fn record_capture(
        &self,
        incident: &str,
        account_id: &str,
        region: &str,
        capture: &crate::ports::InstanceCapture,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let capture_item = item(vec![
            ("PK", Some(s(format!("INC#{incident}")))),
            (
                "SK",
                Some(s(format!("CAP#{}#{}", key_time(at), capture.instance_id))),
            ),
            ("account_id", Some(s(account_id))),
            ("region", Some(s(region))),
            ("description", Some(s(json_text(capture)))),
            ("at", Some(s(at.to_rfc3339()))),
        ]);
        self.run("journal the instance's capture", |c, t| async move {
            c.put_item()
                .table_name(&t)
                .set_item(Some(capture_item))
                .send()
                .await
                .map_err(said)?;
            Ok(())
        })
    }

    pub fn captures(
        &self,
        incident: &str,
    ) -> Result<Vec<(String, String, crate::ports::InstanceCapture)>, JournalError> {
        let incident = incident.to_owned();
        self.run("read captures", |c, t| async move {
            let items = of_incident(&c, &t, &incident, "CAP#").await?;
            items
                .iter()
                .map(|i| {
                    let capture =
                        json(i, "description")?.ok_or("a capture without its description")?;
                    Ok((
                        text(i, "account_id").unwrap_or_default(),
                        text(i, "region").unwrap_or_default(),
                        capture,
                    ))
                })
                .collect()
        })
    }

    pub fn changes(&self, incident: &str) -> Result<Vec<ChangeRow>, JournalError> {
        let incident = incident.to_owned();
        self.run("read changes", |c, t| async move {
            let items = query_all(
                c.query()
                    .table_name(&t)
                    .index_name("GSI1")
                    .key_condition_expression("GSI1PK = :i")
                    .expression_attribute_values(":i", s(format!("INCCHG#{incident}"))),
            )
            .await?;
            items.iter().map(change_row).collect()
        })
    }

    pub fn stopped_databases(&self) -> Result<Vec<(String, ChangeRow)>, JournalError> {
        self.run("read the stopped databases", |c, t| async move {
            let items = query_all(
                c.query()
                    .table_name(&t)
                    .index_name("GSI2")
                    .key_condition_expression("GSI2PK = :d")
                    .expression_attribute_values(":d", s("DBCHANGES")),
            )
            .await?;
            let mut out = Vec::new();
            for i in &items {
                let row = change_row(i)?;
                if row.status == ChangeStatus::Done && row.restore_status.is_none() {
                    out.push((text(i, "incident").unwrap_or_default(), row));
                }
            }
            Ok(out)
        })
    }

    pub fn mark_restore(
        &self,
        outcomes: &[(i64, Option<Result<(), String>>)],
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let outcomes = outcomes.to_vec();
        self.run("journal the restore", |c, t| async move {
            let mut writes = Vec::with_capacity(outcomes.len());
            for (id, outcome) in outcomes {
                let (status, error) = match outcome {
                    None => ("pending", None),
                    Some(Ok(())) => ("done", None),
                    Some(Err(e)) => ("failed", Some(e)),
                };
                writes.push(update(
                    &t,
                    id,
                    vec![
                        ("restore_status", Some(status.to_owned())),
                        ("restore_error", error),
                        ("restored_at", Some(at.to_rfc3339())),
                    ],
                )?);
            }
            write_all(&c, writes).await
        })
    }

    pub fn stopped_group_members(
        &self,
        incident: &str,
    ) -> Result<Vec<(String, String, String, String)>, JournalError> {
        let incident = incident.to_owned();
        self.run("read findings", |c, t| async move {
            let items = of_incident(&c, &t, &incident, "FND#").await?;
            Ok(items
                .iter()
                .filter(|i| text(i, "decision").as_deref() == Some("stop"))
                .filter_map(|i| {
                    Some((
                        text(i, "account_id")?,
                        text(i, "region")?,
                        text(i, "auto_scaling_group")?,
                        text(i, "instance_id")?,
                    ))
                })
                .collect())
        })
    }
}

/// The items of an incident whose sort key starts with `prefix`, in key order.
async fn of_incident(
    c: &Client,
    table: &str,
    incident: &str,
    prefix: &str,
) -> Result<Vec<Item>, String> {
    query_all(
        c.query()
            .table_name(table)
            .key_condition_expression("PK = :p AND begins_with(SK, :s)")
            .expression_attribute_values(":p", s(format!("INC#{incident}")))
            .expression_attribute_values(":s", s(prefix))
            .consistent_read(true),
    )
    .await
}
