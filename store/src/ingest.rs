//! Records in, buckets out: each record goes through [`Evidence::add`] into
//! the [`Evidence`] of its hour; every few hundred thousand records the
//! hours are added to the store in one transaction and memory starts over

use crate::{db_count, key, now_ms, Store, StoreError, HOUR_MS};
use palisade_evidence::observe::{FlowKey, Seen};
use palisade_evidence::Evidence;
use palisade_targets::flows::{FlowRecord, Observed, ReadStats};
use rusqlite::{params, Transaction, TransactionBehavior};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// An ingest under way; [`Ingest::finish`] writes what is left
pub struct Ingest<'s> {
    store: &'s mut Store,
    flush_every: usize,
    /// the hour records without a time are counted in: the hour they
    /// were taken, the only time known of them
    untimed_hour: i64,
    hours: BTreeMap<i64, Evidence>,
    pending: usize,
    taken: u64,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
}

impl<'s> Ingest<'s> {
    pub(crate) fn new(store: &'s mut Store, flush_every: usize) -> Self {
        Self {
            store,
            flush_every,
            untimed_hour: now_ms().div_euclid(HOUR_MS),
            hours: BTreeMap::new(),
            pending: 0,
            taken: 0,
            first_ms: None,
            last_ms: None,
        }
    }

    /// Take one record; writes the batch when it is full
    pub fn add(&mut self, record: FlowRecord) -> Result<(), StoreError> {
        let hour = record.time_ms.map_or(self.untimed_hour, |t| t.div_euclid(HOUR_MS));
        if let Some(t) = record.time_ms {
            self.first_ms = Some(self.first_ms.map_or(t, |f| f.min(t)));
            self.last_ms = Some(self.last_ms.map_or(t, |l| l.max(t)));
        }
        self.hours.entry(hour).or_default().add(record);
        self.pending += 1;
        self.taken += 1;
        if self.pending >= self.flush_every {
            self.flush()?;
        }
        Ok(())
    }

    /// Records taken so far
    pub fn taken(&self) -> u64 {
        self.taken
    }

    /// Write what is left, and the stream's statistics (`source`, how it
    /// read) when the records came from one
    pub fn finish(mut self, stream: Option<(&str, &ReadStats)>) -> Result<(), StoreError> {
        self.flush()?;
        if let Some((source, stats)) = stream {
            let (first, last) = (self.first_ms, self.last_ms);
            self.store.record_stream(source, stats, first, last)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.hours.is_empty() {
            return Ok(());
        }
        let hours = std::mem::take(&mut self.hours);
        self.pending = 0;
        let path = self.store.path.clone();
        let db = |e| StoreError::db(&path, e);
        // IMMEDIATE: take the write lock now, so that two ingests queue on
        // the busy timeout instead of failing to upgrade a read lock.
        let tx = self
            .store
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        // Within one transaction an id cannot change: look each up once.
        let mut ids = HashMap::new();
        for (hour, evidence) in &hours {
            write_hour(&tx, &path, *hour, evidence, &mut ids)?;
        }
        tx.commit().map_err(db)
    }
}

const UPSERT_CONVERSATION: &str = "
INSERT INTO conversations (conversation_key, source_namespace, source_workload, destination_namespace, destination, protocol, port, method, path_class)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (conversation_key) DO NOTHING";

// Not `DO UPDATE ... RETURNING`: that rewrites the row on every flush.
const CONVERSATION_ID: &str = "SELECT id FROM conversations WHERE conversation_key = ?1";

// CASE rather than min()/max(): those are aggregates on other backends.
const UPSERT_BUCKET: &str = "
INSERT INTO buckets (conversation, hour, connections, first_ms, last_ms, allowed, dropped, would_drop)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (hour, conversation) DO UPDATE SET
    connections = buckets.connections + excluded.connections,
    first_ms = CASE WHEN buckets.first_ms IS NULL OR excluded.first_ms < buckets.first_ms
        THEN excluded.first_ms ELSE buckets.first_ms END,
    last_ms = CASE WHEN buckets.last_ms IS NULL OR excluded.last_ms > buckets.last_ms
        THEN excluded.last_ms ELSE buckets.last_ms END,
    allowed = buckets.allowed + excluded.allowed,
    dropped = buckets.dropped + excluded.dropped,
    would_drop = buckets.would_drop + excluded.would_drop";

const UPSERT_LOOKUP: &str = "
INSERT INTO lookups (endpoint, name, hour, lookups) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (hour, endpoint, name) DO UPDATE SET lookups = lookups.lookups + excluded.lookups";

const MARK_ACTIVE: &str =
    "INSERT INTO activity (namespace, minute) VALUES (?1, ?2) ON CONFLICT (minute, namespace) DO NOTHING";

fn write_hour<'e>(
    tx: &Transaction<'_>,
    path: &Path,
    hour: i64,
    evidence: &'e Evidence,
    ids: &mut HashMap<&'e FlowKey, i64>,
) -> Result<(), StoreError> {
    let db = |e| StoreError::db(path, e);
    let mut bucket = tx.prepare_cached(UPSERT_BUCKET).map_err(db)?;
    for (flow, seen) in &evidence.flows {
        let id = match ids.get(flow) {
            Some(id) => *id,
            None => {
                let id = conversation_id(tx, path, flow)?;
                ids.insert(flow, id);
                id
            }
        };
        let verdict = |o: Observed| db_count(seen.observed.get(&o).copied().unwrap_or(0));
        bucket
            .execute(params![
                id,
                hour,
                db_count(seen.count),
                seen.first_ms,
                seen.last_ms,
                verdict(Observed::Allowed),
                verdict(Observed::Dropped),
                verdict(Observed::WouldDrop),
            ])
            .map_err(db)?;
    }
    let mut lookup = tx.prepare_cached(UPSERT_LOOKUP).map_err(db)?;
    for (who, names) in &evidence.lookups {
        let endpoint = key::endpoint_text(who).map_err(|e| corrupt(path, &e))?;
        for (name, n) in names {
            lookup
                .execute(params![endpoint, name, hour, db_count(*n)])
                .map_err(db)?;
        }
    }
    let mut active = tx.prepare_cached(MARK_ACTIVE).map_err(db)?;
    for minute in &evidence.minutes {
        active.execute(params!["", minute]).map_err(db)?;
    }
    for (namespace, minutes) in &evidence.minutes_by_namespace {
        for minute in minutes {
            active.execute(params![namespace, minute]).map_err(db)?;
        }
    }
    Ok(())
}

/// The id of a conversation's row, which is added if it is new
fn conversation_id(tx: &Transaction<'_>, path: &Path, flow: &FlowKey) -> Result<i64, StoreError> {
    let db = |e| StoreError::db(path, e);
    let row = conversation_row(flow, path)?;
    tx.prepare_cached(UPSERT_CONVERSATION)
        .map_err(db)?
        .execute(params![
            row.key,
            row.source_namespace,
            row.source,
            row.destination_namespace,
            row.destination,
            row.protocol,
            row.port,
            row.method,
            row.path_class,
        ])
        .map_err(db)?;
    tx.prepare_cached(CONVERSATION_ID)
        .map_err(db)?
        .query_row([&row.key], |r| r.get(0))
        .map_err(db)
}

/// The columns of a conversation's row
struct ConversationRow {
    key: String,
    source_namespace: Option<String>,
    source: String,
    destination_namespace: Option<String>,
    destination: String,
    protocol: &'static str,
    port: u16,
    method: Option<String>,
    path_class: Option<String>,
}

fn conversation_row(flow: &FlowKey, path: &Path) -> Result<ConversationRow, StoreError> {
    Ok(ConversationRow {
        key: key::text(flow).map_err(|e| corrupt(path, &e))?,
        source_namespace: flow.source.namespace.clone(),
        source: key::party(&flow.source),
        destination_namespace: flow.destination.namespace.clone(),
        destination: key::party(&flow.destination),
        protocol: key::protocol(flow.protocol),
        port: flow.port,
        method: flow.request.as_ref().map(|r| r.method.clone()),
        path_class: flow.request.as_ref().map(|r| r.stands_for.clone()),
    })
}

fn corrupt(path: &Path, e: &serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

/// [`Seen`] is what a bucket holds; kept here so that the read side and the
/// write side agree on the verdict columns
pub(crate) fn seen_of(count: i64, first_ms: Option<i64>, last_ms: Option<i64>, verdicts: [i64; 3]) -> Seen {
    let mut observed = BTreeMap::new();
    for (o, n) in [Observed::Allowed, Observed::Dropped, Observed::WouldDrop]
        .into_iter()
        .zip(verdicts)
    {
        if n > 0 {
            observed.insert(o, crate::count_of(n));
        }
    }
    Seen {
        count: crate::count_of(count),
        first_ms,
        last_ms,
        observed,
    }
}
