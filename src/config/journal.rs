//! `[journal]`: where the journal is kept. `backend = "sqlite"` (the default) is the file
//! `[guard] state_path`; `backend = "dynamodb"` is one table, `table` (default
//! `runawaytrain-journal`) in `region` (default `home_region`), which several `runaway serve`
//! replicas may share.

use serde::Deserialize;

use super::RegionName;
use super::validate::Invalid;

/// The journal's store.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalStore {
    Sqlite,
    DynamoDb { table: String, region: RegionName },
}

pub const DEFAULT_TABLE: &str = "runawaytrain-journal";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJournal {
    backend: Option<String>,
    table: Option<String>,
    region: Option<String>,
}

/// DynamoDB's table names: 3 to 255 of `a-z A-Z 0-9 _ - .`.
fn table_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

pub(super) fn journal(
    raw: Option<RawJournal>,
    home_region: &RegionName,
) -> Result<JournalStore, Invalid> {
    let raw = raw.unwrap_or_default();
    match raw.backend.as_deref().unwrap_or("sqlite") {
        "sqlite" => {
            for (key, set) in [
                ("table", raw.table.is_some()),
                ("region", raw.region.is_some()),
            ] {
                if set {
                    return Err((
                        format!("journal.{key}"),
                        "applies only with backend = \"dynamodb\" (the SQLite journal is [guard] state_path)".into(),
                    ));
                }
            }
            Ok(JournalStore::Sqlite)
        }
        "dynamodb" => {
            let table = raw.table.unwrap_or_else(|| DEFAULT_TABLE.to_owned());
            if !table_name(&table) {
                return Err((
                    "journal.table".into(),
                    format!(
                        "expected a DynamoDB table name (3 to 255 of letters, digits, '_', '-', '.'), found {table:?}"
                    ),
                ));
            }
            let region = match raw.region {
                Some(r) => RegionName::parse(&r).map_err(|e| ("journal.region".to_owned(), e))?,
                None => home_region.clone(),
            };
            Ok(JournalStore::DynamoDb { table, region })
        }
        other => Err((
            "journal.backend".into(),
            format!("expected \"sqlite\" or \"dynamodb\", found {other:?}"),
        )),
    }
}

/// Where `runaway journal copy --to` puts a journal.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyTarget {
    /// A SQLite journal file (created if missing).
    File(std::path::PathBuf),
    /// A DynamoDB table, in `[journal] region` (or `home_region`).
    DynamoDb { table: String, region: RegionName },
}

/// Reads `--to`: `dynamodb:TABLE`, or a file's path.
pub fn copy_target(
    text: &str,
    store: &JournalStore,
    home_region: &RegionName,
) -> Result<CopyTarget, String> {
    if let Some(table) = text.strip_prefix("dynamodb:") {
        if !table_name(table) {
            return Err(format!(
                "--to: expected dynamodb:TABLE with a DynamoDB table name (3 to 255 of letters, digits, '_', '-', '.'), found {text:?}"
            ));
        }
        let region = match store {
            JournalStore::DynamoDb { region, .. } => region.clone(),
            JournalStore::Sqlite => home_region.clone(),
        };
        return Ok(CopyTarget::DynamoDb {
            table: table.to_owned(),
            region,
        });
    }
    if text.trim().is_empty() || text.contains(':') && !text.starts_with(['.', '/']) {
        return Err(format!(
            "--to: expected dynamodb:TABLE or the path of a journal file, found {text:?}"
        ));
    }
    Ok(CopyTarget::File(text.into()))
}
