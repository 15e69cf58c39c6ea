//! On-demand prices from the AWS Price List, kept a day: one item per price key
//! (`PK = PRICE#<key as JSON>`), `usd_per_hour` absent when the Price List had none.

use chrono::{DateTime, Utc};

use super::{DynamoJournal, Item, json_text, s, said, text, time};
use crate::core::money::PriceKey;
use crate::ports::journal::JournalError;

fn pk(key: &PriceKey) -> String {
    format!("PRICE#{}", json_text(key))
}

impl DynamoJournal {
    pub fn cached_price(
        &self,
        key: &PriceKey,
        since: DateTime<Utc>,
    ) -> Result<Option<Option<f64>>, JournalError> {
        let pk = pk(key);
        self.run("read a price", |c, t| async move {
            let out = c
                .get_item()
                .table_name(&t)
                .key("PK", s(pk))
                .key("SK", s("PRICE"))
                .send()
                .await
                .map_err(said)?;
            let Some(item) = out.item() else {
                return Ok(None);
            };
            let at = time(item, "fetched_at")?.ok_or("a price without its time")?;
            let usd = text(item, "usd_per_hour")
                .map(|v| {
                    v.parse::<f64>()
                        .map_err(|_| format!("usd_per_hour {v:?} is not a number"))
                })
                .transpose()?;
            Ok((at >= since).then_some(usd))
        })
    }

    pub fn cache_price(
        &self,
        key: &PriceKey,
        usd_per_hour: Option<f64>,
        at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        let mut item: Item = [
            ("PK".to_owned(), s(pk(key))),
            ("SK".to_owned(), s("PRICE")),
            ("fetched_at".to_owned(), s(at.to_rfc3339())),
        ]
        .into_iter()
        .collect();
        if let Some(usd) = usd_per_hour {
            // As text: a price is never rounded through a float's decimal form twice.
            item.insert("usd_per_hour".into(), s(usd.to_string()));
        }
        self.run("cache a price", |c, t| async move {
            c.put_item()
                .table_name(&t)
                .set_item(Some(item))
                .send()
                .await
                .map_err(said)?;
            Ok(())
        })
    }
}
