//! The journal port, kept on DynamoDB: each call is its method of the same name
//! (`delegate_journal!`), but where it is kept and the lease.

use chrono::{DateTime, Utc};

use super::DynamoJournal;
use crate::core::events::Outcome;
use crate::core::incident::{Observed, Status};
use crate::core::money::PriceKey;
use crate::ports::journal::{
    ChangeRow, EventRecord, EventRow, Finding, IncidentRow, Journal, JournalError, LastOk, Lease,
    PlannedChange,
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

    delegate_journal!(DynamoJournal);
}
