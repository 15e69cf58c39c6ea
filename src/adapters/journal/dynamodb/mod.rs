//! The journal on DynamoDB: one table, shared by every replica of the guard. Single-table
//! design (ARCHITECTURE.md, "The journal on DynamoDB"): every item has `PK` and `SK`, and three
//! global secondary indexes (`GSI1`..`GSI3`, keys `GSIn PK`/`GSIn SK`) serve the reads that are
//! not by key. Every read is a GetItem or a Query, never a Scan. Every race the SQLite journal
//! settles with a conditional UPDATE is settled here with a condition expression.
//!
//! The port is synchronous; the SDK is not. Each call runs on the journal's own runtime (one
//! worker thread) and the caller waits for it, as it waits for SQLite's fsync: so the journal
//! works the same from a tokio task, a plain thread or a test.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType,
};
use chrono::{DateTime, Utc};

use crate::ports::journal::JournalError;

mod activity;
mod changes;
mod copy;
mod events;
mod incident_items;
mod incidents;
mod lease;
mod port;
mod prices;

/// The indexes besides the table's own key, each with its partition and sort key.
pub const INDEXES: [&str; 3] = ["GSI1", "GSI2", "GSI3"];

pub(super) type Item = HashMap<String, AttributeValue>;

/// Where the SDK configuration comes from.
enum Sdk {
    /// The ambient one, in this region.
    Load(String),
    Given(Box<aws_config::SdkConfig>),
}

/// The journal in a DynamoDB table.
pub struct DynamoJournal {
    table: String,
    client: Client,
    rt: Option<tokio::runtime::Runtime>,
    /// The fencing token of the lease this journal last held: every change it journals is
    /// conditioned on it. `None` until it takes the lease (a command run by hand is not fenced).
    fence: std::sync::Mutex<Option<i64>>,
}

impl DynamoJournal {
    /// Connects to `table` in `region` with the ambient credentials (and `AWS_ENDPOINT_URL`),
    /// and proves it is a journal table: its key and indexes as `init` makes them.
    pub fn open(table: &str, region: &str) -> Result<DynamoJournal, JournalError> {
        let journal = DynamoJournal::connect(table, Sdk::Load(region.to_owned()))?;
        journal.check_table()?;
        Ok(journal)
    }

    /// Creates the table (on-demand, with its indexes and the TTL of its check runs) and waits
    /// until it is active; a table that exists already is checked instead.
    pub fn init(table: &str, region: &str) -> Result<DynamoJournal, JournalError> {
        DynamoJournal::init_with(table, Sdk::Load(region.to_owned()))
    }

    /// As [`DynamoJournal::open`], with an SDK configuration made by the caller (tests: the
    /// emulator's endpoint and keys).
    pub fn open_with(
        table: &str,
        sdk: &aws_config::SdkConfig,
    ) -> Result<DynamoJournal, JournalError> {
        let journal = DynamoJournal::connect(table, Sdk::Given(Box::new(sdk.clone())))?;
        journal.check_table()?;
        Ok(journal)
    }

    /// As [`DynamoJournal::init`], with an SDK configuration made by the caller.
    pub fn init_with_sdk(
        table: &str,
        sdk: &aws_config::SdkConfig,
    ) -> Result<DynamoJournal, JournalError> {
        DynamoJournal::init_with(table, Sdk::Given(Box::new(sdk.clone())))
    }

    fn init_with(table: &str, sdk: Sdk) -> Result<DynamoJournal, JournalError> {
        let journal = DynamoJournal::connect(table, sdk)?;
        journal.create_table()?;
        journal.check_table()?;
        Ok(journal)
    }

    fn connect(table: &str, sdk: Sdk) -> Result<DynamoJournal, JournalError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("journal-dynamodb")
            .enable_all()
            .build()
            .map_err(|e| JournalError {
                store: format!("dynamodb:{table}"),
                message: format!("cannot start the journal's runtime: {e}"),
            })?;
        let client = match sdk {
            Sdk::Given(sdk) => Client::new(&sdk),
            Sdk::Load(region) => {
                let region = aws_types::region::Region::new(region);
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                rt.spawn(async move {
                    // A journal call that hangs must not hold a deadline or a press forever:
                    // bounded, it fails and is said (a leader that cannot renew steps down).
                    let timeouts = aws_config::timeout::TimeoutConfig::builder()
                        .connect_timeout(std::time::Duration::from_secs(3))
                        .operation_attempt_timeout(std::time::Duration::from_secs(5))
                        .operation_timeout(std::time::Duration::from_secs(10))
                        .build();
                    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                        .region(region)
                        .timeout_config(timeouts)
                        .load()
                        .await;
                    let _ = tx.send(Client::new(&sdk));
                });
                rx.recv().map_err(|_| JournalError {
                    store: format!("dynamodb:{table}"),
                    message: "cannot load the AWS configuration".into(),
                })?
            }
        };
        Ok(DynamoJournal {
            table: table.to_owned(),
            client,
            rt: Some(rt),
            fence: std::sync::Mutex::new(None),
        })
    }

    /// Runs `f` on the journal's runtime and waits for its answer.
    fn run<T, F, Fut>(&self, what: &str, f: F) -> Result<T, JournalError>
    where
        T: Send + 'static,
        F: FnOnce(Client, String) -> Fut,
        Fut: Future<Output = Result<T, String>> + Send + 'static,
    {
        let fut = f(self.client.clone(), self.table.clone());
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.rt
            .as_ref()
            .expect("the runtime lives as long as the journal")
            .spawn(async move {
                let _ = tx.send(fut.await);
            });
        // Waiting on a worker of the caller's runtime (an HTTP handler, a bot step) would hold
        // that worker for the round trip: a hundred slash commands at once would stall the
        // server. Where the caller runs on a multi-thread runtime, its other tasks move to
        // other workers while this one waits.
        let wait = || rx.recv();
        let answer = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        };
        answer
            .map_err(|_| "the journal's runtime stopped".to_owned())
            .and_then(|r| r)
            .map_err(|message| self.error(what, message))
    }

    fn error(&self, what: &str, message: impl std::fmt::Display) -> JournalError {
        JournalError {
            store: format!("dynamodb:{}", self.table),
            message: format!("cannot {what}: {message}"),
        }
    }

    fn create_table(&self) -> Result<(), JournalError> {
        self.run("create the table", |c, table| async move {
            let key = |name: &str, t: KeyType| {
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(t)
                    .build()
                    .map_err(|e| e.to_string())
            };
            let attr = |name: &str| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| e.to_string())
            };
            let mut req = c
                .create_table()
                .table_name(&table)
                .billing_mode(BillingMode::PayPerRequest)
                .key_schema(key("PK", KeyType::Hash)?)
                .key_schema(key("SK", KeyType::Range)?)
                .attribute_definitions(attr("PK")?)
                .attribute_definitions(attr("SK")?);
            for index in INDEXES {
                let (pk, sk) = (format!("{index}PK"), format!("{index}SK"));
                req = req
                    .attribute_definitions(attr(&pk)?)
                    .attribute_definitions(attr(&sk)?)
                    .global_secondary_indexes(
                        GlobalSecondaryIndex::builder()
                            .index_name(index)
                            .key_schema(key(&pk, KeyType::Hash)?)
                            .key_schema(key(&sk, KeyType::Range)?)
                            .projection(
                                Projection::builder()
                                    .projection_type(ProjectionType::All)
                                    .build(),
                            )
                            .build()
                            .map_err(|e| e.to_string())?,
                    );
            }
            match req.send().await {
                Ok(_) => {}
                Err(SdkError::ServiceError(se)) if se.err().is_resource_in_use_exception() => {}
                Err(e) => return Err(DisplayErrorContext(e).to_string()),
            }
            for _ in 0..120 {
                let d = c
                    .describe_table()
                    .table_name(&table)
                    .send()
                    .await
                    .map_err(|e| DisplayErrorContext(e).to_string())?;
                let status = d.table().and_then(|t| t.table_status()).map(|s| s.as_str());
                if status == Some("ACTIVE") {
                    // Check runs expire a week after (`expires_at`): the table never grows
                    // without bound.
                    c.update_time_to_live()
                        .table_name(&table)
                        .time_to_live_specification(
                            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                                .attribute_name("expires_at")
                                .enabled(true)
                                .build()
                                .map_err(|e| e.to_string())?,
                        )
                        .send()
                        .await
                        .map_err(|e| DisplayErrorContext(e).to_string())?;
                    return Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err("the table did not become active within a minute".into())
        })
    }

    /// The table exists, keyed `PK`/`SK`, with the journal's indexes.
    fn check_table(&self) -> Result<(), JournalError> {
        self.run("read the table", |c, table| async move {
            let d = c
                .describe_table()
                .table_name(&table)
                .send()
                .await
                .map_err(|e| match &e {
                    SdkError::ServiceError(se) if se.err().is_resource_not_found_exception() => {
                        "no such table (create it with `runaway journal init`, or the Terraform module)".to_owned()
                    }
                    _ => DisplayErrorContext(e).to_string(),
                })?;
            let t = d.table().ok_or("no table description")?;
            let keys: Vec<(&str, &str)> = t
                .key_schema()
                .iter()
                .map(|k| (k.attribute_name(), k.key_type().as_str()))
                .collect();
            if keys != [("PK", "HASH"), ("SK", "RANGE")] {
                return Err(format!(
                    "not a journal table: its key is {keys:?}, not PK (hash) and SK (range)"
                ));
            }
            let indexes: Vec<&str> = t
                .global_secondary_indexes()
                .iter()
                .filter_map(|i| i.index_name())
                .collect();
            for want in INDEXES {
                if !indexes.contains(&want) {
                    return Err(format!("not a journal table: it has no index {want}"));
                }
            }
            Ok(())
        })
    }
}

impl Drop for DynamoJournal {
    fn drop(&mut self) {
        // Without blocking: the journal may be dropped inside another runtime.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The text of an SDK error, with what AWS said.
pub(super) fn said<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> String {
    DisplayErrorContext(e).to_string()
}

/// Whether an SDK error is a condition that did not hold (the race was lost).
pub(super) fn lost<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(se) => {
            matches!(
                se.err().code(),
                Some("ConditionalCheckFailedException") | Some("TransactionCanceledException")
            )
        }
        _ => false,
    }
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A time as a sort key: fixed width, so that text order is time order.
pub(super) fn key_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(super) fn text(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

pub(super) fn number(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

pub(super) fn time(item: &Item, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    text(item, name)
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| format!("{name} {v:?} is not an RFC 3339 time"))
        })
        .transpose()
}

pub(super) fn json<T: serde::de::DeserializeOwned>(
    item: &Item,
    name: &str,
) -> Result<Option<T>, String> {
    text(item, name)
        .map(|v| {
            serde_json::from_str(&v)
                .map_err(|e| format!("{name} is not JSON this build reads ({e})"))
        })
        .transpose()
}

pub(super) fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// An update expression that sets (`Some`) and removes (`None`) attributes, with the names and
/// values it refers to (`#aN`, `:vN`).
pub(super) struct Assignments {
    pub expr: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

pub(super) fn assignments(changes: Vec<(&str, Option<AttributeValue>)>) -> Assignments {
    let (mut sets, mut removes) = (Vec::new(), Vec::new());
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    for (i, (name, value)) in changes.into_iter().enumerate() {
        names.insert(format!("#a{i}"), name.to_owned());
        match value {
            Some(v) => {
                sets.push(format!("#a{i} = :v{i}"));
                values.insert(format!(":v{i}"), v);
            }
            None => removes.push(format!("#a{i}")),
        }
    }
    let mut expr = Vec::new();
    if !sets.is_empty() {
        expr.push(format!("SET {}", sets.join(", ")));
    }
    if !removes.is_empty() {
        expr.push(format!("REMOVE {}", removes.join(", ")));
    }
    Assignments {
        expr: expr.join(" "),
        names,
        values,
    }
}

/// Allocates `count` numbers from the counter `name` (atomic: `ADD`); the first of them.
pub(super) async fn allocate(
    c: &Client,
    table: &str,
    name: &str,
    count: i64,
) -> Result<i64, String> {
    let out = c
        .update_item()
        .table_name(table)
        .key("PK", s("COUNTER"))
        .key("SK", s(name))
        .update_expression("ADD #v :n")
        .expression_attribute_names("#v", "value")
        .expression_attribute_values(":n", n(count))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
        .send()
        .await
        .map_err(said)?;
    let last = out
        .attributes()
        .and_then(|a| a.get("value"))
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or("the counter has no value")?;
    Ok(last - count + 1)
}

/// Every item of a Query, page after page.
pub(super) async fn query_all(
    q: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    let mut pages = q.into_paginator().send();
    while let Some(page) = pages.next().await {
        out.extend(page.map_err(said)?.items().iter().cloned());
    }
    Ok(out)
}
