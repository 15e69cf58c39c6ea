//! Incidents: one item each (`PK = INC#<id>`, `SK = INCIDENT`). `GSI1` finds an account's latest
//! alert (`ALERT#<account>`) or a resource's latest finding (`FINDING#<account>#<resource>`),
//! `GSI2` the incidents in a status (`STATUS#<status>`), `GSI3` the latest of all
//! (`INCIDENTS`); each sorted by opening time. A status moves only by a conditional update.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::incident_items::{
    SK, alert_owner, finding_owner, new_item, pk, put, row, sort_key, status_of, time_text, update,
};
use super::{DynamoJournal, json_text, query_all, s, said, text};
use crate::core::incident::{Observed, Status};
use crate::ports::journal::{IncidentRow, JournalError, new_incident_id};

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
            Some(alert_owner(account_id)),
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
            finding.kind(),
            "open",
            at,
            finding.actor(),
            Some(finding_owner(account_id, resource)),
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
        self.latest(finding_owner(account_id, resource))
    }

    pub fn latest_alert(&self, account_id: &str) -> Result<Option<IncidentRow>, JournalError> {
        self.latest(alert_owner(account_id))
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
            // One Query per status, all at once: a status reply waits for the slowest, not
            // for their sum.
            let queries = statuses.into_iter().map(|status| {
                query_all(
                    c.query()
                        .table_name(&t)
                        .index_name("GSI2")
                        .key_condition_expression("GSI2PK = :s")
                        .expression_attribute_values(":s", s(format!("STATUS#{status}"))),
                )
            });
            let mut items: Vec<_> = futures::future::try_join_all(queries)
                .await?
                .into_iter()
                .flatten()
                .collect();
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
