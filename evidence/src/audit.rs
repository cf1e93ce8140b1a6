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
    model::{ClusterModel, Connection, Endpoint, Request},
};
use palisade_intents::syntax::Protocol;
use palisade_targets::{
    flows::{format_time, Observed},
    Dialect, Manifest, RuleRef,
};
use serde::Serialize;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    rc::Rc,
    sync::Arc,
};

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
    /// the ids of the intents the object came from (its `palisade.dev/source`);
    /// shared: a default deny names every intent of its namespace, and
    /// thousands of pairs name the same object
    #[serde(serialize_with = "shared_list")]
    pub sources: Arc<[String]>,
    /// the ports (and requests) of the pair it drops: `tcp/8080`, `tcp/8080 POST /admin`
    pub ports: Vec<String>,
}

/// A shared list, written as the list it holds
fn shared_list<S: serde::Serializer>(list: &Arc<[String]>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(list.iter())
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

/// Per target that drops a conversation (its index among the targets
/// asked), the rules that decided, as indices into [`Rules`]
type Drops = Vec<(usize, Vec<usize>)>;

/// Every rule that decided a drop, each kept once with its text: a week of
/// conversations repeats a few hundred rules tens of thousands of times
#[derive(Default)]
struct Rules {
    /// as [`Dropped::dropped_by`] lists it
    texts: Vec<String>,
    /// taken apart as a [`Blocker`] (no target, no ports yet)
    parts: Vec<Blocker>,
    /// which [`Blocker`] a rule joins within a pair (its policy and rule,
    /// not its sources); `None`: a policy [`reference`] cannot give back,
    /// which joins none
    joins: Vec<Option<usize>>,
    index: HashMap<RuleRef, usize>,
    by_policy_rule: HashMap<(String, String), usize>,
}

impl Rules {
    fn intern(&mut self, rule: RuleRef) -> usize {
        if let Some(&id) = self.index.get(&rule) {
            return id;
        }
        let id = self.texts.len();
        let mut parts = blocker("", &rule, String::new());
        parts.ports.clear();
        let joins = (reference(&parts) == rule.policy).then(|| {
            let next = self.by_policy_rule.len();
            *self
                .by_policy_rule
                .entry((rule.policy.clone(), rule.rule.clone()))
                .or_insert(next)
        });
        self.texts.push(rule.to_string());
        self.parts.push(parts);
        self.joins.push(joins);
        self.index.insert(rule, id);
        id
    }
}

/// Each party's name, worked out once per place: naming a pod looks
/// through its namespace's services. Equal names share one id, so pairs
/// of ids are pairs of names.
struct Names<'s> {
    suggester: &'s Suggester<'s>,
    by_place: HashMap<Place, usize>,
    by_name: HashMap<String, usize>,
    names: Vec<String>,
}

impl<'s> Names<'s> {
    fn new(suggester: &'s Suggester<'s>) -> Self {
        Self {
            suggester,
            by_place: HashMap::new(),
            by_name: HashMap::new(),
            names: Vec::new(),
        }
    }

    fn id(&mut self, place: Place) -> usize {
        if let Some(&id) = self.by_place.get(&place) {
            return id;
        }
        let name = self.suggester.name(place);
        let next = self.names.len();
        let id = *self.by_name.entry(name.clone()).or_insert(next);
        if id == next {
            self.names.push(name);
        }
        self.by_place.insert(place, id);
        id
    }

    fn name(&self, id: usize) -> &str {
        self.names.get(id).map_or("?", String::as_str)
    }
}

/// The dropped conversations of one workload pair, and where the pair sits
struct Pending<'e> {
    entries: Vec<(&'e FlowKey, &'e Seen, Rc<Drops>)>,
    from: Place,
    to: Place,
}

/// A connection as the evaluators see it: the places of its ends, not
/// their records, so conversations between the same two placed parties
/// are decided once
type Asked<'e> = (Place, Place, Protocol, u16, Option<&'e Request>);

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
    let evaluators: Vec<Box<dyn palisade_targets::Evaluator + '_>> =
        rendered.iter().map(|(d, m)| d.evaluator(m)).collect();
    let targets: Vec<String> = rendered.iter().map(|(d, _)| d.id().to_string()).collect();
    let suggester = Suggester::new(ir, repository_files, &placed);
    let mut names = Names::new(&suggester);
    let mut rules = Rules::default();
    let mut decided: HashMap<Asked, Rc<Drops>> = HashMap::new();
    let mut judged = 0u64;
    let mut not_judged: BTreeMap<String, u64> = BTreeMap::new();
    // (source, destination) names -> ports
    let mut groups: HashMap<(usize, usize), Pending> = HashMap::new();
    let mut admitted: HashMap<(usize, usize, Protocol, u16), u64> = HashMap::new();
    let mut pairs: HashSet<(usize, usize)> = HashSet::new();
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
        let asked = (from_place, to_place, key.protocol, key.port, key.request.as_ref());
        let drops = decided
            .entry(asked)
            .or_insert_with(|| {
                let conn = Connection {
                    from,
                    to,
                    protocol: key.protocol,
                    port: key.port,
                    request: key.request.as_ref(),
                };
                Rc::new(drops(&evaluators, &placed.model, &conn, &mut rules))
            })
            .clone();
        let pair = (names.id(from_place), names.id(to_place));
        pairs.insert(pair);
        if drops.is_empty() {
            *admitted.entry((pair.0, pair.1, key.protocol, key.port)).or_default() += seen.count;
            continue;
        }
        groups
            .entry(pair)
            .or_insert_with(|| Pending {
                entries: Vec::new(),
                from: from_place,
                to: to_place,
            })
            .entries
            .push((key, seen, drops));
    }
    let mut groups: Vec<((usize, usize), Pending)> = groups.into_iter().collect();
    groups.sort_by(|(a, _), (b, _)| (names.name(a.0), names.name(a.1)).cmp(&(names.name(b.0), names.name(b.1))));
    let report = Report {
        suggester: &suggester,
        rules: &rules,
        targets: &targets,
        suggest_dropped: options.suggest_dropped,
    };
    let mut judged_pairs = Vec::new();
    let mut would_drop = Vec::new();
    let mut offenders = Vec::new();
    for ((source, destination), pending) in groups {
        let pair = (names.name(source).to_string(), names.name(destination).to_string());
        let (group, drop, offender) = report.judge_pair(pair, pending);
        judged_pairs.push(group);
        would_drop.push(drop);
        offenders.extend(offender);
    }
    let mut allowed: Vec<Admitted> = admitted
        .into_iter()
        .map(|((source, destination, protocol, port), count)| Admitted {
            source: names.name(source).to_string(),
            destination: names.name(destination).to_string(),
            port: format!("{}/{port}", protocol.as_str()),
            count,
        })
        .collect();
    allowed.sort_by(|a, b| (&a.source, &a.destination, &a.port).cmp(&(&b.source, &b.destination, &b.port)));
    AuditReport {
        summary: summarise(pairs.len(), judged, &would_drop, offenders),
        would_drop,
        targets,
        judged,
        not_judged,
        groups: judged_pairs,
        allowed,
        warnings: evidence_warnings(evidence, options),
    }
}

/// The targets that drop a connection, with the rules that decided. One
/// evaluation each, explained: most conversations an audit lists are
/// dropped somewhere, and asking first whether it passes would decide
/// those twice.
fn drops(
    evaluators: &[Box<dyn palisade_targets::Evaluator + '_>],
    model: &ClusterModel,
    conn: &Connection,
    rules: &mut Rules,
) -> Drops {
    evaluators
        .iter()
        .enumerate()
        // Asked plainly first: most connections pass, and only a drop needs
        // the rules that decided it written out.
        .filter(|(_, ev)| !ev.allows(model, conn))
        .filter_map(|(target, ev)| {
            let verdict = ev.evaluate(model, conn);
            (!verdict.allowed).then(|| {
                let decided = verdict.decided_by.into_iter().map(|r| rules.intern(r)).collect();
                (target, decided)
            })
        })
        .collect()
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

/// What judging a pair reads besides the pair
struct Report<'r> {
    suggester: &'r Suggester<'r>,
    rules: &'r Rules,
    targets: &'r [String],
    suggest_dropped: bool,
}

impl Report<'_> {
    fn target(&self, index: usize) -> &str {
        self.targets.get(index).map_or("", String::as_str)
    }

    /// One pair's drops, for people (the group, per port) and for programs,
    /// and the pair as an offender when some of it works today
    fn judge_pair(
        &self,
        (source, destination): (String, String),
        Pending { entries, from, to }: Pending,
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
            .filter(|(_, seen, _)| self.suggest_dropped || seen.works_today())
            .map(|(k, _, _)| *k)
            .collect();
        let allow = (!keys.is_empty()).then(|| self.suggester.allow_line(from, to, &keys));
        let would_drop = WouldDrop {
            source: source.clone(),
            destination: destination.clone(),
            flows: total.count,
            works_today: total.works_today(),
            dropped_today: dropped_today(&total),
            dropped_by: self.blockers(&entries),
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
                .iter()
                .map(|(key, seen, drops)| self.dropped(key, seen, drops))
                .collect(),
        };
        (group, would_drop, offender)
    }

    /// One port (and request) of a pair, with what drops it
    fn dropped(&self, key: &FlowKey, seen: &Seen, drops: &Drops) -> Dropped {
        Dropped {
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
                .iter()
                .map(|(target, ids)| {
                    let texts = ids.iter().filter_map(|&id| self.rules.texts.get(id).cloned()).collect();
                    (self.target(*target).to_string(), texts)
                })
                .collect(),
        }
    }

    /// The rules that drop a pair's conversations, each once (by target,
    /// policy and rule) with the ports it drops
    fn blockers(&self, entries: &[(&FlowKey, &Seen, Rc<Drops>)]) -> Vec<Blocker> {
        let mut out: Vec<Blocker> = Vec::new();
        let mut at: HashMap<(usize, usize), usize> = HashMap::new();
        for (key, _, drops) in entries {
            let port = port_label(key);
            for (target, ids) in drops.iter() {
                for &id in ids {
                    let joins = self.rules.joins.get(id).copied().flatten();
                    let found = joins.and_then(|j| at.get(&(*target, j))).and_then(|&i| out.get_mut(i));
                    match found {
                        Some(b) if !b.ports.contains(&port) => b.ports.push(port.clone()),
                        Some(_) => {}
                        None => {
                            let Some(parts) = self.rules.parts.get(id) else {
                                continue;
                            };
                            if let Some(j) = joins {
                                at.insert((*target, j), out.len());
                            }
                            out.push(Blocker {
                                target: self.target(*target).to_string(),
                                ports: vec![port.clone()],
                                ..parts.clone()
                            });
                        }
                    }
                }
            }
        }
        out
    }
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
            .collect::<Vec<_>>()
            .into(),
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
        assert_eq!(&b.sources[..], ["intents/shop.yaml#a-1", "intents/shop.yaml#b-2"]);
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
