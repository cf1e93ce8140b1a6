//! A window read back, streams recorded, old evidence pruned

use crate::ingest::seen_of;
use crate::{count_of, db_count, key, now_ms, StoreError, HOUR_MS, MINUTE_MS};
use palisade_evidence::Evidence;
use palisade_targets::flows::ReadStats;
use rusqlite::{params, Connection, TransactionBehavior};
use std::path::Path;

/// A stretch of time, ms since the epoch, both ends included. Buckets are
/// taken whole: a window takes every hour it touches (and every minute of
/// activity it touches), so its edges are as fine as an hour
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    /// from
    pub since_ms: i64,
    /// to
    pub until_ms: i64,
}

impl Window {
    /// The `length_ms` up to `until_ms`
    pub fn ending(until_ms: i64, length_ms: i64) -> Self {
        Self {
            since_ms: until_ms.saturating_sub(length_ms),
            until_ms,
        }
    }

    fn hours(self) -> (i64, i64) {
        (self.since_ms.div_euclid(HOUR_MS), self.until_ms.div_euclid(HOUR_MS))
    }

    fn minutes(self) -> (i64, i64) {
        (self.since_ms.div_euclid(MINUTE_MS), self.until_ms.div_euclid(MINUTE_MS))
    }
}

const CONVERSATIONS: &str = "
SELECT c.conversation_key,
    CAST(SUM(b.connections) AS BIGINT), MIN(b.first_ms), MAX(b.last_ms),
    CAST(SUM(b.allowed) AS BIGINT), CAST(SUM(b.dropped) AS BIGINT), CAST(SUM(b.would_drop) AS BIGINT)
FROM buckets b JOIN conversations c ON c.id = b.conversation
WHERE b.hour >= ?1 AND b.hour <= ?2
GROUP BY c.id, c.conversation_key";

const LOOKUPS: &str = "
SELECT endpoint, name, CAST(SUM(lookups) AS BIGINT) FROM lookups
WHERE hour >= ?1 AND hour <= ?2 GROUP BY endpoint, name";

const ACTIVITY: &str = "SELECT namespace, minute FROM activity WHERE minute >= ?1 AND minute <= ?2";

const STREAMS: &str = "
SELECT format, lines, flows, malformed, lost FROM streams
WHERE (last_ms IS NULL OR last_ms >= ?1) AND (first_ms IS NULL OR first_ms <= ?2)
ORDER BY id";

pub(crate) fn evidence(conn: &Connection, path: &Path, window: Window) -> Result<Evidence, StoreError> {
    let db = |e| StoreError::db(path, e);
    let corrupt = |e: serde_json::Error| StoreError::Corrupt {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let mut evidence = Evidence::default();
    let (from_hour, to_hour) = window.hours();
    let mut statement = conn.prepare_cached(CONVERSATIONS).map_err(db)?;
    let mut rows = statement.query(params![from_hour, to_hour]).map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        let text: String = row.get(0).map_err(db)?;
        let flow = key::parse(&text).map_err(corrupt)?;
        let verdicts = [
            row.get(4).map_err(db)?,
            row.get(5).map_err(db)?,
            row.get(6).map_err(db)?,
        ];
        let seen = seen_of(
            row.get(1).map_err(db)?,
            row.get(2).map_err(db)?,
            row.get(3).map_err(db)?,
            verdicts,
        );
        evidence.flows.insert(flow, seen);
    }
    let mut statement = conn.prepare_cached(LOOKUPS).map_err(db)?;
    let mut rows = statement.query(params![from_hour, to_hour]).map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        let endpoint: String = row.get(0).map_err(db)?;
        let who = key::parse_endpoint(&endpoint).map_err(corrupt)?;
        let n: i64 = row.get(2).map_err(db)?;
        evidence
            .lookups
            .entry(who)
            .or_default()
            .insert(row.get(1).map_err(db)?, count_of(n));
    }
    let (from_minute, to_minute) = window.minutes();
    let mut statement = conn.prepare_cached(ACTIVITY).map_err(db)?;
    let mut rows = statement.query(params![from_minute, to_minute]).map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        let namespace: String = row.get(0).map_err(db)?;
        let minute: i64 = row.get(1).map_err(db)?;
        if namespace.is_empty() {
            evidence.minutes.insert(minute);
        } else {
            evidence
                .minutes_by_namespace
                .entry(namespace)
                .or_default()
                .insert(minute);
        }
    }
    let mut statement = conn.prepare_cached(STREAMS).map_err(db)?;
    let mut rows = statement.query(params![window.since_ms, window.until_ms]).map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        let count = |i: usize| row.get::<_, i64>(i).map(count_of);
        evidence.reads.push(ReadStats {
            format: row.get(0).map_err(db)?,
            lines: count(1).map_err(db)?,
            flows: count(2).map_err(db)?,
            malformed: count(3).map_err(db)?,
            lost: count(4).map_err(db)?,
            ..ReadStats::default()
        });
    }
    Ok(evidence)
}

pub(crate) fn last_seen(conn: &Connection, path: &Path) -> Result<Option<i64>, StoreError> {
    conn.query_row("SELECT MAX(last_ms) FROM buckets", [], |row| row.get(0))
        .map_err(|e| StoreError::db(path, e))
}

pub(crate) fn record_stream(
    conn: &mut Connection,
    path: &Path,
    source: &str,
    stats: &ReadStats,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
) -> Result<(), StoreError> {
    let skipped: u64 = stats.skipped.values().sum();
    conn.execute(
        "INSERT INTO streams (source, format, ingested_ms, first_ms, last_ms, lines, flows, malformed, skipped, lost)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            source,
            stats.format,
            now_ms(),
            first_ms,
            last_ms,
            db_count(stats.lines),
            db_count(stats.flows),
            db_count(stats.malformed),
            db_count(skipped),
            db_count(stats.lost),
        ],
    )
    .map(|_| ())
    .map_err(|e| StoreError::db(path, e))
}

/// What a prune removed
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    /// conversation-hours
    pub buckets: u64,
    /// conversations with no hour left
    pub conversations: u64,
    /// minutes of activity (per namespace and overall)
    pub minutes: u64,
    /// name-lookup hours
    pub lookups: u64,
    /// streams that ended before the cutoff
    pub streams: u64,
}

pub(crate) fn prune(conn: &mut Connection, path: &Path, older_than_ms: i64) -> Result<Pruned, StoreError> {
    let db = |e| StoreError::db(path, e);
    // Only hours that ended before the cutoff: a bucket that straddles it
    // still holds evidence inside the kept window.
    let hour = older_than_ms.div_euclid(HOUR_MS);
    let minute = older_than_ms.div_euclid(MINUTE_MS);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let removed = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let pruned = Pruned {
        buckets: removed(tx.execute("DELETE FROM buckets WHERE hour < ?1", [hour]).map_err(db)?),
        conversations: removed(
            tx.execute(
                "DELETE FROM conversations WHERE NOT EXISTS (SELECT 1 FROM buckets WHERE buckets.conversation = conversations.id)",
                [],
            )
            .map_err(db)?,
        ),
        // minutes, not rows: each minute has a row per namespace besides
        minutes: count_of(
            tx.query_row(
                "SELECT COUNT(*) FROM activity WHERE namespace = '' AND minute < ?1",
                [minute],
                |row| row.get(0),
            )
            .map_err(db)?,
        ),
        lookups: removed(tx.execute("DELETE FROM lookups WHERE hour < ?1", [hour]).map_err(db)?),
        streams: removed(
            tx.execute("DELETE FROM streams WHERE last_ms IS NOT NULL AND last_ms < ?1", [older_than_ms])
                .map_err(db)?,
        ),
    };
    tx.execute("DELETE FROM activity WHERE minute < ?1", [minute])
        .map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(pruned)
}
