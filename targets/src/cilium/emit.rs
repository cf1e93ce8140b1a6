//! IR → CiliumNetworkPolicies: a default deny per namespace and one policy per
//! pod group (service, namespace, ad-hoc selector) holding its ingress and
//! egress rules, one rule per edge and peer kind (Cilium forbids mixing
//! endpoint, CIDR, entity and FQDN selectors in one rule). Every policy is
//! held to Cilium's admission rules (admission.rs) before it is handed on:
//! the agent refuses a whole policy for one broken rule.

use super::{admission, NAMESPACE_LABEL};
use crate::{
    groups::{egress_group, ingress_group, metadata, Group, Sources},
    Manifest, Mode,
};
use palisade_compiler::ir::{Ir, Peer, Port};
use palisade_intents::{
    model::HttpRule,
    syntax::{Entity, Fqdn, Protocol},
    types::{Labels, Posture, Via},
    Diag, Diags,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub(super) fn emit(ir: &Ir, mode: Mode) -> Result<Vec<Manifest>, Diags> {
    let enforce = mode == Mode::Enforce;
    let mut manifests = Vec::new();
    for ns in ir.namespaces.values().filter(|ns| ns.posture != Posture::None) {
        // `[{}]`: a rule that selects no peer, which turns default deny on.
        let mut spec = json!({ "endpointSelector": {}, "ingress": [{}] });
        if ns.isolates_egress() {
            spec["egress"] = json!([{}]);
        }
        if !enforce {
            spec["enableDefaultDeny"] = json!({ "ingress": false, "egress": false });
        }
        let mut sources = Sources::default();
        sources.add(ns.posture_source.id());
        manifests.push(policy(ir, &ns.name, "palisade-default-deny", spec, &sources));
    }
    let mut groups: BTreeMap<Group, Draft> = BTreeMap::new();
    for edge in &ir.edges {
        if let Some(group) = egress_group(ir, edge) {
            let draft = groups.entry(group).or_default();
            // HTTP rules on both sides: the source side is what holds them when
            // the destination namespace does not isolate ingress.
            let to_ports = port_entries(&edge.ports, &edge.http).map_err(|d| one(d.at(&edge.source.loc)))?;
            draft
                .egress
                .extend(peer_rules(ir, &edge.to, "to").into_iter().map(|mut rule| {
                    if let Some(entries) = &to_ports {
                        rule["toPorts"] = Value::Array(entries.clone());
                    }
                    rule
                }));
            draft.sources.add(edge.source.id());
            if let Peer::Fqdn { name, via: Via::Direct } = &edge.to {
                draft.fqdns.push(name.clone());
            }
        }
        if let Some(group) = ingress_group(ir, edge) {
            let draft = groups.entry(group).or_default();
            let to_ports = port_entries(&edge.ports, &edge.http).map_err(|d| one(d.at(&edge.source.loc)))?;
            draft
                .ingress
                .extend(peer_rules(ir, &edge.from, "from").into_iter().map(|mut rule| {
                    if let Some(entries) = &to_ports {
                        rule["toPorts"] = Value::Array(entries.clone());
                    }
                    rule
                }));
            draft.sources.add(edge.source.id());
        }
    }
    for (group, draft) in groups {
        let dns = dns_rules(ir, &draft.fqdns);
        let mut egress = draft.egress;
        if !dns.is_empty() {
            // Let the DNS proxy see this group's lookups, and pass only the
            // names its FQDN rules allow (plus in-cluster names).
            for rule in egress.iter_mut().filter(|r| is_dns_rule(ir, r)) {
                if let Some(to_ports) = rule.get_mut("toPorts").and_then(Value::as_array_mut) {
                    *to_ports = with_dns_rules(ir, std::mem::take(to_ports), &dns);
                }
            }
        }
        let mut spec = json!({ "endpointSelector": selector(&group.namespace, &group.selector, false) });
        if !draft.ingress.is_empty() {
            spec["ingress"] = Value::Array(draft.ingress);
        }
        if !egress.is_empty() {
            spec["egress"] = Value::Array(egress);
        }
        if !enforce {
            spec["enableDefaultDeny"] = json!({ "ingress": false, "egress": false });
        }
        manifests.push(policy(ir, &group.namespace, &group.name, spec, &draft.sources));
    }
    admitted(manifests)
}

fn one(diag: Diag) -> Diags {
    let mut diags = Diags::new();
    diags.push(diag);
    diags
}

/// The manifests, or an error for each rule of Cilium's admission one of
/// them breaks: a policy the agent refuses enforces nothing, so it is never
/// handed on
fn admitted(manifests: Vec<Manifest>) -> Result<Vec<Manifest>, Diags> {
    let mut diags = Diags::new();
    for m in &manifests {
        for refusal in admission::refusals(&m.object) {
            diags.push(
                Diag::error(
                    "cilium_admission",
                    format!(
                        "palisade would emit {} (from {}) with `{}`, which Cilium's agent refuses ({}): {}",
                        m.reference(),
                        m.object["metadata"]["annotations"][crate::manifest::SOURCE_ANNOTATION]
                            .as_str()
                            .unwrap_or("?"),
                        refusal.pointer,
                        refusal.rule,
                        refusal.message
                    ),
                )
                .help("this is a palisade bug: please report it with the intents that produced it"),
            );
        }
    }
    if diags.is_empty() {
        Ok(manifests)
    } else {
        Err(diags)
    }
}

#[derive(Default)]
struct Draft {
    ingress: Vec<Value>,
    egress: Vec<Value>,
    fqdns: Vec<Fqdn>,
    sources: Sources,
}

fn policy(ir: &Ir, namespace: &str, name: &str, mut spec: Value, sources: &Sources) -> Manifest {
    // Hubble shows this value on flows the policy decides: the first intent's
    // id without its file (a suffix of the id, as `Manifest::digest` expects)
    let joined = sources.joined();
    let first = joined.split(", ").next().unwrap_or("");
    let rule = first.rsplit_once('#').map_or(first, |(_, rule)| rule);
    let tag: String = rule
        .chars()
        .rev()
        .take(32)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    spec["log"] = json!({ "value": tag });
    Manifest::from_parts(
        "cilium.io/v2",
        "CiliumNetworkPolicy",
        metadata(ir, namespace, name, sources),
        spec,
    )
}

/// An endpoint selector: the namespace label and the pod labels
fn selector(namespace: &str, labels: &Labels, with_namespace: bool) -> Value {
    let mut match_labels = Map::new();
    if with_namespace {
        match_labels.insert(NAMESPACE_LABEL.into(), namespace.into());
    }
    for (k, v) in labels {
        match_labels.insert(k.clone(), v.clone().into());
    }
    if match_labels.is_empty() {
        json!({})
    } else {
        json!({ "matchLabels": match_labels })
    }
}

/// The rules (without ports) that name a peer; `side` is `to` or `from`
fn peer_rules(ir: &Ir, peer: &Peer, side: &str) -> Vec<Value> {
    let key = |kind: &str| format!("{side}{kind}");
    let endpoints = |ns: &str, labels: &Labels| json!({ key("Endpoints"): [selector(ns, labels, true)] });
    let profile = &ir.profile;
    match peer {
        Peer::Service { namespace, name } => {
            vec![endpoints(
                namespace,
                &ir.service(namespace, name)
                    .map(|s| s.selector.clone())
                    .unwrap_or_default(),
            )]
        }
        Peer::Namespace(ns) => vec![endpoints(ns, &Labels::new())],
        Peer::Pods { namespace, selector } => vec![endpoints(namespace, selector)],
        Peer::Cidr { net, except } => {
            // Cilium refuses a policy with an except outside its cidr
            // (CIDRRule.sanitize). Prefixes nest or are disjoint: an except
            // that holds the whole cidr leaves nothing to allow, and one
            // outside it takes nothing away.
            if except.iter().any(|e| e.contains(net)) {
                return Vec::new();
            }
            let inside: Vec<String> = except
                .iter()
                .filter(|e| net.contains(*e))
                .map(ToString::to_string)
                .collect();
            let mut entry = json!({ "cidr": net.to_string() });
            if !inside.is_empty() {
                entry["except"] = inside.into();
            }
            vec![json!({ key("CIDRSet"): [entry] })]
        }
        Peer::Entity(Entity::World) => vec![json!({ key("Entities"): ["world"] })],
        Peer::Entity(Entity::KubeApi) => vec![json!({ key("Entities"): ["kube-apiserver"] })],
        Peer::Entity(Entity::Dns) => {
            let mut rules = vec![endpoints(&profile.dns.namespace, &profile.dns.selector)];
            if let Some(local) = profile.node_local_dns {
                rules.push(json!({ key("CIDRSet"): [{ "cidr": local.to_string() }] }));
            }
            rules
        }
        Peer::Fqdn { name, via: Via::Direct } => vec![json!({ "toFQDNs": [fqdn_selector(name.as_str())] })],
        Peer::Fqdn {
            via: Via::EgressGateway,
            ..
        } => profile
            .egress_gateway
            .iter()
            .map(|g| endpoints(&g.pods.namespace, &g.pods.selector))
            .collect(),
    }
}

fn fqdn_selector(name: &str) -> Value {
    if name.contains('*') {
        json!({ "matchPattern": name })
    } else {
        json!({ "matchName": name })
    }
}

/// The `toPorts` entries of an edge (None: every port). Cilium refuses L7
/// rules on a port that is not TCP ("L7 rules can only apply to TCP",
/// PortRule.sanitize) and more than 40 ports in one entry: HTTP rules go on
/// the TCP ports alone, and the other protocols' ports get entries of their
/// own without rules, as the intents' semantics admit a connection that
/// carries no HTTP request on the edge's ports.
fn port_entries(ports: &[Port], http: &[HttpRule]) -> Result<Option<Vec<Value>>, Diag> {
    if ports.is_empty() {
        if http.is_empty() {
            return Ok(None);
        }
        // Cilium applies L7 rules only to the ports they are listed with.
        return Err(Diag::error(
            "http_without_ports",
            "HTTP rules without ports cannot be expressed on Cilium",
        )
        .help("add the ports the HTTP server listens on, e.g. `ports: [tcp/8080]`"));
    }
    let port = |p: &Port| {
        let mut entry = json!({
            "port": p.name.clone().unwrap_or_else(|| p.first.to_string()),
            "protocol": p.protocol.as_k8s(),
        });
        if p.name.is_none() && p.last != p.first {
            entry["endPort"] = json!(p.last);
        }
        entry
    };
    let (tcp, other): (Vec<&Port>, Vec<&Port>) = ports.iter().partition(|p| p.protocol == Protocol::Tcp);
    let groups: Vec<(Vec<&Port>, bool)> = if http.is_empty() {
        vec![(ports.iter().collect(), false)]
    } else {
        vec![(tcp, true), (other, false)]
    };
    let mut entries = Vec::new();
    for (group, l7) in groups {
        for chunk in group.chunks(admission::MAX_PORTS) {
            let mut entry = json!({ "ports": chunk.iter().map(|p| port(p)).collect::<Vec<_>>() });
            if l7 {
                entry["rules"] = json!({ "http": http.iter().map(http_rule).collect::<Vec<_>>() });
            }
            entries.push(entry);
        }
    }
    Ok(Some(entries))
}

/// A DNS rule's `toPorts` with the DNS proxy rules on the ports the cluster
/// DNS answers on. Cilium takes DNS rules on single ports only ("DNS rules do
/// not support port ranges", PortProtocol.sanitize), and one entry holds one
/// kind of L7 rule: ranges, other ports and entries that already carry rules
/// stay as they are.
fn with_dns_rules(ir: &Ir, entries: Vec<Value>, dns: &[Value]) -> Vec<Value> {
    let serves_dns = |port: &Value| {
        let number = port["port"].as_str().and_then(|p| p.parse::<u16>().ok());
        let protocol = port["protocol"].as_str();
        port.get("endPort").is_none()
            && ir.profile.dns.ports.iter().any(|p| {
                p.name.is_none()
                    && p.first == p.last
                    && Some(p.first) == number
                    && Some(p.protocol.as_k8s()) == protocol
            })
    };
    let mut out = Vec::new();
    for entry in entries {
        let ports = entry["ports"].as_array().cloned().unwrap_or_default();
        if entry.get("rules").is_some() || !ports.iter().any(serves_dns) {
            out.push(entry);
            continue;
        }
        let (proxied, rest): (Vec<Value>, Vec<Value>) = ports.into_iter().partition(serves_dns);
        out.push(json!({ "ports": proxied, "rules": { "dns": dns } }));
        if !rest.is_empty() {
            out.push(json!({ "ports": rest }));
        }
    }
    out
}

/// Cilium matches paths as regular expressions over the whole path
fn http_rule(rule: &HttpRule) -> Value {
    let mut out = Map::new();
    if let Some(method) = &rule.method {
        out.insert("method".into(), method.clone().into());
    }
    if let Some(path) = &rule.path {
        let regex = match path.strip_suffix('*') {
            Some(prefix) => format!("{}.*", escape_regex(prefix)),
            None => escape_regex(path),
        };
        out.insert("path".into(), regex.into());
    }
    if !rule.headers.is_empty() {
        out.insert(
            "headerMatches".into(),
            rule.headers
                .iter()
                .map(|(name, value)| json!({ "name": name, "value": value }))
                .collect(),
        );
    }
    Value::Object(out)
}

fn escape_regex(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// Whether an egress rule is the one towards the cluster DNS pods
fn is_dns_rule(ir: &Ir, rule: &Value) -> bool {
    let dns = selector(&ir.profile.dns.namespace, &ir.profile.dns.selector, true);
    rule.get("toEndpoints")
        .and_then(Value::as_array)
        .is_some_and(|e| e.contains(&dns))
        && rule.get("toPorts").is_some()
}

/// The names a group's DNS proxy lets through: its FQDNs, the names a pod's
/// resolver tries first through the search path (so they fail with NXDOMAIN
/// from the DNS server rather than a refusal), and in-cluster services
fn dns_rules(ir: &Ir, fqdns: &[Fqdn]) -> Vec<Value> {
    if fqdns.is_empty() {
        return Vec::new();
    }
    let domain = &ir.profile.cluster_domain;
    let mut names: Vec<String> = Vec::new();
    for fqdn in fqdns {
        let name = fqdn.as_str();
        names.push(name.to_string());
        names.push(format!("{name}.*.svc.{domain}"));
        names.push(format!("{name}.svc.{domain}"));
        names.push(format!("{name}.{domain}"));
    }
    names.push(format!("*.*.svc.{domain}"));
    let mut seen = Vec::new();
    names.retain(|n| {
        let fresh = !seen.contains(n);
        seen.push(n.clone());
        fresh
    });
    names.iter().map(|n| fqdn_selector(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_anchored_regexes() {
        let rule = HttpRule {
            method: Some("GET".into()),
            path: Some("/products/*".into()),
            headers: BTreeMap::new(),
        };
        assert_eq!(http_rule(&rule), json!({ "method": "GET", "path": "/products/.*" }));
        let exact = HttpRule {
            method: None,
            path: Some("/a.b".into()),
            headers: BTreeMap::new(),
        };
        assert_eq!(http_rule(&exact), json!({ "path": "/a\\.b" }));
    }
}
