//! `examples/organization`: members reached through their roles, an outsider refused, the SCP.

use super::*;
use crate::common::iam_policy::{Decision, Request, evaluate};
use crate::common::*;

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
        // restrict_bedrock: Bedrock for the chatbot's role only.
        (
            Request::new("bedrock:InvokeModel", "*").with("aws:PrincipalArn", &[&developer]),
            Some("OnlyBedrockPrincipalsCallBedrock"),
        ),
        (
            Request::new("bedrock:PutUseCaseForModelAccess", "*")
                .with("aws:PrincipalArn", &[&admin]),
            Some("OnlyBedrockPrincipalsCallBedrock"),
        ),
        (
            Request::new("bedrock:InvokeModel", "*").with(
                "aws:PrincipalArn",
                &[&format!("arn:aws:iam::{MEMBER}:role/chatbot")],
            ),
            None,
        ),
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
    .replacen(
        "[guard]\n",
        "[guard]\nstate_path = \"journal.db\"\nexempt_principals = [\"break-glass\"]\n",
        1,
    );
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

    // A lockout of a member and its restore, through its role: the user locked out, the
    // break-glass user and the member role itself untouched.
    let member_iam = aws_sdk_iam::Client::new(&member_sdk);
    for user in ["dev", "break-glass"] {
        member_iam
            .create_user()
            .user_name(user)
            .send()
            .await
            .unwrap();
        member_iam
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .unwrap();
    }
    let lockout = w
        .run(
            &proxy.url,
            &["lockout", "--account", MEMBER, "--yes", "--json"],
            &env,
        )
        .await;
    assert_eq!(lockout.code, 0, "{lockout:?}");
    let member_lockout = format!("arn:aws:iam::{MEMBER}:policy/runawaytrain-lockout");
    assert!(
        attached_policies(&member_iam, "dev")
            .await
            .contains(&member_lockout)
    );
    assert!(
        attached_policies(&member_iam, "break-glass")
            .await
            .is_empty()
    );
    let incident = lockout.json()["incident"].as_str().unwrap().to_owned();
    let restore = w
        .run(&proxy.url, &["restore", &incident, "--yes", "--json"], &env)
        .await;
    assert_eq!(restore.code, 0, "{restore:?}");
    assert!(attached_policies(&member_iam, "dev").await.is_empty());
    let judged = proxy.judged();
    assert!(judged.iter().all(|j| j.decision.allowed()), "{judged:?}");
    for action in [
        "iam:AttachUserPolicy",
        "iam:UpdateAccessKey",
        "iam:DetachUserPolicy",
    ] {
        assert!(
            judged
                .iter()
                .any(|j| j.principal == member_arn(MEMBER) && j.action == action),
            "{action} made with the member role"
        );
    }
    assert!(
        !judged
            .iter()
            .any(|j| j.resource == member_arn(MEMBER) && j.action.starts_with("iam:Attach")),
        "the member role never touches itself"
    );

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
