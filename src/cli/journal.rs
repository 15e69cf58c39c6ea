//! The commands of the journal: `status`, `status INCIDENT` and `events` read it, `journal init`
//! makes its store ready.

use super::*;

pub(super) fn cmd_status(config: &Config, json: bool) -> Result<i32, Exit> {
    // Reading changes nothing: a journal that cannot be read is exit 2, as for a bad file.
    let journal = crate::cli::open_journal(config).map_err(usage)?;
    if json {
        print_json(
            &crate::app::status::json(journal.as_ref(), config, chrono::Utc::now())
                .map_err(usage)?,
        );
    } else {
        print!(
            "{}",
            crate::app::status::text(journal.as_ref(), config, chrono::Utc::now())
                .map_err(usage)?
        );
    }
    Ok(exit::OK)
}

pub(super) fn cmd_events(config: &Config, since: Option<&str>, json: bool) -> Result<i32, Exit> {
    let window = match since {
        None => crate::app::events::DEFAULT_SINCE,
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) if d <= config::MAX_DURATION * 12 => d,
            _ => {
                return Err(usage(format!(
                    "--since: expected a duration like \"1h\" or \"7days\" (at most a year), found {text:?}"
                )));
            }
        },
    };
    let journal = crate::cli::open_journal(config).map_err(usage)?;
    let since = crate::app::bot::before(chrono::Utc::now(), window);
    let report = crate::app::events::list(journal.as_ref(), since).map_err(usage)?;
    if json {
        print_json(&report);
    } else {
        print!("{}", render::events(&report));
    }
    Ok(exit::OK)
}

pub(super) fn cmd_incident_status(config: &Config, id: &str, json: bool) -> Result<i32, Exit> {
    let journal = crate::cli::open_journal(config).map_err(usage)?;
    let unknown = || usage(format!("no incident {id:?} in the journal"));
    if json {
        let v = crate::app::status::incident_json(journal.as_ref(), id)
            .map_err(usage)?
            .ok_or_else(unknown)?;
        print_json(&v);
    } else {
        let text = crate::app::status::incident_text(journal.as_ref(), id)
            .map_err(usage)?
            .ok_or_else(unknown)?;
        print!("{text}");
    }
    Ok(exit::OK)
}

/// `runaway journal init`: the configured store made ready, and said where.
pub(super) fn cmd_journal_init(config: &Config) -> Result<i32, Exit> {
    let store = match &config.journal {
        config::JournalStore::Sqlite => {
            crate::adapters::journal::SqliteJournal::open(&config.guard.state_path)
                .map_err(usage)?
                .store()
        }
        config::JournalStore::DynamoDb { table, region } => {
            crate::adapters::journal::DynamoJournal::init(table, region.as_str()).map_err(usage)?;
            format!("dynamodb:{table} ({region})")
        }
    };
    println!("journal ready: {store}");
    Ok(exit::OK)
}

/// `runaway journal copy --to dynamodb:TABLE|FILE`: the configured journal copied whole into
/// an empty store, said by kind.
pub(super) fn cmd_journal_copy(config: &Config, to: &str, json: bool) -> Result<i32, Exit> {
    let target =
        config::copy_target(to, &config.journal, &config.guard.home_region).map_err(usage)?;
    let from = crate::cli::open_journal(config).map_err(usage)?;
    let into: Box<dyn Journal> = match &target {
        config::CopyTarget::File(path) => {
            if matches!(config.journal, config::JournalStore::Sqlite)
                && same_file(path, &config.guard.state_path)
            {
                return Err(usage(format!(
                    "--to: {} is the configured journal itself",
                    path.display()
                )));
            }
            Box::new(crate::adapters::journal::SqliteJournal::open(path).map_err(usage)?)
        }
        config::CopyTarget::DynamoDb { table, region } => {
            if config.journal
                == (config::JournalStore::DynamoDb {
                    table: table.clone(),
                    region: region.clone(),
                })
            {
                return Err(usage(format!(
                    "--to: dynamodb:{table} is the configured journal itself"
                )));
            }
            Box::new(
                crate::adapters::journal::DynamoJournal::init(table, region.as_str())
                    .map_err(usage)?,
            )
        }
    };
    let copied = crate::ports::journal::copy(from.as_ref(), into.as_ref()).map_err(|e| {
        usage(format!(
            "{e}. Nothing in {} changed; {} may hold part of the copy: empty it before trying again",
            from.store(),
            into.store()
        ))
    })?;
    if json {
        print_json(&serde_json::json!({
            "from": from.store(),
            "to": into.store(),
            "copied": copied,
        }));
    } else {
        println!(
            "copied {} to {}: {} incidents, {} changes, {} findings, {} problems, {} presses, {} captures, {} checks, {} prices",
            from.store(),
            into.store(),
            copied.incidents,
            copied.changes,
            copied.findings,
            copied.problems,
            copied.presses,
            copied.captures,
            copied.checks,
            copied.prices
        );
    }
    Ok(exit::OK)
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
