//! What isolating a compromised instance needs from the cloud: the instance read in full, and
//! each step of the infrastructure playbook (and its undoing by `restore`) as one call.

use async_trait::async_trait;

use super::CloudError;
use crate::config::RegionName;
pub use crate::core::isolation::{InstanceCapture, Interface, ProfileAssociation, Volume};

/// A security group the guard makes in a VPC: the isolation group (no rule at all), or the
/// untracked one (allow-all both ways, so that connections already open stop being tracked and
/// are dropped when the interface moves on to the isolation group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRules {
    /// No inbound rule, no outbound rule.
    Nothing,
    /// Every protocol, every address (IPv4 and IPv6), in and out.
    AllowAll,
    /// No inbound rule; outbound as a new group has it (all IPv4): the forensic instance's.
    OutboundOnly,
}

/// What [`Isolation::wait_ready`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// Snapshots `completed`.
    Snapshots,
    /// Volumes `available`.
    Volumes,
    /// An instance `running`.
    Instance,
}

/// The forensic instance to launch.
#[derive(Debug, Clone, PartialEq)]
pub struct ForensicLaunch {
    pub image_id: String,
    pub instance_type: String,
    pub subnet_id: String,
    pub group_id: String,
    pub tags: Vec<(String, String)>,
}

/// The steps of isolating an instance, in one region of a connected account.
#[async_trait]
pub trait Isolation: Send + Sync {
    /// The instance in full; `NotFound` when it does not exist in the region.
    async fn capture(
        &self,
        region: &RegionName,
        instance: &str,
    ) -> Result<InstanceCapture, CloudError>;

    /// `DisableApiTermination`.
    async fn set_termination_protection(
        &self,
        region: &RegionName,
        instance: &str,
        on: bool,
    ) -> Result<(), CloudError>;

    /// `InstanceInitiatedShutdownBehavior`: `stop` or `terminate`.
    async fn set_shutdown_behavior(
        &self,
        region: &RegionName,
        instance: &str,
        behavior: &str,
    ) -> Result<(), CloudError>;

    /// Detaches the instance from its Auto Scaling group, decrementing the desired capacity (so
    /// the group neither replaces it nor terminates it), or (`attach`) attaches it back, which
    /// increments the desired capacity again.
    async fn set_group_membership(
        &self,
        region: &RegionName,
        instance: &str,
        group: &str,
        attach: bool,
    ) -> Result<(), CloudError>;

    async fn disassociate_profile(
        &self,
        region: &RegionName,
        association_id: &str,
    ) -> Result<(), CloudError>;

    async fn associate_profile(
        &self,
        region: &RegionName,
        instance: &str,
        profile_arn: &str,
    ) -> Result<(), CloudError>;

    /// The id of the VPC's security group named `name`, if it exists.
    async fn find_group(
        &self,
        region: &RegionName,
        vpc: &str,
        name: &str,
    ) -> Result<Option<String>, CloudError>;

    /// Creates the group with exactly `rules`, tagged `tags`; returns its id.
    async fn create_group(
        &self,
        region: &RegionName,
        vpc: &str,
        name: &str,
        description: &str,
        rules: GroupRules,
        tags: &[(String, String)],
    ) -> Result<String, CloudError>;

    /// Sets the security groups of a network interface.
    async fn set_interface_groups(
        &self,
        region: &RegionName,
        interface: &str,
        groups: &[String],
    ) -> Result<(), CloudError>;

    /// Snapshots a volume, tagged `tags`; returns the snapshot's id.
    async fn create_snapshot(
        &self,
        region: &RegionName,
        volume: &str,
        description: &str,
        tags: &[(String, String)],
    ) -> Result<String, CloudError>;

    /// The subnet's VPC and availability zone.
    async fn subnet(
        &self,
        region: &RegionName,
        subnet: &str,
    ) -> Result<(String, String), CloudError>;

    /// Lets members of `from` reach members of `group` (every protocol).
    async fn admit(&self, region: &RegionName, group: &str, from: &str) -> Result<(), CloudError>;

    /// Waits until every one of `ids` is ready (see [`Ready`]), at most `timeout`.
    async fn wait_ready(
        &self,
        region: &RegionName,
        what: Ready,
        ids: &[String],
        timeout: std::time::Duration,
    ) -> Result<(), CloudError>;

    /// A volume made from a snapshot in `zone`, tagged `tags`; returns its id.
    async fn create_volume(
        &self,
        region: &RegionName,
        snapshot: &str,
        zone: &str,
        tags: &[(String, String)],
    ) -> Result<String, CloudError>;

    /// Launches one instance (never more); returns its id.
    async fn run_forensic_instance(
        &self,
        region: &RegionName,
        launch: &ForensicLaunch,
    ) -> Result<String, CloudError>;

    /// Attaches a volume to an instance as `device`.
    async fn attach_volume(
        &self,
        region: &RegionName,
        volume: &str,
        instance: &str,
        device: &str,
    ) -> Result<(), CloudError>;
}
