//! runawaytrain: a guard that stops runaway AWS usage before it becomes a runaway bill or a
//! breach. See `ARCHITECTURE.md` for the map of this crate and its invariants.
//!
//! - [`core`]: the pure core — model, rules, plans, the incident state machine, reports
//! - [`ports`]: the traits the application needs from the world
//! - [`adapters`]: one folder per outside system — AWS, Slack, the journal, HTTP, processes
//! - [`app`]: what the guard does — survey, check, halt, lockout, restore, status, the bot
//! - [`text`]: what people read — terminal tables, e-mail
//! - [`config`] (the validated configuration) and [`cli`] (the command line, which wires it all)

pub mod adapters;
pub mod app;
pub mod cli;
pub mod config;
pub mod core;
pub mod ports;
pub mod text;

/// What `runaway --version` (and `/healthz`) print after the name: the version (Cargo.toml), the
/// git commit and the target triple it was built for (both recorded by `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RUNAWAY_GIT_COMMIT"),
    ", ",
    env!("RUNAWAY_TARGET"),
    ")"
);
