//! The journal's stores. `sqlite`: the embedded default (`state_path`). Each implements the
//! journal port (`crate::ports::journal::Journal`); only these modules know their store.

pub mod sqlite;

pub use sqlite::SqliteJournal;
