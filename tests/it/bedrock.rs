//! `block_bedrock` on moto's IAM: at an incident's deadline the Bedrock deny policy is attached
//! to every non-exempt user and role, and nothing else changes (no deny-all, no key set
//! Inactive, no instance stopped); the exempt principals and the guard's own identity are left;
//! `restore` undoes exactly it. The incident here is a count rule's: Bedrock's own detection is
//! not built yet.

use std::collections::BTreeMap;

use crate::common::config::{APPROVER, Toml};
use crate::common::slack::{SlackStandIn, approve_value, text_of};
use crate::common::*;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// The policy the module creates: Bedrock's invocations and model-access set-up denied.
const BEDROCK_DENY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream","bedrock:Converse","bedrock:ConverseStream","bedrock:PutUseCaseForModelAccess","bedrock:CreateFoundationModelAgreement","bedrock:PutFoundationModelEntitlement"],"Resource":"*"}]}"#;

/// Each user's and role's attached policies, and each user's keys with their status.
async fn iam(iam: &aws_sdk_iam::Client) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for u in iam.list_users().send().await.unwrap().users() {
        let name = u.user_name();
        let mut seen = attached_policies(iam, name).await;
        for k in iam
            .list_access_keys()
            .user_name(name)
            .send()
            .await
            .unwrap()
            .access_key_metadata()
        {
            seen.push(format!("key {}", k.status().unwrap().as_str()));
        }
        out.insert(format!("user {name}"), seen);
    }
    for r in iam.list_roles().send().await.unwrap().roles() {
        let name = r.role_name();
        let seen: Vec<String> = iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .unwrap()
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect();
        out.insert(format!("role {name}"), seen);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn block_bedrock_at_the_deadline_denies_bedrock_to_the_non_exempt_and_restore_undoes_it() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let client = aws_sdk_iam::Client::new(&sdk);
    for u in ["alice", "breakglass", "moto"] {
        client.create_user().user_name(u).send().await.unwrap();
        client
            .create_access_key()
            .user_name(u)
            .send()
            .await
            .unwrap();
    }
    client
        .create_role()
        .role_name("chatbot")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap();
    let deny = client
        .create_policy()
        .policy_name("runawaytrain-bedrock-deny")
        .policy_document(BEDROCK_DENY)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name("t")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    launch(&sdk, 2, &[], false).await;
    let before = iam(&client).await;

    let config: String = Toml::new()
        .guard(&format!(
            "exempt_principals = [\"breakglass\"]\nbedrock_deny_policy_arn = \"{deny}\"\n\
             check_every = \"1h\"\ngrace_period = \"3s\""
        ))
        .payer(
            &["us-east-1"],
            "max_running_instances = 1\nactions = [\"block_bedrock\"]",
        )
        .slack(&[APPROVER])
        .notify(&topic)
        .into();
    let slack = SlackStandIn::start().await;
    let w = Workdir::new(&config);
    let serve = Serve::start(&w, &moto.url, &slack).await;
    let incident = approve_value(&slack.wait_for("chat.postMessage", 20, |_| true).await);
    let alert = slack
        .wait_for("chat.postMessage", 5, |b| {
            text_of(b).contains("block Amazon Bedrock")
        })
        .await;
    assert!(text_of(&alert).contains("block Amazon Bedrock"), "{alert}");
    let done = slack
        .wait_for("chat.update", 40, |b| {
            text_of(b).contains("deny policies attached to 1 users and 1 roles")
        })
        .await;
    assert!(
        text_of(&done).contains("0 access keys set Inactive"),
        "{done}"
    );
    assert_executed_at_its_deadline(&w.path("journal.db"), &incident);
    serve.stop("-KILL").await;

    let after = iam(&client).await;
    assert_eq!(after["user alice"], [deny.clone(), "key Active".into()]);
    assert_eq!(after["role chatbot"], std::slice::from_ref(&deny));
    assert_eq!(
        after["user breakglass"], before["user breakglass"],
        "exempt"
    );
    assert_eq!(
        after["user moto"], before["user moto"],
        "the guard's own identity"
    );
    assert_eq!(
        count(&sdk, "running").await,
        2,
        "block_bedrock stops nothing"
    );

    let out = w
        .run(&moto.url, &["restore", &incident, "--yes", "--json"], &[])
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(iam(&client).await, before, "restore undoes exactly it");
}
