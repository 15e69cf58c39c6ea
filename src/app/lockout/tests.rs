use super::*;
use crate::config::Config;
use std::path::Path;

fn account(exempt: &str) -> Account {
    let text = format!(
        "[guard]\nexempt_principals = [{exempt}]\nlaunch_deny_policy_arn = \"arn:aws:iam::123456789012:policy/deny-launch\"\n\
         bedrock_deny_policy_arn = \"arn:aws:iam::123456789012:policy/deny-bedrock\"\n\
         [[accounts]]\nid = \"123456789012\"\nactions = [\"lockout_users\", \"block_launches\"]\n"
    );
    Config::parse(Path::new("t.toml"), &text)
        .unwrap()
        .accounts
        .remove(0)
}

fn user(name: &str, policies: &[&str], keys: &[(&str, bool)]) -> IamUser {
    IamUser {
        name: name.into(),
        arn: format!("arn:aws:iam::123456789012:user/{name}"),
        attached_policies: policies.iter().map(|p| p.to_string()).collect(),
        access_keys: keys.iter().map(|(k, a)| (k.to_string(), *a)).collect(),
    }
}

fn role(name: &str, path: &str) -> IamRole {
    IamRole {
        name: name.into(),
        arn: format!("arn:aws:iam::123456789012:role{path}{name}"),
        path: path.into(),
        attached_policies: vec![],
    }
}

const DENY_ALL: &str = "arn:aws:iam::aws:policy/AWSDenyAll";
const DENY_LAUNCH: &str = "arn:aws:iam::123456789012:policy/deny-launch";
const DENY_BEDROCK: &str = "arn:aws:iam::123456789012:policy/deny-bedrock";
const BOTH: Which = Which {
    lockout_users: true,
    block_launches: true,
    block_bedrock: false,
};

#[test]
fn plans_attachments_and_key_deactivations_but_spares_the_exempt_and_the_guard() {
    let users = [
        user("alice", &[], &[("AKIA1", true), ("AKIA2", false)]),
        user("bob", &[DENY_ALL], &[]),
        user("breakglass", &[], &[("AKIA3", true)]),
        user("guard", &[], &[("AKIA4", true)]),
    ];
    let roles = [
        role("app", "/"),
        role(
            "AWSServiceRoleForAutoScaling",
            "/aws-service-role/autoscaling.amazonaws.com/",
        ),
        role("runawaytrain-member", "/"),
    ];
    let (changes, exempt) = plan_account(
        &account("\"breakglass\""),
        &users,
        &roles,
        "arn:aws:iam::123456789012:user/guard",
        BOTH,
    )
    .unwrap();
    let user_policy = |p: &str, a: &str| LockoutChange::AttachUserPolicy {
        principal: p.into(),
        policy_arn: a.into(),
    };
    assert_eq!(
        changes,
        [
            user_policy("alice", DENY_ALL),
            user_policy("alice", DENY_LAUNCH),
            LockoutChange::DeactivateAccessKey {
                principal: "alice".into(),
                access_key_id: "AKIA1".into()
            },
            // Already attached: no change, so restore will not detach what it did not attach.
            user_policy("bob", DENY_LAUNCH),
            LockoutChange::AttachRolePolicy {
                principal: "app".into(),
                policy_arn: DENY_LAUNCH.into()
            },
            LockoutChange::AttachRolePolicy {
                principal: "runawaytrain-member".into(),
                policy_arn: DENY_LAUNCH.into()
            },
        ]
    );
    let reasons: Vec<&str> = exempt.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "listed in exempt_principals",
            "the guard's own identity",
            "service-linked role"
        ]
    );

    // Acting through an assumed role: that role is spared.
    let (changes, _) = plan_account(
        &account("\"breakglass\""),
        &users,
        &roles,
        "arn:aws:sts::123456789012:assumed-role/runawaytrain-member/runawaytrain-lockout",
        BOTH,
    )
    .unwrap();
    assert!(!changes.iter().any(|c| matches!(c, LockoutChange::AttachRolePolicy { principal, .. } if principal == "runawaytrain-member")));
    assert!(changes.iter().any(
        |c| matches!(c, LockoutChange::AttachUserPolicy { principal, .. } if principal == "guard")
    ));
}

#[test]
fn refuses_a_lockout_that_leaves_no_exempt_principal() {
    let users = [user("alice", &[], &[])];
    let e = plan_account(
        &account(""),
        &users,
        &[],
        "arn:aws:iam::123456789012:root",
        BOTH,
    )
    .unwrap_err();
    assert!(e.contains("exempt_principals is empty"), "{e}");
    let e = plan_account(
        &account("\"breakglass\""),
        &users,
        &[],
        "arn:aws:iam::123456789012:root",
        BOTH,
    )
    .unwrap_err();
    assert!(
        e.contains("none of exempt_principals (breakglass) exists"),
        "{e}"
    );
    // By ARN works as well as by name.
    assert!(
        plan_account(
            &account("\"arn:aws:iam::123456789012:user/alice\""),
            &users,
            &[],
            "x",
            BOTH
        )
        .is_ok()
    );
}

#[test]
fn reads_the_guards_own_principal() {
    assert_eq!(
        own_principal("arn:aws:iam::1:user/ops/guard"),
        Some((PrincipalKind::User, "guard".into()))
    );
    assert_eq!(
        own_principal("arn:aws:sts::1:assumed-role/runawaytrain/s"),
        Some((PrincipalKind::Role, "runawaytrain".into()))
    );
    assert_eq!(own_principal("arn:aws:iam::1:root"), None);
}

#[test]
fn block_bedrock_attaches_its_deny_policy_to_users_and_roles_and_nothing_else() {
    let users = [
        user("alice", &[], &[("AKIA1", true)]),
        user("bob", &[DENY_BEDROCK], &[]),
        user("breakglass", &[], &[]),
        user("guard", &[], &[]),
    ];
    let roles = [
        role("app", "/"),
        role("AWSServiceRoleForSupport", "/aws-service-role/"),
    ];
    let bedrock = Which {
        lockout_users: false,
        block_launches: false,
        block_bedrock: true,
    };
    let (changes, exempt) = plan_account(
        &account("\"breakglass\""),
        &users,
        &roles,
        "arn:aws:iam::123456789012:user/guard",
        bedrock,
    )
    .unwrap();
    assert_eq!(
        changes,
        [
            LockoutChange::AttachUserPolicy {
                principal: "alice".into(),
                policy_arn: DENY_BEDROCK.into()
            },
            LockoutChange::AttachRolePolicy {
                principal: "app".into(),
                policy_arn: DENY_BEDROCK.into()
            },
        ],
        "no deny-all, no key deactivated, bob already denied"
    );
    let spared: Vec<&str> = exempt.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(
        spared,
        [
            "listed in exempt_principals",
            "the guard's own identity",
            "service-linked role"
        ]
    );
    // With block_launches too, a role gets both deny policies.
    let (changes, _) = plan_account(
        &account("\"breakglass\""),
        &users,
        &roles,
        "arn:aws:iam::123456789012:user/guard",
        Which {
            block_launches: true,
            ..bedrock
        },
    )
    .unwrap();
    let app: Vec<&LockoutChange> = changes
        .iter()
        .filter(|c| matches!(c, LockoutChange::AttachRolePolicy { principal, .. } if principal == "app"))
        .collect();
    assert_eq!(app.len(), 2, "{changes:?}");
}
