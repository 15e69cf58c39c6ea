//! A local stand-in for Amazon Bedrock's control plane, which the emulator does not serve (moto's
//! `bedrock` has custom models, jobs and logging, not foundation models): GetFoundationModel
//! (`GET /foundation-models/{modelIdentifier}`) answered in AWS's REST-JSON wire format, with
//! `x-amzn-ErrorType: ResourceNotFoundException` for a model it does not know; every call
//! recorded. Reached through `AWS_ENDPOINT_URL_BEDROCK`.

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

#[derive(Default)]
struct Inner {
    models: Vec<FoundationModel>,
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
            calls: Vec::new(),
        }));
        let app = Router::new()
            .route("/foundation-models/{id}", get(get_foundation_model))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        BedrockStandIn { url, inner }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<String> {
        self.inner.lock().unwrap().calls.clone()
    }
}
