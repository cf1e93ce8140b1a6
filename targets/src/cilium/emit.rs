//! IR → CiliumNetworkPolicies: a default deny per namespace and one policy per
//! pod group (service, namespace, ad-hoc selector) holding its ingress and
//! egress rules, one rule per edge and peer kind (Cilium forbids mixing
//! endpoint, CIDR, entity and FQDN selectors in one rule).

use super::NAMESPACE_LABEL;
use crate::{
    groups::{egress_group, ingress_group, metadata, Group, Sources},
    Manifest, Mode,
};
use palisade_compiler::ir::{Ir, Peer, Port};
use palisade_intents::{
    model::HttpRule,
    syntax::{Entity, Fqdn},
    types::{Labels, Posture, Via},
    Diags,
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
        sources.add(ns.posture_source.file_line());
        manifests.push(policy(ir, &ns.name, "palisade-default-deny", spec, &sources));
    }
    let mut groups: BTreeMap<Group, Draft> = BTreeMap::new();
    for edge in &ir.edges {
        if let Some(group) = egress_group(ir, edge) {
            let draft = groups.entry(group).or_default();
            draft
                .egress
                .extend(peer_rules(ir, &edge.to, "to").into_iter().map(|mut rule| {
                    // HTTP rules on both sides: the source side is what holds them when
                    // the destination namespace does not isolate ingress.
                    add_ports(&mut rule, &edge.ports, &edge.http);
                    rule
                }));
            draft.sources.add(edge.source.file_line());
            if let Peer::Fqdn { name, via: Via::Direct } = &edge.to {
                draft.fqdns.push(name.clone());
            }
        }
        if let Some(group) = ingress_group(ir, edge) {
            let draft = groups.entry(group).or_default();
            draft
                .ingress
                .extend(peer_rules(ir, &edge.from, "from").into_iter().map(|mut rule| {
                    add_ports(&mut rule, &edge.ports, &edge.http);
                    rule
                }));
            draft.sources.add(edge.source.file_line());
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
                    for entry in to_ports {
                        entry["rules"] = json!({ "dns": dns });
                    }
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
    Ok(manifests)
}

#[derive(Default)]
struct Draft {
    ingress: Vec<Value>,
    egress: Vec<Value>,
    fqdns: Vec<Fqdn>,
    sources: Sources,
}

fn policy(ir: &Ir, namespace: &str, name: &str, mut spec: Value, sources: &Sources) -> Manifest {
    // Hubble shows this value on flows the policy decides: the intent line.
    let first = sources.joined().split(", ").next().unwrap_or("").to_string();
    let tag: String = first
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
            let mut entry = json!({ "cidr": net.to_string() });
            if !except.is_empty() {
                entry["except"] = except.iter().map(ToString::to_string).collect();
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

fn add_ports(rule: &mut Value, ports: &[Port], http: &[HttpRule]) {
    if ports.is_empty() {
        return;
    }
    let ports: Vec<Value> = ports
        .iter()
        .map(|p| {
            let mut entry = json!({
                "port": p.name.clone().unwrap_or_else(|| p.first.to_string()),
                "protocol": p.protocol.as_k8s(),
            });
            if p.name.is_none() && p.last != p.first {
                entry["endPort"] = json!(p.last);
            }
            entry
        })
        .collect();
    let mut entry = json!({ "ports": ports });
    if !http.is_empty() {
        entry["rules"] = json!({ "http": http.iter().map(http_rule).collect::<Vec<_>>() });
    }
    rule["toPorts"] = json!([entry]);
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
