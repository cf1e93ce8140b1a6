//! One [`Batch`] into the database, in one transaction: the ids of its
//! conversations (added where new), then its buckets (and their sums per
//! day), lookups (likewise) and active minutes as upserts that add to what
//! is there

use crate::ingest::{corrupt, Batch, KeyMap, Tally, COUNT_CAP};
use crate::sql::{in_transaction, parameter_list, values_list, Sql, Value};
use crate::window::DAYS;
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
/// `cap`
fn capped_sum(table: &str, column: &str, cap: i64) -> String {
    format!(
        "{column} = CASE WHEN {table}.{column} > {cap} - excluded.{column} THEN {cap} ELSE {table}.{column} + excluded.{column} END"
    )
}

/// What a day's sums are held at: its 24 hours at [`COUNT_CAP`] each, so
/// that a day reads as its hours do (a day of one hour's cap is not less)
const DAY_CAP: i64 = 24 * COUNT_CAP;

/// A count as a bucket keeps it
fn capped(n: u64, cap: i64) -> i64 {
    i64::try_from(n).map_or(cap, |n| n.min(cap))
}

/// The two tables of tallies: a conversation's hours, and its days (the
/// same sums, with the hours seen as bits)
#[derive(Clone, Copy)]
enum Grain {
    Hour,
    Day,
}

impl Grain {
    fn table(self) -> &'static str {
        match self {
            Self::Hour => "buckets",
            Self::Day => "days",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    fn cap(self) -> i64 {
        match self {
            Self::Hour => COUNT_CAP,
            Self::Day => DAY_CAP,
        }
    }

    /// How a row written adds to the one stored. CASE rather than
    /// min()/max(): those are aggregates on PostgreSQL.
    fn upsert(self) -> String {
        let (table, column) = (self.table(), self.column());
        let hours = match self {
            Self::Hour => String::new(),
            Self::Day => ", hours = days.hours | excluded.hours".to_string(),
        };
        format!(
            "ON CONFLICT ({column}, conversation) DO UPDATE SET {}, {}, {}, {},
    first_ms = CASE WHEN {table}.first_ms IS NULL OR excluded.first_ms < {table}.first_ms
        THEN excluded.first_ms ELSE {table}.first_ms END,
    last_ms = CASE WHEN {table}.last_ms IS NULL OR excluded.last_ms > {table}.last_ms
        THEN excluded.last_ms ELSE {table}.last_ms END{hours}",
            capped_sum(table, "connections", self.cap()),
            capped_sum(table, "allowed", self.cap()),
            capped_sum(table, "dropped", self.cap()),
            capped_sum(table, "would_drop", self.cap()),
        )
    }
}

/// A conversation's tally of one hour or day, by (hour or day, id); for a
/// day, the bits of the hours it was seen in
type TallyRows = Vec<((i64, i64), Tally, i64)>;

fn write_buckets(sql: &mut dyn Sql, buckets: &[((i64, u32), Tally)], ids: &KeyMap<u32, i64>) -> Result<(), StoreError> {
    let mut hours: TallyRows = Vec::with_capacity(buckets.len());
    for ((hour, n), tally) in buckets {
        let id = ids.get(n).copied().ok_or_else(|| StoreError::Corrupt {
            store: sql.name().to_string(),
            why: "a conversation written has no id".into(),
        })?;
        hours.push(((*hour, id), *tally, 0));
    }
    hours.sort_unstable_by_key(|(at, _, _)| *at);
    let days = days_of(&hours);
    write_tallies(sql, Grain::Hour, &hours)?;
    write_tallies(sql, Grain::Day, &days)
}

/// The hours summed per conversation and day. Hours before 1970, which
/// no window reads, have no day.
fn days_of(hours: &TallyRows) -> TallyRows {
    let mut days: BTreeMap<(i64, i64), (Tally, i64)> = BTreeMap::new();
    for ((hour, id), tally, _) in hours.iter().filter(|((hour, _), _, _)| *hour >= 0) {
        let (sum, bits) = days.entry((hour.div_euclid(24), *id)).or_default();
        sum.merge(&tally.capped_at(COUNT_CAP.unsigned_abs()));
        *bits |= 1_i64 << hour.rem_euclid(24);
    }
    days.into_iter().map(|(at, (tally, bits))| (at, tally, bits)).collect()
}

fn write_tallies(sql: &mut dyn Sql, grain: Grain, rows: &TallyRows) -> Result<(), StoreError> {
    let (width, hours) = match grain {
        Grain::Hour => (8, ""),
        Grain::Day => (9, ", hours"),
    };
    let (upsert, cap) = (grain.upsert(), grain.cap());
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut params = Vec::with_capacity(chunk.len() * width);
        for ((at, id), tally, bits) in chunk {
            params.extend([
                Value::from(*id),
                (*at).into(),
                capped(tally.connections, cap).into(),
                tally.first_ms.into(),
                tally.last_ms.into(),
                capped(tally.allowed, cap).into(),
                capped(tally.dropped, cap).into(),
                capped(tally.would_drop, cap).into(),
            ]);
            if let Grain::Day = grain {
                params.push((*bits).into());
            }
        }
        let statement = format!(
            "INSERT INTO {} (conversation, {}, connections, first_ms, last_ms, allowed, dropped, would_drop{hours}) VALUES {} {upsert}",
            grain.table(),
            grain.column(),
            values_list(chunk.len(), width)
        );
        sql.execute(&statement, &params)?;
    }
    Ok(())
}

/// The day rows of the hours from `from_hour` to `to_hour` (both
/// included), from the hours stored, summed as a window sums them
/// ([`DAYS`]): for the days a migration or a prune leaves without theirs
pub(crate) fn fill_days(sql: &mut dyn Sql, from_hour: i64, to_hour: i64) -> Result<(), StoreError> {
    let range = [Value::from(from_hour), to_hour.into()];
    sql.execute(
        &format!(
            "INSERT INTO days (conversation, day, hours, connections, first_ms, last_ms, allowed, dropped, would_drop) {DAYS}"
        ),
        &range,
    )?;
    sql.execute(
        "INSERT INTO lookup_days (endpoint, name, day, lookups)
SELECT endpoint, name, hour / 24, CAST(SUM(lookups) AS BIGINT)
FROM lookups WHERE hour >= $1 AND hour <= $2 AND hour >= 0 GROUP BY endpoint, name, hour / 24",
        &range,
    )?;
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
    let mut days: BTreeMap<(String, &str, i64), u64> = BTreeMap::new();
    for ((endpoint, name, hour), looked) in rows.iter().filter(|((_, _, hour), _)| *hour >= 0) {
        let sum = days.entry((endpoint.clone(), name, hour.div_euclid(24))).or_default();
        *sum = sum.saturating_add(*looked);
    }
    write_lookup_rows(sql, "lookups", "hour", rows)?;
    write_lookup_rows(sql, "lookup_days", "day", days)
}

/// Lookups by (endpoint text, name, hour or day) into `table`
fn write_lookup_rows(
    sql: &mut dyn Sql,
    table: &str,
    column: &str,
    rows: BTreeMap<(String, &str, i64), u64>,
) -> Result<(), StoreError> {
    let rows: Vec<_> = rows.into_iter().collect();
    let upsert = capped_sum(table, "lookups", COUNT_CAP);
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut params = Vec::with_capacity(chunk.len() * 4);
        for ((endpoint, name, at), looked) in chunk {
            params.extend([
                Value::from(endpoint.as_str()),
                (*name).into(),
                (*at).into(),
                capped(*looked, COUNT_CAP).into(),
            ]);
        }
        let statement = format!(
            "INSERT INTO {table} (endpoint, name, {column}, lookups) VALUES {} ON CONFLICT ({column}, endpoint, name) DO UPDATE SET {upsert}",
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
