//! The schema, created and upgraded by numbered migrations. Version `n` is
//! `MIGRATIONS[n - 1]`; the versions applied are rows of `schema_version`
//! (a table rather than SQLite's `user_version`, so that every backend
//! keeps it alike). A migration is one text for both backends: the few
//! words that differ are `{id}`, `{int}` and `{tree}`.

use crate::sql::{in_transaction, scalar, Dialect, Sql, Value};
use crate::StoreError;

/// Migration 1: the initial schema. Keys lead with the hour (the minute):
/// an ingest of recent traffic then appends at the end of each tree instead
/// of rewriting pages all over it, and windows and pruning are key ranges.
const V1: &str = "
CREATE TABLE schema_version (version {int} NOT NULL);
CREATE TABLE conversations (
    id {id},
    conversation_key TEXT NOT NULL UNIQUE,
    source_namespace TEXT,
    source_workload TEXT NOT NULL,
    destination_namespace TEXT,
    destination TEXT NOT NULL,
    protocol TEXT NOT NULL,
    port {int} NOT NULL,
    method TEXT,
    path_class TEXT
);
CREATE TABLE buckets (
    conversation {int} NOT NULL REFERENCES conversations (id),
    hour BIGINT NOT NULL,
    connections BIGINT NOT NULL,
    first_ms BIGINT,
    last_ms BIGINT,
    allowed BIGINT NOT NULL,
    dropped BIGINT NOT NULL,
    would_drop BIGINT NOT NULL,
    PRIMARY KEY (hour, conversation)
){tree};
CREATE TABLE activity (
    namespace TEXT NOT NULL,
    minute BIGINT NOT NULL,
    PRIMARY KEY (minute, namespace)
){tree};
CREATE TABLE lookups (
    endpoint TEXT NOT NULL,
    name TEXT NOT NULL,
    hour BIGINT NOT NULL,
    lookups BIGINT NOT NULL,
    PRIMARY KEY (hour, endpoint, name)
){tree};
CREATE TABLE streams (
    id {id},
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

/// Migration 2: activity as one row per namespace and hour, the minutes
/// with a record as the bits of an integer (bit `m` for minute `m` of the
/// hour): a week of 200 busy namespaces is 34 thousand rows instead of two
/// million, which a gate reading the week in under a second needs. And the
/// resume positions of followed streams (`evidence follow`, the
/// controller), saved in the transaction of the buckets they led to.
/// Times before 1970 (negative minutes) do not occur in flow logs and are
/// not carried over.
const V2: &str = "
CREATE TABLE activity_hours (
    namespace TEXT NOT NULL,
    hour BIGINT NOT NULL,
    minutes BIGINT NOT NULL,
    PRIMARY KEY (hour, namespace)
){tree};
INSERT INTO activity_hours (namespace, hour, minutes)
SELECT namespace, minute / 60, CAST(SUM(CAST(1 AS BIGINT) << CAST(minute % 60 AS INTEGER)) AS BIGINT)
FROM activity WHERE minute >= 0 GROUP BY namespace, minute / 60;
DROP TABLE activity;
ALTER TABLE activity_hours RENAME TO activity;
CREATE TABLE cursors (
    source TEXT NOT NULL PRIMARY KEY,
    position TEXT NOT NULL,
    saved_ms BIGINT NOT NULL
);
";

/// Migration 3: conversations are found by a SHA-256 of their key, not by
/// the key: PostgreSQL cannot index a text over 2,704 bytes, which a pod
/// with many labels reaches, and one such pod must not stop every ingest.
/// The hashes of existing rows are computed by [`hash_existing_keys`].
const V3: &str = "ALTER TABLE conversations ADD COLUMN key_hash TEXT;";

/// Migration 4: each conversation's hours summed per day beside the hours
/// themselves (the hours it was seen in as the bits of an integer, bit `h`
/// for hour `h` of the day), and the lookups likewise: a window of a week
/// reads its whole days from a seventh of the rows of its hours, or fewer
/// (a conversation seen all day is one row instead of 24), and only the
/// hours of the days it takes in part one by one. Filled from the hours
/// already stored by [`fill_days`].
const V4: &str = "
CREATE TABLE days (
    conversation {int} NOT NULL REFERENCES conversations (id),
    day BIGINT NOT NULL,
    hours BIGINT NOT NULL,
    connections BIGINT NOT NULL,
    first_ms BIGINT,
    last_ms BIGINT,
    allowed BIGINT NOT NULL,
    dropped BIGINT NOT NULL,
    would_drop BIGINT NOT NULL,
    PRIMARY KEY (day, conversation)
){tree};
CREATE TABLE lookup_days (
    endpoint TEXT NOT NULL,
    name TEXT NOT NULL,
    day BIGINT NOT NULL,
    lookups BIGINT NOT NULL,
    PRIMARY KEY (day, endpoint, name)
){tree};
";

/// Work of a migration that statements alone cannot do
type Step = fn(&mut dyn Sql) -> Result<(), StoreError>;

/// A step of the schema: statements, then the work they cannot do
struct Migration {
    sql: &'static str,
    then: Option<Step>,
}

/// Every migration, oldest first
const MIGRATIONS: &[Migration] = &[
    Migration { sql: V1, then: None },
    Migration { sql: V2, then: None },
    Migration {
        sql: V3,
        then: Some(hash_existing_keys),
    },
    Migration {
        sql: V4,
        then: Some(fill_all_days),
    },
];

/// The day rows of every hour stored before migration 4
fn fill_all_days(sql: &mut dyn Sql) -> Result<(), StoreError> {
    crate::write::fill_days(sql, 0, i64::MAX / crate::HOUR_MS)
}

/// Fill `key_hash` of the rows written before migration 3, make it the
/// conversations' unique key, and (PostgreSQL) drop the index on the text
fn hash_existing_keys(sql: &mut dyn Sql) -> Result<(), StoreError> {
    let mut rows = Vec::new();
    sql.query("SELECT id, conversation_key FROM conversations", &[], &mut |row| {
        rows.push((row.int_required(0)?, row.text_required(1)?));
        Ok(())
    })?;
    for (id, key) in rows {
        let hash = crate::key::hash(&key);
        sql.execute(
            "UPDATE conversations SET key_hash = $1 WHERE id = $2",
            &[hash.as_str().into(), id.into()],
        )?;
    }
    sql.batch("CREATE UNIQUE INDEX conversations_by_hash ON conversations (key_hash)")?;
    if sql.dialect() == Dialect::Postgres {
        sql.batch("ALTER TABLE conversations DROP CONSTRAINT IF EXISTS conversations_conversation_key_key")?;
    }
    Ok(())
}

/// The newest schema version this code knows
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// A migration's text for one backend
fn render(migration: &str, dialect: Dialect) -> String {
    let (id, int, tree) = match dialect {
        // `INTEGER PRIMARY KEY` is SQLite's row id; `WITHOUT ROWID` keeps a
        // table one tree.
        Dialect::Sqlite => ("INTEGER PRIMARY KEY", "INTEGER", " WITHOUT ROWID"),
        // BIGINT throughout: every value the store binds is 64 bits.
        Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", "BIGINT", ""),
    };
    migration
        .replace("{id}", id)
        .replace("{int}", int)
        .replace("{tree}", tree)
}

/// Bring the schema to [`VERSION`]
pub(crate) fn prepare(sql: &mut dyn Sql) -> Result<(), StoreError> {
    migrate_to(sql, VERSION)
}

/// Bring the schema to `target` (older than [`VERSION`] only in tests of
/// the migrations themselves)
pub(crate) fn migrate_to(sql: &mut dyn Sql, target: i64) -> Result<(), StoreError> {
    // Looked at first without a write transaction: a store that is up to
    // date is only read, so a user who may only read it can.
    let found = known_version(sql)?;
    if found >= target {
        return Ok(());
    }
    in_transaction(sql, |sql| {
        if sql.dialect() == Dialect::Postgres {
            // Two processes opening a new database at once migrate it once
            // (SQLite's BEGIN IMMEDIATE does the same for a file).
            sql.query("SELECT pg_advisory_xact_lock(7061746572)", &[], &mut |_| Ok(()))?;
        }
        let found = known_version(sql)?;
        for version in found + 1..=target.min(VERSION) {
            let migration = &MIGRATIONS[usize::try_from(version - 1).unwrap_or(0)];
            sql.batch(&render(migration.sql, sql.dialect()))?;
            if let Some(then) = migration.then {
                then(sql)?;
            }
            sql.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[Value::from(version)],
            )?;
        }
        Ok(())
    })
}

/// [`version`], refused when it is newer than this code
fn known_version(sql: &mut dyn Sql) -> Result<i64, StoreError> {
    let found = version(sql)?;
    if found > VERSION {
        return Err(StoreError::Newer {
            store: sql.name().to_string(),
            found,
            known: VERSION,
        });
    }
    Ok(found)
}

/// The version of the schema in the database: 0 for an empty one; an
/// error for one that holds tables but no palisade schema
fn version(sql: &mut dyn Sql) -> Result<i64, StoreError> {
    let tables = sql.tables()?;
    if tables.is_empty() {
        return Ok(0);
    }
    if !tables.iter().any(|t| t == "schema_version") {
        return Err(StoreError::NotAStore {
            store: sql.name().to_string(),
            why: format!("it holds other tables ({})", tables.join(", ")),
        });
    }
    Ok(scalar(sql, "SELECT MAX(version) FROM schema_version", &[])?.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::{render, V1};
    use crate::sql::Dialect;

    #[test]
    fn the_sqlite_text_of_migration_1_is_the_one_that_shipped() {
        let text = render(V1, Dialect::Sqlite);
        assert!(text.contains("id INTEGER PRIMARY KEY,"), "{text}");
        assert!(text.contains(") WITHOUT ROWID;"), "{text}");
        let text = render(V1, Dialect::Postgres);
        assert!(
            text.contains("id BIGSERIAL PRIMARY KEY,") && !text.contains("ROWID"),
            "{text}"
        );
    }
}
