//! The adapters: one folder per outside system. Only `aws` imports the AWS SDK, only `journal`
//! runs SQL, only `slack` knows Slack's wire format, only `http` knows HTTP routes (held by
//! `tests/it/architecture.rs`).

pub mod aws;
pub mod http;
pub mod journal;
pub mod process;
pub mod slack;
