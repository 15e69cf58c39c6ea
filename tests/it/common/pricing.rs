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

#[derive(Default)]
struct Inner {
    /// `(instance type, region code, operating system)` → USD an hour.
    prices: BTreeMap<(String, String, String), f64>,
    /// The filters of every call, as sent.
    calls: Vec<BTreeMap<String, String>>,
}

#[derive(Clone)]
pub struct PricingStandIn {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

/// A product of the Price List with its one on-demand term, as GetProducts returns it.
fn product(instance_type: &str, region: &str, os: &str, usd: f64) -> String {
    json!({
        "product": {
            "productFamily": "Compute Instance",
            "attributes": {
                "instanceType": instance_type, "regionCode": region, "operatingSystem": os,
                "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"
            },
            "sku": "ABCDEFGHIJKLMNOP"
        },
        "serviceCode": "AmazonEC2",
        "terms": {
            "OnDemand": {
                "ABCDEFGHIJKLMNOP.JRTCKXETXF": {
                    "priceDimensions": {
                        "ABCDEFGHIJKLMNOP.JRTCKXETXF.6YS6EN2CT7": {
                            "unit": "Hrs",
                            "description": format!("${usd} per On Demand {os} {instance_type} Instance Hour"),
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
    let mut inner = inner.lock().unwrap();
    inner.calls.push(filters.clone());
    let get = |k: &str| filters.get(k).cloned().unwrap_or_default();
    let key = (
        get("instanceType"),
        get("regionCode"),
        get("operatingSystem"),
    );
    let list: Vec<String> = inner
        .prices
        .get(&key)
        .map(|usd| vec![product(&key.0, &key.1, &key.2, *usd)])
        .unwrap_or_default();
    (
        [("content-type", "application/x-amz-json-1.1")],
        json!({"FormatVersion": "aws_v1", "PriceList": list}).to_string(),
    )
        .into_response()
}

impl PricingStandIn {
    pub async fn start(prices: &[(&str, &str, f64)]) -> PricingStandIn {
        let inner = Arc::new(Mutex::new(Inner {
            prices: prices
                .iter()
                .map(|(t, r, usd)| ((t.to_string(), r.to_string(), "Linux".to_owned()), *usd))
                .collect(),
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

    /// The filters of every GetProducts call so far.
    pub fn calls(&self) -> Vec<BTreeMap<String, String>> {
        self.inner.lock().unwrap().calls.clone()
    }
}
