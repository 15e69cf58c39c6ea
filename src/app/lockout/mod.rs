//! The lockout actions: `lockout_users` (the deny-all lockout policy attached to every IAM user,
//! every Active access key set Inactive) and `block_launches` (the launch-deny policy attached to
//! users and roles) and `block_bedrock` (the Bedrock deny policy attached to users and roles,
//! their Bedrock API keys set Inactive).
//! Never a deletion: everything is restorable from the journal.
//!
//! Never touched: the exempt principals (`exempt_principals`, names or ARNs), service-linked
//! roles, and the identity the guard runs as — read at run time from GetCallerIdentity, not only
//! from the configuration. A lockout whose account has no exempt principal left is refused.
//!
//! The planning (`plan_account`) is pure; `run` reads IAM, journals each change before making it
//! and its result after.

pub use crate::core::reports::{AccountLockout, ExemptPrincipal, LockoutChange, LockoutReport};
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::json;

use crate::app::journaled;
use crate::app::paced::Paced;
use crate::config::{Account, Action};
use crate::core::model::Problem;
use crate::ports::journal::{Journal, JournalError, PlannedChange};
use crate::ports::{AccountCloud, Clock, Cloud, IamRole, IamUser, PrincipalKind, Purpose};

/// Path of AWS's service-linked roles: never given a deny policy.
const SERVICE_LINKED_PATH: &str = "/aws-service-role/";

/// The journal's row for a lockout change.
fn journaled(change: &LockoutChange, account_id: &str) -> PlannedChange {
    let (target, detail, before) = match change {
        LockoutChange::AttachUserPolicy {
            principal,
            policy_arn,
        }
        | LockoutChange::AttachRolePolicy {
            principal,
            policy_arn,
        } => (
            principal.clone(),
            json!({ "policy_arn": policy_arn }),
            json!({ "attached": false }),
        ),
        LockoutChange::DeactivateAccessKey {
            principal,
            access_key_id,
        } => (
            access_key_id.clone(),
            json!({ "user": principal }),
            json!({ "status": "Active" }),
        ),
        LockoutChange::DeactivateServiceCredential {
            principal,
            credential_id,
            service,
        } => (
            credential_id.clone(),
            json!({ "user": principal, "service": service }),
            json!({ "status": "Active" }),
        ),
        LockoutChange::RevokeRoleSessions {
            principal,
            policy_name,
            before,
        }
        | LockoutChange::RevokeUserSessions {
            principal,
            policy_name,
            before,
        } => (
            principal.clone(),
            // The document too: the guard holds its own writes, as CloudTrail records them,
            // to what it journaled (`core::policy_writes`).
            json!({
                "policy_name": policy_name,
                "before": before,
                "document": crate::core::launchers::revoke_sessions_policy(*before),
            }),
            json!({ "exists": false }),
        ),
    };
    PlannedChange {
        account_id: account_id.to_owned(),
        region: "global".into(),
        action: change.action(),
        target,
        detail,
        before,
    }
}

/// Which lockout actions to run on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Which {
    pub lockout_users: bool,
    pub block_launches: bool,
    pub block_bedrock: bool,
}

impl Which {
    /// The lockout actions among an incident's actions.
    pub fn from_actions(actions: &[Action]) -> Which {
        Which {
            lockout_users: actions.contains(&Action::LockoutUsers),
            block_launches: actions.contains(&Action::BlockLaunches),
            block_bedrock: actions.contains(&Action::BlockBedrock),
        }
    }

    pub fn any(self) -> bool {
        self.lockout_users || self.block_launches || self.block_bedrock
    }

    /// The deny policies this lockout attaches to users and roles alike: the launch-deny
    /// policy and the Bedrock deny policy, where asked for and configured.
    fn deny_policies(self, account: &Account) -> Vec<&String> {
        let p = &account.policy;
        [
            (self.block_launches, &p.launch_deny_policy_arn),
            (self.block_bedrock, &p.bedrock_deny_policy_arn),
        ]
        .into_iter()
        .filter_map(|(asked, arn)| arn.as_ref().filter(|_| asked))
        .collect()
    }
}

/// The principal the guard acts as, from its caller identity ARN: a user's name, or the role
/// of an assumed-role session. `None` for the root user or anything else.
pub fn own_principal(identity_arn: &str) -> Option<(PrincipalKind, String)> {
    let resource = identity_arn.splitn(6, ':').nth(5)?;
    if let Some(user) = resource.strip_prefix("user/") {
        return Some((PrincipalKind::User, user.rsplit('/').next()?.to_owned()));
    }
    if let Some(session) = resource.strip_prefix("assumed-role/") {
        return Some((PrincipalKind::Role, session.split('/').next()?.to_owned()));
    }
    None
}

fn is_exempt(name: &str, arn: &str, exempt: &[String]) -> bool {
    exempt.iter().any(|e| e == name || e == arn)
}

/// Plans one account's lockout. Pure. `Err` is a refusal, with the reason.
pub fn plan_account(
    account: &Account,
    users: &[IamUser],
    roles: &[IamRole],
    identity_arn: &str,
    which: Which,
) -> Result<(Vec<LockoutChange>, Vec<ExemptPrincipal>), String> {
    let exempt_list = &account.policy.exempt_principals;
    let present = users
        .iter()
        .map(|u| (&u.name, &u.arn))
        .chain(roles.iter().map(|r| (&r.name, &r.arn)))
        .any(|(n, a)| is_exempt(n, a, exempt_list));
    if !present {
        return Err(format!(
            "refusing to lock out account {}: {} so the lockout would leave no break-glass principal",
            account.id,
            if exempt_list.is_empty() {
                "exempt_principals is empty,".to_owned()
            } else {
                format!(
                    "none of exempt_principals ({}) exists there,",
                    exempt_list.join(", ")
                )
            }
        ));
    }
    let own = own_principal(identity_arn);
    let is_own = |kind: PrincipalKind, name: &str| {
        own.as_ref().is_some_and(|(k, n)| *k == kind && n == name)
    };
    let mut changes = Vec::new();
    let mut exempt = Vec::new();
    for u in users {
        if is_own(PrincipalKind::User, &u.name) {
            exempt.push(ExemptPrincipal {
                principal: u.arn.clone(),
                reason: "the guard's own identity".into(),
            });
            continue;
        }
        if is_exempt(&u.name, &u.arn, exempt_list) {
            exempt.push(ExemptPrincipal {
                principal: u.arn.clone(),
                reason: "listed in exempt_principals".into(),
            });
            continue;
        }
        let mut attach = |policy: &str| {
            if !u.attached_policies.iter().any(|p| p == policy) {
                changes.push(LockoutChange::AttachUserPolicy {
                    principal: u.name.clone(),
                    policy_arn: policy.to_owned(),
                });
            }
        };
        if which.lockout_users {
            attach(&account.policy.lockout_policy_arn);
        }
        for deny in which.deny_policies(account) {
            attach(deny);
        }
        if which.lockout_users {
            for (key, active) in &u.access_keys {
                if *active {
                    changes.push(LockoutChange::DeactivateAccessKey {
                        principal: u.name.clone(),
                        access_key_id: key.clone(),
                    });
                }
            }
        }
    }
    let denies = which.deny_policies(account);
    if !denies.is_empty() {
        for r in roles {
            let reason = if r.path.starts_with(SERVICE_LINKED_PATH) {
                Some("service-linked role")
            } else if is_own(PrincipalKind::Role, &r.name) {
                Some("the guard's own identity")
            } else if is_exempt(&r.name, &r.arn, exempt_list) {
                Some("listed in exempt_principals")
            } else {
                None
            };
            match reason {
                Some(reason) => exempt.push(ExemptPrincipal {
                    principal: r.arn.clone(),
                    reason: reason.into(),
                }),
                None => {
                    for deny in &denies {
                        if !r.attached_policies.iter().any(|p| p == *deny) {
                            changes.push(LockoutChange::AttachRolePolicy {
                                principal: r.name.clone(),
                                policy_arn: (*deny).clone(),
                            });
                        }
                    }
                }
            }
        }
    }
    Ok((changes, exempt))
}

/// Runs the lockout on the accounts, `which` deciding per account. With `journal = None`, a dry
/// run: the plan, nothing changed or journaled.
pub async fn run(
    cloud: &dyn Cloud,
    accounts: &[(&Account, Which)],
    journal: Option<(&dyn Journal, &str)>,
    concurrency: usize,
    clock: Clock<'_>,
) -> LockoutReport {
    let mut jobs: Vec<BoxFuture<'_, AccountLockout>> = Vec::new();
    for &(account, which) in accounts {
        jobs.push(Box::pin(async move {
            let mut out = AccountLockout::empty(account.id.as_str(), &account.name);
            if let Err(e) =
                lock_account(cloud, account, which, None, journal, clock, &mut out).await
            {
                out.errors.push(Problem::account(format!(
                    "{e}; stopped locking out this account"
                )));
            }
            out
        }));
    }
    let accounts = futures::stream::iter(jobs)
        .buffered(concurrency)
        .collect()
        .await;
    LockoutReport {
        incident: journal.map(|(_, id)| id.to_owned()),
        dry_run: journal.is_none(),
        accounts,
    }
}

/// Runs `which` on one account under `incident`, only on the users and roles named in `only`
/// (the principals of a Bedrock incident with `halt_scope = "launchers"`). The plan is made
/// over the whole account first, so that its refusals (no break-glass principal left) hold.
pub async fn run_only(
    cloud: &dyn Cloud,
    account: &Account,
    which: Which,
    only: &Only,
    journal: (&dyn Journal, &str),
    clock: Clock<'_>,
) -> AccountLockout {
    let mut out = AccountLockout::empty(account.id.as_str(), &account.name);
    if let Err(e) = lock_account(
        cloud,
        account,
        which,
        Some(only),
        Some(journal),
        clock,
        &mut out,
    )
    .await
    {
        out.errors.push(Problem::account(format!(
            "{e}; stopped locking out this account"
        )));
    }
    out
}

/// The users and roles (by name) a lockout may change; the others are left as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Only {
    pub users: std::collections::BTreeSet<String>,
    pub roles: std::collections::BTreeSet<String>,
}

impl Only {
    fn keeps(&self, change: &LockoutChange) -> bool {
        match change {
            LockoutChange::AttachUserPolicy { principal, .. }
            | LockoutChange::DeactivateAccessKey { principal, .. }
            | LockoutChange::DeactivateServiceCredential { principal, .. }
            | LockoutChange::RevokeUserSessions { principal, .. } => self.users.contains(principal),
            LockoutChange::AttachRolePolicy { principal, .. }
            | LockoutChange::RevokeRoleSessions { principal, .. } => self.roles.contains(principal),
        }
    }
}

async fn lock_account(
    cloud: &dyn Cloud,
    account: &Account,
    which: Which,
    only: Option<&Only>,
    journal: Option<(&dyn Journal, &str)>,
    clock: Clock<'_>,
    out: &mut AccountLockout,
) -> Result<(), JournalError> {
    let incident = journal.map(|(_, id)| id);
    let conn: Arc<dyn AccountCloud> = match cloud.connect(account, Purpose::Lockout, incident).await
    {
        Ok(c) => c,
        Err(e) => {
            out.errors.push(Problem::account(e));
            return Ok(());
        }
    };
    let users = match conn.iam_users().await {
        Ok(u) => u,
        Err(e) => {
            out.errors.push(Problem::account(e));
            return Ok(());
        }
    };
    let roles = match conn.iam_roles().await {
        Ok(r) => r,
        Err(e) => {
            out.errors.push(Problem::account(e));
            return Ok(());
        }
    };
    let (mut changes, exempt) = match plan_account(account, &users, &roles, conn.identity(), which)
    {
        Ok((changes, exempt)) => match only {
            Some(only) => (
                changes.into_iter().filter(|c| only.keeps(c)).collect(),
                exempt,
            ),
            None => (changes, exempt),
        },
        Err(refusal) => {
            out.errors.push(Problem::account(refusal));
            return Ok(());
        }
    };
    if which.block_bedrock && account.policy.bedrock_deny_policy_arn.is_some() {
        let holders = bedrock_keys::holders(&users, &exempt, only);
        changes.extend(bedrock_keys::read(conn.as_ref(), &holders, out).await);
    }
    out.exempt = exempt;
    let Some((j, incident)) = journal else {
        out.changes = changes;
        return Ok(());
    };
    let rate = account.policy.iam_rate;
    make_changes(conn.as_ref(), changes, j, incident, clock, rate, out).await?;
    tracing::info!(account.id = %account.id, changes = out.changes.len(), errors = out.errors.len(), "lockout done");
    Ok(())
}

/// Makes one lockout change in AWS.
pub(crate) async fn apply(
    conn: &dyn AccountCloud,
    change: &LockoutChange,
) -> Result<(), crate::ports::CloudError> {
    match change {
        LockoutChange::AttachUserPolicy {
            principal,
            policy_arn,
        } => {
            conn.set_policy(PrincipalKind::User, principal, policy_arn, true)
                .await
        }
        LockoutChange::AttachRolePolicy {
            principal,
            policy_arn,
        } => {
            conn.set_policy(PrincipalKind::Role, principal, policy_arn, true)
                .await
        }
        LockoutChange::DeactivateAccessKey {
            principal,
            access_key_id,
        } => conn.set_access_key(principal, access_key_id, false).await,
        LockoutChange::DeactivateServiceCredential {
            principal,
            credential_id,
            ..
        } => {
            conn.set_service_credential(principal, credential_id, false)
                .await
        }
        LockoutChange::RevokeRoleSessions {
            principal,
            policy_name,
            before,
        } => {
            let doc = crate::core::launchers::revoke_sessions_policy(*before).to_string();
            conn.set_inline_policy(PrincipalKind::Role, principal, policy_name, Some(&doc))
                .await
        }
        LockoutChange::RevokeUserSessions {
            principal,
            policy_name,
            before,
        } => {
            let doc = crate::core::launchers::revoke_sessions_policy(*before).to_string();
            conn.set_inline_policy(PrincipalKind::User, principal, policy_name, Some(&doc))
                .await
        }
    }
}

/// Makes the changes one at a time, each journaled before and after under `incident` (a failure
/// stops nothing else), into `out`. Paced at `iam_rate` writes a second once IAM throttles
/// (`app::paced`). Shared by every lockout action.
pub(crate) async fn make_changes(
    conn: &dyn AccountCloud,
    changes: Vec<LockoutChange>,
    j: &dyn Journal,
    incident: &str,
    clock: Clock<'_>,
    iam_rate: f64,
    out: &mut AccountLockout,
) -> Result<(), JournalError> {
    let mut paced = Paced::new(iam_rate, 1);
    let result = make_paced(conn, changes, j, incident, clock, &mut paced, out).await;
    out.throttled.add(paced.cost());
    result
}

async fn make_paced(
    conn: &dyn AccountCloud,
    changes: Vec<LockoutChange>,
    j: &dyn Journal,
    incident: &str,
    clock: Clock<'_>,
    paced: &mut Paced,
    out: &mut AccountLockout,
) -> Result<(), JournalError> {
    for change in changes {
        let planned = journaled(&change, &out.account_id);
        let result = journaled::make(j, incident, &[planned], clock, async || {
            vec![paced.one(|| apply(conn, &change)).await]
        })
        .await?
        .remove(0);
        match result {
            Ok(()) => out.changes.push(change),
            Err(e) => out
                .errors
                .push(Problem::account(format!("{}: {e}", change.action()))),
        }
    }
    Ok(())
}

mod bedrock_keys;
#[cfg(test)]
mod tests;
