//! On-demand prices from the AWS Price List, kept a day.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{JournalError, SqliteJournal, json_text, time_of};
use crate::core::money::PriceKey;

impl SqliteJournal {
    /// The price of `key` fetched at or after `since`: `Some(None)` when the Price List had
    /// none; `None` when not cached (or older).
    pub fn cached_price(
        &self,
        key: &PriceKey,
        since: DateTime<Utc>,
    ) -> Result<Option<Option<f64>>, JournalError> {
        let row: Option<(Option<f64>, String)> = self.with("read a price", |c| {
            c.query_row(
                "SELECT usd_per_hour, fetched_at FROM prices WHERE key = ?1",
                [json_text(key)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })?;
        let Some((price, at)) = row else {
            return Ok(None);
        };
        let at = self.with("read a price", |_| time_of("price", "fetched_at", Some(at)))?;
        Ok(at.filter(|t| *t >= since).map(|_| price))
    }

    pub fn cache_price(
        &self,
        key: &PriceKey,
        usd_per_hour: Option<f64>,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        self.with("cache a price", |c| {
            c.execute(
                "INSERT INTO prices (key, usd_per_hour, fetched_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET usd_per_hour = ?2, fetched_at = ?3",
                params![json_text(key), usd_per_hour, at.to_rfc3339()],
            )
        })?;
        Ok(())
    }
}
