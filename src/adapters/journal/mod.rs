//! The journal's stores. `sqlite`: the embedded default (`state_path`); `dynamodb`: one
//! table shared by replicas. Each implements the
//! journal port (`crate::ports::journal::Journal`); only these modules know their store.

pub mod dynamodb;
pub mod sqlite;

pub use dynamodb::DynamoJournal;
pub use sqlite::SqliteJournal;
