//! IR → Istio objects: the egress-gateway route per (namespace, FQDN), the
//! gateway's own objects and its AuthorizationPolicy per host, one Sidecar and
//! one DestinationRule per namespace that uses the gateway, and an ALLOW
//! AuthorizationPolicy for every service that an HTTP rule protects.
//!
//! The egress route (after the pattern of Istio's "egress gateway with mTLS"
//! and its AuthorizationPolicy on the gateway): the caller's sidecar matches
//! the application's TLS by SNI on tcp/443 (VirtualService `tls` route,
//! `gateways: [mesh]`) and sends it to the gateway inside Istio mTLS whose SNI
//! is the host (DestinationRule subset, `tls: { mode: ISTIO_MUTUAL, sni }`).
//! The gateway terminates that mTLS (Gateway server `tls.mode: ISTIO_MUTUAL`),
//! so it knows the caller's service-account principal and `connection.sni`,
//! and forwards the application's TLS unchanged (VirtualService `tcp` route).
//! A passthrough server would see no principal: Istio builds it with no TLS
//! context (pilot/pkg/networking/core/gateway.go, "NO TLS context because this
//! is passthrough"). The ALLOW AuthorizationPolicy on the gateway pods admits
//! each host only from the callers whose intents name it. Every route object
//! is `exportTo` the namespace that needs it only, so no other namespace's
//! sidecars route the host to the gateway (the default `exportTo` is `*`).
//!
//! Values that Istio reads as patterns never reach a manifest: Istio turns a
//! leading or trailing `*` in `when` values, paths, methods, principals and
//! namespaces into a suffix, prefix or presence match
//! (pilot/pkg/security/authz/matcher: `HeaderMatcher`, `StringMatcherWithPrefix`),
//! and `{*}` / `{**}` in a path into a URI template (`ContainsPathTemplate`).

use crate::{
    groups::{metadata, Sources},
    names, Manifest, Mode,
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
/// Istio's default trust domain, the first part of a SPIFFE principal
const TRUST_DOMAIN: &str = "cluster.local";
/// The AuthorizationPolicy on the egress gateway's pods
pub(super) const GATEWAY_POLICY: &str = "palisade-egress-gateway";

/// Who the gateway admits for one host, and the intents that say so
#[derive(Default)]
struct Admitted {
    principals: BTreeSet<String>,
    namespaces: BTreeSet<String>,
    sources: Sources,
}

pub(super) fn emit(ir: &Ir, mode: Mode) -> Result<Vec<Manifest>, Diags> {
    let mut diags = Diags::new();
    let mut manifests = Vec::new();
    // (namespace, fqdn) -> the intents that need it
    let mut egress: BTreeMap<(String, String), Sources> = BTreeMap::new();
    // fqdn -> who may use it
    let mut admitted: BTreeMap<String, Admitted> = BTreeMap::new();
    // principal -> service -> the hosts it is admitted for (a shared service
    // account would let one service use the other's hosts)
    let mut sharing: BTreeMap<String, BTreeMap<String, (BTreeSet<String>, &Edge)>> = BTreeMap::new();
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
        let host = name.as_str().to_string();
        let entry = admitted.entry(host.clone()).or_default();
        match caller(ir, &edge.from) {
            Ok(Caller::Principal { principal, service }) => {
                sharing
                    .entry(principal.clone())
                    .or_default()
                    .entry(service)
                    .or_insert_with(|| (BTreeSet::new(), edge))
                    .0
                    .insert(host.clone());
                entry.principals.insert(principal);
            }
            Ok(Caller::Namespace(ns)) => {
                entry.namespaces.insert(ns);
            }
            Err(help) => {
                diags.push(unidentified(edge, "the egress gateway", help));
                continue;
            }
        }
        entry.sources.add(edge.source.id());
        egress
            .entry((namespace.to_string(), host))
            .or_default()
            .add(edge.source.id());
    }
    for d in shared_accounts(&sharing, "the egress gateway") {
        diags.push(d);
    }
    if let Some(gateway) = &ir.profile.egress_gateway {
        let gateway_ns = gateway.pods.namespace.as_str();
        let gateway_host = format!("{}.{gateway_ns}.svc.{}", gateway.service, ir.profile.cluster_domain);
        let tls_port = json!({ "number": TLS_PORT, "name": "tls", "protocol": "TLS" });
        let mut rules = Vec::new();
        let mut policy_sources = Sources::default();
        // The gateway's side, once per host, in the gateway's namespace
        for (host, who) in &admitted {
            let name = names::object(&format!("palisade-gateway-{}", names::part(host)));
            let object = |kind: &str, spec: Value| {
                Manifest::from_parts(NETWORKING, kind, metadata(ir, gateway_ns, &name, &who.sources), spec)
            };
            manifests.push(object(
                "ServiceEntry",
                json!({
                    "hosts": [host], "ports": [tls_port], "resolution": "DNS", "location": "MESH_EXTERNAL",
                    "exportTo": ["."],
                }),
            ));
            manifests.push(object(
                "Gateway",
                json!({
                    "selector": gateway.pods.selector,
                    // `./`: only VirtualServices of this namespace bind to it
                    "servers": [{ "port": tls_port, "hosts": [format!("./{host}")], "tls": { "mode": "ISTIO_MUTUAL" } }],
                }),
            ));
            manifests.push(object(
                "VirtualService",
                json!({
                    "hosts": [host],
                    "gateways": [name],
                    "exportTo": ["."],
                    // A server that terminates TLS is routed by `tcp` blocks
                    "tcp": [{
                        "match": [{ "gateways": [name], "port": TLS_PORT }],
                        "route": [{ "destination": { "host": host, "port": { "number": TLS_PORT } }, "weight": 100 }],
                    }],
                }),
            ));
            let mut from = Vec::new();
            if !who.principals.is_empty() {
                from.push(json!({ "source": { "principals": who.principals } }));
            }
            if !who.namespaces.is_empty() {
                from.push(json!({ "source": { "namespaces": who.namespaces } }));
            }
            rules.push(json!({
                "from": from,
                "when": [{ "key": "connection.sni", "values": [host] }],
            }));
            for s in who.sources.joined().split(", ") {
                policy_sources.add(s.to_string());
            }
        }
        if !rules.is_empty() {
            let mut meta = metadata(ir, gateway_ns, GATEWAY_POLICY, &policy_sources);
            if mode == Mode::Audit {
                meta["annotations"]["istio.io/dry-run"] = "true".into();
            }
            manifests.push(Manifest::new(json!({
                "apiVersion": SECURITY, "kind": "AuthorizationPolicy", "metadata": meta,
                "spec": { "action": "ALLOW", "selector": { "matchLabels": gateway.pods.selector }, "rules": rules },
            })));
        }
        // The callers' side, per namespace
        let mut per_namespace: BTreeMap<String, (Vec<Value>, Sources)> = BTreeMap::new();
        for ((namespace, host), sources) in &egress {
            let name = format!("egress-{}", names::part(host));
            let object = |kind: &str, spec: Value| {
                Manifest::from_parts(NETWORKING, kind, metadata(ir, namespace, &name, sources), spec)
            };
            // In the gateway's namespace the gateway's own entry (`exportTo: .`) serves
            if namespace != gateway_ns {
                manifests.push(object(
                    "ServiceEntry",
                    json!({
                        "hosts": [host], "ports": [tls_port], "resolution": "DNS", "location": "MESH_EXTERNAL",
                        "exportTo": ["."],
                    }),
                ));
            }
            let subset = subset_name(host);
            manifests.push(object(
                "VirtualService",
                json!({
                    "hosts": [host],
                    "gateways": ["mesh"],
                    "exportTo": ["."],
                    "tls": [{
                        "match": [{ "gateways": ["mesh"], "port": TLS_PORT, "sniHosts": [host] }],
                        "route": [{ "destination": { "host": gateway_host, "subset": subset, "port": { "number": TLS_PORT } }, "weight": 100 }],
                    }],
                }),
            ));
            let entry = per_namespace.entry(namespace.clone()).or_default();
            entry.0.push(json!({
                "name": subset,
                "trafficPolicy": { "tls": { "mode": "ISTIO_MUTUAL", "sni": host } },
            }));
            for s in sources.joined().split(", ") {
                entry.1.add(s.to_string());
            }
        }
        for (namespace, (subsets, sources)) in per_namespace {
            manifests.push(Manifest::new(json!({
                "apiVersion": NETWORKING, "kind": "DestinationRule",
                "metadata": metadata(ir, &namespace, "palisade-egress-gateway", &sources),
                "spec": { "host": gateway_host, "exportTo": ["."], "subsets": subsets },
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

/// A DestinationRule subset name is a DNS-1123 label (Istio's
/// `validateSubsetName`): at most 63 of `[a-z0-9-]`. A host that is not one
/// already gets a digest of itself, so that two hosts never share a subset.
fn subset_name(host: &str) -> String {
    if palisade_intents::names::is_dns1123_label(host) {
        return host.to_string();
    }
    let cleaned: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let digest = names::hash(host);
    let keep = names::LABEL_LIMIT - digest.len() - 1;
    let head: String = cleaned.chars().take(keep).collect();
    let head = head.trim_matches('-');
    if head.is_empty() {
        digest
    } else {
        format!("{head}-{digest}")
    }
}

/// Under REGISTRY_ONLY the sidecar drops what the mesh does not know, so every
/// other outside destination this namespace's intents allow gets a
/// ServiceEntry (the L3/L4 target still enforces the exact allowance, `except`
/// blocks included).
fn registry_entries(ir: &Ir, namespace: &str) -> Vec<Manifest> {
    let mut entries: BTreeMap<String, (Value, Vec<u16>, Sources)> = BTreeMap::new();
    for edge in ir.edges.iter().filter(|e| e.from.namespace() == Some(namespace)) {
        // The sidecar captures TCP only: UDP and SCTP never meet the registry
        let tcp: Vec<_> = edge.ports.iter().filter(|p| p.protocol == Protocol::Tcp).collect();
        if !edge.ports.is_empty() && tcp.is_empty() {
            continue;
        }
        let profile = &ir.profile;
        let addresses = |nets: Vec<String>| json!({ "addresses": nets, "resolution": "NONE" });
        let (name, spec) = match &edge.to {
            Peer::Fqdn { name, via: Via::Direct } => {
                let resolution = if name.is_wildcard() { "NONE" } else { "DNS" };
                (
                    format!("external-{}", names::part(name.as_str())),
                    json!({ "hosts": [name.as_str()], "resolution": resolution }),
                )
            }
            Peer::Cidr { net, .. } => (
                format!("external-{}", names::part(&net.to_string())),
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
        entry.1.extend(tcp.iter().flat_map(|p| p.first..=p.last).take(64));
        entry.2.add(edge.source.id());
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
            // Exported everywhere by default: another namespace's REGISTRY_ONLY
            // sidecars would admit this namespace's destinations
            spec["exportTo"] = json!(["."]);
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
    // The application's TLS passes through the gateway: it sees the SNI and
    // the caller's principal, never a method or a path.
    if !edge.http.is_empty() {
        return Err(Diag::error(
            "istio_l7_through_gateway",
            format!("the egress gateway sees only the TLS name `{name}`, not the HTTP requests inside"),
        )
        .at(&edge.source.loc)
        .help("remove the `http` part of this rule (the gateway admits the host as a whole), or originate TLS at the gateway outside palisade"));
    }
    Ok(())
}

/// How Istio knows a caller: its service account's principal (from the
/// caller's mTLS certificate), or its namespace when the intent names every
/// pod of one
enum Caller {
    Principal { principal: String, service: String },
    Namespace(String),
}

fn caller(ir: &Ir, peer: &Peer) -> Result<Caller, String> {
    match peer {
        Peer::Service { namespace, name } => principal(ir, namespace, name).map(|principal| Caller::Principal {
            principal,
            service: format!("{namespace}/{name}"),
        }),
        Peer::Namespace(ns) => literal_name(ns)
            .map(|()| Caller::Namespace(ns.clone()))
            .map_err(|why| format!("namespace `{ns}` {why}")),
        Peer::Pods { .. } => Err("declare these pods as a service with a `serviceAccount`".into()),
        _ => Err("name a service with a `serviceAccount`, or a namespace".into()),
    }
}

/// `cluster.local/ns/NS/sa/SA` for a service with a valid service account.
/// Without one the caller cannot be told apart from the other pods of its
/// namespace: falling back to the namespace would admit them all, so it is
/// refused.
fn principal(ir: &Ir, namespace: &str, name: &str) -> Result<String, String> {
    let Some(sa) = ir.service(namespace, name).and_then(|s| s.service_account.as_ref()) else {
        return Err(format!(
            "give service `{name}` a `serviceAccount`: Istio identifies callers by their service account"
        ));
    };
    literal_name(sa).map_err(|why| format!("the `serviceAccount` `{sa}` of service `{name}` {why}"))?;
    Ok(format!("{TRUST_DOMAIN}/ns/{namespace}/sa/{sa}"))
}

/// A Kubernetes name (DNS-1123 subdomain) that Istio matches exactly: no `*`
/// and nothing outside `[a-z0-9.-]`
fn literal_name(name: &str) -> Result<(), &'static str> {
    if palisade_intents::names::is_dns1123_subdomain(name) {
        Ok(())
    } else {
        Err("is not a Kubernetes name (lowercase letters, digits, `-` and `.`); Istio would read a `*` in it as a pattern")
    }
}

fn unidentified(edge: &Edge, at: &str, help: String) -> Diag {
    Diag::error(
        "istio_unidentified_source",
        format!("{at} cannot tell `{}` apart from other callers", edge.from),
    )
    .at(&edge.source.loc)
    .help(help)
}

/// Two services that share a service account are one principal to Istio: a
/// policy that admits one for something the other is not allowed would admit
/// both. `sharing`: principal → service → (what it is admitted for, an edge).
fn shared_accounts<T: Ord>(sharing: &BTreeMap<String, BTreeMap<String, (BTreeSet<T>, &Edge)>>, at: &str) -> Vec<Diag> {
    let mut diags = Vec::new();
    for (principal, services) in sharing {
        let mut iter = services.iter();
        let Some((first, (first_allowed, first_edge))) = iter.next() else {
            continue;
        };
        for (other, (allowed, edge)) in iter {
            if allowed == first_allowed {
                continue;
            }
            diags.push(
                Diag::error(
                    "istio_shared_principal",
                    format!(
                        "{at} cannot tell `{first}` ({}) apart from `{other}`: both run as `{principal}`, and they are allowed different things",
                        first_edge.source.loc
                    ),
                )
                .at(&edge.source.loc)
                .help(format!("give `{first}` and `{other}` a `serviceAccount` each")),
            );
        }
    }
    diags
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
    // (destination) -> principal -> service -> its rules
    type Sharing<'e> = BTreeMap<String, BTreeMap<String, (BTreeSet<String>, &'e Edge)>>;
    let mut sharing: BTreeMap<(String, String), Sharing> = BTreeMap::new();
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
                diags.push(unidentified(edge, "Istio", help));
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
        if let Err(d) = edge.http.iter().try_for_each(|rule| exact_http(edge, rule)) {
            diags.push(d);
            continue;
        }
        let ports: Vec<String> = edge.ports.iter().map(|p| p.first.to_string()).collect();
        let entry = policies.entry((namespace.clone(), name.clone())).or_default();
        entry.1.add(edge.source.id());
        let http: Vec<Option<&HttpRule>> = if edge.http.is_empty() {
            vec![None]
        } else {
            edge.http.iter().map(Some).collect()
        };
        let rules: Vec<Value> = http
            .into_iter()
            .map(|rule| authorization_rule(&source, &ports, rule))
            .collect();
        if let (
            Peer::Service {
                namespace: from_ns,
                name: from,
            },
            Some(principal),
        ) = (&edge.from, source["principals"][0].as_str())
        {
            sharing
                .entry((namespace.clone(), name.clone()))
                .or_default()
                .entry(principal.to_string())
                .or_default()
                .entry(format!("{from_ns}/{from}"))
                .or_insert_with(|| (BTreeSet::new(), edge))
                .0
                .extend(rules.iter().map(Value::to_string));
        }
        entry.0.extend(rules);
    }
    for ((namespace, name), by_principal) in &sharing {
        for d in shared_accounts(
            by_principal,
            &format!("the AuthorizationPolicy of `{namespace}/{name}`"),
        ) {
            diags.push(d);
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
    match peer {
        Peer::Service { namespace, name } => principal(ir, namespace, name).map(|p| json!({ "principals": [p] })),
        Peer::Namespace(ns) => literal_name(ns)
            .map(|()| json!({ "namespaces": [ns] }))
            .map_err(|why| format!("namespace `{ns}` {why}")),
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

/// An HTTP rule whose every value Istio matches exactly as palisade means it.
/// Palisade's path is exact, or a prefix when it ends in `*` (Istio: "prefix
/// match" for a trailing `*`, the same); a header value and a method are
/// exact. Istio's `HeaderMatcher` reads a value of `*` as presence, a leading
/// `*` as a suffix and a trailing one as a prefix; it rejects an empty
/// value (`CheckEmptyValues`) and any `{` or `}` in a path that is not a
/// `{*}`/`{**}` template (`CheckValidPathTemplate`), which it would match as
/// a URI template.
fn exact_http(edge: &Edge, rule: &HttpRule) -> Result<(), Diag> {
    let refuse = |message: String, help: &str| {
        Diag::error("istio_inexact_http", message)
            .at(&edge.source.loc)
            .help(help.to_string())
    };
    if let Some(method) = &rule.method {
        if method.starts_with('*') || method.ends_with('*') || method.is_empty() {
            return Err(refuse(
                format!("Istio would read the method `{method}` as a pattern"),
                "name the method (`GET`, `POST`, ...)",
            ));
        }
    }
    if let Some(path) = &rule.path {
        if path.contains(['{', '}']) {
            return Err(refuse(
                format!("Istio reads `{{` and `}}` in the path `{path}` as a path template, not as characters"),
                "leave out the braces (percent-encode them as `%7B` and `%7D` if the path has them), or use a `cilium` target",
            ));
        }
    }
    for (header, value) in &rule.headers {
        let token = !header.is_empty()
            && header
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
        if !token {
            return Err(refuse(
                format!("`{header}` is not an HTTP header name"),
                "a header name is letters, digits and `!#$%&'*+-.^_`|~` (RFC 9110 token)",
            ));
        }
        if value.is_empty() {
            return Err(refuse(
                format!("Istio refuses an empty value for header `{header}`"),
                "give the value the header must have, or use a `cilium` target, whose header match is exact",
            ));
        }
        if value.starts_with('*') || value.ends_with('*') {
            let reading = if value == "*" {
                "any value (presence)"
            } else if value.starts_with('*') {
                "a suffix match"
            } else {
                "a prefix match"
            };
            return Err(refuse(
                format!("Istio would read the value `{value}` of header `{header}` as {reading}, not the exact value"),
                "drop the `*`, or use a `cilium` target, whose header match is exact",
            ));
        }
    }
    Ok(())
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

#[cfg(test)]
#[path = "emit_tests.rs"]
mod tests;
