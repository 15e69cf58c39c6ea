//! The billing metric as AWS keeps it: `AWS/Billing` `EstimatedCharges` in the payer, us-east-1,
//! with a `LinkedAccount` dimension for a member's share.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use chrono::{Duration, Utc};

/// Puts `EstimatedCharges` points in the account of `sdk`, `(hours ago, USD)`; `linked`: the
/// member account they are of. The hours are counted from one instant, so that the points are
/// whole hours apart and fall in the same place of any hourly period CloudWatch reads them by.
pub async fn estimated_charges(
    sdk: &aws_config::SdkConfig,
    linked: Option<&str>,
    points: &[(i64, f64)],
) {
    let cw = aws_sdk_cloudwatch::Client::new(sdk);
    let reference = Utc::now();
    for (ago, usd) in points {
        let at = reference - Duration::hours(*ago);
        let mut datum = MetricDatum::builder()
            .metric_name("EstimatedCharges")
            .dimensions(Dimension::builder().name("Currency").value("USD").build())
            .timestamp(aws_smithy_types::DateTime::from_secs(at.timestamp()))
            .value(*usd);
        if let Some(account) = linked {
            datum = datum.dimensions(
                Dimension::builder()
                    .name("LinkedAccount")
                    .value(account)
                    .build(),
            );
        }
        cw.put_metric_data()
            .namespace("AWS/Billing")
            .metric_data(datum.build())
            .send()
            .await
            .unwrap();
    }
}
