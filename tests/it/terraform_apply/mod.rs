//! The module applied for real against the emulator, with the hashicorp/aws provider from the
//! machine's plugin mirror when there is one (offline), else downloaded as `terraform init`
//! does: each example (one file each), and the module's own `terraform test`. The guard runs
//! with the `runaway.toml` the module writes and the credentials of the role it made, judged by
//! a stand-in for IAM (`common::authorizing`); `terraform destroy` leaves nothing behind.

mod compute;
mod deployed_bot;
mod deployed_replicas;
mod first_boot;
mod isolation;
mod organization;
mod session_revocation;
mod single_account;

use std::path::{Path, PathBuf};

use crate::common::authorizing::AuthorizingProxy;
use crate::common::iam_policy::{Decision, Request, evaluate};
use crate::common::*;

/// The plugin mirror holding `registry.terraform.io/hashicorp/aws`, if the machine has one.
pub(super) fn plugin_mirror() -> Option<PathBuf> {
    [
        "/opt/tf-plugins",
        "/usr/share/terraform/plugins",
        "/usr/local/share/terraform/plugins",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.join("registry.terraform.io/hashicorp/aws").is_dir())
}

pub(super) use crate::common::terraform_command;

pub(super) fn terraform(dir: &Path, args: &[&str]) -> std::process::Output {
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

/// `terraform apply` or `destroy`, unattended, with the example's `-var=...` arguments.
pub(super) fn terraform_with_vars(dir: &Path, command: &str, vars: &[String]) {
    let mut args = vec![command, "-auto-approve", "-input=false"];
    args.extend(vars.iter().map(String::as_str));
    terraform(dir, &args);
}

/// Copies `terraform/` so the example's `../..` still finds the module.
pub(super) fn copy_module(to: &Path) {
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
pub(super) fn provider_override(endpoint: &str, aliases: &[(&str, &str)]) -> String {
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
        "dynamodb",
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

pub(super) async fn names(moto: &Moto) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
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
pub(super) fn apply_example(
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

pub(super) fn init(dir: &Path) {
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
pub(super) async fn policy_document(iam: &aws_sdk_iam::Client, arn: &str) -> serde_json::Value {
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
pub(super) async fn session(moto: &Moto, role_arn: &str) -> (String, Vec<(&'static str, String)>) {
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
pub(super) async fn guard_session(
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

pub(super) fn env<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The Sid of the statement refusing, or "implicit".
pub(super) fn refused(policies: &[serde_json::Value], r: &Request) -> String {
    match evaluate(policies, r) {
        Decision::ExplicitDeny(sid) => sid,
        Decision::ImplicitDeny => "implicit".into(),
        Decision::Allowed(sid) => panic!("{r:?} is allowed by {sid}"),
    }
}

/// The instance's user data, decoded.
pub(super) async fn user_data(ec2: &aws_sdk_ec2::Client, id: &str) -> String {
    let data = ec2
        .describe_instance_attribute()
        .instance_id(id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap()
        .user_data
        .and_then(|u| u.value)
        .unwrap();
    String::from_utf8(base64_decode(&data)).unwrap()
}

pub(super) fn base64_decode(s: &str) -> Vec<u8> {
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

/// The module's own `terraform test` (terraform/tests/), with the real provider pointed at the
/// emulator: its policy documents rendered for real, its applying runs applied and destroyed.
#[tokio::test(flavor = "multi_thread")]
async fn the_modules_terraform_test_passes_against_the_emulator() {
    let moto = Moto::start();
    // The tag-protection SCP's runs apply it in an organisation's management account.
    aws_sdk_organizations::Client::new(&moto.sdk("us-east-1").await)
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
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
    assert!(stdout.contains("11 passed, 0 failed"), "{stdout}");
    let (roles, policies, _, topics) = names(&moto).await;
    assert!(roles.is_empty() && policies.is_empty() && topics.is_empty());
}
