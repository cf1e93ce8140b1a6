//! CiliumNetworkPolicy → intents, with the semantics the evaluator uses: a
//! policy with an `ingress`/`egress` section isolates its endpoints (unless
//! `enableDefaultDeny` says otherwise); endpoint selectors without the
//! namespace label mean the policy's namespace; `toFQDNs` names become FQDN
//! peers; HTTP rules whose regular expressions are a literal or a literal
//! prefix become HTTP intents. Deny rules, cluster-wide policies and other
//! L7 protocols have no intent form and are reported.

use crate::{
    import::{Context, HttpMatch, Imported, Isolation, Peer},
    kubernetes::import::anyone,
    Manifest,
};
use palisade_intents::types::Labels;
use serde_json::Value;

pub(super) fn import(manifests: &[Manifest], ctx: &Context) -> Imported {
    let mut out = Imported::default();
    for m in manifests.iter().filter(|m| m.api_version() == "cilium.io/v2") {
        let origin = format!("{} {}/{}", m.kind(), m.namespace(), m.name());
        if m.kind() == "CiliumClusterwideNetworkPolicy" {
            out.lose(
                &origin,
                "the whole policy",
                "cluster-wide policies have no intent form yet; not imported",
            );
            continue;
        }
        if m.kind() != "CiliumNetworkPolicy" {
            continue;
        }
        let namespace = if m.namespace().is_empty() {
            "default"
        } else {
            m.namespace()
        };
        let specs: Vec<&Value> = m
            .object
            .get("spec")
            .into_iter()
            .chain(m.object["specs"].as_array().into_iter().flatten())
            .collect();
        for (s, spec) in specs.iter().enumerate() {
            let origin = if specs.len() > 1 {
                format!("{origin} specs[{s}]")
            } else {
                origin.clone()
            };
            policy(spec, namespace, ctx, &origin, &mut out);
        }
    }
    out
}

fn policy(spec: &Value, namespace: &str, ctx: &Context, origin: &str, out: &mut Imported) {
    if spec.get("nodeSelector").is_some() {
        out.lose(
            origin,
            "nodeSelector",
            "host policies have no intent form; not imported",
        );
        return;
    }
    let selector = selector_labels(&spec["endpointSelector"], origin, out).1;
    for key in ["ingressDeny", "egressDeny"] {
        if spec.get(key).is_some() {
            out.lose(
                origin,
                key,
                "intents allow, they do not deny: the deny rules were left out (broader where they carved out an allow)",
            );
        }
    }
    let default_deny = |key: &str| spec["enableDefaultDeny"][key].as_bool() != Some(false);
    let ingress = (spec.get("ingress").is_some() || spec.get("ingressDeny").is_some()) && default_deny("ingress");
    let egress = (spec.get("egress").is_some() || spec.get("egressDeny").is_some()) && default_deny("egress");
    if ingress || egress {
        out.isolations.push(Isolation {
            namespace: namespace.to_string(),
            selector: selector.clone(),
            ingress,
            egress,
            origin: origin.to_string(),
        });
    }
    let own = Peer::Pods {
        namespace: namespace.to_string(),
        selector,
    };
    for (side, prefix) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in spec[side].as_array().into_iter().flatten().enumerate() {
            let origin = format!("{origin} {side}[{i}]");
            let names_a_peer = [
                "Endpoints",
                "Entities",
                "CIDR",
                "CIDRSet",
                "FQDNs",
                "Requires",
                "Groups",
                "Nodes",
            ]
            .iter()
            .any(|k| rule.get(format!("{prefix}{k}")).is_some());
            if !names_a_peer && rule.get("toPorts").is_none() {
                continue; // `{}`: turns default deny on, allows nothing
            }
            let others = if names_a_peer {
                peers(rule, prefix, namespace, ctx, &origin, out)
            } else {
                anyone(ctx, &origin, out)
            };
            for (ports, http) in port_entries(rule.get("toPorts"), &origin, out) {
                out.allow(side, &own, others.clone(), &ports, &http, &origin);
            }
        }
    }
}

/// An endpoint selector's namespace (when it names one) and labels
fn selector_labels(selector: &Value, origin: &str, out: &mut Imported) -> (Option<String>, Labels) {
    if selector["matchExpressions"].as_array().is_some_and(|e| !e.is_empty()) {
        out.lose(
            origin,
            "matchExpressions",
            "intents select by labels (key=value, AND); only matchLabels was imported, which selects more pods",
        );
    }
    let mut namespace = None;
    let mut labels = Labels::new();
    for (k, v) in selector["matchLabels"].as_object().into_iter().flatten() {
        let key = k.strip_prefix("k8s:").or_else(|| k.strip_prefix("any:")).unwrap_or(k);
        let value = v.as_str().unwrap_or_default().to_string();
        if key == "io.kubernetes.pod.namespace" {
            namespace = Some(value);
        } else {
            labels.insert(key.to_string(), value);
        }
    }
    (namespace, labels)
}

fn peers(rule: &Value, prefix: &str, home: &str, ctx: &Context, origin: &str, out: &mut Imported) -> Vec<Peer> {
    let field = |k: &str| rule[format!("{prefix}{k}")].as_array().cloned().unwrap_or_default();
    let mut peers = Vec::new();
    for selector in field("Endpoints") {
        let (namespace, mut labels) = selector_labels(&selector, origin, out);
        let ns_labels: Labels = labels
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("io.cilium.k8s.namespace.labels.")
                    .map(|k| (k.to_string(), v.clone()))
            })
            .collect();
        labels.retain(|k, _| !k.starts_with("io.cilium.k8s.namespace.labels."));
        let namespaces = match (namespace, ns_labels.is_empty()) {
            (Some(ns), _) => vec![ns],
            (None, true) => vec![home.to_string()],
            (None, false) => out.expand_namespaces(
                ctx,
                |l| ns_labels.iter().all(|(k, v)| l.get(k) == Some(v)),
                "namespace labels in an endpoint selector".into(),
                origin,
            ),
        };
        peers.extend(namespaces.into_iter().map(|namespace| Peer::Pods {
            namespace,
            selector: labels.clone(),
        }));
    }
    for entity in field("Entities") {
        match entity.as_str().unwrap_or_default() {
            "world" => peers.push(Peer::Entity("world")),
            "kube-apiserver" if ctx.api_server.is_some() => peers.push(Peer::Entity("kube-api")),
            "kube-apiserver" => out.lose(
                origin,
                "entity `kube-apiserver`",
                "intents need the API server's address for `kube-api`: pass --api-server CIDR; left out (narrower)",
            ),
            "cluster" => {
                out.lose(
                    origin,
                    "entity `cluster`",
                    format!("expanded to every namespace in {}", ctx.source()),
                );
                peers.extend(ctx.namespaces.keys().map(|ns| Peer::Pods {
                    namespace: ns.clone(),
                    selector: Labels::new(),
                }));
            }
            "all" => peers.extend(anyone(ctx, origin, out)),
            other => out.lose(
                origin,
                format!("entity `{other}`"),
                "no intent form (nodes and Cilium's own identities); left out",
            ),
        }
    }
    for cidr in field("CIDR") {
        match cidr.as_str().and_then(|c| c.parse().ok()) {
            Some(net) => peers.push(Peer::Cidr {
                net,
                except: Vec::new(),
            }),
            None => out.lose(origin, format!("{prefix}CIDR {cidr}"), "not a CIDR; left out"),
        }
    }
    for entry in field("CIDRSet") {
        let except = entry["except"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str()?.parse().ok())
            .collect();
        match entry["cidr"].as_str().and_then(|c| c.parse().ok()) {
            Some(net) => peers.push(Peer::Cidr { net, except }),
            None => out.lose(
                origin,
                format!("{prefix}CIDRSet {entry}"),
                "no plain CIDR (a group reference?); left out",
            ),
        }
    }
    for selector in field("FQDNs") {
        if let Some(name) = selector["matchName"].as_str() {
            if name.contains('*') {
                // matchName is literal: `*.x` there is no wildcard, and matches no real name.
                out.lose(
                    origin,
                    format!("matchName `{name}`"),
                    "matchName takes no wildcard (Cilium's CRD refuses `*`; matchPattern is the wildcard form): left out",
                );
                continue;
            }
            peers.push(Peer::Fqdn(name.trim_end_matches('.').to_ascii_lowercase()));
        } else if let Some(pattern) = selector["matchPattern"].as_str() {
            let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
            let one_label = pattern
                .strip_prefix("*.")
                .is_some_and(|rest| !rest.contains('*') && rest.contains('.'));
            if one_label {
                peers.push(Peer::Fqdn(pattern));
            } else {
                out.lose(
                    origin,
                    format!("matchPattern `{pattern}`"),
                    "intents take exact names and `*.domain` (one label); left out",
                );
            }
        }
    }
    for key in ["Requires", "Groups", "Nodes"] {
        if rule.get(format!("{prefix}{key}")).is_some() {
            out.lose(origin, format!("{prefix}{key}"), "no intent form; left out");
        }
    }
    peers
}

/// Each `toPorts` entry: its ports as intents write them and its HTTP rules
fn port_entries(to_ports: Option<&Value>, origin: &str, out: &mut Imported) -> Vec<(Vec<String>, Vec<HttpMatch>)> {
    let Some(entries) = to_ports.and_then(Value::as_array) else {
        return vec![(Vec::new(), Vec::new())];
    };
    let mut result = Vec::new();
    for entry in entries {
        let mut ports = Vec::new();
        for p in entry["ports"].as_array().into_iter().flatten() {
            let number = p["port"]
                .as_str()
                .map(str::to_string)
                .or_else(|| p["port"].as_u64().map(|n| n.to_string()));
            let protocols: Vec<&str> = match p["protocol"].as_str().unwrap_or("ANY").to_ascii_uppercase().as_str() {
                "TCP" => vec!["tcp"],
                "UDP" => vec!["udp"],
                "SCTP" => vec!["sctp"],
                _ => vec!["tcp", "udp", "sctp"],
            };
            let end = p["endPort"].as_u64();
            for proto in protocols {
                match number.as_deref() {
                    None | Some("0") => ports.push(format!("{proto}/1-65535")),
                    Some(n) if n.chars().all(|c| c.is_ascii_digit()) => match end {
                        Some(e) if e.to_string() != n => ports.push(format!("{proto}/{n}-{e}")),
                        _ => ports.push(format!("{proto}/{n}")),
                    },
                    Some(name) => {
                        if let Ok(p) = proto.parse::<palisade_intents::syntax::Protocol>() {
                            out.named_ports.insert((name.to_string(), p));
                        }
                        out.lose(
                            origin,
                            format!("named port `{name}`"),
                            "intents name ports only on their own services; left out (narrower)",
                        );
                    }
                }
            }
        }
        if ports.is_empty() && entry["ports"].as_array().is_some_and(|p| !p.is_empty()) {
            continue;
        }
        let mut http = Vec::new();
        let rules = &entry["rules"];
        for rule in rules["http"].as_array().into_iter().flatten() {
            if rule.get("headers").is_some() || rule.get("headerMatches").is_some() || rule.get("host").is_some() {
                out.lose(
                    origin,
                    "HTTP header or host match",
                    "intents match method and path only; left out (broader)",
                );
            }
            let method = rule["method"]
                .as_str()
                .map(|m| literal(m).unwrap_or_else(|| m.to_string()));
            let path = rule["path"].as_str().and_then(|p| match path_of(p) {
                Some(path) => Some(path),
                None => {
                    out.lose(
                        origin,
                        format!("path regex `{p}`"),
                        "intents take a literal path or a `prefix*`; left out (broader)",
                    );
                    None
                }
            });
            http.push((method, path));
        }
        for other in ["kafka", "l7"] {
            if rules.get(other).is_some() {
                out.lose(
                    origin,
                    format!("{other} rules"),
                    "no intent form; the port is allowed without them (broader)",
                );
            }
        }
        result.push((ports, http));
    }
    if result.is_empty() {
        out.lose(origin, "toPorts", "nothing importable in it; the rule was left out");
    }
    result
}

/// A regular expression that matches one literal text, as that text
fn literal(regex: &str) -> Option<String> {
    let text = regex.strip_prefix('^').unwrap_or(regex);
    let text = text.strip_suffix('$').unwrap_or(text);
    let text = text.replace("\\.", ".");
    let text = text.as_str();
    let unescaped_dot = regex.replace("\\.", "").contains('.');
    (!text.is_empty()
        && !unescaped_dot
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '~' | '.')))
    .then(|| text.to_string())
}

/// `/products/.*` → `/products/*`; `/health` → `/health`
fn path_of(regex: &str) -> Option<String> {
    if let Some(prefix) = regex.strip_suffix(".*") {
        return literal(prefix).map(|p| format!("{p}*"));
    }
    literal(regex)
}
