//! The audit gate: every observed conversation decided by each target's
//! enforce manifests. What they would drop is grouped by source and
//! destination workload, with counts, first and last seen, the rules that
//! stop it and the intent line that would admit it. Doubts about the evidence
//! (gaps in time, lost and unreadable records) are warnings here; whether it
//! is enough to pass the gate at all (services seen or waived, the window,
//! CronJob periods) is [`crate::sufficiency`].

use crate::{
    observe::{Evidence, FlowKey, Seen},
    plural,
    resolve::{place, Place},
    suggest::{AllowLine, Suggester},
};
use palisade_compiler::{
    ir::Ir,
    model::{ClusterModel, Connection, Endpoint},
};
use palisade_targets::{
    flows::{format_time, Observed},
    Dialect, Manifest, RuleRef,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

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
    /// the Intents file (or namespace) the line goes into, as people read
    /// it; empty (and left out) when nothing is suggested (see `intent`)
    #[serde(skip_serializing_if = "String::is_empty")]
    pub add_to: String,
    /// the allow line that would admit what works today (all of it with
    /// [`AuditOptions::suggest_dropped`]), ready to paste; empty (and left
    /// out) when all of it is dropped today and that was not asked for
    #[serde(skip_serializing_if = "String::is_empty")]
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

/// A policy rule that would drop some of a pair's flows
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// the target whose manifests drop them (`cilium`)
    pub target: String,
    /// the object's kind (`CiliumNetworkPolicy`)
    pub kind: String,
    /// the object's namespace (none: cluster-scoped)
    pub namespace: Option<String>,
    /// the object's name
    pub name: String,
    /// the rule inside it (`egress[0]`), or what decided (`default deny (egress)`)
    pub rule: String,
    /// the ids of the intents the object came from (its `palisade.dev/source`)
    pub sources: Vec<String>,
    /// the ports (and requests) of the pair it drops: `tcp/8080`, `tcp/8080 POST /admin`
    pub ports: Vec<String>,
}

/// One pair enforcement would drop, in fields a program reads: what drops
/// it and what admits it
#[derive(Debug, Clone, Serialize)]
pub struct WouldDrop {
    /// `shop/frontend`
    pub source: String,
    /// `shop/backend`, `api.stripe.com (1.2.3.4)`
    pub destination: String,
    /// flows enforcement would drop
    pub flows: u64,
    /// whether any of them works today (only such pairs fail the gate)
    pub works_today: bool,
    /// of them, the flows the layer drops today already
    pub dropped_today: u64,
    /// the policy rules that would drop them, per target
    pub dropped_by: Vec<Blocker>,
    /// the Intents file and the line that admits what works today (all of
    /// it with [`AuditOptions::suggest_dropped`]); none when nothing of it
    /// works today and that was not asked for
    pub add_to: Option<AllowLine>,
}

/// Flows and the workload pairs between which they were seen
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// flows
    pub flows: u64,
    /// source and destination pairs
    pub pairs: usize,
}

/// A pair with many flows that enforcement would drop
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offender {
    /// `shop/frontend`
    pub source: String,
    /// `shop/backend`
    pub destination: String,
    /// flows that work today and would be dropped
    pub flows: u64,
    /// their ports (and requests)
    pub ports: Vec<String>,
}

/// What a reader wants first: how much was seen, how much enforcing would
/// drop, how much is dropped already, and where most of it is
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// the flows judged and their pairs
    pub observed: Tally,
    /// flows that work today and enforcing would drop, and their pairs
    pub would_drop: Tally,
    /// flows the layer drops today already (enforcing drops them too), and their pairs
    pub dropped_today: Tally,
    /// the pairs with the most flows that would be dropped, most first (at most [`Summary::TOP`])
    pub top: Vec<Offender>,
}

impl Summary {
    /// How many offenders the summary names
    pub const TOP: usize = 5;
}

/// The audit of one evidence set against one set of targets
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// counts first
    pub summary: Summary,
    /// every pair enforcement would drop, with structured `dropped_by` and
    /// `add_to`
    // INVARIANT: the pairs of `groups`, in the same order.
    pub would_drop: Vec<WouldDrop>,
    /// targets whose enforce manifests were asked
    pub targets: Vec<String>,
    /// connections judged
    pub judged: u64,
    /// connections not judged, by reason
    pub not_judged: BTreeMap<String, u64>,
    /// what would be dropped, per pair and port (the service map and the
    /// report read it)
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

/// Options of the audit and its evidence checks
#[derive(Debug, Clone, Copy)]
pub struct AuditOptions {
    /// a stretch longer than this with no flows at all is a gap
    pub max_gap_minutes: i64,
    /// suggest allow lines for flows the layer drops today as well: by
    /// default only what works today is suggested, since what is dropped
    /// today is often dropped on purpose
    pub suggest_dropped: bool,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            max_gap_minutes: 10,
            suggest_dropped: false,
        }
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
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
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
        pairs.insert(names.clone());
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
    let mut judged_pairs = Vec::new();
    let mut would_drop = Vec::new();
    let mut offenders = Vec::new();
    for (names, pending) in groups {
        let (group, drop, offender) = judge_pair(&suggester, names, pending, options.suggest_dropped);
        judged_pairs.push(group);
        would_drop.push(drop);
        offenders.extend(offender);
    }
    let groups = judged_pairs;
    AuditReport {
        summary: summarise(pairs.len(), judged, &would_drop, offenders),
        would_drop,
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

/// `tcp/8080`, `tcp/8080 GET /path`: a port and its request
fn port_label(key: &FlowKey) -> String {
    match &key.request {
        Some(r) => format!("{}/{} {} {}", key.protocol.as_str(), key.port, r.method, r.path),
        None => format!("{}/{}", key.protocol.as_str(), key.port),
    }
}

/// Flows of `seen` the layer drops today
fn dropped_today(seen: &Seen) -> u64 {
    seen.observed.get(&Observed::Dropped).copied().unwrap_or(0)
}

/// One pair's drops, for people (the group, per port) and for programs,
/// and the pair as an offender when some of it works today
fn judge_pair(
    suggester: &Suggester,
    (source, destination): (String, String),
    Pending { entries, from, to }: Pending,
    suggest_dropped: bool,
) -> (Group, WouldDrop, Option<Offender>) {
    let mut total = Seen::default();
    for (_, seen, _) in &entries {
        total.merge(seen);
    }
    let working = total.count.saturating_sub(dropped_today(&total));
    let offender = (working > 0).then(|| Offender {
        source: source.clone(),
        destination: destination.clone(),
        flows: working,
        ports: entries
            .iter()
            .filter(|(_, seen, _)| seen.works_today())
            .map(|(key, _, _)| port_label(key))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    });
    // What the layer drops today is often dropped on purpose: suggesting to
    // allow it is for who asks.
    let keys: Vec<&FlowKey> = entries
        .iter()
        .filter(|(_, seen, _)| suggest_dropped || seen.works_today())
        .map(|(k, _, _)| *k)
        .collect();
    let allow = (!keys.is_empty()).then(|| suggester.allow_line(from, to, &keys));
    let would_drop = WouldDrop {
        source: source.clone(),
        destination: destination.clone(),
        flows: total.count,
        works_today: total.works_today(),
        dropped_today: dropped_today(&total),
        dropped_by: blockers(&entries),
        add_to: allow.clone(),
    };
    let group = Group {
        source,
        destination,
        count: total.count,
        first_seen: total.first_ms.map(format_time),
        last_seen: total.last_ms.map(format_time),
        works_today: total.works_today(),
        add_to: allow.as_ref().map(AllowLine::place).unwrap_or_default(),
        intent: allow.map(|a| a.rule).unwrap_or_default(),
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
    };
    (group, would_drop, offender)
}

/// The rules that drop a pair's conversations, each once with the ports it drops
fn blockers(entries: &[(&FlowKey, &Seen, Drops)]) -> Vec<Blocker> {
    let mut out: Vec<Blocker> = Vec::new();
    for (key, _, drops) in entries {
        let port = port_label(key);
        for (target, rules) in drops {
            for rule in rules {
                let found = out
                    .iter_mut()
                    .find(|b| b.target == *target && b.rule == rule.rule && reference(b) == rule.policy);
                match found {
                    Some(b) if !b.ports.contains(&port) => b.ports.push(port.clone()),
                    Some(_) => {}
                    None => out.push(blocker(target, rule, port.clone())),
                }
            }
        }
    }
    out
}

/// `Kind namespace/name`, as [`Manifest::reference`] writes it
fn reference(b: &Blocker) -> String {
    match &b.namespace {
        Some(ns) => format!("{} {ns}/{}", b.kind, b.name),
        None => format!("{} {}", b.kind, b.name),
    }
}

/// A [`RuleRef`] taken apart: its policy is [`Manifest::reference`]
/// (`Kind namespace/name`, `Kind name` when cluster-scoped; kinds and names
/// hold no space, names no slash), its source the annotation's ids joined
/// by `, `
fn blocker(target: &str, rule: &RuleRef, port: String) -> Blocker {
    let (kind, object) = rule.policy.split_once(' ').unwrap_or(("", rule.policy.as_str()));
    let (namespace, name) = match object.split_once('/') {
        Some((namespace, name)) => (Some(namespace.to_string()), name.to_string()),
        None => (None, object.to_string()),
    };
    Blocker {
        target: target.to_string(),
        kind: kind.to_string(),
        namespace,
        name,
        rule: rule.rule.clone(),
        sources: rule
            .source
            .iter()
            .flat_map(|s| s.split(", "))
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .collect(),
        ports: vec![port],
    }
}

/// The counts of the summary, and the pairs with the most would-drop flows
fn summarise(pairs: usize, judged: u64, would_drop: &[WouldDrop], mut top: Vec<Offender>) -> Summary {
    let mut summary = Summary {
        observed: Tally { flows: judged, pairs },
        ..Summary::default()
    };
    for offender in &top {
        summary.would_drop.flows += offender.flows;
        summary.would_drop.pairs += 1;
    }
    for w in would_drop.iter().filter(|w| w.dropped_today > 0) {
        summary.dropped_today.flows += w.dropped_today;
        summary.dropped_today.pairs += 1;
    }
    // A stable sort: among equals, the pairs stay in name order.
    top.sort_by_key(|o| std::cmp::Reverse(o.flows));
    top.truncate(Summary::TOP);
    summary.top = top;
    summary
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
                "{} (not counted as flows): {}",
                plural(read.malformed, "unreadable line"),
                examples.join("; ")
            ));
        }
        if read.lost > 0 {
            out.push(format!(
                "the {} stream reports {}: a would-drop flow may be among them",
                read.format,
                plural(read.lost, "lost record")
            ));
        }
    }
    for (from, to) in evidence.gaps(options.max_gap_minutes) {
        out.push(format!(
            "no flows at all from {} to {} ({}): the evidence has a gap",
            format_time(from * 60_000),
            format_time(to * 60_000),
            plural(to - from, "minute")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_reference_is_taken_apart_into_kind_namespace_name_and_sources() {
        let namespaced = RuleRef {
            policy: "CiliumNetworkPolicy shop/backend".into(),
            rule: "default deny (ingress)".into(),
            source: Some("intents/shop.yaml#a-1, intents/shop.yaml#b-2".into()),
        };
        let b = blocker("cilium", &namespaced, "tcp/8080".into());
        assert_eq!(
            (b.kind.as_str(), b.namespace.as_deref(), b.name.as_str()),
            ("CiliumNetworkPolicy", Some("shop"), "backend")
        );
        assert_eq!(b.sources, ["intents/shop.yaml#a-1", "intents/shop.yaml#b-2"]);
        assert_eq!(reference(&b), namespaced.policy);
        let cluster_wide = RuleRef {
            policy: "GlobalNetworkPolicy palisade-default-deny".into(),
            rule: "isolates egress".into(),
            source: None,
        };
        let b = blocker("calico", &cluster_wide, "udp/53".into());
        assert_eq!((b.namespace, b.name.as_str()), (None, "palisade-default-deny"));
        assert!(b.sources.is_empty());
    }
}
