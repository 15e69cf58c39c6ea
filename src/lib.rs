//! runawaytrain: a guard that stops runaway AWS usage before it becomes a runaway bill or a
//! breach. See `ARCHITECTURE.md` for the map of this crate and its invariants.
//!
//! - pure core: [`config`] (validated configuration), [`model`], [`rules`], [`plan`]
//! - ports and adapters: [`ports`] (traits), [`aws`] (the only SDK user), [`journal`] (the only
//!   SQL)
//! - application: [`survey`], [`check`], [`halt`], and the command line in [`cli`] / [`render`]

pub mod aws;
pub mod bot;
pub mod check;
pub mod cli;
pub mod config;
pub mod connections;
pub mod halt;
pub mod health;
pub mod incident;
pub mod journal;
pub mod lockout;
pub mod model;
pub mod notify;
pub mod permissions;
pub mod plan;
pub mod ports;
pub mod process;
pub mod render;
pub mod restore;
pub mod rules;
pub mod server;
pub mod slack;
pub mod status;
pub mod survey;
