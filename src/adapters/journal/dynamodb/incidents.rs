//! Incidents: one item each (`PK = INC#<id>`, `SK = INCIDENT`). `GSI1` finds an account's latest
//! alert (`ALERT#<account>`) or a resource's latest finding (`FINDING#<account>#<resource>`),
//! `GSI2` the incidents in a status (`STATUS#<status>`), `GSI3` the latest of all
//! (`INCIDENTS`); each sorted by opening time. A status moves only by a conditional update.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{DynamoJournal, Item, json, json_text, key_time, lost, query_all, s, said, text, time};
use crate::core::incident::{Observed, Status};
use crate::ports::journal::{IncidentRow, JournalError, new_incident_id};

const SK: &str = "INCIDENT";

fn pk(id: &str) -> AttributeValue {
    s(format!("INC#{id}"))
}

/// The sort key of every index: when it was opened, then its id.
fn order(opened: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", key_time(opened))
}

fn row(item: &Item) -> Result<IncidentRow, String> {
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
fn new_item(
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
async fn put(c: &Client, table: &str, item: Item) -> Result<(), String> {
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
async fn update(
    c: &Client,
    table: &str,
    id: &str,
    changes: Vec<(&str, Option<AttributeValue>)>,
    condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
) -> Result<bool, String> {
    let mut sets = Vec::new();
    let mut removes = Vec::new();
    let mut req = c
        .update_item()
        .table_name(table)
        .key("PK", pk(id))
        .key("SK", s(SK));
    for (i, (name, value)) in changes.into_iter().enumerate() {
        req = req.expression_attribute_names(format!("#a{i}"), name);
        match value {
            Some(v) => {
                sets.push(format!("#a{i} = :v{i}"));
                req = req.expression_attribute_values(format!(":v{i}"), v);
            }
            None => removes.push(format!("#a{i}")),
        }
    }
    let mut expr = String::new();
    if !sets.is_empty() {
        expr.push_str(&format!("SET {}", sets.join(", ")));
    }
    if !removes.is_empty() {
        expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    let mut cond = "attribute_exists(PK)".to_owned();
    if let Some((more, values)) = condition {
        cond.push_str(&format!(" AND {more}"));
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        if more.contains("#status") {
            req = req.expression_attribute_names("#status", "status");
        }
    }
    match req
        .update_expression(expr.trim())
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
fn status_of(status: &str, opened: &str) -> Vec<(&'static str, Option<AttributeValue>)> {
    vec![
        ("status", Some(s(status))),
        ("GSI2PK", Some(s(format!("STATUS#{status}")))),
        ("GSI2SK", Some(s(opened))),
    ]
}

fn time_text(t: Option<DateTime<Utc>>) -> Option<AttributeValue> {
    t.map(|t| s(t.to_rfc3339()))
}

impl DynamoJournal {
    pub fn open_incident(
        &self,
        kind: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        self.open_incident_as(&new_incident_id(at), kind, actor, at)
    }

    pub fn open_incident_as(
        &self,
        id: &str,
        kind: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        let me = crate::adapters::process::this_process();
        let item = new_item(
            id,
            kind,
            "executing",
            at,
            actor,
            None,
            vec![("acting_process", Some(me))],
        );
        self.run(
            "open an incident",
            |c, t| async move { put(&c, &t, item).await },
        )?;
        Ok(id.to_owned())
    }

    pub fn close_incident(
        &self,
        id: &str,
        status: &str,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let id = id.to_owned();
        let status = status.to_owned();
        self.run("close the incident", |c, t| async move {
            let sort = sort_key(&c, &t, &id).await?;
            let mut changes = status_of(&status, &sort);
            changes.push(("closed_at", Some(s(at.to_rfc3339()))));
            update(&c, &t, &id, changes, None).await.map(|_| ())
        })
    }

    pub fn incident(&self, id: &str) -> Result<Option<(String, String)>, JournalError> {
        Ok(self
            .get_incident(id)?
            .map(|r| (r.kind, r.status.as_str().to_owned())))
    }

    pub fn open_alert(
        &self,
        account_id: &str,
        observed: &Observed,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        let id = new_incident_id(at);
        let item = new_item(
            &id,
            "alert",
            "open",
            at,
            "runaway serve",
            Some(format!("ALERT#{account_id}")),
            vec![
                ("account_id", Some(account_id.to_owned())),
                ("observed", Some(json_text(observed))),
                ("updated_at", Some(at.to_rfc3339())),
            ],
        );
        self.run(
            "open an incident",
            |c, t| async move { put(&c, &t, item).await },
        )?;
        Ok(id)
    }

    pub fn open_finding(
        &self,
        account_id: &str,
        resource: &str,
        finding: &crate::core::guardduty::FindingIncident,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        let id = new_incident_id(at);
        let item = new_item(
            &id,
            "finding",
            "open",
            at,
            "guardduty",
            Some(format!("FINDING#{account_id}#{resource}")),
            vec![
                ("account_id", Some(account_id.to_owned())),
                ("resource", Some(resource.to_owned())),
                ("finding", Some(json_text(finding))),
                ("updated_at", Some(at.to_rfc3339())),
            ],
        );
        self.run(
            "open an incident",
            |c, t| async move { put(&c, &t, item).await },
        )?;
        Ok(id)
    }

    pub fn latest_finding(
        &self,
        account_id: &str,
        resource: &str,
    ) -> Result<Option<IncidentRow>, JournalError> {
        self.latest(format!("FINDING#{account_id}#{resource}"))
    }

    pub fn latest_alert(&self, account_id: &str) -> Result<Option<IncidentRow>, JournalError> {
        self.latest(format!("ALERT#{account_id}"))
    }

    fn latest(&self, owner: String) -> Result<Option<IncidentRow>, JournalError> {
        self.run("read the latest incident", |c, t| async move {
            let out = c
                .query()
                .table_name(&t)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :o")
                .expression_attribute_values(":o", s(owner))
                .scan_index_forward(false)
                .limit(1)
                .send()
                .await
                .map_err(said)?;
            out.items().first().map(row).transpose()
        })
    }

    pub fn update_finding(
        &self,
        id: &str,
        finding: &crate::core::guardduty::FindingIncident,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let (id, finding) = (id.to_owned(), json_text(finding));
        self.run("update the finding incident", |c, t| async move {
            let changes = vec![
                ("finding", Some(s(finding))),
                ("updated_at", Some(s(at.to_rfc3339()))),
            ];
            update(&c, &t, &id, changes, None).await.map(|_| ())
        })
    }

    pub fn set_deadline(&self, id: &str, deadline: DateTime<Utc>) -> Result<bool, JournalError> {
        let id = id.to_owned();
        self.run("set the deadline", |c, t| async move {
            let changes = vec![("deadline", Some(s(deadline.to_rfc3339())))];
            update(
                &c,
                &t,
                &id,
                changes,
                Some(("attribute_not_exists(deadline)", vec![])),
            )
            .await
        })
    }

    pub fn open_manual(
        &self,
        accounts: &[String],
        user: &str,
        deadline: DateTime<Utc>,
        response_url: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        let id = new_incident_id(at);
        let item = new_item(
            &id,
            "manual",
            "awaiting_confirmation",
            at,
            &format!("slack:{user}"),
            None,
            vec![
                ("accounts", Some(json_text(&accounts))),
                ("updated_at", Some(at.to_rfc3339())),
                ("deadline", Some(deadline.to_rfc3339())),
                ("response_url", response_url.map(str::to_owned)),
            ],
        );
        self.run(
            "open an incident",
            |c, t| async move { put(&c, &t, item).await },
        )?;
        Ok(id)
    }

    pub fn open_isolation_request(
        &self,
        target: &crate::core::isolation::IsolationTarget,
        user: &str,
        deadline: DateTime<Utc>,
        response_url: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        let id = new_incident_id(at);
        let item = new_item(
            &id,
            "isolate",
            "awaiting_confirmation",
            at,
            &format!("slack:{user}"),
            None,
            vec![
                ("account_id", Some(target.account_id.clone())),
                ("resource", Some(format!("instance:{}", target.instance_id))),
                ("target", Some(json_text(target))),
                ("updated_at", Some(at.to_rfc3339())),
                ("deadline", Some(deadline.to_rfc3339())),
                ("response_url", response_url.map(str::to_owned)),
            ],
        );
        self.run(
            "open an incident",
            |c, t| async move { put(&c, &t, item).await },
        )?;
        Ok(id)
    }

    pub fn set_slack_message(&self, id: &str, channel: &str, ts: &str) -> Result<(), JournalError> {
        self.set(
            id,
            "record the Slack message",
            vec![
                ("slack_channel", Some(s(channel))),
                ("slack_ts", Some(s(ts))),
            ],
        )
    }

    pub fn update_observed(
        &self,
        id: &str,
        observed: &Observed,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.set(
            id,
            "update the incident",
            vec![
                ("observed", Some(s(json_text(observed)))),
                ("updated_at", Some(s(at.to_rfc3339()))),
            ],
        )
    }

    pub fn set_launchers(
        &self,
        id: &str,
        launchers: &crate::core::launchers::Launchers,
    ) -> Result<(), JournalError> {
        self.set(
            id,
            "record the launchers",
            vec![("launchers", Some(s(json_text(launchers))))],
        )
    }

    fn set(
        &self,
        id: &str,
        what: &str,
        changes: Vec<(&'static str, Option<AttributeValue>)>,
    ) -> Result<(), JournalError> {
        let id = id.to_owned();
        self.run(what, |c, t| async move {
            update(&c, &t, &id, changes, None).await.map(|_| ())
        })
    }

    pub fn claim(
        &self,
        id: &str,
        from: Status,
        to: Status,
        by: &str,
        at: DateTime<Utc>,
        snooze_until: Option<DateTime<Utc>>,
    ) -> Result<bool, JournalError> {
        let me = crate::adapters::process::this_process();
        let (id, by) = (id.to_owned(), by.to_owned());
        self.run("decide the incident", |c, t| async move {
            let sort = sort_key(&c, &t, &id).await?;
            let mut changes = status_of(to.as_str(), &sort);
            changes.extend([
                ("decided_by", Some(s(by))),
                ("decided_at", Some(s(at.to_rfc3339()))),
                ("snooze_until", time_text(snooze_until)),
                ("updated_at", Some(s(at.to_rfc3339()))),
                ("acting_process", Some(s(me))),
                ("response_url", None),
            ]);
            let cond = ("#status = :from", vec![(":from", s(from.as_str()))]);
            update(&c, &t, &id, changes, Some(cond)).await
        })
    }

    pub fn take_over(
        &self,
        id: &str,
        from: Status,
        at: DateTime<Utc>,
    ) -> Result<bool, JournalError> {
        let id = id.to_owned();
        self.run("take over the incident", |c, t| async move {
            let sort = sort_key(&c, &t, &id).await?;
            let mut changes = status_of("partial", &sort);
            changes.extend([
                ("closed_at", Some(s(at.to_rfc3339()))),
                ("updated_at", Some(s(at.to_rfc3339()))),
            ]);
            let cond = ("#status = :from", vec![(":from", s(from.as_str()))]);
            update(&c, &t, &id, changes, Some(cond)).await
        })
    }

    pub fn set_acting(&self, id: &str) -> Result<(), JournalError> {
        let me = crate::adapters::process::this_process();
        self.set(
            id,
            "record the acting process",
            vec![("acting_process", Some(s(me)))],
        )
    }

    pub fn finish_incident(
        &self,
        id: &str,
        status: Status,
        result: &serde_json::Value,
        snooze_until: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let (id, result) = (id.to_owned(), result.to_string());
        self.run("close the incident", |c, t| async move {
            let sort = sort_key(&c, &t, &id).await?;
            let mut changes = status_of(status.as_str(), &sort);
            changes.extend([
                ("result", Some(s(result))),
                ("snooze_until", time_text(snooze_until)),
                ("closed_at", Some(s(at.to_rfc3339()))),
                ("updated_at", Some(s(at.to_rfc3339()))),
            ]);
            update(&c, &t, &id, changes, None).await.map(|_| ())
        })
    }

    pub fn get_incident(&self, id: &str) -> Result<Option<IncidentRow>, JournalError> {
        let id = id.to_owned();
        self.run("read an incident", |c, t| async move {
            let out = c
                .get_item()
                .table_name(&t)
                .key("PK", pk(&id))
                .key("SK", s(SK))
                .consistent_read(true)
                .send()
                .await
                .map_err(said)?;
            out.item().map(row).transpose()
        })
    }

    pub fn incidents_in(&self, statuses: &[Status]) -> Result<Vec<IncidentRow>, JournalError> {
        let statuses: Vec<&'static str> = statuses.iter().map(|s| s.as_str()).collect();
        self.run("read incidents", |c, t| async move {
            let mut items = Vec::new();
            for status in statuses {
                items.extend(
                    query_all(
                        c.query()
                            .table_name(&t)
                            .index_name("GSI2")
                            .key_condition_expression("GSI2PK = :s")
                            .expression_attribute_values(":s", s(format!("STATUS#{status}"))),
                    )
                    .await?,
                );
            }
            // Oldest first, over every status asked for.
            items.sort_by_key(|i| text(i, "GSI2SK"));
            items.iter().map(row).collect()
        })
    }

    pub fn recent_incidents(&self, limit: usize) -> Result<Vec<IncidentRow>, JournalError> {
        self.run("read incidents", |c, t| async move {
            let out = c
                .query()
                .table_name(&t)
                .index_name("GSI3")
                .key_condition_expression("GSI3PK = :all")
                .expression_attribute_values(":all", s("INCIDENTS"))
                .scan_index_forward(false)
                .limit(limit.clamp(1, 1000) as i32)
                .send()
                .await
                .map_err(said)?;
            out.items().iter().take(limit).map(row).collect()
        })
    }
}

/// The incident's index sort key (kept when its status moves).
async fn sort_key(c: &Client, table: &str, id: &str) -> Result<String, String> {
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
