//! `runaway init`: what the accounts it can reach hold now, read and never changed — the caller's
//! account, with `discover` every active account of its organisation through the member role;
//! their enabled regions, what runs there per service, the last 14 days of estimated charges,
//! the instances already exempt and the break-glass principals. `core::starter` suggests from
//! it, `text::starter` writes it.

use chrono::{DateTime, Utc};

use crate::config::{Account, Config, RegionName, partition_of};
use crate::core::starter::{Found, HISTORY_DAYS, is_breakglass};
use crate::ports::{Cloud, CloudError, Purpose};

/// What `init` was asked to read.
pub struct Options {
    pub home_region: RegionName,
    /// Every active account of the organisation too.
    pub discover: bool,
    /// The role each member account has for the guard.
    pub member_role_name: String,
    pub concurrency: usize,
}

/// What was read: the caller, and each account.
pub struct Findings {
    pub caller_account: String,
    pub caller_arn: String,
    pub accounts: Vec<Found>,
    /// Why the organisation could not be listed, with `discover`.
    pub organization_error: Option<String>,
}

/// Reads everything `init` writes from. Only the caller's identity failing is an error; an
/// account or region that cannot be read is kept in its `Found`.
pub async fn read(
    cloud: &dyn Cloud,
    options: &Options,
    now: DateTime<Utc>,
) -> Result<Findings, CloudError> {
    let (caller_account, caller_arn) = cloud.caller().await?;
    let mut listed = vec![(caller_account.clone(), String::new(), None)];
    let mut organization_error = None;
    if options.discover {
        match cloud.organization_accounts().await {
            Ok(accounts) => {
                let partition = partition_of(options.home_region.as_str());
                for a in accounts.into_iter().filter(|a| a.is_active()) {
                    if a.id == caller_account {
                        listed[0].1 = a.name;
                        continue;
                    }
                    let role = format!(
                        "arn:{partition}:iam::{}:role/{}",
                        a.id, options.member_role_name
                    );
                    listed.push((a.id, a.name, Some(role)));
                }
            }
            Err(e) => organization_error = Some(e.to_string()),
        }
    }
    let names = names(&listed);
    // The accounts as a check would see them: every service counted, the charges of 14 days.
    let probe = probe(&options.home_region, &listed, &names);
    let config = Config::parse(std::path::Path::new("(init)"), &probe)
        .map_err(|e| internal(format!("the accounts read make no configuration: {e}")))?;
    let refs: Vec<&Account> = config.accounts.iter().collect();
    let surveys = super::survey::survey(
        cloud,
        &refs,
        Purpose::Check,
        None,
        options.concurrency,
        Some(now),
    )
    .await;
    let mut out = Vec::with_capacity(surveys.len());
    for s in surveys {
        let a = s.account;
        let mut found = Found {
            id: a.id.to_string(),
            name: a.name.clone(),
            role_arn: a.role_arn.as_ref().map(|r| r.as_str().to_owned()),
            error: s.account_error.as_ref().map(ToString::to_string),
            ..Default::default()
        };
        for r in &s.regions {
            found.regions.push(r.region.to_string());
            match &r.instances {
                Ok(instances) => {
                    if !instances.is_empty() {
                        found
                            .running
                            .insert(r.region.to_string(), instances.len() as u64);
                    }
                    for i in instances {
                        let exempt = i
                            .tags
                            .get(&a.policy.exempt_tag)
                            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
                        if exempt {
                            found
                                .exempt_instances
                                .push((r.region.to_string(), i.id.clone()));
                        }
                    }
                }
                Err(e) => found.unread.push(format!("{} EC2: {e}", r.region)),
            }
        }
        for svc in &s.services {
            match &svc.resources {
                Ok(resources) => {
                    for r in resources {
                        found.services.insert(svc.service.as_str());
                        if let Some(key) = r.what.count_key() {
                            *found.counts.entry(key).or_default() += r.what.counted();
                        }
                    }
                }
                Err(e) => {
                    found
                        .unread
                        .push(format!("{} {}: {e}", svc.region, svc.service.as_str()))
                }
            }
        }
        if let Some(charges) = s.charges {
            found.charges = charges.map_err(|e| e.to_string());
        }
        if let Some(conn) = &s.conn {
            let users = conn
                .iam_users()
                .await
                .map(|u| u.into_iter().map(|u| u.name).collect::<Vec<_>>());
            let roles = conn
                .iam_roles()
                .await
                .map(|r| r.into_iter().map(|r| r.name).collect::<Vec<_>>());
            for names in [users, roles] {
                match names {
                    Ok(names) => found
                        .breakglass
                        .extend(names.into_iter().filter(|n| is_breakglass(n))),
                    Err(e) => found.unread.push(format!("IAM: {e}")),
                }
            }
            found.breakglass.sort();
            found.breakglass.dedup();
        }
        out.push(found);
    }
    Ok(Findings {
        caller_account,
        caller_arn,
        accounts: out,
        organization_error,
    })
}

/// Each account's name in the file: its organisation name, else `payer` for the caller and
/// `account-ID` for the others; made unique, never 12 digits.
fn names(listed: &[(String, String, Option<String>)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, (id, name, _)) in listed.iter().enumerate() {
        let mut name = name.trim().to_owned();
        if name.is_empty() || name.bytes().all(|b| b.is_ascii_digit()) {
            name = if i == 0 {
                "payer".into()
            } else {
                format!("account-{id}")
            };
        }
        if out.contains(&name) {
            name = format!("{name}-{id}");
        }
        out.push(name);
    }
    out
}

/// A configuration that makes the survey read everything `init` reports: every service, the
/// burn rate's types and 14 days of charges.
fn probe(
    home: &RegionName,
    listed: &[(String, String, Option<String>)],
    names: &[String],
) -> String {
    let mut text = format!(
        "[guard]\nhome_region = {}\nstate_path = \"/dev/null\"\n",
        toml::Value::from(home.as_str())
    );
    for ((id, _, role), name) in listed.iter().zip(names) {
        text.push_str(&format!(
            "[[accounts]]\nid = \"{id}\"\nname = {}\nhalt_services = [\"all\"]\nmax_estimated_charges_usd = 0.0\nspend_window = \"{HISTORY_DAYS}days\"\n",
            toml::Value::from(name.as_str())
        ));
        if let Some(role) = role {
            text.push_str(&format!("role_arn = \"{role}\"\n"));
        }
    }
    text
}

fn internal(message: String) -> CloudError {
    CloudError {
        kind: crate::ports::ErrorKind::Other,
        operation: "init",
        code: None,
        message,
    }
}
