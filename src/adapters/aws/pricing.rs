//! The AWS Price List Query API: the on-demand hourly price of an instance type (EC2, an RDS
//! DB instance class, a SageMaker ML instance), and the on-demand price of a Bedrock model's
//! tokens, from `GetProducts` (each product a JSON document in a string, as AWS documents it).

use aws_config::SdkConfig;
use aws_sdk_pricing::types::{Filter, FilterType};
use aws_types::region::Region;
use serde_json::Value;

use super::{bedrock, classify};
use crate::core::money::{PriceKey, Product};
use crate::core::provisioned::UnitOffer;
use crate::core::tokens::{self, TokenOffer};
use crate::ports::{CloudError, ErrorKind};

/// The Price List Query API answers in these regions only; us-east-1 has every product.
const PRICE_LIST_REGION: &str = "us-east-1";

fn term(field: &str, value: &str) -> Result<Filter, CloudError> {
    Filter::builder()
        .r#type(FilterType::TermMatch)
        .field(field)
        .value(value)
        .build()
        .map_err(|e| CloudError {
            kind: ErrorKind::Other,
            operation: "pricing:GetProducts",
            code: None,
            message: e.to_string(),
        })
}

fn client(sdk: &SdkConfig) -> aws_sdk_pricing::Client {
    let conf = aws_sdk_pricing::config::Builder::from(sdk)
        .region(Region::new(PRICE_LIST_REGION))
        .build();
    aws_sdk_pricing::Client::from_conf(conf)
}

/// Every product of `service_code` that matches the filters, over all pages.
async fn products(
    sdk: &SdkConfig,
    service_code: &str,
    filters: Vec<Filter>,
) -> Result<Vec<String>, CloudError> {
    let mut pages = client(sdk)
        .get_products()
        .service_code(service_code)
        .format_version("aws_v1")
        .set_filters(Some(filters))
        .max_results(100)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("pricing:GetProducts", e))?;
        out.extend(page.price_list().iter().cloned());
    }
    Ok(out)
}

pub(super) async fn on_demand_price(
    sdk: &SdkConfig,
    key: &PriceKey,
) -> Result<Option<f64>, CloudError> {
    let mut filters = vec![
        term("instanceType", &key.instance_type)?,
        term("regionCode", &key.region)?,
    ];
    match &key.product {
        Product::Ec2 { operating_system } => {
            filters.push(term("operatingSystem", operating_system)?);
            filters.push(term("tenancy", "Shared")?);
            filters.push(term("preInstalledSw", "NA")?);
            filters.push(term("capacitystatus", "Used")?);
        }
        Product::Rds {
            database_engine,
            deployment_option,
        } => {
            filters.push(term("databaseEngine", database_engine)?);
            filters.push(term("deploymentOption", deployment_option)?);
        }
        Product::SageMaker { component } => {
            filters.push(term("component", component)?);
        }
        Product::BedrockTokens { tokens } => return token_price(sdk, key, tokens).await,
        Product::BedrockProvisioned { commitment } => {
            return provisioned_price(sdk, key, commitment).await;
        }
    }
    let prices = products(sdk, key.product.service_code(), filters)
        .await?
        .iter()
        .flat_map(|p| on_demand_usd(p))
        .collect::<Vec<_>>();
    // Products that differ only in what the filters leave open (license model, edition,
    // Aurora's storage configuration): the highest, so that the burn rate never says less than
    // it is.
    Ok(prices.into_iter().filter(|p| *p > 0.0).reduce(f64::max))
}

/// The on-demand price of a Bedrock model's `tokens` (`input`, `output`) in USD per 1,000
/// tokens. The Price List names a model as Bedrock does (`model`, e.g. `Claude 3 Haiku`), not by
/// its id: the name is asked of Bedrock in the key's region first. A cross-region inference
/// profile is priced as its model.
async fn token_price(
    sdk: &SdkConfig,
    key: &PriceKey,
    tokens: &str,
) -> Result<Option<f64>, CloudError> {
    let model = tokens::base_model(&key.instance_type);
    let Some(name) = bedrock::model_name(sdk, &key.region, model).await? else {
        return Err(CloudError {
            kind: ErrorKind::NotFound,
            operation: "bedrock:GetFoundationModel",
            code: None,
            message: format!(
                "Bedrock has no foundation model {model} in {}: a custom or imported model is not in the Price List",
                key.region
            ),
        });
    };
    let filters = vec![term("regionCode", &key.region)?, term("model", &name.name)?];
    let offers: Vec<TokenOffer> = products(sdk, key.product.service_code(), filters)
        .await?
        .iter()
        .flat_map(|p| token_offers(p))
        .collect();
    Ok(tokens::token_price(&offers, tokens))
}

/// The price of a model unit-hour of provisioned throughput of the key's model at `commitment`,
/// among the model's `AmazonBedrock` products in the region (named as Bedrock names the model).
async fn provisioned_price(
    sdk: &SdkConfig,
    key: &PriceKey,
    commitment: &str,
) -> Result<Option<f64>, CloudError> {
    let Some(name) = bedrock::model_name(sdk, &key.region, &key.instance_type).await? else {
        return Err(CloudError {
            kind: ErrorKind::NotFound,
            operation: "bedrock:GetFoundationModel",
            code: None,
            message: format!(
                "Bedrock has no foundation model {} in {}",
                key.instance_type, key.region
            ),
        });
    };
    let filters = vec![term("regionCode", &key.region)?, term("model", &name.name)?];
    let offers: Vec<UnitOffer> = products(sdk, key.product.service_code(), filters)
        .await?
        .iter()
        .flat_map(|p| unit_offers(p))
        .collect();
    Ok(crate::core::provisioned::unit_price(&offers, commitment))
}

/// The on-demand offers of an `AmazonBedrock` product as provisioned throughput reads them: what
/// its `inferenceType`, `feature` and `usagetype` say, each price dimension's unit and price.
fn unit_offers(product: &str) -> Vec<UnitOffer> {
    let Ok(v) = serde_json::from_str::<Value>(product) else {
        return Vec::new();
    };
    let says = ["inferenceType", "feature", "usagetype"]
        .iter()
        .filter_map(|a| {
            v.pointer(&format!("/product/attributes/{a}"))
                .and_then(Value::as_str)
        })
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    dimensions(&v)
        .filter_map(|d| {
            Some(UnitOffer {
                says: says.clone(),
                unit: d.get("unit")?.as_str()?.to_owned(),
                usd: d.pointer("/pricePerUnit/USD")?.as_str()?.parse().ok()?,
            })
        })
        .collect()
}

/// The on-demand offers of an `AmazonBedrock` product: its `inferenceType` and `feature`
/// attributes, each on-demand price dimension's unit and USD price.
fn token_offers(product: &str) -> Vec<TokenOffer> {
    let Ok(v) = serde_json::from_str::<Value>(product) else {
        return Vec::new();
    };
    let attribute = |name: &str| {
        v.pointer(&format!("/product/attributes/{name}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let Some(inference_type) = attribute("inferenceType") else {
        return Vec::new();
    };
    let feature = attribute("feature");
    dimensions(&v)
        .filter_map(|d| {
            Some(TokenOffer {
                inference_type: inference_type.clone(),
                feature: feature.clone(),
                unit: d.get("unit")?.as_str()?.to_owned(),
                usd: d.pointer("/pricePerUnit/USD")?.as_str()?.parse().ok()?,
            })
        })
        .collect()
}

/// The price dimensions of a product's on-demand terms.
fn dimensions(v: &Value) -> impl Iterator<Item = &Value> {
    v.pointer("/terms/OnDemand")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|terms| terms.values())
        .filter_map(|t| t.get("priceDimensions").and_then(Value::as_object))
        .flat_map(|dims| dims.values())
}

/// The hourly USD prices of a product's on-demand terms.
fn on_demand_usd(product: &str) -> Vec<f64> {
    let Ok(v) = serde_json::from_str::<Value>(product) else {
        return Vec::new();
    };
    dimensions(&v)
        .filter(|d| d.get("unit").and_then(Value::as_str) == Some("Hrs"))
        .filter_map(|d| d.pointer("/pricePerUnit/USD").and_then(Value::as_str))
        .filter_map(|s| s.parse::<f64>().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_on_demand_hourly_price_of_a_product() {
        let product = r#"{"product":{"attributes":{"instanceType":"p4d.24xlarge"}},
          "terms":{"OnDemand":{"X.JRTCKXETXF":{"priceDimensions":{"X.JRTCKXETXF.6YS6EN2CT7":
            {"unit":"Hrs","pricePerUnit":{"USD":"32.7726000000"}}}}},
            "Reserved":{"Y":{"priceDimensions":{"Y.Z":{"unit":"Quantity","pricePerUnit":{"USD":"100000"}}}}}}}"#;
        assert_eq!(super::on_demand_usd(product), [32.7726]);
        assert!(super::on_demand_usd("not json").is_empty());
    }

    #[test]
    fn reads_the_token_offers_of_a_bedrock_product() {
        let product = r#"{"product":{"attributes":{"model":"Claude 3 Haiku","inferenceType":"Input tokens",
            "feature":"On-demand Inference","regionCode":"us-east-1"}},
          "terms":{"OnDemand":{"X.JRTCKXETXF":{"priceDimensions":{"X.JRTCKXETXF.6YS6EN2CT7":
            {"unit":"1K tokens","pricePerUnit":{"USD":"0.0002500000"}}}}}}}"#;
        let offers = super::token_offers(product);
        assert_eq!(offers.len(), 1);
        assert_eq!(offers[0].inference_type, "Input tokens");
        assert_eq!(offers[0].feature.as_deref(), Some("On-demand Inference"));
        assert_eq!(offers[0].unit, "1K tokens");
        assert_eq!(offers[0].usd, 0.00025);
        assert!(super::token_offers(r#"{"product":{"attributes":{}}}"#).is_empty());
    }
}
