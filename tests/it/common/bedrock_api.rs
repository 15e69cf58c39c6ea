//! A local stand-in for Amazon Bedrock's control plane, which the emulator does not serve (moto's
//! `bedrock` has custom models, jobs and logging, not foundation models or provisioned
//! throughput): GetFoundationModel (`GET /foundation-models/{modelIdentifier}`, with
//! `x-amzn-ErrorType: ResourceNotFoundException` for a model it does not know) and
//! ListProvisionedModelThroughputs (`GET /provisioned-model-throughputs`, two a page with
//! `nextToken`) answered in AWS's REST-JSON wire format; every call recorded. Reached through
//! `AWS_ENDPOINT_URL_BEDROCK`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// A foundation model: its id, its name and its provider, as Bedrock says them.
#[derive(Clone)]
pub struct FoundationModel {
    pub id: String,
    pub name: String,
    pub provider: String,
}

/// A provisioned throughput: its name, foundation model id, model units, status and
/// commitment (`OneMonth`, `SixMonths`, or none).
#[derive(Clone)]
pub struct Throughput {
    /// Where it is: listed only to a call signed for this region.
    pub region: &'static str,
    pub name: &'static str,
    pub model: &'static str,
    pub units: u32,
    pub status: &'static str,
    pub commitment: Option<&'static str>,
}

#[derive(Default)]
struct Inner {
    models: Vec<FoundationModel>,
    throughputs: Vec<Throughput>,
    /// Each call: `GetFoundationModel <id>`.
    calls: Vec<String>,
}

#[derive(Clone)]
pub struct BedrockStandIn {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

async fn get_foundation_model(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(id): Path<String>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    inner.calls.push(format!("GetFoundationModel {id}"));
    let Some(m) = inner.models.iter().find(|m| m.id == id) else {
        return (
            StatusCode::NOT_FOUND,
            [
                ("content-type", "application/json"),
                ("x-amzn-errortype", "ResourceNotFoundException"),
            ],
            json!({"message": format!("The model {id} does not exist.")}).to_string(),
        )
            .into_response();
    };
    (
        [("content-type", "application/json")],
        json!({
            "modelDetails": {
                "modelArn": format!("arn:aws:bedrock:us-east-1::foundation-model/{}", m.id),
                "modelId": m.id,
                "modelName": m.name,
                "providerName": m.provider,
                "inputModalities": ["TEXT"],
                "outputModalities": ["TEXT"],
                "responseStreamingSupported": true,
                "customizationsSupported": [],
                "inferenceTypesSupported": ["ON_DEMAND"],
                "modelLifecycle": {"status": "ACTIVE"}
            }
        })
        .to_string(),
    )
        .into_response()
}

async fn list_provisioned(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: axum::http::HeaderMap,
    axum::extract::Query(q): axum::extract::Query<std::collections::BTreeMap<String, String>>,
) -> Response {
    // The region the call is signed for: `Credential=KEY/DATE/REGION/bedrock/aws4_request`.
    let region = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("")
        .to_owned();
    let mut inner = inner.lock().unwrap();
    inner
        .calls
        .push(format!("ListProvisionedModelThroughputs {region}"));
    let start: usize = q.get("nextToken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let all: Vec<Throughput> = inner
        .throughputs
        .iter()
        .filter(|t| t.region == region)
        .cloned()
        .collect();
    let page: Vec<serde_json::Value> = all
        .iter()
        .enumerate()
        .skip(start)
        .take(2)
        .map(|(i, t)| {
            let mut s = json!({
                "provisionedModelName": t.name,
                "provisionedModelArn": format!("arn:aws:bedrock:{}:123456789012:provisioned-model/pm{i:010}", t.region),
                "modelArn": format!("arn:aws:bedrock:{}::foundation-model/{}", t.region, t.model),
                "desiredModelArn": format!("arn:aws:bedrock:{}::foundation-model/{}", t.region, t.model),
                "foundationModelArn": format!("arn:aws:bedrock:{}::foundation-model/{}", t.region, t.model),
                "modelUnits": t.units,
                "desiredModelUnits": t.units,
                "status": t.status,
                "creationTime": "2026-12-06T23:10:00Z",
                "lastModifiedTime": "2026-12-06T23:10:00Z"
            });
            if let Some(c) = t.commitment {
                s["commitmentDuration"] = json!(c);
                s["commitmentExpirationTime"] = json!("2027-06-06T23:10:00Z");
            }
            s
        })
        .collect();
    let mut body = json!({ "provisionedModelSummaries": page });
    if start + 2 < all.len() {
        body["nextToken"] = json!((start + 2).to_string());
    }
    ([("content-type", "application/json")], body.to_string()).into_response()
}

impl BedrockStandIn {
    /// Foundation models: `(id, name, provider)`.
    pub async fn start(models: &[(&str, &str, &str)]) -> BedrockStandIn {
        let inner = Arc::new(Mutex::new(Inner {
            models: models
                .iter()
                .map(|(id, name, provider)| FoundationModel {
                    id: id.to_string(),
                    name: name.to_string(),
                    provider: provider.to_string(),
                })
                .collect(),
            throughputs: Vec::new(),
            calls: Vec::new(),
        }));
        let app = Router::new()
            .route("/foundation-models/{id}", get(get_foundation_model))
            .route("/provisioned-model-throughputs", get(list_provisioned))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        BedrockStandIn { url, inner }
    }

    /// The account's provisioned throughputs from now on.
    pub fn provision(&self, throughputs: Vec<Throughput>) {
        self.inner.lock().unwrap().throughputs = throughputs;
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<String> {
        self.inner.lock().unwrap().calls.clone()
    }
}
