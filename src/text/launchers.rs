//! Who launched an incident's instances, in lines people read: the alert, the e-mail and
//! `runaway status INCIDENT` all say it the same way.

use crate::core::launchers::{Launcher, Launchers, LaunchersState};

/// At most this many launchers are named; the rest are counted.
const MAX_NAMED: usize = 5;

fn launcher_line(l: &Launcher) -> String {
    let mut line = format!("{} ({}", l.principal_arn, l.kind);
    if let Some(key) = &l.access_key_id {
        line += &format!(", key {key}");
    }
    line += &format!(
        "): {} {}",
        l.instances,
        if l.instances == 1 {
            "instance"
        } else {
            "instances"
        }
    );
    let regions: Vec<String> = l.regions.iter().map(|(r, n)| format!("{r} {n}")).collect();
    if !regions.is_empty() {
        line += &format!(" in {}", regions.join(", "));
    }
    if !l.source_ips.is_empty() {
        line += &format!(" from {}", l.source_ips.join(", "));
    }
    if !l.user_agents.is_empty() {
        line += &format!(" with {}", l.user_agents.join(", "));
    }
    if l.exempt {
        line += " (exempt: never acted on)";
    }
    line
}

/// The lines, most instances first.
pub fn lines(found: &Launchers) -> Vec<String> {
    let mut out = Vec::new();
    match found.state {
        LaunchersState::NotKnownYet => out.push(
            "not known yet: CloudTrail delivers its records within minutes; this is updated when they come".into(),
        ),
        LaunchersState::Unknown => out.push("unknown: no CloudTrail record of the launches".into()),
        LaunchersState::Known => {
            for l in found.attribution.launchers.iter().take(MAX_NAMED) {
                out.push(launcher_line(l));
            }
            let more = found.attribution.launchers.len().saturating_sub(MAX_NAMED);
            if more > 0 {
                out.push(format!("and {more} more"));
            }
            if let Some(n) = found.unattributed.filter(|n| *n > 0) {
                out.push(format!("{n} more instances: unknown (no CloudTrail record)"));
            }
        }
    }
    if let Some(e) = &found.error {
        out.push(format!("(CloudTrail records could not be read: {e})"));
    }
    out
}
