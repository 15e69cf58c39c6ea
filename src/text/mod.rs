//! The text people read: the terminal's tables and the notify e-mail. Pure.

pub mod email;
pub mod isolation;
pub mod launchers;
pub mod money;
pub mod services;
pub mod starter;
pub mod terminal;

/// The first `max` of `items` joined by `sep`, and how many more: a long list said in a bounded
/// space (Slack's limits, one line per service).
pub fn summarise(items: &[String], max: usize, sep: &str) -> String {
    let mut out = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(sep);
    if items.len() > max {
        out += &format!("{sep}… and {} more", items.len() - max);
    }
    out
}
