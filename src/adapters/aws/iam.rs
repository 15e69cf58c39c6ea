//! IAM: users, roles, their attached policies and access keys; attaching and detaching a
//! policy, setting a key Active or Inactive. Never a deletion.

use super::{AwsAccount, classify};
use crate::ports::{CloudError, IamRole, IamUser, PrincipalKind};

pub(super) async fn iam_users(acc: &AwsAccount) -> Result<Vec<IamUser>, CloudError> {
    let iam = acc.iam();
    let mut users = Vec::new();
    let mut pages = iam.list_users().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("iam:ListUsers", e))?;
        for u in page.users() {
            users.push(IamUser {
                name: u.user_name().to_owned(),
                arn: u.arn().to_owned(),
                attached_policies: Vec::new(),
                access_keys: Vec::new(),
            });
        }
    }
    for u in &mut users {
        u.attached_policies = acc.attached(PrincipalKind::User, &u.name).await?;
        let mut pages = iam
            .list_access_keys()
            .user_name(&u.name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("iam:ListAccessKeys", e))?;
            for k in page.access_key_metadata() {
                if let Some(id) = k.access_key_id() {
                    u.access_keys.push((
                        id.to_owned(),
                        k.status() == Some(&aws_sdk_iam::types::StatusType::Active),
                    ));
                }
            }
        }
    }
    Ok(users)
}

pub(super) async fn iam_roles(acc: &AwsAccount) -> Result<Vec<IamRole>, CloudError> {
    let mut roles = Vec::new();
    let mut pages = acc.iam().list_roles().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("iam:ListRoles", e))?;
        for r in page.roles() {
            roles.push(IamRole {
                name: r.role_name().to_owned(),
                arn: r.arn().to_owned(),
                path: r.path().to_owned(),
                attached_policies: Vec::new(),
            });
        }
    }
    for r in &mut roles {
        r.attached_policies = acc.attached(PrincipalKind::Role, &r.name).await?;
    }
    Ok(roles)
}

pub(super) async fn set_policy(
    acc: &AwsAccount,
    principal: PrincipalKind,
    name: &str,
    policy_arn: &str,
    attach: bool,
) -> Result<(), CloudError> {
    let iam = acc.iam_writes();
    match (principal, attach) {
        (PrincipalKind::User, true) => iam
            .attach_user_policy()
            .user_name(name)
            .policy_arn(policy_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("iam:AttachUserPolicy", e)),
        (PrincipalKind::User, false) => iam
            .detach_user_policy()
            .user_name(name)
            .policy_arn(policy_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("iam:DetachUserPolicy", e)),
        (PrincipalKind::Role, true) => iam
            .attach_role_policy()
            .role_name(name)
            .policy_arn(policy_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("iam:AttachRolePolicy", e)),
        (PrincipalKind::Role, false) => iam
            .detach_role_policy()
            .role_name(name)
            .policy_arn(policy_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("iam:DetachRolePolicy", e)),
    }
}

/// IAM's status of a key or credential: `Active` or `Inactive`.
fn status(active: bool) -> aws_sdk_iam::types::StatusType {
    if active {
        aws_sdk_iam::types::StatusType::Active
    } else {
        aws_sdk_iam::types::StatusType::Inactive
    }
}

pub(super) async fn set_access_key(
    acc: &AwsAccount,
    user: &str,
    key_id: &str,
    active: bool,
) -> Result<(), CloudError> {
    acc.iam_writes()
        .update_access_key()
        .user_name(user)
        .access_key_id(key_id)
        .status(status(active))
        .send()
        .await
        .map_err(|e| classify("iam:UpdateAccessKey", e))?;
    Ok(())
}

/// A user's service-specific credentials of one service, over all pages: `(id, active)`.
pub(super) async fn service_credentials(
    acc: &AwsAccount,
    user: &str,
    service: &str,
) -> Result<Vec<(String, bool)>, CloudError> {
    let iam = acc.iam();
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .list_service_specific_credentials()
            .user_name(user)
            .service_name(service)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| classify("iam:ListServiceSpecificCredentials", e))?;
        out.extend(page.service_specific_credentials().iter().map(|c| {
            (
                c.service_specific_credential_id().to_owned(),
                *c.status() == aws_sdk_iam::types::StatusType::Active,
            )
        }));
        match page.marker() {
            Some(m) if page.is_truncated() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}

pub(super) async fn set_service_credential(
    acc: &AwsAccount,
    user: &str,
    credential_id: &str,
    active: bool,
) -> Result<(), CloudError> {
    acc.iam_writes()
        .update_service_specific_credential()
        .user_name(user)
        .service_specific_credential_id(credential_id)
        .status(status(active))
        .send()
        .await
        .map_err(|e| classify("iam:UpdateServiceSpecificCredential", e))?;
    Ok(())
}

/// Puts (`Some(document)`) or deletes (`None`) an inline policy of a user or a role.
pub(super) async fn set_inline_policy(
    acc: &AwsAccount,
    kind: PrincipalKind,
    principal: &str,
    name: &str,
    document: Option<&str>,
) -> Result<(), CloudError> {
    let iam = acc.iam_writes();
    match (kind, document) {
        (PrincipalKind::Role, Some(doc)) => iam
            .put_role_policy()
            .role_name(principal)
            .policy_name(name)
            .policy_document(doc)
            .send()
            .await
            .map(drop)
            .map_err(|e| classify("iam:PutRolePolicy", e)),
        (PrincipalKind::Role, None) => iam
            .delete_role_policy()
            .role_name(principal)
            .policy_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| classify("iam:DeleteRolePolicy", e)),
        (PrincipalKind::User, Some(doc)) => iam
            .put_user_policy()
            .user_name(principal)
            .policy_name(name)
            .policy_document(doc)
            .send()
            .await
            .map(drop)
            .map_err(|e| classify("iam:PutUserPolicy", e)),
        (PrincipalKind::User, None) => iam
            .delete_user_policy()
            .user_name(principal)
            .policy_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| classify("iam:DeleteUserPolicy", e)),
    }
}

impl AwsAccount {
    /// IAM is global: one client, in the home region (its partition's IAM endpoint).
    pub(super) fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk)
    }

    /// For the writes the application paces (`app::paced`): without the SDK's own retries, which
    /// would not be paced.
    pub(super) fn iam_writes(&self) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::config::Builder::from(&self.sdk)
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    pub(super) async fn attached(
        &self,
        kind: PrincipalKind,
        name: &str,
    ) -> Result<Vec<String>, CloudError> {
        let iam = self.iam();
        let mut out = Vec::new();
        match kind {
            PrincipalKind::User => {
                let mut pages = iam
                    .list_attached_user_policies()
                    .user_name(name)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| classify("iam:ListAttachedUserPolicies", e))?;
                    out.extend(
                        page.attached_policies()
                            .iter()
                            .filter_map(|p| p.policy_arn().map(str::to_owned)),
                    );
                }
            }
            PrincipalKind::Role => {
                let mut pages = iam
                    .list_attached_role_policies()
                    .role_name(name)
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| classify("iam:ListAttachedRolePolicies", e))?;
                    out.extend(
                        page.attached_policies()
                            .iter()
                            .filter_map(|p| p.policy_arn().map(str::to_owned)),
                    );
                }
            }
        }
        Ok(out)
    }
}
