//! The configuration reference of the book (`docs/src/configuration.md`), generated from the
//! configuration types so that it cannot drift:
//! - which keys each section accepts is read from its serde type ([`fields::fields_of`]);
//! - what is said of each key is [`keys()`], and [`problems`] names every key the types
//!   have and the table lacks, and every key the table has and the types lack;
//! - the error a key gives is what the real parser says of the key's refused example, run as
//!   the reference is written; an example that is refused, or a refused value that is
//!   accepted, is a problem too.
//!
//! A test holds the committed page equal to [`markdown`]; `RUNAWAY_BLESS=1` rewrites it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

mod fields;
mod keys;

pub use fields::fields_of;
pub use keys::{Key, all as keys};

use super::Config;

/// The part of the file a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `[guard]` only.
    Guard,
    /// `[guard]` for every account, and again on one `[[accounts]]` entry.
    Policy,
    /// `[[accounts]]` only.
    Accounts,
    Slack,
    Notify,
    Events,
    Journal,
    Organization,
    GuardDuty,
    Tamper,
}

pub const SECTIONS: [Section; 10] = [
    Section::Guard,
    Section::Policy,
    Section::Accounts,
    Section::Slack,
    Section::Notify,
    Section::Events,
    Section::Journal,
    Section::Organization,
    Section::GuardDuty,
    Section::Tamper,
];

/// The account every probe file has, unless the probe is of `[[accounts]]` itself.
const ACCOUNT: &str = "[[accounts]]\nid = \"111111111111\"\nname = \"payer\"\n";

impl Section {
    /// The keys its serde type accepts.
    pub fn fields(self) -> BTreeSet<&'static str> {
        use super::validate::{RawAccount, RawEvents, RawGuard, RawNotify, RawSlack};
        let guard: BTreeSet<_> = fields_of::<RawGuard>().iter().copied().collect();
        let account: BTreeSet<_> = fields_of::<RawAccount>().iter().copied().collect();
        let of = |f: &[&'static str]| f.iter().copied().collect::<BTreeSet<_>>();
        match self {
            Section::Guard => guard.difference(&account).copied().collect(),
            Section::Policy => guard.intersection(&account).copied().collect(),
            Section::Accounts => account.difference(&guard).copied().collect(),
            Section::Slack => of(fields_of::<RawSlack>()),
            Section::Notify => of(fields_of::<RawNotify>()),
            Section::Events => of(fields_of::<RawEvents>()),
            Section::Journal => of(fields_of::<super::journal::RawJournal>()),
            Section::Organization => of(fields_of::<super::organization::RawOrganization>()),
            Section::GuardDuty => of(fields_of::<super::guardduty::RawRule>()),
            Section::Tamper => of(fields_of::<super::tamper::RawRule>()),
        }
    }

    /// The file's top-level key of the section.
    pub fn table(self) -> &'static str {
        match self {
            Section::Guard | Section::Policy => "guard",
            Section::Accounts => "accounts",
            Section::Slack => "slack",
            Section::Notify => "notify",
            Section::Events => "events",
            Section::Journal => "journal",
            Section::Organization => "organization",
            Section::GuardDuty => "guardduty",
            Section::Tamper => "tamper",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Section::Guard => "`[guard]`",
            Section::Policy => "Per-account settings: `[guard]` or `[[accounts]]`",
            Section::Accounts => "`[[accounts]]`",
            Section::Slack => "`[slack]`",
            Section::Notify => "`[notify]`",
            Section::Events => "`[events]`",
            Section::Journal => "`[journal]`",
            Section::Organization => "`[organization]`",
            Section::GuardDuty => "`[[guardduty]]`",
            Section::Tamper => "`[[tamper]]`",
        }
    }

    fn intro(self) -> &'static str {
        match self {
            Section::Guard => "How the guard runs.",
            Section::Policy => {
                "Set in `[guard]`, these are every account's; set again on one `[[accounts]]` entry, the account's value replaces it there. An error names where the value was written (`guard.grace_period`, `accounts[1].grace_period`)."
            }
            Section::Accounts => {
                "One entry per account watched (none is needed with `[organization] discover = true`). The per-account settings above may be set here too."
            }
            Section::Slack => {
                "Only `runaway serve` reads it. The token and signing secret are never in the file: they come from the environment."
            }
            Section::Notify => "The e-mail list, through SNS.",
            Section::Events => "The event path: without this section the guard polls only.",
            Section::Journal => "Where the journal is kept.",
            Section::Organization => "Discovery of an organisation's accounts.",
            Section::GuardDuty => {
                "The responses to GuardDuty findings, tried in order: the first rule whose glob matches the finding's type and whose minimum severity it reaches decides. A finding no rule takes is journaled, never acted on."
            }
            Section::Tamper => {
                "The responses to tampering, tried in order: the first rule whose glob matches the call decides. A call no rule matches is alerted."
            }
        }
    }

    /// Where an error about `name` of this section is said to be.
    fn error_key(self, name: &str) -> String {
        match self {
            Section::Accounts => format!("accounts[0].{name}"),
            Section::GuardDuty => format!("guardduty[0].{name}"),
            Section::Tamper => format!("tamper[0].{name}"),
            other => format!("{}.{name}", other.table()),
        }
    }

    /// A whole file with `line` (and `with`) in this section.
    fn probe(self, name: &str, line: &str, with: &str) -> String {
        let mut own = format!("{with}\n{line}\n");
        let header = match self {
            Section::Guard | Section::Policy => "[guard]",
            Section::Accounts => {
                if name != "id" {
                    own = format!("id = \"111111111111\"\n{own}");
                }
                return format!("[[accounts]]\n{own}");
            }
            Section::Slack => "[slack]",
            Section::Notify => "[notify]",
            Section::Events => "[events]",
            Section::Journal => "[journal]",
            Section::Organization => {
                if name != "discover" {
                    own = format!("discover = true\n{own}");
                }
                "[organization]"
            }
            Section::GuardDuty => "[[guardduty]]",
            Section::Tamper => "[[tamper]]",
        };
        format!("{header}\n{own}{ACCOUNT}")
    }
}

/// What the real parser says of a probe file.
fn parse(text: &str) -> Result<Config, super::ConfigError> {
    Config::parse_in(Path::new("runaway.toml"), Path::new("."), text)
}

/// The refused value's error, as the parser gives it (without the probe file's line number).
fn refusal(k: &Key) -> Result<String, String> {
    let line = format!("{} = {}", k.name, k.refused);
    match parse(&k.section.probe(k.name, &line, k.with)) {
        Ok(_) => Err(format!(
            "{}: the refused example `{line}` is accepted",
            k.section.error_key(k.name)
        )),
        Err(e) => {
            let want = k.section.error_key(k.name);
            let at = e.key.as_str();
            if !(at == want
                || at.starts_with(&format!("{want}["))
                || at.starts_with(&format!("{want}.")))
            {
                return Err(format!(
                    "{want}: `{line}` is refused at {at}, not at the key: {e}"
                ));
            }
            let text = e.to_string();
            Ok(match text.rfind(" (line ") {
                Some(i) if text.ends_with(')') => text[..i].to_owned(),
                _ => text,
            })
        }
    }
}

/// The keys of a section the code accepts and the reference lacks, and the other way round.
fn drift(s: Section, code: &BTreeSet<&str>, documented: &BTreeSet<&str>) -> Vec<String> {
    let missing = code.difference(documented).map(|k| {
        format!(
            "{}: accepted by the code, missing from the reference",
            s.error_key(k)
        )
    });
    let extra = documented.difference(code).map(|k| {
        format!(
            "{}: in the reference, not accepted by the code",
            s.error_key(k)
        )
    });
    missing.chain(extra).collect()
}

/// Every disagreement between the types, the table and the parser; empty when the reference
/// is true.
pub fn problems() -> Vec<String> {
    let mut out = Vec::new();
    let top: BTreeSet<&str> = fields_of::<super::validate::RawFile>()
        .iter()
        .copied()
        .collect();
    let tables: BTreeSet<&str> = SECTIONS.iter().map(|s| s.table()).collect();
    for t in top.symmetric_difference(&tables) {
        out.push(format!(
            "section [{t}]: in the file's type or the reference, not both"
        ));
    }
    for s in SECTIONS {
        let documented: BTreeSet<&str> =
            keys().filter(|k| k.section == s).map(|k| k.name).collect();
        out.extend(drift(s, &s.fields(), &documented));
    }
    for k in keys() {
        let line = format!("{} = {}", k.name, k.example);
        if let Err(e) = parse(&k.section.probe(k.name, &line, k.with)) {
            out.push(format!(
                "{}: the example `{line}` is refused: {e}",
                k.section.error_key(k.name)
            ));
        }
        if let Err(p) = refusal(k) {
            out.push(p);
        }
    }
    out
}

/// The page, or the problems that keep it from being true.
pub fn markdown() -> Result<String, Vec<String>> {
    let problems = problems();
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut md = String::from(
        "# Configuration reference\n\n\
         <!-- Generated from the configuration types by src/config/reference: do not edit. \
         RUNAWAY_BLESS=1 cargo nextest run --lib config::tests::reference rewrites it. -->\n\n\
         One TOML file: `--config FILE`, else `$RUNAWAY_CONFIG`, else `./runaway.toml` \
         (or `RUNAWAY_CONFIG_SSM`: see [the environment](environment.md)). It is validated in \
         full before any AWS call: an unknown key, a wrong type or an impossible value is exit \
         status 2 with a message naming the file, the key and what was expected, and nothing is \
         changed. Every error shown below is what the guard says of the refused example, \
         produced by the parser as this page was generated. Secrets never go in the file.\n\n\
         Durations are humantime text (`90s`, `1h 30m`). An unknown key anywhere is refused, \
         with the keys the section has:\n",
    );
    let unknown = parse(&format!("[guard]\ngrace_periods = \"1m\"\n{ACCOUNT}"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let unknown = unknown
        .rsplit_once(" (line ")
        .map_or(unknown.as_str(), |(m, _)| m);
    let _ = write!(md, "\n```text\nrunaway: error: {unknown}\n```\n");
    for s in SECTIONS {
        let _ = write!(md, "\n## {}\n\n{}\n", s.title(), s.intro());
        for k in keys().filter(|k| k.section == s) {
            let error = refusal(k).unwrap_or_default();
            let _ = write!(
                md,
                "\n### `{}`\n\n{}\n\n- type: {}\n- default: {}\n",
                k.name, k.meaning, k.kind, k.default
            );
            if !k.limits.is_empty() {
                let _ = writeln!(md, "- accepted: {}", k.limits);
            }
            let _ = write!(
                md,
                "- example: `{} = {}`\n- refused: `{} = {}` gives\n\n  ```text\n  runaway: error: {}\n  ```\n",
                k.name, k.example, k.name, k.refused, error
            );
        }
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_is_named_both_ways() {
        let code = BTreeSet::from(["grace_period", "new_key"]);
        let documented = BTreeSet::from(["grace_period", "old_key"]);
        assert_eq!(
            drift(Section::Policy, &code, &documented),
            [
                "guard.new_key: accepted by the code, missing from the reference",
                "guard.old_key: in the reference, not accepted by the code",
            ]
        );
        assert_eq!(drift(Section::Accounts, &code, &code), Vec::<String>::new());
    }
}
