//! Calico NetworkPolicy (projectcalico.org/v3) → intents. A policy isolates
//! the endpoints its selector picks for its types; Allow rules become allow
//! rules. Selectors import when they are a conjunction of `k == 'v'` (or
//! `all()`); namespace selectors by name become that namespace; selectors
//! that pick NetworkSets become their nets. Deny and Pass rules, negations,
//! global and staged policies have no intent form and are reported.

use super::selector::Selector;
use crate::{
    import::{Context, HttpMatch, Imported, Isolation, Peer},
    kubernetes::import::anyone,
    Manifest,
};
use ipnet::IpNet;
use palisade_intents::types::Labels;
use serde_json::Value;

pub(super) fn import(manifests: &[Manifest], ctx: &Context) -> Imported {
    let mut out = Imported::default();
    let sets: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| m.api_version() == "projectcalico.org/v3" && m.kind() == "NetworkSet")
        .collect();
    for m in manifests.iter().filter(|m| m.api_version() == "projectcalico.org/v3") {
        let origin = format!("{} {}/{}", m.kind(), m.namespace(), m.name());
        match m.kind() {
            "NetworkPolicy" => policy(m, &sets, ctx, &origin, &mut out),
            "GlobalNetworkPolicy" => out.lose(
                &origin,
                "the whole policy",
                "global policies have no intent form yet; not imported",
            ),
            kind if kind.starts_with("Staged") => out.lose(
                &origin,
                "the whole policy",
                "a staged policy enforces nothing; not imported",
            ),
            _ => {}
        }
    }
    out
}

fn policy(m: &Manifest, sets: &[&Manifest], ctx: &Context, origin: &str, out: &mut Imported) {
    let spec = &m.object["spec"];
    let namespace = if m.namespace().is_empty() {
        "default"
    } else {
        m.namespace()
    };
    if spec["tier"].as_str().is_some_and(|t| t != "default") {
        out.lose(
            origin,
            "tier",
            "intents have no tiers; the rules were imported as if in the default tier",
        );
    }
    let Some(selector) = labels_of(spec["selector"].as_str().unwrap_or("all()"), origin, out) else {
        return;
    };
    // The API server's defaulting (api/pkg/defaults/networkpolicy.go): no
    // egress rules: Ingress; egress rules only: Egress; both: both.
    let has_rules = |key: &str| spec[key].as_array().is_some_and(|a| !a.is_empty());
    let types: Vec<&str> = match spec["types"].as_array() {
        Some(t) if !t.is_empty() => t.iter().filter_map(Value::as_str).collect(),
        _ if !has_rules("egress") => vec!["Ingress"],
        _ if !has_rules("ingress") => vec!["Egress"],
        _ => vec!["Ingress", "Egress"],
    };
    let ingress = types.contains(&"Ingress");
    let egress = types.contains(&"Egress");
    out.isolations.push(Isolation {
        namespace: namespace.to_string(),
        selector: selector.clone(),
        ingress,
        egress,
        origin: origin.to_string(),
    });
    let own = Peer::Pods {
        namespace: namespace.to_string(),
        selector,
    };
    for (side, enabled, peer_key) in [("ingress", ingress, "source"), ("egress", egress, "destination")] {
        if !enabled {
            continue;
        }
        for (i, rule) in spec[side].as_array().into_iter().flatten().enumerate() {
            let origin = format!("{origin} {side}[{i}]");
            match rule["action"].as_str().unwrap_or_default() {
                "Allow" => {}
                "Log" => continue,
                action => {
                    out.lose(
                        &origin,
                        format!("action {action}"),
                        "intents allow, they do not deny or pass: left out (broader where it carved out an allow)",
                    );
                    continue;
                }
            }
            // Intents speak TCP, UDP and SCTP ports: a rule for another
            // protocol (ICMP echo, say), or one carved out by a negation, has
            // no intent form. Leaving the allow out is narrower, never broader.
            if let Some(protocol) = other_protocol(&rule["protocol"]) {
                out.lose(
                    &origin,
                    format!("protocol {protocol}"),
                    "intents allow TCP, UDP and SCTP ports only; the rule was left out",
                );
                continue;
            }
            let negations: Vec<&str> = ["notProtocol", "icmp", "notICMP", "ipVersion"]
                .into_iter()
                .filter(|key| rule.get(*key).is_some())
                .collect();
            if !negations.is_empty() {
                for key in negations {
                    out.lose(&origin, key, "no intent form; the rule was left out");
                }
                continue;
            }
            let entity = &rule[peer_key];
            let others = match entity
                .as_object()
                .filter(|o| o.keys().any(|k| k != "ports" && k != "notPorts"))
            {
                None => anyone(ctx, &origin, out),
                Some(_) => peers(entity, namespace, sets, ctx, &origin, out),
            };
            let Some(ports) = ports(rule, &origin, out) else {
                continue;
            };
            let http = http(rule, &origin, out);
            out.allow(side, &own, others, &ports, &http, &origin);
        }
    }
}

/// The protocol of a rule when it is not TCP, UDP or SCTP
fn other_protocol(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(p) if ["tcp", "udp", "sctp"].contains(&p.to_ascii_lowercase().as_str()) => None,
        Value::Number(n) if matches!(n.as_u64(), Some(6 | 17 | 132)) => None,
        Value::String(p) => Some(p.clone()),
        other => Some(other.to_string()),
    }
}

/// Labels of a selector that is `all()` or an AND of equalities; the term
/// `projectcalico.org/orchestrator == 'k8s'` says "pods", which every intent
/// peer of this kind is, and is no label of the pods
fn labels_of(text: &str, origin: &str, out: &mut Imported) -> Option<Labels> {
    fn collect(s: &Selector, into: &mut Labels) -> bool {
        match s {
            Selector::All => true,
            Selector::Eq(k, v) if k == "projectcalico.org/orchestrator" && v == "k8s" => true,
            Selector::Eq(k, v) => {
                into.insert(k.clone(), v.clone());
                true
            }
            Selector::And(a, b) => collect(a, into) && collect(b, into),
            _ => false,
        }
    }
    let mut labels = Labels::new();
    match Selector::parse(text) {
        Ok(s) if collect(&s, &mut labels) => Some(labels),
        _ => {
            out.lose(
                origin,
                format!("selector `{text}`"),
                "intents select by labels (key=value, AND); the rule was left out",
            );
            None
        }
    }
}

fn peers(entity: &Value, home: &str, sets: &[&Manifest], ctx: &Context, origin: &str, out: &mut Imported) -> Vec<Peer> {
    for key in ["notSelector", "serviceAccounts", "services", "notPorts"] {
        if entity.get(key).is_some() {
            out.lose(origin, key, "no intent form; left out (broader)");
        }
    }
    let nets = |key: &str| -> Vec<IpNet> {
        entity[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str()?.parse().ok())
            .collect()
    };
    let except = nets("notNets");
    let mut result: Vec<Peer> = nets("nets")
        .into_iter()
        .map(|net| Peer::Cidr {
            net,
            except: except.clone(),
        })
        .collect();
    result.extend(
        entity["domains"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|d| Peer::Fqdn(d.to_ascii_lowercase())),
    );
    let selector = entity["selector"].as_str();
    let namespace_selector = entity["namespaceSelector"].as_str();
    if selector.is_none() && namespace_selector.is_none() {
        return result;
    }
    // A selector with no namespaceSelector may pick the namespace's NetworkSets.
    if let (Some(text), None) = (selector, namespace_selector) {
        if let Ok(parsed) = Selector::parse(text) {
            let picked: Vec<&&Manifest> = sets
                .iter()
                .filter(|s| s.namespace() == home)
                .filter(|s| {
                    let mut labels: Labels = s.object["metadata"]["labels"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect();
                    // Calico adds it to every namespaced set's labels.
                    labels.insert("projectcalico.org/namespace".into(), home.to_string());
                    parsed.matches(&labels)
                })
                .collect();
            if !picked.is_empty() {
                for set in picked {
                    for net in set.object["spec"]["nets"].as_array().into_iter().flatten() {
                        if let Some(net) = net.as_str().and_then(|n| n.parse().ok()) {
                            result.push(Peer::Cidr {
                                net,
                                except: except.clone(),
                            });
                        }
                    }
                }
                return result;
            }
        }
    }
    let Some(pods) = labels_of(selector.unwrap_or("all()"), origin, out) else {
        return result;
    };
    let namespaces = match namespace_selector {
        None => vec![home.to_string()],
        Some(text) => match Selector::parse(text) {
            Ok(Selector::Eq(k, v)) if k == "projectcalico.org/name" || k == "kubernetes.io/metadata.name" => vec![v],
            Ok(parsed) => out.expand_namespaces(
                ctx,
                |labels| {
                    let mut labels = labels.clone();
                    if let Some(name) = labels.get("kubernetes.io/metadata.name").cloned() {
                        labels.insert("projectcalico.org/name".into(), name);
                    }
                    parsed.matches(&labels)
                },
                format!("namespaceSelector `{text}`"),
                origin,
            ),
            Err(e) => {
                out.lose(
                    origin,
                    format!("namespaceSelector `{text}`"),
                    format!("not a selector ({e}); left out"),
                );
                Vec::new()
            }
        },
    };
    result.extend(namespaces.into_iter().map(|namespace| Peer::Pods {
        namespace,
        selector: pods.clone(),
    }));
    result
}

/// The destination ports of a rule; `None` when none of them imports
fn ports(rule: &Value, origin: &str, out: &mut Imported) -> Option<Vec<String>> {
    let protocol = match &rule["protocol"] {
        Value::String(p) => Some(p.to_ascii_lowercase()),
        Value::Number(n) => match n.as_u64() {
            Some(6) => Some("tcp".into()),
            Some(17) => Some("udp".into()),
            Some(132) => Some("sctp".into()),
            _ => None,
        },
        _ => None,
    };
    let list = rule["destination"]["ports"].as_array();
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Some(match protocol {
            Some(p) => vec![format!("{p}/1-65535")],
            None => Vec::new(),
        });
    };
    let proto = protocol.unwrap_or_else(|| "tcp".into());
    let mut texts = Vec::new();
    for p in list {
        match p {
            Value::Number(n) => texts.push(format!("{proto}/{n}")),
            Value::String(s) => match s.split_once(':') {
                Some((a, b)) => texts.push(format!("{proto}/{a}-{b}")),
                None if s.chars().all(|c| c.is_ascii_digit()) => texts.push(format!("{proto}/{s}")),
                None => {
                    if let Ok(p) = proto.parse::<palisade_intents::syntax::Protocol>() {
                        out.named_ports.insert((s.clone(), p));
                    }
                    out.lose(
                        origin,
                        format!("named port `{s}`"),
                        "intents name ports only on their own services; left out (narrower)",
                    );
                }
            },
            _ => {}
        }
    }
    (!texts.is_empty()).then_some(texts)
}

fn http(rule: &Value, origin: &str, out: &mut Imported) -> Vec<HttpMatch> {
    let Some(http) = rule.get("http") else {
        return Vec::new();
    };
    let methods: Vec<Option<String>> = match http["methods"].as_array() {
        Some(m) if !m.is_empty() => m.iter().map(|m| m.as_str().map(str::to_ascii_uppercase)).collect(),
        _ => vec![None],
    };
    let mut paths: Vec<Option<String>> = Vec::new();
    for p in http["paths"].as_array().into_iter().flatten() {
        if let Some(exact) = p["exact"].as_str() {
            paths.push(Some(exact.to_string()));
        } else if let Some(prefix) = p["prefix"].as_str() {
            paths.push(Some(format!("{prefix}*")));
        } else {
            out.lose(origin, format!("http path {p}"), "no intent form; left out");
        }
    }
    if paths.is_empty() {
        paths.push(None);
    }
    methods
        .iter()
        .flat_map(|m| paths.iter().map(move |p| (m.clone(), p.clone())))
        .collect()
}
