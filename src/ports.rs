//! The guard's ports: what it needs from the cloud, in its own words. The AWS adapter
//! (`crate::aws`) is the one implementation; the application layer (`check`, `halt`) only sees
//! these traits, so it never imports an SDK type.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{Account, RegionName};
use crate::model::Instance;

/// Why the guard is reaching into an account. Becomes the assumed role's session name, so
/// CloudTrail shows what acted and why (`runawaytrain-check`, `runawaytrain-halt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Check,
    Halt,
}

impl Purpose {
    pub fn session_name(self) -> &'static str {
        match self {
            Self::Check => "runawaytrain-check",
            Self::Halt => "runawaytrain-halt",
        }
    }
}

/// What kind of failure a cloud call met. Callers decide on the kind, people read the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Throttled,
    AccessDenied,
    NotFound,
    /// AWS does not support the operation on this resource (e.g. stopping an instance-store
    /// instance).
    Unsupported,
    /// The endpoint could not be reached or did not answer in time.
    Unreachable,
    /// Credentials are missing, or belong to another account than the configured one.
    Identity,
    Other,
}

/// A failed cloud call. The message names the operation and what AWS said; it never holds a
/// credential.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct CloudError {
    pub kind: ErrorKind,
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
}

impl fmt::Display for CloudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{}: {code}: {}", self.operation, self.message),
            None => write!(f, "{}: {}", self.operation, self.message),
        }
    }
}

/// Reaches accounts.
#[async_trait]
pub trait Cloud: Send + Sync {
    /// Obtains credentials for the account (its role, or the ambient credentials) and proves
    /// they are the configured account's, before anything is read or changed there.
    async fn connect(
        &self,
        account: &Account,
        purpose: Purpose,
    ) -> Result<Arc<dyn AccountCloud>, CloudError>;
}

/// One connected account.
#[async_trait]
pub trait AccountCloud: Send + Sync {
    /// The identity the guard acts as in this account (an ARN).
    fn identity(&self) -> &str;

    /// The account's enabled regions of the home region's partition.
    async fn enabled_regions(&self) -> Result<Vec<RegionName>, CloudError>;

    /// Every running instance of the region, over all pages, with those of its tags whose keys
    /// are in `tag_keys` (and its Auto Scaling group).
    async fn running_instances(
        &self,
        region: &RegionName,
        tag_keys: &[String],
    ) -> Result<Vec<Instance>, CloudError>;

    /// The latest `AWS/Billing` `EstimatedCharges` (USD) of the last day; `None` without data.
    async fn estimated_charges_usd(&self) -> Result<Option<f64>, CloudError>;

    /// The scaling processes already suspended on each named Auto Scaling group.
    async fn suspended_processes(
        &self,
        region: &RegionName,
        groups: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, CloudError>;

    async fn suspend_processes(
        &self,
        region: &RegionName,
        group: &str,
        processes: &[String],
    ) -> Result<(), CloudError>;

    /// Stops the instances (one call). With `dry_run`, asks AWS whether it would succeed
    /// (`DryRun`), changing nothing.
    async fn stop_instances(
        &self,
        region: &RegionName,
        ids: &[String],
        dry_run: bool,
    ) -> Result<(), CloudError>;
}
