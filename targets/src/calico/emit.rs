//! IR → Calico: a no-rule policy per namespace that selects every pod (so the
//! end-of-tier deny applies: the default deny), one policy per pod group with
//! explicit Allow rules, one NetworkSet per address block.
//!
//! A rule selector matches the addresses of every kind of endpoint whose
//! labels it matches: pods and NetworkSets alike (reference/resources/
//! networkset). Each selector therefore names its kind: pods by
//! `projectcalico.org/orchestrator == 'k8s'`, the label Calico puts on every
//! pod's workload endpoint and that its own Kubernetes NetworkPolicy
//! converter adds to every pod selector (libcalico-go k8s/conversion), and
//! NetworkSets by `!has(projectcalico.org/orchestrator)`, which no workload
//! endpoint satisfies.
//!
//! Every policy has `order: 1000`. Calico evaluates lower orders first; 1000
//! leaves room below for platform policies (explicit denies) and above for
//! application teams' own. The default deny has no rules, so it denies only
//! what no policy of the tier allows, like native NetworkPolicy's union.

use super::evaluate::ORCHESTRATOR;
use crate::{
    groups::{egress_group, ingress_group, metadata, Group, Sources},
    Manifest, Mode,
};
use ipnet::IpNet;
use palisade_compiler::ir::{Edge, Ir, Peer, Port};
use palisade_intents::{
    syntax::{Entity, Protocol},
    types::{Labels, Posture, Via},
    Diag, Diags,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const ORDER: u32 = 1000;

pub(super) fn emit(ir: &Ir, mode: Mode) -> Result<Vec<Manifest>, Diags> {
    let mut diags = Diags::new();
    let kind = match mode {
        Mode::Enforce => "NetworkPolicy",
        Mode::Audit => "StagedNetworkPolicy",
    };
    let mut manifests = Vec::new();
    let mut sets: BTreeMap<(String, IpNet), Sources> = BTreeMap::new();
    for ns in ir.namespaces.values().filter(|ns| ns.posture != Posture::None) {
        let types = if ns.isolates_egress() {
            json!(["Ingress", "Egress"])
        } else {
            json!(["Ingress"])
        };
        let mut sources = Sources::default();
        sources.add(ns.posture_source.id());
        let spec = json!({ "selector": "all()", "types": types, "order": ORDER });
        manifests.push(policy(
            ir,
            kind,
            &ns.name,
            "palisade-default-deny",
            spec,
            &sources,
            mode,
        ));
    }
    let mut groups: BTreeMap<Group, Draft> = BTreeMap::new();
    for edge in &ir.edges {
        if let Some(group) = egress_group(ir, edge) {
            match rules(ir, edge, &edge.to, "destination", &group.namespace, &mut sets) {
                Ok(rules) => {
                    let draft = groups.entry(group).or_default();
                    draft.egress.extend(rules);
                    draft.sources.add(edge.source.id());
                }
                Err(d) => diags.push(d),
            }
        }
        if let Some(group) = ingress_group(ir, edge) {
            match rules(ir, edge, &edge.from, "source", &group.namespace, &mut sets) {
                Ok(rules) => {
                    let draft = groups.entry(group).or_default();
                    draft.ingress.extend(rules);
                    draft.sources.add(edge.source.id());
                }
                Err(d) => diags.push(d),
            }
        }
    }
    if diags.has_errors() {
        return Err(diags.sorted());
    }
    for (group, draft) in groups {
        let mut types = Vec::new();
        let mut spec = json!({ "selector": pod_selector(&group.selector), "order": ORDER });
        if !draft.ingress.is_empty() {
            types.push("Ingress");
            spec["ingress"] = Value::Array(draft.ingress);
        }
        if !draft.egress.is_empty() {
            types.push("Egress");
            spec["egress"] = Value::Array(draft.egress);
        }
        spec["types"] = json!(types);
        manifests.push(policy(
            ir,
            kind,
            &group.namespace,
            &group.name,
            spec,
            &draft.sources,
            mode,
        ));
    }
    for ((namespace, net), sources) in sets {
        manifests.push(Manifest::new(json!({
            "apiVersion": "projectcalico.org/v3",
            "kind": "NetworkSet",
            "metadata": with_label(metadata(ir, &namespace, &set_name(&net), &sources), NETWORK_LABEL, &set_name(&net)),
            "spec": { "nets": [net.to_string()] },
        })));
    }
    Ok(manifests)
}

/// The label a NetworkSet carries and rules select it by
const NETWORK_LABEL: &str = "palisade.dev/network";

fn set_name(net: &IpNet) -> String {
    format!("palisade-net-{}", net.to_string().replace(['.', ':', '/'], "-"))
}

fn with_label(mut metadata: Value, key: &str, value: &str) -> Value {
    metadata["labels"][key] = value.into();
    metadata
}

#[derive(Default)]
struct Draft {
    ingress: Vec<Value>,
    egress: Vec<Value>,
    sources: Sources,
}

fn policy(
    ir: &Ir,
    kind: &str,
    namespace: &str,
    name: &str,
    mut spec: Value,
    sources: &Sources,
    mode: Mode,
) -> Manifest {
    if mode == Mode::Audit {
        spec["stagedAction"] = "Set".into();
    }
    Manifest::from_parts(
        "projectcalico.org/v3",
        kind,
        metadata(ir, namespace, name, sources),
        spec,
    )
}

/// Pods (and only pods) with these labels
fn pod_selector(labels: &Labels) -> String {
    let mut out = format!("{ORCHESTRATOR} == 'k8s'");
    for (k, v) in labels {
        out.push_str(&format!(" && {k} == '{v}'"));
    }
    out
}

/// The NetworkSet of this block (and no pod that carries its label)
fn network_set_selector(net: &IpNet) -> String {
    format!("{NETWORK_LABEL} == '{}' && !has({ORCHESTRATOR})", set_name(net))
}

fn namespace_selector(ns: &str) -> String {
    format!("projectcalico.org/name == '{ns}'")
}

/// The Allow rules for one edge; `side` is where the peer goes (`source` or
/// `destination`), the ports always go to the destination
fn rules(
    ir: &Ir,
    edge: &Edge,
    peer: &Peer,
    side: &str,
    policy_namespace: &str,
    sets: &mut BTreeMap<(String, IpNet), Sources>,
) -> Result<Vec<Value>, Diag> {
    let profile = &ir.profile;
    let pods = |ns: &str, labels: &Labels, service_account: Option<&String>| {
        let mut entity = json!({ "selector": pod_selector(labels), "namespaceSelector": namespace_selector(ns) });
        if let Some(sa) = service_account {
            entity["serviceAccounts"] = json!({ "names": [sa] });
        }
        entity
    };
    let entities: Vec<Value> = match peer {
        Peer::Service { namespace, name } => {
            let service = ir.service(namespace, name);
            vec![pods(
                namespace,
                &service.map(|s| s.selector.clone()).unwrap_or_default(),
                service.and_then(|s| s.service_account.as_ref()),
            )]
        }
        Peer::Namespace(ns) => vec![pods(ns, &Labels::new(), None)],
        Peer::Pods { namespace, selector } => vec![pods(namespace, selector, None)],
        Peer::Cidr { net, except } => {
            sets.entry((policy_namespace.to_string(), *net))
                .or_default()
                .add(edge.source.id());
            let mut entity = json!({ "selector": network_set_selector(net) });
            if !except.is_empty() {
                entity["notNets"] = except.iter().map(ToString::to_string).collect();
            }
            vec![entity]
        }
        Peer::Entity(Entity::World) => {
            if profile.cluster_cidrs.is_empty() {
                return Err(Diag::error("world_needs_cluster_cidrs", "`world` on Calico needs the cluster's pod and service CIDRs")
                    .at(&edge.source.loc)
                    .help("add `clusterCIDRs: [<pod CIDR>, <service CIDR>]` under `spec.cluster`: Calico's `nets` also match pod addresses"));
            }
            let v6 = profile.cluster_cidrs.iter().any(|c| matches!(c, IpNet::V6(_)));
            let mut nets = vec!["0.0.0.0/0".to_string()];
            if v6 {
                nets.push("::/0".into());
            }
            vec![
                json!({ "nets": nets, "notNets": profile.cluster_cidrs.iter().map(ToString::to_string).collect::<Vec<_>>() }),
            ]
        }
        Peer::Entity(Entity::KubeApi) => {
            vec![
                json!({ "nets": profile.api_server.iter().flat_map(|a| a.cidrs.iter().map(ToString::to_string)).collect::<Vec<_>>() }),
            ]
        }
        Peer::Entity(Entity::Dns) => {
            let mut out = vec![pods(&profile.dns.namespace, &profile.dns.selector, None)];
            out.extend(profile.node_local_dns.map(|n| json!({ "nets": [n.to_string()] })));
            out
        }
        Peer::Fqdn {
            via: Via::EgressGateway,
            ..
        } => profile
            .egress_gateway
            .iter()
            .map(|g| pods(&g.pods.namespace, &g.pods.selector, None))
            .collect(),
        // Calico Enterprise: the refusals let this through only for that edition.
        Peer::Fqdn { name, via: Via::Direct } => {
            if name.is_wildcard() {
                return Err(wildcard_domain(name.as_str()).at(&edge.source.loc));
            }
            vec![json!({ "domains": [name.as_str()] })]
        }
    };
    let mut out = Vec::new();
    for entity in entities {
        if edge.ports.is_empty() {
            out.push(rule(side, entity, None, &[]));
            continue;
        }
        // Calico needs one protocol per rule: group the ports by protocol.
        let mut by_protocol: BTreeMap<Protocol, Vec<&Port>> = BTreeMap::new();
        for p in &edge.ports {
            by_protocol.entry(p.protocol).or_default().push(p);
        }
        for (protocol, ports) in by_protocol {
            out.push(rule(side, entity.clone(), Some(protocol), &ports));
        }
    }
    Ok(out)
}

/// Calico Enterprise reads `*` in a domain as one or more labels
/// (docs.tigera.io/calico-enterprise/latest/network-policy/domain-based-policy:
/// `*.google.com` matches `www.ipv6.google.com`); palisade's `*.` is exactly
/// one. No Calico domain form means one label only.
fn wildcard_domain(name: &str) -> Diag {
    let suffix = name.strip_prefix("*.").unwrap_or(name);
    Diag::error(
        "calico_wildcard_domain",
        format!("`{name}` would be broader on Calico Enterprise: its `*` matches one or more labels (`a.b.{suffix}` too), palisade's `*.` exactly one"),
    )
    .help(format!("list the names instead (`api.{suffix}`, ...), write `{{ fqdn: {name}, via: egress-gateway }}`, or render these pods with the `cilium` target instead, whose matchPattern `*` matches one label"))
}

fn rule(side: &str, entity: Value, protocol: Option<Protocol>, ports: &[&Port]) -> Value {
    let mut rule = Map::new();
    rule.insert("action".into(), "Allow".into());
    if let Some(p) = protocol {
        rule.insert("protocol".into(), p.as_k8s().into());
    }
    let port_values: Vec<Value> = ports
        .iter()
        .map(|p| match (&p.name, p.first == p.last) {
            (Some(name), _) => name.clone().into(),
            (None, true) => json!(p.first),
            (None, false) => format!("{}:{}", p.first, p.last).into(),
        })
        .collect();
    let mut destination = if side == "destination" {
        entity.clone()
    } else {
        json!({})
    };
    if !port_values.is_empty() {
        destination["ports"] = Value::Array(port_values);
    }
    if side == "source" {
        rule.insert("source".into(), entity);
    }
    if destination.as_object().is_some_and(|d| !d.is_empty()) {
        rule.insert("destination".into(), destination);
    }
    Value::Object(rule)
}
