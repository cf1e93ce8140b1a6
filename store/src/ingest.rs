//! Records in, batches out: each record is reduced to its conversation
//! ([`conversation`], as an [`palisade_evidence::Evidence`] reduces it),
//! numbered once per ingest, and counted in the bucket of its hour; every
//! [`crate::FLUSH_EVERY`] records (and at each checkpoint) the buckets go
//! to the writer thread ([`crate::writer`]) as one [`Batch`] and memory
//! starts over. A record costs one hash of its conversation; a bucket is a
//! few integers, so a batch's memory follows its buckets, not its keys.

use crate::writer::{Gone, Writer};
use crate::{now_ms, Store, StoreError, HOUR_MS};
use palisade_evidence::observe::{conversation, named_namespaces, FlowKey, KeyHashing};
use palisade_targets::flows::{FlowRecord, Observed, ReadStats, Repeat};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::write::RowCache;

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
/// over many hours make every record a new bucket (a bucket is under a
/// hundred bytes)
const FLUSH_BUCKETS: usize = 400_000;

/// Conversations an ingest numbers before it starts its numbering over
/// (at a batch's end): their keys are what its memory grows with
const MOST_CONVERSATIONS: usize = 100_000;

/// Untimed records held until the stream's first timed record says where
/// they belong; past this many, they go to the hour the ingest runs
const UNTIMED_HELD: usize = 100_000;

/// Maps keyed by conversations (or their numbers) hash as [`Evidence`]
/// does: SipHash of a key of a dozen strings was a tenth of an ingest
///
/// [`Evidence`]: palisade_evidence::Evidence
pub(crate) type KeyMap<K, V> = HashMap<K, V, KeyHashing>;

/// What a conversation did in one hour (or, summed, one day)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub connections: u64,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    pub allowed: u64,
    pub dropped: u64,
    pub would_drop: u64,
}

impl Tally {
    fn add(&mut self, count: u64, time: Option<i64>, observed: Observed) {
        self.connections = self.connections.saturating_add(count);
        let verdict = match observed {
            Observed::Allowed => &mut self.allowed,
            Observed::Dropped => &mut self.dropped,
            Observed::WouldDrop => &mut self.would_drop,
        };
        *verdict = verdict.saturating_add(count);
        if let Some(t) = time {
            self.first_ms = Some(self.first_ms.map_or(t, |f| f.min(t)));
            self.last_ms = Some(self.last_ms.map_or(t, |l| l.max(t)));
        }
    }

    /// The counts held at `cap`, as an hour's row holds them
    pub(crate) fn capped_at(&self, cap: u64) -> Tally {
        Tally {
            connections: self.connections.min(cap),
            allowed: self.allowed.min(cap),
            dropped: self.dropped.min(cap),
            would_drop: self.would_drop.min(cap),
            ..*self
        }
    }

    /// Another tally of the same conversation added to this one
    pub(crate) fn merge(&mut self, other: &Tally) {
        self.connections = self.connections.saturating_add(other.connections);
        self.allowed = self.allowed.saturating_add(other.allowed);
        self.dropped = self.dropped.saturating_add(other.dropped);
        self.would_drop = self.would_drop.saturating_add(other.would_drop);
        self.first_ms = self.first_ms.into_iter().chain(other.first_ms).min();
        self.last_ms = self.last_ms.into_iter().chain(other.last_ms).max();
    }
}

/// A batch to write, and the resume position to save with it.
/// Conversations are named by their number in the ingest's `numbering`;
/// `fresh` are the keys numbered since the last batch (the writer knows
/// the ones before)
pub(crate) struct Batch {
    pub numbering: u64,
    pub fresh: Vec<Arc<FlowKey>>,
    /// (hour, conversation) -> what it did, in that order
    pub buckets: Vec<((i64, u32), Tally)>,
    /// (hour, conversation whose source looked them up) -> names, lookups
    pub lookups: BTreeMap<(i64, u32), BTreeMap<String, u64>>,
    /// (namespace, `""` for the cluster's; hour) -> the hour's minutes
    /// with records, one bit each
    pub activity: BTreeMap<(String, i64), i64>,
    pub cursor: Option<(String, String)>,
}

/// What a record adds to an ingest, but for its time: the same for every
/// record of a conversation (and so kept for the records that repeat one)
#[derive(Clone)]
struct Known {
    /// the numbering `number` is of
    numbering: u64,
    /// its conversation
    number: u32,
    /// the conversation, to number it again when the numbering starts over
    key: Arc<FlowKey>,
    /// the namespaces it names, numbered
    namespaces: [Option<u32>; 2],
    dns_query: Option<String>,
    count: u64,
    observed: Observed,
}

/// The conversations of an ingest, each numbered once
#[derive(Default)]
struct Numbers {
    of: KeyMap<Arc<FlowKey>, u32>,
    keys: Vec<Arc<FlowKey>>,
    /// keys the writer was given
    sent: usize,
    /// how many times the numbering started over
    numbering: u64,
}

impl Numbers {
    /// The conversation's number, and the key as the numbering holds it
    fn number(&mut self, key: FlowKey) -> (u32, Arc<FlowKey>) {
        if let Some((key, n)) = self.of.get_key_value(&key) {
            return (*n, key.clone());
        }
        let key = Arc::new(key);
        (self.add(key.clone()), key)
    }

    /// [`Self::number`] of a key held already
    fn number_shared(&mut self, key: &Arc<FlowKey>) -> u32 {
        match self.of.get(&**key) {
            Some(n) => *n,
            None => self.add(key.clone()),
        }
    }

    fn add(&mut self, key: Arc<FlowKey>) -> u32 {
        // Below MOST_CONVERSATIONS plus one batch of records: fits.
        let n = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        self.keys.push(key.clone());
        self.of.insert(key, n);
        n
    }

    /// The keys numbered since the last call; the numbering starts over
    /// after it when it holds too many
    fn hand_over(&mut self) -> (u64, Vec<Arc<FlowKey>>) {
        let fresh = self.keys.get(self.sent..).unwrap_or_default().to_vec();
        let numbering = self.numbering;
        self.sent = self.keys.len();
        if self.keys.len() >= MOST_CONVERSATIONS {
            *self = Self {
                numbering: numbering + 1,
                ..Self::default()
            };
        }
        (numbering, fresh)
    }
}

/// Namespaces numbered, so that marking a record's minutes hashes a
/// number; `u32::MAX` is the cluster
#[derive(Default)]
struct Namespaces {
    of: KeyMap<String, u32>,
    names: Vec<String>,
}

impl Namespaces {
    const CLUSTER: u32 = u32::MAX;

    fn number(&mut self, name: &str) -> u32 {
        if let Some(n) = self.of.get(name) {
            return *n;
        }
        let n = u32::try_from(self.names.len()).unwrap_or(Self::CLUSTER - 1);
        self.names.push(name.to_string());
        self.of.insert(name.to_string(), n);
        n
    }

    fn name(&self, n: u32) -> &str {
        self.names.get(n as usize).map_or("", String::as_str)
    }
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
    untimed: Vec<Known>,
    /// records whose time was ahead of the clock, taken as now
    from_the_future: u64,
    numbers: Numbers,
    namespaces: Namespaces,
    /// what records handed on as repeats made, by their index
    known: Vec<Option<Known>>,
    buckets: KeyMap<(i64, u32), Tally>,
    lookups: BTreeMap<(i64, u32), BTreeMap<String, u64>>,
    /// (namespace number, hour) -> minute bits
    activity: KeyMap<(u32, i64), i64>,
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
            cache: RowCache::default(),
            flush_every,
            now_ms: now_ms(),
            untimed: Vec::new(),
            from_the_future: 0,
            numbers: Numbers::default(),
            namespaces: Namespaces::default(),
            known: Vec::new(),
            buckets: KeyMap::default(),
            lookups: BTreeMap::new(),
            activity: KeyMap::default(),
            pending: 0,
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
        let time = record.time_ms.map(|t| self.on_the_clock(t));
        record.time_ms = time;
        let known = self.know(record);
        self.put_at(time, &known)
    }

    /// Take a record as [`palisade_targets::flows::read_repeating`] hands
    /// it on: a repeat costs a lookup of what its record made the first time
    pub fn add_repeat(&mut self, repeat: Repeat) -> Result<(), StoreError> {
        let (index, time, known) = match repeat {
            Repeat::New { record, index: None } => return self.add(*record),
            Repeat::New {
                mut record,
                index: Some(index),
            } => {
                let time = record.time_ms.map(|t| self.on_the_clock(t));
                record.time_ms = time;
                (index, time, self.know(*record))
            }
            Repeat::Again { index, time_ms } => {
                let Some(mut known) = self.known.get_mut(index as usize).and_then(Option::take) else {
                    return Err(StoreError::Corrupt {
                        store: self.store.name.clone(),
                        why: format!("flow record {index} was repeated before it was read"),
                    });
                };
                if known.numbering != self.numbers.numbering {
                    // The numbering started over since: number its conversation again.
                    known.numbering = self.numbers.numbering;
                    known.number = self.numbers.number_shared(&known.key);
                }
                (index, time_ms.map(|t| self.on_the_clock(t)), known)
            }
        };
        let put = self.put_at(time, &known);
        self.remember(index, known);
        put
    }

    fn remember(&mut self, index: u32, known: Known) {
        let slot = index as usize;
        if self.known.len() <= slot {
            self.known.resize_with(slot + 1, || None);
        }
        if let Some(held) = self.known.get_mut(slot) {
            *held = Some(known);
        }
    }

    /// A record's time, or now for one more than [`CLOCK_SKEW_MS`] ahead
    fn on_the_clock(&mut self, time: i64) -> i64 {
        if time > self.now_ms + CLOCK_SKEW_MS {
            self.from_the_future += 1;
            return self.now_ms;
        }
        time
    }

    /// What a record adds, whatever its time: its conversation, numbered
    fn know(&mut self, record: FlowRecord) -> Known {
        let mut namespaces = [None; 2];
        for (slot, namespace) in namespaces.iter_mut().zip(named_namespaces(&record)) {
            *slot = Some(self.namespaces.number(namespace));
        }
        let (count, observed) = (record.count.min(COUNT_CAP.unsigned_abs()), record.observed);
        let (key, dns_query) = conversation(record);
        let (number, key) = self.numbers.number(key);
        Known {
            numbering: self.numbers.numbering,
            number,
            key,
            namespaces,
            dns_query,
            count,
            observed,
        }
    }

    fn put_timed(&mut self, time: i64, known: &Known) -> Result<(), StoreError> {
        self.first_ms = Some(self.first_ms.map_or(time, |f| f.min(time)));
        self.last_ms = Some(self.last_ms.map_or(time, |l| l.max(time)));
        self.put(time.div_euclid(HOUR_MS), Some(time), known)?;
        if !self.untimed.is_empty() {
            self.place_untimed(time.div_euclid(HOUR_MS))?;
        }
        Ok(())
    }

    /// Put a record of this time, or untimed (see [`Self::add`])
    fn put_at(&mut self, time: Option<i64>, known: &Known) -> Result<(), StoreError> {
        match (time, self.last_ms) {
            (Some(time), _) => self.put_timed(time, known),
            (None, Some(last)) => self.put(last.div_euclid(HOUR_MS), None, known),
            (None, None) => {
                self.untimed.push(known.clone());
                if self.untimed.len() >= UNTIMED_HELD {
                    self.place_untimed(self.now_ms.div_euclid(HOUR_MS))?;
                }
                Ok(())
            }
        }
    }

    fn place_untimed(&mut self, hour: i64) -> Result<(), StoreError> {
        for known in std::mem::take(&mut self.untimed) {
            self.put(hour, None, &known)?;
        }
        Ok(())
    }

    fn put(&mut self, hour: i64, time: Option<i64>, known: &Known) -> Result<(), StoreError> {
        if let Some(time) = time {
            self.mark_minute(known, time.div_euclid(60_000));
        }
        let number = known.number;
        if let Some(query) = &known.dns_query {
            let names = self.lookups.entry((hour, number)).or_default();
            match names.get_mut(query) {
                Some(looked) => *looked = looked.saturating_add(known.count),
                None => {
                    names.insert(query.clone(), known.count);
                }
            }
        }
        self.buckets
            .entry((hour, number))
            .or_default()
            .add(known.count, time, known.observed);
        self.pending += 1;
        self.taken += 1;
        if self.pending >= self.flush_every || self.buckets.len() >= FLUSH_BUCKETS {
            self.queue(None)?;
        }
        Ok(())
    }

    /// Count the record's minute as active for the cluster and for each
    /// namespace it names. Before 1970 a minute is no bit of the schema's
    /// hours (and no flow log has one): left out, as the conversations'
    /// days leave it
    fn mark_minute(&mut self, known: &Known, minute: i64) {
        if minute < 0 {
            return;
        }
        let (hour, bit) = (minute.div_euclid(60), 1_i64 << minute.rem_euclid(60));
        *self.activity.entry((Namespaces::CLUSTER, hour)).or_default() |= bit;
        for n in known.namespaces.iter().flatten() {
            *self.activity.entry((*n, hour)).or_default() |= bit;
        }
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

    /// What is pending, as a batch; memory starts over
    fn take_batch(&mut self, cursor: Option<(String, String)>) -> Batch {
        let mut buckets: Vec<_> = std::mem::take(&mut self.buckets).into_iter().collect();
        buckets.sort_unstable_by_key(|(at, _)| *at);
        let activity = std::mem::take(&mut self.activity)
            .into_iter()
            .map(|((n, hour), bits)| ((self.namespaces.name(n).to_string(), hour), bits))
            .collect();
        let (numbering, fresh) = self.numbers.hand_over();
        self.pending = 0;
        Batch {
            numbering,
            fresh,
            buckets,
            lookups: std::mem::take(&mut self.lookups),
            activity,
            cursor,
        }
    }

    /// Hand the pending buckets to the writer, starting it if need be
    fn queue(&mut self, cursor: Option<(String, String)>) -> Result<(), StoreError> {
        if self.buckets.is_empty() && self.activity.is_empty() && cursor.is_none() {
            return Ok(());
        }
        let batch = self.take_batch(cursor);
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

/// Minutes of an hour's bits that fall in `[from_minute, to_minute]`
pub(crate) fn minutes_of(hour: i64, bits: i64, from_minute: i64, to_minute: i64) -> impl Iterator<Item = i64> {
    (0..60)
        .filter(move |m| bits & (1_i64 << m) != 0)
        .map(move |m| hour * 60 + m)
        .filter(move |minute| (from_minute..=to_minute).contains(minute))
}

pub(crate) fn corrupt(store: &str, e: &serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        store: store.to_string(),
        why: e.to_string(),
    }
}
