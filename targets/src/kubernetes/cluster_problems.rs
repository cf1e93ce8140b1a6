//! What palisade cannot evaluate exactly in a ClusterNetworkPolicy that the
//! API server admits: selectors the API machinery cannot convert, peers the
//! cluster model cannot place, named ports beside `networks`, and policies
//! of one tier at one priority whose order is undefined.

use super::cluster::{ClusterPolicy, NamespacedPod, Pods, Spec};
use crate::{verdict::Direction, Problem};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::{BTreeMap, BTreeSet};

fn problem(manifest: usize, pointer: String, message: String, help: &str) -> Problem {
    Problem {
        manifest,
        pointer,
        message,
        help: help.into(),
    }
}

fn pods<'s>(at: String, p: &'s NamespacedPod, out: &mut Vec<(String, &'s LabelSelector)>) {
    if let Some(ns) = &p.namespace_selector {
        out.push((format!("{at}/namespaceSelector"), ns));
    }
    out.push((format!("{at}/podSelector"), &p.pod_selector));
}

/// Every label selector of the spec, with its pointer
fn every_selector(spec: &Spec) -> Vec<(String, &LabelSelector)> {
    let mut out = Vec::new();
    if let Some(ns) = &spec.subject.namespaces {
        out.push(("/spec/subject/namespaces".into(), ns));
    }
    if let Some(p) = &spec.subject.pods {
        pods("/spec/subject/pods".into(), p, &mut out);
    }
    let ingress = spec.ingress.iter().flatten().map(|r| &r.from);
    let egress = spec.egress.iter().flatten().map(|r| &r.to);
    let rules = ingress
        .enumerate()
        .map(|(i, peers)| (format!("/spec/ingress/{i}/from"), peers))
        .chain(
            egress
                .enumerate()
                .map(|(i, peers)| (format!("/spec/egress/{i}/to"), peers)),
        );
    for (at, peers) in rules {
        for (j, peer) in peers.iter().enumerate() {
            if let Some(ns) = &peer.namespaces {
                out.push((format!("{at}/{j}/namespaces"), ns));
            }
            if let Some(p) = &peer.pods {
                pods(format!("{at}/{j}/pods"), p, &mut out);
            }
        }
    }
    out
}

/// Expressions the API machinery refuses to turn into a selector
/// (`LabelSelectorAsSelector`); the CRD's schema does not check operators,
/// so the API server admits them and implementations cannot apply them
pub(super) fn selectors(spec: &Spec, index: usize, problems: &mut Vec<Problem>) {
    for (at, selector) in every_selector(spec) {
        for (i, e) in selector.match_expressions.iter().flatten().enumerate() {
            let values = e.values.as_ref().map_or(0, Vec::len);
            let wrong = match e.operator.as_str() {
                "In" | "NotIn" if values == 0 => Some("`In` and `NotIn` need at least one value"),
                "Exists" | "DoesNotExist" if values > 0 => Some("`Exists` and `DoesNotExist` take no values"),
                "In" | "NotIn" | "Exists" | "DoesNotExist" => None,
                _ => Some("the operator must be `In`, `NotIn`, `Exists` or `DoesNotExist`"),
            };
            if let Some(message) = wrong {
                problems.push(problem(
                    index,
                    format!("{at}/matchExpressions/{i}/operator"),
                    message.into(),
                    "In/NotIn with values, Exists/DoesNotExist without",
                ));
            }
        }
    }
}

/// Egress peers the cluster model cannot place, and named ports that have
/// no meaning for the addresses of a `networks` peer
pub(super) fn unevaluated(spec: &Spec, index: usize, problems: &mut Vec<Problem>) {
    for (i, rule) in spec.egress.iter().flatten().enumerate() {
        for (j, peer) in rule.to.iter().enumerate() {
            let at = format!("/spec/egress/{i}/to/{j}");
            if peer.nodes.is_some() {
                problems.push(problem(
                    index,
                    format!("{at}/nodes"),
                    "a `nodes` peer matches the nodes' addresses, which the cluster model does not hold".into(),
                    "write the node addresses as a `networks` peer to have it evaluated",
                ));
            }
            if peer.domain_names.is_some() {
                problems.push(problem(
                    index,
                    format!("{at}/domainNames"),
                    "a `domainNames` peer matches what DNS answers at run time, which palisade cannot know".into(),
                    "write the addresses as a `networks` peer to have it evaluated",
                ));
            }
        }
        if !rule.to.iter().any(|p| p.networks.is_some()) {
            continue;
        }
        for (k, entry) in rule.protocols.iter().flatten().enumerate() {
            if entry.destination_named_port.is_some() {
                problems.push(problem(
                    index,
                    format!("/spec/egress/{i}/protocols/{k}"),
                    "a named port cannot be used in a rule with a `networks` peer: addresses have no named ports, and implementations differ (the experimental CRD refuses it)".into(),
                    "write the port number, or put the `networks` peer in a rule of its own",
                ));
            }
        }
    }
}

/// Policies of one tier at one priority that may both select a pod and
/// both act in one direction with different actions: the specification
/// says "the implementation can apply any of the matching policies", so
/// the verdict would be a guess
pub(super) fn ties(policies: &[ClusterPolicy]) -> Vec<Problem> {
    let mut out = Vec::new();
    for (n, a) in policies.iter().enumerate() {
        for b in policies.iter().skip(n + 1) {
            if (a.tier, a.priority) != (b.tier, b.priority) {
                continue;
            }
            let Some(direction) = [Direction::Ingress, Direction::Egress]
                .into_iter()
                .find(|d| ambiguous(a, b, *d))
            else {
                continue;
            };
            let (first, second) = if a.index <= b.index { (a, b) } else { (b, a) };
            let key = match direction {
                Direction::Ingress => "ingress",
                Direction::Egress => "egress",
            };
            out.push(problem(
                second.index,
                "/spec/priority".into(),
                format!(
                    "`{}` and `{}` share priority {} of the {:?} tier and may select the same pods: which one applies first to {key} is undefined",
                    first.manifest.name(),
                    second.manifest.name(),
                    second.priority,
                    second.tier
                ),
                "give each ClusterNetworkPolicy of a tier its own priority",
            ));
        }
    }
    out
}

fn ambiguous(a: &ClusterPolicy, b: &ClusterPolicy, direction: Direction) -> bool {
    let (ra, rb) = (a.rules(direction), b.rules(direction));
    if ra.is_empty() || rb.is_empty() || disjoint(&a.subject, &b.subject) {
        return false;
    }
    // Rules that all act alike give one verdict in either order.
    let actions: BTreeSet<&str> = ra.iter().chain(rb).map(|r| r.action.name()).collect();
    actions.len() > 1
}

/// Whether no pod can be selected by both
fn disjoint(a: &Pods, b: &Pods) -> bool {
    unsatisfiable(&[&a.namespaces, &b.namespaces]) || unsatisfiable(&[&a.pods, &b.pods])
}

/// What the selectors together ask of one label key
#[derive(Default)]
struct Constraint {
    /// the value must be one of these (`None`: any)
    within: Option<BTreeSet<String>>,
    excluded: BTreeSet<String>,
    present: bool,
    absent: bool,
}

impl Constraint {
    fn only(&mut self, values: BTreeSet<String>) {
        self.present = true;
        self.within = Some(match self.within.take() {
            Some(before) => before.intersection(&values).cloned().collect(),
            None => values,
        });
    }

    fn impossible(&self) -> bool {
        (self.present && self.absent) || self.within.as_ref().is_some_and(|w| w.is_subset(&self.excluded))
    }
}

/// Whether no set of labels satisfies all the selectors at once (answered
/// conservatively: `false` unless a key's constraints contradict)
fn unsatisfiable(selectors: &[&LabelSelector]) -> bool {
    let mut keys: BTreeMap<&str, Constraint> = BTreeMap::new();
    for selector in selectors {
        for (k, v) in selector.match_labels.iter().flatten() {
            keys.entry(k).or_default().only(BTreeSet::from([v.clone()]));
        }
        for e in selector.match_expressions.iter().flatten() {
            let values: BTreeSet<String> = e.values.iter().flatten().cloned().collect();
            let c = keys.entry(&e.key).or_default();
            match e.operator.as_str() {
                "In" => c.only(values),
                "NotIn" => c.excluded.extend(values),
                "Exists" => c.present = true,
                "DoesNotExist" => c.absent = true,
                _ => {}
            }
        }
    }
    keys.values().any(Constraint::impossible)
}
