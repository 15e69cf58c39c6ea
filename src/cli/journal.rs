//! The commands of the journal: `status`, `status INCIDENT` and `events` read it, `journal init`
//! makes its store ready.

use super::*;

pub(super) fn cmd_status(config: &Config, json: bool) -> Result<i32, Exit> {
    // Reading changes nothing: a journal that cannot be read is exit 2, as for a bad file.
    let journal = crate::cli::open_journal(config).map_err(usage)?;
    if json {
        print_json(&crate::app::status::json(journal.as_ref(), config).map_err(usage)?);
    } else {
        print!(
            "{}",
            crate::app::status::text(journal.as_ref(), config).map_err(usage)?
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
