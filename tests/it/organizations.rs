//! Whole organisations on moto's Organizations: accounts created there (reached through
//! assumed roles, which moto grants for any account), discovered, overridden, excluded,
//! suspended, and one whose role is refused (by the stand-in in front of moto, with STS's
//! real `AccessDenied`: moto assumes any role).

use crate::common::config::Toml;
use crate::common::organization::member_account;
use crate::common::*;

struct Org {
    research: String,
    data: String,
    excluded: String,
    closed: String,
}

async fn organisation(moto: &Moto) -> Org {
    let org = aws_sdk_organizations::Client::new(&moto.sdk("us-east-1").await);
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let o = Org {
        research: member_account(moto, "research").await,
        data: member_account(moto, "data").await,
        excluded: member_account(moto, "sandbox").await,
        closed: member_account(moto, "old").await,
    };
    org.close_account()
        .account_id(&o.closed)
        .send()
        .await
        .unwrap();
    o
}

fn config(o: &Org) -> String {
    Toml::new()
        .section(
            "organization",
            &format!("discover = true\nexclude = [\"{}\"]", o.excluded),
        )
        .section(
            "organization.defaults",
            "regions = [\"us-east-1\"]\nmax_running_instances = 1",
        )
        .payer(&["us-east-1"], "")
        .account(&format!(
            "id = \"{data}\"\nname = \"data\"\nrole_arn = \"arn:aws:iam::{data}:role/runawaytrain-member\"\nregions = [\"us-east-1\"]\nmax_running_instances = 5",
            data = o.data
        ))
        .into()
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_watches_active_accounts_with_overrides_and_exclusions() {
    let moto = Moto::start();
    let o = organisation(&moto).await;
    for account in [&o.research, &o.data, &o.excluded] {
        launch(&moto.sdk_in(account, "us-east-1").await, 2, &[], false).await;
    }
    let w = Workdir::new(&config(&o));
    let out = w.run(&moto.url, &["check", "--json"], &[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let r = out.json();
    let seen: std::collections::BTreeMap<String, (String, String, u64)> = r["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account_id"].as_str().unwrap().to_owned(),
                (
                    a["source"].as_str().unwrap().to_owned(),
                    a["state"].as_str().unwrap().to_owned(),
                    a["running_instances"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(seen[PAYER].0, "configured");
    // Discovered, with the defaults' limit of 1.
    assert_eq!(seen[&o.research], ("discovered".into(), "fail".into(), 2));
    // Discovered too, but its own entry's limit of 5 wins.
    assert_eq!(seen[&o.data], ("configured".into(), "ok".into(), 2));
    assert!(!seen.contains_key(&o.excluded), "excluded");
    assert!(!seen.contains_key(&o.closed), "suspended");
    assert_eq!(seen.len(), 3, "{seen:?}");
    let research = r["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account_id"] == o.research.as_str())
        .unwrap();
    assert_eq!(research["name"], "research");

    // A new account is watched from the next check on.
    let new = member_account(&moto, "new").await;
    let out = w.run(&moto.url, &["check", "--json"], &[]).await;
    assert!(
        out.json()["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["account_id"] == new.as_str() && a["source"] == "discovered"),
        "{out:?}"
    );
    // The table says which accounts were discovered.
    let out = w.run(&moto.url, &["check"], &[]).await;
    assert!(out.stdout.contains("research (discovered)"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_whose_role_is_refused_is_an_error_never_skipped() {
    let moto = Moto::start();
    let o = organisation(&moto).await;
    let proxy = RefusingProxy::start(&moto.url, vec![o.research.clone()]);
    let w = Workdir::new(&config(&o));
    let out = w.run(&proxy.url, &["check", "--json"], &[]).await;
    assert_eq!(
        out.code, 3,
        "nothing failed, something could not be checked: {out:?}"
    );
    let r = out.json();
    let research = r["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account_id"] == o.research.as_str())
        .expect("reported, not skipped")
        .clone();
    assert_eq!(research["state"], "error");
    assert!(
        research["errors"].to_string().contains("AccessDenied"),
        "{research}"
    );
    assert!(
        !out.stderr.contains("testing"),
        "no credential in the output"
    );
}
