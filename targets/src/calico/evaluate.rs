//! The Calico policy semantics, read from the manifests alone, as the API
//! reference and Felix define them:
//!
//! - Tiers in ascending `order` (absent: last), ties by name. In each tier
//!   that has a policy applying to the endpoint (its `selector` matches, in
//!   its namespace, or for a GlobalNetworkPolicy in any namespace its
//!   `namespaceSelector` picks, and `types` holds the direction), the
//!   policies run in ascending `order` (absent: +infinity), ties broken by
//!   `name/namespace/kind` (felix/calc/policy_sorter.go). The first rule that
//!   matches decides: Allow, Deny; Pass skips to the next tier that applies;
//!   Log goes on. No rule decided: the tier's default action (Deny, or Pass).
//!   After the last tier (or with no policy at all) the namespace profile
//!   allows. Staged kinds enforce nothing.
//! - A rule's `selector` matches an address, not a kind: the addresses of the
//!   workload endpoints it selects and the CIDRs of the network sets it
//!   selects (reference/resources/networkset). A namespaced policy's rule
//!   selectors are confined to the policy's namespace, or to the namespaces
//!   `namespaceSelector` picks (`all()`: any namespace, `global()`: the
//!   non-namespaced sets); `notSelector` is not confined
//!   (libcalico-go updateprocessors/rules.go).
//! - Workload endpoints carry their pod's labels plus
//!   `projectcalico.org/namespace`, `projectcalico.org/orchestrator: k8s` and
//!   `projectcalico.org/serviceaccount`; NetworkSets carry their own labels and
//!   `projectcalico.org/namespace`, never the orchestrator label.
//!
//! Objects that cannot be evaluated as written are `Problem`s (see
//! `problems`): while any exists, every connection is denied and the verdict
//! names the problem, so no caller reads a broken policy as a narrow one.

use super::objects::{self, Action, Entity, NetworkSet, Objects, Policy, PortMatch, Problem, Rule};
use super::selector::Scope;
use crate::{
    memo::{PerPod, Selection},
    verdict::{both_sides, Direction},
    Evaluator, Manifest, RuleRef, Verdict,
};
use palisade_compiler::model::{ClusterModel, Connection, Endpoint, Pod};
use std::{collections::BTreeMap, net::IpAddr, rc::Rc};

/// The label Calico puts on every workload endpoint (value `k8s` for pods)
pub(super) const ORCHESTRATOR: &str = "projectcalico.org/orchestrator";

/// The enforcing Calico objects of a manifest set
pub(super) struct Policies<'m> {
    pub(super) objects: Objects<'m>,
    /// (tier, policy) of every policy, tier by tier, in evaluation order
    pub(super) flat: Vec<(usize, usize)>,
    selection: Selection,
    /// each pod's workload endpoint labels: rule selectors ask for them per
    /// rule and connection
    labels: PerPod<Rc<BTreeMap<String, String>>>,
    manifests: &'m [Manifest],
}

/// What cannot be evaluated in these manifests
pub(super) fn problems(manifests: &[Manifest]) -> Vec<Problem> {
    objects::read(manifests).problems
}

impl<'m> Policies<'m> {
    pub(super) fn read(manifests: &'m [Manifest]) -> Self {
        let objects = objects::read(manifests);
        let flat = objects
            .tiers
            .iter()
            .enumerate()
            .flat_map(|(t, tier)| (0..tier.policies.len()).map(move |p| (t, p)))
            .collect();
        Self {
            objects,
            flat,
            selection: Selection::default(),
            labels: PerPod::default(),
            manifests,
        }
    }

    pub(super) fn policy(&self, (t, p): (usize, usize)) -> Option<&Policy<'m>> {
        self.objects.tiers.get(t)?.policies.get(p)
    }
}

impl Evaluator for Policies<'_> {
    fn decide(&self, model: &ClusterModel, conn: &Connection, explain: bool) -> Verdict {
        if let Some(problem) = self.objects.problems.first() {
            let policy = self
                .manifests
                .get(problem.manifest)
                .map(Manifest::reference)
                .unwrap_or_default();
            return Verdict {
                allowed: false,
                decided_by: vec![RuleRef {
                    policy,
                    rule: format!("not evaluated: {} ({})", problem.message, problem.pointer),
                    source: None,
                }],
            };
        }
        both_sides(conn, |pod, direction| self.side(model, pod, conn, direction, explain))
    }

    fn sides(&self, universe: &palisade_relation::Universe) -> Option<palisade_relation::Sides> {
        super::symbolic::sides(self, universe)
    }
}

/// A workload endpoint's labels: the pod's own, then the ones Calico adds,
/// which win (libcalico-go k8s/conversion/workload_endpoint_default.go)
pub(super) fn pod_labels(pod: &Pod) -> BTreeMap<String, String> {
    let mut labels = pod.labels.clone();
    labels.insert("projectcalico.org/namespace".into(), pod.namespace.clone());
    labels.insert(ORCHESTRATOR.into(), "k8s".into());
    if let Some(sa) = &pod.service_account {
        labels.insert("projectcalico.org/serviceaccount".into(), sa.clone());
    }
    labels
}

pub(super) fn set_labels(set: &NetworkSet) -> &BTreeMap<String, String> {
    &set.labels
}

/// A namespace's labels as `namespaceSelector` reads them (plus `projectcalico.org/name`)
pub(super) fn namespace_labels(model: &ClusterModel, name: &str) -> BTreeMap<String, String> {
    let mut labels = model.namespace(name).map(|n| n.labels.clone()).unwrap_or_default();
    labels.insert("projectcalico.org/name".into(), name.to_string());
    labels
}

/// A service account's labels as `serviceAccounts.selector` reads them: the
/// model knows only the name (`projectcalico.org/name`)
pub(super) fn account_labels(name: Option<&str>) -> BTreeMap<String, String> {
    name.map(|n| BTreeMap::from([("projectcalico.org/name".to_string(), n.to_string())]))
        .unwrap_or_default()
}

/// Something a rule's selectors can pick: a pod (with its endpoint's
/// labels, [`pod_labels`]), or a network set
pub(super) enum Candidate<'a> {
    Pod(&'a Pod, &'a BTreeMap<String, String>),
    Set(&'a NetworkSet),
}

impl Candidate<'_> {
    fn namespace(&self) -> Option<&str> {
        match self {
            Candidate::Pod(p, _) => Some(&p.namespace),
            Candidate::Set(s) => s.namespace.as_deref(),
        }
    }

    fn labels(&self) -> &BTreeMap<String, String> {
        match self {
            Candidate::Pod(_, labels) => labels,
            Candidate::Set(s) => set_labels(s),
        }
    }

    fn account(&self) -> Option<&str> {
        match self {
            Candidate::Pod(p, _) => p.service_account.as_deref(),
            Candidate::Set(_) => None,
        }
    }
}

impl Policies<'_> {
    /// Whether `policy` applies to `pod` (direction aside)
    fn applies(&self, model: &ClusterModel, policy: &Policy, pod: &Pod) -> bool {
        let labels = self.labels_of(model, pod);
        let in_scope = match (policy.namespace, &policy.namespace_selector) {
            (Some(ns), _) => pod.namespace == ns,
            // GlobalNetworkPolicy: namespaceSelector's all() is has(namespace), true for a pod;
            // its global() evaluates true (globalnetworkpolicyprocessor.go rewrites only all()).
            (None, Some(s)) => s.matches(&namespace_labels(model, &pod.namespace)),
            (None, None) => true,
        };
        // Calico rewrites all() here to has(projectcalico.org/serviceaccount).
        let account_ok = policy.account_selector.as_ref().is_none_or(|s| {
            let scope = Scope {
                all: pod.service_account.is_some(),
                global: true,
            };
            s.matches_in(&account_labels(pod.service_account.as_deref()), scope)
        });
        in_scope && account_ok && policy.selector.matches(&labels)
    }

    /// [`pod_labels`], built once per pod of the model
    fn labels_of(&self, model: &ClusterModel, pod: &Pod) -> Rc<BTreeMap<String, String>> {
        self.labels.get_or(model, pod, || Rc::new(pod_labels(pod)))
    }

    fn side(
        &self,
        model: &ClusterModel,
        pod: &Pod,
        conn: &Connection,
        direction: Direction,
        explain: bool,
    ) -> (bool, Vec<RuleRef>) {
        let applying = self.selection.of(model, pod, || {
            (0..self.flat.len())
                .filter(|&i| {
                    self.flat
                        .get(i)
                        .and_then(|&at| self.policy(at))
                        .is_some_and(|p| self.applies(model, p, pod))
                })
                .collect()
        });
        let reference = |m: &Manifest, rule: String| -> Vec<RuleRef> {
            if !explain {
                return Vec::new();
            }
            vec![RuleRef {
                policy: m.reference(),
                rule,
                source: m.source(),
            }]
        };
        let key = match direction {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        };
        let mut index = 0;
        while let Some(&(tier, _)) = applying.get(index).and_then(|&i| self.flat.get(i)) {
            let mut last: Option<&Policy> = None;
            let mut passed = false;
            // The policies of this tier that apply to the pod, in order.
            while let Some(&(t, p)) = applying.get(index).and_then(|&i| self.flat.get(i)) {
                if t != tier {
                    break;
                }
                index += 1;
                if passed {
                    continue;
                }
                let Some(policy) = self.policy((t, p)) else { continue };
                let rules = match direction {
                    Direction::Ingress => policy.ingress.as_ref(),
                    Direction::Egress => policy.egress.as_ref(),
                };
                let Some(rules) = rules else { continue };
                last = Some(policy);
                for (i, rule) in rules.iter().enumerate() {
                    if !self.rule_matches(rule, policy, model, conn, direction) {
                        continue;
                    }
                    match rule.action {
                        Action::Allow => return (true, reference(policy.manifest, format!("{key}[{i}] Allow"))),
                        Action::Deny => return (false, reference(policy.manifest, format!("{key}[{i}] Deny"))),
                        Action::Pass => {
                            passed = true;
                            break;
                        }
                        Action::Log => {}
                    }
                }
            }
            let Some(policy) = last else { continue };
            let pass_at_end = self.objects.tiers.get(tier).is_some_and(|t| t.pass_at_end);
            if !passed && !pass_at_end {
                return (false, reference(policy.manifest, "end of tier".into()));
            }
        }
        (true, Vec::new())
    }

    fn rule_matches(
        &self,
        rule: &Rule,
        policy: &Policy,
        model: &ClusterModel,
        conn: &Connection,
        direction: Direction,
    ) -> bool {
        let number = match conn.protocol.as_k8s() {
            "TCP" => 6,
            "UDP" => 17,
            _ => 132,
        };
        if rule.protocol.is_some_and(|p| p != number) || rule.not_protocol == Some(number) {
            return false;
        }
        if let Some(version) = rule.ip_version {
            let family = address(&conn.from).or(address(&conn.to)).map(|ip| ip.is_ipv4());
            if family != Some(version == 4) {
                return false;
            }
        }
        let domains_count = direction == Direction::Egress && rule.action == Action::Allow;
        self.entity_matches(&rule.source, policy, model, &conn.from, None, false)
            && self.entity_matches(&rule.destination, policy, model, &conn.to, Some(conn), domains_count)
    }

    /// An entity rule; ports only on the destination. `domains_count`: an
    /// egress Allow destination, where Calico Enterprise domains take effect
    pub(super) fn entity_matches(
        &self,
        entity: &Entity,
        policy: &Policy,
        model: &ClusterModel,
        endpoint: &Endpoint,
        conn: Option<&Connection>,
        domains_count: bool,
    ) -> bool {
        let ip = address(endpoint);
        let held = |nets: &[ipnet::IpNet]| ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)));
        if entity.nets.as_ref().is_some_and(|nets| !held(nets)) {
            return false;
        }
        if held(&entity.not_nets) {
            return false;
        }
        if let Some(domains) = &entity.domains {
            let name = match endpoint {
                Endpoint::External(e) => e.fqdn.as_deref(),
                Endpoint::Pod(_) => None,
            };
            if !domains_count || !name.is_some_and(|n| domains.iter().any(|d| domain_matches(d, n))) {
                return false;
            }
        }
        let (positive, confined) = confinement(entity, policy);
        if positive || confined {
            let picks = |c: &Candidate| picks(entity, policy, model, confined, c);
            if !self.in_ip_set(model, endpoint, ip, &picks, domains_count) {
                return false;
            }
        }
        if let Some(not) = &entity.not_selector {
            let picks = |c: &Candidate| not.matches(c.labels());
            if self.in_ip_set(model, endpoint, ip, &picks, domains_count) {
                return false;
            }
        }
        let Some(conn) = conn else { return true };
        if entity
            .ports
            .as_ref()
            .is_some_and(|ports| !ports.iter().any(|p| port_matches(p, conn)))
        {
            return false;
        }
        !entity.not_ports.iter().any(|p| port_matches(p, conn))
    }

    /// Whether the address is in the IP set of what `picks` selects: the
    /// endpoint itself when it is a picked pod, or a picked network set's CIDRs
    /// (or, on an egress Allow destination, its Enterprise domains)
    fn in_ip_set(
        &self,
        model: &ClusterModel,
        endpoint: &Endpoint,
        ip: Option<IpAddr>,
        picks: &dyn Fn(&Candidate) -> bool,
        domains_count: bool,
    ) -> bool {
        if let Endpoint::Pod(pod) = endpoint {
            if picks(&Candidate::Pod(pod, &self.labels_of(model, pod))) {
                return true;
            }
        }
        let name = match endpoint {
            Endpoint::External(e) if domains_count => e.fqdn.as_deref(),
            _ => None,
        };
        self.objects.sets.iter().any(|set| {
            let holds = ip.is_some_and(|ip| set.nets.iter().any(|n| n.contains(&ip)))
                || name.is_some_and(|n| set.domains.iter().any(|d| domain_matches(d, n)));
            holds && picks(&Candidate::Set(set))
        })
    }
}

/// Whether the entity's positive matches (`selector`, `serviceAccounts`)
/// are there, and whether its matches are confined to namespaces (its
/// `namespaceSelector`, or a namespaced policy's own namespace)
pub(super) fn confinement(entity: &Entity, policy: &Policy) -> (bool, bool) {
    let positive = entity.selector.is_some() || entity.accounts.is_some();
    let confined = entity.namespace_selector.is_some()
        || (policy.namespace.is_some() && (positive || entity.not_selector.is_some()));
    (positive, confined)
}

/// Whether the entity's namespace scope, `selector` and `serviceAccounts`
/// all pick the candidate
pub(super) fn picks(entity: &Entity, policy: &Policy, model: &ClusterModel, confined: bool, c: &Candidate) -> bool {
    // the cheap tests first: a namespace selector copies the namespace's labels
    let in_own_namespace = match (&entity.namespace_selector, policy.namespace) {
        (None, Some(own)) if confined => c.namespace() == Some(own),
        _ => true,
    };
    in_own_namespace
        && {
            let labels = c.labels();
            entity.selector.as_ref().is_none_or(|s| s.matches(labels))
                && entity.accounts.as_ref().is_none_or(|a| {
                    (a.names.is_empty() || c.account().is_some_and(|n| a.names.iter().any(|x| x == n)))
                        && a.selector
                            .as_ref()
                            .is_none_or(|s| s.matches(&account_labels(c.account())))
                })
        }
        && entity.namespace_selector.as_ref().is_none_or(|s| match c.namespace() {
            Some(ns) => s.matches_in(&namespace_labels(model, ns), Scope::namespace_of(true)),
            None => s.matches_in(&BTreeMap::new(), Scope::namespace_of(false)),
        })
}

/// The endpoint's address; a pod the dump shows without one has none, and
/// no CIDR holds it
fn address(endpoint: &Endpoint) -> Option<IpAddr> {
    match endpoint {
        Endpoint::Pod(p) => p.address(),
        Endpoint::External(e) => Some(e.ip),
    }
}

/// Calico Enterprise domain matching: exact, or with one `*` standing for
/// one or more labels at its position (`*.google.com` matches
/// `www.ipv6.google.com`, not `google.com`; docs.tigera.io
/// calico-enterprise/latest/network-policy/domain-based-policy)
pub(super) fn domain_matches(pattern: &str, name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let pattern = pattern.strip_suffix('.').unwrap_or(pattern).to_ascii_lowercase();
    let Some((head, tail)) = pattern.split_once('*') else {
        return name == pattern;
    };
    let Some(middle) = name.strip_prefix(head).and_then(|rest| rest.strip_suffix(tail)) else {
        return false;
    };
    // The star covers whole labels: at least one, none empty.
    !middle.is_empty() && middle.split('.').all(|l| !l.is_empty())
}

/// A port: a number, a range, or a named port of the destination pod
fn port_matches(port: &PortMatch, conn: &Connection) -> bool {
    match port {
        PortMatch::Range(a, b) => (*a..=*b).contains(&conn.port),
        PortMatch::Named(name) => match conn.to {
            Endpoint::Pod(dst) => dst
                .ports
                .iter()
                .any(|c| c.name.as_deref() == Some(name) && c.port == conn.port && c.protocol == conn.protocol),
            Endpoint::External(_) => false,
        },
    }
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
