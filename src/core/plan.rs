//! Halt planning: which running instances of a region get stopped, which are left alone and why,
//! and which Auto Scaling groups must be suspended first. Pure: instances and exemptions in, a
//! plan out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::config::{AccountPolicy, InstanceId};
use crate::core::model::{Instance, Lifecycle};

/// The Auto Scaling processes that would replace or re-launch a stopped instance. Suspended
/// before the group's instances are stopped, so that the halt holds instead of the group
/// terminating the stopped instances and launching new ones.
pub const SCALING_PROCESSES: [&str; 4] =
    ["Launch", "ReplaceUnhealthy", "HealthCheck", "AZRebalance"];

/// What the guard never touches.
#[derive(Debug, Clone)]
pub struct Exemptions<'a> {
    pub tag: &'a str,
    pub instances: &'a BTreeSet<InstanceId>,
    /// The instance the guard itself runs on, if it runs on one.
    pub own_instance: Option<&'a str>,
}

impl<'a> Exemptions<'a> {
    pub fn new(policy: &'a AccountPolicy, own_instance: Option<&'a str>) -> Self {
        Self {
            tag: &policy.exempt_tag,
            instances: &policy.exempt_instances,
            own_instance,
        }
    }
}

/// Why a running instance is not stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    ExemptTag(String),
    ExemptList,
    GuardItself,
    OneTimeSpot,
    /// AWS refused to stop it (`UnsupportedOperation`: an instance-store root, a Capacity
    /// Block...), with AWS's words.
    Refused(String),
    /// Its Auto Scaling group could not be suspended: stopped, it would be terminated and
    /// replaced by the group, so it is left running.
    GroupNotSuspended {
        group: String,
        error: String,
    },
    /// Outside the incident's `halt_scope` (`new`, `launchers`): left running on purpose.
    OutOfScope(String),
}

impl SkipReason {
    /// An exemption is the operator's will; anything else leaves an instance running that the
    /// halt should have stopped, and makes the halt only partly done.
    pub fn is_exemption(&self) -> bool {
        matches!(
            self,
            Self::ExemptTag(_) | Self::ExemptList | Self::GuardItself | Self::OutOfScope(_)
        )
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ExemptTag(tag) => write!(f, "exempt: tagged {tag}=true"),
            Self::ExemptList => f.write_str("exempt: listed in exempt_instances"),
            Self::GuardItself => f.write_str("exempt: the guard runs on this instance"),
            Self::OneTimeSpot => {
                f.write_str("cannot be stopped: one-time Spot instance (only terminate, which the guard never does)")
            }
            Self::Refused(why) => write!(f, "cannot be stopped, AWS says: {why}"),
            Self::GroupNotSuspended { group, error } => write!(
                f,
                "not stopped: its Auto Scaling group {group} could not be suspended and would replace it ({error})"
            ),
            Self::OutOfScope(why) => write!(f, "left running: {why}"),
        }
    }
}

/// The plan for one region.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegionPlan {
    /// Instance ids to stop, in the order found.
    pub stop: Vec<String>,
    pub skip: Vec<(String, SkipReason)>,
    /// Auto Scaling groups with an instance to stop, and those instances.
    pub groups: BTreeMap<String, Vec<String>>,
}

/// Sorts the running instances of one region into stop and skip.
pub fn plan_region(instances: &[Instance], ex: &Exemptions<'_>) -> RegionPlan {
    let mut plan = RegionPlan::default();
    for i in instances {
        match disposition(i, ex) {
            Some(reason) => plan.skip.push((i.id.clone(), reason)),
            None => {
                plan.stop.push(i.id.clone());
                if let Some(group) = &i.auto_scaling_group {
                    plan.groups
                        .entry(group.clone())
                        .or_default()
                        .push(i.id.clone());
                }
            }
        }
    }
    plan
}

fn disposition(i: &Instance, ex: &Exemptions<'_>) -> Option<SkipReason> {
    if ex.own_instance == Some(i.id.as_str()) {
        return Some(SkipReason::GuardItself);
    }
    if i.tags
        .get(ex.tag)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return Some(SkipReason::ExemptTag(ex.tag.to_owned()));
    }
    if ex.instances.iter().any(|e| e.as_str() == i.id) {
        return Some(SkipReason::ExemptList);
    }
    match i.lifecycle {
        Lifecycle::OnDemand | Lifecycle::Spot { persistent: true } => None,
        Lifecycle::Spot { persistent: false } => Some(SkipReason::OneTimeSpot),
    }
}

/// The scaling processes still to suspend on a group, given those already suspended.
pub fn processes_to_suspend(already: &[String]) -> Vec<String> {
    SCALING_PROCESSES
        .iter()
        .filter(|p| !already.iter().any(|a| a == *p))
        .map(|p| p.to_string())
        .collect()
}

/// Keeps in `stop` only the instances `selected` says are in the incident's scope; the others
/// move to `skip` (and out of the groups to suspend), with `why`.
pub fn keep_in_scope(plan: &mut RegionPlan, selected: impl Fn(&str) -> bool, why: &str) {
    let (keep, leave): (Vec<String>, Vec<String>) =
        plan.stop.drain(..).partition(|id| selected(id));
    plan.stop = keep;
    for group in plan.groups.values_mut() {
        group.retain(|id| !leave.contains(id));
    }
    plan.groups.retain(|_, members| !members.is_empty());
    for id in leave {
        plan.skip.push((id, SkipReason::OutOfScope(why.to_owned())));
    }
}

/// Moves the instances of a group that could not be suspended from stop to skip.
pub fn drop_group(plan: &mut RegionPlan, group: &str, error: &str) {
    let Some(members) = plan.groups.remove(group) else {
        return;
    };
    plan.stop.retain(|id| !members.contains(id));
    for id in members {
        let reason = SkipReason::GroupNotSuspended {
            group: group.to_owned(),
            error: error.to_owned(),
        };
        plan.skip.push((id, reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_scope_instances_are_left_running_and_their_groups_left_alone() {
        let mut plan = RegionPlan {
            stop: vec!["i-miner".into(), "i-prod".into(), "i-web".into()],
            skip: vec![],
            groups: BTreeMap::from([("web".to_owned(), vec!["i-web".to_owned()])]),
        };
        keep_in_scope(
            &mut plan,
            |id| id == "i-miner",
            "not launched by the incident's launchers",
        );
        assert_eq!(plan.stop, ["i-miner"]);
        assert!(
            plan.groups.is_empty(),
            "a group with nothing to stop is not suspended"
        );
        assert_eq!(plan.skip.len(), 2);
        assert!(plan.skip.iter().all(|(_, r)| r.is_exemption()));
        assert_eq!(
            plan.skip[0].1.to_string(),
            "left running: not launched by the incident's launchers"
        );
    }

    fn instance(id: &str) -> Instance {
        Instance {
            id: id.into(),
            tags: BTreeMap::new(),
            lifecycle: Lifecycle::OnDemand,
            auto_scaling_group: None,
            instance_type: None,
            platform: None,
        }
    }

    #[test]
    fn sorts_instances_into_stop_and_skip() {
        let listed: BTreeSet<InstanceId> =
            [InstanceId::parse("i-0000000000000000b").unwrap()].into();
        let ex = Exemptions {
            tag: "runaway:exempt",
            instances: &listed,
            own_instance: Some("i-self"),
        };
        let mut tagged = instance("i-tagged");
        tagged.tags.insert("runaway:exempt".into(), "True".into());
        let mut tagged_false = instance("i-tagged-false");
        tagged_false
            .tags
            .insert("runaway:exempt".into(), "false".into());
        let spot = |id: &str, persistent| Instance {
            lifecycle: Lifecycle::Spot { persistent },
            ..instance(id)
        };
        let mut in_group = instance("i-asg");
        in_group.auto_scaling_group = Some("web".into());
        let found = vec![
            instance("i-plain"),
            tagged,
            tagged_false,
            instance("i-0000000000000000b"),
            instance("i-self"),
            spot("i-spot1", false),
            spot("i-spotp", true),
            in_group,
        ];
        let plan = plan_region(&found, &ex);
        assert_eq!(plan.stop, ["i-plain", "i-tagged-false", "i-spotp", "i-asg"]);
        let skipped: Vec<(&str, bool)> = plan
            .skip
            .iter()
            .map(|(id, r)| (id.as_str(), r.is_exemption()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("i-tagged", true),
                ("i-0000000000000000b", true),
                ("i-self", true),
                ("i-spot1", false),
            ]
        );
        assert_eq!(
            plan.groups,
            BTreeMap::from([("web".to_string(), vec!["i-asg".to_string()])])
        );
    }

    #[test]
    fn a_group_that_cannot_be_suspended_keeps_its_instances_running() {
        let ex_ids = BTreeSet::new();
        let ex = Exemptions {
            tag: "x",
            instances: &ex_ids,
            own_instance: None,
        };
        let mut a = instance("i-a");
        a.auto_scaling_group = Some("web".into());
        let mut plan = plan_region(&[a, instance("i-b")], &ex);
        drop_group(&mut plan, "web", "AccessDenied");
        assert_eq!(plan.stop, ["i-b"]);
        assert!(
            matches!(&plan.skip[0], (id, SkipReason::GroupNotSuspended { group, .. }) if id == "i-a" && group == "web")
        );
    }

    #[test]
    fn suspends_only_what_is_not_suspended_yet() {
        assert_eq!(
            processes_to_suspend(&["Launch".into(), "Terminate".into()]),
            ["ReplaceUnhealthy", "HealthCheck", "AZRebalance"]
        );
        assert!(processes_to_suspend(&SCALING_PROCESSES.map(String::from)).is_empty());
    }
}
