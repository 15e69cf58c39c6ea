//! `runaway check` against a real moto server: every region of two accounts (the second through
//! an assumed role), pagination past moto's 100-reservation pages, billing, exit statuses and
//! configuration errors.

use std::time::{Duration, SystemTime};

use crate::common::config::Toml;
use crate::common::*;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use serde_json::json;

fn two_accounts(payer_limit: u64, member_limit: u64) -> String {
    Toml::new()
        .payer(
            &["us-east-1", "eu-west-1", "sa-east-1"],
            &format!("max_running_instances = {payer_limit}"),
        )
        .member(
            "research",
            &[],
            &format!("max_running_instances = {member_limit}"),
        )
        .into()
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_every_region_of_every_account_and_fails_the_rule() {
    let moto = Moto::start();
    launch(&moto.sdk("us-east-1").await, 3, &[], false).await;
    launch(&moto.sdk("eu-west-1").await, 2, &[], true).await;
    // The member account's instances live in its own scope: only the assumed role sees them.
    launch(&moto.sdk_in(MEMBER, "ap-southeast-2").await, 4, &[], false).await;
    launch(&moto.sdk_in(MEMBER, "eu-north-1").await, 1, &[], false).await;

    let w = Workdir::new(&two_accounts(4, 10));
    let out = w.run(&moto.url, &["check", "--json"], &[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let r = out.json();
    assert_eq!(r["state"], "fail");
    let payer = &r["accounts"][0];
    assert_eq!(payer["state"], "fail");
    assert_eq!(payer["running_instances"], 5);
    assert_eq!(
        payer["regions"],
        json!({"us-east-1": 3, "eu-west-1": 2, "sa-east-1": 0})
    );
    assert_eq!(
        payer["violations"],
        json!([{"rule": "max_running_instances", "limit": 4, "observed": 5}])
    );
    assert_eq!(payer["errors"], json!([]));

    let member = &r["accounts"][1];
    assert_eq!(member["state"], "ok", "{member}");
    assert_eq!(member["running_instances"], 5);
    let regions = member["regions"].as_object().unwrap();
    assert_eq!(regions["ap-southeast-2"], 4);
    assert_eq!(regions["eu-north-1"], 1);
    // Discovered: enabled regions of the account's partition only (moto marks cn- and us-gov-
    // regions opt-in-not-required too) and not the ones not opted in.
    assert!(
        regions.contains_key("us-east-1") && regions.contains_key("sa-east-1"),
        "{regions:?}"
    );
    assert!(
        !regions
            .keys()
            .any(|r| r.starts_with("cn-") || r.starts_with("us-gov-")),
        "{regions:?}"
    );
    assert!(
        !regions.contains_key("ap-east-1") && !regions.contains_key("me-south-1"),
        "{regions:?}"
    );
    assert!(regions.values().all(|n| n.is_number()));

    // The human table says the same.
    let out = w.run(&moto.url, &["check"], &[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains("max_running_instances 5 > 4"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("running: eu-west-1 2, us-east-1 3"),
        "{out:?}"
    );

    // Raise the limit: all ok, exit 0.
    let w = Workdir::new(&two_accounts(5, 10));
    let out = w.run(&moto.url, &["check", "--json"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["state"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn paginates_past_a_hundred_reservations() {
    let moto = Moto::start();
    // 130 reservations in one region: moto answers 100 per page.
    launch(&moto.sdk("us-east-1").await, 130, &[], true).await;
    let w = Workdir::new(&format!(
        "[[accounts]]\nid = \"{PAYER}\"\nregions = [\"us-east-1\"]\nmax_running_instances = 200\n"
    ));
    let out = w.run(&moto.url, &["check", "--json"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["accounts"][0]["regions"]["us-east-1"], 130);
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_estimated_charges_from_the_billing_metric() {
    let moto = Moto::start();
    let cw = aws_sdk_cloudwatch::Client::new(&moto.sdk("us-east-1").await);
    // Stamped a few minutes back, as AWS publishes it: "now" may fall outside the window.
    for (minutes_ago, usd) in [(300, 480.0), (10, 612.5)] {
        cw.put_metric_data()
            .namespace("AWS/Billing")
            .metric_data(
                MetricDatum::builder()
                    .metric_name("EstimatedCharges")
                    .dimensions(Dimension::builder().name("Currency").value("USD").build())
                    .value(usd)
                    .timestamp((SystemTime::now() - Duration::from_secs(minutes_ago * 60)).into())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let config = |limit: f64| {
        format!(
            "[[accounts]]\nid = \"{PAYER}\"\nregions = [\"us-east-1\"]\nmax_estimated_charges_usd = {limit:?}\n"
        )
    };
    let out = Workdir::new(&config(500.0))
        .run(&moto.url, &["check", "--json"], &[])
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    let a = &out.json()["accounts"][0];
    assert_eq!(a["estimated_charges_usd"], 612.5);
    assert_eq!(
        a["violations"],
        json!([{"rule": "max_estimated_charges_usd", "limit": 500.0, "observed": 612.5}])
    );

    let out = Workdir::new(&config(1000.0))
        .run(&moto.url, &["check", "--json"], &[])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_billing_data_is_an_error_not_a_zero() {
    let moto = Moto::start();
    let w = Workdir::new(&format!(
        "[[accounts]]\nid = \"{PAYER}\"\nregions = [\"us-east-1\"]\nmax_estimated_charges_usd = 10.0\n"
    ));
    let out = w.run(&moto.url, &["check", "--json"], &[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let a = &out.json()["accounts"][0];
    assert_eq!(a["state"], "error");
    assert_eq!(a["estimated_charges_usd"], serde_json::Value::Null);
    assert!(
        a["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("EstimatedCharges"),
        "{a}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_endpoint_is_exit_3_with_a_clear_message() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let w = Workdir::new(&two_accounts(4, 10));
    let out = w.run(&closed, &["check", "--json"], &[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
    let r = out.json();
    assert_eq!(r["state"], "error");
    for a in r["accounts"].as_array().unwrap() {
        assert_eq!(a["state"], "error");
        let msg = a["errors"][0]["message"].as_str().unwrap();
        assert!(msg.contains("cannot reach AWS"), "{msg}");
        assert!(!msg.contains("testing"), "a credential leaked into {msg}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ambient_credentials_of_another_account_are_refused() {
    let moto = Moto::start();
    launch(&moto.sdk("us-east-1").await, 1, &[], false).await;
    // The file says the ambient credentials are 111111111111; moto says they are 123456789012.
    let w = Workdir::new(
        "[[accounts]]\nid = \"111111111111\"\nregions = [\"us-east-1\"]\nmax_running_instances = 0\n",
    );
    let out = w.run(&moto.url, &["check", "--json"], &[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let msg = out.json()["accounts"][0]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("belong to account 123456789012, not 111111111111"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_is_exit_2_naming_file_and_key() {
    let moto = Moto::start();
    for (text, key, expected) in [
        ("[[accounts]]\nid = \"123\"\n", "accounts[0].id", "12-digit"),
        (
            "[[accounts]]\nid = \"123456789012\"\nmax_running_instances = -2\n",
            "accounts[0].max_running_instances",
            "non-negative",
        ),
        (
            "[[accounts]]\nid = \"123456789012\"\nmax_running_instances = \"ten\"\n",
            "accounts[0].max_running_instances",
            "invalid type",
        ),
        (
            "[guard]\nhome_regio = \"us-east-1\"\n[[accounts]]\nid = \"123456789012\"\n",
            "guard.home_regio",
            "unknown field",
        ),
        (
            "[[accounts]]\nid = \"222222222222\"\nrole_arn = \"arn:aws:iam::222222222222:user/x\"\n",
            "accounts[0].role_arn",
            "role ARN",
        ),
    ] {
        let w = Workdir::new(text);
        let out = w.run(&moto.url, &["check"], &[]).await;
        assert_eq!(out.code, 2, "{text}: {out:?}");
        // The file is named as found: ./runaway.toml by default.
        assert!(
            out.stderr.contains(&format!("runaway.toml: {key}: ")),
            "{text}: {out:?}"
        );
        assert!(out.stderr.contains(expected), "{text}: {out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
    }
    // A file that is not there, named by --config.
    let w = Workdir::new("");
    let out = w
        .run(&moto.url, &["--config", "nope.toml", "check"], &[])
        .await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("nope.toml"), "{out:?}");
}
