//! `runaway halt`: stop every running, non-exempt instance in every region of the accounts.
//!
//! A fixed order: survey → plan (pure, `crate::core::plan`) → confirm (the CLI) → per region, at once:
//! journal the findings → suspend the Auto Scaling groups of the instances to stop (journaled
//! before and after) → stop the instances in batches (journaled before and after). A dry run
//! stops after the plan and asks AWS (`DryRun`) whether the stops would be allowed; it journals
//! nothing. The guard never terminates anything.

pub use crate::core::reports::{AccountHalt, HaltReport, ServiceHalt, Skipped, Suspension};
pub use services::ServicePlan;

mod services;
use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::json;

use crate::app::journaled;
use crate::app::paced::Paced;
use crate::app::survey::survey;
use crate::config::{Account, RegionName};
use crate::core::change::{ChangeKind, INCIDENT_TAG};
use crate::core::model::Problem;
use crate::core::pacing::Throttling;
use crate::core::plan::{self, Exemptions, RegionPlan, SkipReason};
use crate::ports::journal::{Finding, Journal, JournalError, PlannedChange};
use crate::ports::{AccountCloud, Clock, Cloud, CloudError, ErrorKind, Purpose};

/// StopInstances documents no cap on ids; batches keep one bad id from failing too much at once
/// and stay far inside EC2's resource-token bucket (1,000 burst per region). Once AWS throttles,
/// the batches shrink to a second's worth of the account's `stop_rate` (`app::paced`).
pub const STOP_BATCH: usize = 100;

/// The survey and the plan of every region, before anything changes.
pub struct HaltPlan<'a> {
    pub accounts: Vec<AccountPlan<'a>>,
}

pub struct AccountPlan<'a> {
    pub account: &'a Account,
    pub conn: Option<Arc<dyn AccountCloud>>,
    pub regions: Vec<(RegionName, RegionPlan)>,
    /// The services beyond EC2 it halts (`halt_services`), per service and region.
    pub services: Vec<ServicePlan>,
    /// With `eks` halted: each EKS node's (instance id → cluster, node group).
    pub nodes: BTreeMap<String, (String, String)>,
    /// What could not be read: the account itself, or a region.
    pub errors: Vec<Problem>,
}

impl HaltPlan<'_> {
    /// Instances to stop, skipped instances, regions and Auto Scaling groups involved.
    pub fn totals(&self) -> (usize, usize, usize, usize) {
        let regions = || self.accounts.iter().flat_map(|a| &a.regions);
        (
            regions().map(|(_, p)| p.stop.len()).sum(),
            regions().map(|(_, p)| p.skip.len()).sum(),
            regions().filter(|(_, p)| !p.stop.is_empty()).count(),
            regions().map(|(_, p)| p.groups.len()).sum(),
        )
    }

    /// Resources of services beyond EC2 to halt.
    pub fn services_to_halt(&self) -> usize {
        self.accounts
            .iter()
            .flat_map(|a| &a.services)
            .map(|s| s.halt.len())
            .sum()
    }

    pub fn errors(&self) -> usize {
        self.accounts.iter().map(|a| a.errors.len()).sum()
    }
}

/// The guard's own compute, never halted: the EC2 instance it runs on, and the ARNs of its ECS
/// task and service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Own<'a> {
    pub instance: Option<&'a str>,
    pub compute: &'a [String],
}

/// Surveys the accounts and plans the halt of each region; `incident`: the incident it will be
/// carried out for (it names the guard's sessions), `None` for a dry run. EC2 is halted where
/// `halt_services` names it, and so is every other service it names.
pub async fn plan<'a>(
    cloud: &dyn Cloud,
    accounts: &[&'a Account],
    incident: Option<&str>,
    concurrency: usize,
    own: Own<'_>,
) -> HaltPlan<'a> {
    let surveys = survey(cloud, accounts, Purpose::Halt, incident, concurrency, None).await;
    let accounts = surveys
        .into_iter()
        .map(|s| {
            let ex = Exemptions::new(&s.account.policy, own.instance);
            let mut errors: Vec<Problem> = s.account_error.iter().map(Problem::account).collect();
            let mut regions = Vec::new();
            let ec2 = s
                .account
                .halt_services
                .contains(&crate::core::services::Service::Ec2);
            let mut nodes = BTreeMap::new();
            // Self-managed nodes: their cluster from the EKS read, their Auto Scaling group
            // as their node group.
            for sv in &s.services {
                for r in sv.resources.iter().flatten() {
                    if let crate::core::services::What::SelfManagedNodes { cluster, nodes: n } =
                        &r.what
                    {
                        for (id, group) in n {
                            let group = group.clone().unwrap_or_else(|| "self-managed".into());
                            nodes.insert(id.clone(), (cluster.clone(), group));
                        }
                    }
                }
            }
            for r in s.regions {
                if let Ok(found) = &r.instances {
                    for i in found {
                        let [cluster, group] = crate::core::services::EKS_NODE_TAGS;
                        if let (Some(c), Some(g)) = (i.tags.get(cluster), i.tags.get(group)) {
                            nodes.insert(i.id.clone(), (c.clone(), g.clone()));
                        }
                    }
                }
                match r.instances {
                    Ok(found) if ec2 => regions.push((r.region, plan::plan_region(&found, &ex))),
                    Ok(_) => {}
                    Err(e) if ec2 => errors.push(Problem::region(r.region.as_str(), e)),
                    Err(_) => {}
                }
            }
            AccountPlan {
                account: s.account,
                conn: s.conn,
                regions,
                services: services::plan_account(s.services, s.account, own.compute),
                nodes,
                errors,
            }
        })
        .collect();
    HaltPlan { accounts }
}

/// Which of an account's running instances an incident stops (`halt_scope`).
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// Every running, non-exempt instance.
    All,
    /// Only these (the instances the incident's launchers started).
    Only(std::collections::BTreeSet<String>),
    /// Only those launched at or after this time (the account's last ok check).
    LaunchedSince(chrono::DateTime<chrono::Utc>),
}

/// Narrows the plan to each account's scope. What falls outside is left running, said as such;
/// a region whose launch times cannot be read stops nothing there and is reported.
pub async fn narrow(plan: &mut HaltPlan<'_>, scope_of: impl Fn(&Account) -> Scope) {
    for a in &mut plan.accounts {
        let scope = scope_of(a.account);
        if scope != Scope::All {
            services::leave_all(
                &mut a.services,
                "outside the incident's halt_scope: only EC2 instances are scoped, other services are halted with halt_scope = \"all\"",
            );
        }
        match scope {
            Scope::All => {}
            Scope::Only(ids) => {
                if ids.is_empty() && a.regions.iter().any(|(_, r)| !r.stop.is_empty()) {
                    a.errors.push(Problem::account(
                        "halt_scope = \"launchers\": who launched the instances is not known (no CloudTrail record), so none was stopped",
                    ));
                }
                for (_, r) in &mut a.regions {
                    plan::keep_in_scope(
                        r,
                        |id| ids.contains(id),
                        "not started by the incident's launchers (halt_scope = \"launchers\")",
                    );
                }
            }
            Scope::LaunchedSince(since) => {
                let Some(conn) = a.conn.clone() else { continue };
                for (region, r) in &mut a.regions {
                    if r.stop.is_empty() {
                        continue;
                    }
                    match conn.launch_times(region, &r.stop).await {
                        Ok(times) => plan::keep_in_scope(
                            r,
                            |id| times.get(id).is_some_and(|t| *t >= since),
                            "running since before the account's last ok check (halt_scope = \"new\")",
                        ),
                        Err(e) => {
                            a.errors.push(Problem::region(region.as_str(), format!("halt_scope = \"new\": launch times not read, nothing stopped here: {e}")));
                            plan::keep_in_scope(r, |_| false, "launch time not known");
                        }
                    }
                }
            }
        }
    }
}

/// Carries the plan out (or, with `journal = None`, dry-runs it). Regions of all accounts run at
/// once within `concurrency`.
pub async fn execute(
    plan: HaltPlan<'_>,
    journal: Option<(&dyn Journal, &str)>,
    concurrency: usize,
    clock: Clock<'_>,
) -> HaltReport {
    let dry_run = journal.is_none();
    let mut accounts: Vec<AccountHalt> = plan
        .accounts
        .iter()
        .map(|a| AccountHalt {
            account_id: a.account.id.to_string(),
            name: a.account.name.clone(),
            stopped: BTreeMap::new(),
            suspended: Vec::new(),
            skipped: Vec::new(),
            errors: a.errors.clone(),
            services: Default::default(),
            throttled: Default::default(),
        })
        .collect();
    if let Some((j, incident)) = journal {
        for (a, out) in plan.accounts.iter().zip(&mut accounts) {
            for p in &a.errors {
                if let Err(e) = j.record_problem(
                    incident,
                    a.account.id.as_str(),
                    p.region.as_deref(),
                    &p.message,
                    clock(),
                ) {
                    out.errors.push(Problem::account(e));
                }
            }
        }
    }
    // Boxed in a loop, not built in stream closures, so the whole future stays `Send`.
    let mut jobs: Vec<BoxFuture<'_, (usize, Done)>> = Vec::new();
    for (i, a) in plan.accounts.iter().enumerate() {
        for p in a
            .services
            .iter()
            .filter(|p| !p.halt.is_empty() || !p.leave.is_empty() || p.error.is_some())
        {
            let p = p.clone();
            jobs.push(Box::pin(async move {
                let conn = a
                    .conn
                    .as_ref()
                    .expect("a surveyed service has a connection");
                let (service, out) =
                    services::halt(conn.as_ref(), a.account.id.as_str(), p, journal, clock).await;
                (i, Done::Service(service, out))
            }));
        }
        for (region, p) in a
            .regions
            .iter()
            .filter(|(_, p)| !p.stop.is_empty() || !p.skip.is_empty())
        {
            let p = p.clone();
            jobs.push(Box::pin(async move {
                let conn = a.conn.as_ref().expect("a planned region has a connection");
                let ctx = RegionCtx {
                    conn: conn.as_ref(),
                    account_id: a.account.id.as_str(),
                    region,
                    journal,
                    clock,
                    stop_rate: a.account.policy.stop_rate,
                };
                (i, Done::Region(ctx.halt(p).await))
            }));
        }
    }
    let results: Vec<(usize, Done)> = futures::stream::iter(jobs)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for (i, done) in results {
        let out = &mut accounts[i];
        let r = match done {
            Done::Region(r) => r,
            Done::Service(service, s) => {
                let into = out.services.entry(service.as_str().to_owned()).or_default();
                into.stopped.extend(s.stopped);
                into.skipped.extend(s.skipped);
                into.errors.extend(s.errors);
                into.not_restorable.extend(s.not_restorable);
                continue;
            }
        };
        if !r.stopped.is_empty() {
            out.stopped.insert(r.region.clone(), r.stopped);
        }
        out.suspended.extend(r.suspended);
        out.throttled.add(r.throttled);
        out.skipped.extend(r.skipped);
        out.errors.extend(r.errors);
    }
    for (a, p) in accounts.iter_mut().zip(&plan.accounts) {
        let nodes: Vec<crate::core::reports::StoppedNode> = a
            .stopped
            .iter()
            .flat_map(|(region, ids)| ids.iter().map(move |id| (region, id)))
            .filter_map(|(region, id)| {
                let (cluster, group) = p.nodes.get(id)?;
                Some(crate::core::reports::StoppedNode {
                    instance_id: id.clone(),
                    region: region.clone(),
                    cluster: cluster.clone(),
                    node_group: group.clone(),
                })
            })
            .collect();
        if !nodes.is_empty() {
            a.services.entry("eks".into()).or_default().nodes = nodes;
        }
        a.skipped
            .sort_by(|x, y| (&x.region, &x.instance_id).cmp(&(&y.region, &y.instance_id)));
        a.suspended
            .sort_by(|x, y| (&x.region, &x.group).cmp(&(&y.region, &y.group)));
        a.errors.sort_by(|x, y| x.region.cmp(&y.region));
        for s in a.services.values_mut() {
            s.stopped.sort();
            s.skipped
                .sort_by(|x, y| (&x.region, &x.arn).cmp(&(&y.region, &y.arn)));
            s.errors.sort_by(|x, y| x.region.cmp(&y.region));
            s.not_restorable.sort();
        }
    }
    HaltReport {
        incident: journal.map(|(_, id)| id.to_owned()),
        dry_run,
        accounts,
    }
}

/// What one job of a halt did: an EC2 region, or one service in one region.
enum Done {
    Region(RegionOutcome),
    Service(crate::core::services::Service, ServiceHalt),
}

struct RegionCtx<'a> {
    clock: Clock<'a>,
    conn: &'a dyn AccountCloud,
    account_id: &'a str,
    region: &'a RegionName,
    journal: Option<(&'a dyn Journal, &'a str)>,
    /// Instances a second once AWS throttles the stops (the account's `stop_rate`).
    stop_rate: f64,
}

#[derive(Default)]
struct RegionOutcome {
    region: String,
    throttled: Throttling,
    stopped: Vec<String>,
    suspended: Vec<Suspension>,
    skipped: Vec<Skipped>,
    errors: Vec<Problem>,
    /// Instances AWS refused to stop: they join the plan's skipped ones.
    refused: Vec<(String, SkipReason)>,
}

impl RegionOutcome {
    /// An instance that did not stop: refused by AWS (it cannot be stopped), or an error.
    fn failed(&mut self, region: &str, id: &str, e: CloudError) {
        if e.kind == ErrorKind::Unsupported {
            self.refused
                .push((id.to_owned(), SkipReason::Refused(e.message)));
        } else {
            self.errors
                .push(Problem::region(region, format!("{id}: {e}")));
        }
    }
}

impl RegionCtx<'_> {
    async fn halt(&self, mut plan: RegionPlan) -> RegionOutcome {
        let mut out = RegionOutcome {
            region: self.region.to_string(),
            ..Default::default()
        };
        if let Err(e) = self.try_halt(&mut plan, &mut out).await {
            // The journal refused a write: no change is made that was not journaled first.
            out.errors.push(Problem::region(
                self.region.as_str(),
                format!("{e}; stopped acting in this region"),
            ));
        }
        plan.skip.append(&mut out.refused);
        out.skipped = plan
            .skip
            .iter()
            .map(|(id, reason)| Skipped {
                instance_id: id.clone(),
                region: self.region.to_string(),
                reason: reason.to_string(),
                exempt: reason.is_exemption(),
            })
            .collect();
        out
    }

    async fn try_halt(
        &self,
        plan: &mut RegionPlan,
        out: &mut RegionOutcome,
    ) -> Result<(), JournalError> {
        let region = self.region.as_str();
        if let Some((j, incident)) = self.journal {
            let group_of = |id: &str| {
                plan.groups
                    .iter()
                    .find(|(_, members)| members.iter().any(|m| m == id))
                    .map(|(g, _)| g.as_str())
            };
            let findings: Vec<Finding<'_>> = plan
                .stop
                .iter()
                .map(|id| Finding {
                    instance_id: id,
                    decision: "stop",
                    reason: None,
                    auto_scaling_group: group_of(id),
                })
                .chain(plan.skip.iter().map(|(id, r)| Finding {
                    instance_id: id,
                    decision: "skip",
                    reason: Some(r.to_string()),
                    auto_scaling_group: None,
                }))
                .collect();
            j.record_findings(incident, self.account_id, region, &findings)?;
        }
        self.suspend_groups(plan, out).await?;
        let mut paced = Paced::new(self.stop_rate, STOP_BATCH);
        for batch in plan.stop.chunks(STOP_BATCH) {
            self.stop_batch(batch, out, &mut paced).await?;
        }
        out.throttled = paced.cost();
        tracing::info!(
            account.id = self.account_id,
            region,
            stopped = out.stopped.len(),
            skipped = plan.skip.len(),
            dry_run = self.journal.is_none(),
            "region halted"
        );
        Ok(())
    }

    /// Suspends the scaling processes of every group with an instance to stop. A group that
    /// cannot be suspended keeps its instances running (see `SkipReason::GroupNotSuspended`).
    async fn suspend_groups(
        &self,
        plan: &mut RegionPlan,
        out: &mut RegionOutcome,
    ) -> Result<(), JournalError> {
        if plan.groups.is_empty() {
            return Ok(());
        }
        let region = self.region.as_str();
        let names: Vec<String> = plan.groups.keys().cloned().collect();
        let current = match self.conn.suspended_processes(self.region, &names).await {
            Ok(c) => c,
            Err(e) => {
                out.errors.push(Problem::region(region, &e));
                for g in &names {
                    plan::drop_group(plan, g, &e.to_string());
                }
                return Ok(());
            }
        };
        for group in names {
            let Some(already) = current.get(&group) else {
                plan::drop_group(plan, &group, "the group was not found");
                continue;
            };
            let processes = plan::processes_to_suspend(already);
            if processes.is_empty() {
                continue;
            }
            let Some((j, incident)) = self.journal else {
                out.suspended.push(Suspension {
                    region: region.into(),
                    group,
                    processes,
                });
                continue;
            };
            let change = PlannedChange {
                account_id: self.account_id.into(),
                region: region.into(),
                action: ChangeKind::SuspendProcesses,
                target: group.clone(),
                detail: json!({ "processes": processes }),
                before: json!({ "suspended_processes": already }),
            };
            let result = journaled::make(j, incident, &[change], self.clock, async || {
                vec![
                    self.conn
                        .suspend_processes(self.region, &group, &processes)
                        .await,
                ]
            })
            .await?
            .remove(0);
            match result {
                Ok(()) => out.suspended.push(Suspension {
                    region: region.into(),
                    group,
                    processes,
                }),
                Err(e) => {
                    out.errors.push(Problem::region(
                        region,
                        format!("auto scaling group {group}: {e}"),
                    ));
                    plan::drop_group(plan, &group, &e.to_string());
                }
            }
        }
        Ok(())
    }

    async fn stop_batch(
        &self,
        batch: &[String],
        out: &mut RegionOutcome,
        paced: &mut Paced,
    ) -> Result<(), JournalError> {
        let region = self.region.as_str();
        let Some((j, incident)) = self.journal else {
            match self.conn.stop_instances(self.region, batch, true).await {
                Ok(()) => out.stopped.extend_from_slice(batch),
                Err(e) => out.errors.push(Problem::region(region, e)),
            }
            return Ok(());
        };
        let changes: Vec<PlannedChange> = batch
            .iter()
            .map(|id| PlannedChange {
                account_id: self.account_id.into(),
                region: region.into(),
                action: ChangeKind::StopInstance,
                target: id.clone(),
                detail: json!({}),
                before: json!({ "state": "running" }),
            })
            .collect();
        // Paced: throttled chunks wait for EC2's bucket; one bad id fails alone.
        let results = journaled::make(j, incident, &changes, self.clock, async || {
            paced
                .each(batch, |ids| {
                    self.conn.stop_instances(self.region, ids, false)
                })
                .await
        })
        .await?;
        let mut stopped = Vec::with_capacity(batch.len());
        for (id, result) in batch.iter().zip(results) {
            match result {
                Ok(()) => stopped.push(id.clone()),
                Err(e) => out.failed(region, id, e),
            }
        }
        if !stopped.is_empty() {
            self.tag_stopped(&stopped, j, incident, out).await?;
        }
        out.stopped.extend(stopped);
        Ok(())
    }

    /// Tags the instances just stopped `runaway:incident=<id>` (one call, journaled): whoever
    /// finds one stopped in the console sees why. A failed tag leaves the stop as it is and is
    /// reported.
    async fn tag_stopped(
        &self,
        ids: &[String],
        j: &dyn Journal,
        incident: &str,
        out: &mut RegionOutcome,
    ) -> Result<(), JournalError> {
        let changes: Vec<PlannedChange> = ids
            .iter()
            .map(|id| PlannedChange {
                account_id: self.account_id.into(),
                region: self.region.to_string(),
                action: ChangeKind::TagInstance,
                target: id.clone(),
                detail: json!({ "key": INCIDENT_TAG, "value": incident }),
                before: json!({}),
            })
            .collect();
        let results = journaled::make(j, incident, &changes, self.clock, async || {
            let r = self
                .conn
                .tag_instances(self.region, ids, INCIDENT_TAG, incident, true)
                .await;
            vec![r; ids.len()]
        })
        .await?;
        if let Some(Err(e)) = results.into_iter().next() {
            out.errors.push(Problem::region(
                self.region.as_str(),
                format!("stopped, but not tagged {INCIDENT_TAG}: {e}"),
            ));
        }
        Ok(())
    }
}
