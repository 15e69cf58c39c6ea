//! Amazon Bedrock's usage in money: each model's invocations and tokens over the last hour (the
//! `AWS/Bedrock` metrics), and what those tokens cost at the Price List's on-demand prices, the
//! token burn rate (`max_bedrock_burn_rate_usd_per_hour`). A model without a price is named,
//! never counted as free. Pure.

use std::collections::BTreeMap;

use super::money::{PriceKey, Product};

/// The window a check reads Bedrock's usage over. Its sums are the rates per hour.
pub const WINDOW: chrono::Duration = chrono::Duration::hours(1);

/// What one model was used for in a region over a window, from the `AWS/Bedrock` metrics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelUsage {
    pub model_id: String,
    pub invocations: f64,
    pub input_tokens: f64,
    pub output_tokens: f64,
}

/// The two prices of a model's tokens: `input` and `output`.
pub const DIRECTIONS: [&str; 2] = ["input", "output"];

/// The price key of `model`'s `tokens` (`input` or `output`) in `region`.
pub fn key(model: &str, region: &str, tokens: &str) -> PriceKey {
    PriceKey {
        instance_type: model.to_owned(),
        region: region.to_owned(),
        product: Product::BedrockTokens {
            tokens: tokens.to_owned(),
        },
    }
}

fn counts(u: &ModelUsage) -> [f64; 2] {
    [u.input_tokens.max(0.0), u.output_tokens.max(0.0)]
}

/// The prices the usage of a region needs: each model's input and output tokens, for the
/// directions it used.
pub fn price_keys(region: &str, usage: &[ModelUsage]) -> Vec<PriceKey> {
    usage
        .iter()
        .flat_map(|u| {
            DIRECTIONS
                .iter()
                .zip(counts(u))
                .filter(|(_, n)| *n > 0.0)
                .map(|(d, _)| key(&u.model_id, region, d))
        })
        .collect()
}

/// What one model's tokens cost an hour, over the regions.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelCost {
    pub model_id: String,
    pub usd_per_hour: f64,
}

/// The token burn rate: `None` when a price is missing (`unpriced` says which), never a zero.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TokenBurn {
    pub usd_per_hour: Option<f64>,
    /// The models by cost, most expensive first.
    pub by_model: Vec<ModelCost>,
    /// Keys without a price, once each.
    pub unpriced: Vec<PriceKey>,
}

/// What the tokens of the last hour cost, per region's usage, at `prices` (USD per 1,000
/// tokens, as the Price List quotes them).
pub fn burn<'a>(
    usage: impl IntoIterator<Item = (&'a str, &'a [ModelUsage])>,
    prices: &BTreeMap<PriceKey, f64>,
) -> TokenBurn {
    let mut by_model: BTreeMap<&str, f64> = BTreeMap::new();
    let mut unpriced: Vec<PriceKey> = Vec::new();
    for (region, list) in usage {
        for u in list {
            for (direction, n) in DIRECTIONS.iter().zip(counts(u)) {
                if n <= 0.0 {
                    continue;
                }
                let k = key(&u.model_id, region, direction);
                match prices.get(&k) {
                    Some(per_thousand) => {
                        *by_model.entry(&u.model_id).or_default() += n / 1000.0 * per_thousand;
                    }
                    None if !unpriced.contains(&k) => unpriced.push(k),
                    None => {}
                }
            }
        }
    }
    let mut models: Vec<ModelCost> = by_model
        .into_iter()
        .map(|(m, usd)| ModelCost {
            model_id: m.to_owned(),
            usd_per_hour: usd,
        })
        .collect();
    models.sort_by(|a, b| b.usd_per_hour.total_cmp(&a.usd_per_hour));
    TokenBurn {
        usd_per_hour: unpriced
            .is_empty()
            .then(|| models.iter().map(|m| m.usd_per_hour).sum()),
        by_model: models,
        unpriced,
    }
}

/// The base model of a model id as the `AWS/Bedrock` metrics name it: a cross-region inference
/// profile (`us.anthropic.claude-…`, `eu.`, `apac.`, `global.`) is billed at its model's price in
/// the region it was called from, so the geography is taken off; anything else is kept.
pub fn base_model(model_id: &str) -> &str {
    const GEOGRAPHIES: [&str; 8] = ["us", "eu", "apac", "global", "us-gov", "jp", "au", "ca"];
    match model_id.split_once('.') {
        Some((geo, rest)) if GEOGRAPHIES.contains(&geo) && rest.contains('.') => rest,
        _ => model_id,
    }
}

/// One on-demand price of a Price List product of `AmazonBedrock`: its `inferenceType`
/// attribute, its price dimension's `unit` and its USD price.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenOffer {
    pub inference_type: String,
    pub feature: Option<String>,
    pub unit: String,
    pub usd: f64,
}

/// The price of `tokens` (`input` or `output`) in USD per 1,000 tokens among a model's
/// on-demand offers: those whose `inferenceType` is exactly `Input tokens` or `Output tokens`
/// (cache reads and writes, batch and images are other prices), whose `feature`, when given, is
/// on-demand inference, in a unit of tokens the guard knows. Of several, the highest, so that the
/// rate never says less than it is.
pub fn token_price(offers: &[TokenOffer], tokens: &str) -> Option<f64> {
    let wanted = format!("{tokens} tokens");
    offers
        .iter()
        .filter(|o| o.inference_type.trim().eq_ignore_ascii_case(&wanted))
        .filter(|o| {
            o.feature
                .as_deref()
                .is_none_or(|f| f.to_ascii_lowercase().contains("on-demand"))
        })
        .filter_map(|o| Some(o.usd * per_thousand(&o.unit)?))
        .filter(|p| p.is_finite() && *p > 0.0)
        .reduce(f64::max)
}

/// How many of a unit make 1,000 tokens: `1K tokens` 1, `1M tokens` 1/1000, `tokens` 1000.
fn per_thousand(unit: &str) -> Option<f64> {
    let u = unit.trim().to_ascii_lowercase().replace(',', "");
    let count = u
        .strip_suffix("tokens")
        .or_else(|| u.strip_suffix("token"))?;
    match count.trim() {
        "" | "1" => Some(1000.0),
        "1k" | "1000" => Some(1.0),
        "1m" | "1000000" => Some(0.001),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("a price");
        assert!((a - b).abs() < 1e-9, "{a} is not {b}");
    }

    fn usage(model: &str, input: f64, output: f64) -> ModelUsage {
        ModelUsage {
            model_id: model.into(),
            invocations: 1.0,
            input_tokens: input,
            output_tokens: output,
        }
    }

    #[test]
    fn tokens_of_the_hour_at_their_prices_are_the_burn_rate() {
        let east = [usage("m1", 2_000_000.0, 500_000.0), usage("m2", 0.0, 0.0)];
        let west = [usage("m1", 1_000_000.0, 0.0)];
        let prices = BTreeMap::from([
            (key("m1", "us-east-1", "input"), 0.003),
            (key("m1", "us-east-1", "output"), 0.015),
            (key("m1", "us-west-2", "input"), 0.004),
        ]);
        let b = burn(
            [("us-east-1", &east[..]), ("us-west-2", &west[..])],
            &prices,
        );
        // 2,000 × 0.003 + 500 × 0.015 + 1,000 × 0.004 = 6 + 7.5 + 4.
        close(b.usd_per_hour, 17.5);
        assert_eq!(b.by_model.len(), 1, "a model without tokens costs nothing");
        assert!(b.unpriced.is_empty());
        assert_eq!(
            price_keys("us-west-2", &west),
            [key("m1", "us-west-2", "input")]
        );
    }

    #[test]
    fn a_missing_price_is_named_and_the_rate_unknown() {
        let east = [usage("m1", 1000.0, 1000.0), usage("m9", 10.0, 0.0)];
        let prices = BTreeMap::from([
            (key("m1", "us-east-1", "input"), 1.0),
            (key("m1", "us-east-1", "output"), 1.0),
        ]);
        let b = burn([("us-east-1", &east[..])], &prices);
        assert_eq!(b.usd_per_hour, None);
        assert_eq!(b.unpriced, [key("m9", "us-east-1", "input")]);
        close(Some(b.by_model[0].usd_per_hour), 2.0);
    }

    #[test]
    fn cross_region_profiles_are_priced_as_their_model() {
        assert_eq!(
            base_model("us.anthropic.claude-3-haiku-20240307-v1:0"),
            "anthropic.claude-3-haiku-20240307-v1:0"
        );
        assert_eq!(
            base_model("global.amazon.nova-pro-v1:0"),
            "amazon.nova-pro-v1:0"
        );
        assert_eq!(base_model("amazon.nova-pro-v1:0"), "amazon.nova-pro-v1:0");
        assert_eq!(base_model("us.unknown"), "us.unknown");
    }

    fn offer(kind: &str, feature: Option<&str>, unit: &str, usd: f64) -> TokenOffer {
        TokenOffer {
            inference_type: kind.into(),
            feature: feature.map(Into::into),
            unit: unit.into(),
            usd,
        }
    }

    #[test]
    fn the_on_demand_token_price_is_picked_from_the_offers() {
        let offers = [
            offer(
                "Input tokens",
                Some("On-demand Inference"),
                "1K tokens",
                0.003,
            ),
            offer(
                "Output tokens",
                Some("On-demand Inference"),
                "1K tokens",
                0.015,
            ),
            offer("Input tokens cache read", None, "1K tokens", 0.0003),
            offer("Input tokens", Some("Batch Inference"), "1K tokens", 0.0015),
            offer("Output tokens", None, "1M tokens", 16.0),
            offer("Input tokens", None, "Images", 9.0),
        ];
        close(token_price(&offers, "input"), 0.003);
        // Two output prices: the highest, 16 per million = 0.016 per thousand.
        close(token_price(&offers, "output"), 0.016);
        assert_eq!(token_price(&offers[2..4], "input"), None);
        close(
            token_price(&[offer("input tokens", None, "tokens", 0.000002)], "input"),
            0.002,
        );
    }
}
