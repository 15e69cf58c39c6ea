//! `block_bedrock`'s second half: the Bedrock API keys (IAM service-specific credentials of
//! `bedrock.amazonaws.com`) of the users the Bedrock deny policy is for, set Inactive. The deny
//! policy already refuses their calls; an Inactive key no longer authenticates at all, and shows
//! in the console as what the guard did. Never deleted: `restore` sets each Active again.

use std::collections::BTreeSet;

use crate::core::model::Problem;
use crate::core::reports::{AccountLockout, ExemptPrincipal, LockoutChange};
use crate::ports::{AccountCloud, IamUser};

use super::Only;

/// The service of Bedrock API keys, as IAM names it.
pub const BEDROCK_SERVICE: &str = "bedrock.amazonaws.com";

/// The users whose Bedrock API keys are set Inactive: those the lockout may change (not exempt,
/// not the guard itself, among `only` when given). Pure.
pub fn holders<'a>(
    users: &'a [IamUser],
    exempt: &[ExemptPrincipal],
    only: Option<&Only>,
) -> BTreeSet<&'a str> {
    users
        .iter()
        .filter(|u| !exempt.iter().any(|e| e.principal == u.arn))
        .filter(|u| only.is_none_or(|o| o.users.contains(&u.name)))
        .map(|u| u.name.as_str())
        .collect()
}

/// The changes that set each holder's Active Bedrock API keys Inactive. A user whose keys
/// cannot be read is an error of the account, and the rest goes on.
pub async fn read(
    conn: &dyn AccountCloud,
    holders: &BTreeSet<&str>,
    out: &mut AccountLockout,
) -> Vec<LockoutChange> {
    let mut changes = Vec::new();
    for user in holders {
        match conn.service_credentials(user, BEDROCK_SERVICE).await {
            Ok(keys) => changes.extend(keys.into_iter().filter(|(_, active)| *active).map(
                |(id, _)| LockoutChange::DeactivateServiceCredential {
                    principal: (*user).to_owned(),
                    credential_id: id,
                    service: BEDROCK_SERVICE.into(),
                },
            )),
            Err(e) => out.errors.push(Problem::account(format!(
                "the Bedrock API keys of user {user} could not be read, none set Inactive: {e}"
            ))),
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> IamUser {
        IamUser {
            name: name.into(),
            arn: format!("arn:aws:iam::111111111111:user/{name}"),
            attached_policies: Vec::new(),
            access_keys: Vec::new(),
        }
    }

    #[test]
    fn the_exempt_and_those_outside_only_hold_no_key_the_guard_sets_inactive() {
        let users = [user("alice"), user("breakglass"), user("ci")];
        let exempt = [ExemptPrincipal {
            principal: users[1].arn.clone(),
            reason: "listed in exempt_principals".into(),
        }];
        assert_eq!(
            holders(&users, &exempt, None),
            BTreeSet::from(["alice", "ci"])
        );
        let only = Only {
            users: BTreeSet::from(["ci".to_owned(), "breakglass".to_owned()]),
            roles: BTreeSet::new(),
        };
        assert_eq!(
            holders(&users, &exempt, Some(&only)),
            BTreeSet::from(["ci"]),
            "an exempt principal named by an incident stays exempt"
        );
    }
}
