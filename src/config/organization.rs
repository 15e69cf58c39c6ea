//! `[organization]`: the management account's accounts, discovered and watched.
//!
//! ```toml
//! [organization]
//! discover = true
//! member_role_name = "runawaytrain-member"   # default
//! external_id = "..."                        # if the member role asks for one
//! exclude = ["333333333333"]
//!
//! [organization.defaults]                    # any [[accounts]] key but id, name, role_arn
//! max_running_instances = 10
//! actions = ["stop_instances"]
//! ```
//!
//! An `[[accounts]]` entry for a discovered id overrides the defaults for that account.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::validate::{Invalid, RawAccount, account_in};
use super::{Account, AccountId, AccountPolicy, RegionName, RoleArn};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrganization {
    #[serde(default)]
    discover: bool,
    member_role_name: Option<String>,
    external_id: Option<String>,
    #[serde(default)]
    exclude: Vec<String>,
    defaults: Option<toml::Table>,
}

/// The organisation's accounts, as the guard discovers and reaches them.
#[derive(Debug, Clone)]
pub struct Organization {
    /// `member_role_name`, default `runawaytrain-member`: the role assumed in each account.
    pub member_role_name: String,
    /// `external_id`: asked for by the member role's trust policy, if at all.
    pub external_id: Option<String>,
    /// `exclude`: account ids never watched through discovery.
    pub exclude: BTreeSet<AccountId>,
    /// `[organization.defaults]`: the rules, actions and settings of a discovered account (its
    /// id a placeholder).
    pub defaults: Account,
}

const PLACEHOLDER: &str = "000000000000";

impl Organization {
    /// The discovered account `id` as the guard watches it, unless excluded.
    pub fn member(&self, id: &AccountId, name: &str, home: &RegionName) -> Option<Account> {
        if self.exclude.contains(id) {
            return None;
        }
        let role = format!(
            "arn:{}:iam::{id}:role/{}",
            home.partition(),
            self.member_role_name
        );
        Some(Account {
            id: id.clone(),
            name: name.to_owned(),
            role_arn: Some(RoleArn::parse(&role).ok()?),
            external_id: self.external_id.clone(),
            ..self.defaults.clone()
        })
    }
}

pub(super) fn organization(
    raw: RawOrganization,
    policy: &AccountPolicy,
) -> Result<Option<Organization>, Invalid> {
    if !raw.discover {
        return Ok(None);
    }
    let member_role_name = raw
        .member_role_name
        .unwrap_or_else(|| "runawaytrain-member".into());
    let name_ok = (1..=64).contains(&member_role_name.len())
        && member_role_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !name_ok {
        return Err((
            "organization.member_role_name".into(),
            format!(
                "expected an IAM role name (1 to 64 of A-Z a-z 0-9 +=,.@_-), found {member_role_name:?}"
            ),
        ));
    }
    let exclude = raw
        .exclude
        .iter()
        .enumerate()
        .map(|(j, id)| AccountId::parse(id).map_err(|m| (format!("organization.exclude[{j}]"), m)))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let mut table = raw.defaults.unwrap_or_default();
    for key in ["id", "name", "role_arn", "external_id"] {
        if table.contains_key(key) {
            return Err((
                format!("organization.defaults.{key}"),
                "not a default: each discovered account has its own (set external_id in [organization])".into(),
            ));
        }
    }
    table.insert("id".into(), PLACEHOLDER.into());
    let raw_defaults: RawAccount = serde_path_to_error::deserialize(table).map_err(|e| {
        (
            format!("organization.defaults.{}", e.path()),
            e.inner().to_string(),
        )
    })?;
    let defaults = account_in("organization.defaults", raw_defaults, policy)?;
    Ok(Some(Organization {
        member_role_name,
        external_id: raw.external_id,
        exclude,
        defaults,
    }))
}
