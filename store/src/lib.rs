//! palisade-store: observed flows kept across runs, aggregated per
//! conversation and hour, so that the gate and discovery can judge a week
//! of traffic that never fits in memory as raw records.
//!
//! One job: persist evidence and read a window of it back as the
//! [`Evidence`] that everything after the readers already understands.
//! Raw records are never stored: the size is bounded by conversations x
//! hours (and active minutes per namespace), not by flows.
//!
//! Architecture invariants:
//! - a record belongs to the conversation that
//!   [`conversation`](palisade_evidence::observe::conversation) names, the
//!   key an [`Evidence`] counts it under: the store and a flow file read
//!   in memory agree on what a conversation is
//! - SQL is standard (`INSERT ... ON CONFLICT ... DO UPDATE`, `CASE`,
//!   `CAST(SUM(..) AS BIGINT)`, integer columns) so that a second backend
//!   can run the same statements; only the opening and the DDL of row ids
//!   are SQLite's
//! - a store whose schema is newer than this code is refused, never read
//!   or downgraded

mod err;
mod files;
mod ingest;
mod key;
mod postgres;
mod schema;
mod sql;
mod sqlite;
mod summary;
mod window;
mod write;
mod writer;

pub use err::StoreError;
pub use files::{FileMark, Ingested};
pub use ingest::Ingest;
pub use schema::VERSION as SCHEMA_VERSION;
pub use summary::{Conversation, Coverage, Gap, ServiceSeen, Summary};
pub use window::{Pruned, Window};

use palisade_evidence::Evidence;
use palisade_targets::flows::{FlowRecord, ReadStats};
use sql::Sql;
use std::cell::RefCell;
use std::time::Duration;

/// How long a writer waits for another process's transaction to end
/// before giving up: ingests flush in transactions of a few seconds at most
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Records aggregated in memory before they are written: bounds memory by
/// conversations x hours of a few batches, whatever the length of the
/// stream. Large enough that a time-ordered stream writes each bucket about
/// once (a batch spans hours, not minutes, on a busy cluster)
pub const FLUSH_EVERY: usize = 200_000;

/// A flow store, opened: an SQLite file or a PostgreSQL database. `Send`,
/// not `Sync`: one thread uses it at a time (with PostgreSQL, a blocking
/// thread, never an async task's)
pub struct Store {
    sql: RefCell<Box<dyn Sql>>,
    name: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("name", &self.name).finish()
    }
}

impl Store {
    /// Open (and create, and migrate) the store at `url`: `sqlite:PATH`,
    /// `sqlite://PATH` or a bare path for a file; `postgres://` or
    /// `postgresql://` for a database (libpq's URL form). Any other scheme
    /// is refused
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_at(url, schema::VERSION)
    }

    /// [`Self::open`] a store that must exist already (to read or prune):
    /// a missing file, or a database with no palisade schema, is an error
    /// rather than an empty store
    pub fn open_existing(url: &str) -> Result<Self, StoreError> {
        if !postgres::is_postgres(url) {
            let path = sqlite_path(url)?;
            if !path.exists() {
                return Err(StoreError::Missing {
                    store: path.display().to_string(),
                });
            }
            return Self::open(url);
        }
        let mut sql = connect(url)?;
        if sql.tables()?.is_empty() {
            return Err(StoreError::Missing {
                store: sql.name().to_string(),
            });
        }
        schema::prepare(sql.as_mut())?;
        Ok(Self::of(sql))
    }

    /// Open a store and migrate it only up to schema `version`: for tests
    /// of the migrations, which need a store as an older palisade left it
    #[doc(hidden)]
    pub fn open_at(url: &str, version: i64) -> Result<Self, StoreError> {
        let mut sql = connect(url)?;
        schema::migrate_to(sql.as_mut(), version)?;
        Ok(Self::of(sql))
    }

    fn of(sql: Box<dyn Sql>) -> Self {
        let name = sql.name().to_string();
        Self {
            sql: RefCell::new(sql),
            name,
        }
    }

    /// How the store is named in messages: its file, or its URL without
    /// the password
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema versions applied, oldest first
    pub fn schema_versions(&self) -> Result<Vec<i64>, StoreError> {
        let mut versions = Vec::new();
        self.sql
            .borrow_mut()
            .query("SELECT version FROM schema_version ORDER BY version", &[], &mut |row| {
                versions.push(row.int_required(0)?);
                Ok(())
            })?;
        Ok(versions)
    }

    /// Take records (of one stream, or of none in particular), written in
    /// batches of [`FLUSH_EVERY`]; returns how many were taken
    pub fn ingest(&mut self, records: impl IntoIterator<Item = FlowRecord>) -> Result<u64, StoreError> {
        let mut ingest = self.ingester();
        for record in records {
            ingest.add(record)?;
        }
        let taken = ingest.taken();
        ingest.finish(None)?;
        Ok(taken)
    }

    /// An ingest that takes records one at a time, and the stream's read
    /// statistics at the end (lost events and unreadable lines: gaps)
    pub fn ingester(&mut self) -> Ingest<'_> {
        Ingest::new(self, FLUSH_EVERY)
    }

    /// [`Self::ingester`] flushing every `records`
    pub fn ingester_flushing_every(&mut self, records: usize) -> Ingest<'_> {
        Ingest::new(self, records.max(1))
    }

    /// The evidence of a window, merged into one [`Evidence`]: conversations
    /// by the hours the window touches (with the hours each was seen in),
    /// minutes of activity and lookups likewise, and the read statistics
    /// of the streams that overlap it
    pub fn evidence(&self, since_ms: i64, until_ms: i64) -> Result<Evidence, StoreError> {
        window::evidence(self.sql.borrow_mut().as_mut(), Window { since_ms, until_ms })
    }

    /// What a window holds, for people: its extent, coverage per namespace
    /// and service, gaps longer than `max_gap_minutes`, top conversations
    pub fn summary(&self, window: Window, max_gap_minutes: i64) -> Result<Summary, StoreError> {
        let evidence = self.evidence(window.since_ms, window.until_ms)?;
        Ok(Summary::of(&evidence, window, max_gap_minutes))
    }

    /// The latest time any stored record was seen, ms since the epoch
    pub fn last_seen_ms(&self) -> Result<Option<i64>, StoreError> {
        window::last_seen(self.sql.borrow_mut().as_mut())
    }

    /// Where the followed stream `source` resumes: the position its last
    /// [`Ingest::checkpoint`] saved
    pub fn cursor(&self, source: &str) -> Result<Option<String>, StoreError> {
        window::cursor(self.sql.borrow_mut().as_mut(), source)
    }

    /// Forget evidence older than `older_than_ms`: buckets of hours that
    /// ended before it, minutes and streams before it, conversations left
    /// with no bucket
    pub fn prune(&mut self, older_than_ms: i64) -> Result<Pruned, StoreError> {
        window::prune(self.sql.get_mut().as_mut(), older_than_ms)
    }

    fn record_stream(
        &mut self,
        source: &str,
        stats: &ReadStats,
        first_ms: Option<i64>,
        last_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        window::record_stream(self.sql.get_mut().as_mut(), source, stats, first_ms, last_ms)
    }
}

/// The connection a URL names
fn connect(url: &str) -> Result<Box<dyn Sql>, StoreError> {
    if postgres::is_postgres(url) {
        return Ok(Box::new(postgres::Postgres::open(url)?));
    }
    Ok(Box::new(sqlite::Sqlite::open(&sqlite_path(url)?)?))
}

/// The file a store URL names; other schemes are refused rather than
/// mistaken for a file name
fn sqlite_path(url: &str) -> Result<std::path::PathBuf, StoreError> {
    sqlite::path_of(url).map_err(|scheme| StoreError::Unsupported {
        url: url.to_string(),
        scheme,
    })
}

/// Milliseconds in an hour: the width of a bucket
pub const HOUR_MS: i64 = 3_600_000;

/// Milliseconds in a minute: the width of an activity mark
pub const MINUTE_MS: i64 = 60_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A count as the database keeps it (signed 64 bits: a count past that is
/// not a count any cluster reaches, and is held at the maximum)
fn db_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A count read back: a negative one is a store written by something else
fn count_of(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::{sqlite_path, StoreError};
    use std::path::PathBuf;

    #[test]
    fn urls_name_a_file_or_are_refused() {
        assert_eq!(sqlite_path("sqlite:/tmp/a.db").ok(), Some(PathBuf::from("/tmp/a.db")));
        assert_eq!(sqlite_path("sqlite:///tmp/a.db").ok(), Some(PathBuf::from("/tmp/a.db")));
        assert_eq!(sqlite_path("evidence.db").ok(), Some(PathBuf::from("evidence.db")));
        assert!(sqlite_path("postgres:evidence").is_err(), "a typo, not a file");
        assert_eq!(sqlite_path("C:/data/e.db").ok(), Some(PathBuf::from("C:/data/e.db")));
        assert!(sqlite_path("sqlite://").is_err());
        let refused = sqlite_path("mysql://db/palisade");
        assert!(matches!(refused, Err(StoreError::Unsupported { .. })), "{refused:?}");
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("neither `sqlite:` nor `postgres://`"), "{message}");
        assert!(sqlite_path("sqlite:").is_err());
    }
}
