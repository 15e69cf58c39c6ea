//! The journal on DynamoDB through the command line, on moto's DynamoDB: `journal init` makes
//! the table as the module does, `halt`, `status` and `restore` keep and read their incident
//! there, and a missing or foreign table is exit 2 naming it, before anything changes in AWS.

use crate::common::config::Toml;
use crate::common::*;

fn config(journal: &str) -> String {
    Toml::new()
        .state_path("unused.db")
        .section("journal", journal)
        .payer(&["us-east-1"], "max_running_instances = 0")
        .into()
}

async fn table_keys(sdk: &aws_config::SdkConfig, table: &str) -> (Vec<String>, Vec<String>) {
    let d = aws_sdk_dynamodb::Client::new(sdk)
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap();
    let t = d.table().unwrap();
    (
        t.key_schema()
            .iter()
            .map(|k| format!("{}:{}", k.attribute_name(), k.key_type().as_str()))
            .collect(),
        t.global_secondary_indexes()
            .iter()
            .filter_map(|i| i.index_name().map(str::to_owned))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn init_makes_the_table_and_halt_status_and_restore_keep_their_incident_there() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ids = launch(&sdk, 2, &[], false).await;
    let w = Workdir::new(&config("backend = \"dynamodb\"\ntable = \"guard-journal\""));

    // Before init: nothing can be journaled, so nothing is done.
    let out = w.run(&moto.url, &["halt", "--yes", "--json"], &[]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("dynamodb:guard-journal")
            && out.stderr.contains("runaway journal init"),
        "{out:?}"
    );
    assert_eq!(count(&sdk, "running").await, 2, "nothing stopped");

    let out = w.run(&moto.url, &["journal", "init"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("dynamodb:guard-journal (us-east-1)"),
        "{out:?}"
    );
    let (key, indexes) = table_keys(&sdk, "guard-journal").await;
    assert_eq!(key, ["PK:HASH", "SK:RANGE"]);
    assert_eq!(indexes.len(), 3, "{indexes:?}");
    // A second init checks the table and changes nothing.
    let again = w.run(&moto.url, &["journal", "init"], &[]).await;
    assert_eq!(again.code, 0, "{again:?}");

    let halt = w.run(&moto.url, &["halt", "--yes", "--json"], &[]).await;
    assert_eq!(halt.code, 0, "{halt:?}");
    let incident = halt.json()["incident"].as_str().unwrap().to_owned();
    assert_eq!(count(&sdk, "running").await, 0);
    assert!(!w.path("unused.db").exists(), "no SQLite file is made");

    let status = w
        .run(&moto.url, &["status", &incident, "--json"], &[])
        .await;
    assert_eq!(status.code, 0, "{status:?}");
    let row = &status.json()["incident"];
    assert_eq!(
        (row["id"].as_str(), row["status"].as_str()),
        (Some(incident.as_str()), Some("executed")),
        "{row}"
    );
    let restore = w
        .run(
            &moto.url,
            &["restore", &incident, "--start-instances", "--yes", "--json"],
            &[],
        )
        .await;
    assert_eq!(restore.code, 0, "{restore:?}");
    // Restore read the stops from the table: exactly the instances the halt stopped start.
    assert_eq!(count(&sdk, "running").await, ids.len());
    // Restored once: a second restore has nothing left to undo.
    let twice = w
        .run(
            &moto.url,
            &["restore", &incident, "--start-instances", "--yes", "--json"],
            &[],
        )
        .await;
    assert_eq!(twice.code, 0, "{twice:?}");
    assert_eq!(count(&sdk, "running").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_that_is_not_a_journal_is_refused_by_name() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    aws_sdk_dynamodb::Client::new(&sdk)
        .create_table()
        .table_name("orders")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("order_id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("order_id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    launch(&sdk, 1, &[], false).await;
    let w = Workdir::new(&config("backend = \"dynamodb\"\ntable = \"orders\""));
    for args in [
        &["status"][..],
        &["halt", "--yes"][..],
        &["journal", "init"][..],
    ] {
        let out = w.run(&moto.url, args, &[]).await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(
            out.stderr.contains("dynamodb:orders") && out.stderr.contains("not a journal table"),
            "{args:?}: {out:?}"
        );
    }
    assert_eq!(count(&sdk, "running").await, 1, "nothing stopped");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_section_that_is_wrong_is_exit_2_naming_the_key() {
    let moto = Moto::start();
    for (journal, key) in [
        ("backend = \"mysql\"", "journal.backend"),
        ("table = \"x\"", "journal.table"),
        ("backend = \"dynamodb\"\ntable = \"a b\"", "journal.table"),
        (
            "backend = \"dynamodb\"\nregion = \"mars-1\"",
            "journal.region",
        ),
        ("backend = \"dynamodb\"\ntabel = \"x\"", "tabel"),
    ] {
        let w = Workdir::new(&config(journal));
        let out = w.run(&moto.url, &["status"], &[]).await;
        assert_eq!(out.code, 2, "{journal}: {out:?}");
        assert!(out.stderr.contains(key), "{journal}: {out:?}");
    }
}

/// From one machine to two: a halt journaled in the SQLite file, `journal copy` into a table,
/// and with the configuration moved to that table, `status` and `restore` find the incident
/// and its stops there; copied back to a file, the same. A target that is not one, the
/// journal itself, or a table that holds incidents already: exit 2, nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn journal_copy_moves_a_file_journal_to_a_table_and_restore_works_from_it() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ids = launch(&sdk, 2, &[], false).await;
    let w = Workdir::new(&config(""));
    let halt = w.run(&moto.url, &["halt", "--yes", "--json"], &[]).await;
    assert_eq!(halt.code, 0, "{halt:?}");
    let incident = halt.json()["incident"].as_str().unwrap().to_owned();
    assert_eq!(count(&sdk, "running").await, 0);

    for (to, says) in [
        ("s3:bucket", "dynamodb:TABLE or the path"),
        ("dynamodb:x", "table name"),
        ("unused.db", "the configured journal itself"),
    ] {
        let out = w
            .run(&moto.url, &["journal", "copy", "--to", to], &[])
            .await;
        assert_eq!(out.code, 2, "{to}: {out:?}");
        assert!(out.stderr.contains(says), "{to}: {out:?}");
    }

    let out = w
        .run(
            &moto.url,
            &[
                "journal",
                "copy",
                "--to",
                "dynamodb:moved-journal",
                "--json",
            ],
            &[],
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let copied = out.json();
    assert_eq!(copied["copied"]["incidents"], 1, "{copied}");
    // Each instance: its tag and its stop.
    assert_eq!(copied["copied"]["changes"], 4, "{copied}");
    assert_eq!(copied["to"], "dynamodb:moved-journal");
    // Twice into the same table: refused, as it holds the incident now.
    let again = w
        .run(
            &moto.url,
            &["journal", "copy", "--to", "dynamodb:moved-journal"],
            &[],
        )
        .await;
    assert_eq!(again.code, 2, "{again:?}");
    assert!(
        again.stderr.contains("already holds incidents"),
        "{again:?}"
    );

    // The configuration moves to the table: the incident and its stops are there.
    std::fs::write(
        w.path("runaway.toml"),
        config("backend = \"dynamodb\"\ntable = \"moved-journal\""),
    )
    .unwrap();
    let status = w
        .run(&moto.url, &["status", &incident, "--json"], &[])
        .await;
    assert_eq!(status.code, 0, "{status:?}");
    assert_eq!(status.json()["incident"]["status"], "executed");
    let back = w.path("back.db");
    let out = w
        .run(
            &moto.url,
            &["journal", "copy", "--to", back.to_str().unwrap()],
            &[],
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("1 incidents, 4 changes"), "{out:?}");
    let restore = w
        .run(
            &moto.url,
            &["restore", &incident, "--start-instances", "--yes", "--json"],
            &[],
        )
        .await;
    assert_eq!(restore.code, 0, "{restore:?}");
    assert_eq!(count(&sdk, "running").await, ids.len());
}
