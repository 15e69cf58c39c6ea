//! Lambda: every function of a region with its reserved concurrency; holding one at zero
//! concurrency (it cannot run) and giving back what it had.

use futures::StreamExt;
use futures::future::BoxFuture;

use super::{AwsAccount, classify};
use crate::config::RegionName;
use crate::core::services::{Resource, Service, What};
use crate::ports::CloudError;

/// Every function not already held at zero concurrency.
pub(super) async fn resources(
    acc: &AwsAccount,
    region: &RegionName,
    tags: bool,
) -> Result<Vec<Resource>, CloudError> {
    let client = acc.lambda(region);
    let mut functions = Vec::new();
    let mut pages = client.list_functions().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("lambda:ListFunctions", e))?;
        for f in page.functions() {
            if let (Some(name), Some(arn)) = (f.function_name(), f.function_arn()) {
                functions.push((name.to_owned(), arn.to_owned()));
            }
        }
    }
    // Two reads a function, a few functions at once.
    let mut reads: Vec<BoxFuture<'_, Result<Option<Resource>, CloudError>>> = Vec::new();
    for (name, arn) in functions {
        let client = client.clone();
        reads.push(Box::pin(async move {
            let reserved = client
                .get_function_concurrency()
                .function_name(&name)
                .send()
                .await
                .map_err(|e| classify("lambda:GetFunctionConcurrency", e))?
                .reserved_concurrent_executions();
            if reserved == Some(0) {
                return Ok(None);
            }
            let tags = if tags {
                client
                    .list_tags()
                    .resource(&arn)
                    .send()
                    .await
                    .map_err(|e| classify("lambda:ListTags", e))?
                    .tags()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .collect()
            } else {
                Default::default()
            };
            Ok(Some(Resource {
                service: Service::Lambda,
                arn,
                what: What::Function { name, reserved },
                tags,
            }))
        }));
    }
    let read: Vec<Result<Option<Resource>, CloudError>> = futures::stream::iter(reads)
        .buffered(super::READS_AT_ONCE)
        .collect()
        .await;
    let mut out = Vec::with_capacity(read.len());
    for r in read {
        out.extend(r?);
    }
    Ok(out)
}

/// Sets the function's reserved concurrency, or with `None` removes it.
pub(super) async fn set_concurrency(
    acc: &AwsAccount,
    region: &RegionName,
    function: &str,
    reserved: Option<i32>,
) -> Result<(), CloudError> {
    let client = acc.lambda(region);
    match reserved {
        Some(n) => {
            client
                .put_function_concurrency()
                .function_name(function)
                .reserved_concurrent_executions(n)
                .send()
                .await
                .map_err(|e| classify("lambda:PutFunctionConcurrency", e))?;
        }
        None => {
            client
                .delete_function_concurrency()
                .function_name(function)
                .send()
                .await
                .map_err(|e| classify("lambda:DeleteFunctionConcurrency", e))?;
        }
    }
    Ok(())
}
