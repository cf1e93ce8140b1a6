//! Records in, buckets out: each record goes through [`Evidence::add`] into
//! the [`Evidence`] of its hour; every [`crate::FLUSH_EVERY`] records (and
//! at each checkpoint) the hours are added to the store in one transaction
//! and memory starts over

use crate::sql::{in_transaction, parameter_list, values_list, Sql, Value};
use crate::writer::{Gone, Writer};
use crate::{db_count, key, now_ms, Store, StoreError, HOUR_MS};
use palisade_evidence::observe::FlowKey;
use palisade_evidence::Evidence;
use palisade_targets::flows::{FlowRecord, Observed, ReadStats};
use std::collections::{BTreeMap, HashMap};

/// Rows per statement: a few hundred rows a round trip, far below both
/// backends' limits on parameters (SQLite 32,766, PostgreSQL 65,535)
const ROWS_PER_STATEMENT: usize = 256;

/// The conversation ids an ingest has written, so that later batches do
/// not look them up again
pub(crate) type Ids = HashMap<FlowKey, i64>;

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
    /// the ids learned, while no writer holds them
    ids: Ids,
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
            writer: None,
            ids: Ids::new(),
            flush_every,
            untimed_hour: now_ms().div_euclid(HOUR_MS),
            hours: BTreeMap::new(),
            pending: 0,
            taken: 0,
            first_ms: None,
            last_ms: None,
        }
    }

    /// Take one record; hands the batch to the writer when it is full
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
            self.queue(None)?;
        }
        Ok(())
    }

    /// Records taken so far
    pub fn taken(&self) -> u64 {
        self.taken
    }

    /// Write what is pending and save `position` as where the stream
    /// `source` resumes ([`Store::cursor`]), in one transaction, and wait
    /// until it is written: a crash after it resumes past exactly what was
    /// written, never before or after it
    pub fn checkpoint(&mut self, source: &str, position: &str) -> Result<(), StoreError> {
        self.queue(Some((source.to_string(), position.to_string())))?;
        self.settle()
    }

    /// Write what is left, and the stream's statistics (`source`, how it
    /// read) when the records came from one
    pub fn finish(mut self, stream: Option<(&str, &ReadStats)>) -> Result<(), StoreError> {
        self.queue(None)?;
        self.settle()?;
        if let Some((source, stats)) = stream {
            let (first, last) = (self.first_ms, self.last_ms);
            self.store.record_stream(source, stats, first, last)?;
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
        let writer = match self.writer.take() {
            Some(writer) => writer,
            None => {
                let gone = Box::new(Gone {
                    name: self.store.name.clone(),
                });
                let sql = std::mem::replace(self.store.sql.get_mut(), gone);
                Writer::start(sql, std::mem::take(&mut self.ids))
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
        self.ids = lent.ids;
        lent.result
    }
}

impl Drop for Ingest<'_> {
    fn drop(&mut self) {
        // What was queued is written; the error, if any, had no caller left.
        let _ = self.settle();
    }
}

/// Write one batch; a batch that fails with ids of earlier batches is
/// tried again with none: a prune in another process may have removed a
/// conversation since
pub(crate) fn write_batch(sql: &mut dyn Sql, batch: &Batch, ids: &mut Ids) -> Result<(), StoreError> {
    let cursor = batch.cursor.as_ref().map(|(s, p)| (s.as_str(), p.as_str()));
    let fresh = match write_hours(sql, &batch.hours, ids, cursor) {
        Ok(fresh) => fresh,
        Err(_) if !ids.is_empty() => {
            ids.clear();
            write_hours(sql, &batch.hours, ids, cursor)?
        }
        Err(e) => return Err(e),
    };
    ids.extend(fresh);
    Ok(())
}

/// Write every hour in one transaction; the conversation ids it added
/// (kept only once the transaction committed)
fn write_hours(
    sql: &mut dyn Sql,
    hours: &BTreeMap<i64, Evidence>,
    known: &HashMap<FlowKey, i64>,
    cursor: Option<(&str, &str)>,
) -> Result<HashMap<FlowKey, i64>, StoreError> {
    in_transaction(sql, |sql| {
        let mut fresh = HashMap::new();
        for (hour, evidence) in hours {
            let missing: Vec<&FlowKey> = evidence
                .flows
                .keys()
                .filter(|k| !known.contains_key(*k) && !fresh.contains_key(*k))
                .collect();
            for chunk in missing.chunks(ROWS_PER_STATEMENT) {
                fresh.extend(conversation_ids(sql, chunk)?);
            }
            let id_of = |k: &FlowKey| known.get(k).or_else(|| fresh.get(k)).copied();
            write_buckets(sql, *hour, evidence, &id_of)?;
            write_lookups(sql, *hour, evidence)?;
        }
        write_activity(sql, hours)?;
        if let Some((source, position)) = cursor {
            sql.execute(SAVE_CURSOR, &[source.into(), position.into(), now_ms().into()])?;
        }
        Ok(fresh)
    })
}

const SAVE_CURSOR: &str = "
INSERT INTO cursors (source, position, saved_ms) VALUES ($1, $2, $3)
ON CONFLICT (source) DO UPDATE SET position = excluded.position, saved_ms = excluded.saved_ms";

/// The ids of conversations, added if they are new. `DO NOTHING` and a
/// second look rather than `DO UPDATE ... RETURNING`, which would rewrite
/// every row on every flush
fn conversation_ids(sql: &mut dyn Sql, keys: &[&FlowKey]) -> Result<HashMap<FlowKey, i64>, StoreError> {
    let rows = keys
        .iter()
        .map(|k| ConversationRow::new(k, sql.name()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut params = Vec::with_capacity(rows.len() * 9);
    for row in &rows {
        params.extend([
            Value::from(row.key.as_str()),
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
        "INSERT INTO conversations (conversation_key, source_namespace, source_workload, destination_namespace, destination, protocol, port, method, path_class) VALUES {} ON CONFLICT (conversation_key) DO NOTHING",
        values_list(rows.len(), 9)
    );
    sql.execute(&insert, &params)?;
    let by_text: HashMap<&str, &FlowKey> = rows.iter().map(|r| r.key.as_str()).zip(keys.iter().copied()).collect();
    let texts: Vec<Value<'_>> = rows.iter().map(|r| Value::from(r.key.as_str())).collect();
    let select = format!(
        "SELECT id, conversation_key FROM conversations WHERE conversation_key IN ({})",
        parameter_list(1, texts.len())
    );
    let mut ids = HashMap::with_capacity(keys.len());
    sql.query(&select, &texts, &mut |row| {
        let text = row.text_required(1)?;
        if let Some(key) = by_text.get(text.as_str()) {
            ids.insert((*key).clone(), row.int_required(0)?);
        }
        Ok(())
    })?;
    if ids.len() != keys.len() {
        return Err(StoreError::Corrupt {
            store: sql.name().to_string(),
            why: format!(
                "{} of {} conversations written have no id",
                keys.len() - ids.len(),
                keys.len()
            ),
        });
    }
    Ok(ids)
}

// CASE rather than min()/max(): those are aggregates on PostgreSQL.
const UPSERT_BUCKETS: &str = "
ON CONFLICT (hour, conversation) DO UPDATE SET
    connections = buckets.connections + excluded.connections,
    first_ms = CASE WHEN buckets.first_ms IS NULL OR excluded.first_ms < buckets.first_ms
        THEN excluded.first_ms ELSE buckets.first_ms END,
    last_ms = CASE WHEN buckets.last_ms IS NULL OR excluded.last_ms > buckets.last_ms
        THEN excluded.last_ms ELSE buckets.last_ms END,
    allowed = buckets.allowed + excluded.allowed,
    dropped = buckets.dropped + excluded.dropped,
    would_drop = buckets.would_drop + excluded.would_drop";

fn write_buckets(
    sql: &mut dyn Sql,
    hour: i64,
    evidence: &Evidence,
    id_of: &dyn Fn(&FlowKey) -> Option<i64>,
) -> Result<(), StoreError> {
    let flows: Vec<_> = evidence.flows.iter().collect();
    for chunk in flows.chunks(ROWS_PER_STATEMENT) {
        let mut params = Vec::with_capacity(chunk.len() * 8);
        for (flow, seen) in chunk {
            let id = id_of(flow).ok_or_else(|| StoreError::Corrupt {
                store: sql.name().to_string(),
                why: "a conversation written has no id".into(),
            })?;
            let verdict = |o: Observed| db_count(seen.observed.get(&o).copied().unwrap_or(0));
            params.extend([
                Value::from(id),
                hour.into(),
                db_count(seen.count).into(),
                seen.first_ms.into(),
                seen.last_ms.into(),
                verdict(Observed::Allowed).into(),
                verdict(Observed::Dropped).into(),
                verdict(Observed::WouldDrop).into(),
            ]);
        }
        let statement = format!(
            "INSERT INTO buckets (conversation, hour, connections, first_ms, last_ms, allowed, dropped, would_drop) VALUES {} {UPSERT_BUCKETS}",
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
            rows.push((endpoint.clone(), name.as_str(), db_count(*n)));
        }
    }
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut params = Vec::with_capacity(chunk.len() * 4);
        for (endpoint, name, n) in chunk {
            params.extend([Value::from(endpoint.as_str()), (*name).into(), hour.into(), (*n).into()]);
        }
        let statement = format!(
            "INSERT INTO lookups (endpoint, name, hour, lookups) VALUES {} ON CONFLICT (hour, endpoint, name) DO UPDATE SET lookups = lookups.lookups + excluded.lookups",
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
        Ok(Self {
            key: key::text(flow).map_err(|e| corrupt(store, &e))?,
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
