//! The NetworkPolicy relation as sets, by the rules `evaluate` applies to
//! one connection: per-direction isolation by any selecting policy with that
//! type, the union of the selecting policies' rules, peers as the OR of
//! their items (namespaceSelector AND podSelector; ipBlock for outside
//! addresses, and for pods by address where the CNI matches them), ports
//! with TCP by default, `endPort` ranges and named ports resolved on the
//! destination pod. NetworkPolicy sees no HTTP: a rule covers every request.

use super::{policy_types, selector::selects};
use ipnet::IpNet;
use k8s_openapi::{
    api::networking::v1::{IPBlock, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec},
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};
use palisade_intents::syntax::Protocol;
use palisade_relation::{ClassSet, Rule, Services, Side, Sides, Universe};

/// Both sides of every pod class, from `(namespace, spec)` of each policy
pub(super) fn sides<'p>(
    policies: impl Iterator<Item = (&'p str, &'p NetworkPolicySpec)>,
    universe: &Universe,
) -> Sides {
    let count = usize::try_from(universe.pod_count()).unwrap_or(0);
    let mut ingress = vec![Isolation::default(); count];
    let mut egress = vec![Isolation::default(); count];
    for (namespace, spec) in policies {
        let selected = universe.pods_in(namespace) & select(spec.pod_selector.as_ref(), universe);
        if selected.is_empty() {
            continue;
        }
        let (isolates_ingress, isolates_egress) = policy_types(spec);
        if isolates_ingress {
            let rules: Vec<(ClassSet, Ports)> = spec
                .ingress
                .iter()
                .flatten()
                .map(|r| {
                    (
                        peers(r.from.as_deref(), namespace, universe),
                        Ports::of(r.ports.as_deref()),
                    )
                })
                .collect();
            for pod in &selected {
                if let Some(side) = usize::try_from(pod).ok().and_then(|i| ingress.get_mut(i)) {
                    side.isolated = true;
                    side.rules.extend(
                        rules
                            .iter()
                            .map(|(from, ports)| Rule::allow(ports.admitted_into(pod, universe), from.clone())),
                    );
                }
            }
        }
        if isolates_egress {
            let rules: Vec<Rule> = spec
                .egress
                .iter()
                .flatten()
                .flat_map(|r| {
                    let to = peers(r.to.as_deref(), namespace, universe);
                    Ports::of(r.ports.as_deref()).towards(&to, universe)
                })
                .collect();
            for pod in &selected {
                if let Some(side) = usize::try_from(pod).ok().and_then(|i| egress.get_mut(i)) {
                    side.isolated = true;
                    side.rules.extend(rules.iter().cloned());
                }
            }
        }
    }
    let resolve = |sides: Vec<Isolation>| {
        sides
            .into_iter()
            .map(|s| Side::union(s.isolated, s.rules).resolve(universe))
            .collect()
    };
    Sides {
        egress: resolve(egress),
        ingress: resolve(ingress),
    }
}

/// One side of one pod while the policies are read
#[derive(Debug, Clone, Default)]
struct Isolation {
    isolated: bool,
    rules: Vec<Rule>,
}

/// The pods a label selector selects; absent selects all
fn select(selector: Option<&LabelSelector>, universe: &Universe) -> ClassSet {
    let Some(selector) = selector else {
        return universe.pods();
    };
    let mut set = universe.pods();
    for (key, value) in selector.match_labels.iter().flatten() {
        set &= universe.pods_with(key, value);
    }
    for expression in selector.match_expressions.iter().flatten() {
        let values = expression.values.as_deref().unwrap_or(&[]);
        let with_value = || {
            values
                .iter()
                .fold(ClassSet::new(), |acc, v| acc | universe.pods_with(&expression.key, v))
        };
        let matched = match expression.operator.as_str() {
            "In" => with_value(),
            "NotIn" => universe.pods() - with_value(),
            "Exists" => universe.pods_with_key(&expression.key),
            "DoesNotExist" => universe.pods() - universe.pods_with_key(&expression.key),
            _ => ClassSet::new(),
        };
        set &= matched;
    }
    set
}

/// The classes a rule's peers name: every class when there are none
fn peers(peers: Option<&[NetworkPolicyPeer]>, namespace: &str, universe: &Universe) -> ClassSet {
    match peers {
        None | Some([]) => universe.all().as_ref().clone(),
        Some(peers) => peers
            .iter()
            .fold(ClassSet::new(), |acc, p| acc | peer(p, namespace, universe)),
    }
}

fn peer(peer: &NetworkPolicyPeer, namespace: &str, universe: &Universe) -> ClassSet {
    if let Some(block) = &peer.ip_block {
        return addresses(block, universe);
    }
    // A peer with neither selector nor ipBlock is invalid; it matches nothing.
    if peer.namespace_selector.is_none() && peer.pod_selector.is_none() {
        return ClassSet::new();
    }
    let namespaces = match &peer.namespace_selector {
        Some(selector) => universe.pods_in_namespaces(|ns| selects(selector, &ns.labels)),
        None => universe.pods_in(namespace),
    };
    namespaces & select(peer.pod_selector.as_ref(), universe)
}

/// The outside classes an ipBlock covers, and the pods whose address it
/// covers where the CNI matches pods by address (unknown: as the e2e suite)
fn addresses(block: &IPBlock, universe: &Universe) -> ClassSet {
    let Ok(net) = block.cidr.parse::<IpNet>() else {
        return ClassSet::new();
    };
    let except: Vec<IpNet> = block.except.iter().flatten().filter_map(|e| e.parse().ok()).collect();
    let covers = |ip: &std::net::IpAddr| net.contains(ip) && !except.iter().any(|e| e.contains(ip));
    let outside = universe.outsides_where(|e| covers(&e.ip));
    if universe.model.cni.ip_blocks_match_pods().unwrap_or(true) {
        outside | universe.pods_where(|p| p.address().is_some_and(|ip| covers(&ip)))
    } else {
        outside
    }
}

/// A rule's ports: numbered ones for every destination, named ones per
/// destination pod; `None` when the rule has none (every port)
struct Ports<'p> {
    numbered: Services,
    named: Vec<(Protocol, &'p str)>,
}

impl<'p> Ports<'p> {
    fn of(ports: Option<&'p [NetworkPolicyPort]>) -> Self {
        let mut out = Self {
            numbered: Services::none(),
            named: Vec::new(),
        };
        let Some(ports) = ports.filter(|p| !p.is_empty()) else {
            out.numbered = Services::all();
            return out;
        };
        for port in ports {
            let Some(protocol) = protocol(port.protocol.as_deref().unwrap_or("TCP")) else {
                continue;
            };
            match &port.port {
                None => out.numbered = out.numbered.union(&Services::protocol(protocol)),
                Some(IntOrString::Int(first)) => {
                    let last = port.end_port.unwrap_or(*first);
                    let clamp = |n: i32| u16::try_from(n.clamp(0, i32::from(u16::MAX))).unwrap_or(0);
                    if *first <= last && last >= 1 && *first <= i32::from(u16::MAX) {
                        out.numbered = out
                            .numbered
                            .union(&Services::ports(protocol, clamp(*first), clamp(last)));
                    }
                }
                Some(IntOrString::String(name)) => out.named.push((protocol, name.as_str())),
            }
        }
        out
    }

    /// What the ports admit into one destination pod
    fn admitted_into(&self, pod: u32, universe: &Universe) -> Services {
        let Some(destination) = universe.pod(pod) else {
            return self.numbered.clone();
        };
        self.named.iter().fold(self.numbered.clone(), |acc, (protocol, name)| {
            destination
                .ports
                .iter()
                .filter(|c| c.name.as_deref() == Some(*name) && c.protocol == *protocol)
                .fold(acc, |acc, c| acc.union(&Services::ports(*protocol, c.port, c.port)))
        })
    }

    /// The egress rules towards `to`: the numbered ports to all of it, each
    /// named port to the pods of `to` that give the name that number
    fn towards(&self, to: &ClassSet, universe: &Universe) -> Vec<Rule> {
        let mut rules = Vec::new();
        if !self.numbered.is_empty() {
            rules.push(Rule::allow(self.numbered.clone(), to.clone()));
        }
        for (protocol, name) in &self.named {
            for (number, pods) in universe.named_ports(name, *protocol) {
                let reached = to & &pods;
                if !reached.is_empty() {
                    rules.push(Rule::allow(Services::ports(*protocol, number, number), reached));
                }
            }
        }
        rules
    }
}

/// The protocol Kubernetes spells this way; others match nothing
fn protocol(name: &str) -> Option<Protocol> {
    [Protocol::Tcp, Protocol::Udp, Protocol::Sctp]
        .into_iter()
        .find(|p| p.as_k8s() == name)
}

#[cfg(test)]
mod tests {
    use crate::{probes, Dialect, Manifest};
    use palisade_compiler::model::{ClusterModel, Connection, ContainerPort, Endpoint};
    use palisade_intents::{syntax::Protocol, types::Labels};
    use palisade_relation::{services::key, Universe};

    fn manifests(yaml: &str) -> Vec<Manifest> {
        serde_yaml_ng::Deserializer::from_str(yaml)
            .filter_map(|d| serde::Deserialize::deserialize(d).ok())
            .map(Manifest::new)
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Selector operators, ipBlocks over pod addresses, named ports on
    /// egress, defaulted policy types and an invalid peer: the corners the
    /// generated repositories do not reach, each against the evaluator on
    /// every connection of the model, and a few by hand
    #[test]
    fn the_corners_decide_as_the_evaluator_does() {
        let policies = manifests(
            "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: db, namespace: shop }
spec:
  podSelector: { matchExpressions: [{ key: app, operator: In, values: [db, cache] }] }
  ingress:
    - from: [{ podSelector: { matchExpressions: [{ key: tier, operator: NotIn, values: [edge] }] } }]
      ports: [{ port: 5432 }, { protocol: UDP, port: 5000, endPort: 5010 }]
    - from: [{ namespaceSelector: { matchLabels: { team: ops } }, podSelector: { matchExpressions: [{ key: debug, operator: Exists }] } }]
    - from: [{}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  podSelector: { matchExpressions: [{ key: tier, operator: DoesNotExist }, { key: app, operator: NotIn, values: [db] }] }
  egress:
    - to: [{ podSelector: {} }]
      ports: [{ port: http }, { protocol: ICMP, port: 1 }]
    - to: [{ ipBlock: { cidr: 10.244.0.0/16, except: [10.244.0.16/30] } }]
      ports: [{ port: 443 }]
",
        );
        let mut model = ClusterModel::default();
        let http = |port| {
            vec![ContainerPort {
                name: Some("http".into()),
                protocol: Protocol::Tcp,
                port,
            }]
        };
        model.add_pod("shop", "db", labels(&[("app", "db")]), None, http(8080));
        model.add_pod(
            "shop",
            "cache",
            labels(&[("app", "cache"), ("tier", "edge")]),
            None,
            http(9090),
        );
        model.add_pod("shop", "web", labels(&[("app", "web")]), None, http(80));
        model.add_pod(
            "shop",
            "edge",
            labels(&[("app", "web"), ("tier", "edge")]),
            None,
            Vec::new(),
        );
        model.add_pod("ops", "debug", labels(&[("debug", "1")]), None, Vec::new());
        model.add_pod("ops", "plain", labels(&[("app", "x")]), None, Vec::new());
        if let Some(ns) = model.namespaces.get_mut("ops") {
            ns.labels.insert("team".into(), "ops".into());
        }
        model.ports = vec![
            (Protocol::Tcp, 80),
            (Protocol::Tcp, 443),
            (Protocol::Tcp, 5432),
            (Protocol::Tcp, 8080),
            (Protocol::Tcp, 9090),
            (Protocol::Udp, 5005),
        ];
        probes::add(&mut model, &policies);
        let evaluator = super::super::Kubernetes.evaluator(&policies);
        let universe = Universe::new(&model, false);
        let Some(sides) = evaluator.sides(&universe) else {
            unreachable!("kubernetes has sets")
        };
        let mut compared = 0;
        for conn in model.connections() {
            let (Some(from), Some(to)) = (universe.class_of(&conn.from), universe.class_of(&conn.to)) else {
                unreachable!("every endpoint has a class")
            };
            let symbolic = sides.allows(&universe, from, to, key(conn.protocol, conn.port, 0));
            assert_eq!(symbolic, evaluator.allows(&model, &conn), "{}", conn.describe());
            compared += 1;
        }
        assert!(compared > 300, "{compared}");
        let pod = |id: &str| {
            model
                .pods
                .iter()
                .find(|p| p.id() == id)
                .map(Endpoint::Pod)
                .unwrap_or_else(|| unreachable!("no pod {id}"))
        };
        let allowed = |from: &str, to: &str, protocol, port| {
            let conn = Connection {
                from: pod(from),
                to: pod(to),
                protocol,
                port,
                request: None,
            };
            let (Some(f), Some(t)) = (universe.class_of(&conn.from), universe.class_of(&conn.to)) else {
                unreachable!()
            };
            sides.allows(&universe, f, t, key(protocol, port, 0))
        };
        // NotIn admits pods without the label: the db reaches itself, the edge pod does not
        assert!(allowed("shop/db", "shop/db", Protocol::Tcp, 5432));
        assert!(allowed("shop/db", "shop/db", Protocol::Udp, 5005));
        assert!(!allowed("shop/edge", "shop/db", Protocol::Tcp, 5432));
        // web's egress is isolated: only its named port and the block
        assert!(!allowed("shop/web", "shop/db", Protocol::Tcp, 5432));
        // ops pods with a debug label reach it on any port; others of ops do not
        assert!(allowed("ops/debug", "shop/db", Protocol::Tcp, 9090));
        assert!(!allowed("ops/plain", "shop/db", Protocol::Tcp, 9090));
        // the named port resolves on each destination: web may send to the
        // cache on 9090 (its `http`), not on 8080 (the db's `http`)
        let class = |id: &str| universe.class_of(&pod(id)).unwrap_or(u32::MAX);
        let web = sides
            .egress
            .get(usize::try_from(class("shop/web")).unwrap_or(usize::MAX));
        assert!(web.is_some_and(|s| s.contains(key(Protocol::Tcp, 9090, 0), class("shop/cache"))));
        assert!(web.is_some_and(|s| !s.contains(key(Protocol::Tcp, 8080, 0), class("shop/cache"))));
        assert!(web.is_some_and(|s| s.contains(key(Protocol::Tcp, 8080, 0), class("shop/db"))));
        // the invalid peer `{}` admits nobody: the cache takes nothing on 9090
        assert!(!allowed("shop/web", "shop/cache", Protocol::Tcp, 9090));
    }
}
