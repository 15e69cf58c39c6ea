//! CloudWatch: the billing metric `AWS/Billing` `EstimatedCharges`.

use std::time::{Duration, SystemTime};

use aws_types::region::Region;

use super::{AwsAccount, classify};
use crate::ports::CloudError;

pub(super) async fn estimated_charges_usd(acc: &AwsAccount) -> Result<Option<f64>, CloudError> {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
    let conf = aws_sdk_cloudwatch::config::Builder::from(&acc.sdk)
        .region(Region::new(acc.home_region.to_string()))
        .build();
    let cw = aws_sdk_cloudwatch::Client::from_conf(conf);
    let now = SystemTime::now();
    let query = MetricDataQuery::builder()
        .id("charges")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("AWS/Billing")
                        .metric_name("EstimatedCharges")
                        .dimensions(Dimension::builder().name("Currency").value("USD").build())
                        .build(),
                )
                .period(3600)
                .stat("Maximum")
                .build(),
        )
        .build();
    let out = cw
        .get_metric_data()
        .metric_data_queries(query)
        .start_time((now - Duration::from_secs(24 * 3600)).into())
        .end_time(now.into())
        .scan_by(ScanBy::TimestampDescending)
        .send()
        .await
        .map_err(|e| classify("cloudwatch:GetMetricData", e))?;
    // The newest point: the estimate only grows within a month, and resets at its start.
    let latest = out
        .metric_data_results()
        .iter()
        .flat_map(|r| r.timestamps().iter().zip(r.values()))
        .max_by_key(|(t, _)| (t.secs(), t.subsec_nanos()))
        .map(|(_, v)| *v);
    Ok(latest)
}
