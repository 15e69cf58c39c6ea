//! Amazon Bedrock's provisioned throughput: model units bought by the hour (with or without a
//! one- or six-month commitment), billed whether or not a token passes. An attacker with a
//! leaked key can buy them; the guard reports them with what they cost an hour and never
//! deletes one (a commitment cannot be undone, and deleting is not the guard's to do). Pure.

use serde::{Deserialize, Serialize};

use super::money::{PriceKey, Product};

/// One provisioned throughput, as ListProvisionedModelThroughputs describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provisioned {
    pub region: String,
    pub name: String,
    pub arn: String,
    /// The foundation model's ARN (a custom model's base model).
    pub foundation_model_arn: String,
    pub model_units: u32,
    /// `Creating`, `InService`, `Updating`, `Failed`.
    pub status: String,
    /// `OneMonth`, `SixMonths`; absent: no commitment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment_expires: Option<String>,
    /// What it costs an hour: its model units at the Price List's price of a model unit-hour;
    /// absent when no price was found (`unpriced` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_hour: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpriced: Option<String>,
}

/// The commitment as the Price List's offers say it: `No Commitment`, `1 Month`, `6 Months`.
pub fn commitment_term(commitment: Option<&str>) -> &'static str {
    match commitment {
        Some("OneMonth") => "1 Month",
        Some("SixMonths") => "6 Months",
        _ => "No Commitment",
    }
}

impl Provisioned {
    /// The foundation model's id: the last part of its ARN, without a context-window variant
    /// (`anthropic.claude-v2:1:18k` → `anthropic.claude-v2:1`).
    pub fn model_id(&self) -> String {
        let id = self
            .foundation_model_arn
            .rsplit_once('/')
            .map_or(self.foundation_model_arn.as_str(), |(_, id)| id);
        match id.rsplit_once(':') {
            Some((base, variant))
                if variant.ends_with('k')
                    && variant[..variant.len() - 1].parse::<u32>().is_ok() =>
            {
                base.to_owned()
            }
            _ => id.to_owned(),
        }
    }

    /// The price of one model unit-hour of it, as the check looks it up.
    pub fn price_key(&self) -> PriceKey {
        PriceKey {
            instance_type: self.model_id(),
            region: self.region.clone(),
            product: Product::BedrockProvisioned {
                commitment: commitment_term(self.commitment.as_deref()).to_owned(),
            },
        }
    }

    /// Whether it is billed now: every state but `Failed`.
    pub fn billed(&self) -> bool {
        self.status != "Failed"
    }
}

/// One on-demand price of a Price List product of `AmazonBedrock` read for provisioned
/// throughput: what its attributes say (`inferenceType`, `feature`, `usagetype`, all lowercased
/// together), its unit and its USD price.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitOffer {
    pub says: String,
    pub unit: String,
    pub usd: f64,
}

/// The price of a model unit-hour at `term` (`No Commitment`, `1 Month`, `6 Months`) among a
/// model's offers: those that say provisioned throughput, are priced by the hour, and say the
/// term (an offer that names no term is taken as no commitment). Of several, the highest, so
/// that the cost never says less than it is.
pub fn unit_price(offers: &[UnitOffer], term: &str) -> Option<f64> {
    let term = term.to_ascii_lowercase();
    let no_commitment = |s: &str| s.contains("no commit") || s.contains("nocommit");
    let names_a_term = |s: &str| s.contains("month") || no_commitment(s);
    offers
        .iter()
        .filter(|o| o.says.contains("provisioned"))
        .filter(|o| {
            let u = o.unit.to_ascii_lowercase();
            u == "hrs" || u.starts_with("hour")
        })
        .filter(|o| {
            if names_a_term(&o.says) {
                let month = term.split(' ').next().unwrap_or("");
                match term.as_str() {
                    "no commitment" => no_commitment(&o.says),
                    _ => {
                        o.says.contains(&format!("{month} month"))
                            || o.says.contains(&format!("{month}month"))
                    }
                }
            } else {
                term == "no commitment"
            }
        })
        .map(|o| o.usd)
        .filter(|p| p.is_finite() && *p > 0.0)
        .reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throughput(arn: &str, units: u32, commitment: Option<&str>) -> Provisioned {
        Provisioned {
            region: "us-east-1".into(),
            name: "p".into(),
            arn: "arn:aws:bedrock:us-east-1:111111111111:provisioned-model/abc".into(),
            foundation_model_arn: arn.into(),
            model_units: units,
            status: "InService".into(),
            commitment: commitment.map(Into::into),
            commitment_expires: None,
            usd_per_hour: None,
            unpriced: None,
        }
    }

    #[test]
    fn the_model_and_its_term_make_the_price_key() {
        let p = throughput(
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2:1:18k",
            2,
            Some("SixMonths"),
        );
        assert_eq!(p.model_id(), "anthropic.claude-v2:1");
        let key = p.price_key();
        assert_eq!(key.instance_type, "anthropic.claude-v2:1");
        assert_eq!(
            key.describe(),
            "anthropic.claude-v2:1 (us-east-1, Bedrock provisioned throughput, 6 Months)"
        );
        let plain = throughput(
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1",
            1,
            None,
        );
        assert_eq!(plain.model_id(), "amazon.titan-text-express-v1");
        assert_eq!(commitment_term(None), "No Commitment");
    }

    fn offer(says: &str, unit: &str, usd: f64) -> UnitOffer {
        UnitOffer {
            says: says.to_lowercase(),
            unit: unit.into(),
            usd,
        }
    }

    #[test]
    fn the_unit_price_is_the_terms_hourly_provisioned_offer() {
        let offers = [
            offer("Provisioned Throughput No Commitment", "Hrs", 63.0),
            offer("Provisioned Throughput 1 Month Commitment", "Hrs", 39.6),
            offer("Provisioned Throughput 6 Month Commitment", "Hrs", 22.0),
            offer("Input tokens On-demand Inference", "1K tokens", 0.008),
        ];
        assert_eq!(unit_price(&offers, "No Commitment"), Some(63.0));
        assert_eq!(unit_price(&offers, "1 Month"), Some(39.6));
        assert_eq!(unit_price(&offers, "6 Months"), Some(22.0));
        assert_eq!(unit_price(&offers[3..], "No Commitment"), None);
        assert_eq!(
            unit_price(
                &[offer("provisioned throughput", "Hrs", 10.0)],
                "No Commitment"
            ),
            Some(10.0),
            "an offer naming no term is no commitment"
        );
        assert_eq!(
            unit_price(&[offer("provisioned throughput", "Hrs", 10.0)], "1 Month"),
            None
        );
    }
}
