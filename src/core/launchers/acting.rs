//! Acting on an incident's launchers, decided purely: what `lockout_launchers` does to each
//! launcher, and the revocation policy `lockout_launchers` and `revoke_sessions` put on roles
//! and users.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Launcher, Principal, is_guard};

/// The inline policy that revokes a role's sessions issued before `before`, as the IAM
/// console's "Revoke active sessions" writes it: deny everything to a token issued earlier.
pub fn revoke_sessions_policy(before: DateTime<Utc>) -> Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "RunawaytrainRevokeOlderSessions",
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)}}
        }]
    })
}

/// The name of an incident's revocation policy on a role: its own, so that `restore` removes
/// exactly it and never a revocation someone else made.
pub fn revoke_policy_name(incident: &str) -> String {
    let mut name = format!("runawaytrain-revoke-{incident}");
    name.truncate(128);
    name
}

/// What locking out the launchers does to one of them.
#[derive(Debug, Clone, PartialEq)]
pub enum LauncherAct {
    /// An IAM user: exactly the key used set Inactive, and the deny-all policy attached.
    User {
        name: String,
        access_key_id: Option<String>,
    },
    /// A role session: the role's sessions issued before the incident revoked.
    Role { name: String },
    /// Nothing can or may be done: reported with why.
    Leave { principal: String, reason: String },
}

/// What `lockout_launchers` does to each launcher. Pure. Never the guard's own identity, an
/// exempt principal, a service-linked or Identity Center role, or the root user (only a person
/// can secure it: reported).
pub fn plan_lockout(found: &[Launcher], guard: &str) -> Vec<LauncherAct> {
    let mut out: Vec<LauncherAct> = Vec::new();
    let leave = |l: &Launcher, reason: &str| LauncherAct::Leave {
        principal: l.principal_arn.clone(),
        reason: reason.into(),
    };
    for l in found {
        let principal = Principal {
            kind: l.kind.clone(),
            arn: l.principal_arn.clone(),
            user_name: l.user_name.clone(),
            access_key_id: l.access_key_id.clone(),
            issuer_arn: l.role_arn.clone(),
        };
        let act = if l.exempt {
            leave(l, "listed in exempt_principals")
        } else if is_guard(guard, &principal) {
            leave(l, "the guard's own identity")
        } else {
            match l.kind.as_str() {
                "IAMUser" => match &l.user_name {
                    Some(name) => LauncherAct::User {
                        name: name.clone(),
                        access_key_id: l.access_key_id.clone(),
                    },
                    None => leave(l, "an IAM user without a name in its record"),
                },
                "AssumedRole" => match l.role_arn.as_deref() {
                    Some(role) if role.contains(":role/aws-service-role/") => {
                        leave(l, "a service-linked role")
                    }
                    Some(role) if role.contains(":role/aws-reserved/") => leave(
                        l,
                        "an IAM Identity Center role: end the session in Identity Center",
                    ),
                    Some(role) => LauncherAct::Role {
                        name: role.rsplit('/').next().unwrap_or(role).to_owned(),
                    },
                    None => leave(l, "a role session whose role the record does not name"),
                },
                "Root" => leave(
                    l,
                    "the root user: only a person can secure it (change its password, remove its keys, check its MFA)",
                ),
                other => leave(
                    l,
                    &format!("a {other} principal: nothing the guard can revoke"),
                ),
            }
        };
        if !out.contains(&act) {
            out.push(act);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::attribute;
    use super::super::tests::{GUARD, record, session, user};
    use super::*;
    use serde_json::json;

    #[test]
    fn locking_out_acts_on_the_key_or_the_role_and_leaves_root_exempt_and_guard() {
        let records = vec![
            record(
                user("mallory", "AKIAMALLORY"),
                "RunInstances",
                "eu-west-1",
                &["i-01"],
            ),
            record(
                session("ci", "build-7"),
                "RunInstances",
                "eu-west-1",
                &["i-02"],
            ),
            record(
                session("runawaytrain-member", "x"),
                "RunInstances",
                "eu-west-1",
                &["i-03"],
            ),
            record(
                user("alice", "AKIAALICE"),
                "RunInstances",
                "eu-west-1",
                &["i-04"],
            ),
            record(
                json!({"type": "Root", "arn": "arn:aws:iam::111111111111:root", "accessKeyId": "AKIAROOT"}),
                "RunInstances",
                "eu-west-1",
                &["i-05"],
            ),
            record(
                session("AWSReservedSSO_Admin_0123", "bob@example.com"),
                "RunInstances",
                "eu-west-1",
                &["i-06"],
            ),
        ];
        let mut records = records;
        records[5]["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = json!(
            "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"
        );
        // The guard's record is left out before planning; plan with a guard of another name to
        // see the rule hold there too.
        let a = attribute(
            &records,
            "111111111111",
            "arn:aws:iam::111111111111:user/guard",
            &["alice".into()],
            &Default::default(),
        );
        let plan = plan_lockout(&a.launchers, GUARD);
        assert!(plan.contains(&LauncherAct::User {
            name: "mallory".into(),
            access_key_id: Some("AKIAMALLORY".into())
        }));
        assert!(plan.contains(&LauncherAct::Role { name: "ci".into() }));
        let left: Vec<String> = plan
            .iter()
            .filter_map(|p| match p {
                LauncherAct::Leave { principal, reason } => Some(format!("{principal}: {reason}")),
                _ => None,
            })
            .collect();
        assert_eq!(left.len(), 4, "{left:?}");
        assert!(
            left.iter()
                .any(|l| l.contains("user/alice") && l.contains("exempt"))
        );
        assert!(
            left.iter()
                .any(|l| l.contains(":root") && l.contains("only a person"))
        );
        assert!(
            left.iter()
                .any(|l| l.contains("runawaytrain-member") && l.contains("guard"))
        );
        assert!(left.iter().any(|l| l.contains("Identity Center")));
        let policy = revoke_sessions_policy("2026-11-25T10:00:00Z".parse().unwrap());
        assert_eq!(policy["Statement"][0]["Effect"], "Deny");
        assert_eq!(
            policy["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2026-11-25T10:00:00Z"
        );
    }
}
