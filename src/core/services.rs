//! Compute beyond EC2, in the guard's words: the services an account's `halt_services` names,
//! what of each runs (and costs), what halting each does, and how it is undone. Pure: the AWS
//! adapter lists the resources and makes the calls; this module decides, with the same
//! guarantees as for EC2 — exemptions decided before any call, journaled before each change, an
//! exact undo, never a deletion or a termination.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A service `halt_services` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Ec2,
    Rds,
    Sagemaker,
    Ecs,
    Eks,
    Lambda,
    Batch,
}

impl Service {
    /// Every service the configuration knows, in the contract's order.
    pub const ALL: [Service; 7] = [
        Self::Ec2,
        Self::Rds,
        Self::Sagemaker,
        Self::Ecs,
        Self::Eks,
        Self::Lambda,
        Self::Batch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ec2 => "ec2",
            Self::Rds => "rds",
            Self::Sagemaker => "sagemaker",
            Self::Ecs => "ecs",
            Self::Eks => "eks",
            Self::Lambda => "lambda",
            Self::Batch => "batch",
        }
    }

    pub fn parse(s: &str) -> Option<Service> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tags of an EKS managed node group's nodes (EC2 instances): read with the instances when
/// an account halts `eks`, so that a halt says which cluster and node group each stopped node
/// belonged to.
pub const EKS_NODE_TAGS: [&str; 2] = ["eks:cluster-name", "eks:nodegroup-name"];

/// The count rules of `max_running`, keys as the contract writes them.
pub const COUNT_KEYS: [&str; 5] = [
    "rds",
    "sagemaker_notebooks",
    "sagemaker_jobs",
    "ecs_tasks",
    "eks_nodes",
];

/// The services whose instance hours the burn rate prices besides EC2's (see
/// `money::service_hours`): read by a check whenever `max_burn_rate_usd_per_hour` is set.
pub const BILLED_BY_THE_HOUR: [Service; 2] = [Service::Rds, Service::Sagemaker];

/// The service a `max_running` key counts, and whether this build counts it.
pub fn count_key_service(key: &str) -> Option<Service> {
    match key {
        "rds" => Some(Service::Rds),
        "sagemaker_notebooks" | "sagemaker_jobs" => Some(Service::Sagemaker),
        "ecs_tasks" => Some(Service::Ecs),
        "eks_nodes" => Some(Service::Eks),
        _ => None,
    }
}

/// One resource of a service that costs money while it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub service: Service,
    pub arn: String,
    pub what: What,
    /// Its tags (the exemption tag is what matters), when read.
    pub tags: BTreeMap<String, String>,
}

/// What a resource is, with what halting it needs.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// An RDS DB instance that is `available` (not a member of an Aurora cluster: the cluster
    /// is stopped instead).
    DbInstance {
        id: String,
        /// Its DB instance class (`db.r6g.large`), engine (`postgres`) and whether it is
        /// Multi-AZ: what its hour is priced by.
        class: String,
        engine: String,
        multi_az: bool,
    },
    /// An Aurora DB cluster that is `available`.
    DbCluster {
        id: String,
        engine: String,
        /// The DB instance classes of its members: each is billed by the hour.
        members: Vec<String>,
    },
    /// An ECS service with a desired count above zero, and its running tasks.
    EcsService {
        cluster: String,
        name: String,
        desired: i32,
        running: i32,
    },
    /// A standalone ECS task (started by `RunTask`, not by a service) that is running.
    EcsTask {
        cluster: String,
        id: String,
    },
    /// A Lambda function not already held at zero concurrency; `reserved`: its reserved
    /// concurrency, if any.
    Function {
        name: String,
        reserved: Option<i32>,
    },
    /// A SageMaker notebook instance that is `InService`.
    Notebook {
        name: String,
        instance_type: String,
    },
    /// A SageMaker training, processing, transform or tuning job `InProgress`.
    SagemakerJob {
        kind: JobKind,
        name: String,
    },
    /// A SageMaker endpoint: never deleted, reported with what it runs.
    Endpoint {
        name: String,
        /// `(instance type, instances)` of each production variant.
        variants: Vec<(String, i32)>,
    },
    /// An EKS node group: its nodes are EC2 instances, halted by the EC2 path; the group is
    /// never scaled to zero (AWS would terminate its nodes).
    NodeGroup {
        cluster: String,
        name: String,
        desired: i32,
    },
    /// The running self-managed nodes of an EKS cluster (EC2 instances tagged
    /// `kubernetes.io/cluster/<cluster>`, in no managed node group): counted, halted by the
    /// EC2 path.
    SelfManagedNodes {
        cluster: String,
        /// Each running node's instance id and its Auto Scaling group, if any.
        nodes: Vec<(String, Option<String>)>,
    },
    /// A Batch job queue or managed compute environment that is `ENABLED`.
    BatchQueue {
        name: String,
    },
    BatchEnvironment {
        name: String,
    },
    /// A Batch job that is running: reported, never cancelled or terminated.
    BatchJob {
        queue: String,
        id: String,
    },
}

/// The kinds of SageMaker job, each with its Stop call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Training,
    Processing,
    Transform,
    Tuning,
}

impl What {
    /// What the check counts for it: database instances and clusters, ECS tasks running, a
    /// node group's nodes, one of anything else.
    pub fn counted(&self) -> u64 {
        match self {
            What::EcsService { running, .. } => (*running).max(0) as u64,
            What::NodeGroup { desired, .. } => (*desired).max(0) as u64,
            What::SelfManagedNodes { nodes, .. } => nodes.len() as u64,
            _ => 1,
        }
    }

    /// The `max_running` key its count is held to, if any.
    pub fn count_key(&self) -> Option<&'static str> {
        match self {
            What::DbInstance { .. } | What::DbCluster { .. } => Some("rds"),
            What::EcsService { .. } | What::EcsTask { .. } => Some("ecs_tasks"),
            What::Notebook { .. } => Some("sagemaker_notebooks"),
            What::SagemakerJob { .. } => Some("sagemaker_jobs"),
            What::NodeGroup { .. } | What::SelfManagedNodes { .. } => Some("eks_nodes"),
            _ => None,
        }
    }
}

/// A change the guard makes to a service resource — or its undoing. Never a deletion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ServiceChange {
    StopDbInstance {
        id: String,
    },
    StartDbInstance {
        id: String,
    },
    StopDbCluster {
        id: String,
    },
    StartDbCluster {
        id: String,
    },
    /// An ECS service's desired count set (to 0 by a halt, back by a restore).
    ScaleEcsService {
        cluster: String,
        service: String,
        desired: i32,
    },
    /// A standalone task stopped: it cannot be started again.
    StopEcsTask {
        cluster: String,
        task: String,
    },
    /// A function's reserved concurrency set (`Some(0)` by a halt), or removed (`None`).
    SetConcurrency {
        function: String,
        reserved: Option<i32>,
    },
    StopNotebook {
        name: String,
    },
    StartNotebook {
        name: String,
    },
    /// A SageMaker job stopped: it cannot be resumed.
    StopSagemakerJob {
        kind: JobKind,
        name: String,
    },
    /// A Batch job queue enabled or disabled.
    SetBatchQueue {
        name: String,
        enabled: bool,
    },
    /// A Batch compute environment enabled or disabled.
    SetBatchEnvironment {
        name: String,
        enabled: bool,
    },
}

/// Why some resources are never changed, only reported: `None` for those a halt changes.
pub fn never_changed(what: &What) -> Option<String> {
    match what {
        What::Endpoint { variants, .. } => Some(format!(
            "an endpoint is never deleted: it runs {}; delete or scale it yourself if it must stop",
            variants
                .iter()
                .map(|(t, n)| format!("{n} × {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        What::NodeGroup { desired, .. } => Some(format!(
            "a node group is never scaled to zero (AWS would terminate its nodes): its {desired} nodes are EC2 instances, stopped by the ec2 halt"
        )),
        What::SelfManagedNodes { nodes, .. } => Some(format!(
            "self-managed nodes are never scaled in by the guard: its {} running nodes are EC2 instances, stopped by the ec2 halt (their Auto Scaling group suspended first)",
            nodes.len()
        )),
        What::BatchJob { .. } => Some(
            "a running Batch job is never cancelled or terminated: its queue is disabled".into(),
        ),
        _ => None,
    }
}

/// What halting a resource does, with the state it changes from (journaled), or `None` when
/// it cannot be undone (reported as not restorable). Only for what [`never_changed`] leaves.
pub fn halt_change(r: &Resource) -> (ServiceChange, Option<ServiceChange>) {
    match &r.what {
        What::Notebook { name, .. } => (
            ServiceChange::StopNotebook { name: name.clone() },
            Some(ServiceChange::StartNotebook { name: name.clone() }),
        ),
        What::SagemakerJob { kind, name } => (
            ServiceChange::StopSagemakerJob {
                kind: *kind,
                name: name.clone(),
            },
            None,
        ),
        What::BatchQueue { name } => (
            ServiceChange::SetBatchQueue {
                name: name.clone(),
                enabled: false,
            },
            Some(ServiceChange::SetBatchQueue {
                name: name.clone(),
                enabled: true,
            }),
        ),
        What::BatchEnvironment { name } => (
            ServiceChange::SetBatchEnvironment {
                name: name.clone(),
                enabled: false,
            },
            Some(ServiceChange::SetBatchEnvironment {
                name: name.clone(),
                enabled: true,
            }),
        ),
        What::Endpoint { .. }
        | What::NodeGroup { .. }
        | What::SelfManagedNodes { .. }
        | What::BatchJob { .. } => {
            unreachable!("never changed: see never_changed")
        }
        What::DbInstance { id, .. } => (
            ServiceChange::StopDbInstance { id: id.clone() },
            Some(ServiceChange::StartDbInstance { id: id.clone() }),
        ),
        What::DbCluster { id, .. } => (
            ServiceChange::StopDbCluster { id: id.clone() },
            Some(ServiceChange::StartDbCluster { id: id.clone() }),
        ),
        What::EcsService {
            cluster,
            name,
            desired,
            ..
        } => (
            ServiceChange::ScaleEcsService {
                cluster: cluster.clone(),
                service: name.clone(),
                desired: 0,
            },
            Some(ServiceChange::ScaleEcsService {
                cluster: cluster.clone(),
                service: name.clone(),
                desired: *desired,
            }),
        ),
        What::EcsTask { cluster, id } => (
            ServiceChange::StopEcsTask {
                cluster: cluster.clone(),
                task: id.clone(),
            },
            None,
        ),
        What::Function { name, reserved } => (
            ServiceChange::SetConcurrency {
                function: name.clone(),
                reserved: Some(0),
            },
            Some(ServiceChange::SetConcurrency {
                function: name.clone(),
                reserved: *reserved,
            }),
        ),
    }
}

/// Whether undoing starts something that was stopped (restore does that only with
/// `--start-instances`, as for EC2) rather than giving back a setting.
pub fn undo_starts(undo: &ServiceChange) -> bool {
    matches!(
        undo,
        ServiceChange::StartDbInstance { .. }
            | ServiceChange::StartDbCluster { .. }
            | ServiceChange::StartNotebook { .. }
    )
}

/// Why a resource is left alone.
#[derive(Debug, Clone, PartialEq)]
pub enum Leave {
    ExemptTag(String),
    ExemptList,
    /// The guard's own compute (its ECS task, or the service running it).
    Guard,
    /// Outside the incident's `halt_scope`.
    OutOfScope(String),
    /// Never changed by the guard, only reported (an endpoint, a node group, a running job).
    Reported(String),
}

impl std::fmt::Display for Leave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Leave::ExemptTag(tag) => write!(f, "exempt (tag {tag}=true)"),
            Leave::ExemptList => f.write_str("exempt (exempt_resources)"),
            Leave::Guard => f.write_str("the guard's own compute"),
            Leave::OutOfScope(why) | Leave::Reported(why) => f.write_str(why),
        }
    }
}

/// What exempts a service resource: the exemption tag, the exempt list, the guard's own ECS
/// task and its service.
#[derive(Debug, Clone, Default)]
pub struct Exempt<'a> {
    pub tag: &'a str,
    pub arns: &'a [String],
    /// The guard's own compute, by ARN (its task, its service).
    pub own: &'a [String],
}

/// Splits `found` into what to halt and what to leave, with why. Decided before any call.
pub fn plan(found: Vec<Resource>, ex: &Exempt<'_>) -> (Vec<Resource>, Vec<(Resource, Leave)>) {
    let mut halt = Vec::new();
    let mut leave = Vec::new();
    for r in found {
        let tagged = r
            .tags
            .get(ex.tag)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if ex.own.contains(&r.arn) {
            leave.push((r, Leave::Guard));
        } else if tagged {
            let tag = ex.tag.to_owned();
            leave.push((r, Leave::ExemptTag(tag)));
        } else if ex.arns.contains(&r.arn) {
            leave.push((r, Leave::ExemptList));
        } else if let Some(why) = never_changed(&r.what) {
            leave.push((r, Leave::Reported(why)));
        } else {
            halt.push(r);
        }
    }
    (halt, leave)
}

/// What a check reports of one service: how much runs, per region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceCount {
    pub running: u64,
    pub regions: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(arn: &str, tags: &[(&str, &str)], what: What) -> Resource {
        Resource {
            service: Service::Rds,
            arn: arn.into(),
            what,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn exemptions_hold_before_any_call_and_the_guards_own_compute_is_never_halted() {
        let db = |id: &str| What::DbInstance {
            id: id.into(),
            class: "db.t3.micro".into(),
            engine: "postgres".into(),
            multi_az: false,
        };
        let found = vec![
            res("arn:db:prod", &[("runaway:exempt", "TRUE")], db("prod")),
            res("arn:db:listed", &[], db("listed")),
            res("arn:svc:guard", &[], db("guard")),
            res("arn:db:stray", &[("runaway:exempt", "no")], db("stray")),
        ];
        let arns = vec!["arn:db:listed".to_owned()];
        let own = vec!["arn:svc:guard".to_owned()];
        let (halt, leave) = plan(
            found,
            &Exempt {
                tag: "runaway:exempt",
                arns: &arns,
                own: &own,
            },
        );
        assert_eq!(
            halt.iter().map(|r| r.arn.as_str()).collect::<Vec<_>>(),
            ["arn:db:stray"]
        );
        let why: Vec<String> = leave.iter().map(|(_, l)| l.to_string()).collect();
        assert_eq!(
            why,
            [
                "exempt (tag runaway:exempt=true)",
                "exempt (exempt_resources)",
                "the guard's own compute"
            ]
        );
    }

    #[test]
    fn each_halt_has_its_exact_undo_and_a_standalone_task_has_none() {
        let svc = res(
            "arn:svc",
            &[],
            What::EcsService {
                cluster: "c".into(),
                name: "web".into(),
                desired: 3,
                running: 3,
            },
        );
        let (halt, undo) = halt_change(&svc);
        assert_eq!(
            halt,
            ServiceChange::ScaleEcsService {
                cluster: "c".into(),
                service: "web".into(),
                desired: 0
            }
        );
        assert_eq!(
            undo,
            Some(ServiceChange::ScaleEcsService {
                cluster: "c".into(),
                service: "web".into(),
                desired: 3
            })
        );
        let f = res(
            "arn:fn",
            &[],
            What::Function {
                name: "loop".into(),
                reserved: None,
            },
        );
        assert_eq!(
            halt_change(&f).1,
            Some(ServiceChange::SetConcurrency {
                function: "loop".into(),
                reserved: None
            })
        );
        let task = res(
            "arn:task",
            &[],
            What::EcsTask {
                cluster: "c".into(),
                id: "t".into(),
            },
        );
        assert_eq!(halt_change(&task).1, None);
        assert!(undo_starts(&ServiceChange::StartDbInstance {
            id: "x".into()
        }));
        assert!(!undo_starts(&undo.unwrap()));
    }

    #[test]
    fn names_round_trip_and_only_built_services_count() {
        for s in Service::ALL {
            assert_eq!(Service::parse(s.as_str()), Some(s));
        }
        assert_eq!(Service::parse("ec3"), None);
        assert_eq!(count_key_service("ecs_tasks"), Some(Service::Ecs));
        let job = What::SagemakerJob {
            kind: JobKind::Training,
            name: "t".into(),
        };
        assert_eq!(job.count_key(), Some("sagemaker_jobs"));
        let group = What::NodeGroup {
            cluster: "c".into(),
            name: "ng".into(),
            desired: 4,
        };
        assert_eq!((group.count_key(), group.counted()), (Some("eks_nodes"), 4));
        assert!(
            never_changed(&group)
                .unwrap()
                .contains("never scaled to zero")
        );
    }
}
