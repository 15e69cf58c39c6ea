//! One builder for the tests' `runaway.toml`: the journal in the working directory and the
//! sections every test repeats (`[slack]`, `[notify]`, `[events]`, the payer and member
//! accounts), so that each test says only what differs.

use std::fmt;

use super::{MEMBER, MEMBER_ROLE, PAYER};

/// The approver of the tests' Slack workspace.
pub const APPROVER: &str = "UAPPROVER1";

#[derive(Clone, Default)]
pub struct Toml {
    guard: Vec<String>,
    slack: Vec<String>,
    notify: Option<String>,
    events: Option<String>,
    sections: Vec<(String, String)>,
    accounts: Vec<String>,
    tail: Vec<String>,
}

impl Toml {
    /// `[guard]` with `state_path = "journal.db"`, nothing else.
    pub fn new() -> Toml {
        Toml {
            guard: vec!["state_path = \"journal.db\"".into()],
            ..Toml::default()
        }
    }

    /// Another journal file than `journal.db`.
    pub fn state_path(mut self, path: &str) -> Toml {
        self.guard[0] = format!("state_path = \"{path}\"");
        self
    }

    /// Another table (`journal`, `organization.defaults`) with these lines.
    pub fn section(mut self, name: &str, lines: &str) -> Toml {
        self.sections
            .push((name.to_owned(), lines.trim().to_owned()));
        self
    }

    /// More `[guard]` lines, as TOML (`grace_period = "10m"`).
    pub fn guard(mut self, lines: &str) -> Toml {
        self.guard.push(lines.trim().to_owned());
        self
    }

    /// `[slack]`: the tests' channel and these approvers.
    pub fn slack(mut self, approvers: &[&str]) -> Toml {
        let quoted: Vec<String> = approvers.iter().map(|a| format!("\"{a}\"")).collect();
        self.slack = vec![
            "channel = \"C0123456789\"".into(),
            format!("approvers = [{}]", quoted.join(", ")),
        ];
        self
    }

    /// More `[slack]` lines (`mode = "socket"`).
    pub fn slack_line(mut self, lines: &str) -> Toml {
        self.slack.push(lines.trim().to_owned());
        self
    }

    /// `[notify]` to this SNS topic.
    pub fn notify(mut self, topic: &str) -> Toml {
        self.notify = Some(topic.to_owned());
        self
    }

    /// `[events]` from this SQS queue.
    pub fn events(mut self, queue_url: &str) -> Toml {
        self.events = Some(queue_url.to_owned());
        self
    }

    /// The payer account ("payer", moto's default credentials) in `regions`, with more lines.
    pub fn payer(self, regions: &[&str], lines: &str) -> Toml {
        self.account(&format!(
            "id = \"{PAYER}\"\nname = \"payer\"\nregions = {}\n{}",
            list(regions),
            lines.trim()
        ))
    }

    /// A member account reached through `MEMBER_ROLE`, named `name`, in `regions` (all enabled
    /// ones when empty), with more lines.
    pub fn member(self, name: &str, regions: &[&str], lines: &str) -> Toml {
        let regions = if regions.is_empty() {
            String::new()
        } else {
            format!("regions = {}\n", list(regions))
        };
        self.account(&format!(
            "id = \"{MEMBER}\"\nname = \"{name}\"\nrole_arn = \"{MEMBER_ROLE}\"\n{regions}{}",
            lines.trim()
        ))
    }

    /// An `[[accounts]]` entry of these lines.
    pub fn account(mut self, lines: &str) -> Toml {
        self.accounts.push(lines.trim().to_owned());
        self
    }

    /// Tables after the accounts (`[[guardduty]]`, `[[tamper]]`), as TOML.
    pub fn tail(mut self, toml: &str) -> Toml {
        self.tail.push(toml.trim().to_owned());
        self
    }
}

fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|r| format!("\"{r}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

impl fmt::Display for Toml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[guard]\n{}\n", self.guard.join("\n"))?;
        if !self.slack.is_empty() {
            writeln!(f, "[slack]\n{}\n", self.slack.join("\n"))?;
        }
        if let Some(topic) = &self.notify {
            writeln!(f, "[notify]\nsns_topic_arn = \"{topic}\"\n")?;
        }
        if let Some(queue) = &self.events {
            writeln!(f, "[events]\nqueue_url = \"{queue}\"\n")?;
        }
        for (name, lines) in &self.sections {
            writeln!(f, "[{name}]\n{lines}\n")?;
        }
        for a in &self.accounts {
            writeln!(f, "[[accounts]]\n{a}\n")?;
        }
        for t in &self.tail {
            writeln!(f, "{t}")?;
        }
        Ok(())
    }
}

impl From<Toml> for String {
    fn from(t: Toml) -> String {
        t.to_string()
    }
}
