//! The reference semantics of the IR: what the intents mean for one connection.
//! Every dialect's evaluator is checked against this (translation validation).
//!
//! A connection passes when the source side lets it out and the destination
//! side lets it in. A side that is not a pod of a namespace palisade isolates in
//! that direction lets everything through; an isolated side needs an edge.
//! Address blocks (CIDRs, `world`) match addresses outside the cluster only,
//! never a pod and never an address inside the profile's `clusterCIDRs`
//! (resolution puts those ranges into the IR's excepts, so emitted ipBlocks
//! and nets, which the CNI may match against pod addresses, agree).
//! Guardrails compose with the intents per side, as ClusterNetworkPolicy's
//! tiers do (network-policy-api v0.2.0, `Tier` godoc): the first admin rule
//! (`rules`, in order) that matches the connection decides both sides
//! (`allow` accepts, `deny` drops, `delegate` goes on); then a side the
//! namespace's intents isolate needs an edge; then the first baseline rule
//! that matches decides a side they do not isolate; then it passes. A
//! guardrail matches a connection when a source peer names its source, a
//! destination peer its destination and a port admits it; namespace labels
//! are the model's (without one: only `kubernetes.io/metadata.name`).
//! An FQDN `via: egress-gateway` admits two connections: the source to the
//! outside host (the route, decided by whoever routes it: the mesh's gateway)
//! and the source to the gateway pods (the hop an L3/L4 layer sees).

use crate::{
    ir::{Edge, Guardrail, GuardrailPeer, Ir, Peer, Port},
    model::{ClusterModel, Connection, Endpoint},
};
use palisade_intents::{
    syntax::{Entity, Protocol},
    types::{GuardrailAction, Labels, Via},
};
use std::collections::HashMap;

/// The verdict of the intents on one connection
#[derive(Debug, Clone)]
pub struct Decision<'ir> {
    /// whether it may pass
    pub allowed: bool,
    /// edges that let it out of the source (empty when not isolated)
    pub egress_by: Vec<&'ir Edge>,
    /// edges that let it into the destination (empty when not isolated)
    pub ingress_by: Vec<&'ir Edge>,
    /// the guardrails that decided it: an admin rule that allowed or denied
    /// it (then no edge is asked), or a baseline rule that decided a side
    /// the intents do not isolate
    pub guardrails: Vec<&'ir Guardrail>,
}

/// Decide a connection by the intents (one question; to ask many, build a
/// [`Semantics`] once)
pub fn decide<'ir>(ir: &'ir Ir, conn: &Connection) -> Decision<'ir> {
    Semantics::new(ir).decide(conn)
}

/// The intents with their edges indexed by the source's namespace, so that a
/// connection is held against the edges that can name its source, not all of
/// them (verification asks millions of questions of 50,000 edges)
pub struct Semantics<'ir> {
    ir: &'ir Ir,
    /// indices into `ir.edges`
    by_source_namespace: HashMap<&'ir str, Vec<usize>>,
    /// edges whose source is not a namespace's pods (addresses, names, DNS)
    elsewhere: Vec<usize>,
    /// namespace labels by name, as guardrails select them
    namespace_labels: HashMap<String, Labels>,
}

impl<'ir> Semantics<'ir> {
    /// Index the edges of `ir`
    pub fn new(ir: &'ir Ir) -> Self {
        let mut by_source_namespace: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut elsewhere = Vec::new();
        for (index, edge) in ir.edges.iter().enumerate() {
            match edge.from.namespace() {
                Some(ns) => by_source_namespace.entry(ns).or_default().push(index),
                None => elsewhere.push(index),
            }
        }
        Self {
            ir,
            by_source_namespace,
            elsewhere,
            namespace_labels: HashMap::new(),
        }
    }

    /// Index the edges of `ir`, with the namespace labels of `model` for the
    /// guardrails' namespace selectors
    pub fn in_model(ir: &'ir Ir, model: &ClusterModel) -> Self {
        let mut semantics = Self::new(ir);
        semantics.namespace_labels = model
            .namespaces
            .values()
            .map(|ns| (ns.name.clone(), ns.labels.clone()))
            .collect();
        semantics
    }

    /// The first guardrail of a tier that matches the connection
    fn guardrail(&self, tier: &'ir [Guardrail], conn: &Connection) -> Option<&'ir Guardrail> {
        tier.iter().find(|g| {
            g.from.iter().any(|p| self.guard_matches(p, &conn.from))
                && g.to.iter().any(|p| self.guard_matches(p, &conn.to))
                && admits_guarded(&g.ports, conn)
        })
    }

    /// Whether a guardrail's peer names the endpoint
    pub fn guard_matches(&self, peer: &GuardrailPeer, endpoint: &Endpoint) -> bool {
        match (peer, endpoint) {
            (GuardrailPeer::Pods { namespaces, pods }, Endpoint::Pod(pod)) => {
                pod.matches(pods)
                    && namespaces
                        .iter()
                        .all(|(k, v)| match self.namespace_labels.get(&pod.namespace) {
                            Some(labels) => labels.get(k) == Some(v),
                            None => k == crate::guardrails::NAMESPACE_LABEL && v == &pod.namespace,
                        })
            }
            (GuardrailPeer::Pods { .. }, Endpoint::External(_)) => false,
            (GuardrailPeer::Outside(peer), endpoint) => matches(self.ir, peer, endpoint),
        }
    }

    /// The edges that can name the connection's source, in source order (the
    /// reasons are printed in that order)
    fn candidates(&self, conn: &Connection) -> Vec<usize> {
        let same_namespace = match conn.from {
            Endpoint::Pod(pod) => self.by_source_namespace.get(pod.namespace.as_str()),
            Endpoint::External(_) => None,
        };
        let mut candidates: Vec<usize> = same_namespace
            .into_iter()
            .flatten()
            .chain(&self.elsewhere)
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates
    }

    /// Decide a connection by the intents
    pub fn decide(&self, conn: &Connection) -> Decision<'ir> {
        let ir = self.ir;
        let admin = self.guardrail(&ir.guardrails.admin, conn);
        if let Some(rule) = admin.filter(|g| g.action != GuardrailAction::Delegate) {
            return Decision {
                allowed: rule.action == GuardrailAction::Allow,
                egress_by: Vec::new(),
                ingress_by: Vec::new(),
                guardrails: vec![rule],
            };
        }
        let egress_isolated = isolated(ir, &conn.from, false);
        let ingress_isolated = isolated(ir, &conn.to, true);
        let matching: Vec<&'ir Edge> = if egress_isolated || ingress_isolated {
            self.candidates(conn)
                .into_iter()
                .filter_map(|i| ir.edges.get(i))
                .filter(|e| {
                    matches(ir, &e.from, &conn.from)
                        && matches(ir, &e.to, &conn.to)
                        && admits(&e.ports, conn)
                        && admits_request(&e.http, conn)
                })
                .collect()
        } else {
            Vec::new()
        };
        let egress_by = if egress_isolated { matching.clone() } else { Vec::new() };
        let ingress_by: Vec<&Edge> = if ingress_isolated {
            matching.into_iter().filter(|e| !through_gateway(e)).collect()
        } else {
            Vec::new()
        };
        // A pod's side the intents leave open goes to the baseline tier.
        let open_pod = |endpoint: &Endpoint, isolated: bool| matches!(endpoint, Endpoint::Pod(_)) && !isolated;
        let baseline = if open_pod(&conn.from, egress_isolated) || open_pod(&conn.to, ingress_isolated) {
            self.guardrail(&ir.guardrails.baseline, conn)
        } else {
            None
        };
        let baseline_denies = baseline.is_some_and(|g| g.action == GuardrailAction::Deny);
        let side = |endpoint: &Endpoint, isolated: bool, by: &[&Edge]| {
            if isolated {
                !by.is_empty()
            } else {
                !(open_pod(endpoint, isolated) && baseline_denies)
            }
        };
        let allowed = side(&conn.from, egress_isolated, &egress_by) && side(&conn.to, ingress_isolated, &ingress_by);
        Decision {
            allowed,
            egress_by,
            ingress_by,
            guardrails: admin.into_iter().chain(baseline).collect(),
        }
    }
}

/// An FQDN reached through the gateway is an egress allowance to the gateway
/// pods; the gateway's own ingress is the mesh's business, not this edge's.
pub fn through_gateway(edge: &Edge) -> bool {
    matches!(
        edge.to,
        Peer::Fqdn {
            via: Via::EgressGateway,
            ..
        }
    )
}

fn isolated(ir: &Ir, endpoint: &Endpoint, ingress: bool) -> bool {
    match endpoint {
        Endpoint::Pod(pod) => ir.namespaces.get(&pod.namespace).is_some_and(|ns| {
            if ingress {
                ns.isolates_ingress()
            } else {
                ns.isolates_egress()
            }
        }),
        Endpoint::External(_) => false,
    }
}

/// Whether `peer` names `endpoint`
pub fn matches(ir: &Ir, peer: &Peer, endpoint: &Endpoint) -> bool {
    let profile = &ir.profile;
    match (peer, endpoint) {
        (Peer::Service { namespace, name }, Endpoint::Pod(pod)) => {
            &pod.namespace == namespace && ir.service(namespace, name).is_some_and(|s| pod.matches(&s.selector))
        }
        (Peer::Namespace(ns), Endpoint::Pod(pod)) => &pod.namespace == ns,
        (Peer::Pods { namespace, selector }, Endpoint::Pod(pod)) => {
            &pod.namespace == namespace && pod.matches(selector)
        }
        (Peer::Cidr { net, except }, Endpoint::External(ext)) => {
            net.contains(&ext.ip)
                && !except.iter().any(|e| e.contains(&ext.ip))
                && !profile.cluster_cidrs.iter().any(|c| c.contains(&ext.ip))
        }
        // Through the gateway too the intent names the outside host: the
        // route (source -> gateway pods -> host) is the allowance, and the
        // edge below admits its first hop at L3/L4.
        (Peer::Fqdn { name, .. }, Endpoint::External(ext)) => ext.fqdn.as_deref().is_some_and(|n| name.matches(n)),
        (
            Peer::Fqdn {
                via: Via::EgressGateway,
                ..
            },
            Endpoint::Pod(pod),
        ) => profile
            .egress_gateway
            .as_ref()
            .is_some_and(|g| pod.namespace == g.pods.namespace && pod.matches(&g.pods.selector)),
        (Peer::Entity(Entity::World), Endpoint::External(ext)) => {
            !profile.cluster_cidrs.iter().any(|c| c.contains(&ext.ip))
        }
        (Peer::Entity(Entity::KubeApi), Endpoint::External(ext)) => profile
            .api_server
            .as_ref()
            .is_some_and(|a| a.cidrs.iter().any(|c| c.contains(&ext.ip))),
        (Peer::Entity(Entity::Dns), Endpoint::Pod(pod)) => {
            pod.namespace == profile.dns.namespace && pod.matches(&profile.dns.selector)
        }
        (Peer::Entity(Entity::Dns), Endpoint::External(ext)) => {
            profile.node_local_dns.is_some_and(|n| n.contains(&ext.ip))
        }
        _ => false,
    }
}

/// Whether the HTTP rules of an edge admit the connection's request (no rules,
/// or no request asked about: yes). A path ending in `*` is a prefix.
pub fn admits_request(rules: &[palisade_intents::model::HttpRule], conn: &Connection) -> bool {
    conn.request.is_none_or(|request| rules_admit(rules, request))
}

/// Whether HTTP rules admit a request (no rules: every request)
pub fn rules_admit(rules: &[palisade_intents::model::HttpRule], request: &crate::model::Request) -> bool {
    rules.is_empty()
        || rules.iter().any(|r| {
            r.method.as_deref().is_none_or(|m| m == request.method)
                && r.path.as_deref().is_none_or(|p| match p.strip_suffix('*') {
                    Some(prefix) => request.path.starts_with(prefix),
                    None => request.path == p,
                })
                // Headers are not part of a modelled request: a rule with
                // headers admits only requests that would carry them.
                && r.headers.is_empty()
        })
}

/// Whether the ports of an edge admit the connection (no ports: every port).
/// A named port admits the number the destination pod gives that name.
pub fn admits(ports: &[Port], conn: &Connection) -> bool {
    ports.is_empty() || ports.iter().any(|p| admits_one(p, conn.protocol, conn.port, &conn.to))
}

/// Whether a guardrail's ports admit the connection: as an edge's, but a
/// named port is the destination pod's port of that name on whatever
/// protocol the pod gives it (ClusterNetworkPolicy's `destinationNamedPort`)
fn admits_guarded(ports: &[Port], conn: &Connection) -> bool {
    ports.is_empty()
        || ports.iter().any(|p| match (&p.name, &conn.to) {
            (None, _) => p.admits(conn.protocol, conn.port),
            (Some(name), Endpoint::Pod(pod)) => pod
                .ports
                .iter()
                .any(|c| c.name.as_deref() == Some(name) && c.protocol == conn.protocol && c.port == conn.port),
            (Some(_), Endpoint::External(_)) => false,
        })
}

fn admits_one(port: &Port, protocol: Protocol, number: u16, to: &Endpoint) -> bool {
    match (&port.name, to) {
        (None, _) => port.admits(protocol, number),
        (Some(name), Endpoint::Pod(pod)) => pod
            .ports
            .iter()
            .any(|c| c.name.as_deref() == Some(name) && c.protocol == protocol && c.port == number),
        (Some(_), Endpoint::External(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::synthesize;

    /// `a` may use google.com through the gateway, `b` example.org; `c` has
    /// no gateway intent. All of shop is on default deny.
    fn ir() -> Ir {
        let project = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: p }\nspec:\n  cluster: { clusterCIDRs: [10.244.0.0/16], egressGateway: { namespace: istio-system, selector: { istio: egressgateway }, service: istio-egressgateway } }\n";
        let intents = "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  posture: default-deny\n  services:\n    a: { selector: { app: a }, serviceAccount: a }\n    b: { selector: { app: b }, serviceAccount: b }\n    c: { selector: { app: c }, serviceAccount: c }\n  allow:\n    - { from: a, to: { fqdn: google.com, via: egress-gateway }, ports: [tcp/443] }\n    - { from: b, to: { fqdn: example.org, via: egress-gateway }, ports: [tcp/443] }\n";
        let files = vec![
            palisade_intents::RawFile {
                path: "palisade.yaml".into(),
                bytes: project.as_bytes().to_vec(),
            },
            palisade_intents::RawFile {
                path: "intents/shop.yaml".into(),
                bytes: intents.as_bytes().to_vec(),
            },
        ];
        let Ok(repository) = palisade_intents::load_files(files) else {
            unreachable!("the fixture loads")
        };
        let Ok((ir, _)) = crate::compile(&repository) else {
            unreachable!("the fixture compiles")
        };
        ir
    }

    #[test]
    fn a_gateway_fqdn_admits_the_host_and_the_hop_for_its_callers_only() {
        let ir = ir();
        let model = synthesize(&ir);
        let pod = |name: &str| {
            model
                .pods
                .iter()
                .find(|p| p.id() == name)
                .map(Endpoint::Pod)
                .unwrap_or_else(|| unreachable!("no pod {name}"))
        };
        let host = |name: &str| {
            model
                .externals
                .iter()
                .find(|e| e.fqdn.as_deref() == Some(name))
                .map(Endpoint::External)
                .unwrap_or_else(|| unreachable!("the model has no endpoint for {name}"))
        };
        let allowed = |from, to, port| {
            decide(
                &ir,
                &Connection {
                    from,
                    to,
                    protocol: Protocol::Tcp,
                    port,
                    request: None,
                },
            )
            .allowed
        };
        // Hand-checked table: the host for its caller on the intent's port only.
        let table = [
            ("shop/a", "google.com", 443, true),
            ("shop/a", "google.com", 444, false),
            ("shop/a", "not-google.com", 443, false),
            ("shop/a", "example.org", 443, false),
            ("shop/b", "example.org", 443, true),
            ("shop/b", "google.com", 443, false),
            ("shop/c", "google.com", 443, false),
            ("shop/stranger", "google.com", 443, false),
            // an unmanaged namespace is not isolated: everything passes
            ("istio-system/stranger", "google.com", 443, true),
        ];
        for (from, to, port, expected) in table {
            assert_eq!(
                allowed(pod(from), host(to), port),
                expected,
                "{from} -> {to} tcp/{port}"
            );
        }
        // The hop: both callers reach the gateway pods (an L3/L4 layer cannot
        // tell their hosts apart), nobody else does.
        let gateway = pod("istio-system/egress-gateway");
        assert!(allowed(pod("shop/a"), gateway, 443));
        assert!(allowed(pod("shop/b"), gateway, 443));
        assert!(!allowed(pod("shop/c"), gateway, 443));
        // The reasons name the gateway intent
        let Endpoint::Pod(a) = pod("shop/a") else {
            unreachable!()
        };
        let Endpoint::External(google) = host("google.com") else {
            unreachable!()
        };
        let decision = decide(
            &ir,
            &Connection {
                from: Endpoint::Pod(a),
                to: Endpoint::External(google),
                protocol: Protocol::Tcp,
                port: 443,
                request: None,
            },
        );
        assert!(decision.egress_by.iter().all(|e| through_gateway(e)) && decision.egress_by.len() == 1);
    }
}
