//! The journal's schema: every migration ever made, and how an older journal is brought to the
//! current version.

use rusqlite::Connection;

/// The schema version this build writes (`PRAGMA user_version`): the number of migrations.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Every schema change ever made, in order: migration `n` (counted from 1) takes a journal of
/// version `n - 1` to version `n`; a new journal runs them all. A journal of any older version
/// is brought to the current one in order, in one transaction. Never edit one that shipped:
/// add the next.
pub(super) const MIGRATIONS: [&str; 8] = [
    SCHEMA,
    MIGRATE_TO_2,
    MIGRATE_TO_3,
    MIGRATE_TO_4,
    MIGRATE_TO_5,
    MIGRATE_TO_6,
    MIGRATE_TO_7,
    MIGRATE_TO_8,
];

/// Version 8: the instances each account's latest ok check counted running, so that a launch
/// whose instances that check already counted is no launcher of a later incident. One row per
/// account (the latest ok check only), not one per check: a fleet's ids are kept once.
const MIGRATE_TO_8: &str = "
CREATE TABLE ok_counts (
    account_id   TEXT PRIMARY KEY,
    checked_at   TEXT NOT NULL,            -- the ok check's time, as in checks.checked_at
    instance_ids TEXT NOT NULL             -- JSON: the running instance ids it counted, sorted
);
-- The databases stopped and not yet started again, read at every check (AWS starts a stopped
-- database after 7 days; the guard stops it again).
CREATE INDEX changes_by_action ON changes(action, status);
";

/// Version 7: isolation and GuardDuty. What a change's call returned (a snapshot's id, a
/// created group's id); each isolated instance as it was before; the finding behind an
/// incident, and the resource it is about (one incident per resource); the instance a
/// `/runaway isolate` asks to isolate; on-demand prices, cached.
const MIGRATE_TO_7: &str = "
ALTER TABLE changes ADD COLUMN outcome TEXT;           -- JSON: what the call returned
CREATE TABLE captures (
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    account_id  TEXT NOT NULL,
    region      TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    captured_at TEXT NOT NULL,
    description TEXT NOT NULL                  -- JSON: ports::InstanceCapture
);
CREATE INDEX captures_by_incident ON captures(incident_id);
ALTER TABLE incidents ADD COLUMN finding TEXT;         -- JSON: core::guardduty::Finding
ALTER TABLE incidents ADD COLUMN resource TEXT;        -- what a finding is about: 'instance:i-...'
ALTER TABLE incidents ADD COLUMN target TEXT;          -- JSON: what a /runaway isolate isolates
CREATE INDEX incidents_by_resource ON incidents(account_id, resource);
CREATE TABLE prices (                      -- on-demand prices from the AWS Price List, a day
    key         TEXT PRIMARY KEY,          -- JSON: core::money::PriceKey
    usd_per_hour REAL,                     -- NULL: the Price List has none
    fetched_at  TEXT NOT NULL
);
";

/// Version 6: who launched an alert's instances, as last looked up.
const MIGRATE_TO_6: &str = "
ALTER TABLE incidents ADD COLUMN launchers TEXT;       -- JSON: core::launchers::Launchers
";

/// Version 1: CLI halts — incidents, findings, changes, problems.
const SCHEMA: &str = "
CREATE TABLE incidents (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,              -- 'halt'
    status     TEXT NOT NULL,              -- 'executing', 'executed', 'partial'
    opened_at  TEXT NOT NULL,
    closed_at  TEXT,
    actor      TEXT NOT NULL               -- who asked: 'cli:<user>', later a Slack user id
);
CREATE TABLE findings (                    -- what the guard found before acting
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    account_id  TEXT NOT NULL,
    region      TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    decision    TEXT NOT NULL,             -- 'stop' or 'skip'
    reason      TEXT,
    auto_scaling_group TEXT
);
CREATE TABLE changes (                     -- every change in AWS, before and after
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    account_id  TEXT NOT NULL,
    region      TEXT NOT NULL,
    action      TEXT NOT NULL,             -- 'stop_instance', 'suspend_processes'
    target      TEXT NOT NULL,             -- instance id, group name
    detail      TEXT,                      -- JSON: what the change does
    before      TEXT,                      -- JSON: the state it changes from
    status      TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    error       TEXT,
    planned_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX changes_by_incident ON changes(incident_id);
CREATE TABLE problems (                    -- what could not be read or done
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    account_id  TEXT NOT NULL,
    region      TEXT,
    message     TEXT NOT NULL,
    at          TEXT NOT NULL
);
";

/// Version 5: the event path. Every message taken from the event queue: an event (once per
/// EventBridge id; later deliveries are rows of their own marked `duplicate`), or a message that
/// is not one (`problem`, once per SQS message id, its receives counted).
const MIGRATE_TO_5: &str = "
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT,                      -- EventBridge's id; NULL for a problem
    message_id  TEXT NOT NULL,             -- SQS's id of the message
    account_id  TEXT,
    region      TEXT,
    detail_type TEXT,
    source      TEXT,
    time        TEXT,                      -- when the event happened, as it says
    received_at TEXT NOT NULL,
    outcome     TEXT NOT NULL,             -- check, coalesced, kept, ignored, duplicate, problem
    note        TEXT,                      -- why: the problem, or why ignored or kept
    detail      TEXT,                      -- JSON: the event's detail
    receives    INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX events_once ON events(event_id) WHERE outcome <> 'duplicate';
CREATE UNIQUE INDEX problems_once ON events(message_id) WHERE outcome = 'problem';
CREATE INDEX events_by_time ON events(received_at);
CREATE INDEX events_by_account ON events(account_id, detail_type, time);
";

/// Version 4: the process carrying out an incident's actions (so that `restore` waits for it
/// rather than racing it), and the `response_url` of a `/runaway halt` waiting for its
/// confirmation (so that its expiry can be said in Slack).
const MIGRATE_TO_4: &str = "
ALTER TABLE incidents ADD COLUMN acting_process TEXT;  -- 'pid@start' of the process acting
ALTER TABLE incidents ADD COLUMN response_url TEXT;    -- cleared once the halt is decided
";

/// Version 3: the undoing of each change by `restore`, journaled like the change itself.
const MIGRATE_TO_3: &str = "
ALTER TABLE changes ADD COLUMN restore_status TEXT CHECK (restore_status IN ('pending', 'done', 'failed'));
ALTER TABLE changes ADD COLUMN restore_error TEXT;
ALTER TABLE changes ADD COLUMN restored_at TEXT;
";

/// Version 2: the bot's incidents (alerts with deadlines, Slack messages, decisions), button
/// presses and check runs.
const MIGRATE_TO_2: &str = "
ALTER TABLE incidents ADD COLUMN account_id TEXT;
ALTER TABLE incidents ADD COLUMN accounts TEXT;       -- JSON list, for a /runaway halt
ALTER TABLE incidents ADD COLUMN deadline TEXT;
ALTER TABLE incidents ADD COLUMN decided_by TEXT;
ALTER TABLE incidents ADD COLUMN decided_at TEXT;
ALTER TABLE incidents ADD COLUMN observed TEXT;       -- JSON: what the check saw
ALTER TABLE incidents ADD COLUMN slack_channel TEXT;
ALTER TABLE incidents ADD COLUMN slack_ts TEXT;
ALTER TABLE incidents ADD COLUMN snooze_until TEXT;
ALTER TABLE incidents ADD COLUMN result TEXT;         -- JSON: what the actions did
ALTER TABLE incidents ADD COLUMN updated_at TEXT;
CREATE INDEX incidents_by_account ON incidents(account_id, opened_at);
CREATE INDEX incidents_by_status ON incidents(status);
CREATE TABLE presses (                     -- every button press and slash command that acts
    incident_id TEXT,
    user_id     TEXT NOT NULL,
    action      TEXT NOT NULL,
    allowed     INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE TABLE checks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    checked_at  TEXT NOT NULL,
    state       TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    report      TEXT NOT NULL
);
";

/// Brings the journal to [`SCHEMA_VERSION`]: every missing migration, in order, in one
/// transaction taken before the version is read, so two processes opening one old journal
/// migrate it once. A file that is not a journal, or of a newer schema, is refused untouched.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), String> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| format!("not a usable SQLite database, or not writable: {e}"))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| format!("not a usable SQLite database: {e}"))?;
    if version == 0 {
        let tables: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        if tables > 0 {
            return Err("not a runawaytrain journal (it has other tables)".into());
        }
    }
    if !(0..=SCHEMA_VERSION).contains(&version) {
        return Err(format!(
            "schema version {version} is newer than this build understands ({SCHEMA_VERSION})"
        ));
    }
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let to = n + 1;
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", to as i64))
            .map_err(|e| {
                format!("cannot upgrade the journal from version {version} to {to}: {e}")
            })?;
    }
    // Committing even when nothing changed proves the journal writable now rather than
    // halfway through a halt.
    tx.commit().map_err(|e| format!("not writable: {e}"))
}
