//! The guard's own words for what it sees in AWS. No SDK type crosses this line: the AWS adapter
//! translates into these, and the pure core (rules, halt planning) works on them alone.

use std::collections::BTreeMap;
use std::fmt;

/// A running EC2 instance, as far as the guard cares. Whether AWS can stop it (an
/// instance-store root, a Capacity Block) is not known up front: AWS's refusal
/// (`UnsupportedOperation`) at stop time says so, and the halt reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    /// The tags the guard asked for (the exempt tag, the Auto Scaling group tag), not all.
    pub tags: BTreeMap<String, String>,
    pub lifecycle: Lifecycle,
    /// The Auto Scaling group it belongs to (the `aws:autoscaling:groupName` tag), if any.
    pub auto_scaling_group: Option<String>,
    /// Its type and `PlatformDetails`, when read (accounts with a burn rate rule).
    pub instance_type: Option<String>,
    pub platform: Option<String>,
}

/// How the instance is bought: it decides whether it can be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    OnDemand,
    /// A Spot instance. Only one of a persistent request can be stopped; a one-time Spot
    /// instance can only be terminated.
    Spot {
        persistent: bool,
    },
}

/// Something that could not be read or done, where it happened. Partial failure is data: it is
/// carried to the report, never turned into a zero.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// The region, or `None` when the whole account failed (credentials, role, identity).
    pub region: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn account(message: impl fmt::Display) -> Self {
        Self {
            region: None,
            message: message.to_string(),
        }
    }

    pub fn region(region: &str, message: impl fmt::Display) -> Self {
        Self {
            region: Some(region.to_owned()),
            message: message.to_string(),
        }
    }
}
