//! `runaway init`: writes a commented starter `runaway.toml` from what the reachable accounts
//! hold now. Reads only; refuses to overwrite a file without `--force`; proves what it wrote
//! is a valid configuration before it says it is done.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{Exit, exit, usage};
use crate::adapters::aws::Aws;
use crate::app::init::{Options, read};
use crate::config::{Config, RegionName};

#[derive(Args, Debug)]
pub(super) struct InitArgs {
    /// Also every active account of the organisation, reached through the member role (run with
    /// the management account's credentials)
    #[arg(long)]
    discover: bool,
    /// Where to write [default: the --config file, else ./runaway.toml]; `-` for standard output
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Overwrite the file if it exists
    #[arg(long)]
    force: bool,
    /// Where regions are discovered and billing is read [default: $AWS_REGION, else us-east-1]
    #[arg(long, value_name = "REGION")]
    home_region: Option<String>,
    /// The role each member account has for the guard (with --discover)
    #[arg(long, value_name = "NAME", default_value = "runawaytrain-member")]
    member_role: String,
}

pub(super) async fn cmd_init(args: InitArgs, config: Option<PathBuf>) -> Result<i32, Exit> {
    let region = args
        .home_region
        .or_else(|| {
            std::env::var("AWS_REGION")
                .ok()
                .filter(|r| !r.trim().is_empty())
        })
        .unwrap_or_else(|| "us-east-1".into());
    let home_region =
        RegionName::parse(&region).map_err(|m| usage(format!("--home-region: {m}")))?;
    let to_stdout = args.output.as_deref() == Some(std::path::Path::new("-"));
    let path = args
        .output
        .or(config)
        .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_CONFIG_PATH));
    if !to_stdout && path.exists() && !args.force {
        return Err(usage(format!(
            "{} exists: init never overwrites a configuration without --force",
            path.display()
        )));
    }
    let options = Options {
        home_region: home_region.clone(),
        discover: args.discover,
        member_role_name: args.member_role,
        concurrency: 16,
    };
    let now = chrono::Utc::now();
    let aws = Aws::from_env(&home_region).await;
    let found = read(&aws, &options, now)
        .await
        .map_err(|e| usage(format!("cannot tell whose credentials these are: {e}")))?;
    let text = crate::text::starter::render(
        &found,
        home_region.as_str(),
        args.discover,
        &options.member_role_name,
        now,
    );
    // What init writes must pass `runaway check` as it stands: proved before it is written.
    Config::parse(&path, &text).map_err(|e| {
        Exit(
            exit::FAIL,
            format!("the configuration init made is not valid, which is a bug: {e}"),
        )
    })?;
    if to_stdout {
        print!("{text}");
        return Ok(exit::OK);
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(!args.force)
        .open(&path)
        .map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
    let reached = found.accounts.iter().filter(|a| a.error.is_none()).count();
    eprintln!(
        "wrote {}: {reached} of {} account(s) read, nothing changed in AWS. Read its comments, then `runaway check`.",
        path.display(),
        found.accounts.len()
    );
    Ok(exit::OK)
}
