//! The application: what the guard does, written against the ports (`crate::ports`) and the
//! core, wired to the adapters by the command line (`crate::cli`).

pub mod accounts;
pub mod bot;
pub mod check;
pub mod events;
pub mod halt;
pub mod init;
pub mod isolate;
pub mod journaled;
pub mod launchers;
pub mod lockout;
pub mod lockout_launchers;
pub mod paced;
pub mod prices;
pub mod restop;
pub mod restore;
pub mod status;
pub mod survey;
