//! Which accounts are watched: the configured ones, and with `[organization] discover = true`
//! the management account's active accounts, reached through the member role. An `[[accounts]]`
//! entry for a discovered id wins over the defaults. Read anew at every check: a new account is
//! watched from the next check on, a suspended or closed one stops being watched.

use std::collections::BTreeSet;

use crate::config::{Account, AccountId, Config};
use crate::core::model::Problem;
use crate::ports::Cloud;

/// The accounts one check covers.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    pub accounts: Vec<Account>,
    /// Ids of the accounts found through discovery (not configured).
    pub discovered: BTreeSet<String>,
    /// Why the organisation's accounts could not be listed, if they could not.
    pub problem: Option<Problem>,
}

impl Watched {
    /// `configured` or `discovered`: how the account came to be watched.
    pub fn source(&self, id: &str) -> &'static str {
        if self.discovered.contains(id) {
            "discovered"
        } else {
            "configured"
        }
    }
}

/// The accounts to watch now. Without discovery, the configured ones, no call made.
pub async fn watched(cloud: &dyn Cloud, config: &Config) -> Watched {
    let mut out = Watched {
        accounts: config.accounts.clone(),
        ..Default::default()
    };
    let Some(org) = &config.organization else {
        return out;
    };
    match cloud.organization_accounts().await {
        Ok(listed) => {
            for a in listed.iter().filter(|a| a.is_active()) {
                let Ok(id) = AccountId::parse(&a.id) else {
                    continue;
                };
                if config.accounts.iter().any(|c| c.id == id) {
                    continue;
                }
                if let Some(member) = org.member(&id, &a.name, &config.guard.home_region) {
                    out.discovered.insert(id.to_string());
                    out.accounts.push(member);
                }
            }
            let gone = listed.iter().filter(|a| !a.is_active()).count();
            tracing::debug!(
                watched = out.accounts.len(),
                discovered = out.discovered.len(),
                not_active = gone,
                "organisation read"
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "the organisation's accounts could not be listed");
            out.problem = Some(Problem::account(format!(
                "the organisation's accounts could not be listed ({e}): only the configured accounts were checked"
            )));
        }
    }
    out
}
