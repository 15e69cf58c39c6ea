//! CloudWatch: the billing metric `AWS/Billing` `EstimatedCharges`, the payer's total or a
//! member's `LinkedAccount` series.

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
