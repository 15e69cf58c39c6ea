//! Compute beyond EC2, said the same way in the terminal, the e-mail and Slack: one line per
//! service, counts rather than lists (a halt of 500 functions stays one line), a few ARNs named
//! only where people must act on them (what failed, what cannot be restored).

use std::collections::BTreeMap;

use super::summarise;
use crate::core::reports::ServiceHalt;
use crate::core::services::ServiceCount;

/// What a check counted: `rds 2 (us-east-1 2), lambda 3 (...)`.
pub fn counts(services: &BTreeMap<String, ServiceCount>) -> String {
    services
        .iter()
        .map(|(name, c)| {
            let busy: Vec<String> = c
                .regions
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            if busy.is_empty() {
                format!("{name} {}", c.running)
            } else {
                format!("{name} {} ({})", c.running, summarise(&busy, 5, ", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per service of what a halt did (`dry_run`: would do), then its errors.
pub fn halted(services: &BTreeMap<String, ServiceHalt>, dry_run: bool) -> Vec<String> {
    let verb = if dry_run { "would halt" } else { "halted" };
    let mut out = Vec::new();
    for (name, s) in services {
        let mut line = format!("{name}: {verb} {}", s.stopped.len());
        if !s.nodes.is_empty() {
            let mut groups: Vec<String> = s
                .nodes
                .iter()
                .map(|n| format!("{}/{}", n.cluster, n.node_group))
                .collect();
            groups.sort();
            groups.dedup();
            line += &format!(
                " (and {} nodes stopped with the EC2 instances, of {})",
                s.nodes.len(),
                summarise(&groups, 5, ", ")
            );
        }
        if !s.skipped.is_empty() {
            line += &format!(", left {} (exempt or out of scope)", s.skipped.len());
        }
        if !s.not_restorable.is_empty() {
            line += &format!(
                "; {} cannot be restored (stopped standalone tasks): {}",
                s.not_restorable.len(),
                summarise(&s.not_restorable, 3, " ")
            );
        }
        if !s.errors.is_empty() {
            let errors: Vec<String> = s
                .errors
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.region.as_deref().unwrap_or("account"),
                        e.message
                    )
                })
                .collect();
            line += &format!(
                "; {} errors: {}",
                s.errors.len(),
                summarise(&errors, 3, "; ")
            );
        }
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::Problem;

    #[test]
    fn a_large_halt_is_a_count_not_a_list() {
        let arns: Vec<String> = (0..500).map(|i| format!("arn:aws:ecs:task/{i}")).collect();
        let halt = ServiceHalt {
            stopped: arns.clone(),
            skipped: Vec::new(),
            errors: vec![Problem::region("eu-west-1", "ecs:StopTask: AccessDenied")],
            not_restorable: arns,
            nodes: Vec::new(),
        };
        let lines = halted(&BTreeMap::from([("ecs".to_owned(), halt)]), false);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("ecs: halted 500; 500 cannot be restored"));
        assert!(lines[0].contains("… and 497 more") && lines[0].contains("1 errors: eu-west-1"));
        assert!(lines[0].len() < 400, "{}", lines[0]);
    }
}
