//! IR → NetworkPolicies: a default deny per namespace, one ingress and one
//! egress policy per service (and per namespace-wide or ad-hoc pod group), one
//! rule per edge so every rule traces back to one intent line.

use crate::{
    manifest::{MANAGED_BY, SOURCE_ANNOTATION},
    Manifest, Mode,
};
use ipnet::IpNet;
use k8s_openapi::{
    api::networking::v1::{
        IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
        NetworkPolicyPort, NetworkPolicySpec,
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, apis::meta::v1::ObjectMeta, util::intstr::IntOrString},
};
use palisade_compiler::ir::{Edge, Ir, NamespaceIr, Peer, Port};
use palisade_intents::{
    syntax::Entity,
    types::{Labels, Posture, Via},
    Diag, Diags,
};
use std::collections::BTreeMap;

const NAMESPACE_LABEL: &str = "kubernetes.io/metadata.name";

pub(super) fn emit(ir: &Ir, mode: Mode) -> Result<Vec<Manifest>, Diags> {
    let mut diags = Diags::new();
    // Any NetworkPolicy isolates the pods it selects, and the API has no audit
    // mode: auditing renders nothing (the gate evaluates the enforce manifests).
    if mode == Mode::Audit {
        return Ok(Vec::new());
    }
    let mut policies: BTreeMap<(String, String), Draft> = BTreeMap::new();
    for ns in ir.namespaces.values().filter(|ns| ns.posture != Posture::None) {
        let types: Vec<&str> = if ns.isolates_egress() {
            vec!["Ingress", "Egress"]
        } else {
            vec!["Ingress"]
        };
        let draft = policies
            .entry((ns.name.clone(), "palisade-default-deny".into()))
            .or_insert_with(|| Draft::new(ns, Labels::new()));
        draft.types = types.iter().map(|t| t.to_string()).collect();
        draft.sources.push(ns.posture_source.file_line());
    }
    for edge in &ir.edges {
        if !edge.http.is_empty() {
            diags.push(
                Diag::error("l7_unsupported", "NetworkPolicy cannot restrict HTTP methods or paths")
                    .at(&edge.source.loc)
                    .help("add a `cilium` or `istio` target for this rule, or remove its `http` part"),
            );
            continue;
        }
        let to = match peers(ir, &edge.to, edge) {
            Ok(p) => p,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let from = match peers(ir, &edge.from, edge) {
            Ok(p) => p,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let ports = ports(&edge.ports);
        if let Some((ns, selector, group)) =
            pod_group(ir, &edge.from).filter(|(ns, ..)| ir.namespaces.get(ns).is_some_and(NamespaceIr::isolates_egress))
        {
            let draft = policies
                .entry((ns.clone(), format!("{group}-egress")))
                .or_insert_with(|| Draft::for_namespace(ir, &ns, selector));
            draft.egress.push(NetworkPolicyEgressRule {
                to: Some(to.clone()),
                ports: ports.clone(),
            });
            draft.sources.push(edge.source.file_line());
        }
        if let Some((ns, selector, group)) =
            pod_group(ir, &edge.to).filter(|(ns, ..)| ir.namespaces.get(ns).is_some_and(NamespaceIr::isolates_ingress))
        {
            if !matches!(edge.to, Peer::Fqdn { .. }) {
                let draft = policies
                    .entry((ns.clone(), format!("{group}-ingress")))
                    .or_insert_with(|| Draft::for_namespace(ir, &ns, selector));
                draft.ingress.push(NetworkPolicyIngressRule {
                    from: Some(from),
                    ports,
                });
                draft.sources.push(edge.source.file_line());
            }
        }
    }
    if diags.has_errors() {
        return Err(diags.sorted());
    }
    let mut manifests: Vec<Manifest> = policies
        .into_iter()
        .map(|((ns, name), draft)| draft.render(&ns, &name))
        .collect();
    crate::manifest::sort(&mut manifests);
    Ok(manifests)
}

/// A policy being assembled from edges
struct Draft {
    intents_name: String,
    selector: Labels,
    types: Vec<String>,
    ingress: Vec<NetworkPolicyIngressRule>,
    egress: Vec<NetworkPolicyEgressRule>,
    sources: Vec<String>,
}

impl Draft {
    fn new(ns: &NamespaceIr, selector: Labels) -> Self {
        Self {
            intents_name: ns.intents_name.clone(),
            selector,
            types: Vec::new(),
            ingress: Vec::new(),
            egress: Vec::new(),
            sources: Vec::new(),
        }
    }

    fn for_namespace(ir: &Ir, ns: &str, selector: Labels) -> Self {
        match ir.namespaces.get(ns) {
            Some(n) => Self::new(n, selector),
            None => Self {
                intents_name: String::new(),
                selector,
                types: Vec::new(),
                ingress: Vec::new(),
                egress: Vec::new(),
                sources: Vec::new(),
            },
        }
    }

    fn render(self, namespace: &str, name: &str) -> Manifest {
        let mut types = self.types;
        if !self.ingress.is_empty() && !types.iter().any(|t| t == "Ingress") {
            types.push("Ingress".into());
        }
        if !self.egress.is_empty() && !types.iter().any(|t| t == "Egress") {
            types.push("Egress".into());
        }
        let mut sources: Vec<String> = Vec::new();
        for s in self.sources {
            if !sources.contains(&s) {
                sources.push(s);
            }
        }
        let mut labels = BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())]);
        if !self.intents_name.is_empty() {
            labels.insert("palisade.dev/intents".into(), self.intents_name.clone());
        }
        let policy = NetworkPolicy {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                labels: Some(labels),
                annotations: Some(BTreeMap::from([(SOURCE_ANNOTATION.to_string(), sources.join(", "))])),
                ..ObjectMeta::default()
            },
            spec: Some(NetworkPolicySpec {
                // Always written: podSelector was required up to Kubernetes 1.33.
                pod_selector: Some(match_labels(&self.selector)),
                policy_types: Some(types),
                ingress: (!self.ingress.is_empty()).then_some(self.ingress),
                egress: (!self.egress.is_empty()).then_some(self.egress),
            }),
        };
        let mut object = serde_json::to_value(&policy).unwrap_or_default();
        if let Some(map) = object.as_object_mut() {
            map.insert("apiVersion".into(), "networking.k8s.io/v1".into());
            map.insert("kind".into(), "NetworkPolicy".into());
        }
        Manifest::new(object)
    }
}

fn match_labels(labels: &Labels) -> LabelSelector {
    LabelSelector {
        match_labels: (!labels.is_empty()).then(|| labels.clone()),
        match_expressions: None,
    }
}

/// The policy a pod-side peer's rules go into: (namespace, pod selector, name prefix)
fn pod_group(ir: &Ir, peer: &Peer) -> Option<(String, Labels, String)> {
    match peer {
        Peer::Service { namespace, name } => Some((
            namespace.clone(),
            ir.service(namespace, name)?.selector.clone(),
            name.clone(),
        )),
        Peer::Namespace(ns) => Some((ns.clone(), Labels::new(), "palisade-namespace".into())),
        Peer::Pods { namespace, selector } => Some((
            namespace.clone(),
            selector.clone(),
            format!("palisade-pods-{}", short_hash(selector)),
        )),
        _ => None,
    }
}

/// A stable short name for an ad-hoc selector (FNV-1a, so it never changes
/// between runs or Rust versions)
fn short_hash(labels: &Labels) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for (k, v) in labels {
        for byte in k.bytes().chain([b'=']).chain(v.bytes()).chain([b',']) {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    format!("{hash:08x}")
}

fn and_peer(namespace: &str, selector: &Labels) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(match_labels(&Labels::from([(
            NAMESPACE_LABEL.to_string(),
            namespace.to_string(),
        )]))),
        pod_selector: Some(match_labels(selector)),
        ip_block: None,
    }
}

fn ip_block(net: &IpNet, except: &[IpNet]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: net.to_string(),
            except: (!except.is_empty()).then(|| except.iter().map(ToString::to_string).collect()),
        }),
        ..NetworkPolicyPeer::default()
    }
}

/// The NetworkPolicy peers that stand for an IR peer, or a refusal
fn peers(ir: &Ir, peer: &Peer, edge: &Edge) -> Result<Vec<NetworkPolicyPeer>, Diag> {
    let profile = &ir.profile;
    Ok(match peer {
        Peer::Service { namespace, name } => {
            let selector = ir
                .service(namespace, name)
                .map(|s| s.selector.clone())
                .unwrap_or_default();
            vec![and_peer(namespace, &selector)]
        }
        Peer::Namespace(ns) => vec![NetworkPolicyPeer {
            namespace_selector: Some(match_labels(&Labels::from([(NAMESPACE_LABEL.to_string(), ns.clone())]))),
            ..NetworkPolicyPeer::default()
        }],
        Peer::Pods { namespace, selector } => vec![and_peer(namespace, selector)],
        Peer::Cidr { net, except } => vec![ip_block(net, except)],
        Peer::Entity(Entity::World) => {
            if profile.cluster_cidrs.is_empty() {
                return Err(Diag::error("world_needs_cluster_cidrs", "`world` on NetworkPolicy needs the cluster's pod and service CIDRs")
                    .at(&edge.source.loc)
                    .help("add `clusterCIDRs: [<pod CIDR>, <service CIDR>]` under `spec.cluster`, so `world` can exclude them; without them 0.0.0.0/0 would also admit pods"));
            }
            let mut blocks = Vec::new();
            for (all, v4) in [("0.0.0.0/0", true), ("::/0", false)] {
                let inside: Vec<IpNet> = profile
                    .cluster_cidrs
                    .iter()
                    .filter(|c| matches!(c, IpNet::V4(_)) == v4)
                    .copied()
                    .collect();
                if v4 || !inside.is_empty() {
                    if let Ok(net) = all.parse::<IpNet>() {
                        blocks.push(ip_block(&net, &inside));
                    }
                }
            }
            blocks
        }
        Peer::Entity(Entity::KubeApi) => profile
            .api_server
            .iter()
            .flat_map(|a| a.cidrs.iter())
            .map(|c| ip_block(c, &[]))
            .collect(),
        Peer::Entity(Entity::Dns) => {
            let mut out = vec![and_peer(&profile.dns.namespace, &profile.dns.selector)];
            out.extend(profile.node_local_dns.map(|n| ip_block(&n, &[])));
            out
        }
        Peer::Fqdn {
            via: Via::EgressGateway,
            ..
        } => match &profile.egress_gateway {
            Some(g) => vec![and_peer(&g.pods.namespace, &g.pods.selector)],
            None => return Err(Diag::error("missing_profile", "no egress gateway is configured").at(&edge.source.loc)),
        },
        Peer::Fqdn { name, via: Via::Direct } => {
            return Err(Diag::error("fqdn_unsupported", format!("NetworkPolicy cannot allow a DNS name (`{name}`): it only knows addresses"))
                .at(&edge.source.loc)
                .help("write the destination as `{ fqdn: ..., via: egress-gateway }` so pods may reach only the gateway, or add a `cilium` target, whose toFQDNs rules follow DNS"));
        }
    })
}

fn ports(ports: &[Port]) -> Option<Vec<NetworkPolicyPort>> {
    if ports.is_empty() {
        return None;
    }
    Some(
        ports
            .iter()
            .map(|p| NetworkPolicyPort {
                protocol: Some(p.protocol.as_k8s().to_string()),
                port: Some(match &p.name {
                    Some(name) => IntOrString::String(name.clone()),
                    None => IntOrString::Int(i32::from(p.first)),
                }),
                end_port: (p.name.is_none() && p.last != p.first).then_some(i32::from(p.last)),
            })
            .collect(),
    )
}
