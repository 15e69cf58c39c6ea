//! `runaway isolate INSTANCE --account ID`.

use super::*;
use crate::app::isolate::{self, IsolateError, Target};
use crate::core::isolation::Options;

#[derive(Args, Debug)]
pub(super) struct IsolateArgs {
    /// The instance id (`i-...`)
    instance: String,
    /// The account (id or name) the instance is in
    #[arg(long, value_name = "ID")]
    account: String,
    /// The instance's region [default: home_region]
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Stop it once isolated (by default it keeps running: memory is evidence)
    #[arg(long)]
    stop: bool,
    /// A ticket or case reference, tagged as runaway:ticket on the snapshots and groups it creates
    #[arg(long, value_name = "TEXT")]
    ticket: Option<String>,
    /// Then launch a forensic instance in forensics_subnet_id from forensics_ami, with a
    /// volume made from each snapshot attached (kept by restore)
    #[arg(long)]
    forensics: bool,
    /// Change nothing: read the instance and print what would be done
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation (required when standard input is not a terminal)
    #[arg(long)]
    yes: bool,
    /// Print the result as one JSON object
    #[arg(long)]
    json: bool,
}

/// The longest EC2 tag value.
const MAX_TAG_VALUE: usize = 256;

pub(super) async fn cmd_isolate(config: &Config, args: IsolateArgs) -> Result<i32, Exit> {
    let instance =
        config::InstanceId::parse(&args.instance).map_err(|e| usage(format!("INSTANCE: {e}")))?;
    let account = *config
        .select_accounts(std::slice::from_ref(&args.account))
        .map_err(usage)?
        .first()
        .ok_or_else(|| usage("--account: no such account"))?;
    let region = match &args.region {
        Some(r) => config::RegionName::parse(r).map_err(|e| usage(format!("--region: {e}")))?,
        None => config.guard.home_region.clone(),
    };
    if let Some(t) = &args.ticket
        && (t.trim().is_empty() || t.chars().count() > MAX_TAG_VALUE)
    {
        return Err(usage(format!(
            "--ticket: expected 1 to {MAX_TAG_VALUE} characters (an EC2 tag value), found {}",
            t.chars().count()
        )));
    }
    if !args.dry_run {
        need_yes_or_terminal(args.yes, "isolate")?;
    }
    let journal = match args.dry_run {
        true => None,
        false => Some(crate::cli::open_journal(config).map_err(usage)?),
    };
    let aws = Aws::from_env(&config.guard.home_region).await;
    let own = crate::adapters::aws::own_instance_id().await;
    let target = Target {
        account,
        region,
        instance: instance.as_str().to_owned(),
    };
    if args.forensics && account.policy.forensics.is_none() {
        return Err(usage(format!(
            "--forensics: account {} has no forensics_subnet_id and forensics_ami (in [guard] or on the account)",
            account.name
        )));
    }
    let options = Options {
        stop: args.stop,
        ticket: args.ticket.clone(),
        forensics: args.forensics,
    };
    let refused = |e: IsolateError| match e {
        IsolateError::Journal {
            error,
            changed: true,
        } => after_changes("the isolation began", error),
        other => usage(other),
    };
    // The plan first: what would be done, read from the instance.
    let plan = isolate::run(
        &aws,
        &target,
        &options,
        own.as_deref(),
        None,
        &chrono::Utc::now,
    )
    .await
    .map_err(refused)?;
    let report = match journal.as_deref() {
        None => plan,
        Some(j) => {
            if !args.json || !args.yes {
                eprint!("{}", render_isolation(&plan));
            }
            if !args.yes {
                confirm(&format!("Isolate {}?", plan.instance_id))?;
            }
            let incident = crate::ports::journal::new_incident_id(chrono::Utc::now());
            j.open_incident_as(&incident, "isolate", &cli_actor(), chrono::Utc::now())
                .map_err(usage)?;
            let report = isolate::run(
                &aws,
                &target,
                &options,
                own.as_deref(),
                Some((j, &incident)),
                &chrono::Utc::now,
            )
            .await;
            let report = match report {
                Ok(r) => r,
                Err(e) => {
                    let _ = close_incident(j, &incident, false);
                    return Err(refused(e));
                }
            };
            close_incident(j, &incident, !report.failed())
                .map_err(|e| after_changes("the isolation ran as printed", e))?;
            report
        }
    };
    if args.json {
        print_json(&report);
    } else {
        print!("{}", render_isolation(&report));
    }
    Ok(report.exit_code())
}

fn render_isolation(r: &crate::core::isolation::IsolationReport) -> String {
    crate::text::isolation::isolation(r)
}
