//! Money rules on moto: the billing metric (with its `LinkedAccount` dimension, put where AWS
//! keeps it: in the payer, us-east-1), and on-demand prices from a local stand-in for the Price
//! List Query API (moto has no pricing service), reached through `AWS_ENDPOINT_URL_PRICING`.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use chrono::{Duration, Utc};

use crate::common::pricing::PricingStandIn;
use crate::common::*;

/// Puts `EstimatedCharges` points in the account of `sdk`, `(hours ago, USD)`; `linked`: the
/// member account they are of. The hours are counted from one instant, so that the points are
/// whole hours apart and fall in the same place of any hourly period CloudWatch reads them by.
async fn charges(sdk: &aws_config::SdkConfig, linked: Option<&str>, points: &[(i64, f64)]) {
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

fn accounts(payer: &str, member: &str) -> String {
    format!(
        r#"
[guard]
state_path = "journal.db"

[[accounts]]
id = "{PAYER}"
name = "payer"
regions = ["us-east-1"]
{payer}

[[accounts]]
id = "{MEMBER}"
name = "member"
role_arn = "{MEMBER_ROLE}"
regions = ["us-east-1"]
{member}
"#
    )
}

fn account_of<'a>(r: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    r["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account_id"] == id)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_accounts_charges_are_read_in_the_payer_by_its_linked_account() {
    let moto = Moto::start();
    let payer = moto.sdk("us-east-1").await;
    charges(&payer, None, &[(2, 700.0)]).await;
    charges(&payer, Some(MEMBER), &[(2, 612.5)]).await;
    // The member's own account has no billing data on AWS; a point there must not be read.
    charges(&moto.sdk_in(MEMBER, "us-east-1").await, None, &[(2, 5.0)]).await;
    let w = Workdir::new(&accounts(
        "max_estimated_charges_usd = 1000.0",
        "max_estimated_charges_usd = 500.0",
    ));
    let out = w.run(&moto.url, &["check", "--json"], &[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let r = out.json();
    assert_eq!(account_of(&r, PAYER)["estimated_charges_usd"], 700.0);
    assert_eq!(account_of(&r, PAYER)["state"], "ok");
    let member = account_of(&r, MEMBER);
    assert_eq!(member["estimated_charges_usd"], 612.5);
    assert_eq!(member["violations"][0]["rule"], "max_estimated_charges_usd");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_spend_rate_crosses_a_month_boundary_and_too_few_points_are_an_error() {
    let moto = Moto::start();
    let payer = moto.sdk("us-east-1").await;
    // The month ends at 900 and the next starts again from zero: 20 + 30 in 3 hours. The
    // oldest point stays well inside the 6 h window even once read into its hourly period.
    charges(&payer, None, &[(4, 880.0), (3, 900.0), (1, 30.0)]).await;
    // One point in the window: the rate cannot be said.
    charges(&payer, Some(MEMBER), &[(2, 100.0), (30, 10.0)]).await;
    let w = Workdir::new(&accounts(
        "max_spend_rate_usd_per_hour = 10.0",
        "max_spend_rate_usd_per_hour = 10.0\nspend_window = \"6h\"",
    ));
    let out = w.run(&moto.url, &["check", "--json"], &[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let r = out.json();
    let payer_report = account_of(&r, PAYER);
    let rate = payer_report["spend_rate_usd_per_hour"].as_f64().unwrap();
    assert!((rate - 50.0 / 3.0).abs() < 1e-9, "{payer_report}");
    assert_eq!(
        payer_report["violations"][0]["rule"],
        "max_spend_rate_usd_per_hour"
    );
    let member = account_of(&r, MEMBER);
    assert_eq!(member["state"], "error", "{member}");
    assert!(member["spend_rate_usd_per_hour"].is_null());
    assert!(member["errors"].to_string().contains("only 1"), "{member}");
}

async fn launch_type(sdk: &aws_config::SdkConfig, instance_type: &str, n: i32) {
    aws_sdk_ec2::Client::new(sdk)
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(instance_type.into())
        .min_count(n)
        .max_count(n)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_few_gpus_cross_the_burn_rate_while_the_count_stays_under_and_prices_are_kept_a_day() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    launch_type(&sdk, "p4d.24xlarge", 3).await;
    launch_type(&sdk, "t3.micro", 1).await;
    let pricing = PricingStandIn::start(&[
        ("p4d.24xlarge", "us-east-1", 32.7726),
        ("t3.micro", "us-east-1", 0.0104),
    ])
    .await;
    let w = Workdir::new(&accounts(
        "max_running_instances = 10\nmax_burn_rate_usd_per_hour = 50.0",
        "",
    ));
    let env = [("AWS_ENDPOINT_URL_PRICING", pricing.url.as_str())];
    let out = w.run(&moto.url, &["check", "--json"], &env).await;
    assert_eq!(out.code, 1, "{out:?}");
    let payer = account_of(&out.json(), PAYER).clone();
    assert_eq!(payer["running_instances"], 4);
    let violations: Vec<&str> = payer["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        violations,
        ["max_burn_rate_usd_per_hour"],
        "the count is under its limit"
    );
    let burn = payer["burn_rate_usd_per_hour"].as_f64().unwrap();
    assert!((burn - (3.0 * 32.7726 + 0.0104)).abs() < 1e-6, "{burn}");
    let top = &payer["top_instance_types"][0];
    assert_eq!(top["instance_type"], "p4d.24xlarge");
    assert_eq!(
        (top["instances"].as_u64(), top["accelerated"].as_bool()),
        (Some(3), Some(true))
    );
    // The Price List was asked with AWS's filters, once per type.
    let calls = pricing.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    for c in &calls {
        assert_eq!(c["regionCode"], "us-east-1");
        assert_eq!(c["operatingSystem"], "Linux");
        assert_eq!(c["tenancy"], "Shared");
        assert_eq!(c["preInstalledSw"], "NA");
        assert_eq!(c["capacitystatus"], "Used");
    }
    // The table says it too.
    let table = w.run(&moto.url, &["check"], &env).await;
    assert!(table.stdout.contains("p4d.24xlarge ×3"), "{table:?}");
    assert!(table.stdout.contains("(accelerated)"), "{table:?}");
    assert_eq!(
        pricing.calls().len(),
        2,
        "prices come from the journal within a day"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_price_is_an_error_for_that_type_never_a_zero() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    launch_type(&sdk, "t3.micro", 2).await;
    let pricing = PricingStandIn::start(&[]).await;
    let w = Workdir::new(&accounts("max_burn_rate_usd_per_hour = 50.0", ""));
    let out = w
        .run(
            &moto.url,
            &["check", "--json"],
            &[("AWS_ENDPOINT_URL_PRICING", pricing.url.as_str())],
        )
        .await;
    assert_eq!(out.code, 3, "{out:?}");
    let payer = account_of(&out.json(), PAYER).clone();
    assert_eq!(payer["state"], "error");
    assert!(payer["burn_rate_usd_per_hour"].is_null(), "never a zero");
    assert!(
        payer["errors"]
            .to_string()
            .contains("no on-demand price for t3.micro"),
        "{payer}"
    );
}
