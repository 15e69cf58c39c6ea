//! The command line: parses arguments, loads the configuration, wires the AWS adapter and the
//! journal to the application layer, prints, and maps outcomes to the contract's exit statuses.

use crate::adapters::journal::{DynamoJournal, SqliteJournal};
use crate::ports::journal::{Journal, JournalError};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::adapters::aws::Aws;
use crate::app::{check, halt};
use crate::config::{self, Config};
use crate::text::terminal as render;

/// Exit statuses of the contract.
pub mod exit {
    pub const OK: i32 = 0;
    /// A rule fails (`check`), or the work was done only in part (`halt`).
    pub const FAIL: i32 = 1;
    /// Usage or configuration error; nothing was changed.
    pub const USAGE: i32 = 2;
    /// Some account or region could not be checked, and none failed.
    pub const UNCHECKED: i32 = 3;
}

mod init;
mod isolate;
mod journal;
mod launchers;
mod serve;

use isolate::{IsolateArgs, cmd_isolate};
use journal::{cmd_events, cmd_incident_status, cmd_status};
use launchers::cmd_lockout_launchers;
use serve::cmd_serve;

#[derive(Parser, Debug)]
#[command(
    name = "runaway",
    version = crate::VERSION,
    about = "Stops runaway AWS usage before it becomes a runaway bill or a breach"
)]
pub struct Cli {
    /// Configuration file [default: $RUNAWAY_CONFIG, else ./runaway.toml]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check every account and region once against the Fail rules; changes nothing
    ///
    /// Exit 0 all ok, 1 a rule fails, 2 usage or configuration error, 3 something could not be
    /// checked (and nothing failed).
    Check {
        /// Print the report as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Stop every running, non-exempt instance in every region of the accounts; never terminates
    ///
    /// Exit 0 done, 1 done in part, 2 usage or configuration error (nothing changed).
    Halt(HaltArgs),
    /// Lock out the accounts' IAM users and block launches, journaled
    ///
    /// Attaches the deny-all lockout policy to every IAM user and sets their access keys
    /// Inactive; where a launch_deny_policy_arn is configured, attaches it to users and roles.
    /// Never the exempt principals, service-linked roles or the guard's own identity.
    /// Exit 0 done, 1 done in part (or refused), 2 usage or configuration error (nothing changed).
    Lockout(LockoutArgs),
    /// Cut a compromised instance off and preserve it for investigation, journaled
    ///
    /// In order: capture it into the journal, termination protection on, out of its Auto
    /// Scaling group, instance profile off, every interface into the VPC's runaway-isolation
    /// group, every volume snapshotted, tagged runaway:quarantine; stopped only with --stop.
    /// Never terminates. `restore INCIDENT` undoes it all but the snapshots.
    /// Exit 0 done, 1 done in part, 2 usage error or refused (nothing changed).
    Isolate(IsolateArgs),
    /// Undo exactly what one incident changed, from the journal
    ///
    /// Exit 0 done, 1 done in part, 2 usage error or unknown incident (nothing changed).
    Restore {
        /// The incident id (`inc-...`)
        incident: String,
        /// Also start the instances the incident stopped
        #[arg(long)]
        start_instances: bool,
        /// Do not ask for confirmation (required when standard input is not a terminal)
        #[arg(long)]
        yes: bool,
        /// Print the result as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Open and recent incidents and the last check, or one incident, from the journal
    Status {
        /// One incident (`inc-...`): what it saw, who launched it, what was done
        incident: Option<String>,
        /// Print the status as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// What the event path received lately, and what each event led to, from the journal
    Events {
        /// How far back, like "1h" or "7days" [default: 24h]
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// Print the events as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// The journal's store
    Journal {
        #[command(subcommand)]
        command: JournalCommand,
    },
    /// Write a commented starter runaway.toml from what the reachable accounts hold now
    ///
    /// Reads the caller's account (with --discover, every active account of its organisation),
    /// their enabled regions, what runs per service, the last 14 days of estimated charges, the
    /// instances already exempt and the break-glass principals; suggests limits at twice
    /// today's. Changes nothing in AWS; never overwrites a file without --force.
    /// Exit 0 written, 2 usage error or the credentials could not be read.
    Init(init::InitArgs),
    /// The Slack bot: HTTP server, periodic checks and incident deadlines
    ///
    /// Listens on RUNAWAY_LISTEN (default 127.0.0.1:3000) until SIGINT/SIGTERM. Needs
    /// SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (environment or ./.env).
    Serve,
}

#[derive(Subcommand, Debug)]
enum JournalCommand {
    /// Create the configured journal: the DynamoDB table of [journal] (on-demand, keyed and
    /// indexed as the Terraform module makes it; an existing table is checked instead), or the
    /// SQLite file of [guard] state_path
    ///
    /// Exit 0 ready, 2 it cannot be made or is not a journal.
    Init,
    /// Copy the configured journal, incidents and changes intact, into another store: a
    /// DynamoDB table (created if missing, in [journal] region or home_region) or a SQLite file
    ///
    /// The target must hold no incident (a copy never merges two journals); the configured
    /// journal is only read. Copied: incidents, changes (ids kept, so `restore` works as
    /// before), findings, problems, presses, captures, checks, prices; not the event log or
    /// the lease. Stop `runaway serve` first. Exit 0 copied, 2 refused or failed.
    Copy {
        /// `dynamodb:TABLE`, or the path of a journal file
        #[arg(long, value_name = "dynamodb:TABLE|FILE")]
        to: String,
        /// Print what was copied as one JSON object
        #[arg(long)]
        json: bool,
    },
}

/// What `halt` and `lockout` share: which accounts, confirmation, output.
#[derive(Args, Debug)]
struct Targets {
    /// Only this account (id or name); repeat for more. Default: every account.
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,
    /// Do not ask for confirmation (required when standard input is not a terminal)
    #[arg(long)]
    yes: bool,
    /// Print the result as one JSON object
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct HaltArgs {
    #[command(flatten)]
    targets: Targets,
    /// Change nothing: print the plan, and ask AWS (DryRun) whether the stops would be allowed
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Debug)]
struct LockoutArgs {
    #[command(flatten)]
    targets: Targets,
    /// Only the principals that launched this incident's instances (`inc-...`): the key they
    /// used set Inactive and the deny-all policy (users), older sessions revoked (roles)
    #[arg(long, value_name = "INCIDENT", conflicts_with = "accounts")]
    launchers: Option<String>,
    /// Change nothing: read IAM and print who would be locked out and what would change
    #[arg(long)]
    dry_run: bool,
}

/// A failure that ends the command with a message and an exit status. There is no blanket
/// conversion: every failure is given the status that is true of it where it happens — `2`
/// only while nothing has been changed, `1` once something may have been.
struct Exit(i32, String);

/// A failure before anything was changed: exit 2.
fn usage(e: impl std::fmt::Display) -> Exit {
    Exit(exit::USAGE, e.to_string())
}

/// A failure after changes were made in AWS (`what` says which): exit 1, "done in part", since
/// exit 2 would say that nothing was changed.
fn after_changes(what: &str, e: impl std::fmt::Display) -> Exit {
    Exit(
        exit::FAIL,
        format!("{what}, but then: {e}. Run `runaway status` to see what the journal holds."),
    )
}

/// Opens the configured journal and proves it usable, before anything changes in AWS: the
/// SQLite file (`[guard] state_path`), or the DynamoDB table of `[journal]` (which must exist,
/// keyed as `runaway journal init` makes it).
pub(crate) fn open_journal(config: &Config) -> Result<Box<dyn Journal>, JournalError> {
    Ok(match &config.journal {
        config::JournalStore::Sqlite => Box::new(SqliteJournal::open(&config.guard.state_path)?),
        config::JournalStore::DynamoDb { table, region } => {
            Box::new(DynamoJournal::open(table, region.as_str())?)
        }
    })
}

/// Prints a report as JSON. The reports are plain data: serialising them cannot fail, but if
/// it ever did, the failure is said rather than turned into an exit status that lies.
fn print_json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("runaway: error: cannot print the report as JSON: {e}"),
    }
}

/// Runs the command line and returns the process exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runaway: error: cannot start the async runtime: {e}");
            return exit::USAGE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(Exit(code, message)) => {
            eprintln!("runaway: error: {message}");
            code
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUNAWAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(cli: Cli) -> Result<i32, Exit> {
    // Secrets may come from ./.env; the variables already set win.
    let _ = dotenvy::dotenv();
    // init writes the configuration: it reads none.
    let command = match cli.command {
        Command::Init(args) => return init::cmd_init(args, cli.config).await,
        other => other,
    };
    let path = config::resolve_path(cli.config.as_deref());
    // Deployed, the configuration may live in SSM Parameter Store instead of a file; the
    // settings client made for it serves the tokens too.
    let mut settings = None;
    let config = match std::env::var("RUNAWAY_CONFIG_SSM") {
        Ok(name) if cli.config.is_none() && !name.trim().is_empty() => {
            serve::config_from_parameter(&name, &mut settings).await?
        }
        _ => Config::load(&path).map_err(usage)?,
    };
    match command {
        Command::Check { json } => cmd_check(&config, json).await,
        Command::Halt(args) => cmd_halt(&config, args).await,
        Command::Lockout(args) => cmd_lockout(&config, args).await,
        Command::Isolate(args) => cmd_isolate(&config, args).await,
        Command::Restore {
            incident,
            start_instances,
            yes,
            json,
        } => cmd_restore(&config, &incident, start_instances, yes, json).await,
        Command::Status {
            incident: Some(id),
            json,
        } => cmd_incident_status(&config, &id, json),
        Command::Status {
            incident: None,
            json,
        } => cmd_status(&config, json),
        Command::Events { since, json } => cmd_events(&config, since.as_deref(), json),
        Command::Journal {
            command: JournalCommand::Init,
        } => journal::cmd_journal_init(&config),
        Command::Journal {
            command: JournalCommand::Copy { to, json },
        } => journal::cmd_journal_copy(&config, &to, json),
        Command::Serve => cmd_serve(config, settings).await,
        Command::Init(_) => unreachable!("init is run before a configuration is read"),
    }
}

async fn cmd_check(config: &Config, json: bool) -> Result<i32, Exit> {
    let aws = Aws::from_env(&config.guard.home_region).await;
    let watched = crate::app::accounts::watched(&aws, config).await;
    // The journal keeps on-demand prices a day; a check works without it.
    let prices = |a: &crate::config::Account| {
        a.max_burn_rate_usd_per_hour.is_some() || a.max_bedrock_burn_rate_usd_per_hour.is_some()
    };
    let journal = match config.accounts.iter().any(prices)
        || config
            .organization
            .as_ref()
            .is_some_and(|o| prices(&o.defaults))
    {
        true => crate::cli::open_journal(config)
            .inspect_err(|e| tracing::warn!(error = %e, "prices not cached"))
            .ok(),
        false => None,
    };
    let report = check::run_watched(
        &aws,
        config,
        &watched,
        journal.as_deref(),
        chrono::Utc::now(),
    )
    .await;
    if json {
        print_json(&report);
    } else {
        print!("{}", render::check(&report));
    }
    Ok(report.exit_code())
}

async fn cmd_halt(config: &Config, args: HaltArgs) -> Result<i32, Exit> {
    let aws = Aws::from_env(&config.guard.home_region).await;
    let watched = watched_accounts(&aws, config).await?;
    let accounts =
        config::select(&watched.accounts, &args.targets.accounts, &config.path).map_err(usage)?;
    if !args.dry_run {
        need_yes_or_terminal(args.targets.yes, "halt")?;
    }
    // The journal must be usable before anything changes in AWS. A dry run journals nothing.
    let journal = match args.dry_run {
        true => None,
        false => Some(crate::cli::open_journal(config).map_err(usage)?),
    };
    let own = crate::adapters::aws::own_instance_id().await;
    let own_compute = crate::adapters::aws::own_compute().await;
    // The incident's id names the guard's sessions from the first call on.
    let incident = journal
        .as_ref()
        .map(|_| crate::ports::journal::new_incident_id(chrono::Utc::now()));
    let plan = halt::plan(
        &aws,
        &accounts,
        incident.as_deref(),
        config.guard.max_concurrency,
        halt::Own {
            instance: own.as_deref(),
            compute: &own_compute,
        },
    )
    .await;
    let (to_stop, ..) = plan.totals();

    if !args.targets.json || (!args.targets.yes && !args.dry_run) {
        eprint!("{}", render::halt_plan(&plan));
    }
    let services = plan.services_to_halt();
    if !args.dry_run && !args.targets.yes && to_stop + services > 0 {
        confirm(&match services {
            0 => format!("Stop these {to_stop} instances?"),
            n => format!(
                "Stop these {to_stop} instances and halt these {n} resources of other services?"
            ),
        })?;
    }

    let (report, closed) = match (journal.as_deref(), incident) {
        (Some(j), Some(incident)) => {
            let actor = cli_actor();
            let incident = j
                .open_incident_as(&incident, "halt", &actor, chrono::Utc::now())
                .map_err(usage)?;
            tracing::info!(incident.id = %incident, "halt started");
            let report = halt::execute(
                plan,
                Some((j, &incident)),
                config.guard.max_concurrency,
                &chrono::Utc::now,
            )
            .await;
            let closed = close_incident(j, &incident, report.complete());
            (report, closed)
        }
        _ => (
            halt::execute(plan, None, config.guard.max_concurrency, &chrono::Utc::now).await,
            Ok(()),
        ),
    };
    if args.targets.json {
        print_json(&report);
    } else {
        print!("{}", render::halt(&report));
    }
    closed.map_err(|e| after_changes("the halt ran as printed", e))?;
    Ok(report.exit_code())
}

/// The watched accounts for a command that acts: an organisation that cannot be read is exit 2
/// before anything changes (acting on only part of it would be a surprise).
async fn watched_accounts(
    aws: &Aws,
    config: &Config,
) -> Result<crate::app::accounts::Watched, Exit> {
    let watched = crate::app::accounts::watched(aws, config).await;
    match &watched.problem {
        Some(p) => Err(usage(&p.message)),
        None => Ok(watched),
    }
}

/// Closes a CLI incident as `executed`, or `partial` when not done in full.
fn close_incident(
    j: &dyn Journal,
    incident: &str,
    complete: bool,
) -> Result<(), crate::ports::journal::JournalError> {
    let status = if complete { "executed" } else { "partial" };
    j.close_incident(incident, status, chrono::Utc::now())
}

/// Who asked, for the journal: `cli:<user>`.
fn cli_actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME"));
    format!("cli:{}", user.unwrap_or_else(|_| "unknown".into()))
}

/// Asks on the terminal; `Err` (exit 2, nothing changed) unless the answer is `yes`.
fn confirm(question: &str) -> Result<(), Exit> {
    eprint!("{question} Type 'yes' to go on: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Exit(exit::USAGE, "not confirmed: nothing changed".into()))
    }
}

fn need_yes_or_terminal(yes: bool, what: &str) -> Result<(), Exit> {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(Exit(
            exit::USAGE,
            format!(
                "refusing to {what} without --yes: standard input is not a terminal to confirm on"
            ),
        ));
    }
    Ok(())
}

async fn cmd_lockout(config: &Config, args: LockoutArgs) -> Result<i32, Exit> {
    use crate::app::lockout::{self, Which};
    if let Some(id) = &args.launchers {
        return cmd_lockout_launchers(config, &args, id).await;
    }
    let aws = Aws::from_env(&config.guard.home_region).await;
    let watched = watched_accounts(&aws, config).await?;
    let accounts =
        config::select(&watched.accounts, &args.targets.accounts, &config.path).map_err(usage)?;
    if !args.dry_run {
        need_yes_or_terminal(args.targets.yes, "lock out")?;
    }
    let journal = match args.dry_run {
        true => None,
        false => Some(crate::cli::open_journal(config).map_err(usage)?),
    };
    let which: Vec<(&crate::config::Account, Which)> = accounts
        .iter()
        .map(|a| {
            (
                *a,
                Which {
                    lockout_users: true,
                    block_launches: a.policy.launch_deny_policy_arn.is_some(),
                    block_bedrock: a.policy.bedrock_deny_policy_arn.is_some(),
                },
            )
        })
        .collect();
    // The plan first (a dry run), shown before anything changes.
    let plan = lockout::run(
        &aws,
        &which,
        None,
        config.guard.max_concurrency,
        &chrono::Utc::now,
    )
    .await;
    if !args.targets.json || (!args.targets.yes && !args.dry_run) {
        eprint!("{}", render::lockout(&plan));
    }
    let (report, closed) = match journal.as_deref() {
        None => (plan, Ok(())),
        Some(j) => {
            let planned: usize = plan.accounts.iter().map(|a| a.changes.len()).sum();
            if !args.targets.yes && planned > 0 {
                confirm(&format!("Make these {planned} changes?"))?;
            }
            let actor = cli_actor();
            let incident = j
                .open_incident("lockout", &actor, chrono::Utc::now())
                .map_err(usage)?;
            let report = lockout::run(
                &aws,
                &which,
                Some((j, &incident)),
                config.guard.max_concurrency,
                &chrono::Utc::now,
            )
            .await;
            let closed = close_incident(j, &incident, report.complete());
            (report, closed)
        }
    };
    if args.targets.json {
        print_json(&report);
    } else {
        print!("{}", render::lockout(&report));
    }
    closed.map_err(|e| after_changes("the lockout ran as printed", e))?;
    Ok(report.exit_code())
}

async fn cmd_restore(
    config: &Config,
    incident: &str,
    start_instances: bool,
    yes: bool,
    json: bool,
) -> Result<i32, Exit> {
    need_yes_or_terminal(yes, "restore")?;
    let journal = crate::cli::open_journal(config).map_err(usage)?;
    let changes = journal.changes(incident).map_err(usage)?;
    if journal.get_incident(incident).map_err(usage)?.is_none() {
        return Err(Exit(
            exit::USAGE,
            format!(
                "no incident {incident:?} in the journal {}",
                config.guard.state_path.display()
            ),
        ));
    }
    if !yes {
        eprintln!("incident {incident}: {} journaled changes", changes.len());
        confirm(&format!(
            "Undo what incident {incident} changed{}?",
            if start_instances {
                ", starting its stopped instances"
            } else {
                ""
            }
        ))?;
    }
    let aws = Aws::from_env(&config.guard.home_region).await;
    let report = crate::app::restore::run(
        &aws,
        config,
        journal.as_ref(),
        incident,
        start_instances,
        crate::app::restore::MAX_WAIT,
        &chrono::Utc::now,
    )
    .await
    .map_err(|e| match e {
        crate::app::restore::RestoreError::Journal {
            error,
            changed: true,
        } => after_changes("the restore undid some changes", error),
        other => usage(other),
    })?;
    if json {
        print_json(&report);
    } else {
        print!("{}", render::restore(&report));
    }
    Ok(report.exit_code())
}
