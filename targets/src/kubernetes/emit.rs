//! IR → NetworkPolicies: a default deny per namespace, one ingress and one
//! egress policy per service (and per namespace-wide or ad-hoc pod group), one
//! rule per edge so every rule traces back to one intent line.

use crate::{
    groups::{egress_group, ingress_group, metadata, Sources},
    Manifest, Mode,
};
use ipnet::IpNet;
use k8s_openapi::{
    api::networking::v1::{
        IPBlock, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
        NetworkPolicySpec,
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};
use palisade_compiler::ir::{Edge, Ir, Peer, Port};
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
        let draft = policies
            .entry((ns.name.clone(), "palisade-default-deny".into()))
            .or_default();
        draft.types = if ns.isolates_egress() {
            vec!["Ingress".into(), "Egress".into()]
        } else {
            vec!["Ingress".into()]
        };
        draft.sources.add(ns.posture_source.id());
    }
    for edge in &ir.edges {
        // HTTP rules were refused or handed to an overlay before emission:
        // here an edge is its ports.
        let (to, from) = match (peers(ir, &edge.to, edge), peers(ir, &edge.from, edge)) {
            (Ok(to), Ok(from)) => (to, from),
            (Err(d), _) | (_, Err(d)) => {
                diags.push(d);
                continue;
            }
        };
        let ports = ports(&edge.ports);
        if let Some(group) = egress_group(ir, edge) {
            let draft = policies
                .entry((group.namespace.clone(), format!("{}-egress", group.name)))
                .or_default();
            draft.selector = group.selector;
            draft.egress.push(NetworkPolicyEgressRule {
                to: Some(to),
                ports: ports.clone(),
            });
            draft.sources.add(edge.source.id());
        }
        if let Some(group) = ingress_group(ir, edge) {
            let draft = policies
                .entry((group.namespace.clone(), format!("{}-ingress", group.name)))
                .or_default();
            draft.selector = group.selector;
            draft.ingress.push(NetworkPolicyIngressRule {
                from: Some(from),
                ports,
            });
            draft.sources.add(edge.source.id());
        }
    }
    if diags.has_errors() {
        return Err(diags.sorted());
    }
    Ok(policies
        .into_iter()
        .map(|((ns, name), draft)| draft.render(ir, &ns, &name))
        .collect())
}

/// A policy being assembled from edges
#[derive(Default)]
struct Draft {
    selector: Labels,
    types: Vec<String>,
    ingress: Vec<NetworkPolicyIngressRule>,
    egress: Vec<NetworkPolicyEgressRule>,
    sources: Sources,
}

impl Draft {
    fn render(self, ir: &Ir, namespace: &str, name: &str) -> Manifest {
        let mut types = self.types;
        for (present, kind) in [
            (!self.ingress.is_empty(), "Ingress"),
            (!self.egress.is_empty(), "Egress"),
        ] {
            if present && !types.iter().any(|t| t == kind) {
                types.push(kind.into());
            }
        }
        let spec = NetworkPolicySpec {
            // Always written: podSelector was required up to Kubernetes 1.33.
            pod_selector: Some(match_labels(&self.selector)),
            policy_types: Some(types),
            ingress: (!self.ingress.is_empty()).then_some(self.ingress),
            egress: (!self.egress.is_empty()).then_some(self.egress),
        };
        Manifest::from_parts(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            metadata(ir, namespace, name, &self.sources),
            serde_json::to_value(&spec).unwrap_or_default(),
        )
    }
}

fn match_labels(labels: &Labels) -> LabelSelector {
    LabelSelector {
        match_labels: (!labels.is_empty()).then(|| labels.clone()),
        match_expressions: None,
    }
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

/// The NetworkPolicy peers that stand for an IR peer, or a refusal. Never
/// an empty list: `to: []` / `from: []` admits every peer.
fn peers(ir: &Ir, peer: &Peer, edge: &Edge) -> Result<Vec<NetworkPolicyPeer>, Diag> {
    let peers = some_peers(ir, peer, edge)?;
    if peers.is_empty() {
        return Err(Diag::error("empty_peer_list", format!("`{peer}` stands for no address here, and an empty peer list would admit everything"))
            .at(&edge.source.loc)
            .help("give the cluster profile the addresses of this destination (e.g. `apiServer: { cidrs: [...] }` from `kubectl get endpoints kubernetes`)"));
    }
    Ok(peers)
}

fn some_peers(ir: &Ir, peer: &Peer, edge: &Edge) -> Result<Vec<NetworkPolicyPeer>, Diag> {
    let profile = &ir.profile;
    Ok(match peer {
        Peer::Service { namespace, name } => match ir.service(namespace, name) {
            Some(service) => vec![and_peer(namespace, &service.selector)],
            // An empty selector would stand for every pod of the namespace
            None => {
                return Err(Diag::error(
                    "unknown_service",
                    format!("`{namespace}/{name}` is not a declared service"),
                )
                .at(&edge.source.loc))
            }
        },
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
            return Err(Diag::error(
                "fqdn_unsupported",
                format!("NetworkPolicy cannot allow a DNS name (`{name}`)"),
            )
            .at(&edge.source.loc));
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
