//! `runaway init` on the emulator: an organisation of three accounts on moto's Organizations
//! (members reached through the member role, which moto grants), instances, a database, a
//! break-glass user, an exempt instance and 14 days of estimated charges. What init writes is
//! read back as an operator would: its suggestions, its comments, and `runaway check` passing
//! on it as it stands; nothing in AWS changed; an existing file never overwritten without
//! `--force`.

use crate::common::billing::estimated_charges;
use crate::common::organization::member_account;
use crate::common::services::{database, database_status};
use crate::common::*;

/// `EstimatedCharges` every 6 hours over 14 days, growing `per_hour`, in the payer.
async fn charges(moto: &Moto, linked: Option<&str>, per_hour: f64) {
    let points: Vec<(i64, f64)> = (0..=14 * 24)
        .step_by(6)
        .map(|ago| (ago, (14 * 24 - ago) as f64 * per_hour))
        .collect();
    estimated_charges(&moto.sdk("us-east-1").await, linked, &points).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn init_reads_an_organisation_and_writes_a_configuration_check_passes() {
    let moto = Moto::start();
    let org = aws_sdk_organizations::Client::new(&moto.sdk("us-east-1").await);
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let research = member_account(&moto, "research").await;
    let data = member_account(&moto, "data").await;

    let payer_sdk = moto.sdk("us-east-1").await;
    launch(&payer_sdk, 2, &[], false).await;
    let exempt = launch(&payer_sdk, 1, &[("runaway:exempt", "true")], false).await;
    let iam = aws_sdk_iam::Client::new(&payer_sdk);
    iam.create_user()
        .user_name("BreakGlass-Admin")
        .send()
        .await
        .unwrap();
    let research_eu = moto.sdk_in(&research, "eu-west-1").await;
    launch(&research_eu, 3, &[], false).await;
    let research_us = moto.sdk_in(&research, "us-east-1").await;
    database(&research_us, "orders", &[]).await;
    database(&research_us, "reports", &[]).await;
    charges(&moto, None, 1.0).await;
    charges(&moto, Some(&research), 0.5).await;
    let before = (
        states(&payer_sdk).await,
        states(&research_eu).await,
        database_status(&research_us, "orders").await,
    );

    let w = Workdir::new("# the operator's own file\n");
    let out = w
        .run(
            &moto.url,
            &["init", "--discover", "--output", "starter.toml"],
            &[],
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("3 of 3 account(s) read, nothing changed"),
        "{out:?}"
    );
    let text = std::fs::read_to_string(w.dir.path().join("starter.toml")).unwrap();

    // The organisation, and each account with its own limits: twice what runs, rounded up.
    assert!(
        text.contains(
            "[organization]\ndiscover = true\nmember_role_name = \"runawaytrain-member\""
        ),
        "{text}"
    );
    let entry = |id: &str| -> String {
        let start = text
            .find(&format!("id = \"{id}\""))
            .unwrap_or_else(|| panic!("{id} missing:\n{text}"));
        let rest = &text[start..];
        rest[..rest[1..].find("[[accounts]]").map_or(rest.len(), |e| e + 1)].to_owned()
    };
    let payer = entry(PAYER);
    assert!(
        payer.contains("Running now: 3 EC2 instance(s) (us-east-1 3)"),
        "{payer}"
    );
    assert!(payer.contains("max_running_instances = 10"), "{payer}");
    assert!(
        payer.contains(&format!("never touched: {} (us-east-1)", exempt[0])),
        "{payer}"
    );
    assert!(
        !payer.contains("role_arn"),
        "the payer is the ambient credentials: {payer}"
    );
    // $1 an hour, every 6 hours: twice the peak, a month at twice the average, 3 updates.
    assert!(
        payer.contains("max_spend_rate_usd_per_hour = 2.0"),
        "{payer}"
    );
    assert!(
        payer.contains("max_estimated_charges_usd = 2000.0"),
        "{payer}"
    );
    assert!(payer.contains("spend_window = \"18h\""), "{payer}");

    let r = entry(&research);
    assert!(
        r.contains(&format!(
            "role_arn = \"arn:aws:iam::{research}:role/runawaytrain-member\""
        )),
        "{r}"
    );
    assert!(
        r.contains("(eu-west-1 3)") && r.contains("max_running_instances = 10"),
        "{r}"
    );
    assert!(
        r.contains("Beyond EC2, running now: rds 2.\nmax_running = { rds = 5 }"),
        "{r}"
    );
    assert!(r.contains("# halt_services = [\"ec2\", \"rds\"]"), "{r}");
    assert!(r.contains("max_spend_rate_usd_per_hour = 1.0"), "{r}");
    let d = entry(&data);
    assert!(
        d.contains("Running now: 0 EC2 instance(s).") && d.contains("max_running_instances = 2"),
        "{d}"
    );
    assert!(
        d.contains("No estimated charges over the last 14 days"),
        "{d}"
    );
    assert!(
        !d.contains("max_spend_rate"),
        "no rule without charges: {d}"
    );

    // Never locked out: who ran it (moto's caller is the user `moto`) and the break-glass user.
    assert!(
        text.contains("exempt_principals = [\"BreakGlass-Admin\", \"moto\"]"),
        "{text}"
    );

    // Nothing changed in AWS, no journal made.
    let after = (
        states(&payer_sdk).await,
        states(&research_eu).await,
        database_status(&research_us, "orders").await,
    );
    assert_eq!(before, after);
    assert!(!w.dir.path().join("runaway.db").exists());

    // The file passes `runaway check` as it stands.
    let check = w
        .run(
            &moto.url,
            &["--config", "starter.toml", "check", "--json"],
            &[],
        )
        .await;
    assert_eq!(check.code, 0, "{check:?}\n{text}");
    let report = check.json();
    assert_eq!(report["accounts"].as_array().unwrap().len(), 3, "{report}");

    // An existing file is never overwritten without --force, and stays as it was.
    let again = w.run(&moto.url, &["init"], &[]).await;
    assert_eq!(again.code, 2, "{again:?}");
    assert!(
        again
            .stderr
            .contains("runaway.toml exists: init never overwrites a configuration without --force"),
        "{again:?}"
    );
    assert_eq!(
        std::fs::read_to_string(w.dir.path().join("runaway.toml")).unwrap(),
        "# the operator's own file\n"
    );
    let forced = w.run(&moto.url, &["init", "--force"], &[]).await;
    assert_eq!(forced.code, 0, "{forced:?}");
    let single = std::fs::read_to_string(w.dir.path().join("runaway.toml")).unwrap();
    assert!(
        single.contains(&format!("id = \"{PAYER}\"")) && !single.contains(&research),
        "without --discover only the caller's account: {single}"
    );
    assert!(!single.contains("[organization]"));
}
