//! CloudWatch: the billing metric `AWS/Billing` `EstimatedCharges`, the payer's total or a
//! member's `LinkedAccount` series; and the guard's own heartbeat.

use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_types::region::Region;

use super::classify;
use crate::config::RegionName;
use crate::ports::CloudError;

pub(super) async fn charges(
    sdk: &SdkConfig,
    region: &RegionName,
    linked: Option<&str>,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<(chrono::DateTime<chrono::Utc>, f64)>, CloudError> {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
    let conf = aws_sdk_cloudwatch::config::Builder::from(sdk)
        .region(Region::new(region.to_string()))
        .build();
    let cw = aws_sdk_cloudwatch::Client::from_conf(conf);
    let mut metric = Metric::builder()
        .namespace("AWS/Billing")
        .metric_name("EstimatedCharges")
        .dimensions(Dimension::builder().name("Currency").value("USD").build());
    if let Some(account) = linked {
        metric = metric.dimensions(
            Dimension::builder()
                .name("LinkedAccount")
                .value(account)
                .build(),
        );
    }
    let query = MetricDataQuery::builder()
        .id("charges")
        .metric_stat(
            MetricStat::builder()
                .metric(metric.build())
                .period(3600)
                .stat("Maximum")
                .build(),
        )
        .build();
    let start =
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(since.timestamp().max(0) as u64);
    let mut pages = cw
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(start.into())
        .end_time(SystemTime::now().into())
        .scan_by(ScanBy::TimestampDescending)
        .into_paginator()
        .send();
    let mut points = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("cloudwatch:GetMetricData", e))?;
        for r in page.metric_data_results() {
            for (t, v) in r.timestamps().iter().zip(r.values()) {
                if let Some(at) = chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()) {
                    points.push((at, *v));
                }
            }
        }
    }
    points.sort_by_key(|(t, _)| *t);
    Ok(points)
}

/// The namespace and name of the heartbeat metric (the contract; the module's alarm).
const HEARTBEAT_NAMESPACE: &str = "Runawaytrain";
const HEARTBEAT_METRIC: &str = "Heartbeat";

pub(super) async fn heartbeat(
    sdk: &SdkConfig,
    region: &RegionName,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), CloudError> {
    use aws_sdk_cloudwatch::types::{MetricDatum, StandardUnit};
    let conf = aws_sdk_cloudwatch::config::Builder::from(sdk)
        .region(Region::new(region.to_string()))
        .build();
    let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(at.timestamp().max(0) as u64);
    aws_sdk_cloudwatch::Client::from_conf(conf)
        .put_metric_data()
        .namespace(HEARTBEAT_NAMESPACE)
        .metric_data(
            MetricDatum::builder()
                .metric_name(HEARTBEAT_METRIC)
                .value(1.0)
                .unit(StandardUnit::Count)
                .timestamp(at.into())
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify("cloudwatch:PutMetricData", e))
}
