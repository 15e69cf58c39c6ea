//! `lockout_launchers`: act on exactly the principals that launched an incident's instances
//! (`core::launchers::plan_lockout` decides): an IAM user loses exactly the key it used (set
//! Inactive) and gets the deny-all lockout policy. A role's sessions issued before the incident
//! are revoked by an inline policy, so that legitimate users can start new ones — only with
//! `allow_session_revocation`, since a guard that may write inline policies could be made to
//! write any; without it the role gets the pre-made launch-deny policy attached (the only policy
//! the module lets the guard attach to a role). Every change is journaled before and after under
//! the incident, and `restore` undoes exactly it.
//!
//! `revoke_sessions` does the role half of that to every user and role of the account that
//! may be touched: stolen sessions end, the account keeps working. It needs
//! `allow_session_revocation` (the configuration refuses it otherwise).

use chrono::{DateTime, Utc};

use crate::app::lockout::{AccountLockout, ExemptPrincipal, LockoutChange, make_changes};
use crate::config::Account;
use crate::core::launchers::{Launcher, LauncherAct, plan_lockout, revoke_policy_name};
use crate::core::model::Problem;
use crate::ports::journal::{Journal, JournalError};
use crate::ports::{Clock, Cloud, Purpose};

/// The account's empty lockout report and a connection acting for `incident` (when not a dry
/// run), or the report saying why the account could not be reached.
async fn connect(
    cloud: &dyn Cloud,
    account: &Account,
    incident: &str,
    acting: bool,
) -> Result<
    (
        AccountLockout,
        std::sync::Arc<dyn crate::ports::AccountCloud>,
    ),
    AccountLockout,
> {
    let mut out = AccountLockout::empty(account.id.as_str(), &account.name);
    match cloud
        .connect(account, Purpose::Lockout, acting.then_some(incident))
        .await
    {
        Ok(c) => Ok((out, c)),
        Err(e) => {
            out.errors.push(Problem::account(e));
            Err(out)
        }
    }
}

/// Locks out `launchers` of `account` for `incident` (opened at `since`: older sessions are
/// revoked). With `journal = None`, a dry run: the plan, nothing changed.
pub async fn run(
    cloud: &dyn Cloud,
    account: &Account,
    launchers: &[Launcher],
    incident: &str,
    since: DateTime<Utc>,
    journal: Option<&dyn Journal>,
    clock: Clock<'_>,
) -> Result<AccountLockout, JournalError> {
    let (mut out, conn) = match connect(cloud, account, incident, journal.is_some()).await {
        Ok(started) => started,
        Err(failed) => return Ok(failed),
    };
    let users = match conn.iam_users().await {
        Ok(u) => u,
        Err(e) => {
            out.errors.push(Problem::account(e));
            return Ok(out);
        }
    };
    let exempt_now = &account.policy.exempt_principals;
    // The roles' attached policies, read once and only when a role is to get the launch-deny.
    let mut roles: Option<Vec<crate::ports::IamRole>> = None;
    let mut changes = Vec::new();
    for act in plan_lockout(launchers, conn.identity()) {
        match act {
            LauncherAct::Leave { principal, reason } => {
                out.exempt.push(ExemptPrincipal { principal, reason })
            }
            // The configuration as it is now decides too: an exemption added since holds.
            LauncherAct::User { name, .. } | LauncherAct::Role { name }
                if exempt_now
                    .iter()
                    .any(|e| *e == name || e.ends_with(&format!("/{name}"))) =>
            {
                out.exempt.push(ExemptPrincipal {
                    principal: name,
                    reason: "listed in exempt_principals".into(),
                });
            }
            LauncherAct::User {
                name,
                access_key_id,
            } => {
                let Some(user) = users.iter().find(|u| u.name == name) else {
                    out.exempt.push(ExemptPrincipal {
                        principal: name,
                        reason: "no such IAM user any more".into(),
                    });
                    continue;
                };
                if let Some(key) = access_key_id
                    && user
                        .access_keys
                        .iter()
                        .any(|(k, active)| *k == key && *active)
                {
                    changes.push(LockoutChange::DeactivateAccessKey {
                        principal: name.clone(),
                        access_key_id: key,
                    });
                }
                let deny = &account.policy.lockout_policy_arn;
                if !user.attached_policies.iter().any(|p| p == deny) {
                    changes.push(LockoutChange::AttachUserPolicy {
                        principal: name,
                        policy_arn: deny.clone(),
                    });
                }
            }
            LauncherAct::Role { name } if account.policy.allow_session_revocation => {
                changes.push(LockoutChange::RevokeRoleSessions {
                    principal: name,
                    policy_name: revoke_policy_name(incident),
                    before: since,
                })
            }
            LauncherAct::Role { name } => {
                let Some(deny) = &account.policy.launch_deny_policy_arn else {
                    out.exempt.push(ExemptPrincipal {
                        principal: name,
                        reason: "a role: its sessions can be revoked only with allow_session_revocation (the Terraform module's input), and no launch_deny_policy_arn is set to block its launches".into(),
                    });
                    continue;
                };
                if roles.is_none() {
                    match conn.iam_roles().await {
                        Ok(r) => roles = Some(r),
                        Err(e) => {
                            out.errors.push(Problem::account(e));
                            continue;
                        }
                    }
                }
                let role = roles
                    .as_ref()
                    .and_then(|list| list.iter().find(|r| r.name == name));
                match role {
                    None => out.exempt.push(ExemptPrincipal {
                        principal: name,
                        reason: "no such IAM role any more".into(),
                    }),
                    Some(r) if r.attached_policies.iter().any(|p| p == deny) => {}
                    Some(_) => changes.push(LockoutChange::AttachRolePolicy {
                        principal: name,
                        policy_arn: deny.clone(),
                    }),
                }
            }
        }
    }
    let Some(j) = journal else {
        out.changes = changes;
        return Ok(out);
    };
    let rate = account.policy.iam_rate;
    make_changes(conn.as_ref(), changes, j, incident, clock, rate, &mut out).await?;
    tracing::info!(incident.id = incident, account.id = %account.id, changes = out.changes.len(), "launchers locked out");
    Ok(out)
}

/// Why a user or role is never given a revocation, if it is not to be.
fn spared(
    name: &str,
    arn: &str,
    path: &str,
    exempt: &[String],
    own: Option<&(crate::ports::PrincipalKind, String)>,
    kind: crate::ports::PrincipalKind,
) -> Option<&'static str> {
    if own.is_some_and(|(k, n)| *k == kind && n == name) {
        Some("the guard's own identity")
    } else if exempt.iter().any(|e| e == name || e == arn) {
        Some("listed in exempt_principals")
    } else if path.starts_with("/aws-service-role/") {
        Some("service-linked role")
    } else if path.starts_with("/aws-reserved/") {
        Some("IAM Identity Center role: managed there")
    } else {
        None
    }
}

/// `revoke_sessions`: every user and role of `account` that may be touched gets an inline policy
/// denying its sessions issued before `since`. With `journal = None`, a dry run.
pub async fn revoke_sessions(
    cloud: &dyn Cloud,
    account: &Account,
    incident: &str,
    since: DateTime<Utc>,
    journal: Option<&dyn Journal>,
    clock: Clock<'_>,
) -> Result<AccountLockout, JournalError> {
    use crate::ports::PrincipalKind;
    let (mut out, conn) = match connect(cloud, account, incident, journal.is_some()).await {
        Ok(started) => started,
        Err(failed) => return Ok(failed),
    };
    let (users, roles) = match (conn.iam_users().await, conn.iam_roles().await) {
        (Ok(u), Ok(r)) => (u, r),
        (Err(e), _) | (_, Err(e)) => {
            out.errors.push(Problem::account(e));
            return Ok(out);
        }
    };
    let own = crate::app::lockout::own_principal(conn.identity());
    let exempt = &account.policy.exempt_principals;
    let policy_name = revoke_policy_name(incident);
    let mut changes = Vec::new();
    for u in &users {
        match spared(
            &u.name,
            &u.arn,
            "/",
            exempt,
            own.as_ref(),
            PrincipalKind::User,
        ) {
            Some(reason) => out.exempt.push(ExemptPrincipal {
                principal: u.arn.clone(),
                reason: reason.into(),
            }),
            None => changes.push(LockoutChange::RevokeUserSessions {
                principal: u.name.clone(),
                policy_name: policy_name.clone(),
                before: since,
            }),
        }
    }
    for r in &roles {
        match spared(
            &r.name,
            &r.arn,
            &r.path,
            exempt,
            own.as_ref(),
            PrincipalKind::Role,
        ) {
            Some(reason) => out.exempt.push(ExemptPrincipal {
                principal: r.arn.clone(),
                reason: reason.into(),
            }),
            None => changes.push(LockoutChange::RevokeRoleSessions {
                principal: r.name.clone(),
                policy_name: policy_name.clone(),
                before: since,
            }),
        }
    }
    let Some(j) = journal else {
        out.changes = changes;
        return Ok(out);
    };
    let rate = account.policy.iam_rate;
    make_changes(conn.as_ref(), changes, j, incident, clock, rate, &mut out).await?;
    tracing::info!(incident.id = incident, account.id = %account.id, changes = out.changes.len(), "older sessions revoked");
    Ok(out)
}
