//! `examples/single-account`: the guard with exactly its permissions, the abuse closed.

use super::*;
use crate::common::iam_policy::{Decision, Request, evaluate};
use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_single_account_example_applies_and_the_guard_runs_with_exactly_its_permissions() {
    let moto = Moto::start_with(&[("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")]);
    let (_work, example) = apply_example(
        &moto,
        "single-account",
        &[("", "us-east-1"), ("eu_west_1", "eu-west-1")],
    );

    let (roles, policies, queues, topics) = names(&moto).await;
    assert!(roles.iter().any(|r| r == "runawaytrain-guard"), "{roles:?}");
    for p in [
        "runawaytrain-guard",
        "runawaytrain-lockout",
        "runawaytrain-launch-deny",
        "runawaytrain-bedrock-deny",
    ] {
        assert!(policies.iter().any(|n| n == p), "{p} in {policies:?}");
    }
    assert!(
        queues.iter().any(|q| q.ends_with("/runawaytrain-events")),
        "{queues:?}"
    );
    assert!(
        topics.iter().any(|t| t.ends_with(":runawaytrain-notify")),
        "{topics:?}"
    );

    // The Bedrock rules as applied, here and forwarded from eu-west-1: the example's chatbot
    // role left out at the rule; and the same role in runaway_toml's bedrock_principals.
    let chatbot = format!("arn:aws:iam::{PAYER}:role/chatbot");
    for (region, rule) in [
        ("us-east-1", "runawaytrain-bedrock"),
        ("eu-west-1", "runawaytrain-forward-bedrock"),
    ] {
        let pattern = aws_sdk_eventbridge::Client::new(&moto.sdk(region).await)
            .describe_rule()
            .name(rule)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{rule} in {region}: {e:?}"))
            .event_pattern
            .unwrap();
        let pattern: serde_json::Value = serde_json::from_str(&pattern).unwrap();
        let callers = pattern["detail"]["$or"].as_array().expect("callers");
        assert_eq!(
            callers[2]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"][0]["anything-but"],
            serde_json::json!([chatbot]),
            "{rule}: {pattern}"
        );
    }
    let toml =
        String::from_utf8(terraform(&example, &["output", "-raw", "runaway_toml"]).stdout).unwrap();
    assert!(
        toml.contains(&format!("bedrock_principals = [\"{chatbot}\"]")),
        "{toml}"
    );

    // The policies as applied, judged as IAM would (moto's IAM cannot: see common::iam_policy).
    let sdk = moto.sdk("us-east-1").await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let arn = |kind: &str, name: &str| format!("arn:aws:iam::{PAYER}:{kind}/{name}");
    let guard = [policy_document(&iam, &arn("policy", "runawaytrain-guard")).await];
    let launch_deny = [policy_document(&iam, &arn("policy", "runawaytrain-launch-deny")).await];
    let (lockout_arn, deny_arn) = (
        arn("policy", "runawaytrain-lockout"),
        arn("policy", "runawaytrain-launch-deny"),
    );
    let attach_user = |user: &str, policy: &str| {
        Request::new("iam:AttachUserPolicy", &arn("user", user)).with("iam:PolicyARN", &[policy])
    };
    let attach_role = |role: &str, policy: &str| {
        Request::new("iam:AttachRolePolicy", &arn("role", role)).with("iam:PolicyARN", &[policy])
    };
    let instance = format!("arn:aws:ec2:us-east-1:{PAYER}:instance/i-0123456789abcdef0");
    let tag = |keys: &[&str]| Request::new("ec2:CreateTags", &instance).with("aws:TagKeys", keys);
    // What it is for, allowed.
    assert!(evaluate(&guard, &attach_user("alice", &lockout_arn)).allowed());
    assert!(evaluate(&guard, &attach_role("app", &deny_arn)).allowed());
    assert!(evaluate(&guard, &tag(&["runaway:incident"])).allowed());
    // Anything else, refused, each by the statement that should refuse it.
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    for (request, by) in [
        (attach_user("alice", admin), "implicit"),
        (attach_role("app", admin), "implicit"),
        (attach_role("app", &lockout_arn), "implicit"),
        (
            attach_user("break-glass", &lockout_arn),
            "NeverTouchTheProtectedPrincipals",
        ),
        (
            Request::new("iam:UpdateAccessKey", &arn("user", "break-glass")),
            "NeverTouchTheProtectedPrincipals",
        ),
        (
            attach_role("runawaytrain-guard", &deny_arn),
            "NeverChangeItself",
        ),
        (
            Request::new("iam:PutRolePolicy", &arn("role", "runawaytrain-guard")),
            "NeverChangeItself",
        ),
        (
            Request::new("iam:CreateUser", &arn("user", "mallory")),
            "NeverCreateInIamOrPassRoles",
        ),
        (
            Request::new("iam:CreateAccessKey", &arn("user", "alice")),
            "NeverCreateInIamOrPassRoles",
        ),
        (
            Request::new("iam:CreatePolicyVersion", &lockout_arn),
            "NeverCreateInIamOrPassRoles",
        ),
        (
            Request::new("iam:PassRole", &arn("role", "app")),
            "NeverCreateInIamOrPassRoles",
        ),
        (tag(&["runaway:exempt"]), "implicit"),
        (tag(&["runaway:incident", "owner"]), "implicit"),
        (Request::new("ec2:DeleteTags", &instance), "implicit"),
        (
            Request::new("ec2:TerminateInstances", &instance),
            "implicit",
        ),
        (
            Request::new(
                "sts:AssumeRole",
                "arn:aws:iam::999999999999:role/runawaytrain-member",
            ),
            "implicit",
        ),
    ] {
        assert_eq!(refused(&guard, &request), by, "{request:?}");
    }
    // The launch-deny policy holds what costs money beyond EC2, and itself in place.
    for action in [
        "ec2:RunInstances",
        "ec2:CreateLaunchTemplate",
        "ec2:RequestSpotFleet",
        "autoscaling:SetDesiredCapacity",
        "ecs:RunTask",
        "ecs:CreateService",
        "lambda:CreateFunction",
        "batch:SubmitJob",
        "sagemaker:CreateTrainingJob",
        "eks:CreateNodegroup",
        "lightsail:CreateInstances",
    ] {
        assert_eq!(
            refused(&launch_deny, &Request::new(action, "*")),
            "RunawaytrainBlockLaunches",
            "{action}"
        );
    }
    for request in [
        Request::new("iam:DetachUserPolicy", &arn("user", "alice"))
            .with("iam:PolicyARN", &[&deny_arn]),
        Request::new("iam:DetachRolePolicy", &arn("role", "app"))
            .with("iam:PolicyARN", &[&deny_arn]),
    ] {
        assert_eq!(refused(&launch_deny, &request), "RunawaytrainKeepTheBlock");
    }
    assert_eq!(
        refused(
            &launch_deny,
            &Request::new("iam:CreatePolicyVersion", &deny_arn)
        ),
        "RunawaytrainKeepThePolicy"
    );
    for action in [
        "iam:CreateUser",
        "iam:CreateAccessKey",
        "iam:CreateLoginProfile",
    ] {
        assert_eq!(
            refused(&launch_deny, &Request::new(action, &arn("user", "x"))),
            "RunawaytrainNoNewIdentities"
        );
    }

    // The Bedrock deny policy (block_bedrock) holds the invocations and the model-access set-up,
    // and itself in place; the guard may attach it to users and roles, never to break-glass.
    let bedrock_arn = arn("policy", "runawaytrain-bedrock-deny");
    let bedrock_deny = [policy_document(&iam, &bedrock_arn).await];
    for action in [
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
        "bedrock:Converse",
        "bedrock:ConverseStream",
        "bedrock:PutUseCaseForModelAccess",
        "bedrock:CreateFoundationModelAgreement",
        "bedrock:PutFoundationModelEntitlement",
    ] {
        assert_eq!(
            refused(&bedrock_deny, &Request::new(action, "*")),
            "RunawaytrainBlockBedrock",
            "{action}"
        );
    }
    // Reading the model catalogue is not denied: only what costs or opens access.
    assert_eq!(
        refused(
            &bedrock_deny,
            &Request::new("bedrock:ListFoundationModels", "*")
        ),
        "implicit"
    );
    assert_eq!(
        refused(
            &bedrock_deny,
            &Request::new("iam:DetachRolePolicy", &arn("role", "app"))
                .with("iam:PolicyARN", &[&bedrock_arn])
        ),
        "RunawaytrainKeepTheBedrockBlock"
    );
    assert_eq!(
        refused(
            &bedrock_deny,
            &Request::new("iam:DeletePolicy", &bedrock_arn)
        ),
        "RunawaytrainKeepTheBedrockPolicy"
    );
    assert!(evaluate(&guard, &attach_user("alice", &bedrock_arn)).allowed());
    assert!(evaluate(&guard, &attach_role("app", &bedrock_arn)).allowed());
    assert_eq!(
        refused(&guard, &attach_user("break-glass", &bedrock_arn)),
        "NeverTouchTheProtectedPrincipals"
    );
    // Bedrock API keys: set Inactive and Active again on users, never on break-glass.
    let bedrock_key =
        |user: &str| Request::new("iam:UpdateServiceSpecificCredential", &arn("user", user));
    assert!(evaluate(&guard, &bedrock_key("alice")).allowed());
    assert_eq!(
        refused(&guard, &bedrock_key("break-glass")),
        "NeverTouchTheProtectedPrincipals"
    );

    // The notify topic: the guard and the alarms may publish, never without TLS; its key
    // admits CloudWatch (the billing alarm's publish) and the guard, through SNS only.
    let topic = format!("arn:aws:sns:us-east-1:{PAYER}:runawaytrain-notify");
    let attrs = aws_sdk_sns::Client::new(&sdk)
        .get_topic_attributes()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let topic_policy = [serde_json::from_str::<serde_json::Value>(&attrs["Policy"]).unwrap()];
    let publish = |by: &str, tls: &str| {
        Request::new("sns:Publish", &topic)
            .by(by)
            .with("aws:SecureTransport", &[tls])
            .with("aws:SourceAccount", &[PAYER])
    };
    let alarms = "Service:cloudwatch.amazonaws.com";
    let guard_role = format!("AWS:{}", arn("role", "runawaytrain-guard"));
    assert!(evaluate(&topic_policy, &publish(alarms, "true")).allowed());
    assert!(evaluate(&topic_policy, &publish(&guard_role, "true")).allowed());
    assert_eq!(
        refused(&topic_policy, &publish(alarms, "false")),
        "DenyInsecureTransport"
    );
    let key_id = attrs["KmsMasterKeyId"].clone();
    assert!(
        key_id.starts_with("arn:aws:kms:"),
        "a customer-managed key, not {key_id}"
    );
    let state: serde_json::Value =
        serde_json::from_slice(&terraform(&example, &["show", "-json"]).stdout).unwrap();
    let key = state["values"]["root_module"]["child_modules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["resources"].as_array().unwrap())
        .find(|r| r["address"] == "module.runawaytrain.aws_kms_key.notify[0]")
        .expect("the notify key in the state")
        .clone();
    assert_eq!(key["values"]["arn"], key_id.as_str());
    assert_eq!(key["values"]["enable_key_rotation"], true);
    let key_policy =
        [
            serde_json::from_str::<serde_json::Value>(key["values"]["policy"].as_str().unwrap())
                .unwrap(),
        ];
    let kms = |by: &str, action: &str| {
        Request::new(action, &key_id)
            .by(by)
            .with("aws:SourceAccount", &[PAYER])
            .with("kms:ViaService", &["sns.us-east-1.amazonaws.com"])
    };
    for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
        assert!(
            evaluate(&key_policy, &kms(alarms, action)).allowed(),
            "{action}"
        );
        assert!(
            evaluate(&key_policy, &kms(&guard_role, action)).allowed(),
            "{action}"
        );
    }
    assert!(!evaluate(&key_policy, &kms(&guard_role, "kms:ScheduleKeyDeletion")).allowed());
    let direct = Request::new("kms:Decrypt", &key_id).by(&guard_role);
    assert!(
        !evaluate(&key_policy, &direct).allowed(),
        "the guard uses the key only through SNS"
    );

    // The dead-man's switch: two check periods without a heartbeat, missing data breaching,
    // tell the notify topic.
    let alarm = aws_sdk_cloudwatch::Client::new(&sdk)
        .describe_alarms()
        .alarm_names("runawaytrain-heartbeat")
        .send()
        .await
        .unwrap()
        .metric_alarms()
        .first()
        .cloned()
        .expect("the heartbeat alarm");
    assert_eq!(
        (
            alarm.namespace(),
            alarm.metric_name(),
            alarm.period(),
            alarm.evaluation_periods()
        ),
        (Some("Runawaytrain"), Some("Heartbeat"), Some(300), Some(2))
    );
    assert_eq!(alarm.treat_missing_data(), Some("breaching"));
    assert_eq!(alarm.alarm_actions(), std::slice::from_ref(&topic));
    let heartbeat = Request::new("cloudwatch:PutMetricData", "*")
        .with("cloudwatch:namespace", &["Runawaytrain"]);
    assert!(evaluate(&guard, &heartbeat).allowed());
    let elsewhere = Request::new("cloudwatch:PutMetricData", "*")
        .with("cloudwatch:namespace", &["AWS/Billing"]);
    assert!(!evaluate(&guard, &elsewhere).allowed());

    // The guard, run with the role's own session, through a stand-in for IAM's judgement.
    for user in ["alice", "break-glass", "ops-admin"] {
        iam.create_user().user_name(user).send().await.unwrap();
        iam.create_access_key()
            .user_name(user)
            .send()
            .await
            .unwrap();
    }
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    ec2.run_instances()
        .image_id("ami-12c6146b")
        .min_count(3)
        .max_count(3)
        .send()
        .await
        .unwrap();
    let (_, proxy, vars) = guard_session(&moto, &iam).await;
    let toml =
        String::from_utf8(terraform(&example, &["output", "-raw", "runaway_toml"]).stdout).unwrap();
    let config = |exempt: &str| {
        format!(
            "{}\nregions = [\"us-east-1\"]\nmax_running_instances = 1\nactions = [\"stop_instances\", \"lockout_users\", \"block_launches\"]\n",
            toml.replacen(
                "[guard]\n",
                &format!("[guard]\nstate_path = \"journal.db\"\nexempt_principals = [{exempt}]\n"),
                1
            )
        )
    };
    let w = Workdir::new(&config("\"break-glass\", \"ops-admin\""));
    let env = env(&vars);
    let out = w.run(&proxy.url, &["check", "--json"], &env).await;
    assert_eq!(out.code, 1, "over the limit: {out:?}");
    let halt = w.run(&proxy.url, &["halt", "--yes", "--json"], &env).await;
    assert_eq!(halt.code, 0, "{halt:?}");
    let lockout = w
        .run(&proxy.url, &["lockout", "--yes", "--json"], &env)
        .await;
    assert_eq!(lockout.code, 0, "{lockout:?}");
    assert!(
        attached_policies(&iam, "alice")
            .await
            .contains(&lockout_arn)
    );
    assert_eq!(count(&sdk, "running").await, 0);
    for incident in [&halt.json()["incident"], &lockout.json()["incident"]] {
        let out = w
            .run(
                &proxy.url,
                &[
                    "restore",
                    incident.as_str().unwrap(),
                    "--start-instances",
                    "--yes",
                    "--json",
                ],
                &env,
            )
            .await;
        assert_eq!(out.code, 0, "{out:?}");
    }
    assert_eq!(count(&sdk, "running").await, 3);
    assert!(attached_policies(&iam, "alice").await.is_empty());
    let judged = proxy.judged();
    let refusals: Vec<_> = judged.iter().filter(|j| !j.decision.allowed()).collect();
    assert!(
        refusals.is_empty(),
        "every call within the policy: {refusals:?}"
    );
    for action in [
        "ec2:StopInstances",
        "ec2:CreateTags",
        "iam:AttachUserPolicy",
        "iam:AttachRolePolicy",
        "iam:UpdateAccessKey",
        // block_bedrock's Bedrock API keys, read on the user (none there).
        "iam:ListServiceSpecificCredentials",
        "ec2:StartInstances",
        "iam:DetachUserPolicy",
        "ec2:DeleteTags",
    ] {
        assert!(
            judged.iter().any(|j| j.action == action),
            "{action} was judged"
        );
    }

    // A configuration that forgets the break-glass user: the policy itself refuses to touch it.
    let w = Workdir::new(&config("\"ops-admin\""));
    let out = w
        .run(&proxy.url, &["lockout", "--yes", "--json"], &env)
        .await;
    assert_eq!(out.code, 1, "done in part: {out:?}");
    assert!(attached_policies(&iam, "break-glass").await.is_empty());
    assert!(
        attached_policies(&iam, "alice")
            .await
            .contains(&lockout_arn)
    );
    let refusal = proxy
        .judged()
        .into_iter()
        .find(|j| !j.decision.allowed())
        .expect("a refused call");
    assert_eq!(
        (refusal.action.as_str(), refusal.decision),
        (
            "iam:AttachUserPolicy",
            Decision::ExplicitDeny("NeverTouchTheProtectedPrincipals".into())
        ),
        "{}",
        refusal.resource
    );
    let incident = out.json()["incident"].as_str().unwrap().to_owned();
    let out = w
        .run(&proxy.url, &["restore", &incident, "--yes", "--json"], &env)
        .await;
    assert_eq!(out.code, 0, "{out:?}");

    // Compute beyond EC2: counted, halted and restored by the same session, within its policy.
    super::compute::within_the_policy(
        &moto,
        &proxy,
        &env,
        &toml.replacen(
            "[guard]\n",
            "[guard]\nstate_path = \"journal.db\"\nexempt_principals = [\"break-glass\", \"ops-admin\"]\n",
            1,
        ),
    )
    .await;

    // Isolation and forensics: each call judged on its resources and condition keys.
    super::isolation::within_the_policy(
        &moto,
        &guard,
        &proxy,
        &env,
        &toml.replacen(
            "[guard]\n",
            "[guard]\nstate_path = \"isolation.db\"\nexempt_principals = [\"break-glass\", \"ops-admin\"]\n",
            1,
        ),
    )
    .await;

    // Session revocation: no inline-policy write without the module's opt-in; with it, the
    // guard's session revokes and restores within its policy.
    super::session_revocation::without_and_with_the_opt_in(&moto, &example, &iam, |toml| {
        format!(
            "{}\nregions = [\"us-east-1\"]\nmax_running_instances = 1\n",
            toml.replacen(
                "[guard]\n",
                "[guard]\nstate_path = \"journal.db\"\nexempt_principals = [\"break-glass\", \"ops-admin\"]\n",
                1
            )
        )
    })
    .await;

    // Destroy leaves nothing behind (the key is only scheduled for deletion, as on AWS).
    terraform(&example, &["destroy", "-auto-approve", "-input=false"]);
    let (roles, policies, queues, topics) = names(&moto).await;
    assert!(roles.is_empty(), "{roles:?}");
    assert!(policies.is_empty(), "{policies:?}");
    assert!(queues.is_empty(), "{queues:?}");
    assert!(topics.is_empty(), "{topics:?}");
}
