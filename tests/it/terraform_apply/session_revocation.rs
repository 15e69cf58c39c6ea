//! `allow_session_revocation` on the applied single-account example: without it the guard's
//! policy, read back from the emulator, holds no inline-policy write and `lockout --launchers`
//! gives a launcher role the launch-deny policy; re-applied with it, the guard's own session,
//! judged by the stand-in for IAM, revokes the role's older sessions and `restore` removes the
//! revocation, every call within the policy.

use super::*;
use runawaytrain::adapters::journal::SqliteJournal;

const INLINE_WRITES: [&str; 4] = [
    "iam:PutUserPolicy",
    "iam:PutRolePolicy",
    "iam:DeleteUserPolicy",
    "iam:DeleteRolePolicy",
];

/// Every action an Allow statement of `doc` names.
fn allowed(doc: &serde_json::Value) -> Vec<String> {
    doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| match &s["Action"] {
            serde_json::Value::String(a) => vec![a.clone()],
            serde_json::Value::Array(list) => list
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect(),
            other => panic!("an Action of {other}"),
        })
        .collect()
}

/// An open alert of the payer in a fresh journal of `w`, whose launcher is a session of the
/// role `app`; its id.
fn incident_launched_by_app(w: &Workdir) -> String {
    let journal = SqliteJournal::open(&w.path("journal.db")).unwrap();
    let now = chrono::Utc::now();
    let observed = serde_json::from_value(serde_json::json!({
        "running_instances": 3, "regions": {"us-east-1": 3}, "estimated_charges_usd": null,
        "violations": [{"rule": "max_running_instances", "limit": 1, "observed": 3}]
    }))
    .unwrap();
    let id = journal.open_alert(PAYER, &observed, now).unwrap();
    let launchers = serde_json::from_value(serde_json::json!({
        "state": "known", "source": "events", "since": now, "looked_at": now,
        "launchers": [{
            "principal_arn": format!("arn:aws:sts::{PAYER}:assumed-role/app/build-7"),
            "type": "AssumedRole", "user_name": null,
            "role_arn": format!("arn:aws:iam::{PAYER}:role/app"),
            "access_key_id": "ASIAAPPSESSION", "source_ips": ["198.51.100.23"],
            "user_agents": ["aws-cli/2"], "instances": 3, "instance_ids": [],
            "regions": {"us-east-1": 3}, "exempt": false
        }],
        "records": 1, "malformed": 0, "foreign": 0, "failed": 0, "guard": 0,
        "unattributed": 0, "error": null
    }))
    .unwrap();
    journal.set_launchers(&id, &launchers).unwrap();
    id
}

async fn attached_to_app(iam: &aws_sdk_iam::Client) -> Vec<String> {
    iam.list_attached_role_policies()
        .role_name("app")
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect()
}

async fn inline_of_app(iam: &aws_sdk_iam::Client) -> Vec<String> {
    iam.list_role_policies()
        .role_name("app")
        .send()
        .await
        .unwrap()
        .policy_names()
        .to_vec()
}

/// `lockout --launchers` of a fresh incident launched by `app`, `locked` checked, then
/// `restore`, with the guard's session behind `proxy`: the incident, and every action judged
/// (each allowed).
async fn lock_out_and_restore(
    proxy: &AuthorizingProxy,
    vars: &[(&'static str, String)],
    config: &str,
    locked: impl AsyncFnOnce(&str),
) -> (String, Vec<String>) {
    let w = Workdir::new(config);
    let id = incident_launched_by_app(&w);
    let env = env(vars);
    let out = w
        .run(
            &proxy.url,
            &["lockout", "--launchers", &id, "--yes", "--json"],
            &env,
        )
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    locked(&id).await;
    let out = w
        .run(&proxy.url, &["restore", &id, "--yes", "--json"], &env)
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let judged = proxy.judged();
    assert!(judged.iter().all(|j| j.decision.allowed()), "{judged:?}");
    (id, judged.into_iter().map(|j| j.action).collect())
}

/// `config(toml)`: the guard's configuration from the module's `runaway_toml`.
pub(super) async fn without_and_with_the_opt_in(
    moto: &Moto,
    example: &Path,
    iam: &aws_sdk_iam::Client,
    config: impl Fn(&str) -> String,
) {
    let arn = |kind: &str, name: &str| format!("arn:aws:iam::{PAYER}:{kind}/{name}");
    let deny_arn = arn("policy", "runawaytrain-launch-deny");
    iam.create_role()
        .role_name("app")
        .assume_role_policy_document(r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap();
    let toml = || {
        String::from_utf8(terraform(example, &["output", "-raw", "runaway_toml"]).stdout).unwrap()
    };

    // Off (the default): no inline-policy write in the policy as applied.
    let (guard, proxy, vars) = guard_session(moto, iam).await;
    let granted = allowed(&guard[0]);
    for action in INLINE_WRITES {
        assert!(!granted.iter().any(|g| g == action), "{action} granted");
    }
    let put = Request::new("iam:PutRolePolicy", &arn("role", "app"));
    assert_eq!(refused(&guard, &put), "implicit");
    assert!(toml().contains("allow_session_revocation = false"));
    let (id, judged) = lock_out_and_restore(&proxy, &vars, &config(&toml()), async |_| {
        assert_eq!(attached_to_app(iam).await, std::slice::from_ref(&deny_arn));
        assert!(inline_of_app(iam).await.is_empty());
    })
    .await;
    assert!(attached_to_app(iam).await.is_empty(), "{id}");
    assert!(judged.iter().any(|j| j == "iam:AttachRolePolicy"));

    // On: the same module re-applied with the opt-in.
    terraform(
        example,
        &[
            "apply",
            "-auto-approve",
            "-input=false",
            "-var",
            "allow_session_revocation=true",
        ],
    );
    let (guard, proxy, vars) = guard_session(moto, iam).await;
    let granted = allowed(&guard[0]);
    for action in INLINE_WRITES {
        assert!(granted.iter().any(|g| g == action), "{action} not granted");
    }
    assert!(evaluate(&guard, &put).allowed());
    // Still never on itself or the break-glass user.
    assert_eq!(
        refused(
            &guard,
            &Request::new("iam:PutRolePolicy", &arn("role", "runawaytrain-guard"))
        ),
        "NeverChangeItself"
    );
    assert_eq!(
        refused(
            &guard,
            &Request::new("iam:PutUserPolicy", &arn("user", "break-glass"))
        ),
        "NeverTouchTheProtectedPrincipals"
    );
    assert!(toml().contains("allow_session_revocation = true"));
    let (_, judged) = lock_out_and_restore(&proxy, &vars, &config(&toml()), async |id| {
        assert_eq!(
            inline_of_app(iam).await,
            [format!("runawaytrain-revoke-{id}")]
        );
        assert!(attached_to_app(iam).await.is_empty());
    })
    .await;
    assert!(inline_of_app(iam).await.is_empty());
    for action in ["iam:PutRolePolicy", "iam:DeleteRolePolicy"] {
        assert!(judged.iter().any(|j| j == action), "{action} judged");
    }
    iam.delete_role().role_name("app").send().await.unwrap();
}
