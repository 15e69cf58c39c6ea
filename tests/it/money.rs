//! Money rules on moto: the billing metric (with its `LinkedAccount` dimension, put where AWS
//! keeps it: in the payer, us-east-1), and on-demand prices from a local stand-in for the Price
//! List Query API (moto has no pricing service), reached through `AWS_ENDPOINT_URL_PRICING`.

use crate::common::billing::estimated_charges;
use crate::common::config::Toml;
use crate::common::pricing::PricingStandIn;
use crate::common::*;

fn accounts(payer: &str, member: &str) -> String {
    Toml::new()
        .payer(&["us-east-1"], payer)
        .member("member", &["us-east-1"], member)
        .into()
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
    estimated_charges(&payer, None, &[(2, 700.0)]).await;
    estimated_charges(&payer, Some(MEMBER), &[(2, 612.5)]).await;
    // The member's own account has no billing data on AWS; a point there must not be read.
    estimated_charges(&moto.sdk_in(MEMBER, "us-east-1").await, None, &[(2, 5.0)]).await;
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
    estimated_charges(&payer, None, &[(4, 880.0), (3, 900.0), (1, 30.0)]).await;
    // One point in the window: the rate cannot be said.
    estimated_charges(&payer, Some(MEMBER), &[(2, 100.0), (30, 10.0)]).await;
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

/// An Aurora PostgreSQL cluster with `members` instances of `class`, all `available` at once
/// in moto.
async fn aurora(sdk: &aws_config::SdkConfig, id: &str, class: &str, members: usize) {
    let rds = aws_sdk_rds::Client::new(sdk);
    rds.create_db_cluster()
        .db_cluster_identifier(id)
        .engine("aurora-postgresql")
        .master_username("guard")
        .master_user_password("correct-horse-battery")
        .send()
        .await
        .expect("CreateDBCluster");
    for n in 0..members {
        rds.create_db_instance()
            .db_instance_identifier(format!("{id}-{n}"))
            .db_cluster_identifier(id)
            .db_instance_class(class)
            .engine("aurora-postgresql")
            .send()
            .await
            .expect("CreateDBInstance in a cluster");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn databases_notebooks_and_endpoints_are_priced_into_the_burn_rate() {
    use crate::common::pricing::Product;
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    launch_type(&sdk, "t3.micro", 1).await;
    crate::common::services::database(&sdk, "orders", &[]).await;
    aurora(&sdk, "ledger", "db.r6g.large", 2).await;
    crate::common::services::notebook(&sdk, "scratch").await;
    crate::common::services::endpoint(&sdk, "llm", "ml.g4dn.xlarge", 3).await;
    let rds = |class: &str, engine: &str, usd| {
        Product::of(
            "AmazonRDS",
            &[
                ("instanceType", class),
                ("regionCode", "us-east-1"),
                ("databaseEngine", engine),
                ("deploymentOption", "Single-AZ"),
            ],
            usd,
        )
    };
    let sagemaker = |t: &str, component: &str, usd| {
        Product::of(
            "AmazonSageMaker",
            &[
                ("instanceType", t),
                ("regionCode", "us-east-1"),
                ("component", component),
            ],
            usd,
        )
    };
    let mut products = vec![
        Product::ec2("t3.micro", "us-east-1", 0.0104),
        rds("db.t3.micro", "PostgreSQL", 0.018),
        // The same class for another engine: not this database's price.
        rds("db.t3.micro", "Oracle", 0.5),
        rds("db.r6g.large", "Aurora PostgreSQL", 0.26),
        sagemaker("ml.t3.medium", "Notebook", 0.05),
        // The same type hosting an endpoint costs otherwise: not the notebook's price.
        sagemaker("ml.t3.medium", "Hosting", 0.07),
    ];
    let w = Workdir::new(&accounts("max_burn_rate_usd_per_hour = 4.0", ""));
    let env_of = |url: &str| vec![("AWS_ENDPOINT_URL_PRICING".to_owned(), url.to_owned())];

    // The endpoint's type has no price yet: an error naming it, never a zero.
    let pricing = PricingStandIn::with(products.clone()).await;
    let env = env_of(&pricing.url);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = w.run(&moto.url, &["check", "--json"], &env).await;
    assert_eq!(out.code, 3, "{out:?}");
    let payer = account_of(&out.json(), PAYER).clone();
    assert!(
        payer["burn_rate_usd_per_hour"].is_null(),
        "never a zero: {payer}"
    );
    assert!(
        payer["errors"]
            .to_string()
            .contains("no on-demand price for ml.g4dn.xlarge (us-east-1, SageMaker Hosting)"),
        "{payer}"
    );

    products.push(sagemaker("ml.g4dn.xlarge", "Hosting", 1.41));
    let pricing = PricingStandIn::with(products).await;
    let env = env_of(&pricing.url);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // Another journal: the first run kept "no price" for the endpoint's type a day.
    let w = Workdir::new(&accounts(
        "max_burn_rate_usd_per_hour = 4.0\nhalt_services = [\"sagemaker\"]",
        "",
    ));
    let out = w.run(&moto.url, &["check", "--json"], &env).await;
    assert_eq!(out.code, 1, "{out:?}");
    let payer = account_of(&out.json(), PAYER).clone();
    let burn = payer["burn_rate_usd_per_hour"].as_f64().unwrap();
    let expected = 0.0104 + 0.018 + 2.0 * 0.26 + 0.05 + 3.0 * 1.41;
    assert!((burn - expected).abs() < 1e-6, "{burn} != {expected}");
    assert_eq!(payer["violations"][0]["rule"], "max_burn_rate_usd_per_hour");
    let top = &payer["top_instance_types"][0];
    assert_eq!(
        (top["instance_type"].as_str(), top["instances"].as_u64()),
        (Some("ml.g4dn.xlarge"), Some(3))
    );
    assert_eq!(top["accelerated"], true, "a GPU endpoint: {top}");
    // Each product asked of its own service, with its own filters.
    let calls = pricing.calls();
    let of = |code: &str| calls.iter().filter(|c| c["ServiceCode"] == code).count();
    assert_eq!(
        (of("AmazonEC2"), of("AmazonRDS"), of("AmazonSageMaker")),
        (1, 2, 2),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.get("databaseEngine").map(String::as_str) == Some("Aurora PostgreSQL"))
    );
    // The services it read for the burn rate are in the report.
    assert_eq!(
        payer["services"]["rds"]["running"], 2,
        "an instance and a cluster: {payer}"
    );
    // Without the rule nothing is priced, whatever runs: no Price List call.
    let asked = pricing.calls().len();
    let unpriced = Workdir::new(&accounts("halt_services = [\"all\"]", ""));
    let out = unpriced.run(&moto.url, &["check", "--json"], &env).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        pricing.calls().len(),
        asked,
        "no price asked without the rule"
    );

    // A halt never deletes the endpoint: it says what it runs and, from the prices the check
    // kept, what it costs an hour (no Price List call of its own).
    let asked = pricing.calls().len();
    let out = w.run(&moto.url, &["halt", "--yes", "--json"], &env).await;
    assert_eq!(pricing.calls().len(), asked, "{out:?}");
    let skipped = &out.json()["accounts"][0]["services"]["sagemaker"]["skipped"];
    let reason = skipped[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("3 × ml.g4dn.xlarge") && reason.contains("$4.23 an hour"),
        "{skipped}"
    );
}
