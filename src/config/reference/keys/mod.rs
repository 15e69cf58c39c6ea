//! What the reference says of every key. Which keys exist is not written here: it is read from
//! the serde types (`fields.rs`), and a test fails when the two disagree. The error each key
//! gives is not written here either: the reference runs the real parser on `refused` and prints
//! what it says.

use super::Section;

/// One key of the file.
pub struct Key {
    pub section: Section,
    pub name: &'static str,
    /// The TOML type and what it holds.
    pub kind: &'static str,
    pub default: &'static str,
    /// What is accepted beyond the type; empty: anything of the type.
    pub limits: &'static str,
    pub meaning: &'static str,
    /// A value that is accepted, as TOML.
    pub example: &'static str,
    /// A value that is refused, as TOML.
    pub refused: &'static str,
    /// Other lines of the same section that `example` and `refused` need, if any.
    pub with: &'static str,
}

#[allow(clippy::too_many_arguments)]
pub(super) const fn key(
    section: Section,
    name: &'static str,
    kind: &'static str,
    default: &'static str,
    limits: &'static str,
    meaning: &'static str,
    example: &'static str,
    refused: &'static str,
) -> Key {
    Key {
        section,
        name,
        kind,
        default,
        limits,
        meaning,
        example,
        refused,
        with: "",
    }
}

pub(super) const DURATION: &str = "duration (humantime text: `90s`, `1h 30m`)";

mod accounts;
mod guard;
mod sections;

/// Every documented key, section by section.
pub fn all() -> impl Iterator<Item = &'static Key> {
    guard::GUARD
        .iter()
        .chain(accounts::ACCOUNTS)
        .chain(sections::SECTIONS)
}
