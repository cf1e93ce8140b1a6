//! Records in, buckets out: each record goes through [`Evidence::add`] into
//! the [`Evidence`] of its hour; every [`crate::FLUSH_EVERY`] records (and
//! at each checkpoint) the hours are added to the store in one transaction
//! and memory starts over

use crate::sql::{in_transaction, parameter_list, values_list, Sql, Value};
use crate::writer::{Gone, Writer};
use crate::{key, now_ms, Store, StoreError, HOUR_MS};
use palisade_evidence::observe::{FlowKey, KeyHashing};
use palisade_evidence::Evidence;
use palisade_targets::flows::{FlowRecord, Observed, ReadStats};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Rows per statement: a few hundred rows a round trip, far below both
/// backends' limits on parameters (SQLite 32,766, PostgreSQL 65,535)
const ROWS_PER_STATEMENT: usize = 256;

/// The largest count a bucket keeps: a year of hours of them still sums
/// inside 64 bits, so no window's total overflows on either backend (a
/// record claiming more connections is held at it)
pub(crate) const COUNT_CAP: i64 = 1 << 48;

/// How far ahead of this machine's clock a record may be stamped (nodes'
/// clocks drift) before its time is taken as now: one record from 2099
/// must not become the end of every window, nor make a prune forget the
/// real week
pub(crate) const CLOCK_SKEW_MS: i64 = 5 * 60_000;

/// Conversation-hours a batch holds at most: a week's records spread thin
/// over many hours make every record a new bucket, and memory follows the
/// buckets (a conversation's key is kilobytes), not the records
const FLUSH_BUCKETS: usize = 20_000;

/// Untimed records held until the stream's first timed record says where
/// they belong; past this many, they go to the hour the ingest runs
const UNTIMED_HELD: usize = 100_000;

/// A batch of hours to write, and the resume position to save with it
pub(crate) struct Batch {
    hours: BTreeMap<i64, Evidence>,
    cursor: Option<(String, String)>,
}

/// An ingest under way; [`Ingest::finish`] writes what is left. Batches are
/// written by a thread of their own while the next is read
/// ([`crate::writer`]); dropping an ingest waits for what it queued
pub struct Ingest<'s> {
    store: &'s mut Store,
    writer: Option<Writer>,
    /// what the writer knows of conversations, while no writer runs
    cache: RowCache,
    flush_every: usize,
    /// when the ingest started: the latest time a record may claim, and
    /// the hour of untimed records in a stream that has no timed one
    now_ms: i64,
    /// untimed records seen before any timed one
    untimed: Vec<FlowRecord>,
    /// records whose time was ahead of the clock, taken as now
    from_the_future: u64,
    hours: BTreeMap<i64, Evidence>,
    pending: usize,
    /// conversation-hours held: what a batch's memory grows with
    buckets: usize,
    taken: u64,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
}

impl<'s> Ingest<'s> {
    pub(crate) fn new(store: &'s mut Store, flush_every: usize) -> Self {
        Self {
            store,
            writer: None,
            cache: RowCache::default(),
            flush_every,
            now_ms: now_ms(),
            untimed: Vec::new(),
            from_the_future: 0,
            hours: BTreeMap::new(),
            pending: 0,
            buckets: 0,
            taken: 0,
            first_ms: None,
            last_ms: None,
        }
    }

    /// Take one record; hands the batch to the writer when it is full.
    /// A record without a time counts in the hour of the stream's newest
    /// timed record so far (the window that ends there holds it), or, if
    /// none came yet, of the first that comes
    pub fn add(&mut self, mut record: FlowRecord) -> Result<(), StoreError> {
        record.count = record.count.min(COUNT_CAP.unsigned_abs());
        let Some(mut time) = record.time_ms else {
            return self.add_untimed(record);
        };
        if time > self.now_ms + CLOCK_SKEW_MS {
            time = self.now_ms;
            record.time_ms = Some(time);
            self.from_the_future += 1;
        }
        self.first_ms = Some(self.first_ms.map_or(time, |f| f.min(time)));
        self.last_ms = Some(self.last_ms.map_or(time, |l| l.max(time)));
        self.put(time.div_euclid(HOUR_MS), record)?;
        if !self.untimed.is_empty() {
            self.place_untimed(time.div_euclid(HOUR_MS))?;
        }
        Ok(())
    }

    fn add_untimed(&mut self, record: FlowRecord) -> Result<(), StoreError> {
        match self.last_ms {
            Some(last) => self.put(last.div_euclid(HOUR_MS), record),
            None => {
                self.untimed.push(record);
                if self.untimed.len() >= UNTIMED_HELD {
                    self.place_untimed(self.now_ms.div_euclid(HOUR_MS))?;
                }
                Ok(())
            }
        }
    }

    fn place_untimed(&mut self, hour: i64) -> Result<(), StoreError> {
        for record in std::mem::take(&mut self.untimed) {
            self.put(hour, record)?;
        }
        Ok(())
    }

    fn put(&mut self, hour: i64, record: FlowRecord) -> Result<(), StoreError> {
        let evidence = self.hours.entry(hour).or_default();
        let before = evidence.flows.len();
        evidence.add(record);
        self.buckets += evidence.flows.len() - before;
        self.pending += 1;
        self.taken += 1;
        if self.pending >= self.flush_every || self.buckets >= FLUSH_BUCKETS {
            self.queue(None)?;
        }
        Ok(())
    }

    /// Records whose time was more than [`CLOCK_SKEW_MS`] ahead of the
    /// clock, counted as taken now (a node's clock is wrong)
    pub fn from_the_future(&self) -> u64 {
        self.from_the_future
    }

    /// Records taken so far
    pub fn taken(&self) -> u64 {
        self.taken + self.untimed.len() as u64
    }

    /// Write what is pending and save `position` as where the stream
    /// `source` resumes ([`Store::cursor`]), in one transaction, and wait
    /// until it is written: a crash after it resumes past exactly what was
    /// written, never before or after it
    pub fn checkpoint(&mut self, source: &str, position: &str) -> Result<(), StoreError> {
        self.place_untimed(self.now_ms.div_euclid(HOUR_MS))?;
        self.queue(Some((source.to_string(), position.to_string())))?;
        self.settle()
    }

    /// Write what is left, and the stream's statistics (`source`, how it
    /// read) when the records came from one
    pub fn finish(mut self, stream: Option<(&str, &ReadStats)>) -> Result<(), StoreError> {
        self.place_untimed(self.now_ms.div_euclid(HOUR_MS))?;
        self.queue(None)?;
        self.settle()?;
        if let Some((source, stats)) = stream {
            // A stream with no timed record (all unreadable, say) is placed
            // at the ingest: in the windows that end there, and pruned
            // with them, not in every window forever.
            let first = self.first_ms.unwrap_or(self.now_ms);
            let last = self.last_ms.unwrap_or(self.now_ms);
            self.store.record_stream(source, stats, Some(first), Some(last))?;
        }
        Ok(())
    }

    /// Hand the pending hours to the writer, starting it if need be
    fn queue(&mut self, cursor: Option<(String, String)>) -> Result<(), StoreError> {
        if self.hours.is_empty() && cursor.is_none() {
            return Ok(());
        }
        let batch = Batch {
            hours: std::mem::take(&mut self.hours),
            cursor,
        };
        self.pending = 0;
        self.buckets = 0;
        let writer = match self.writer.take() {
            Some(writer) => writer,
            None => {
                let gone = Box::new(Gone {
                    name: self.store.name.clone(),
                });
                let sql = std::mem::replace(self.store.sql.get_mut(), gone);
                Writer::start(sql, std::mem::take(&mut self.cache))
            }
        };
        let sent = writer.send(batch);
        self.writer = Some(writer);
        if sent {
            return Ok(());
        }
        // The writer stopped on an error: that error is this call's.
        self.settle()
    }

    /// Wait for the writer, take the connection back, and report its error
    fn settle(&mut self) -> Result<(), StoreError> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let lent = writer.stop(&self.store.name);
        *self.store.sql.get_mut() = lent.sql;
        self.cache = lent.cache;
        lent.result
    }
}

impl Drop for Ingest<'_> {
    fn drop(&mut self) {
        // What was queued is written; the error, if any, had no caller left.
        let _ = self.settle();
    }
}

/// Write one batch in one transaction. Rows go in one order
/// (conversations by key hash, buckets by hour and id) in every process,
/// so that two writers wait for each other instead of deadlocking
pub(crate) fn write_batch(sql: &mut dyn Sql, batch: &Batch, cache: &mut RowCache) -> Result<(), StoreError> {
    let cursor = batch.cursor.as_ref().map(|(s, p)| (s.as_str(), p.as_str()));
    let (pruned, learned) = in_transaction(sql, |sql| {
        let pruned = crate::window::cursor(sql, PRUNED)?;
        let ids = conversation_ids(sql, &batch.hours, cache, &pruned)?;
        for (hour, evidence) in &batch.hours {
            write_buckets(sql, *hour, evidence, &ids)?;
            write_lookups(sql, *hour, evidence)?;
        }
        write_activity(sql, &batch.hours)?;
        if let Some((source, position)) = cursor {
            sql.execute(SAVE_CURSOR, &[source.into(), position.into(), now_ms().into()])?;
        }
        let learned: Vec<(FlowKey, i64)> = ids.into_iter().map(|(k, id)| (k.clone(), id)).collect();
        Ok((pruned, learned))
    })?;
    // Kept only now that they committed: ids of a transaction rolled back
    // may be given to other conversations.
    cache.learn(pruned, learned);
    Ok(())
}

pub(crate) const SAVE_CURSOR: &str = "
INSERT INTO cursors (source, position, saved_ms) VALUES ($1, $2, $3)
ON CONFLICT (source) DO UPDATE SET position = excluded.position, saved_ms = excluded.saved_ms";

/// Maps keyed by conversations hash them as [`Evidence`] does: SipHash of
/// a key of a dozen strings was a tenth of an ingest
type KeyMap<K, V> = HashMap<K, V, KeyHashing>;

/// The resume position a prune changes: a writer's ids are good only while
/// it holds what it held when they were learned (a prune may free an id,
/// which SQLite gives to the next conversation)
pub(crate) const PRUNED: &str = "palisade/store/pruned";

/// What a writer knows of conversations from its earlier batches: their
/// rows (a conversation's text and hash never change) and their ids, as
/// of the last prune it saw. Held to [`RowCache::MOST`] conversations
#[derive(Default)]
pub(crate) struct RowCache {
    rows: KeyMap<FlowKey, Arc<ConversationRow>>,
    ids: KeyMap<FlowKey, i64>,
    pruned: Option<String>,
}

impl RowCache {
    const MOST: usize = 50_000;

    fn row(&mut self, flow: &FlowKey, store: &str) -> Result<Arc<ConversationRow>, StoreError> {
        if let Some(row) = self.rows.get(flow) {
            return Ok(row.clone());
        }
        if self.rows.len() >= Self::MOST {
            self.rows.clear();
        }
        let row = Arc::new(ConversationRow::new(flow, store)?);
        self.rows.insert(flow.clone(), row.clone());
        Ok(row)
    }

    /// The id of `flow`, if known as of the prune `pruned`
    fn id(&self, flow: &FlowKey, pruned: &Option<String>) -> Option<i64> {
        if &self.pruned != pruned {
            return None;
        }
        self.ids.get(flow).copied()
    }

    fn learn(&mut self, pruned: Option<String>, ids: Vec<(FlowKey, i64)>) {
        if self.pruned != pruned || self.ids.len() + ids.len() > Self::MOST {
            self.ids.clear();
            self.pruned = pruned;
        }
        self.ids.extend(ids);
    }
}

/// The ids of every conversation of the batch, added if they are new:
/// looked up first, and only the new ones written (`DO NOTHING` for one
/// that another writer adds meanwhile), then looked up
fn conversation_ids<'b>(
    sql: &mut dyn Sql,
    hours: &'b BTreeMap<i64, Evidence>,
    cache: &mut RowCache,
    pruned: &Option<String>,
) -> Result<KeyMap<&'b FlowKey, i64>, StoreError> {
    let mut ids = KeyMap::default();
    let mut rows: BTreeMap<String, (&FlowKey, Arc<ConversationRow>)> = BTreeMap::new();
    for flow in hours.values().flat_map(|e| e.flows.keys()) {
        if let Some(id) = cache.id(flow, pruned) {
            ids.insert(flow, id);
            continue;
        }
        let row = cache.row(flow, sql.name())?;
        rows.entry(row.hash.clone()).or_insert((flow, row));
    }
    let rows: Vec<_> = rows.into_values().collect();
    let known = ids.len();
    let mut new = Vec::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let found = select_ids(sql, chunk, &mut ids)?;
        new.extend(chunk.iter().filter(|(k, _)| !found.contains(*k)).cloned());
    }
    for chunk in new.chunks(ROWS_PER_STATEMENT) {
        insert_conversations(sql, chunk)?;
        select_ids(sql, chunk, &mut ids)?;
    }
    if ids.len() != known + rows.len() {
        return Err(StoreError::Corrupt {
            store: sql.name().to_string(),
            why: format!(
                "{} of {} conversations written have no id",
                (known + rows.len()).saturating_sub(ids.len()),
                rows.len()
            ),
        });
    }
    Ok(ids)
}

/// The ids of a chunk's conversations that the store has; which those are
fn select_ids<'b>(
    sql: &mut dyn Sql,
    chunk: &[(&'b FlowKey, Arc<ConversationRow>)],
    ids: &mut KeyMap<&'b FlowKey, i64>,
) -> Result<HashSet<&'b FlowKey>, StoreError> {
    let hashes: Vec<Value<'_>> = chunk.iter().map(|(_, r)| Value::from(r.hash.as_str())).collect();
    let by_hash: HashMap<&str, &FlowKey> = chunk.iter().map(|(k, r)| (r.hash.as_str(), *k)).collect();
    let select = format!(
        "SELECT id, key_hash FROM conversations WHERE key_hash IN ({})",
        parameter_list(1, hashes.len())
    );
    let mut found = HashSet::new();
    sql.query(&select, &hashes, &mut |row| {
        if let Some(key) = by_hash.get(row.text_required(1)?.as_str()) {
            ids.insert(*key, row.int_required(0)?);
            found.insert(*key);
        }
        Ok(())
    })?;
    Ok(found)
}

fn insert_conversations(sql: &mut dyn Sql, chunk: &[(&FlowKey, Arc<ConversationRow>)]) -> Result<(), StoreError> {
    let mut params = Vec::with_capacity(chunk.len() * 10);
    for (_, row) in chunk {
        params.extend([
            Value::from(row.key.as_str()),
            row.hash.as_str().into(),
            row.source_namespace.as_deref().into(),
            row.source.as_str().into(),
            row.destination_namespace.as_deref().into(),
            row.destination.as_str().into(),
            row.protocol.into(),
            i64::from(row.port).into(),
            row.method.as_deref().into(),
            row.path_class.as_deref().into(),
        ]);
    }
    let insert = format!(
        "INSERT INTO conversations (conversation_key, key_hash, source_namespace, source_workload, destination_namespace, destination, protocol, port, method, path_class) VALUES {} ON CONFLICT (key_hash) DO NOTHING",
        values_list(chunk.len(), 10)
    );
    sql.execute(&insert, &params).map(|_| ())
}

/// `column` of an upsert: the stored count plus the new one, held at
/// [`COUNT_CAP`]
fn capped_sum(table: &str, column: &str) -> String {
    format!(
        "{column} = CASE WHEN {table}.{column} > {COUNT_CAP} - excluded.{column} THEN {COUNT_CAP} ELSE {table}.{column} + excluded.{column} END"
    )
}

/// A count as a bucket keeps it
fn capped(n: u64) -> i64 {
    i64::try_from(n).map_or(COUNT_CAP, |n| n.min(COUNT_CAP))
}

// CASE rather than min()/max(): those are aggregates on PostgreSQL.
fn upsert_buckets() -> String {
    format!(
        "ON CONFLICT (hour, conversation) DO UPDATE SET {}, {}, {}, {},
    first_ms = CASE WHEN buckets.first_ms IS NULL OR excluded.first_ms < buckets.first_ms
        THEN excluded.first_ms ELSE buckets.first_ms END,
    last_ms = CASE WHEN buckets.last_ms IS NULL OR excluded.last_ms > buckets.last_ms
        THEN excluded.last_ms ELSE buckets.last_ms END",
        capped_sum("buckets", "connections"),
        capped_sum("buckets", "allowed"),
        capped_sum("buckets", "dropped"),
        capped_sum("buckets", "would_drop"),
    )
}

fn write_buckets(
    sql: &mut dyn Sql,
    hour: i64,
    evidence: &Evidence,
    ids: &KeyMap<&FlowKey, i64>,
) -> Result<(), StoreError> {
    let mut flows = Vec::with_capacity(evidence.flows.len());
    for (flow, seen) in &evidence.flows {
        let id = ids.get(flow).copied().ok_or_else(|| StoreError::Corrupt {
            store: sql.name().to_string(),
            why: "a conversation written has no id".into(),
        })?;
        flows.push((id, seen));
    }
    flows.sort_unstable_by_key(|(id, _)| *id);
    let upsert = upsert_buckets();
    for chunk in flows.chunks(ROWS_PER_STATEMENT) {
        let mut params = Vec::with_capacity(chunk.len() * 8);
        for (id, seen) in chunk {
            let verdict = |o: Observed| capped(seen.observed.get(&o).copied().unwrap_or(0));
            params.extend([
                Value::from(*id),
                hour.into(),
                capped(seen.count).into(),
                seen.first_ms.into(),
                seen.last_ms.into(),
                verdict(Observed::Allowed).into(),
                verdict(Observed::Dropped).into(),
                verdict(Observed::WouldDrop).into(),
            ]);
        }
        let statement = format!(
            "INSERT INTO buckets (conversation, hour, connections, first_ms, last_ms, allowed, dropped, would_drop) VALUES {} {upsert}",
            values_list(chunk.len(), 8)
        );
        sql.execute(&statement, &params)?;
    }
    Ok(())
}

fn write_lookups(sql: &mut dyn Sql, hour: i64, evidence: &Evidence) -> Result<(), StoreError> {
    let mut rows = Vec::new();
    for (who, names) in &evidence.lookups {
        let endpoint = key::endpoint_text(who).map_err(|e| corrupt(sql.name(), &e))?;
        for (name, n) in names {
            rows.push((endpoint.clone(), name.as_str(), capped(*n)));
        }
    }
    rows.sort_unstable();
    let upsert = capped_sum("lookups", "lookups");
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut params = Vec::with_capacity(chunk.len() * 4);
        for (endpoint, name, n) in chunk {
            params.extend([Value::from(endpoint.as_str()), (*name).into(), hour.into(), (*n).into()]);
        }
        let statement = format!(
            "INSERT INTO lookups (endpoint, name, hour, lookups) VALUES {} ON CONFLICT (hour, endpoint, name) DO UPDATE SET {upsert}",
            values_list(chunk.len(), 4)
        );
        sql.execute(&statement, &params)?;
    }
    Ok(())
}

/// The minutes of activity as `(namespace, hour) -> bits`: the cluster's
/// (namespace `""`) and each namespace's
pub(crate) fn activity_bits(hours: &BTreeMap<i64, Evidence>) -> BTreeMap<(&str, i64), i64> {
    let mut bits: BTreeMap<(&str, i64), i64> = BTreeMap::new();
    let mut mark = |namespace, minute: i64| {
        // Before 1970 a minute is no bit of the schema's hours (and no
        // flow log has one): left out, as the conversations' days leave it
        if minute < 0 {
            return;
        }
        *bits.entry((namespace, minute.div_euclid(60))).or_default() |= 1_i64 << minute.rem_euclid(60);
    };
    for evidence in hours.values() {
        for minute in &evidence.minutes {
            mark("", *minute);
        }
        for (namespace, minutes) in &evidence.minutes_by_namespace {
            for minute in minutes {
                mark(namespace.as_str(), *minute);
            }
        }
    }
    bits
}

fn write_activity(sql: &mut dyn Sql, hours: &BTreeMap<i64, Evidence>) -> Result<(), StoreError> {
    let rows: Vec<_> = activity_bits(hours).into_iter().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut params = Vec::with_capacity(chunk.len() * 3);
        for ((namespace, hour), bits) in chunk {
            params.extend([Value::from(*namespace), (*hour).into(), (*bits).into()]);
        }
        let statement = format!(
            "INSERT INTO activity (namespace, hour, minutes) VALUES {} ON CONFLICT (hour, namespace) DO UPDATE SET minutes = activity.minutes | excluded.minutes",
            values_list(chunk.len(), 3)
        );
        sql.execute(&statement, &params)?;
    }
    Ok(())
}

/// The columns of a conversation's row
struct ConversationRow {
    key: String,
    hash: String,
    source_namespace: Option<String>,
    source: String,
    destination_namespace: Option<String>,
    destination: String,
    protocol: &'static str,
    port: u16,
    method: Option<String>,
    path_class: Option<String>,
}

impl ConversationRow {
    fn new(flow: &FlowKey, store: &str) -> Result<Self, StoreError> {
        let key = key::text(flow).map_err(|e| corrupt(store, &e))?;
        Ok(Self {
            hash: key::hash(&key),
            key,
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
}

pub(crate) fn corrupt(store: &str, e: &serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        store: store.to_string(),
        why: e.to_string(),
    }
}

/// Minutes of an hour's bits that fall in `[from_minute, to_minute]`
pub(crate) fn minutes_of(hour: i64, bits: i64, from_minute: i64, to_minute: i64) -> impl Iterator<Item = i64> {
    (0..60)
        .filter(move |m| bits & (1_i64 << m) != 0)
        .map(move |m| hour * 60 + m)
        .filter(move |minute| (from_minute..=to_minute).contains(minute))
}
