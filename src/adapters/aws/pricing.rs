//! The AWS Price List Query API: the on-demand hourly price of an instance type (EC2, an RDS
//! DB instance class, a SageMaker ML instance), from `GetProducts` (each product a JSON
//! document in a string, as AWS documents it).

use aws_config::SdkConfig;
use aws_sdk_pricing::types::{Filter, FilterType};
use aws_types::region::Region;
use serde_json::Value;

use super::classify;
use crate::core::money::{PriceKey, Product};
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

pub(super) async fn on_demand_price(
    sdk: &SdkConfig,
    key: &PriceKey,
) -> Result<Option<f64>, CloudError> {
    let conf = aws_sdk_pricing::config::Builder::from(sdk)
        .region(Region::new(PRICE_LIST_REGION))
        .build();
    let client = aws_sdk_pricing::Client::from_conf(conf);
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
    }
    let mut pages = client
        .get_products()
        .service_code(key.product.service_code())
        .format_version("aws_v1")
        .set_filters(Some(filters))
        .max_results(100)
        .into_paginator()
        .send();
    let mut prices = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("pricing:GetProducts", e))?;
        for product in page.price_list() {
            prices.extend(on_demand_usd(product));
        }
    }
    // Products that differ only in what the filters leave open (license model, edition,
    // Aurora's storage configuration): the highest, so that the burn rate never says less than
    // it is.
    Ok(prices.into_iter().filter(|p| *p > 0.0).reduce(f64::max))
}

/// The hourly USD prices of a product's on-demand terms.
fn on_demand_usd(product: &str) -> Vec<f64> {
    let Ok(v) = serde_json::from_str::<Value>(product) else {
        return Vec::new();
    };
    let Some(terms) = v.pointer("/terms/OnDemand").and_then(Value::as_object) else {
        return Vec::new();
    };
    terms
        .values()
        .filter_map(|t| t.get("priceDimensions").and_then(Value::as_object))
        .flat_map(|dims| dims.values())
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
}
