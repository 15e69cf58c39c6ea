//! The journal port, kept by the SQLite journal: each call is its method of the same name
//! (`delegate_journal!`), but where it is kept and the lease.

use chrono::{DateTime, Utc};

use super::SqliteJournal;
use crate::core::events::Outcome;
use crate::core::incident::{Observed, Status};
use crate::core::money::PriceKey;
use crate::ports::journal::{
    ChangeRow, EventRecord, EventRow, Finding, IncidentRow, Journal, JournalCopy, JournalError,
    LastOk, Lease, PlannedChange,
};

impl Journal for SqliteJournal {
    fn store(&self) -> String {
        self.path().display().to_string()
    }

    /// The embedded journal has one replica: its process always leads, and nothing is fenced.
    fn take_lease(
        &self,
        holder: &str,
        _now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Lease, JournalError> {
        Ok(Lease {
            holder: holder.to_owned(),
            expires: until,
            token: 0,
        })
    }

    fn release_lease(&self, _holder: &str) -> Result<(), JournalError> {
        Ok(())
    }

    /// One process, no lease kept.
    fn lease(&self) -> Result<Option<Lease>, JournalError> {
        Ok(None)
    }

    fn export(&self) -> Result<JournalCopy, JournalError> {
        SqliteJournal::export(self)
    }

    fn import_records(&self, copy: &JournalCopy) -> Result<(), JournalError> {
        SqliteJournal::import_records(self, copy)
    }

    delegate_journal!(SqliteJournal);
}
