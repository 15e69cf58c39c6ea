//! The lease of the leading replica: one item (`PK = LEASE`, `SK = LEADER`) with its holder,
//! its expiry (milliseconds since the epoch) and its fencing token, renewed by its holder and
//! taken over only once expired, both by conditional writes.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, ReturnValue, TransactWriteItem};
use chrono::{DateTime, TimeZone, Utc};

use super::{DynamoJournal, Item, lost, n, number, s, said, text};
use crate::ports::journal::{JournalError, Lease};

fn key() -> [(&'static str, AttributeValue); 2] {
    [("PK", s("LEASE")), ("SK", s("LEADER"))]
}

fn lease_of(item: &Item) -> Result<Lease, String> {
    let millis = number(item, "expires").ok_or("a lease without its expiry")?;
    Ok(Lease {
        holder: text(item, "holder").ok_or("a lease without its holder")?,
        expires: Utc
            .timestamp_millis_opt(millis)
            .single()
            .ok_or("a lease whose expiry is not a time")?,
        token: number(item, "token").ok_or("a lease without its token")?,
    })
}

/// The lease as it stands (a consistent read), if any replica ever took it.
async fn current(c: &aws_sdk_dynamodb::Client, table: &str) -> Result<Option<Lease>, String> {
    let [(k1, v1), (k2, v2)] = key();
    let out = c
        .get_item()
        .table_name(table)
        .key(k1, v1)
        .key(k2, v2)
        .consistent_read(true)
        .send()
        .await
        .map_err(said)?;
    out.item().map(lease_of).transpose()
}

/// The check every fenced write carries: the lease's token is still `token`.
pub(super) fn fenced(table: &str, token: i64) -> Result<TransactWriteItem, String> {
    let [(k1, v1), (k2, v2)] = key();
    Ok(TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name(table)
                .key(k1, v1)
                .key(k2, v2)
                .condition_expression("#token = :fence")
                .expression_attribute_names("#token", "token")
                .expression_attribute_values(":fence", n(token))
                .build()
                .map_err(|e| e.to_string())?,
        )
        .build())
}

impl DynamoJournal {
    pub fn take_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Lease, JournalError> {
        let me = holder.to_owned();
        let lease = self.run("take the lease", |c, t| async move {
            let update = |expr: &str, cond: &str| {
                let [(k1, v1), (k2, v2)] = key();
                c.update_item()
                    .table_name(&t)
                    .key(k1, v1)
                    .key(k2, v2)
                    .update_expression(expr)
                    .condition_expression(cond)
                    .expression_attribute_names("#holder", "holder")
                    .expression_attribute_names("#expires", "expires")
                    .expression_attribute_values(":me", s(&me))
                    .expression_attribute_values(":now", n(now.timestamp_millis()))
                    .expression_attribute_values(":until", n(until.timestamp_millis()))
                    .return_values(ReturnValue::AllNew)
            };
            // Ours and not expired: renewed, the token kept.
            let renewed = update("SET #expires = :until", "#holder = :me AND #expires > :now")
                .send()
                .await;
            match renewed {
                Ok(out) => return lease_of(out.attributes().ok_or("no lease returned")?),
                Err(e) if lost(&e) => {}
                Err(e) => return Err(said(e)),
            }
            // Free or expired: ours, with the next token.
            let taken = update(
                "SET #holder = :me, #expires = :until ADD #token :one",
                "attribute_not_exists(PK) OR #expires <= :now",
            )
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
            match taken {
                Ok(out) => lease_of(out.attributes().ok_or("no lease returned")?),
                // Someone else holds it: as it stands.
                Err(e) if lost(&e) => current(&c, &t).await?.ok_or("the lease vanished".into()),
                Err(e) => Err(said(e)),
            }
        })?;
        if lease.holder == holder {
            *self.fence.lock().unwrap_or_else(|p| p.into_inner()) = Some(lease.token);
        }
        Ok(lease)
    }

    pub fn release_lease(&self, holder: &str) -> Result<(), JournalError> {
        let me = holder.to_owned();
        self.run("give up the lease", |c, t| async move {
            let [(k1, v1), (k2, v2)] = key();
            let released = c
                .update_item()
                .table_name(&t)
                .key(k1, v1)
                .key(k2, v2)
                .update_expression("SET #expires = :zero")
                .condition_expression("#holder = :me")
                .expression_attribute_names("#holder", "holder")
                .expression_attribute_names("#expires", "expires")
                .expression_attribute_values(":me", s(me))
                .expression_attribute_values(":zero", n(0))
                .send()
                .await;
            match released {
                Ok(_) => Ok(()),
                Err(e) if lost(&e) => Ok(()),
                Err(e) => Err(said(e)),
            }
        })
    }

    pub fn lease(&self) -> Result<Option<Lease>, JournalError> {
        self.run(
            "read the lease",
            |c, t| async move { current(&c, &t).await },
        )
    }

    pub fn stand_down(&self) {
        *self.fence.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The token every change this journal writes is conditioned on, if it has held the lease.
    pub(super) fn fence(&self) -> Option<i64> {
        *self.fence.lock().unwrap_or_else(|p| p.into_inner())
    }
}
