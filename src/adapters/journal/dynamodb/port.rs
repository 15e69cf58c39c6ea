//! The journal port, kept on DynamoDB: each call is its method of the same name
//! (`delegate_journal!`), but where it is kept and the lease.

use chrono::{DateTime, Utc};

use super::DynamoJournal;
use crate::core::events::Outcome;
use crate::core::incident::{Observed, Status};
use crate::core::money::PriceKey;
use crate::ports::journal::{
    ChangeRow, EventRecord, EventRow, Finding, IncidentRow, Journal, JournalCopy, JournalError,
    LastOk, Lease, PlannedChange,
};

impl Journal for DynamoJournal {
    fn store(&self) -> String {
        format!("dynamodb:{}", self.table)
    }

    fn take_lease(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Lease, JournalError> {
        DynamoJournal::take_lease(self, holder, now, until)
    }

    fn release_lease(&self, holder: &str) -> Result<(), JournalError> {
        DynamoJournal::release_lease(self, holder)
    }

    fn stand_down(&self) {
        DynamoJournal::stand_down(self)
    }

    fn lease(&self) -> Result<Option<Lease>, JournalError> {
        DynamoJournal::lease(self)
    }

    fn export(&self) -> Result<JournalCopy, JournalError> {
        DynamoJournal::export(self)
    }

    fn import_records(&self, copy: &JournalCopy) -> Result<(), JournalError> {
        DynamoJournal::import_records(self, copy)
    }

    delegate_journal!(DynamoJournal);
}
