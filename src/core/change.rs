//! The changes the guard makes in AWS, in the journal's words: every kind it can make (and
//! `restore` can undo), and where a change or its undoing stands. Stored as their lowercase
//! names; a name this build does not know is an error, never a default.

/// Every kind of change the guard makes in AWS: the journal's `action` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    StopInstance,
    SuspendProcesses,
    AttachUserPolicy,
    AttachRolePolicy,
    DeactivateAccessKey,
    /// The tag [`INCIDENT_TAG`] on an instance the incident stopped.
    TagInstance,
    /// An inline role policy revoking the role's older sessions.
    PutRolePolicy,
    /// An inline user policy revoking the user's older sessions.
    PutUserPolicy,
    /// Termination protection on, shutdown behaviour `stop` (isolation).
    ProtectInstance,
    /// An instance detached from its Auto Scaling group, the desired capacity decremented.
    DetachFromGroup,
    /// An instance's IAM instance profile disassociated.
    DisassociateProfile,
    /// A network interface moved to the isolation security group.
    SetInterfaceGroups,
    /// A security group the guard made (isolation, untracked): kept by `restore`,
    /// other isolations may use it.
    CreateSecurityGroup,
    /// An EBS snapshot of an isolated instance's volume: evidence, kept by `restore`.
    CreateSnapshot,
    /// The isolation group admitting the forensic group inbound: kept by `restore`.
    AdmitForensics,
    /// A volume made from a snapshot for the forensic instance: kept by `restore`.
    CreateVolume,
    /// The forensic instance: kept by `restore` (the responder decides).
    RunForensicInstance,
    /// A volume attached to the forensic instance: kept by `restore`.
    AttachVolume,
    /// An RDS DB instance stopped (`restore --start-instances` starts it).
    StopDbInstance,
    /// An Aurora DB cluster stopped (`restore --start-instances` starts it).
    StopDbCluster,
    /// An ECS service's desired count set to 0 (`restore` sets the count it had).
    ScaleEcsService,
    /// A standalone ECS task stopped: it cannot be started again.
    StopEcsTask,
    /// A Lambda function's reserved concurrency set to 0 (`restore` gives back what it had).
    SetConcurrency,
    /// A SageMaker notebook instance stopped (`restore --start-instances` starts it).
    StopNotebook,
    /// A SageMaker job stopped: it cannot be resumed.
    StopSagemakerJob,
    /// A Batch job queue disabled (`restore` enables it).
    DisableBatchQueue,
    /// A Batch compute environment disabled (`restore` enables it).
    DisableBatchEnvironment,
    /// A service-specific credential set Inactive (a Bedrock API key): `restore` sets it Active.
    DeactivateServiceCredential,
}

/// The tag on an isolated instance: `runaway:quarantine=<incident id>`.
pub const QUARANTINE_TAG: &str = "runaway:quarantine";

/// The ticket given to `runaway isolate --ticket`.
pub const TICKET_TAG: &str = "runaway:ticket";

/// The tag the guard puts on every instance it stops: `runaway:incident=<incident id>`, so that
/// whoever finds a stopped instance in the console sees why. `restore` removes it.
pub const INCIDENT_TAG: &str = "runaway:incident";

impl ChangeKind {
    pub const ALL: [ChangeKind; 28] = [
        Self::StopInstance,
        Self::SuspendProcesses,
        Self::AttachUserPolicy,
        Self::AttachRolePolicy,
        Self::DeactivateAccessKey,
        Self::TagInstance,
        Self::PutRolePolicy,
        Self::PutUserPolicy,
        Self::ProtectInstance,
        Self::DetachFromGroup,
        Self::DisassociateProfile,
        Self::SetInterfaceGroups,
        Self::CreateSecurityGroup,
        Self::CreateSnapshot,
        Self::AdmitForensics,
        Self::CreateVolume,
        Self::RunForensicInstance,
        Self::AttachVolume,
        Self::StopDbInstance,
        Self::StopDbCluster,
        Self::ScaleEcsService,
        Self::StopEcsTask,
        Self::SetConcurrency,
        Self::StopNotebook,
        Self::StopSagemakerJob,
        Self::DisableBatchQueue,
        Self::DisableBatchEnvironment,
        Self::DeactivateServiceCredential,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StopInstance => "stop_instance",
            Self::SuspendProcesses => "suspend_processes",
            Self::AttachUserPolicy => "attach_user_policy",
            Self::AttachRolePolicy => "attach_role_policy",
            Self::DeactivateAccessKey => "deactivate_access_key",
            Self::TagInstance => "tag_instance",
            Self::PutRolePolicy => "put_role_policy",
            Self::PutUserPolicy => "put_user_policy",
            Self::ProtectInstance => "protect_instance",
            Self::DetachFromGroup => "detach_from_group",
            Self::DisassociateProfile => "disassociate_profile",
            Self::SetInterfaceGroups => "set_interface_groups",
            Self::CreateSecurityGroup => "create_security_group",
            Self::CreateSnapshot => "create_snapshot",
            Self::AdmitForensics => "admit_forensics",
            Self::CreateVolume => "create_volume",
            Self::RunForensicInstance => "run_forensic_instance",
            Self::AttachVolume => "attach_volume",
            Self::StopDbInstance => "stop_db_instance",
            Self::StopDbCluster => "stop_db_cluster",
            Self::ScaleEcsService => "scale_ecs_service",
            Self::StopEcsTask => "stop_ecs_task",
            Self::SetConcurrency => "set_concurrency",
            Self::StopNotebook => "stop_notebook",
            Self::StopSagemakerJob => "stop_sagemaker_job",
            Self::DisableBatchQueue => "disable_batch_queue",
            Self::DisableBatchEnvironment => "disable_batch_environment",
            Self::DeactivateServiceCredential => "deactivate_service_credential",
        }
    }

    /// What `restore` leaves in place on purpose: evidence and the responder's tools, and the
    /// groups other isolations may share. Why, for the report.
    pub fn kept_by_restore(self) -> Option<&'static str> {
        match self {
            Self::CreateSnapshot => Some("snapshot kept: evidence"),
            Self::CreateSecurityGroup => {
                Some("security group kept: other isolations in the VPC may use it")
            }
            Self::AdmitForensics
            | Self::CreateVolume
            | Self::RunForensicInstance
            | Self::AttachVolume => Some("forensics kept: the responder decides"),
            Self::StopEcsTask => Some("a stopped standalone task cannot be started again"),
            Self::StopSagemakerJob => Some("a stopped SageMaker job cannot be resumed"),
            _ => None,
        }
    }

    /// The kind of a service change (a halt's: stops and settings, never its undoing).
    pub fn of_service(change: &crate::core::services::ServiceChange) -> ChangeKind {
        use crate::core::services::ServiceChange as C;
        match change {
            C::StopDbInstance { .. } | C::StartDbInstance { .. } => Self::StopDbInstance,
            C::StopDbCluster { .. } | C::StartDbCluster { .. } => Self::StopDbCluster,
            C::ScaleEcsService { .. } => Self::ScaleEcsService,
            C::StopEcsTask { .. } => Self::StopEcsTask,
            C::SetConcurrency { .. } => Self::SetConcurrency,
            C::StopNotebook { .. } | C::StartNotebook { .. } => Self::StopNotebook,
            C::StopSagemakerJob { .. } => Self::StopSagemakerJob,
            C::SetBatchQueue { .. } => Self::DisableBatchQueue,
            C::SetBatchEnvironment { .. } => Self::DisableBatchEnvironment,
        }
    }

    /// Whether this kind is a service change (its `before` holds the undo, as JSON).
    pub fn is_service(self) -> bool {
        matches!(
            self,
            Self::StopDbInstance
                | Self::StopDbCluster
                | Self::ScaleEcsService
                | Self::StopEcsTask
                | Self::SetConcurrency
                | Self::StopNotebook
                | Self::StopSagemakerJob
                | Self::DisableBatchQueue
                | Self::DisableBatchEnvironment
        )
    }

    pub fn parse(s: &str) -> Option<ChangeKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ChangeKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Where a change (or its undoing by `restore`) stands: journaled `pending` before the call,
/// `done` or `failed` after. A `pending` one may or may not have happened (a crash came between).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeStatus {
    Pending,
    Done,
    Failed,
}

impl ChangeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeStatus> {
        [Self::Pending, Self::Done, Self::Failed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_none() {
        for k in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ChangeKind::parse("terminate_instance"), None);
        for s in [
            ChangeStatus::Pending,
            ChangeStatus::Done,
            ChangeStatus::Failed,
        ] {
            assert_eq!(ChangeStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ChangeStatus::parse("maybe"), None);
    }
}
