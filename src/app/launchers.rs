//! Who launched an incident's instances: the launch calls of the account since its last ok
//! check, first from what the event path journaled, else from the account's CloudTrail log group
//! (`cloudtrail_log_group`), gathered per principal by the core (`core::launchers`).

use chrono::{DateTime, Duration, Utc};

use crate::config::Account;
use crate::core::launchers::{self, Attribution, LAUNCH_CALLS, Launchers};
use crate::ports::journal::{Journal, JournalError};
use crate::ports::{Cloud, Purpose};

/// How far back to look when no ok check of the account is known.
const DEFAULT_WINDOW_HOURS: i64 = 24;
/// A margin before the last ok check: a launch just before it may not have been counted yet
/// (its instances still pending). Which launches of the margin that check did count is decided
/// per instance from the ids it journaled: those are no launchers.
const MARGIN_MINUTES: i64 = 5;

/// The incident whose launchers are looked for.
pub struct Incident<'a> {
    pub id: &'a str,
    pub opened_at: DateTime<Utc>,
    /// The instances it saw running.
    pub running: u64,
}

/// Looks up the launchers of `incident` of `account` (`accounts`: every configured one, where
/// an organisation trail's group may live). Never fails on AWS: what could not be read is said
/// in `error`.
pub async fn find(
    cloud: &dyn Cloud,
    journal: &dyn Journal,
    accounts: &[Account],
    account: &Account,
    incident: Incident<'_>,
    now: DateTime<Utc>,
) -> Result<Launchers, JournalError> {
    let Incident {
        id: incident,
        opened_at,
        running,
    } = incident;
    let last_ok = journal.last_ok_check(account.id.as_str())?;
    let since = match &last_ok {
        Some(ok) => ok.at - Duration::minutes(MARGIN_MINUTES),
        None => now - Duration::hours(DEFAULT_WINDOW_HOURS),
    };
    let counted = last_ok
        .as_ref()
        .and_then(|ok| ok.counted.clone())
        .unwrap_or_default();
    let mut error = None;
    let mut source = "none";
    let mut attribution = Attribution::default();
    // The guard's identity there, to leave its own calls out.
    match cloud.connect(account, Purpose::Check, Some(incident)).await {
        Err(e) => error = Some(e.to_string()),
        Ok(conn) => {
            let exempt = &account.policy.exempt_principals;
            let from_events = journal.launch_call_records(account.id.as_str(), since)?;
            let found = launchers::attribute(
                &from_events,
                account.id.as_str(),
                conn.identity(),
                exempt,
                &counted,
            );
            if found.records > 0 {
                source = "events";
                attribution = found;
            } else if let Some(group) = &account.policy.cloudtrail_log_group {
                // An organisation trail's group lives in another account: read it from there.
                let reader = match &group.account {
                    Some(owner) if owner != &account.id => {
                        match accounts.iter().find(|a| &a.id == owner) {
                            None => Err(format!(
                                "cloudtrail_log_group is in account {owner}, which is not in the configuration"
                            )),
                            Some(a) => cloud
                                .connect(a, Purpose::Check, Some(incident))
                                .await
                                .map_err(|e| e.to_string()),
                        }
                    }
                    _ => Ok(conn.clone()),
                };
                let texts = match reader {
                    Err(e) => Err(e),
                    Ok(r) => r
                        .cloudtrail_records(
                            &group.name,
                            group.region.as_ref(),
                            &LAUNCH_CALLS,
                            since,
                            now,
                        )
                        .await
                        .map_err(|e| e.to_string()),
                };
                match texts {
                    Ok(texts) => {
                        let records: Vec<serde_json::Value> = texts
                            .iter()
                            .map(|t| serde_json::from_str(t).unwrap_or(serde_json::Value::Null))
                            .collect();
                        attribution = launchers::attribute(
                            &records,
                            account.id.as_str(),
                            conn.identity(),
                            exempt,
                            &counted,
                        );
                        if attribution.records > 0 {
                            source = "cloudtrail_logs";
                        }
                    }
                    Err(e) => error = Some(e),
                }
            }
        }
    }
    let attributed: u64 = attribution
        .launchers
        .iter()
        .map(|l| l.instances as u64)
        .sum();
    let unattributed = last_ok.map(|ok| {
        running
            .saturating_sub(ok.running)
            .saturating_sub(attributed)
    });
    if attribution.malformed + attribution.foreign > 0 {
        tracing::info!(
            incident.id = incident,
            malformed = attribution.malformed,
            foreign = attribution.foreign,
            "CloudTrail records skipped"
        );
    }
    Ok(Launchers {
        state: launchers::state_of(&attribution, (now - opened_at).num_minutes()),
        source: source.into(),
        since,
        looked_at: now,
        attribution,
        unattributed,
        error,
    })
}
