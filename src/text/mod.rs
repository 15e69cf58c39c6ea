//! The text people read: the terminal's tables and the notify e-mail. Pure.

pub mod email;
pub mod isolation;
pub mod launchers;
pub mod money;
pub mod services;
pub mod terminal;
