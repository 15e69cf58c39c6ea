//! An isolation, said for people: each step, what it did or would do.

use crate::core::isolation::{IsolationReport, StepStatus};

pub fn isolation(r: &IsolationReport) -> String {
    let mut out = match (&r.incident, r.dry_run) {
        (_, true) => format!(
            "Dry run: isolating {} in {} ({}) would do:\n",
            r.instance_id, r.account_id, r.region
        ),
        (Some(id), false) => format!(
            "Incident {id}: {} in {} ({})\n",
            r.instance_id, r.account_id, r.region
        ),
        (None, false) => format!("{} in {} ({})\n", r.instance_id, r.account_id, r.region),
    };
    for s in &r.steps {
        let mark = match s.status {
            StepStatus::Done => "done   ",
            StepStatus::Skipped => "skipped",
            StepStatus::Failed => "FAILED ",
            StepStatus::Planned => "would  ",
        };
        out.push_str(&format!("  {mark} {:<22} {}\n", s.step.as_str(), s.detail));
    }
    if !r.snapshots.is_empty() {
        out.push_str(&format!(
            "Snapshots (kept by restore): {}\n",
            r.snapshots.join(", ")
        ));
    }
    if let Some(i) = &r.forensic_instance {
        out.push_str(&format!("Forensic instance (kept by restore): {i}\n"));
    }
    match (&r.incident, r.dry_run, r.failed()) {
        (_, true, _) => {}
        (Some(id), false, false) => out.push_str(&format!(
            "Isolated. Undo with: runaway restore {id} (the snapshots stay)\n"
        )),
        (Some(id), false, true) => out.push_str(&format!(
            "Isolated in part: see the failed steps. Undo what was done with: runaway restore {id}\n"
        )),
        (None, false, _) => {}
    }
    out
}
