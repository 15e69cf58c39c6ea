//! Amazon Bedrock's usage in one account and region, from CloudWatch's `AWS/Bedrock` metrics:
//! the models that have an `Invocations` series (ListMetrics), then each model's invocations
//! and input and output tokens summed over the window (GetMetricData, 500 queries a call).

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{Dimension, DimensionFilter, Metric, MetricDataQuery, MetricStat};
use aws_types::region::Region;

use super::classify;
use crate::config::RegionName;
use crate::core::bedrock::ModelUsage;
use crate::ports::CloudError;

const NAMESPACE: &str = "AWS/Bedrock";
const METRICS: [&str; 3] = ["Invocations", "InputTokenCount", "OutputTokenCount"];
/// GetMetricData takes at most 500 queries a call.
const QUERIES_PER_CALL: usize = 498;

fn time(t: chrono::DateTime<chrono::Utc>) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(t.timestamp().max(0) as u64)
}

pub(super) async fn usage(
    sdk: &SdkConfig,
    region: &RegionName,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<ModelUsage>, CloudError> {
    let conf = aws_sdk_cloudwatch::config::Builder::from(sdk)
        .region(Region::new(region.to_string()))
        .build();
    let cw = aws_sdk_cloudwatch::Client::from_conf(conf);
    let mut models = Vec::new();
    let mut pages = cw
        .list_metrics()
        .namespace(NAMESPACE)
        .metric_name("Invocations")
        .dimensions(DimensionFilter::builder().name("ModelId").build())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("cloudwatch:ListMetrics", e))?;
        for m in page.metrics() {
            let only_model = m.dimensions().len() == 1;
            if let Some(id) = m
                .dimensions()
                .iter()
                .find(|d| d.name() == Some("ModelId"))
                .and_then(|d| d.value())
                .filter(|_| only_model)
            {
                models.push(id.to_owned());
            }
        }
    }
    models.sort();
    models.dedup();
    // Query ids: `m<model index>_<metric index>`.
    let queries: Vec<MetricDataQuery> = models
        .iter()
        .enumerate()
        .flat_map(|(i, model)| {
            METRICS.iter().enumerate().map(move |(j, name)| {
                let metric = Metric::builder()
                    .namespace(NAMESPACE)
                    .metric_name(*name)
                    .dimensions(Dimension::builder().name("ModelId").value(model).build())
                    .build();
                MetricDataQuery::builder()
                    .id(format!("m{i}_{j}"))
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric)
                            .period(60)
                            .stat("Sum")
                            .build(),
                    )
                    .build()
            })
        })
        .collect();
    let mut sums: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    for chunk in queries.chunks(QUERIES_PER_CALL) {
        let mut pages = cw
            .get_metric_data()
            .set_metric_data_queries(Some(chunk.to_vec()))
            .start_time(time(since).into())
            .end_time(time(until).into())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("cloudwatch:GetMetricData", e))?;
            for r in page.metric_data_results() {
                let Some((i, j)) = r
                    .id()
                    .and_then(|id| id.strip_prefix('m'))
                    .and_then(|id| id.split_once('_'))
                    .and_then(|(i, j)| Some((i.parse().ok()?, j.parse().ok()?)))
                else {
                    continue;
                };
                *sums.entry((i, j)).or_default() += r.values().iter().sum::<f64>();
            }
        }
    }
    Ok(models
        .into_iter()
        .enumerate()
        .map(|(i, model_id)| ModelUsage {
            model_id,
            invocations: sums.get(&(i, 0)).copied().unwrap_or(0.0),
            input_tokens: sums.get(&(i, 1)).copied().unwrap_or(0.0),
            output_tokens: sums.get(&(i, 2)).copied().unwrap_or(0.0),
        })
        .collect())
}
