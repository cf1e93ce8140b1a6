//! Flows aggregated per workload: a million records of the same few
//! conversations become a few keys with counts and first/last times, so
//! everything after this (audit, discovery) works per conversation, not per
//! record.

use palisade_compiler::model::Request;
use palisade_intents::syntax::Protocol;
use palisade_targets::flows::{EndpointKind, FlowEndpoint, FlowRecord, Observed, ReadStats};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};

/// One conversation: who, to whom, on what
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey {
    /// the opening side, reduced to what identifies its workload
    pub source: FlowEndpoint,
    /// the accepting side, likewise
    pub destination: FlowEndpoint,
    /// protocol
    pub protocol: Protocol,
    /// destination port
    pub port: u16,
    /// the HTTP request, for L7 records
    pub request: Option<Request>,
}

/// What was seen of one conversation
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// connections (records, times their own count)
    pub count: u64,
    /// earliest time, ms since the epoch
    pub first_ms: Option<i64>,
    /// latest time
    pub last_ms: Option<i64>,
    /// connections by what the layer did with them
    pub observed: BTreeMap<Observed, u64>,
    /// the hours it was seen in (hours since the epoch): how regular it is
    /// over a long window, which first/last alone cannot tell
    pub hours: BTreeSet<i64>,
}

/// Milliseconds in an hour: the grain of [`Seen::hours`] and of the store
pub const HOUR_MS: i64 = 3_600_000;

impl Seen {
    fn add(&mut self, count: u64, time: Option<i64>, observed: Observed) {
        self.count = self.count.saturating_add(count);
        *self.observed.entry(observed).or_default() += count;
        if let Some(t) = time {
            self.first_ms = Some(self.first_ms.map_or(t, |f| f.min(t)));
            self.last_ms = Some(self.last_ms.map_or(t, |l| l.max(t)));
            self.hours.insert(t.div_euclid(HOUR_MS));
        }
    }

    /// Merge another tally of the same conversation
    pub fn merge(&mut self, other: &Seen) {
        self.count = self.count.saturating_add(other.count);
        for (o, n) in &other.observed {
            *self.observed.entry(*o).or_default() += n;
        }
        for t in [other.first_ms, other.last_ms].into_iter().flatten() {
            self.first_ms = Some(self.first_ms.map_or(t, |f| f.min(t)));
            self.last_ms = Some(self.last_ms.map_or(t, |l| l.max(t)));
        }
        self.hours.extend(other.hours.iter().copied());
    }

    /// Whether any of it works today (so enforcement dropping it would break something)
    pub fn works_today(&self) -> bool {
        self.observed
            .iter()
            .any(|(o, n)| *n > 0 && matches!(o, Observed::Allowed | Observed::WouldDrop))
    }
}

/// Everything read from the flow logs
#[derive(Debug, Default)]
pub struct Evidence {
    /// conversations
    pub flows: HashMap<FlowKey, Seen, KeyHashing>,
    /// DNS names each workload looked up, with counts
    pub lookups: HashMap<FlowEndpoint, BTreeMap<String, u64>>,
    /// the minutes (since the epoch) in which anything was seen: gaps show here
    pub minutes: BTreeSet<i64>,
    /// the same, per namespace a record names on either side: the gate
    /// measures each namespace's gaps by its own records, so that another
    /// namespace's traffic cannot fill them
    pub minutes_by_namespace: BTreeMap<String, BTreeSet<i64>>,
    /// what each stream held besides flows
    pub reads: Vec<ReadStats>,
    /// streams that held no record of a known flow format, as the reader
    /// said it (read with [`crate::read_for_gate`]: the gate names them)
    pub unrecognized: Vec<String>,
}

impl Evidence {
    /// Take one record
    pub fn add(&mut self, record: FlowRecord) {
        if let Some(t) = record.time_ms {
            let minute = t.div_euclid(60_000);
            self.minutes.insert(minute);
            for namespace in named_namespaces(&record) {
                match self.minutes_by_namespace.get_mut(namespace) {
                    Some(minutes) => {
                        minutes.insert(minute);
                    }
                    None => {
                        self.minutes_by_namespace
                            .insert(namespace.to_string(), BTreeSet::from([minute]));
                    }
                }
            }
        }
        let (count, time, observed) = (record.count, record.time_ms, record.observed);
        let (key, dns_query) = conversation(record);
        if let Some(query) = dns_query {
            *self
                .lookups
                .entry(key.source.clone())
                .or_default()
                .entry(query)
                .or_default() += count;
        }
        self.flows.entry(key).or_default().add(count, time, observed);
    }

    /// Conversations in a stable order
    pub fn sorted(&self) -> Vec<(&FlowKey, &Seen)> {
        let mut out: Vec<_> = self.flows.iter().collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// Records taken
    pub fn records(&self) -> u64 {
        self.flows.values().map(|s| s.count).sum()
    }

    /// Stretches longer than `max_minutes` with nothing seen, as (from, to) minutes
    pub fn gaps(&self, max_minutes: i64) -> Vec<(i64, i64)> {
        let minutes: Vec<i64> = self.minutes.iter().copied().collect();
        minutes
            .windows(2)
            .filter_map(|w| match w {
                [a, b] if b - a > max_minutes => Some((*a, *b)),
                _ => None,
            })
            .collect()
    }
}

/// How conversation keys are hashed: every record hashes its key, a dozen
/// strings, and SipHash took a fifth of reading a flow log. This one takes
/// eight bytes a step (multiply and rotate, as rustc's FxHash), starts from
/// a seed drawn per map (from the standard library's random keys), so that
/// lines written to collide in one run do not in another, and mixes the end
/// state (murmur3's finaliser), since the table picks buckets by the low
/// bits and checks by the high ones.
#[derive(Clone, Copy, Debug)]
pub struct KeyHashing {
    seed: u64,
}

impl Default for KeyHashing {
    fn default() -> Self {
        Self {
            seed: std::collections::hash_map::RandomState::new().hash_one(0x5041_4c49_u32),
        }
    }
}

impl BuildHasher for KeyHashing {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.seed)
    }
}

/// The state of one [`KeyHashing`] hash
#[derive(Clone, Copy, Debug)]
pub struct KeyHasher(u64);

impl KeyHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    fn word(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(Self::K).rotate_left(26);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(word);
            self.word(u64::from_le_bytes(eight));
        }
        let mut tail = [0u8; 8];
        let rest = words.remainder();
        if let Some(head) = tail.get_mut(..rest.len()) {
            head.copy_from_slice(rest);
        }
        // The length goes in with the tail: `ab` then `c` differs from `a` then `bc`.
        self.word(u64::from_le_bytes(tail) ^ ((rest.len() as u64) << 59));
    }

    fn write_u8(&mut self, n: u8) {
        self.word(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.word(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.word(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.word(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.word(n as u64);
    }

    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The namespaces a record names on either side, as it names them (an
/// address outside the cluster that a layer placed in a namespace counts
/// there, though its conversation does not keep the namespace)
pub fn named_namespaces(record: &FlowRecord) -> impl Iterator<Item = &str> {
    [&record.source.namespace, &record.destination.namespace]
        .into_iter()
        .flatten()
        .map(String::as_str)
}

/// The conversation a record belongs to, and the name it looked up (DNS
/// requests): every aggregation of records (an [`Evidence`], the store's
/// buckets) keys them by this
pub fn conversation(record: FlowRecord) -> (FlowKey, Option<String>) {
    let key = FlowKey {
        source: workload(record.source),
        destination: workload(record.destination),
        protocol: record.protocol,
        port: record.port,
        request: record.request,
    };
    (key, record.dns_query)
}

/// Reduce an endpoint to what identifies its workload: a pod with labels is
/// its namespace and labels (replicas are one workload); an outside address
/// is its address and names; every node is one party
pub fn workload(mut e: FlowEndpoint) -> FlowEndpoint {
    match e.kind {
        EndpointKind::Pod if !e.labels.is_empty() => {
            e.pod = None;
            e.ip = None;
            e.names.clear();
            e.service = None;
        }
        EndpointKind::Pod => e.names.clear(),
        EndpointKind::Outside | EndpointKind::KubeApiserver => {
            e.names.sort();
            e.names.dedup();
            e.pod = None;
            e.namespace = None;
            e.labels.clear();
            e.namespace_labels.clear();
            e.service_account = None;
        }
        EndpointKind::Node => e = FlowEndpoint::of_kind(EndpointKind::Node),
    }
    e
}
