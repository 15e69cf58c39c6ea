//! Isolating a compromised instance, in the order of the AWS Security Incident Response
//! Guide's infrastructure playbook: what each step is called, what it would change on a
//! captured instance (or why it has nothing to do), and what the whole did. Pure: the
//! application (`crate::app::isolate`) reads the instance, journals and calls.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The isolation security group of a VPC: no inbound rule, no outbound rule.
pub const ISOLATION_GROUP: &str = "runaway-isolation";
/// The group an interface passes through first: allow-all rules both ways make every
/// connection untracked, so that moving on to the isolation group drops those already open.
pub const UNTRACKED_GROUP: &str = "runaway-isolation-untracked";
/// The forensic instance's group, which the isolation group admits inbound.
pub const FORENSICS_GROUP: &str = "runaway-forensics";

/// The device names the forensic instance gets the evidence volumes on, `/dev/sdf` onwards
/// (never its own root device); at most 11.
pub fn forensic_devices(count: usize) -> Vec<String> {
    (b'f'..=b'p')
        .take(count)
        .map(|c| format!("/dev/sd{}", c as char))
        .collect()
}

/// The steps, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Capture,
    TerminationProtection,
    DetachAutoScaling,
    DisassociateProfile,
    IsolationGroup,
    Snapshot,
    Tag,
    Stop,
    Forensics,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Capture => "capture",
            Self::TerminationProtection => "termination_protection",
            Self::DetachAutoScaling => "detach_auto_scaling",
            Self::DisassociateProfile => "disassociate_profile",
            Self::IsolationGroup => "isolation_group",
            Self::Snapshot => "snapshot",
            Self::Tag => "tag",
            Self::Stop => "stop",
            Self::Forensics => "forensics",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Done,
    /// Nothing to do (already so, or not asked for).
    Skipped,
    Failed,
    /// A dry run: what would be done.
    Planned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub step: Step,
    pub status: StepStatus,
    pub detail: String,
}

/// The instance to isolate, as a `/runaway isolate` journals it until confirmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolationTarget {
    pub account_id: String,
    pub region: String,
    pub instance_id: String,
}

/// What `runaway isolate` (or a GuardDuty response) was asked to do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    pub stop: bool,
    pub ticket: Option<String>,
    /// Launch a forensic instance with volumes made from the snapshots.
    pub forensics: bool,
}

/// What isolating one instance did: the contract's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolationReport {
    /// `None` for a dry run.
    pub incident: Option<String>,
    pub account_id: String,
    pub region: String,
    pub instance_id: String,
    pub dry_run: bool,
    pub steps: Vec<StepReport>,
    /// Snapshots taken (kept by `restore`).
    pub snapshots: Vec<String>,
    /// The forensic instance, once launched (kept by `restore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forensic_instance: Option<String>,
}

impl IsolationReport {
    pub fn failed(&self) -> bool {
        self.steps.iter().any(|s| s.status == StepStatus::Failed)
    }

    /// 0 done (or a dry run), 1 done in part.
    pub fn exit_code(&self) -> i32 {
        if self.failed() { 1 } else { 0 }
    }

    pub fn push(&mut self, step: Step, status: StepStatus, detail: impl Into<String>) {
        self.steps.push(StepReport {
            step,
            status,
            detail: detail.into(),
        });
    }
}

/// An instance as it was before the guard isolated it: journaled first, so that whoever
/// investigates (and `restore`) knows what it was attached to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceCapture {
    pub instance_id: String,
    pub state: String,
    pub instance_type: String,
    pub image_id: Option<String>,
    pub launch_time: Option<chrono::DateTime<chrono::Utc>>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    pub private_ip: Option<String>,
    pub public_ip: Option<String>,
    pub key_name: Option<String>,
    pub platform: Option<String>,
    pub interfaces: Vec<Interface>,
    /// The IAM instance profile association, if any.
    pub profile: Option<ProfileAssociation>,
    /// The Auto Scaling group the instance is a member of, if any.
    pub auto_scaling_group: Option<String>,
    pub volumes: Vec<Volume>,
    pub tags: BTreeMap<String, String>,
    /// `DisableApiTermination`.
    pub termination_protection: bool,
    /// `InstanceInitiatedShutdownBehavior`: `stop` or `terminate`.
    pub shutdown_behavior: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub id: String,
    /// Its security group ids.
    pub groups: Vec<String>,
    pub private_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileAssociation {
    pub association_id: String,
    pub profile_arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    pub device: String,
}

/// Why the guard refuses to isolate this instance at all, if it does: it is the guard's own,
/// exempt, or gone.
pub fn refusal(
    capture: &InstanceCapture,
    exempt_tag: &str,
    exempt_instances: &BTreeSet<String>,
    own_instance: Option<&str>,
) -> Option<String> {
    let id = &capture.instance_id;
    if own_instance == Some(id.as_str()) {
        return Some(format!(
            "{id} is the instance the guard runs on: it never isolates itself"
        ));
    }
    if capture
        .tags
        .get(exempt_tag)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Some(format!(
            "{id} is exempt (tag {exempt_tag}=true): remove the exemption to isolate it"
        ));
    }
    if exempt_instances.contains(id) {
        return Some(format!(
            "{id} is exempt (exempt_instances): remove the exemption to isolate it"
        ));
    }
    if matches!(
        capture.state.as_str(),
        "terminated" | "shutting-down" | "" | "unknown"
    ) {
        return Some(format!(
            "{id} is {}: there is nothing left to isolate",
            if capture.state.is_empty() {
                "in an unknown state"
            } else {
                &capture.state
            }
        ));
    }
    None
}

/// Step 2: the change from the instance's attributes to termination protection on and shutdown
/// behaviour `stop`, as `(detail, before)`; `None` when both already hold.
pub fn protection(capture: &InstanceCapture) -> Option<(serde_json::Value, serde_json::Value)> {
    if capture.termination_protection && capture.shutdown_behavior == "stop" {
        return None;
    }
    Some((
        serde_json::json!({"termination_protection": true, "shutdown_behavior": "stop"}),
        serde_json::json!({
            "termination_protection": capture.termination_protection,
            "shutdown_behavior": capture.shutdown_behavior,
        }),
    ))
}

/// Step 5: the interfaces not yet in the isolation group alone, with their groups before.
pub fn interfaces_to_move<'c>(
    capture: &'c InstanceCapture,
    isolation_group: Option<&str>,
) -> Vec<(&'c str, &'c [String])> {
    capture
        .interfaces
        .iter()
        .filter(|i| isolation_group.is_none_or(|g| i.groups != [g]))
        .map(|i| (i.id.as_str(), i.groups.as_slice()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture() -> InstanceCapture {
        InstanceCapture {
            instance_id: "i-1".into(),
            state: "running".into(),
            instance_type: "t3.micro".into(),
            image_id: None,
            launch_time: None,
            vpc_id: Some("vpc-1".into()),
            subnet_id: None,
            availability_zone: None,
            private_ip: None,
            public_ip: None,
            key_name: None,
            platform: None,
            interfaces: vec![
                Interface {
                    id: "eni-1".into(),
                    groups: vec!["sg-web".into()],
                    private_ip: None,
                },
                Interface {
                    id: "eni-2".into(),
                    groups: vec!["sg-iso".into()],
                    private_ip: None,
                },
            ],
            profile: None,
            auto_scaling_group: None,
            volumes: vec![],
            tags: [("runaway:exempt".to_owned(), "false".to_owned())].into(),
            termination_protection: false,
            shutdown_behavior: "terminate".into(),
        }
    }

    #[test]
    fn refuses_the_guard_itself_exempt_and_gone_instances() {
        let c = capture();
        let none = BTreeSet::new();
        assert_eq!(refusal(&c, "runaway:exempt", &none, None), None);
        assert!(
            refusal(&c, "runaway:exempt", &none, Some("i-1"))
                .unwrap()
                .contains("runs on")
        );
        let mut tagged = c.clone();
        tagged.tags.insert("runaway:exempt".into(), "TRUE".into());
        assert!(
            refusal(&tagged, "runaway:exempt", &none, None)
                .unwrap()
                .contains("exempt")
        );
        let listed = BTreeSet::from(["i-1".to_owned()]);
        assert!(refusal(&c, "runaway:exempt", &listed, None).is_some());
        let mut gone = c;
        gone.state = "terminated".into();
        assert!(
            refusal(&gone, "runaway:exempt", &none, None)
                .unwrap()
                .contains("terminated")
        );
    }

    #[test]
    fn protection_keeps_what_it_changes_from_and_skips_when_already_so() {
        let mut c = capture();
        let (detail, before) = protection(&c).unwrap();
        assert_eq!(detail["shutdown_behavior"], "stop");
        assert_eq!(before["shutdown_behavior"], "terminate");
        assert_eq!(before["termination_protection"], false);
        c.termination_protection = true;
        c.shutdown_behavior = "stop".into();
        assert_eq!(protection(&c), None);
    }

    #[test]
    fn only_interfaces_outside_the_isolation_group_move() {
        let c = capture();
        assert_eq!(
            interfaces_to_move(&c, Some("sg-iso")),
            vec![("eni-1", &["sg-web".to_owned()][..])]
        );
        assert_eq!(interfaces_to_move(&c, None).len(), 2);
        assert_eq!(forensic_devices(2), ["/dev/sdf", "/dev/sdg"]);
        assert_eq!(forensic_devices(20).len(), 11);
    }
}
