//! The event path's messages: an event once (`PK = EVT#<id>`, `SK = FIRST`, written only if
//! absent), its redeliveries as duplicates beside it (`SK = DUP#...`), a message that is not an
//! event once per SQS message id with its receives counted (`PK = MSG#<id>`). All are listed by
//! arrival through `GSI2` (`EVENTS`), and the launch calls of an account through `GSI1`
//! (`CALLS#<account>`, by the call's time).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{
    DynamoJournal, Item, allocate, json, key_time, lost, n, number, query_all, s, said, text, time,
};
use crate::core::events::Outcome;
use crate::ports::journal::{EventRecord, EventRow, JournalError};

fn record_item(r: &EventRecord, pk: String, sk: String, outcome: Outcome, seq: i64) -> Item {
    let order = format!("{}#{seq:020}", key_time(r.received_at));
    let mut pairs: Vec<(&str, Option<AttributeValue>)> = vec![
        ("PK", Some(s(pk))),
        ("SK", Some(s(sk))),
        ("event_id", r.event_id.clone().map(s)),
        ("message_id", Some(s(&r.message_id))),
        ("account_id", r.account_id.clone().map(s)),
        ("region", r.region.clone().map(s)),
        ("detail_type", r.detail_type.clone().map(s)),
        ("source", r.source.clone().map(s)),
        ("time", r.time.map(|t| s(t.to_rfc3339()))),
        ("received_at", Some(s(r.received_at.to_rfc3339()))),
        ("outcome", Some(s(outcome.as_str()))),
        ("note", r.note.clone().map(s)),
        ("receives", Some(n(1))),
        ("detail", r.detail.as_ref().map(|d| s(d.to_string()))),
        ("GSI2PK", Some(s("EVENTS"))),
        ("GSI2SK", Some(s(order))),
    ];
    if outcome != Outcome::Duplicate
        && r.detail_type.as_deref() == Some(crate::core::events::API_CALL)
        && let (Some(account), Some(at)) = (&r.account_id, r.time)
    {
        pairs.push(("GSI1PK", Some(s(format!("CALLS#{account}")))));
        pairs.push(("GSI1SK", Some(s(format!("{}#{seq:020}", key_time(at))))));
    }
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
        .collect()
}

fn event_row(item: &Item) -> Result<EventRow, String> {
    let message_id = text(item, "message_id").unwrap_or_default();
    let outcome = text(item, "outcome").unwrap_or_default();
    Ok(EventRow {
        id: text(item, "event_id").unwrap_or_else(|| message_id.clone()),
        account: text(item, "account_id"),
        region: text(item, "region"),
        detail_type: text(item, "detail_type"),
        time: time(item, "time")?,
        received_at: time(item, "received_at")?.ok_or("an event without its arrival")?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| {
            format!("event {message_id}: outcome {outcome:?} is not an event outcome")
        })?,
        note: text(item, "note"),
        receives: number(item, "receives").unwrap_or(1).max(0) as u32,
        detail: json(item, "detail")?,
        message_id,
    })
}

impl DynamoJournal {
    pub fn has_event(&self, event_id: &str) -> Result<bool, JournalError> {
        let pk = format!("EVT#{event_id}");
        self.run("look up an event", |c, t| async move {
            let out = c
                .get_item()
                .table_name(&t)
                .key("PK", s(pk))
                .key("SK", s("FIRST"))
                .consistent_read(true)
                .send()
                .await
                .map_err(said)?;
            Ok(out.item().is_some())
        })
    }

    pub fn record_events(&self, records: &[EventRecord]) -> Result<Vec<Outcome>, JournalError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let records = records.to_vec();
        self.run("journal events", |c, t| async move {
            let first = allocate(&c, &t, "EVENTS", records.len() as i64).await?;
            let mut out = Vec::with_capacity(records.len());
            for (r, seq) in records.iter().zip(first..) {
                let (pk, sk) = match (&r.event_id, r.outcome) {
                    (_, Outcome::Problem) | (None, _) => {
                        let kind = if r.outcome == Outcome::Problem { "PROBLEM" } else { "EVENT" };
                        (format!("MSG#{}", r.message_id), kind.to_owned())
                    }
                    (Some(id), _) => (format!("EVT#{id}"), "FIRST".to_owned()),
                };
                let item = record_item(r, pk.clone(), sk.clone(), r.outcome, seq);
                let first_time = c
                    .put_item()
                    .table_name(&t)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(PK)")
                    .send()
                    .await;
                let outcome = match first_time {
                    Ok(_) => r.outcome,
                    Err(e) if lost(&e) && r.outcome == Outcome::Problem => {
                        // The same unreadable message again: one more receive.
                        let order = format!("{}#{seq:020}", key_time(r.received_at));
                        let mut u = c
                            .update_item()
                            .table_name(&t)
                            .key("PK", s(&pk))
                            .key("SK", s(&sk))
                            .update_expression(
                                "ADD receives :one SET received_at = :at, GSI2SK = :o, note = :note",
                            )
                            .expression_attribute_values(":one", n(1))
                            .expression_attribute_values(":at", s(r.received_at.to_rfc3339()))
                            .expression_attribute_values(":o", s(order));
                        u = u.expression_attribute_values(
                            ":note",
                            r.note.clone().map(s).unwrap_or(AttributeValue::Null(true)),
                        );
                        u.send().await.map_err(said)?;
                        Outcome::Problem
                    }
                    Err(e) if lost(&e) => {
                        let dup = record_item(
                            r,
                            pk,
                            format!("DUP#{}#{seq:020}", r.message_id),
                            Outcome::Duplicate,
                            seq,
                        );
                        c.put_item().table_name(&t).set_item(Some(dup)).send().await.map_err(said)?;
                        Outcome::Duplicate
                    }
                    Err(e) => return Err(said(e)),
                };
                out.push(outcome);
            }
            Ok(out)
        })
    }

    pub fn events_since(&self, since: DateTime<Utc>) -> Result<Vec<EventRow>, JournalError> {
        self.run("read events", |c, t| async move {
            let items = query_all(
                c.query()
                    .table_name(&t)
                    .index_name("GSI2")
                    .key_condition_expression("GSI2PK = :e AND GSI2SK >= :since")
                    .expression_attribute_values(":e", s("EVENTS"))
                    .expression_attribute_values(":since", s(key_time(since))),
            )
            .await?;
            items.iter().map(event_row).collect()
        })
    }

    pub fn launch_call_records(
        &self,
        account: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<serde_json::Value>, JournalError> {
        let pk = format!("CALLS#{account}");
        self.run("read launch calls", |c, t| async move {
            let items = query_all(
                c.query()
                    .table_name(&t)
                    .index_name("GSI1")
                    .key_condition_expression("GSI1PK = :a AND GSI1SK >= :since")
                    .expression_attribute_values(":a", s(pk))
                    .expression_attribute_values(":since", s(key_time(since))),
            )
            .await?;
            items
                .iter()
                .map(|i| json(i, "detail").map(Option::unwrap_or_default))
                .collect()
        })
    }

    pub fn prune_events(&self, before: DateTime<Utc>) -> Result<usize, JournalError> {
        self.run("prune events", |c, t| async move {
            let items = query_all(
                c.query()
                    .table_name(&t)
                    .index_name("GSI2")
                    .key_condition_expression("GSI2PK = :e AND GSI2SK < :before")
                    .expression_attribute_values(":e", s("EVENTS"))
                    .expression_attribute_values(":before", s(key_time(before))),
            )
            .await?;
            for i in &items {
                c.delete_item()
                    .table_name(&t)
                    .key("PK", i["PK"].clone())
                    .key("SK", i["SK"].clone())
                    .send()
                    .await
                    .map_err(said)?;
            }
            Ok(items.len())
        })
    }
}
