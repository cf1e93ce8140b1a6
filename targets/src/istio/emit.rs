//! IR → Istio objects: the egress-gateway set per (namespace, FQDN), one
//! Sidecar and one DestinationRule per namespace that uses the gateway, and an
//! ALLOW AuthorizationPolicy for every service that an HTTP rule protects.

use crate::{
    groups::{metadata, Sources},
    Manifest, Mode,
};
use palisade_compiler::ir::{Edge, Ir, Peer};
use palisade_intents::{
    model::HttpRule,
    syntax::{Entity, Fqdn, Protocol},
    types::{Labels, Via},
    Diag, Diags,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const NETWORKING: &str = "networking.istio.io/v1";
const SECURITY: &str = "security.istio.io/v1";
/// TLS is routed by SNI through the gateway; only this port can be
const TLS_PORT: u16 = 443;

pub(super) fn emit(ir: &Ir, mode: Mode) -> Result<Vec<Manifest>, Diags> {
    let mut diags = Diags::new();
    let mut manifests = Vec::new();
    // (namespace, fqdn) -> the intents that need it
    let mut egress: BTreeMap<(String, String), Sources> = BTreeMap::new();
    for edge in &ir.edges {
        let Peer::Fqdn {
            name,
            via: Via::EgressGateway,
        } = &edge.to
        else {
            continue;
        };
        let Some(namespace) = edge.from.namespace().filter(|ns| ir.namespaces.contains_key(*ns)) else {
            continue;
        };
        if let Err(d) = routable(edge, name) {
            diags.push(d);
            continue;
        }
        egress
            .entry((namespace.to_string(), name.as_str().to_string()))
            .or_default()
            .add(edge.source.file_line());
    }
    if let Some(gateway) = &ir.profile.egress_gateway {
        let gateway_host = format!(
            "{}.{}.svc.{}",
            gateway.service, gateway.pods.namespace, ir.profile.cluster_domain
        );
        let mut per_namespace: BTreeMap<String, (Vec<String>, Sources)> = BTreeMap::new();
        for ((namespace, host), sources) in &egress {
            let slug = slug(host);
            let name = format!("egress-{slug}");
            let object = |kind: &str, spec: Value| {
                Manifest::new(
                    json!({ "apiVersion": NETWORKING, "kind": kind, "metadata": metadata(ir, namespace, &name, sources), "spec": spec }),
                )
            };
            let tls_port = json!({ "number": TLS_PORT, "name": "tls", "protocol": "TLS" });
            manifests.push(object(
                "ServiceEntry",
                json!({
                    "hosts": [host], "ports": [tls_port], "resolution": "DNS", "location": "MESH_EXTERNAL",
                }),
            ));
            manifests.push(object(
                "Gateway",
                json!({
                    "selector": gateway.pods.selector,
                    "servers": [{ "port": tls_port, "hosts": [host], "tls": { "mode": "PASSTHROUGH" } }],
                }),
            ));
            let route = |gw: &str, destination: Value| {
                json!({
                    "match": [{ "gateways": [gw], "port": TLS_PORT, "sniHosts": [host] }],
                    "route": [{ "destination": destination, "weight": 100 }],
                })
            };
            manifests.push(object(
                "VirtualService",
                json!({
                    "hosts": [host],
                    "gateways": ["mesh", name],
                    "tls": [
                        route("mesh", json!({ "host": gateway_host, "subset": slug, "port": { "number": TLS_PORT } })),
                        route(&name, json!({ "host": host, "port": { "number": TLS_PORT } })),
                    ],
                }),
            ));
            let entry = per_namespace.entry(namespace.clone()).or_default();
            entry.0.push(slug);
            for s in sources.joined().split(", ") {
                entry.1.add(s.to_string());
            }
        }
        for (namespace, (subsets, sources)) in per_namespace {
            let subsets: Vec<Value> = subsets.iter().map(|s| json!({ "name": s })).collect();
            manifests.push(Manifest::new(json!({
                "apiVersion": NETWORKING, "kind": "DestinationRule",
                "metadata": metadata(ir, &namespace, "palisade-egress-gateway", &sources),
                "spec": { "host": gateway_host, "subsets": subsets },
            })));
            manifests.extend(registry_entries(ir, &namespace));
            if mode == Mode::Enforce {
                // Without it the sidecar would pass unknown hosts straight out.
                manifests.push(Manifest::new(json!({
                    "apiVersion": NETWORKING, "kind": "Sidecar",
                    "metadata": metadata(ir, &namespace, "palisade-registry-only", &sources),
                    "spec": { "outboundTrafficPolicy": { "mode": "REGISTRY_ONLY" } },
                })));
            }
        }
    }
    match authorization(ir, mode) {
        Ok(policies) => manifests.extend(policies),
        Err(d) => diags.extend(d),
    }
    if diags.has_errors() {
        return Err(diags.sorted());
    }
    Ok(manifests)
}

fn slug(host: &str) -> String {
    host.replace(['.', ':', '/'], "-").replace('*', "wildcard")
}

/// Under REGISTRY_ONLY the sidecar drops what the mesh does not know, so every
/// other outside destination this namespace's intents allow gets a
/// ServiceEntry (the L3/L4 target still enforces the exact allowance, `except`
/// blocks included).
fn registry_entries(ir: &Ir, namespace: &str) -> Vec<Manifest> {
    let mut entries: BTreeMap<String, (Value, Vec<u16>, Sources)> = BTreeMap::new();
    for edge in ir.edges.iter().filter(|e| e.from.namespace() == Some(namespace)) {
        let profile = &ir.profile;
        let addresses = |nets: Vec<String>| json!({ "addresses": nets, "resolution": "NONE" });
        let (name, spec) = match &edge.to {
            Peer::Fqdn { name, via: Via::Direct } => {
                let resolution = if name.is_wildcard() { "NONE" } else { "DNS" };
                (
                    format!("external-{}", slug(name.as_str())),
                    json!({ "hosts": [name.as_str()], "resolution": resolution }),
                )
            }
            Peer::Cidr { net, .. } => (
                format!("external-{}", slug(&net.to_string())),
                addresses(vec![net.to_string()]),
            ),
            Peer::Entity(Entity::KubeApi) => (
                "external-kube-api".into(),
                addresses(
                    profile
                        .api_server
                        .iter()
                        .flat_map(|a| a.cidrs.iter().map(ToString::to_string))
                        .collect(),
                ),
            ),
            Peer::Entity(Entity::Dns) => match profile.node_local_dns {
                Some(local) => ("external-node-local-dns".into(), addresses(vec![local.to_string()])),
                None => continue,
            },
            Peer::Entity(Entity::World) => ("external-world".into(), addresses(vec!["0.0.0.0/0".into()])),
            _ => continue,
        };
        let entry = entries
            .entry(name)
            .or_insert_with(|| (spec, Vec::new(), Sources::default()));
        entry
            .1
            .extend(edge.ports.iter().flat_map(|p| p.first..=p.last).take(64));
        entry.2.add(edge.source.file_line());
    }
    entries
        .into_iter()
        .map(|(name, (mut spec, mut ports, sources))| {
            if spec.get("hosts").is_none() {
                spec["hosts"] = json!([format!("{name}.palisade.invalid")]);
            }
            ports.sort_unstable();
            ports.dedup();
            spec["location"] = "MESH_EXTERNAL".into();
            spec["ports"] = ports.iter().map(|p| json!({ "number": p, "name": format!("tcp-{p}"), "protocol": if *p == TLS_PORT { "TLS" } else { "TCP" } })).collect();
            Manifest::from_parts(NETWORKING, "ServiceEntry", metadata(ir, namespace, &name, &sources), spec)
        })
        .collect()
}

/// The gateway routes exact names on tcp/443 by SNI; anything else would need
/// a different (broader) route
fn routable(edge: &Edge, name: &Fqdn) -> Result<(), Diag> {
    if name.is_wildcard() {
        return Err(Diag::error(
            "istio_unroutable",
            format!("the egress gateway cannot route the wildcard `{name}`"),
        )
        .at(&edge.source.loc)
        .help("list the exact names, or use a `cilium` target, whose toFQDNs patterns follow DNS"));
    }
    let only_tls = edge.ports.len() == 1
        && edge
            .ports
            .iter()
            .all(|p| p.protocol == Protocol::Tcp && p.first == TLS_PORT && p.last == TLS_PORT);
    if !only_tls {
        return Err(Diag::error(
            "istio_unroutable",
            format!("the egress gateway routes `{name}` by TLS SNI on tcp/443 only"),
        )
        .at(&edge.source.loc)
        .help("write `ports: [tcp/443]` (or `https://` the host); other ports need a `cilium` target"));
    }
    Ok(())
}

/// ALLOW policies for services an HTTP rule protects. Once one ALLOW policy
/// selects a workload, Istio denies what no ALLOW rule matches, so every edge
/// into the service gets a rule here, with or without HTTP.
fn authorization(ir: &Ir, mode: Mode) -> Result<Vec<Manifest>, Diags> {
    let mut diags = Diags::new();
    let protected: BTreeSet<(&String, &String)> = ir
        .edges
        .iter()
        .filter(|e| !e.http.is_empty())
        .filter_map(|e| match &e.to {
            Peer::Service { namespace, name } => Some((namespace, name)),
            _ => None,
        })
        .collect();
    let mut policies: BTreeMap<(String, String), (Vec<Value>, Sources)> = BTreeMap::new();
    for edge in &ir.edges {
        let Peer::Service { namespace, name } = &edge.to else {
            continue;
        };
        if !protected.contains(&(namespace, name)) {
            continue;
        }
        if !edge.http.is_empty() && !ir.namespaces.get(namespace).is_some_and(|n| n.isolates_ingress()) {
            diags.push(
                Diag::error("istio_l7_needs_isolation", format!("Istio enforces HTTP rules where `{namespace}/{name}` receives them, but namespace `{namespace}` admits everything"))
                    .at(&edge.source.loc)
                    .help(format!("give namespace `{namespace}` a `default-deny` or `default-deny-ingress` posture, or use a `cilium` target, which also filters on the way out")),
            );
            continue;
        }
        let source = match source(ir, &edge.from) {
            Ok(s) => s,
            Err(help) => {
                diags.push(
                    Diag::error(
                        "istio_unidentified_source",
                        format!("Istio cannot tell `{}` apart from other callers", edge.from),
                    )
                    .at(&edge.source.loc)
                    .help(help),
                );
                continue;
            }
        };
        if edge.ports.iter().any(|p| p.first != p.last) {
            diags.push(
                Diag::error(
                    "istio_port_range",
                    "AuthorizationPolicy ports are single ports, not ranges",
                )
                .at(&edge.source.loc)
                .help("list the ports one by one"),
            );
            continue;
        }
        let ports: Vec<String> = edge.ports.iter().map(|p| p.first.to_string()).collect();
        let entry = policies.entry((namespace.clone(), name.clone())).or_default();
        entry.1.add(edge.source.file_line());
        let http: Vec<Option<&HttpRule>> = if edge.http.is_empty() {
            vec![None]
        } else {
            edge.http.iter().map(Some).collect()
        };
        for rule in http {
            entry.0.push(authorization_rule(&source, &ports, rule));
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(policies
        .into_iter()
        .map(|((namespace, name), (rules, sources))| {
            let selector: Labels = ir
                .service(&namespace, &name)
                .map(|s| s.selector.clone())
                .unwrap_or_default();
            let mut meta = metadata(ir, &namespace, &name, &sources);
            if mode == Mode::Audit {
                meta["annotations"]["istio.io/dry-run"] = "true".into();
            }
            Manifest::new(json!({
                "apiVersion": SECURITY, "kind": "AuthorizationPolicy", "metadata": meta,
                "spec": { "action": "ALLOW", "selector": { "matchLabels": selector }, "rules": rules },
            }))
        })
        .collect())
}

/// The `source` of an AuthorizationPolicy rule that names exactly this peer
fn source(ir: &Ir, peer: &Peer) -> Result<Value, String> {
    let domain = "cluster.local";
    match peer {
        Peer::Service { namespace, name } => match ir.service(namespace, name).and_then(|s| s.service_account.as_ref())
        {
            Some(sa) => Ok(json!({ "principals": [format!("{domain}/ns/{namespace}/sa/{sa}")] })),
            None => Err(format!(
                "give service `{name}` a `serviceAccount`: Istio identifies callers by their service account"
            )),
        },
        Peer::Namespace(ns) => Ok(json!({ "namespaces": [ns] })),
        Peer::Cidr { net, except } => {
            let mut source = json!({ "ipBlocks": [net.to_string()] });
            if !except.is_empty() {
                source["notIpBlocks"] = except.iter().map(ToString::to_string).collect();
            }
            Ok(source)
        }
        Peer::Entity(Entity::World) if !ir.profile.cluster_cidrs.is_empty() => Ok(json!({
            "ipBlocks": ["0.0.0.0/0"],
            "notIpBlocks": ir.profile.cluster_cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })),
        Peer::Pods { .. } => Err("declare these pods as a service with a `serviceAccount`".into()),
        _ => Err("name a service with a `serviceAccount`, a namespace, or a CIDR".into()),
    }
}

fn authorization_rule(source: &Value, ports: &[String], http: Option<&HttpRule>) -> Value {
    let mut operation = serde_json::Map::new();
    if !ports.is_empty() {
        operation.insert("ports".into(), json!(ports));
    }
    let mut when = Vec::new();
    if let Some(http) = http {
        if let Some(method) = &http.method {
            operation.insert("methods".into(), json!([method]));
        }
        if let Some(path) = &http.path {
            operation.insert("paths".into(), json!([path]));
        }
        for (header, value) in &http.headers {
            when.push(json!({ "key": format!("request.headers[{header}]"), "values": [value] }));
        }
    }
    let mut rule = json!({ "from": [{ "source": source }] });
    if !operation.is_empty() {
        rule["to"] = json!([{ "operation": operation }]);
    }
    if !when.is_empty() {
        rule["when"] = Value::Array(when);
    }
    rule
}
