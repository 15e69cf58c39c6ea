//! The benchmark's baseline: what a first script does to stop everything. Regions one after
//! another; in each, list the running instances, then one StopInstances call per instance.
//! Same SDK, same process start-up, same emulator as `runaway halt`, so the difference measured
//! is the guard's design (concurrent regions, batched calls), not the language.
//!
//! Usage: `naive_halt REGION...` with `AWS_ENDPOINT_URL` and credentials in the environment.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::types::Filter;

#[tokio::main]
async fn main() {
    let regions: Vec<String> = std::env::args().skip(1).collect();
    let base = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let mut stopped = 0usize;
    for region in regions {
        let conf = aws_sdk_ec2::config::Builder::from(&base)
            .region(Region::new(region))
            .build();
        let ec2 = aws_sdk_ec2::Client::from_conf(conf);
        let mut ids = Vec::new();
        let mut pages = ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("running")
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.expect("DescribeInstances");
            for i in page.reservations().iter().flat_map(|r| r.instances()) {
                ids.extend(i.instance_id().map(str::to_owned));
            }
        }
        for id in ids {
            ec2.stop_instances()
                .instance_ids(id)
                .send()
                .await
                .expect("StopInstances");
            stopped += 1;
        }
    }
    println!("{stopped}");
}
