//! `runaway events`: what the event path received lately, and what each event led to, from the
//! journal.

use chrono::{DateTime, Utc};

use crate::ports::journal::{EventRow, Journal, JournalError};

/// The default window of `runaway events`.
pub const DEFAULT_SINCE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

#[derive(Debug, serde::Serialize)]
pub struct EventsReport {
    pub since: DateTime<Utc>,
    pub events: Vec<EventRow>,
}

/// The messages received since `since`, oldest first.
pub fn list(journal: &dyn Journal, since: DateTime<Utc>) -> Result<EventsReport, JournalError> {
    Ok(EventsReport {
        since,
        events: journal.events_since(since)?,
    })
}
