//! The Calico policy semantics (one tier), read from the manifests alone.
//!
//! Policies of an endpoint's namespace whose `selector` matches it apply to
//! the directions in `types`, in ascending `order` (then name). The first rule
//! that matches decides: Allow or Deny; Pass leaves the tier (and, with no
//! later tier, the namespace profile allows); Log goes on. An endpoint some
//! policy selected, and no rule decided, meets the end-of-tier deny. Staged
//! kinds are reports, not enforcement: ignored here. `nets` match any address,
//! pods' included; a rule `selector` matches pods of the policy's namespace (or
//! of the namespaces `namespaceSelector` picks) and the addresses of
//! NetworkSets of that namespace that are not pods.

use super::selector::Selector;
use crate::manifest::Field;
use crate::{
    memo::Selection,
    verdict::{both_sides, Direction},
    Evaluator, Manifest, RuleRef, Verdict,
};
use ipnet::IpNet;
use palisade_compiler::model::{ClusterModel, Connection, Endpoint, Pod};
use serde_json::Value;
use std::{
    cell::RefCell,
    collections::{BTreeMap, HashMap},
    net::IpAddr,
};

/// The enforcing Calico objects of a manifest set, policies sorted by order
pub(super) struct Policies<'m> {
    policies: Vec<&'m Manifest>,
    /// indices into `policies` (still in order) per namespace: a policy only
    /// selects endpoints of its own namespace
    by_namespace: HashMap<&'m str, Vec<usize>>,
    network_sets: Vec<&'m Manifest>,
    selection: Selection,
    parsed: RefCell<HashMap<String, Option<Selector>>>,
}

impl<'m> Policies<'m> {
    pub(super) fn read(manifests: &'m [Manifest]) -> Self {
        let calico = |kind: &'static str| {
            manifests
                .iter()
                .filter(move |m| m.api_version() == "projectcalico.org/v3" && m.kind() == kind)
        };
        let mut policies: Vec<&Manifest> = calico("NetworkPolicy").collect();
        policies.sort_by(|a, b| {
            let order = |m: &Manifest| {
                m.object
                    .at(&["spec", "order"])
                    .and_then(Value::as_f64)
                    .unwrap_or(f64::INFINITY)
            };
            order(a).total_cmp(&order(b)).then_with(|| a.name().cmp(b.name()))
        });
        let mut by_namespace: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, policy) in policies.iter().enumerate() {
            by_namespace.entry(policy.namespace()).or_default().push(index);
        }
        Self {
            policies,
            by_namespace,
            network_sets: calico("NetworkSet").collect(),
            selection: Selection::default(),
            parsed: RefCell::default(),
        }
    }
}

impl Evaluator for Policies<'_> {
    fn decide(&self, model: &ClusterModel, conn: &Connection, explain: bool) -> Verdict {
        both_sides(conn, |pod, direction| self.side(model, pod, conn, direction, explain))
    }
}

/// A pod's labels as Calico sees them: its own, plus its namespace and service account
fn endpoint_labels(pod: &Pod) -> BTreeMap<String, String> {
    let mut labels = pod.labels.clone();
    labels.insert("projectcalico.org/namespace".into(), pod.namespace.clone());
    labels.insert("projectcalico.org/orchestrator".into(), "k8s".into());
    if let Some(sa) = &pod.service_account {
        labels.insert("projectcalico.org/serviceaccount".into(), sa.clone());
    }
    labels
}

impl Policies<'_> {
    /// Whether a selector (absent: `all()`) matches; each text is parsed once
    fn selects(&self, text: Option<&str>, labels: &BTreeMap<String, String>) -> bool {
        let text = text.unwrap_or("all()");
        if let Some(parsed) = self.parsed.borrow().get(text) {
            return parsed.as_ref().is_some_and(|s| s.matches(labels));
        }
        let parsed = Selector::parse(text);
        let result = parsed.as_ref().is_some_and(|s| s.matches(labels));
        self.parsed.borrow_mut().insert(text.to_string(), parsed);
        result
    }

    fn side(
        &self,
        model: &ClusterModel,
        pod: &Pod,
        conn: &Connection,
        direction: Direction,
        explain: bool,
    ) -> (bool, Vec<RuleRef>) {
        let (key, type_name) = match direction {
            Direction::Ingress => ("ingress", "Ingress"),
            Direction::Egress => ("egress", "Egress"),
        };
        let mut last_selecting: Option<&Manifest> = None;
        let selecting = self.selection.of(model, pod, || {
            let labels = endpoint_labels(pod);
            self.by_namespace
                .get(pod.namespace.as_str())
                .into_iter()
                .flatten()
                .copied()
                .filter(|&i| {
                    self.policies
                        .get(i)
                        .is_some_and(|m| self.selects(m.object["spec"]["selector"].as_str(), &labels))
                })
                .collect()
        });
        for m in selecting.iter().filter_map(|&i| self.policies.get(i)) {
            let spec = &m.object["spec"];
            let types: Vec<&str> = spec["types"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let applies = if types.is_empty() {
                direction == Direction::Ingress || spec.get("egress").is_some()
            } else {
                types.contains(&type_name)
            };
            if !applies {
                continue;
            }
            // Naming the rule costs more than deciding: only to explain.
            let reference = |rule: &dyn Fn() -> String| {
                if !explain {
                    return Vec::new();
                }
                vec![RuleRef {
                    policy: m.reference(),
                    rule: rule(),
                    source: m.source(),
                }]
            };
            last_selecting = Some(m);
            for (i, rule) in spec[key].as_array().into_iter().flatten().enumerate() {
                if !self.rule_matches(rule, m.namespace(), model, conn) {
                    continue;
                }
                match rule["action"].as_str() {
                    Some("Allow") => return (true, reference(&|| format!("{key}[{i}] Allow"))),
                    Some("Deny") => return (false, reference(&|| format!("{key}[{i}] Deny"))),
                    Some("Pass") => return (true, reference(&|| format!("{key}[{i}] Pass (profile allows)"))),
                    _ => {}
                }
            }
        }
        match last_selecting {
            None => (true, Vec::new()),
            Some(_) if !explain => (false, Vec::new()),
            Some(m) => (
                false,
                vec![RuleRef {
                    policy: m.reference(),
                    rule: "end of tier".into(),
                    source: m.source(),
                }],
            ),
        }
    }

    fn rule_matches(&self, rule: &Value, namespace: &str, model: &ClusterModel, conn: &Connection) -> bool {
        if let Some(protocol) = rule.get("protocol") {
            let name = protocol.as_str().map(str::to_ascii_uppercase);
            let number = protocol.as_u64();
            let ok = name.as_deref() == Some(conn.protocol.as_k8s())
                || number
                    == Some(match conn.protocol.as_k8s() {
                        "TCP" => 6,
                        "UDP" => 17,
                        _ => 132,
                    });
            if !ok {
                return false;
            }
        }
        self.entity_matches(&rule["source"], namespace, model, &conn.from, None)
            && self.entity_matches(&rule["destination"], namespace, model, &conn.to, Some(conn))
    }

    /// An entity rule (`source` or `destination`); ports only on the destination
    fn entity_matches(
        &self,
        entity: &Value,
        namespace: &str,
        model: &ClusterModel,
        endpoint: &Endpoint,
        conn: Option<&Connection>,
    ) -> bool {
        let Some(entity) = entity.as_object() else { return true };
        let ip = match endpoint {
            Endpoint::Pod(p) => p.ip,
            Endpoint::External(e) => e.ip,
        };
        let nets = |key: &str| -> Vec<IpNet> {
            entity
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str()?.parse().ok())
                .collect()
        };
        if entity.contains_key("nets") && !nets("nets").iter().any(|n| n.contains(&ip)) {
            return false;
        }
        if nets("notNets").iter().any(|n| n.contains(&ip)) {
            return false;
        }
        if let Some(domains) = entity.get("domains").and_then(Value::as_array) {
            let Endpoint::External(ext) = endpoint else {
                return false;
            };
            let Some(name) = &ext.fqdn else { return false };
            if !domains
                .iter()
                .filter_map(Value::as_str)
                .any(|d| palisade_intents::syntax::Fqdn::parse(d).is_ok_and(|f| f.matches(name)))
            {
                return false;
            }
        }
        let selector = entity.get("selector").and_then(Value::as_str);
        let namespace_selector = entity.get("namespaceSelector").and_then(Value::as_str);
        if selector.is_some() || namespace_selector.is_some() {
            let matched = match endpoint {
                Endpoint::Pod(pod) => {
                    let namespace_ok = match namespace_selector {
                        Some(ns_selector) => model.namespace(&pod.namespace).is_some_and(|ns| {
                            let mut labels = ns.labels.clone();
                            labels.insert("projectcalico.org/name".into(), ns.name.clone());
                            self.selects(Some(ns_selector), &labels)
                        }),
                        None => pod.namespace == namespace,
                    };
                    namespace_ok && self.selects(selector, &endpoint_labels(pod))
                }
                Endpoint::External(ext) => {
                    namespace_selector.is_none() && self.network_set_matches(selector, namespace, ext.ip)
                }
            };
            if !matched {
                return false;
            }
        }
        if let Some(names) = entity
            .get("serviceAccounts")
            .and_then(|s| s.get("names"))
            .and_then(Value::as_array)
        {
            let Endpoint::Pod(pod) = endpoint else { return false };
            if !names
                .iter()
                .filter_map(Value::as_str)
                .any(|n| pod.service_account.as_deref() == Some(n))
            {
                return false;
            }
        }
        match (entity.get("ports").and_then(Value::as_array), conn) {
            (Some(ports), Some(conn)) => ports.iter().any(|p| port_matches(p, conn)),
            _ => true,
        }
    }

    fn network_set_matches(&self, selector: Option<&str>, namespace: &str, ip: IpAddr) -> bool {
        self.network_sets
            .iter()
            .filter(|s| s.namespace() == namespace)
            .any(|set| {
                let labels: BTreeMap<String, String> = set
                    .object
                    .at(&["metadata", "labels"])
                    .and_then(|l| serde_json::from_value(l.clone()).ok())
                    .unwrap_or_default();
                let in_set = set
                    .object
                    .at(&["spec", "nets"])
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.as_str()?.parse::<IpNet>().ok())
                    .any(|n| n.contains(&ip));
                in_set && self.selects(selector, &labels)
            })
    }
}

/// A port: a number, `"first:last"`, or a named port of the destination pod
fn port_matches(port: &Value, conn: &Connection) -> bool {
    if let Some(n) = port.as_u64() {
        return n == u64::from(conn.port);
    }
    let Some(text) = port.as_str() else { return false };
    if let Some((first, last)) = text.split_once(':') {
        return match (first.parse::<u16>(), last.parse::<u16>()) {
            (Ok(a), Ok(b)) => (a..=b).contains(&conn.port),
            _ => false,
        };
    }
    if let Ok(n) = text.parse::<u16>() {
        return n == conn.port;
    }
    match conn.to {
        Endpoint::Pod(dst) => dst
            .ports
            .iter()
            .any(|c| c.name.as_deref() == Some(text) && c.port == conn.port && c.protocol == conn.protocol),
        Endpoint::External(_) => false,
    }
}
