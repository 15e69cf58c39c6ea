//! A local stand-in for the AWS Price List Query API, which the emulator does not have:
//! `GetProducts` answered in AWS's JSON 1.1 wire format, a `PriceList` of JSON documents in
//! strings, as AWS documents it; every call recorded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// A product of the Price List: its service code, its attributes and its on-demand price, per
/// `unit` (`Hrs` for an instance hour, `1K tokens` for Bedrock's tokens).
#[derive(Clone)]
pub struct Product {
    pub service_code: &'static str,
    pub attributes: BTreeMap<String, String>,
    pub usd_per_hour: f64,
    pub unit: &'static str,
}

impl Product {
    /// An EC2 Linux instance type, shared tenancy, no pre-installed software.
    pub fn ec2(instance_type: &str, region: &str, usd_per_hour: f64) -> Product {
        Product::of(
            "AmazonEC2",
            &[
                ("instanceType", instance_type),
                ("regionCode", region),
                ("operatingSystem", "Linux"),
                ("tenancy", "Shared"),
                ("preInstalledSw", "NA"),
                ("capacitystatus", "Used"),
            ],
            usd_per_hour,
        )
    }

    pub fn of(
        service_code: &'static str,
        attributes: &[(&str, &str)],
        usd_per_hour: f64,
    ) -> Product {
        Product {
            service_code,
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            usd_per_hour,
            unit: "Hrs",
        }
    }

    /// A model unit-hour of a Bedrock model's provisioned throughput at a term (`No Commitment`,
    /// `1 Month`, `6 Months`), as the token products' attributes suggest: `inferenceType` and
    /// `feature` `Provisioned Throughput`, the term in `usagetype`, priced in `Hrs`.
    pub fn bedrock_provisioned(model: &str, region: &str, term: &str, usd: f64) -> Product {
        let usage = format!(
            "USE1-{}-ProvisionedThroughput-{}",
            model.replace(' ', ""),
            term.replace(' ', "")
        );
        Product::of(
            "AmazonBedrock",
            &[
                ("servicecode", "AmazonBedrock"),
                ("model", model),
                ("regionCode", region),
                ("inferenceType", "Provisioned Throughput"),
                ("feature", "Provisioned Throughput"),
                ("usagetype", &usage),
            ],
            usd,
        )
    }

    /// A Bedrock model's on-demand tokens in a region, USD per 1,000 tokens: the model as the
    /// Price List names it (Bedrock's `modelName`), `inferenceType` `Input tokens` or `Output
    /// tokens`, as public Price List clients read `AmazonBedrock` products.
    pub fn bedrock_tokens(model: &str, region: &str, inference_type: &str, usd: f64) -> Product {
        let direction = inference_type
            .split(' ')
            .next()
            .unwrap_or("")
            .to_lowercase();
        let usage = format!("{}-{}-{direction}-tokens", "USE1", model.replace(' ', ""));
        Product {
            unit: "1K tokens",
            ..Product::of(
                "AmazonBedrock",
                &[
                    ("servicecode", "AmazonBedrock"),
                    ("model", model),
                    ("regionCode", region),
                    ("inferenceType", inference_type),
                    ("feature", "On-demand Inference"),
                    ("usagetype", &usage),
                ],
                usd,
            )
        }
    }
}

#[derive(Default)]
struct Inner {
    products: Vec<Product>,
    /// The filters of every call, as sent.
    calls: Vec<BTreeMap<String, String>>,
}

#[derive(Clone)]
pub struct PricingStandIn {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

/// A product of the Price List with its one on-demand term, as GetProducts returns it.
fn document(p: &Product) -> String {
    let usd = p.usd_per_hour;
    json!({
        "product": {
            "attributes": p.attributes,
            "sku": "ABCDEFGHIJKLMNOP"
        },
        "serviceCode": p.service_code,
        "terms": {
            "OnDemand": {
                "ABCDEFGHIJKLMNOP.JRTCKXETXF": {
                    "priceDimensions": {
                        "ABCDEFGHIJKLMNOP.JRTCKXETXF.6YS6EN2CT7": {
                            "unit": p.unit,
                            "description": format!("${usd} per {}", p.unit),
                            "pricePerUnit": {"USD": format!("{usd:.10}")}
                        }
                    },
                    "sku": "ABCDEFGHIJKLMNOP",
                    "offerTermCode": "JRTCKXETXF"
                }
            }
        },
        "version": "20261101000000",
        "publicationDate": "2026-11-01T00:00:00Z"
    })
    .to_string()
}

async fn get_products(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if headers.get("x-amz-target").and_then(|v| v.to_str().ok())
        != Some("AWSPriceListService.GetProducts")
    {
        return (StatusCode::BAD_REQUEST, "not GetProducts").into_response();
    }
    let Ok(req) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let filters: BTreeMap<String, String> = req["Filters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["Type"] == "TERM_MATCH")
        .map(|f| {
            (
                f["Field"].as_str().unwrap_or("").to_owned(),
                f["Value"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let service_code = req["ServiceCode"].as_str().unwrap_or("").to_owned();
    let mut inner = inner.lock().unwrap();
    let mut call = filters.clone();
    call.insert("ServiceCode".into(), service_code.clone());
    inner.calls.push(call);
    // As AWS does: a product matches when every TERM_MATCH filter equals its attribute.
    let list: Vec<String> = inner
        .products
        .iter()
        .filter(|p| p.service_code == service_code)
        .filter(|p| filters.iter().all(|(k, v)| p.attributes.get(k) == Some(v)))
        .map(document)
        .collect();
    (
        [("content-type", "application/x-amz-json-1.1")],
        json!({"FormatVersion": "aws_v1", "PriceList": list}).to_string(),
    )
        .into_response()
}

impl PricingStandIn {
    /// EC2 Linux prices: `(instance type, region, USD an hour)`.
    pub async fn start(prices: &[(&str, &str, f64)]) -> PricingStandIn {
        let products = prices
            .iter()
            .map(|(t, r, usd)| Product::ec2(t, r, *usd))
            .collect();
        PricingStandIn::with(products).await
    }

    pub async fn with(products: Vec<Product>) -> PricingStandIn {
        let inner = Arc::new(Mutex::new(Inner {
            products,
            calls: Vec::new(),
        }));
        let app = Router::new()
            .route("/", post(get_products))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PricingStandIn { url, inner }
    }

    /// The filters of every GetProducts call so far, with its `ServiceCode`.
    pub fn calls(&self) -> Vec<BTreeMap<String, String>> {
        self.inner.lock().unwrap().calls.clone()
    }
}
