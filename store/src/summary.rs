//! What a window holds, for `palisade evidence show`: computed from the
//! window's [`Evidence`], so it says what the gate and discovery will see

use crate::key::party;
use crate::{Window, MINUTE_MS};
use palisade_evidence::Evidence;
use palisade_targets::flows::Observed;
use serde::Serialize;
use std::collections::BTreeMap;

/// How many conversations the summary lists, busiest first
pub const TOP: usize = 10;

/// A window of stored evidence
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// the window asked for
    pub window: Window,
    /// the first record in it, ms since the epoch
    pub first_ms: Option<i64>,
    /// the last
    pub last_ms: Option<i64>,
    /// conversations
    pub conversations: usize,
    /// connections
    pub records: u64,
    /// streams ingested that overlap the window
    pub streams: usize,
    /// records the layer reported lost in them
    pub lost: u64,
    /// lines of them that could not be read
    pub malformed: u64,
    /// minutes with any record
    pub active_minutes: usize,
    /// stretches with no record at all longer than the gap allowed
    pub gaps: Vec<Gap>,
    /// per namespace a record names
    pub namespaces: Vec<Coverage>,
    /// the busiest conversations
    pub top: Vec<Conversation>,
}

/// A stretch with nothing seen
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// the last minute seen before it, ms since the epoch
    pub from_ms: i64,
    /// the first minute seen after it
    pub to_ms: i64,
}

/// What one namespace's evidence covers
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// the namespace
    pub namespace: String,
    /// minutes with a record of it
    pub active_minutes: usize,
    /// its first minute seen, ms since the epoch
    pub first_ms: Option<i64>,
    /// its last
    pub last_ms: Option<i64>,
    /// its stretches of silence longer than the gap allowed
    pub gaps: Vec<Gap>,
    /// its workloads seen, by name
    pub services: Vec<ServiceSeen>,
}

/// One workload's traffic in the window
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceSeen {
    /// `namespace/name`
    pub name: String,
    /// connections it opened
    pub outbound: u64,
    /// connections it accepted
    pub inbound: u64,
}

/// One conversation's tally in the window
#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    /// who opened it
    pub source: String,
    /// to whom
    pub destination: String,
    /// protocol and port, `tcp/8080`
    pub port: String,
    /// the HTTP request class, where seen
    pub request: Option<String>,
    /// connections
    pub count: u64,
    /// first seen, ms since the epoch
    pub first_ms: Option<i64>,
    /// last seen
    pub last_ms: Option<i64>,
    /// by verdict: `allowed`, `dropped`, `would-drop`
    pub verdicts: BTreeMap<&'static str, u64>,
}

impl Summary {
    /// The summary of a window's evidence; gaps are silences longer than
    /// `max_gap_minutes`
    pub fn of(evidence: &Evidence, window: Window, max_gap_minutes: i64) -> Self {
        let flows = evidence.sorted();
        let first_ms = flows.iter().filter_map(|(_, s)| s.first_ms).min();
        let last_ms = flows.iter().filter_map(|(_, s)| s.last_ms).max();
        Self {
            window,
            first_ms,
            last_ms,
            conversations: flows.len(),
            records: evidence.records(),
            streams: evidence.reads.len(),
            lost: evidence.reads.iter().map(|r| r.lost).sum(),
            malformed: evidence.reads.iter().map(|r| r.malformed).sum(),
            active_minutes: evidence.minutes.len(),
            gaps: gaps(evidence.minutes.iter().copied(), max_gap_minutes),
            namespaces: coverage(evidence, max_gap_minutes),
            top: top(evidence),
        }
    }
}

fn gaps(minutes: impl Iterator<Item = i64>, max_gap_minutes: i64) -> Vec<Gap> {
    let minutes: Vec<i64> = minutes.collect();
    minutes
        .windows(2)
        .filter_map(|w| match w {
            [a, b] if b - a > max_gap_minutes => Some(Gap {
                from_ms: a * MINUTE_MS,
                to_ms: b * MINUTE_MS,
            }),
            _ => None,
        })
        .collect()
}

fn coverage(evidence: &Evidence, max_gap_minutes: i64) -> Vec<Coverage> {
    let mut services: BTreeMap<String, BTreeMap<String, ServiceSeen>> = BTreeMap::new();
    for (flow, seen) in &evidence.flows {
        for (end, outbound) in [(&flow.source, true), (&flow.destination, false)] {
            let Some(namespace) = &end.namespace else { continue };
            let name = party(end);
            let service = services
                .entry(namespace.clone())
                .or_default()
                .entry(name.clone())
                .or_insert_with(|| ServiceSeen {
                    name,
                    ..ServiceSeen::default()
                });
            if outbound {
                service.outbound += seen.count;
            } else {
                service.inbound += seen.count;
            }
        }
    }
    let mut namespaces: Vec<String> = evidence.minutes_by_namespace.keys().cloned().collect();
    namespaces.extend(services.keys().cloned());
    namespaces.sort();
    namespaces.dedup();
    namespaces
        .into_iter()
        .map(|namespace| {
            let minutes = evidence.minutes_by_namespace.get(&namespace);
            let seen = || minutes.into_iter().flatten().copied();
            Coverage {
                active_minutes: minutes.map_or(0, |m| m.len()),
                first_ms: seen().next().map(|m| m * MINUTE_MS),
                last_ms: seen().last().map(|m| m * MINUTE_MS),
                gaps: gaps(seen(), max_gap_minutes),
                services: services
                    .remove(&namespace)
                    .map(|s| s.into_values().collect())
                    .unwrap_or_default(),
                namespace,
            }
        })
        .collect()
}

fn top(evidence: &Evidence) -> Vec<Conversation> {
    let mut flows = evidence.sorted();
    // busiest first; the key order breaks ties, so the list is stable
    flows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
    flows
        .into_iter()
        .take(TOP)
        .map(|(flow, seen)| Conversation {
            source: party(&flow.source),
            destination: party(&flow.destination),
            port: format!("{}/{}", crate::key::protocol(flow.protocol), flow.port),
            request: flow.request.as_ref().map(|r| r.stands_for.clone()),
            count: seen.count,
            first_ms: seen.first_ms,
            last_ms: seen.last_ms,
            verdicts: [Observed::Allowed, Observed::Dropped, Observed::WouldDrop]
                .into_iter()
                .filter_map(|o| seen.observed.get(&o).map(|n| (o.as_str(), *n)))
                .collect(),
        })
        .collect()
}
