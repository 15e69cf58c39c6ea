//! The journal-first invariant's one home: every change the guard makes in AWS — and every undo
//! by `restore` — goes through here. The changes are journaled `pending` (committed, with the
//! state they change from) before `act` runs, and `done` or `failed` after, with what `act` said
//! of each. If the journal cannot be written first, `act` does not run.

use chrono::{DateTime, Utc};

use crate::ports::CloudError;
use crate::ports::journal::{Journal, JournalError, PlannedChange};

/// Makes `changes` under `incident`: journaled, then `act` (one result per change, in order),
/// then journaled again.
pub async fn make(
    journal: &dyn Journal,
    incident: &str,
    changes: &[PlannedChange],
    now: impl Fn() -> DateTime<Utc>,
    act: impl AsyncFnOnce() -> Vec<Result<(), CloudError>>,
) -> Result<Vec<Result<(), CloudError>>, JournalError> {
    let rows = journal.plan_changes(incident, changes, now())?;
    let results = act().await;
    debug_assert_eq!(results.len(), rows.len());
    let outcomes: Vec<(i64, Result<(), String>)> = rows
        .iter()
        .zip(&results)
        .map(|(row, r)| (*row, r.clone().map_err(|e| e.to_string())))
        .collect();
    journal.finish_changes(&outcomes, now())?;
    Ok(results)
}

/// Undoes the journaled changes `rows`: marked `pending` undo, then `act` (one result per row,
/// in order), then marked `done`/`failed`.
pub async fn undo(
    journal: &dyn Journal,
    rows: &[i64],
    now: impl Fn() -> DateTime<Utc>,
    act: impl AsyncFnOnce() -> Vec<Result<(), CloudError>>,
) -> Result<Vec<Result<(), CloudError>>, JournalError> {
    let pending: Vec<(i64, Option<Result<(), String>>)> = rows.iter().map(|r| (*r, None)).collect();
    journal.mark_restore(&pending, now())?;
    let results = act().await;
    debug_assert_eq!(results.len(), rows.len());
    let outcomes: Vec<(i64, Option<Result<(), String>>)> = rows
        .iter()
        .zip(&results)
        .map(|(row, r)| (*row, Some(r.clone().map_err(|e| e.to_string()))))
        .collect();
    journal.mark_restore(&outcomes, now())?;
    Ok(results)
}

/// Makes one change whose call returns something worth keeping (a snapshot's id, a created
/// group's id): journaled `pending`, then `act`, then what it returned, then `done`/`failed`.
pub async fn make_returning<T: serde::Serialize + Clone>(
    journal: &dyn Journal,
    incident: &str,
    change: &PlannedChange,
    now: impl Fn() -> DateTime<Utc>,
    act: impl AsyncFnOnce() -> Result<T, CloudError>,
) -> Result<Result<T, CloudError>, JournalError> {
    let rows = journal.plan_changes(incident, std::slice::from_ref(change), now())?;
    let result = act().await;
    if let Ok(value) = &result {
        let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        journal.set_change_outcome(rows[0], &value)?;
    }
    journal.finish_changes(
        &[(
            rows[0],
            result.clone().map(|_| ()).map_err(|e| e.to_string()),
        )],
        now(),
    )?;
    Ok(result)
}
