//! Amazon Bedrock's control plane: a foundation model's name and provider (GetFoundationModel),
//! which is how the Price List names the model whose tokens it prices; and the provisioned
//! throughputs an account pays for by the hour (ListProvisionedModelThroughputs).

use aws_config::SdkConfig;
use aws_types::region::Region;

use super::classify;
use crate::core::provisioned::Provisioned;
use crate::ports::{CloudError, ErrorKind};

/// A foundation model as Bedrock describes it: `Claude 3 Haiku` by `Anthropic`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ModelName {
    pub name: String,
    pub provider: Option<String>,
}

fn client(sdk: &SdkConfig, region: &str) -> aws_sdk_bedrock::Client {
    let conf = aws_sdk_bedrock::config::Builder::from(sdk)
        .region(Region::new(region.to_owned()))
        .build();
    aws_sdk_bedrock::Client::from_conf(conf)
}

/// The name of foundation model `model_id` in `region`; `None` when Bedrock does not know it
/// there (a custom or imported model, or one not offered in the region).
pub(super) async fn model_name(
    sdk: &SdkConfig,
    region: &str,
    model_id: &str,
) -> Result<Option<ModelName>, CloudError> {
    let out = client(sdk, region)
        .get_foundation_model()
        .model_identifier(model_id)
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            let e = classify("bedrock:GetFoundationModel", e);
            return match e.kind {
                ErrorKind::NotFound => Ok(None),
                _ => Err(e),
            };
        }
    };
    Ok(out.model_details().and_then(|d| {
        Some(ModelName {
            name: d.model_name()?.to_owned(),
            provider: d.provider_name().map(str::to_owned),
        })
    }))
}

/// The provisioned throughputs of the account in `region`, over all pages.
pub(super) async fn provisioned(
    sdk: &SdkConfig,
    region: &str,
) -> Result<Vec<Provisioned>, CloudError> {
    let mut pages = client(sdk, region)
        .list_provisioned_model_throughputs()
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("bedrock:ListProvisionedModelThroughputs", e))?;
        out.extend(
            page.provisioned_model_summaries()
                .iter()
                .map(|p| Provisioned {
                    region: region.to_owned(),
                    name: p.provisioned_model_name().to_owned(),
                    arn: p.provisioned_model_arn().to_owned(),
                    foundation_model_arn: p.foundation_model_arn().to_owned(),
                    model_units: p.model_units().max(0) as u32,
                    status: p.status().as_str().to_owned(),
                    commitment: p.commitment_duration().map(|c| c.as_str().to_owned()),
                    commitment_expires: p.commitment_expiration_time().map(|t| t.to_string()),
                    usd_per_hour: None,
                    unpriced: None,
                }),
        );
    }
    Ok(out)
}
