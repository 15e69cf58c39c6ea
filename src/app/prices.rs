//! On-demand prices for the burn rate: from the journal when fetched within a day, else from the
//! AWS Price List (and kept). A price that cannot be found is said, never taken as zero.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::core::money::PriceKey;
use crate::ports::Cloud;
use crate::ports::journal::Journal;

/// How long a fetched price is used.
pub const KEEP: chrono::Duration = chrono::Duration::hours(24);

/// The prices of `keys`: found ones, and why the others are missing.
pub async fn lookup(
    cloud: &dyn Cloud,
    journal: Option<&dyn Journal>,
    keys: &BTreeSet<PriceKey>,
    now: DateTime<Utc>,
) -> (BTreeMap<PriceKey, f64>, BTreeMap<PriceKey, String>) {
    let mut found = BTreeMap::new();
    let mut missing = BTreeMap::new();
    let mut to_fetch = Vec::new();
    for key in keys {
        match journal.map(|j| j.cached_price(key, now - KEEP)) {
            Some(Ok(Some(Some(p)))) => {
                found.insert(key.clone(), p);
            }
            Some(Ok(Some(None))) => {
                missing.insert(
                    key.clone(),
                    "no on-demand price in the AWS Price List".into(),
                );
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "price cache unreadable");
                to_fetch.push(key.clone());
            }
            _ => to_fetch.push(key.clone()),
        }
    }
    let fetched: Vec<_> = futures::stream::iter(to_fetch)
        .map(|key| async move {
            let price = cloud.on_demand_price(&key).await;
            (key, price)
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for (key, price) in fetched {
        match price {
            Ok(p) => {
                if let Some(j) = journal
                    && let Err(e) = j.cache_price(&key, p, now)
                {
                    tracing::warn!(error = %e, "price not cached");
                }
                match p {
                    Some(p) => {
                        found.insert(key, p);
                    }
                    None => {
                        missing.insert(key, "no on-demand price in the AWS Price List".into());
                    }
                }
            }
            Err(e) => {
                missing.insert(key, e.to_string());
            }
        }
    }
    (found, missing)
}
