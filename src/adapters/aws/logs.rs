//! CloudWatch Logs: the CloudTrail records of an account's launch calls, from the log group its
//! trail delivers to. One FilterLogEvents per call name, with a quoted term pattern (AWS also
//! has JSON patterns; the emulator does not, and the records are parsed in the core anyway),
//! over every page.

use aws_types::region::Region;
use chrono::{DateTime, Utc};

use super::{AwsAccount, classify};
use crate::ports::CloudError;

/// A bound on what one window may bring back: a runaway's records, not a month of a busy trail.
const MAX_RECORDS: usize = 10_000;

pub(super) async fn records(
    acc: &AwsAccount,
    group: &str,
    region: Option<&crate::config::RegionName>,
    event_names: &[&str],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<String>, CloudError> {
    let conf = aws_sdk_cloudwatchlogs::config::Builder::from(&acc.sdk)
        .region(Region::new(region.unwrap_or(&acc.home_region).to_string()))
        .build();
    let logs = aws_sdk_cloudwatchlogs::Client::from_conf(conf);
    let mut out = Vec::new();
    for name in event_names {
        let mut pages = logs
            .filter_log_events()
            .log_group_name(group)
            .filter_pattern(format!("\"{name}\""))
            .start_time(since.timestamp_millis())
            .end_time(until.timestamp_millis())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("logs:FilterLogEvents", e))?;
            out.extend(
                page.events()
                    .iter()
                    .filter_map(|e| e.message().map(str::to_owned)),
            );
            if out.len() >= MAX_RECORDS {
                return Ok(out);
            }
        }
    }
    Ok(out)
}
