//! `runaway lockout --launchers INCIDENT`.

use super::*;

/// `lockout --launchers INCIDENT`: the incident's launchers, from the journal, locked out under
/// that incident (so that `restore INCIDENT` undoes it with the rest).
pub(super) async fn cmd_lockout_launchers(
    config: &Config,
    args: &LockoutArgs,
    id: &str,
) -> Result<i32, Exit> {
    use crate::app::lockout::LockoutReport;
    if !args.dry_run {
        need_yes_or_terminal(args.targets.yes, "lock out")?;
    }
    let journal = crate::cli::open_journal(config).map_err(usage)?;
    let row = journal
        .get_incident(id)
        .map_err(usage)?
        .ok_or_else(|| usage(format!("no incident {id:?} in the journal")))?;
    let account = row
        .account_id
        .as_deref()
        .and_then(|a| config.account(a))
        .ok_or_else(|| {
            usage(format!(
                "incident {id} is not an alert of an account in the configuration"
            ))
        })?;
    let launchers = match &row.launchers {
        Some(f) if !f.attribution.launchers.is_empty() => f.attribution.launchers.clone(),
        _ => {
            return Err(usage(format!(
                "who launched incident {id}'s instances is not known (no CloudTrail record yet): nothing to lock out; see runaway status {id}"
            )));
        }
    };
    let aws = Aws::from_env(&config.guard.home_region).await;
    let now = chrono::Utc::now;
    let plan = crate::app::lockout_launchers::run(
        &aws,
        &account,
        &launchers,
        id,
        row.opened_at,
        None,
        &now,
    )
    .await
    .map_err(usage)?;
    let as_report = |a, dry_run| LockoutReport {
        incident: Some(id.to_owned()),
        dry_run,
        accounts: vec![a],
    };
    let planned = plan.changes.len();
    if !args.targets.json || (!args.targets.yes && !args.dry_run) {
        eprint!("{}", render::lockout(&as_report(plan.clone(), true)));
    }
    let report = if args.dry_run {
        as_report(plan, true)
    } else {
        if !args.targets.yes && planned > 0 {
            confirm(&format!("Make these {planned} changes?"))?;
        }
        let done = crate::app::lockout_launchers::run(
            &aws,
            &account,
            &launchers,
            id,
            row.opened_at,
            Some(journal.as_ref()),
            &now,
        )
        .await
        .map_err(|e| after_changes("the lockout of the launchers began", e))?;
        as_report(done, false)
    };
    if args.targets.json {
        print_json(&report);
    } else {
        print!("{}", render::lockout(&report));
    }
    Ok(report.exit_code())
}
