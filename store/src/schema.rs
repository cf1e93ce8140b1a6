//! The schema, created and upgraded by numbered migrations. Version `n` is
//! `MIGRATIONS[n - 1]`; the versions applied are rows of `schema_version`
//! (a table rather than SQLite's `user_version`, so that every backend
//! keeps it alike).

use crate::{StoreError, BUSY_TIMEOUT};
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::time::{Duration, Instant};

/// Migration 1: the initial schema. Keys lead with the hour (the minute):
/// an ingest of recent traffic then appends at the end of each tree instead
/// of rewriting pages all over it, and windows and pruning are key ranges.
/// `WITHOUT ROWID` keeps each of those tables one tree (SQLite's DDL; the
/// statements that use them are standard)
const V1: &str = "
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    conversation_key TEXT NOT NULL UNIQUE,
    source_namespace TEXT,
    source_workload TEXT NOT NULL,
    destination_namespace TEXT,
    destination TEXT NOT NULL,
    protocol TEXT NOT NULL,
    port INTEGER NOT NULL,
    method TEXT,
    path_class TEXT
);
CREATE TABLE buckets (
    conversation INTEGER NOT NULL REFERENCES conversations (id),
    hour BIGINT NOT NULL,
    connections BIGINT NOT NULL,
    first_ms BIGINT,
    last_ms BIGINT,
    allowed BIGINT NOT NULL,
    dropped BIGINT NOT NULL,
    would_drop BIGINT NOT NULL,
    PRIMARY KEY (hour, conversation)
) WITHOUT ROWID;
CREATE TABLE activity (
    namespace TEXT NOT NULL,
    minute BIGINT NOT NULL,
    PRIMARY KEY (minute, namespace)
) WITHOUT ROWID;
CREATE TABLE lookups (
    endpoint TEXT NOT NULL,
    name TEXT NOT NULL,
    hour BIGINT NOT NULL,
    lookups BIGINT NOT NULL,
    PRIMARY KEY (hour, endpoint, name)
) WITHOUT ROWID;
CREATE TABLE streams (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    format TEXT NOT NULL,
    ingested_ms BIGINT NOT NULL,
    first_ms BIGINT,
    last_ms BIGINT,
    lines BIGINT NOT NULL,
    flows BIGINT NOT NULL,
    malformed BIGINT NOT NULL,
    skipped BIGINT NOT NULL,
    lost BIGINT NOT NULL
);
";

/// Every migration, oldest first
const MIGRATIONS: &[&str] = &[V1];

/// The newest schema version this code knows
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Set the connection up and bring the schema to [`VERSION`]
pub(crate) fn prepare(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let db = |e| StoreError::db(path, e);
    write_ahead_log(conn, path)?;
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
        .map_err(db)?;
    // IMMEDIATE: two processes opening a new file at once migrate it once.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let found = version(&tx, path)?;
    if found > VERSION {
        return Err(StoreError::Newer {
            path: path.to_path_buf(),
            found,
            known: VERSION,
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(migration).map_err(db)?;
        let applied = i64::try_from(index).unwrap_or(i64::MAX).saturating_add(1);
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [applied])
            .map_err(db)?;
    }
    tx.commit().map_err(db)
}

/// WAL lets readers (show, audit) run while an ingest writes. Switching to
/// it takes the file's lock without waiting on the busy timeout, so two
/// processes opening a new store at once retry here for as long
fn write_ahead_log(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let start = Instant::now();
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) && start.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(StoreError::db(path, e)),
        }
    }
}

/// The version of the schema in the file: 0 for an empty database; an
/// error for a database that holds tables but no palisade schema
fn version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    let db = |e| StoreError::db(path, e);
    let tables: Vec<String> = {
        let mut statement = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .map_err(db)?;
        let rows = statement.query_map([], |row| row.get(0)).map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    if tables.is_empty() {
        return Ok(0);
    }
    if !tables.iter().any(|t| t == "schema_version") {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            why: format!("it holds other tables ({})", tables.join(", ")),
        });
    }
    let found: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |row| row.get(0))
        .optional()
        .map_err(db)?
        .flatten();
    Ok(found.unwrap_or(0))
}
