//! `block_bedrock` on moto's IAM: at an incident's deadline the Bedrock deny policy is attached
//! to every non-exempt user and role and their Bedrock API keys are set Inactive, and nothing
//! else changes (no deny-all, no access key set Inactive, no instance stopped); the exempt
//! principals and the guard's own identity are left; `restore` undoes exactly it. The incident
//! here is a count rule's; Bedrock's own detection is in `events` below.

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
    // Bedrock API keys: IAM's service-specific credentials, which moto does not serve, from a
    // stand-in on IAM's endpoint (`common::service_credentials`). Alice's three take two pages.
    let proxy = service_credentials::CredentialsProxy::start(&moto.url);
    let keys = &proxy.store;
    let alice_keys = [
        keys.create("alice", "bedrock.amazonaws.com"),
        keys.create("alice", "bedrock.amazonaws.com"),
        keys.create("alice", "bedrock.amazonaws.com"),
    ];
    let codecommit = keys.create("alice", "codecommit.amazonaws.com");
    keys.create("breakglass", "bedrock.amazonaws.com");
    keys.create("moto", "bedrock.amazonaws.com");
    let env = [("AWS_ENDPOINT_URL_IAM", proxy.url.as_str())];
    // Her first already Inactive: left as it is, and not "restored" to Active; her third, on
    // the second page, is found.
    proxy.store.answer(
        "UpdateServiceSpecificCredential",
        &[
            ("UserName", "alice"),
            ("ServiceSpecificCredentialId", alice_keys[0].as_str()),
            ("Status", "Inactive"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    );
    assert_eq!(keys.status(&alice_keys[0]), "Inactive");
    let before = iam(&client).await;
    let keys_before = keys.statuses();

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
    let serve = Serve::start_with_env(&w, &moto.url, &slack, &env).await;
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
        text_of(&done).contains("0 access keys set Inactive, 2 Bedrock API keys set Inactive"),
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
    let mut expected = keys_before.clone();
    for (id, status) in &mut expected {
        if *id == alice_keys[1] || *id == alice_keys[2] {
            *status = "Inactive";
        }
    }
    assert_eq!(
        keys.statuses(),
        expected,
        "alice's Active Bedrock API keys, over both pages; not her CodeCommit credential \
         ({codecommit}), not the exempt's, not the guard's own"
    );

    let out = w
        .run(&moto.url, &["restore", &incident, "--yes", "--json"], &env)
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(iam(&client).await, before, "restore undoes exactly it");
    assert_eq!(keys.statuses(), keys_before, "the keys too");
}

/// LLMjacking through the real event path: Bedrock's CloudTrail records in their documented
/// form put on moto's EventBridge as CloudTrail delivers them (moto keeps no trail), matched by
/// the module's own pattern, carried by its SQS queue to the bot's event step.
mod events {
    use chrono::{Duration, Utc};
    use serde_json::{Value, json};

    use crate::common::bot::*;
    use crate::common::config::{APPROVER, Toml};
    use crate::common::events::{journaled, put_cloudtrail};
    use crate::common::slack::text_of;
    use crate::common::*;
    use runawaytrain::core::events::Outcome;
    use runawaytrain::core::guardduty::Response;
    use runawaytrain::core::incident::Status;

    const GUARD_ROLE: &str = "runawaytrain-guard";
    const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

    fn config(actions: &str) -> impl FnOnce(&str, &str) -> String {
        let actions = actions.to_owned();
        move |topic, queue_url| {
            Toml::new()
                .guard(&format!(
                    "grace_period = \"10m\"\nlockout_policy_arn = \"arn:aws:iam::{PAYER}:policy/runawaytrain-lockout\"\n\
                     bedrock_deny_policy_arn = \"arn:aws:iam::{PAYER}:policy/runawaytrain-bedrock-deny\"\n\
                     exempt_principals = [\"breakglass\"]\n\
                     bedrock_principals = [\"arn:aws:iam::{PAYER}:role/chatbot\"]"
                ))
                .slack(&[APPROVER])
                .notify(topic)
                .events(queue_url)
                .account(&format!(
                    "id = \"{PAYER}\"\nname = \"payer\"\nrole_arn = \"arn:aws:iam::{PAYER}:role/{GUARD_ROLE}\"\n\
                     regions = [\"us-east-1\"]\nhalt_scope = \"launchers\"\nactions = {actions}"
                ))
                .into()
        }
    }

    /// A Bedrock record as CloudTrail writes it (the documented fields of a management event).
    fn record(name: &str, who: Value, n: u32) -> Value {
        json!({
            "eventVersion": "1.09", "userIdentity": who,
            "eventTime": Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "eventSource": "bedrock.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.23", "userAgent": "Boto3/1.34.0 md/Botocore#1.34.0",
            "requestParameters": {"modelId": MODEL}, "responseElements": null,
            "requestID": format!("req-{name}-{n}"), "eventID": format!("ev-{name}-{n}"),
            "readOnly": false, "eventType": "AwsApiCall", "managementEvent": true,
            "recipientAccountId": PAYER, "eventCategory": "Management"
        })
    }

    fn leaked(key: &str) -> Value {
        json!({"type": "IAMUser", "principalId": "AIDALEAKEDEXAMPLE",
               "arn": format!("arn:aws:iam::{PAYER}:user/ci-deployer"), "accountId": PAYER,
               "accessKeyId": key, "userName": "ci-deployer"})
    }

    fn session(role: &str) -> Value {
        json!({"type": "AssumedRole", "principalId": "AROAEXAMPLE:s",
               "arn": format!("arn:aws:sts::{PAYER}:assumed-role/{role}/s"), "accountId": PAYER,
               "accessKeyId": "ASIAEXAMPLE", "sessionContext": {"sessionIssuer": {"type": "Role",
               "arn": format!("arn:aws:iam::{PAYER}:role/{role}"), "accountId": PAYER, "userName": role}}})
    }

    /// ci-deployer with a real access key, alice and breakglass, and the module's lockout and
    /// Bedrock deny policies.
    async fn seed(moto: &Moto) -> (aws_sdk_iam::Client, String) {
        let iam = aws_sdk_iam::Client::new(&moto.sdk("us-east-1").await);
        for u in ["ci-deployer", "alice", "breakglass"] {
            iam.create_user().user_name(u).send().await.unwrap();
        }
        iam.create_policy()
            .policy_name("runawaytrain-bedrock-deny")
            .policy_document(super::BEDROCK_DENY)
            .send()
            .await
            .unwrap();
        let key = access_key(&iam, "ci-deployer").await;
        lockout_policy(&iam).await;
        (iam, key)
    }

    /// An unexpected principal's InvokeModel opens a `bedrock` incident naming the principal,
    /// the key, the source IP and the model, in the event step that receives it; the expected
    /// principal's calls and the guard's own are not incidents; more calls of the same key count
    /// in the same incident; with `lockout_launchers` the key is locked out at the deadline.
    #[tokio::test(flavor = "multi_thread")]
    async fn an_unexpected_invocation_opens_a_bedrock_incident_and_the_key_is_locked_out() {
        let (mut h, _pipe) = BotHarness::with_module_events(
            3,
            30,
            config("[\"block_bedrock\", \"lockout_launchers\"]"),
        )
        .await;
        let (iam, key) = seed(&h.moto).await;
        // ci-deployer's and alice's Bedrock API keys: IAM's service-specific credentials, which
        // moto does not serve, from a stand-in on the bot's way to AWS.
        let proxy = service_credentials::CredentialsProxy::start(&h.moto.url);
        let api_key = proxy.store.create("ci-deployer", "bedrock.amazonaws.com");
        let alices = proxy.store.create("alice", "bedrock.amazonaws.com");
        h.reach_aws_through(&proxy.url).await;
        let started = std::time::Instant::now();
        put_cloudtrail(
            &h.moto,
            "us-east-1",
            &[
                record("InvokeModel", leaked(&key), 1),
                record("Converse", session("chatbot"), 2),
                record("InvokeModel", session(GUARD_ROLE), 3),
            ],
        )
        .await;
        let said = journaled(&h, 3).await;
        let latency = started.elapsed();
        let of = |o: Outcome| -> Vec<&str> {
            said.iter()
                .filter(|(x, _)| *x == o)
                .map(|(_, n)| n.as_str())
                .collect()
        };
        assert_eq!(of(Outcome::Incident).len(), 1, "{said:?}");
        let mut ignored = of(Outcome::Ignored);
        ignored.sort();
        assert_eq!(
            ignored,
            [
                "a principal listed in bedrock_principals",
                "the guard's own call"
            ]
        );
        assert!(latency < std::time::Duration::from_secs(30), "{latency:?}");

        let row = &h.bot.journal.recent_incidents(10).unwrap()[0];
        assert_eq!((row.kind.as_str(), row.status), ("bedrock", Status::Open));
        let f = row.finding.clone().unwrap();
        assert_eq!(f.response, Response::Lockout);
        let post = h.slack.calls_to("chat.postMessage");
        let alert = text_of(&post.last().unwrap().body);
        for said in [
            "Amazon Bedrock called by an unexpected principal",
            &format!("arn:aws:iam::{PAYER}:user/ci-deployer"),
            key.as_str(),
            "198.51.100.23",
            MODEL,
        ] {
            assert!(alert.contains(said), "{said} in {alert}");
        }

        // The same key again: counted in the same incident.
        put_cloudtrail(
            &h.moto,
            "us-east-1",
            &[
                record("InvokeModelWithResponseStream", leaked(&key), 4),
                record("InvokeModel", leaked(&key), 5),
            ],
        )
        .await;
        journaled(&h, 5).await;
        let incidents = h.bot.journal.recent_incidents(10).unwrap();
        assert_eq!(incidents.len(), 1, "one incident for the key's user");
        assert_eq!(incidents[0].finding.as_ref().unwrap().findings, 3);

        let ran = h
            .bot
            .deadline_step(Utc::now() + Duration::minutes(11))
            .await
            .unwrap();
        assert_eq!(ran, std::slice::from_ref(&row.id));
        assert_eq!(key_status(&iam, "ci-deployer").await, "Inactive");
        let bedrock_deny = format!("arn:aws:iam::{PAYER}:policy/runawaytrain-bedrock-deny");
        let lockout = format!("arn:aws:iam::{PAYER}:policy/runawaytrain-lockout");
        let mut attached = attached_policies(&iam, "ci-deployer").await;
        attached.sort();
        assert_eq!(
            attached,
            [bedrock_deny, lockout],
            "block_bedrock and the lockout"
        );
        assert!(
            attached_policies(&iam, "alice").await.is_empty(),
            "halt_scope = launchers: only the incident's principal"
        );
        assert_eq!(
            (proxy.store.status(&api_key), proxy.store.status(&alices)),
            ("Inactive", "Active"),
            "the principal's Bedrock API key too, no one else's"
        );
        let row = h.bot.journal.get_incident(&row.id).unwrap().unwrap();
        assert_eq!(row.status, Status::Executed, "{:?}", row.result);
        // Journaled: restore undoes exactly it.
        let report = h.restore(&row.id).await;
        assert!(report.errors.is_empty(), "{report:?}");
        assert!(attached_policies(&iam, "ci-deployer").await.is_empty());
        assert_eq!(key_status(&iam, "ci-deployer").await, "Active");
        assert_eq!(proxy.store.status(&api_key), "Active");
    }

    /// `bedrock_grace_period = "0s"`: the response runs at the first deadline step after the
    /// call, while the account's other incidents keep their 10 minutes.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_zero_bedrock_grace_period_blocks_at_once() {
        let (mut h, _pipe) = BotHarness::with_module_events(3, 30, |topic, queue| {
            config("[\"block_bedrock\"]")(topic, queue).replace(
                "grace_period = \"10m\"",
                "grace_period = \"10m\"\nbedrock_grace_period = \"0s\"",
            )
        })
        .await;
        let (iam, key) = seed(&h.moto).await;
        let proxy = service_credentials::CredentialsProxy::start(&h.moto.url);
        let api_key = proxy.store.create("ci-deployer", "bedrock.amazonaws.com");
        h.reach_aws_through(&proxy.url).await;
        put_cloudtrail(
            &h.moto,
            "us-east-1",
            &[record("InvokeModel", leaked(&key), 1)],
        )
        .await;
        journaled(&h, 1).await;
        let row = &h.bot.journal.recent_incidents(10).unwrap()[0];
        let ran = h.bot.deadline_step(Utc::now()).await.unwrap();
        assert_eq!(ran, std::slice::from_ref(&row.id), "due at once");
        assert_eq!(
            attached_policies(&iam, "ci-deployer").await,
            [format!(
                "arn:aws:iam::{PAYER}:policy/runawaytrain-bedrock-deny"
            )]
        );
        assert_eq!(
            key_status(&iam, "ci-deployer").await,
            "Active",
            "no lockout_launchers"
        );
        assert_eq!(proxy.store.status(&api_key), "Inactive");
        assert_eq!(
            h.bot.journal.get_incident(&row.id).unwrap().unwrap().status,
            Status::Executed
        );
    }

    /// The module's Bedrock rule rendered with `bedrock_principal_arns`, on moto's EventBridge in
    /// the home region and forwarded from another: the expected role's sessions and the expected
    /// user's calls stay at the rule; an unexpected user's, an unexpected role's session and the
    /// root user's reach the guard's queue.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_rule_leaves_the_expected_principals_calls_out() {
        use crate::common::events::{Patterns, event_pipe_of};
        const EXPECTED: &[&str] = &[
            "arn:aws:iam::123456789012:role/chatbot",
            "arn:aws:iam::123456789012:user/batch",
        ];
        assert_eq!(PAYER, "123456789012");
        let moto = Moto::start();
        let pipe = event_pipe_of(&moto, 3, 30, Patterns::Module(EXPECTED)).await;
        let user = |name: &str| {
            json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE",
                   "arn": format!("arn:aws:iam::{PAYER}:user/{name}"), "accountId": PAYER,
                   "accessKeyId": "AKIAEXAMPLE", "userName": name})
        };
        let root = json!({"type": "Root", "principalId": PAYER,
                          "arn": format!("arn:aws:iam::{PAYER}:root"), "accountId": PAYER,
                          "accessKeyId": "AKIAROOTEXAMPLE"});
        for region in ["us-east-1", "eu-west-1"] {
            put_cloudtrail(
                &moto,
                region,
                &[
                    record("InvokeModel", session("chatbot"), 1),
                    record("Converse", user("batch"), 2),
                    record("InvokeModel", leaked("AKIALEAKED"), 3),
                    record("ConverseStream", session("intruder"), 4),
                    record("PutUseCaseForModelAccess", root.clone(), 5),
                ],
            )
            .await;
        }
        let mut arrived: Vec<String> = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while arrived.len() < 6 && std::time::Instant::now() < deadline {
            let got = pipe
                .sqs
                .receive_message()
                .queue_url(&pipe.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for m in got.messages() {
                let event: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                arrived.push(event["detail"]["eventName"].as_str().unwrap().to_owned());
            }
        }
        // A moment more: nothing else comes.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let late = pipe
            .sqs
            .receive_message()
            .queue_url(&pipe.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        assert!(late.messages().is_empty(), "{late:?}");
        arrived.sort();
        // The three unexpected callers' calls, once from each region (the forwarding rule too).
        assert_eq!(
            arrived,
            [
                "ConverseStream",
                "ConverseStream",
                "InvokeModel",
                "InvokeModel",
                "PutUseCaseForModelAccess",
                "PutUseCaseForModelAccess",
            ]
        );
    }

    /// A burst of invocations with one leaked key (LLMjacking runs them by the hundred): one
    /// incident counting every call, and its message rewritten a few times, not once a call.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_burst_of_invocations_is_one_incident_and_a_few_message_updates() {
        let (h, _pipe) =
            BotHarness::with_module_events(3, 30, config("[\"stop_instances\"]")).await;
        let (_iam, key) = seed(&h.moto).await;
        let burst: Vec<Value> = (0..30)
            .map(|n| record("InvokeModel", leaked(&key), 100 + n))
            .collect();
        put_cloudtrail(&h.moto, "us-east-1", &burst).await;
        let said = journaled(&h, 30).await;
        assert_eq!(said.len(), 30, "{said:?}");
        let incidents = h.bot.journal.recent_incidents(10).unwrap();
        assert_eq!(incidents.len(), 1);
        assert_eq!(incidents[0].finding.as_ref().unwrap().findings, 30);
        // The last rewrite shows every call.
        let last = h
            .slack
            .wait_for("chat.update", 20, |b| {
                text_of(b).contains("30 call(s) in this incident")
            })
            .await;
        assert!(text_of(&last).contains("30 call(s)"));
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let updates = h.slack.calls_to("chat.update").len();
        assert!(
            (1..=10).contains(&updates),
            "29 repeats rewrote the message {updates} times"
        );
    }

    /// The model-access set-up calls alone open the incident, before any invocation; without
    /// `lockout_launchers` it is an alert, the deadline changing nothing.
    #[tokio::test(flavor = "multi_thread")]
    async fn setup_calls_alone_open_the_incident_and_an_alert_changes_nothing() {
        let (h, _pipe) =
            BotHarness::with_module_events(3, 30, config("[\"stop_instances\"]")).await;
        let (iam, key) = seed(&h.moto).await;
        let mut refused = record("PutUseCaseForModelAccess", leaked(&key), 1);
        refused["errorCode"] = json!("AccessDeniedException");
        put_cloudtrail(
            &h.moto,
            "us-east-1",
            &[record("ListFoundationModels", leaked(&key), 0), refused],
        )
        .await;
        let said = journaled(&h, 2).await;
        assert!(
            said.iter().all(|(o, _)| *o == Outcome::Incident),
            "{said:?}"
        );
        let row = &h.bot.journal.recent_incidents(10).unwrap()[0];
        assert_eq!(row.kind, "bedrock");
        let f = row.finding.clone().unwrap();
        assert_eq!((f.response, f.findings), (Response::Alert, 2));
        assert!(
            f.tamper
                .unwrap()
                .what
                .contains("refused: AccessDeniedException"),
            "a refused call is said"
        );
        h.bot
            .deadline_step(Utc::now() + Duration::minutes(11))
            .await
            .unwrap();
        assert_eq!(key_status(&iam, "ci-deployer").await, "Active");
    }
}

/// `max_bedrock_invocations_per_hour` from the `AWS/Bedrock` metrics put into moto's
/// CloudWatch as Bedrock publishes them (`Invocations`, `InputTokenCount`, `OutputTokenCount`
/// per `ModelId`), in two regions: the last hour's invocations summed over models and regions;
/// older points and other accounts' metrics do not count.
mod metrics {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    use chrono::{Duration, Utc};

    use crate::common::config::Toml;
    use crate::common::*;

    async fn put(
        sdk: &aws_config::SdkConfig,
        model: &str,
        name: &str,
        minutes_ago: i64,
        value: f64,
    ) {
        let at = Utc::now() - Duration::minutes(minutes_ago);
        aws_sdk_cloudwatch::Client::new(sdk)
            .put_metric_data()
            .namespace("AWS/Bedrock")
            .metric_data(
                MetricDatum::builder()
                    .metric_name(name)
                    .dimensions(Dimension::builder().name("ModelId").value(model).build())
                    .timestamp(aws_smithy_types::DateTime::from_secs(at.timestamp()))
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_last_hours_invocations_over_models_and_regions_cross_the_limit() {
        let moto = Moto::start();
        let us = moto.sdk("us-east-1").await;
        let eu = moto.sdk("eu-west-1").await;
        let claude = "anthropic.claude-3-5-sonnet-20240620-v1:0";
        let llama = "meta.llama3-70b-instruct-v1:0";
        put(&us, claude, "Invocations", 10, 90.0).await;
        put(&us, claude, "Invocations", 40, 30.0).await;
        put(&us, claude, "InputTokenCount", 10, 250_000.0).await;
        put(&us, claude, "Invocations", 150, 1000.0).await; // over an hour ago
        put(&eu, llama, "Invocations", 5, 40.0).await;
        // Another account's metrics are its own.
        put(
            &moto.sdk_in("222222222222", "us-east-1").await,
            claude,
            "Invocations",
            5,
            999.0,
        )
        .await;

        let config = |limit: u64| -> String {
            Toml::new()
                .payer(
                    &["us-east-1", "eu-west-1"],
                    &format!("max_bedrock_invocations_per_hour = {limit}"),
                )
                .into()
        };
        // Bedrock's control plane (provisioned throughput, none here): a stand-in, as moto's
        // bedrock does not serve it.
        let bedrock = crate::common::bedrock_api::BedrockStandIn::start(&[]).await;
        let env = [("AWS_ENDPOINT_URL_BEDROCK", bedrock.url.as_str())];
        let w = Workdir::new(&config(100));
        let out = w.run(&moto.url, &["check", "--json"], &env).await;
        assert_eq!(out.code, 1, "{out:?}");
        let a = &out.json()["accounts"][0];
        assert_eq!(a["bedrock_invocations_per_hour"], 160, "{a}");
        assert_eq!(a["bedrock_models"][0][0], claude);
        assert_eq!(a["bedrock_models"][0][1], 120);
        assert_eq!(a["bedrock_models"][1][0], llama);
        assert_eq!(
            a["violations"][0]["rule"],
            "max_bedrock_invocations_per_hour"
        );
        assert_eq!(a["violations"][0]["observed"], 160);
        assert_eq!(a["violations"][0]["limit"], 100);

        let w = Workdir::new(&config(200));
        let out = w.run(&moto.url, &["check", "--json"], &env).await;
        assert_eq!(out.code, 0, "{out:?}");
        let plain: String = Toml::new().payer(&["us-east-1"], "").into();
        let plain = Workdir::new(&plain)
            .run(&moto.url, &["check", "--json"], &[])
            .await;
        assert!(
            plain.json()["accounts"][0]
                .get("bedrock_invocations_per_hour")
                .is_none(),
            "no rule, no reading"
        );
    }

    /// The token burn rate: the `AWS/Bedrock` token counts of the last hour (moto's CloudWatch)
    /// at the Price List's on-demand prices (a local stand-in of the Price List Query API,
    /// which moto does not have), each model named as Bedrock's GetFoundationModel names it (a
    /// local stand-in of Bedrock's control plane, which moto's `bedrock` does not serve).
    #[tokio::test(flavor = "multi_thread")]
    async fn the_last_hours_tokens_at_their_prices_cross_the_burn_rate() {
        use crate::common::bedrock_api::{BedrockStandIn, Throughput};
        use crate::common::pricing::{PricingStandIn, Product};
        let moto = Moto::start();
        let us = moto.sdk("us-east-1").await;
        let eu = moto.sdk("eu-west-1").await;
        let sonnet = "anthropic.claude-3-5-sonnet-20240620-v1:0";
        // A cross-region inference profile: priced as its model, where it was called.
        let llama = "eu.meta.llama3-70b-instruct-v1:0";
        put(&us, sonnet, "Invocations", 10, 50.0).await;
        put(&us, sonnet, "InputTokenCount", 10, 1_500_000.0).await;
        put(&us, sonnet, "InputTokenCount", 30, 500_000.0).await;
        put(&us, sonnet, "OutputTokenCount", 10, 400_000.0).await;
        put(&us, sonnet, "InputTokenCount", 150, 90_000_000.0).await; // over an hour ago
        put(&eu, llama, "Invocations", 5, 20.0).await;
        put(&eu, llama, "InputTokenCount", 5, 1_000_000.0).await;
        put(&eu, llama, "OutputTokenCount", 5, 200_000.0).await;
        let bedrock = BedrockStandIn::start(&[
            (sonnet, "Claude 3.5 Sonnet", "Anthropic"),
            (
                "meta.llama3-70b-instruct-v1:0",
                "Llama 3 70B Instruct",
                "Meta",
            ),
        ])
        .await;
        // Provisioned throughput bought in us-east-1: reported with what it costs an hour (not
        // part of the token rate), never deleted. Three, so the listing takes two pages.
        let throughput = |name, model, units, status, commitment| Throughput {
            region: "us-east-1",
            name,
            model,
            units,
            status,
            commitment,
        };
        bedrock.provision(vec![
            throughput("reserved", sonnet, 2, "InService", Some("SixMonths")),
            throughput(
                "burst",
                "meta.llama3-70b-instruct-v1:0",
                5,
                "Creating",
                None,
            ),
            throughput("abandoned", sonnet, 1, "Failed", None),
        ]);
        let pricing = PricingStandIn::with(vec![
            Product::bedrock_tokens("Claude 3.5 Sonnet", "us-east-1", "Input tokens", 0.003),
            Product::bedrock_tokens("Claude 3.5 Sonnet", "us-east-1", "Output tokens", 0.015),
            // Other prices of the same model: another region, cache reads.
            Product::bedrock_tokens("Claude 3.5 Sonnet", "us-west-2", "Input tokens", 0.5),
            Product::bedrock_tokens(
                "Claude 3.5 Sonnet",
                "us-east-1",
                "Input tokens cache read",
                0.0003,
            ),
            Product::bedrock_tokens("Llama 3 70B Instruct", "eu-west-1", "Input tokens", 0.00265),
            Product::bedrock_tokens("Llama 3 70B Instruct", "eu-west-1", "Output tokens", 0.0035),
            Product::bedrock_provisioned("Claude 3.5 Sonnet", "us-east-1", "No Commitment", 88.0),
            Product::bedrock_provisioned("Claude 3.5 Sonnet", "us-east-1", "6 Months", 44.0),
        ])
        .await;
        let env = [
            ("AWS_ENDPOINT_URL_PRICING", pricing.url.as_str()),
            ("AWS_ENDPOINT_URL_BEDROCK", bedrock.url.as_str()),
        ];
        let config = |limit: f64| -> String {
            Toml::new()
                .payer(
                    &["us-east-1", "eu-west-1"],
                    &format!("max_bedrock_burn_rate_usd_per_hour = {limit:?}"),
                )
                .into()
        };
        // 2,000 × $0.003 + 400 × $0.015 = $12, and 1,000 × $0.00265 + 200 × $0.0035 = $3.35.
        let expected = 12.0 + 3.35;
        let w = Workdir::new(&config(10.0));
        let out = w.run(&moto.url, &["check", "--json"], &env).await;
        assert_eq!(out.code, 1, "{out:?}");
        let a = &out.json()["accounts"][0];
        let burn = a["bedrock_burn_rate_usd_per_hour"].as_f64().unwrap();
        assert!((burn - expected).abs() < 1e-6, "{a}");
        assert_eq!(
            a["violations"][0]["rule"],
            "max_bedrock_burn_rate_usd_per_hour"
        );
        assert_eq!(a["bedrock_model_costs"][0]["model_id"], sonnet);
        assert_eq!(a["bedrock_model_costs"][1]["model_id"], llama);
        assert!(
            a.get("bedrock_invocations_per_hour").is_none(),
            "no invocations rule: {a}"
        );
        assert_eq!(a["bedrock_models"][0][0], sonnet, "{a}");
        // The provisioned throughputs: 2 units × $44 at the six-month term; the Llama one has no
        // price in us-east-1, which is said; the failed one is not billed. No rule counts them.
        let p = a["bedrock_provisioned"].as_array().expect("provisioned");
        assert_eq!(p.len(), 3, "{a}");
        assert_eq!(
            (
                p[0]["name"].as_str(),
                p[0]["model_units"].as_u64(),
                p[0]["commitment"].as_str()
            ),
            (Some("reserved"), Some(2), Some("SixMonths"))
        );
        assert_eq!(p[0]["usd_per_hour"], 88.0, "{}", p[0]);
        assert!(p[1]["usd_per_hour"].is_null(), "{}", p[1]);
        assert!(
            p[1]["unpriced"]
                .as_str()
                .unwrap()
                .contains("no on-demand price"),
            "{}",
            p[1]
        );
        assert_eq!(p[2]["status"], "Failed");
        assert!(p[2]["usd_per_hour"].is_null() && p[2]["unpriced"].is_null());
        // Bedrock was asked each base model's name in the region it was used in, and the Price
        // List each name's tokens in that region.
        let mut asked = bedrock.calls();
        asked.sort();
        asked.dedup();
        assert_eq!(
            asked,
            [
                format!("GetFoundationModel {sonnet}"),
                "GetFoundationModel meta.llama3-70b-instruct-v1:0".to_string(),
                "ListProvisionedModelThroughputs eu-west-1".to_string(),
                "ListProvisionedModelThroughputs us-east-1".to_string(),
            ]
        );
        // Four token prices and two provisioned ones.
        let calls = pricing.calls();
        assert_eq!(calls.len(), 6, "{calls:?}");
        assert!(calls.iter().all(|c| c["ServiceCode"] == "AmazonBedrock"));
        assert!(
            calls
                .iter()
                .any(|c| c["model"] == "Llama 3 70B Instruct" && c["regionCode"] == "eu-west-1")
        );
        // The table says it, with prices from the journal.
        let table = w.run(&moto.url, &["check"], &env).await;
        assert!(
            table.stdout.contains("bedrock tokens: $15.35/h"),
            "{table:?}"
        );
        assert!(
            table.stdout.contains(&format!("{sonnet} $12.00/h")),
            "{table:?}"
        );
        assert!(
            table.stdout.contains(&format!(
                "bedrock provisioned throughput reserved (us-east-1, InService): 2 model units of {sonnet}, 6 Months; $88.00/h"
            )),
            "{table:?}"
        );
        assert_eq!(pricing.calls().len(), 6, "prices kept a day");

        let out = Workdir::new(&config(20.0))
            .run(&moto.url, &["check", "--json"], &env)
            .await;
        assert_eq!(out.code, 0, "{out:?}");
    }

    /// A model the Price List has no price for, and one Bedrock does not know, are errors that
    /// name them: the rate is unknown, never a zero.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_model_without_a_price_is_an_error_naming_it() {
        use crate::common::bedrock_api::BedrockStandIn;
        use crate::common::pricing::PricingStandIn;
        let moto = Moto::start();
        let us = moto.sdk("us-east-1").await;
        let known = "amazon.nova-pro-v1:0";
        let custom = "arn:aws:bedrock:us-east-1:111111111111:custom-model/mine";
        put(&us, known, "InputTokenCount", 5, 1000.0).await;
        put(&us, known, "Invocations", 5, 1.0).await;
        put(&us, custom, "OutputTokenCount", 5, 1000.0).await;
        put(&us, custom, "Invocations", 5, 1.0).await;
        let bedrock = BedrockStandIn::start(&[(known, "Nova Pro", "Amazon")]).await;
        let pricing = PricingStandIn::with(Vec::new()).await;
        let env = [
            ("AWS_ENDPOINT_URL_PRICING", pricing.url.as_str()),
            ("AWS_ENDPOINT_URL_BEDROCK", bedrock.url.as_str()),
        ];
        let toml: String = Toml::new()
            .payer(
                &["us-east-1"],
                "max_bedrock_burn_rate_usd_per_hour = 1000.0",
            )
            .into();
        let out = Workdir::new(&toml)
            .run(&moto.url, &["check", "--json"], &env)
            .await;
        assert_eq!(out.code, 3, "{out:?}");
        let a = &out.json()["accounts"][0];
        assert_eq!(a["state"], "error");
        assert!(
            a.get("bedrock_burn_rate_usd_per_hour").is_none(),
            "never a zero: {a}"
        );
        let errors = a["errors"].to_string();
        assert!(
            errors.contains(&format!(
                "no on-demand price for {known} (us-east-1, Bedrock input tokens): no on-demand price in the AWS Price List"
            )),
            "{errors}"
        );
        assert!(
            errors.contains(&format!(
                "no on-demand price for {custom} (us-east-1, Bedrock output tokens)"
            )) && errors.contains("Bedrock has no foundation model"),
            "{errors}"
        );
    }
}
