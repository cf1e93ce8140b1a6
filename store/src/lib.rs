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
//! - the aggregation of records is [`Evidence::add`], one [`Evidence`] per
//!   hour; the store adds no second reading of a record
//! - SQL is standard (`INSERT ... ON CONFLICT ... DO UPDATE`, `CASE`,
//!   `CAST(SUM(..) AS BIGINT)`, integer columns) so that a second backend
//!   can run the same statements; only the opening and the DDL of row ids
//!   are SQLite's
//! - a store whose schema is newer than this code is refused, never read
//!   or downgraded

mod err;
mod ingest;
mod key;
mod schema;
mod summary;
mod window;

pub use err::StoreError;
pub use ingest::Ingest;
pub use summary::{Conversation, Coverage, Gap, ServiceSeen, Summary};
pub use window::{Pruned, Window};

use palisade_evidence::Evidence;
use palisade_targets::flows::{FlowRecord, ReadStats};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for another process's transaction to end
/// before giving up: ingests flush in transactions of a few seconds at most
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Records aggregated in memory before they are written: bounds memory by
/// conversations x hours of one batch, whatever the length of the stream
pub const FLUSH_EVERY: usize = 50_000;

/// A flow store, opened
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Open (and create, and migrate) the store at `url`: `sqlite:PATH`,
    /// `sqlite://PATH` or a bare path; any other scheme is refused
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let path = sqlite_path(url)?;
        let conn = Connection::open(&path).map_err(|e| StoreError::open(&path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| StoreError::open(&path, e))?;
        let mut store = Self { conn, path };
        schema::prepare(&mut store.conn, &store.path)?;
        Ok(store)
    }

    /// [`Self::open`] a store that must exist already (to read or prune)
    pub fn open_existing(url: &str) -> Result<Self, StoreError> {
        let path = sqlite_path(url)?;
        if !path.exists() {
            return Err(StoreError::Missing { path });
        }
        Self::open(url)
    }

    /// The file the store lives in
    pub fn path(&self) -> &Path {
        &self.path
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
    /// by the hours the window touches, minutes of activity and lookups
    /// likewise, and the read statistics of the streams that overlap it
    pub fn evidence(&self, since_ms: i64, until_ms: i64) -> Result<Evidence, StoreError> {
        window::evidence(&self.conn, &self.path, Window { since_ms, until_ms })
    }

    /// What a window holds, for people: its extent, coverage per namespace
    /// and service, gaps longer than `max_gap_minutes`, top conversations
    pub fn summary(&self, window: Window, max_gap_minutes: i64) -> Result<Summary, StoreError> {
        let evidence = self.evidence(window.since_ms, window.until_ms)?;
        Ok(Summary::of(&evidence, window, max_gap_minutes))
    }

    /// The latest time any stored record was seen, ms since the epoch
    pub fn last_seen_ms(&self) -> Result<Option<i64>, StoreError> {
        window::last_seen(&self.conn, &self.path)
    }

    /// Forget evidence older than `older_than_ms`: buckets of hours that
    /// ended before it, minutes and streams before it, conversations left
    /// with no bucket
    pub fn prune(&mut self, older_than_ms: i64) -> Result<Pruned, StoreError> {
        window::prune(&mut self.conn, &self.path, older_than_ms)
    }

    fn record_stream(
        &mut self,
        source: &str,
        stats: &ReadStats,
        first_ms: Option<i64>,
        last_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        window::record_stream(&mut self.conn, &self.path, source, stats, first_ms, last_ms)
    }
}

/// The file a store URL names; PostgreSQL and other servers are refused
/// (not supported yet) rather than mistaken for a file name
fn sqlite_path(url: &str) -> Result<PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if let Some((scheme, _)) = rest.split_once("://") {
        return Err(StoreError::Unsupported {
            url: url.to_string(),
            scheme: scheme.to_string(),
        });
    }
    if rest.is_empty() {
        return Err(StoreError::Unsupported {
            url: url.to_string(),
            scheme: String::new(),
        });
    }
    Ok(PathBuf::from(rest))
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
        let refused = sqlite_path("postgres://db/palisade");
        assert!(matches!(refused, Err(StoreError::Unsupported { .. })), "{refused:?}");
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("not supported yet"), "{message}");
        assert!(sqlite_path("sqlite:").is_err());
    }
}
