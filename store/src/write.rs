//! One [`Batch`] into the database, in one transaction: the ids of its
//! conversations (added where new), then its buckets, lookups and active
//! minutes as upserts that add to what is there

use crate::ingest::{corrupt, Batch, KeyMap, Tally, COUNT_CAP};
use crate::sql::{in_transaction, parameter_list, values_list, Sql, Value};
use crate::{key, now_ms, StoreError};
use palisade_evidence::observe::FlowKey;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Rows per statement: a few hundred rows a round trip, far below both
/// backends' limits on parameters (SQLite 32,766, PostgreSQL 65,535)
const ROWS_PER_STATEMENT: usize = 256;

/// The resume position a prune changes: a writer's ids are good only while
/// it holds what it held when they were learned (a prune may free an id,
/// which SQLite gives to the next conversation)
pub(crate) const PRUNED: &str = "palisade/store/pruned";

pub(crate) const SAVE_CURSOR: &str = "
INSERT INTO cursors (source, position, saved_ms) VALUES ($1, $2, $3)
ON CONFLICT (source) DO UPDATE SET position = excluded.position, saved_ms = excluded.saved_ms";

/// What a writer knows of the ingest's conversations, by their numbers:
/// their keys (every batch brings the new ones), their key hashes, and
/// their ids as of the last prune it saw
#[derive(Default)]
pub(crate) struct RowCache {
    numbering: u64,
    keys: Vec<Arc<FlowKey>>,
    hashes: Vec<Option<Arc<str>>>,
    ids: Vec<Option<i64>>,
    pruned: Option<String>,
}

impl RowCache {
    /// Take the batch's new keys (a new numbering forgets the old one)
    fn take_keys(&mut self, batch: &Batch) {
        if batch.numbering != self.numbering {
            *self = Self {
                numbering: batch.numbering,
                pruned: self.pruned.take(),
                ..Self::default()
            };
        }
        self.keys.extend(batch.fresh.iter().cloned());
        self.hashes.resize(self.keys.len(), None);
        self.ids.resize(self.keys.len(), None);
    }

    fn key(&self, n: u32, store: &str) -> Result<&FlowKey, StoreError> {
        self.keys
            .get(n as usize)
            .map(|k| &**k)
            .ok_or_else(|| StoreError::Corrupt {
                store: store.to_string(),
                why: format!("conversation {n} of the ingest was never handed to the writer"),
            })
    }

    /// The key hash of conversation `n`, computed once
    fn hash(&mut self, n: u32, store: &str) -> Result<Arc<str>, StoreError> {
        if let Some(Some(hash)) = self.hashes.get(n as usize) {
            return Ok(hash.clone());
        }
        let text = key::text(self.key(n, store)?).map_err(|e| corrupt(store, &e))?;
        let hash: Arc<str> = key::hash(&text).into();
        if let Some(slot) = self.hashes.get_mut(n as usize) {
            *slot = Some(hash.clone());
        }
        Ok(hash)
    }

    /// The id of conversation `n`, if known as of the prune `pruned`
    fn id(&self, n: u32, pruned: &Option<String>) -> Option<i64> {
        if &self.pruned != pruned {
            return None;
        }
        self.ids.get(n as usize).copied().flatten()
    }

    fn learn(&mut self, pruned: Option<String>, ids: &KeyMap<u32, i64>) {
        if self.pruned != pruned {
            self.ids.iter_mut().for_each(|id| *id = None);
            self.pruned = pruned;
        }
        for (n, id) in ids {
            if let Some(slot) = self.ids.get_mut(*n as usize) {
                *slot = Some(*id);
            }
        }
    }
}

/// Write one batch in one transaction. Rows go in one order
/// (conversations by key hash, buckets by hour and id) in every process,
/// so that two writers wait for each other instead of deadlocking
pub(crate) fn write_batch(sql: &mut dyn Sql, batch: &Batch, cache: &mut RowCache) -> Result<(), StoreError> {
    cache.take_keys(batch);
    let cursor = batch.cursor.as_ref().map(|(s, p)| (s.as_str(), p.as_str()));
    let (pruned, ids) = in_transaction(sql, |sql| {
        let pruned = crate::window::cursor(sql, PRUNED)?;
        let ids = conversation_ids(sql, batch, cache, &pruned)?;
        write_buckets(sql, &batch.buckets, &ids)?;
        write_lookups(sql, &batch.lookups, cache)?;
        write_activity(sql, &batch.activity)?;
        if let Some((source, position)) = cursor {
            sql.execute(SAVE_CURSOR, &[source.into(), position.into(), now_ms().into()])?;
        }
        Ok((pruned, ids))
    })?;
    // Kept only now that they committed: ids of a transaction rolled back
    // may be given to other conversations.
    cache.learn(pruned, &ids);
    Ok(())
}

/// The ids of every conversation of the batch's buckets, added if they
/// are new: looked up first, and only the new ones written (`DO NOTHING`
/// for one that another writer adds meanwhile), then looked up
fn conversation_ids(
    sql: &mut dyn Sql,
    batch: &Batch,
    cache: &mut RowCache,
    pruned: &Option<String>,
) -> Result<KeyMap<u32, i64>, StoreError> {
    let mut ids = KeyMap::default();
    let mut unknown: BTreeMap<Arc<str>, u32> = BTreeMap::new();
    for ((_, n), _) in &batch.buckets {
        if ids.contains_key(n) {
            continue;
        }
        match cache.id(*n, pruned) {
            Some(id) => {
                ids.insert(*n, id);
            }
            None => {
                unknown.insert(cache.hash(*n, sql.name())?, *n);
            }
        }
    }
    let unknown: Vec<(Arc<str>, u32)> = unknown.into_iter().collect();
    let known = ids.len();
    let mut new = Vec::new();
    for chunk in unknown.chunks(ROWS_PER_STATEMENT) {
        select_ids(sql, chunk, &mut ids)?;
        new.extend(chunk.iter().filter(|(_, n)| !ids.contains_key(n)).cloned());
    }
    for chunk in new.chunks(ROWS_PER_STATEMENT) {
        insert_conversations(sql, chunk, cache)?;
        select_ids(sql, chunk, &mut ids)?;
    }
    if ids.len() != known + unknown.len() {
        return Err(StoreError::Corrupt {
            store: sql.name().to_string(),
            why: format!(
                "{} of {} conversations written have no id",
                (known + unknown.len()).saturating_sub(ids.len()),
                unknown.len()
            ),
        });
    }
    Ok(ids)
}

/// The ids of a chunk's conversations (key hash, number) that the store has
fn select_ids(sql: &mut dyn Sql, chunk: &[(Arc<str>, u32)], ids: &mut KeyMap<u32, i64>) -> Result<(), StoreError> {
    let hashes: Vec<Value<'_>> = chunk.iter().map(|(h, _)| Value::from(&**h)).collect();
    let by_hash: HashMap<&str, u32> = chunk.iter().map(|(h, n)| (&**h, *n)).collect();
    let select = format!(
        "SELECT id, key_hash FROM conversations WHERE key_hash IN ({})",
        parameter_list(1, hashes.len())
    );
    sql.query(&select, &hashes, &mut |row| {
        if let Some(n) = by_hash.get(row.text_required(1)?.as_str()) {
            ids.insert(*n, row.int_required(0)?);
        }
        Ok(())
    })
}

fn insert_conversations(sql: &mut dyn Sql, chunk: &[(Arc<str>, u32)], cache: &RowCache) -> Result<(), StoreError> {
    let mut rows = Vec::with_capacity(chunk.len());
    for (hash, n) in chunk {
        rows.push(ConversationRow::new(
            cache.key(*n, sql.name())?,
            hash.clone(),
            sql.name(),
        )?);
    }
    let mut params = Vec::with_capacity(rows.len() * 10);
    for row in &rows {
        params.extend([
            Value::from(row.key.as_str()),
            (&*row.hash).into(),
            row.source_namespace.into(),
            row.source.as_str().into(),
            row.destination_namespace.into(),
            row.destination.as_str().into(),
            row.protocol.into(),
            i64::from(row.port).into(),
            row.method.into(),
            row.path_class.into(),
        ]);
    }
    let insert = format!(
        "INSERT INTO conversations (conversation_key, key_hash, source_namespace, source_workload, destination_namespace, destination, protocol, port, method, path_class) VALUES {} ON CONFLICT (key_hash) DO NOTHING",
        values_list(rows.len(), 10)
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

fn write_buckets(sql: &mut dyn Sql, buckets: &[((i64, u32), Tally)], ids: &KeyMap<u32, i64>) -> Result<(), StoreError> {
    let mut rows = Vec::with_capacity(buckets.len());
    for ((hour, n), tally) in buckets {
        let id = ids.get(n).copied().ok_or_else(|| StoreError::Corrupt {
            store: sql.name().to_string(),
            why: "a conversation written has no id".into(),
        })?;
        rows.push(((*hour, id), tally));
    }
    rows.sort_unstable_by_key(|(at, _)| *at);
    let upsert = upsert_buckets();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut params = Vec::with_capacity(chunk.len() * 8);
        for ((hour, id), tally) in chunk {
            params.extend([
                Value::from(*id),
                (*hour).into(),
                capped(tally.connections).into(),
                tally.first_ms.into(),
                tally.last_ms.into(),
                capped(tally.allowed).into(),
                capped(tally.dropped).into(),
                capped(tally.would_drop).into(),
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

/// Lookups by (endpoint text, name, hour): conversations of one source
/// are one row, which one statement may name only once
fn write_lookups(
    sql: &mut dyn Sql,
    lookups: &BTreeMap<(i64, u32), BTreeMap<String, u64>>,
    cache: &RowCache,
) -> Result<(), StoreError> {
    let mut texts: KeyMap<u32, String> = KeyMap::default();
    let mut rows: BTreeMap<(String, &str, i64), u64> = BTreeMap::new();
    for ((hour, n), names) in lookups {
        let endpoint = match texts.get(n) {
            Some(text) => text.clone(),
            None => {
                let source = &cache.key(*n, sql.name())?.source;
                let text = key::endpoint_text(source).map_err(|e| corrupt(sql.name(), &e))?;
                texts.insert(*n, text.clone());
                text
            }
        };
        for (name, looked) in names {
            let sum = rows.entry((endpoint.clone(), name.as_str(), *hour)).or_default();
            *sum = sum.saturating_add(*looked);
        }
    }
    let rows: Vec<_> = rows.into_iter().collect();
    let upsert = capped_sum("lookups", "lookups");
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut params = Vec::with_capacity(chunk.len() * 4);
        for ((endpoint, name, hour), looked) in chunk {
            params.extend([
                Value::from(endpoint.as_str()),
                (*name).into(),
                (*hour).into(),
                capped(*looked).into(),
            ]);
        }
        let statement = format!(
            "INSERT INTO lookups (endpoint, name, hour, lookups) VALUES {} ON CONFLICT (hour, endpoint, name) DO UPDATE SET {upsert}",
            values_list(chunk.len(), 4)
        );
        sql.execute(&statement, &params)?;
    }
    Ok(())
}

fn write_activity(sql: &mut dyn Sql, activity: &BTreeMap<(String, i64), i64>) -> Result<(), StoreError> {
    let rows: Vec<_> = activity.iter().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut params = Vec::with_capacity(chunk.len() * 3);
        for ((namespace, hour), bits) in chunk {
            params.extend([Value::from(namespace.as_str()), (*hour).into(), (**bits).into()]);
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
struct ConversationRow<'k> {
    key: String,
    hash: Arc<str>,
    source_namespace: Option<&'k str>,
    source: String,
    destination_namespace: Option<&'k str>,
    destination: String,
    protocol: &'static str,
    port: u16,
    method: Option<&'k str>,
    path_class: Option<&'k str>,
}

impl<'k> ConversationRow<'k> {
    fn new(flow: &'k FlowKey, hash: Arc<str>, store: &str) -> Result<Self, StoreError> {
        Ok(Self {
            key: key::text(flow).map_err(|e| corrupt(store, &e))?,
            hash,
            source_namespace: flow.source.namespace.as_deref(),
            source: key::party(&flow.source),
            destination_namespace: flow.destination.namespace.as_deref(),
            destination: key::party(&flow.destination),
            protocol: key::protocol(flow.protocol),
            port: flow.port,
            method: flow.request.as_ref().map(|r| r.method.as_str()),
            path_class: flow.request.as_ref().map(|r| r.stands_for.as_str()),
        })
    }
}
