//! Presses (`PK = PRESS#<incident>`, in the order they came: a counter's numbers) and check runs
//! (`PK = CHECKS`, by time; each expires after a week through the table's TTL), and for each
//! account the last check that found it ok (`PK = OK#<account>`), with the instances it counted.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::{
    DynamoJournal, Item, allocate, json, key_time, n, number, query_all, s, said, text, time,
};
use crate::ports::journal::{JournalError, LastOk};

/// How long a check run is kept (DynamoDB's TTL removes it after).
const KEEP_CHECKS: chrono::Duration = chrono::Duration::days(7);

fn press_pk(incident: Option<&str>) -> String {
    format!("PRESS#{}", incident.unwrap_or("-"))
}

fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(text.as_bytes())
        .and_then(|()| z.finish())
        .expect("gzip into memory")
}

/// A check run's report: gzipped (`report_gz`), or as text (`report`) where an older build
/// wrote it so.
pub(super) fn report_of(item: &Item) -> Result<serde_json::Value, String> {
    if let Some(AttributeValue::B(blob)) = item.get("report_gz") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(blob.as_ref()), &mut text)
            .map_err(|e| format!("a check's report is not gzip: {e}"))?;
        return serde_json::from_str(&text)
            .map_err(|e| format!("a check's report is not JSON this build reads ({e})"));
    }
    json(item, "report")?.ok_or_else(|| "a check without its report".to_owned())
}

impl DynamoJournal {
    pub fn record_press(
        &self,
        incident: Option<&str>,
        user: &str,
        action: &str,
        allowed: bool,
        outcome: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let pk = press_pk(incident);
        let (user, action, outcome) = (user.to_owned(), action.to_owned(), outcome.to_owned());
        self.run("record a press", |c, t| async move {
            let seq = allocate(&c, &t, "PRESSES", 1).await?;
            let item: Item = [
                ("PK", s(pk)),
                ("SK", s(format!("{seq:020}"))),
                ("user_id", s(user)),
                ("action", s(action)),
                (
                    "allowed",
                    aws_sdk_dynamodb::types::AttributeValue::Bool(allowed),
                ),
                ("outcome", s(outcome)),
                ("at", s(at.to_rfc3339())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            c.put_item()
                .table_name(&t)
                .set_item(Some(item))
                .send()
                .await
                .map_err(said)?;
            Ok(())
        })
    }

    pub fn presses(
        &self,
        incident: &str,
    ) -> Result<Vec<(String, String, bool, String)>, JournalError> {
        let pk = press_pk(Some(incident));
        self.run("read presses", |c, t| async move {
            let items = query_all(
                c.query()
                    .table_name(&t)
                    .key_condition_expression("PK = :p")
                    .expression_attribute_values(":p", s(pk))
                    .consistent_read(true),
            )
            .await?;
            Ok(items
                .iter()
                .map(|i| {
                    (
                        text(i, "user_id").unwrap_or_default(),
                        text(i, "action").unwrap_or_default(),
                        matches!(
                            i.get("allowed"),
                            Some(aws_sdk_dynamodb::types::AttributeValue::Bool(true))
                        ),
                        text(i, "outcome").unwrap_or_default(),
                    )
                })
                .collect())
        })
    }

    pub fn record_check(
        &self,
        at: DateTime<Utc>,
        state: &str,
        duration_ms: u64,
        report: &serde_json::Value,
        ok_counts: &[(&str, &[String])],
    ) -> Result<(), JournalError> {
        let check: Item = [
            ("PK", s("CHECKS")),
            (
                "SK",
                s(format!("{}#{:08x}", key_time(at), rand::random::<u32>())),
            ),
            ("checked_at", s(at.to_rfc3339())),
            ("state", s(state)),
            ("duration_ms", n(duration_ms as i64)),
            // Gzipped: a report of an organisation of a few hundred accounts is some 100 KB
            // of JSON, and an item holds at most 400 KB; gzipped it is a tenth of that.
            (
                "report_gz",
                AttributeValue::B(Blob::new(gzip(&report.to_string()))),
            ),
            ("expires_at", n((at + KEEP_CHECKS).timestamp())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        // Each account the check found ok: when, how many ran, and which (when counted).
        let oks: Vec<Item> = report["accounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["state"] == "ok")
            .filter_map(|a| {
                let account = a["account_id"].as_str()?;
                let mut item: Item = [
                    ("PK", s(format!("OK#{account}"))),
                    ("SK", s("LAST")),
                    ("at", s(at.to_rfc3339())),
                    (
                        "running",
                        n(a["running_instances"].as_u64().unwrap_or(0) as i64),
                    ),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
                if let Some((_, ids)) = ok_counts.iter().find(|(acc, _)| *acc == account) {
                    item.insert("counted".into(), s(super::json_text(ids)));
                }
                Some(item)
            })
            .collect();
        self.run("record the check", |c, t| async move {
            c.put_item()
                .table_name(&t)
                .set_item(Some(check))
                .send()
                .await
                .map_err(said)?;
            // One item per ok account, a few at a time: an organisation's hundreds of accounts
            // must not take hundreds of round trips one after the other.
            let puts = oks.into_iter().map(|item| {
                let (c, t) = (c.clone(), t.clone());
                async move {
                    c.put_item()
                        .table_name(&t)
                        .set_item(Some(item))
                        .send()
                        .await
                        .map_err(said)
                }
            });
            let mut puts = futures::stream::iter(puts).buffer_unordered(16);
            while let Some(put) = puts.next().await {
                put?;
            }
            Ok(())
        })
    }

    pub fn last_ok_check(&self, account: &str) -> Result<Option<LastOk>, JournalError> {
        let pk = format!("OK#{account}");
        self.run("read the last ok check", |c, t| async move {
            let out = c
                .get_item()
                .table_name(&t)
                .key("PK", s(pk))
                .key("SK", s("LAST"))
                .consistent_read(true)
                .send()
                .await
                .map_err(said)?;
            let Some(item) = out.item() else {
                return Ok(None);
            };
            let counted: Option<Vec<String>> = json(item, "counted")?;
            Ok(Some(LastOk {
                at: time(item, "at")?.ok_or("an ok check without its time")?,
                running: number(item, "running").unwrap_or(0).max(0) as u64,
                counted: counted.map(|ids| ids.into_iter().collect::<BTreeSet<String>>()),
            }))
        })
    }

    pub fn last_check(&self) -> Result<Option<(DateTime<Utc>, serde_json::Value)>, JournalError> {
        self.run("read the last check", |c, t| async move {
            let out = c
                .query()
                .table_name(&t)
                .key_condition_expression("PK = :p")
                .expression_attribute_values(":p", s("CHECKS"))
                .scan_index_forward(false)
                .limit(1)
                .consistent_read(true)
                .send()
                .await
                .map_err(said)?;
            let Some(item) = out.items().first() else {
                return Ok(None);
            };
            let at = time(item, "checked_at")?.ok_or("a check without its time")?;
            Ok(Some((at, report_of(item)?)))
        })
    }

    /// The checks at or after `since`, oldest first: one Query on the checks' partition, whose
    /// sort keys begin with the time.
    pub fn checks_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, serde_json::Value)>, JournalError> {
        self.run("read the checks", |c, t| async move {
            let items = super::query_all(
                c.query()
                    .table_name(&t)
                    .key_condition_expression("PK = :p AND SK >= :s")
                    .expression_attribute_values(":p", s("CHECKS"))
                    .expression_attribute_values(":s", s(super::key_time(since)))
                    .consistent_read(true),
            )
            .await?;
            items
                .iter()
                .map(|item| {
                    let at = time(item, "checked_at")?.ok_or("a check without its time")?;
                    Ok((at, report_of(item)?))
                })
                .collect()
        })
    }
}
