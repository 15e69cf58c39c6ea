//! The pure core: the guard's words for what it sees and decides. Nothing here touches the
//! world — no AWS SDK, no SQL, no tokio, no clock (`Utc::now`): every function takes what it
//! needs as plain data, so it is tested with plain data and cannot fail on I/O. A test
//! (`tests/it/architecture.rs`) holds this.

pub mod approvals;
pub mod backoff;
pub mod bedrock;
pub mod change;
pub mod events;
pub mod guardduty;
pub mod health;
pub mod incident;
pub mod isolation;
pub mod launchers;
pub mod model;
pub mod money;
pub mod pacing;
pub mod permissions;
pub mod plan;
pub mod policy_writes;
pub mod provisioned;
pub mod reports;
pub mod rules;
pub mod services;
pub mod starter;
pub mod tamper;
pub mod tokens;
pub mod trend;
