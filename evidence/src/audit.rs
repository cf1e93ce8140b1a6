//! The audit gate: every observed conversation decided by each target's
//! enforce manifests. What they would drop is grouped by source and
//! destination workload, with counts, first and last seen, the rules that
//! stop it and the intent line that would admit it. Doubts about the evidence
//! (gaps in time, lost and unreadable records) are warnings here; whether it
//! is enough to pass the gate at all (services seen or waived, the window,
//! CronJob periods) is [`crate::sufficiency`].

use crate::{
    observe::{Evidence, FlowKey, Seen},
    resolve::{place, Place},
    suggest::Suggester,
};
use palisade_compiler::{
    ir::Ir,
    model::{ClusterModel, Connection, Endpoint},
};
use palisade_targets::{flows::format_time, Dialect, Manifest, RuleRef};
use serde::Serialize;
use std::collections::BTreeMap;

/// One port (and request) of a group that enforcement would drop
#[derive(Debug, Clone, Serialize)]
pub struct Dropped {
    /// `tcp/8080`
    pub port: String,
    /// `GET /path`, for L7 records
    pub request: Option<String>,
    /// connections seen
    pub count: u64,
    /// earliest, RFC 3339
    pub first_seen: Option<String>,
    /// latest, RFC 3339
    pub last_seen: Option<String>,
    /// connections by what the layer did today (allowed, dropped, would-drop)
    pub observed: BTreeMap<String, u64>,
    /// per target that drops it, the policies that decided
    pub dropped_by: BTreeMap<String, Vec<String>>,
}

/// A source and destination workload with everything between them that would be dropped
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// `shop/frontend`
    pub source: String,
    /// `shop/backend`, `api.stripe.com (1.2.3.4)`
    pub destination: String,
    /// total connections
    pub count: u64,
    /// earliest, RFC 3339
    pub first_seen: Option<String>,
    /// latest, RFC 3339
    pub last_seen: Option<String>,
    /// whether any of it works today (only such groups fail the gate)
    pub works_today: bool,
    /// the Intents file (or namespace) the line goes into
    pub add_to: String,
    /// the allow line that would admit all of it, ready to paste
    pub intent: String,
    /// the ports and requests
    pub dropped: Vec<Dropped>,
}

/// Observed connections every target admits, between one pair on one port
#[derive(Debug, Clone, Serialize)]
pub struct Admitted {
    /// the source workload (`namespace/name`) or address
    pub source: String,
    /// the destination workload or address
    pub destination: String,
    /// `tcp/8080`
    pub port: String,
    /// flows seen
    pub count: u64,
}

/// The audit of one evidence set against one set of targets
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// targets whose enforce manifests were asked
    pub targets: Vec<String>,
    /// connections judged
    pub judged: u64,
    /// connections not judged, by reason
    pub not_judged: BTreeMap<String, u64>,
    /// what would be dropped
    pub groups: Vec<Group>,
    /// what every target admits, per workload pair and port (the service map
    /// draws it beside what would be dropped)
    pub allowed: Vec<Admitted>,
    /// doubts about the evidence itself
    pub warnings: Vec<String>,
}

impl AuditReport {
    /// Whether enforcing would drop something that works today (exit 3)
    pub fn would_break(&self) -> bool {
        self.groups.iter().any(|g| g.works_today)
    }
}

/// Options of the evidence checks
#[derive(Debug, Clone, Copy)]
pub struct AuditOptions {
    /// a stretch longer than this with no flows at all is a gap
    pub max_gap_minutes: i64,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self { max_gap_minutes: 10 }
    }
}

/// Per target that drops a conversation, the rules that decided
type Drops = Vec<(String, Vec<RuleRef>)>;

/// The dropped conversations of one workload pair, and where the pair sits
struct Pending<'e> {
    entries: Vec<(&'e FlowKey, &'e Seen, Drops)>,
    from: Place,
    to: Place,
}

/// Decide every conversation by each target's manifests
pub fn audit(
    evidence: &Evidence,
    ir: &Ir,
    repository_files: &BTreeMap<String, String>,
    cluster: Option<&ClusterModel>,
    rendered: &[(&dyn Dialect, &[Manifest])],
    options: AuditOptions,
) -> AuditReport {
    let placed = place(evidence, Some(ir), cluster);
    let evaluators: Vec<(&str, Box<dyn palisade_targets::Evaluator + '_>)> =
        rendered.iter().map(|(d, m)| (d.id(), d.evaluator(m))).collect();
    let suggester = Suggester::new(ir, repository_files, &placed);
    let mut judged = 0u64;
    let mut not_judged: BTreeMap<String, u64> = BTreeMap::new();
    // (source, destination) -> ports
    let mut groups: BTreeMap<(String, String), Pending> = BTreeMap::new();
    let mut admitted: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for (key, seen) in evidence.sorted() {
        let (from_place, to_place) = (placed.place(&key.source), placed.place(&key.destination));
        let (from, to) = match (placed.endpoint(from_place), placed.endpoint(to_place)) {
            (Some(from), Some(to)) => (from, to),
            _ => {
                let why = match (from_place, to_place) {
                    (Place::Node, _) | (_, Place::Node) => {
                        "node traffic (kubelet probes, host network): every layer admits it"
                    }
                    (Place::Unknown(why), _) | (_, Place::Unknown(why)) => why,
                    _ => "outside to outside",
                };
                *not_judged.entry(why.to_string()).or_default() += seen.count;
                continue;
            }
        };
        if matches!((from, to), (Endpoint::External(_), Endpoint::External(_))) {
            *not_judged.entry("outside to outside".into()).or_default() += seen.count;
            continue;
        }
        judged += seen.count;
        let conn = Connection {
            from,
            to,
            protocol: key.protocol,
            port: key.port,
            request: key.request.as_ref(),
        };
        let drops: Drops = evaluators
            .iter()
            // Deciding is cheap, naming the rules is not: only drops are explained.
            .filter(|(_, ev)| !ev.allows(&placed.model, &conn))
            .map(|(id, ev)| (id.to_string(), ev.evaluate(&placed.model, &conn).decided_by))
            .collect();
        let names = (suggester.name(from_place), suggester.name(to_place));
        if drops.is_empty() {
            let port = format!("{}/{}", key.protocol.as_str(), key.port);
            *admitted.entry((names.0, names.1, port)).or_default() += seen.count;
            continue;
        }
        groups
            .entry(names)
            .or_insert_with(|| Pending {
                entries: Vec::new(),
                from: from_place,
                to: to_place,
            })
            .entries
            .push((key, seen, drops));
    }
    let groups = groups
        .into_iter()
        .map(|((source, destination), Pending { entries, from, to })| {
            let mut total = Seen::default();
            for (_, seen, _) in &entries {
                total.merge(seen);
            }
            let keys: Vec<&FlowKey> = entries.iter().map(|(k, _, _)| *k).collect();
            let (add_to, intent) = suggester.allow_line(from, to, &keys);
            Group {
                source,
                destination,
                count: total.count,
                first_seen: total.first_ms.map(format_time),
                last_seen: total.last_ms.map(format_time),
                works_today: total.works_today(),
                add_to,
                intent,
                dropped: entries
                    .into_iter()
                    .map(|(key, seen, drops)| Dropped {
                        port: format!("{}/{}", key.protocol.as_str(), key.port),
                        request: key.request.as_ref().map(|r| format!("{} {}", r.method, r.path)),
                        count: seen.count,
                        first_seen: seen.first_ms.map(format_time),
                        last_seen: seen.last_ms.map(format_time),
                        observed: seen
                            .observed
                            .iter()
                            .map(|(o, n)| (o.as_str().to_string(), *n))
                            .collect(),
                        dropped_by: drops
                            .into_iter()
                            .map(|(id, rules)| (id, rules.iter().map(ToString::to_string).collect()))
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    AuditReport {
        targets: rendered.iter().map(|(d, _)| d.id().to_string()).collect(),
        judged,
        not_judged,
        groups,
        allowed: admitted
            .into_iter()
            .map(|((source, destination, port), count)| Admitted {
                source,
                destination,
                port,
                count,
            })
            .collect(),
        warnings: evidence_warnings(evidence, options),
    }
}

/// Doubts about the evidence: what it cannot prove
pub fn evidence_warnings(evidence: &Evidence, options: AuditOptions) -> Vec<String> {
    let mut out = Vec::new();
    for read in &evidence.reads {
        if read.malformed > 0 {
            let examples: Vec<String> = read
                .malformed_examples
                .iter()
                .map(|m| format!("{}: {}", m.at, m.message))
                .collect();
            out.push(format!(
                "{} unreadable line{} (not counted as flows): {}",
                read.malformed,
                if read.malformed == 1 { "" } else { "s" },
                examples.join("; ")
            ));
        }
        if read.lost > 0 {
            out.push(format!(
                "the {} stream reports {} lost record{}: a would-drop flow may be among them",
                read.format,
                read.lost,
                if read.lost == 1 { "" } else { "s" }
            ));
        }
    }
    for (from, to) in evidence.gaps(options.max_gap_minutes) {
        out.push(format!(
            "no flows at all from {} to {} ({} minutes): the evidence has a gap",
            format_time(from * 60_000),
            format_time(to * 60_000),
            to - from
        ));
    }
    out
}
