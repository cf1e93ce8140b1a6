//! ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2, network-policy-api
//! v0.2.0): the objects typed once, and the decision of one tier.
//!
//! What this follows (apis/v1alpha2/clusternetworkpolicy_types.go @v0.2.0):
//! - A tier's policies run in ascending `priority`; inside one, the rules of
//!   a direction run in written order and the first that matches decides:
//!   Accept and Deny are final, Pass skips the rest of the tier. A policy
//!   without rules in a direction does not affect it. There is no implicit
//!   isolation: a selected pod with no matching rule falls through.
//! - `subject` selects pods (`namespaces`, or `pods` with an optional
//!   `namespaceSelector` that selects all when absent); peers select pods the
//!   same way, and egress `networks` match addresses, pods' own included
//!   ("cluster-internal traffic will be checked against the rule as well").
//! - A peer or protocol entry that does not set exactly one member "fails
//!   closed": an Accept rule matches nothing, a Deny or Pass rule denies all.
//! - No `protocols`: every protocol and port; a named port resolves on the
//!   destination pod's container ports.
//!
//! What cannot be evaluated exactly is a [`Problem`] (see [`read`]): `nodes`
//! and `domainNames` peers (the model knows no nodes and no DNS answers), a
//! named port beside `networks`, selectors the API machinery cannot convert,
//! objects that do not parse, and policies of one tier at one priority that
//! may select the same pods, whose order the specification leaves undefined.

use super::selector::selects;
use crate::{verdict::Direction, Manifest, Problem, RuleRef};
use ipnet::IpNet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use palisade_compiler::model::{ClusterModel, Connection, Endpoint, Pod};
use palisade_intents::{syntax::Protocol, types::Labels};
use serde::Deserialize;

pub(crate) use super::cluster_spec::{NamespacedPod, Peer, ProtocolEntry, Spec};
use std::borrow::Cow;

/// The apiVersion this module reads
pub(crate) const API_VERSION: &str = "policy.networking.k8s.io/v1alpha2";
/// The kind this module reads
pub(crate) const KIND: &str = "ClusterNetworkPolicy";

/// Whether the manifest is a ClusterNetworkPolicy of the version read here
pub(crate) fn is_cluster_policy(manifest: &Manifest) -> bool {
    manifest.api_version() == API_VERSION && manifest.kind() == KIND
}

/// Which tier a policy sits in: Admin before NetworkPolicy, Baseline after
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub(crate) enum Tier {
    /// evaluated before NetworkPolicy
    Admin,
    /// evaluated for what NetworkPolicy does not decide
    Baseline,
}

/// What a rule does with the traffic it matches
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum Action {
    /// allow; no further rule of any tier in this direction
    Accept,
    /// drop; no further rule of any tier in this direction
    Deny,
    /// skip the rest of this tier
    Pass,
}

impl Action {
    /// As written in the manifest
    pub(super) fn name(self) -> &'static str {
        match self {
            Action::Accept => "Accept",
            Action::Deny => "Deny",
            Action::Pass => "Pass",
        }
    }
}

/// Who a subject or pod peer selects: pods by label in namespaces by label
#[derive(Debug, Clone)]
pub(super) struct Pods {
    pub(super) namespaces: LabelSelector,
    pub(super) pods: LabelSelector,
}

/// A peer as evaluated
#[derive(Debug, Clone)]
enum Target {
    Pods(Pods),
    Networks(Vec<IpNet>),
    /// `nodes`, `domainNames`: reported as problems, matched by nothing here
    Unevaluated,
}

/// A protocol entry as evaluated
#[derive(Debug, Clone)]
enum Ports {
    Numbers(Protocol, u16, u16),
    Named(String),
}

/// A rule as evaluated
#[derive(Debug, Clone)]
pub(super) struct Rule {
    name: Option<String>,
    pub(super) action: Action,
    targets: Vec<Target>,
    /// `None`: every protocol and port
    ports: Option<Vec<Ports>>,
    /// a peer or protocol entry that does not set exactly one member
    malformed: bool,
}

impl Rule {
    /// The action this rule takes on the connection, if it matches. A
    /// malformed rule fails closed as the peer types' godoc says.
    fn acts_on(&self, model: &ClusterModel, other: &Endpoint, conn: &Connection) -> Option<Action> {
        if self.malformed {
            return (self.action != Action::Accept).then_some(Action::Deny);
        }
        let peer = self.targets.iter().any(|t| target_matches(t, model, other));
        let port = self
            .ports
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| ports_match(p, conn)));
        (peer && port).then_some(self.action)
    }
}

/// One ClusterNetworkPolicy, read
pub(super) struct ClusterPolicy<'m> {
    pub(super) manifest: &'m Manifest,
    /// its index in the manifests read, for problems
    pub(super) index: usize,
    pub(super) tier: Tier,
    pub(super) priority: i32,
    pub(super) subject: Pods,
    pub(super) ingress: Vec<Rule>,
    pub(super) egress: Vec<Rule>,
}

impl ClusterPolicy<'_> {
    pub(super) fn rules(&self, direction: Direction) -> &[Rule] {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }
}

/// The ClusterNetworkPolicies of a manifest set, each tier in evaluation
/// order, and what in them cannot be evaluated
#[derive(Default)]
pub(super) struct ClusterPolicies<'m> {
    /// by (tier, priority, name): ties are problems, the name only keeps
    /// the order deterministic
    pub(super) policies: Vec<ClusterPolicy<'m>>,
    pub(super) problems: Vec<Problem>,
}

/// A tier's decision on one side of a connection
pub(super) struct Decision<'p, 'm> {
    pub(super) action: Action,
    policy: &'p ClusterPolicy<'m>,
    direction: Direction,
    rule: usize,
}

impl Decision<'_, '_> {
    /// The tier, the policy and the rule that decided, for explanations
    pub(super) fn reference(&self) -> RuleRef {
        let p = self.policy;
        let key = match self.direction {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        };
        let rule = p.rules(self.direction).get(self.rule);
        let name = rule
            .and_then(|r| r.name.as_deref())
            .map(|n| format!(" `{n}`"))
            .unwrap_or_default();
        let written = rule.map_or(self.action, |r| r.action);
        let failed = if rule.is_some_and(|r| r.malformed) {
            "; a peer or protocol it cannot read makes it deny all"
        } else {
            ""
        };
        let tier = match p.tier {
            Tier::Admin => "Admin",
            Tier::Baseline => "Baseline",
        };
        RuleRef {
            policy: p.manifest.reference(),
            rule: format!(
                "{key}[{}]{name} {} ({tier} tier, priority {}{failed})",
                self.rule,
                written.name(),
                p.priority
            ),
            source: p.manifest.source(),
        }
    }
}

impl<'m> ClusterPolicies<'m> {
    /// Whether there is no ClusterNetworkPolicy at all
    pub(super) fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.problems.is_empty()
    }

    /// The first rule of `tier` that acts on the pod's side of the connection
    pub(super) fn decide<'p>(
        &'p self,
        tier: Tier,
        model: &ClusterModel,
        pod: &Pod,
        conn: &Connection,
        direction: Direction,
    ) -> Option<Decision<'p, 'm>> {
        let other = match direction {
            Direction::Ingress => &conn.from,
            Direction::Egress => &conn.to,
        };
        for policy in self.policies.iter().filter(|p| p.tier == tier) {
            let rules = policy.rules(direction);
            if rules.is_empty() || !pods_select(&policy.subject, model, pod) {
                continue;
            }
            for (rule, r) in rules.iter().enumerate() {
                if let Some(action) = r.acts_on(model, other, conn) {
                    return Some(Decision {
                        action,
                        policy,
                        direction,
                        rule,
                    });
                }
            }
        }
        None
    }
}

/// Read every ClusterNetworkPolicy of the manifests, with the problems
pub(super) fn read(manifests: &[Manifest]) -> ClusterPolicies<'_> {
    let mut out = ClusterPolicies::default();
    for (index, manifest) in manifests.iter().enumerate().filter(|(_, m)| is_cluster_policy(m)) {
        let before = out.problems.len();
        let Some(policy) = policy(manifest, index, &mut out.problems) else {
            continue;
        };
        // A policy with a problem is kept out of evaluation; the evaluator
        // fails closed on the problem anyway.
        if out.problems.len() == before {
            out.policies.push(policy);
        }
    }
    out.policies
        .sort_by(|a, b| (a.tier, a.priority, a.manifest.name()).cmp(&(b.tier, b.priority, b.manifest.name())));
    let ties = super::cluster_problems::ties(&out.policies);
    out.problems.extend(ties);
    out.problems.sort_by_key(|p| p.manifest);
    out
}

fn problem(manifest: usize, pointer: impl Into<String>, message: String, help: &str) -> Problem {
    Problem {
        manifest,
        pointer: pointer.into(),
        message,
        help: help.into(),
    }
}

fn policy<'m>(manifest: &'m Manifest, index: usize, problems: &mut Vec<Problem>) -> Option<ClusterPolicy<'m>> {
    let spec = manifest.object.get("spec").cloned().unwrap_or_default();
    let spec: Spec = match serde_json::from_value(spec) {
        Ok(spec) => spec,
        Err(e) => {
            problems.push(problem(
                index,
                "/spec",
                format!("the spec does not read as a ClusterNetworkPolicy: {e}"),
                "fix what admission reports for this object",
            ));
            return None;
        }
    };
    let subject = match (&spec.subject.namespaces, &spec.subject.pods) {
        (Some(namespaces), None) => Pods {
            namespaces: namespaces.clone(),
            pods: LabelSelector::default(),
        },
        (None, Some(pods)) => namespaced(pods),
        _ => {
            problems.push(problem(
                index,
                "/spec/subject",
                "the subject must set exactly one of `namespaces` and `pods`".into(),
                "write `subject: { namespaces: {...} }` or `subject: { pods: {...} }`",
            ));
            return None;
        }
    };
    super::cluster_problems::selectors(&spec, index, problems);
    let ingress = spec.ingress.iter().flatten();
    let ingress = ingress.map(|r| rule(r.name.clone(), r.action, &r.from, r.protocols.as_deref(), true));
    let egress = spec.egress.iter().flatten();
    let egress = egress.map(|r| rule(r.name.clone(), r.action, &r.to, r.protocols.as_deref(), false));
    let policy = ClusterPolicy {
        manifest,
        index,
        tier: spec.tier,
        priority: spec.priority,
        subject,
        ingress: ingress.collect(),
        egress: egress.collect(),
    };
    super::cluster_problems::unevaluated(&spec, index, problems);
    Some(policy)
}

fn namespaced(pods: &NamespacedPod) -> Pods {
    Pods {
        namespaces: pods.namespace_selector.clone().unwrap_or_default(),
        pods: pods.pod_selector.clone(),
    }
}

fn rule(
    name: Option<String>,
    action: Action,
    peers: &[Peer],
    protocols: Option<&[ProtocolEntry]>,
    ingress: bool,
) -> Rule {
    let targets: Vec<Option<Target>> = peers.iter().map(|p| target(p, ingress)).collect();
    let ports: Option<Vec<Option<Ports>>> = protocols.map(|ps| ps.iter().map(ports).collect());
    let malformed = targets.iter().any(Option::is_none)
        || peers.is_empty()
        || ports
            .as_ref()
            .is_some_and(|ps| ps.is_empty() || ps.iter().any(Option::is_none));
    Rule {
        name,
        action,
        targets: targets.into_iter().flatten().collect(),
        ports: ports.map(|ps| ps.into_iter().flatten().collect()),
        malformed,
    }
}

/// The peer as evaluated; `None` when it does not set exactly one member
/// it may set (ingress peers have no `networks`, `nodes`, `domainNames`)
fn target(peer: &Peer, ingress: bool) -> Option<Target> {
    let set = [
        peer.namespaces.is_some(),
        peer.pods.is_some(),
        peer.networks.is_some(),
        peer.nodes.is_some(),
        peer.domain_names.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        return None;
    }
    if let Some(namespaces) = &peer.namespaces {
        return Some(Target::Pods(Pods {
            namespaces: namespaces.clone(),
            pods: LabelSelector::default(),
        }));
    }
    if let Some(pods) = &peer.pods {
        return Some(Target::Pods(namespaced(pods)));
    }
    if ingress {
        return None;
    }
    match &peer.networks {
        Some(networks) if !networks.is_empty() => {
            let parsed: Result<Vec<IpNet>, _> = networks.iter().map(|n| n.parse::<IpNet>()).collect();
            parsed.ok().map(Target::Networks)
        }
        Some(_) => None,
        None => Some(Target::Unevaluated),
    }
}

fn ports(entry: &ProtocolEntry) -> Option<Ports> {
    let members = [
        entry.tcp.as_ref().map(|p| (Protocol::Tcp, p)),
        entry.udp.as_ref().map(|p| (Protocol::Udp, p)),
        entry.sctp.as_ref().map(|p| (Protocol::Sctp, p)),
    ];
    let named = entry.destination_named_port.as_ref();
    let count = members.iter().flatten().count() + usize::from(named.is_some());
    if count != 1 {
        return None;
    }
    if let Some(name) = named {
        return Some(Ports::Named(name.clone()));
    }
    let (protocol, entry) = members.into_iter().flatten().next()?;
    let port = entry.destination_port.as_ref()?;
    let in_range = |n: i64| u16::try_from(n).ok().filter(|n| *n >= 1);
    match (port.number, &port.range) {
        (Some(n), None) => in_range(n).map(|n| Ports::Numbers(protocol, n, n)),
        (None, Some(r)) if r.start < r.end => Some(Ports::Numbers(protocol, in_range(r.start)?, in_range(r.end)?)),
        _ => None,
    }
}

/// A namespace's labels; one the model does not hold has the label every
/// namespace gets from the API server
fn namespace_labels<'a>(model: &'a ClusterModel, name: &str) -> Cow<'a, Labels> {
    match model.namespace(name) {
        Some(ns) => Cow::Borrowed(&ns.labels),
        None => Cow::Owned(Labels::from([(
            "kubernetes.io/metadata.name".to_string(),
            name.to_string(),
        )])),
    }
}

/// Whether pods by label in namespaces by label include the pod
pub(super) fn pods_select(pods: &Pods, model: &ClusterModel, pod: &Pod) -> bool {
    selects(&pods.pods, &pod.labels) && selects(&pods.namespaces, &namespace_labels(model, &pod.namespace))
}

fn target_matches(target: &Target, model: &ClusterModel, other: &Endpoint) -> bool {
    match (target, other) {
        (Target::Pods(pods), Endpoint::Pod(pod)) => pods_select(pods, model, pod),
        (Target::Pods(_), Endpoint::External(_)) => false,
        (Target::Networks(nets), Endpoint::External(ext)) => nets.iter().any(|n| n.contains(&ext.ip)),
        // Networks match pod addresses too; a pod without one matches none.
        (Target::Networks(nets), Endpoint::Pod(pod)) => {
            pod.address().is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
        }
        (Target::Unevaluated, _) => false,
    }
}

fn ports_match(ports: &Ports, conn: &Connection) -> bool {
    match ports {
        Ports::Numbers(protocol, first, last) => *protocol == conn.protocol && (*first..=*last).contains(&conn.port),
        // The named port is the destination pod's, for ingress as for egress.
        Ports::Named(name) => match conn.to {
            Endpoint::Pod(dst) => dst.ports.iter().any(|c| {
                c.name.as_deref() == Some(name.as_str()) && c.protocol == conn.protocol && c.port == conn.port
            }),
            Endpoint::External(_) => false,
        },
    }
}
