//! Observing the organisation: connect to every account, resolve its regions, and list the
//! running instances of every region of every account — all at once, within a concurrency bound
//! (`guard.max_concurrency`). Shared by `check` and `halt`. A failure is kept with the account or
//! region it belongs to; the sweep goes on.

use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;

use crate::config::{Account, RegionName};
use crate::core::bedrock::ModelUsage;
use crate::core::model::Instance;
use crate::core::provisioned::Provisioned;
use crate::core::services::{Resource, Service};
use chrono::{DateTime, Utc};

use crate::ports::{AccountCloud, Cloud, CloudError, Purpose};

/// What was seen of one account.
pub struct AccountSurvey<'a> {
    pub account: &'a Account,
    /// The connection, when credentials and identity checked out.
    pub conn: Option<Arc<dyn AccountCloud>>,
    /// Why the account could not be reached or its regions not be listed.
    pub account_error: Option<CloudError>,
    /// Every region of the account, in name order.
    pub regions: Vec<RegionSurvey>,
    /// The estimated charges' points (from the payer: the account's total, or its
    /// `LinkedAccount` series), read only with `money` and a charges or spend rate rule.
    pub charges: Option<Result<Points, CloudError>>,
    /// What runs of each service beyond EC2 the account halts or counts, per region, in
    /// (service, region) order.
    pub services: Vec<ServiceSurvey>,
    /// Amazon Bedrock's use over the last hour per region, read only with `money` and a
    /// `max_bedrock_invocations_per_hour` or `max_bedrock_burn_rate_usd_per_hour` rule, in
    /// region order.
    pub bedrock: Vec<(RegionName, Result<Vec<ModelUsage>, CloudError>)>,
    /// Amazon Bedrock's provisioned throughputs per region, read with the usage.
    pub provisioned: Vec<(RegionName, Result<Vec<Provisioned>, CloudError>)>,
}

pub struct RegionSurvey {
    pub region: RegionName,
    pub instances: Result<Vec<Instance>, CloudError>,
}

pub struct ServiceSurvey {
    pub service: Service,
    pub region: RegionName,
    pub resources: Result<Vec<Resource>, CloudError>,
}

type Connected = (
    Option<Arc<dyn AccountCloud>>,
    Result<Vec<RegionName>, CloudError>,
);

enum Task {
    Region(usize, RegionName),
    Service(usize, RegionName, Service),
    Charges(usize),
    Bedrock(usize, RegionName),
}

type Points = Vec<(DateTime<Utc>, f64)>;

enum Outcome {
    Region(usize, RegionSurvey),
    Service(usize, ServiceSurvey),
    Charges(usize, Result<Points, CloudError>),
    Bedrock(
        usize,
        RegionName,
        Result<Vec<ModelUsage>, CloudError>,
        Result<Vec<Provisioned>, CloudError>,
    ),
}

/// The billing points a check reads: the last day, or the spend window if longer.
pub fn charges_since(account: &Account, now: DateTime<Utc>) -> DateTime<Utc> {
    let window = account
        .spend_window
        .max(std::time::Duration::from_secs(24 * 3600));
    crate::core::money::window_start(now, window)
}

/// Surveys the accounts. With `money` (the check's start), also reads what the accounts' money
/// rules need: the estimated charges (`max_estimated_charges_usd`,
/// `max_spend_rate_usd_per_hour`) and the instance types (`max_burn_rate_usd_per_hour`).
pub async fn survey<'a>(
    cloud: &dyn Cloud,
    accounts: &[&'a Account],
    purpose: Purpose,
    incident: Option<&str>,
    concurrency: usize,
    money: Option<DateTime<Utc>>,
) -> Vec<AccountSurvey<'a>> {
    // 1. Connect and resolve regions, accounts at once.
    // Futures built in loops and boxed, not in stream closures: the closures' higher-ranked
    // lifetimes would keep the whole future from being provably `Send` for the server's tasks.
    let mut connects: Vec<BoxFuture<'_, Connected>> = Vec::with_capacity(accounts.len());
    for &account in accounts {
        connects.push(Box::pin(async move {
            let conn = match cloud.connect(account, purpose, incident).await {
                Ok(conn) => conn,
                Err(e) => return (None, Err(e)),
            };
            let regions = match &account.regions {
                Some(pinned) => Ok(pinned.clone()),
                None => conn.enabled_regions().await,
            };
            (Some(conn), regions)
        }));
    }
    let connected: Vec<Connected> = futures::stream::iter(connects)
        .buffered(concurrency)
        .collect()
        .await;

    let mut surveys = Vec::with_capacity(accounts.len());
    let mut tasks = Vec::new();
    for (i, (account, (conn, regions))) in accounts.iter().zip(connected).enumerate() {
        let mut s = AccountSurvey {
            account,
            conn,
            account_error: None,
            regions: Vec::new(),
            charges: None,
            services: Vec::new(),
            bedrock: Vec::new(),
            provisioned: Vec::new(),
        };
        match regions {
            Ok(regions) => {
                let mut services = account.surveyed_services();
                // The burn rate prices database and SageMaker instance hours too.
                if money.is_some() && account.max_burn_rate_usd_per_hour.is_some() {
                    services.extend(crate::core::services::BILLED_BY_THE_HOUR);
                    services.sort();
                    services.dedup();
                }
                for service in services {
                    tasks.extend(regions.iter().map(|r| Task::Service(i, r.clone(), service)));
                }
                if money.is_some()
                    && (account.max_bedrock_invocations_per_hour.is_some()
                        || account.max_bedrock_burn_rate_usd_per_hour.is_some())
                {
                    tasks.extend(regions.iter().map(|r| Task::Bedrock(i, r.clone())));
                }
                tasks.extend(regions.into_iter().map(|r| Task::Region(i, r)));
                if money.is_some()
                    && (account.max_estimated_charges_usd.is_some()
                        || account.max_spend_rate_usd_per_hour.is_some())
                {
                    tasks.push(Task::Charges(i));
                }
            }
            Err(e) => s.account_error = Some(e),
        }
        surveys.push(s);
    }

    // The instances first: their reads are the longest, the services' many short ones fill in
    // around them.
    tasks.sort_by_key(|t| matches!(t, Task::Service(..)));

    // 2. Every region of every account, within one bound.
    let conns: Vec<Option<Arc<dyn AccountCloud>>> =
        surveys.iter().map(|s| s.conn.clone()).collect();
    let mut reads: Vec<BoxFuture<'_, Outcome>> = Vec::with_capacity(tasks.len());
    for task in tasks {
        let conns = &conns;
        reads.push(Box::pin(async move {
            match task {
                Task::Region(i, region) => {
                    let conn = conns[i]
                        .as_ref()
                        .expect("tasks exist only for connected accounts");
                    let mut tags = vec![accounts[i].policy.exempt_tag.clone()];
                    if accounts[i].halt_services.contains(&Service::Eks) {
                        tags.extend(crate::core::services::EKS_NODE_TAGS.map(str::to_owned));
                    }
                    // The burn rate needs the types: read with the instances, in one call.
                    let typed = money.is_some() && accounts[i].max_burn_rate_usd_per_hour.is_some();
                    let instances = conn.running_instances(&region, &tags, typed).await;
                    Outcome::Region(i, RegionSurvey { region, instances })
                }
                Task::Service(i, region, service) => {
                    let conn = conns[i]
                        .as_ref()
                        .expect("tasks exist only for connected accounts");
                    // Tags decide exemptions: a halt needs them, a count does not.
                    let tags = purpose != Purpose::Check;
                    let resources = conn.service_resources(&region, service, tags).await;
                    Outcome::Service(
                        i,
                        ServiceSurvey {
                            service,
                            region,
                            resources,
                        },
                    )
                }
                Task::Bedrock(i, region) => {
                    let conn = conns[i]
                        .as_ref()
                        .expect("tasks exist only for connected accounts");
                    let until = money.unwrap_or_default();
                    let since = until - crate::core::tokens::WINDOW;
                    let (usage, provisioned) = futures::join!(
                        conn.bedrock_usage(&region, since, until),
                        conn.bedrock_provisioned(&region)
                    );
                    Outcome::Bedrock(i, region, usage, provisioned)
                }
                Task::Charges(i) => {
                    let account = accounts[i];
                    // A member's charges exist only in the payer, by its LinkedAccount.
                    let linked = account.role_arn.as_ref().map(|_| account.id.as_str());
                    let since = charges_since(account, money.unwrap_or_default());
                    Outcome::Charges(i, cloud.charges(linked, since).await)
                }
            }
        }));
    }
    let outcomes: Vec<Outcome> = futures::stream::iter(reads)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for outcome in outcomes {
        match outcome {
            Outcome::Region(i, r) => surveys[i].regions.push(r),
            Outcome::Service(i, s) => surveys[i].services.push(s),
            Outcome::Charges(i, c) => surveys[i].charges = Some(c),
            Outcome::Bedrock(i, r, u, p) => {
                surveys[i].provisioned.push((r.clone(), p));
                surveys[i].bedrock.push((r, u));
            }
        }
    }
    for s in &mut surveys {
        s.regions.sort_by(|a, b| a.region.cmp(&b.region));
        s.bedrock.sort_by(|a, b| a.0.cmp(&b.0));
        s.provisioned.sort_by(|a, b| a.0.cmp(&b.0));
        s.services
            .sort_by(|a, b| (a.service, &a.region).cmp(&(b.service, &b.region)));
    }
    surveys
}
