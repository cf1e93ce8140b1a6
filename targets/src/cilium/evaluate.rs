//! The CiliumNetworkPolicy semantics, read from the manifests alone.
//!
//! A policy selects endpoints of its own namespace. An endpoint is in default
//! deny for a direction when a policy selecting it has rules for that direction
//! and does not turn `enableDefaultDeny` off for it. Allow rules are a union;
//! a matching deny rule wins over any allow. Within a rule the peer selectors
//! and `toPorts` must both match; a rule naming no peer (`{}`) matches nothing.
//! Peer selectors without a namespace label mean the policy's namespace. CIDR
//! rules and the `world` entity match addresses outside the cluster. A
//! `toFQDNs` rule admits a name only if the endpoint's DNS traffic goes through
//! the DNS proxy with a rule that lets the name through (else the proxy never
//! learns its addresses).

use crate::manifest::Field;
use crate::{
    memo::Selection,
    verdict::{both_sides, Direction},
    Evaluator, Manifest, RuleRef, Verdict,
};
use ipnet::IpNet;
use palisade_compiler::model::{ClusterModel, Connection, Endpoint, Pod};
use serde_json::Value;

/// The CiliumNetworkPolicies of a manifest set
pub(super) struct Policies<'m> {
    by_namespace: std::collections::BTreeMap<&'m str, Vec<&'m Manifest>>,
    selection: Selection,
}

impl<'m> Policies<'m> {
    pub(super) fn read(manifests: &'m [Manifest]) -> Self {
        let mut by_namespace: std::collections::BTreeMap<&str, Vec<&Manifest>> = std::collections::BTreeMap::new();
        for m in manifests
            .iter()
            .filter(|m| m.api_version() == "cilium.io/v2" && m.kind() == "CiliumNetworkPolicy")
        {
            by_namespace.entry(m.namespace()).or_default().push(m);
        }
        Self {
            by_namespace,
            selection: Selection::default(),
        }
    }
}

impl Evaluator for Policies<'_> {
    fn decide(&self, model: &ClusterModel, conn: &Connection, explain: bool) -> Verdict {
        both_sides(conn, |pod, direction| self.side(model, pod, conn, direction, explain))
    }

    fn sides(&self, universe: &palisade_relation::Universe) -> Option<palisade_relation::Sides> {
        super::symbolic::sides(self, universe)
    }
}

impl Policies<'_> {
    /// Every policy read, by namespace, each with the namespace it applies in
    pub(super) fn in_order(&self) -> impl Iterator<Item = (&str, &Manifest)> + '_ {
        self.by_namespace
            .iter()
            .flat_map(|(namespace, list)| list.iter().map(move |m| (*namespace, *m)))
    }

    /// The policies of the pod's namespace whose endpointSelector selects it
    fn selecting<'a>(&'a self, model: &'a ClusterModel, pod: &'a Pod) -> impl Iterator<Item = &'a Manifest> + 'a {
        let all = self
            .by_namespace
            .get(pod.namespace.as_str())
            .map_or(&[][..], Vec::as_slice);
        let indices = self.selection.of(model, pod, || {
            all.iter()
                .enumerate()
                .filter(|(_, m)| {
                    m.object
                        .at(&["spec", "endpointSelector"])
                        .is_some_and(|s| selects(s, m.namespace(), model, pod))
                })
                .map(|(i, _)| i)
                .collect()
        });
        (0..indices.len()).filter_map(move |k| indices.get(k).and_then(|&i| all.get(i)).copied())
    }

    fn side(
        &self,
        model: &ClusterModel,
        pod: &Pod,
        conn: &Connection,
        direction: Direction,
        explain: bool,
    ) -> (bool, Vec<RuleRef>) {
        let key = match direction {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        };
        let deny_key = match direction {
            Direction::Ingress => "ingressDeny",
            Direction::Egress => "egressDeny",
        };
        let peer = match direction {
            Direction::Ingress => &conn.from,
            Direction::Egress => &conn.to,
        };
        // (policy, rule) pairs; references are written out only to explain.
        let mut default_deny: Vec<(&Manifest, String)> = Vec::new();
        let mut allows: Vec<(&Manifest, String)> = Vec::new();
        let label = |text: &dyn Fn() -> String| if explain { text() } else { String::new() };
        for m in self.selecting(model, pod) {
            let spec = &m.object["spec"];
            for (i, rule) in spec[deny_key].as_array().into_iter().flatten().enumerate() {
                if self.rule_matches(rule, m.namespace(), model, pod, peer, conn, direction) {
                    let reference = RuleRef {
                        policy: m.reference(),
                        rule: format!("{deny_key}[{i}]"),
                        source: m.source(),
                    };
                    return (false, if explain { vec![reference] } else { Vec::new() });
                }
            }
            if isolates(spec, key, deny_key) {
                default_deny.push((m, label(&|| format!("default deny ({key})"))));
            }
            for (i, rule) in spec[key].as_array().into_iter().flatten().enumerate() {
                if self.rule_matches(rule, m.namespace(), model, pod, peer, conn, direction) {
                    allows.push((m, label(&|| format!("{key}[{i}]"))));
                }
            }
        }
        let (allowed, why) = if default_deny.is_empty() || !allows.is_empty() {
            (true, allows)
        } else {
            (false, default_deny)
        };
        let refs = if explain {
            why.into_iter()
                .map(|(m, rule)| RuleRef {
                    policy: m.reference(),
                    rule,
                    source: m.source(),
                })
                .collect()
        } else {
            Vec::new()
        };
        (allowed, refs)
    }

    #[expect(clippy::too_many_arguments, reason = "one rule, both ends and the connection")]
    fn rule_matches(
        &self,
        rule: &Value,
        namespace: &str,
        model: &ClusterModel,
        pod: &Pod,
        peer: &Endpoint,
        conn: &Connection,
        direction: Direction,
    ) -> bool {
        // The peer fields of this direction, spelled out: this runs per rule and connection.
        let keys: [&str; 5] = match direction {
            Direction::Ingress => ["fromEndpoints", "fromEntities", "fromCIDR", "fromCIDRSet", "fromFQDNs"],
            Direction::Egress => ["toEndpoints", "toEntities", "toCIDR", "toCIDRSet", "toFQDNs"],
        };
        let [endpoints, entities, cidr, cidr_set, fqdns] = keys;
        let field = |key: &str| rule.get(key).and_then(Value::as_array);
        let names_a_peer = keys.iter().any(|k| rule.get(*k).is_some());
        if !names_a_peer && rule.get("toPorts").is_none() {
            return false; // `{}`
        }
        let l3 = !names_a_peer
            || field(endpoints).into_iter().flatten().any(|s| match peer {
                Endpoint::Pod(p) => selects(s, namespace, model, p),
                Endpoint::External(_) => false,
            })
            || field(entities)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|e| entity_matches(e, peer))
            || field(cidr)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|c| cidr_matches(c, &[], peer))
            || field(cidr_set).into_iter().flatten().any(|entry| {
                let except: Vec<&str> = entry["except"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                entry["cidr"].as_str().is_some_and(|c| cidr_matches(c, &except, peer))
            })
            || (direction == Direction::Egress
                && field(fqdns).into_iter().flatten().any(|s| match peer {
                    Endpoint::External(ext) => ext
                        .fqdn
                        .as_deref()
                        .is_some_and(|name| fqdn_matches(s, name) && self.proxy_lets_through(model, pod, name)),
                    Endpoint::Pod(_) => false,
                }));
        l3 && ports_match(rule.get("toPorts"), conn)
    }

    /// Whether some egress rule of the pod sends DNS through the proxy with a
    /// pattern that admits `name`
    fn proxy_lets_through(&self, model: &ClusterModel, pod: &Pod, name: &str) -> bool {
        self.selecting(model, pod).any(|m| {
            m.object["spec"]["egress"].as_array().into_iter().flatten().any(|rule| {
                rule["toPorts"].as_array().into_iter().flatten().any(|entry| {
                    entry
                        .at(&["rules", "dns"])
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .any(|s| fqdn_matches(s, name))
                })
            })
        })
    }
}

/// An endpoint selector: `k8s:`/`any:` prefixes are sources; the namespace
/// label is the pod's namespace; without it, the policy's namespace is meant
fn selects(selector: &Value, policy_namespace: &str, model: &ClusterModel, pod: &Pod) -> bool {
    // Borrowed, not copied: this runs per selector, rule and connection.
    let label = |key: &str| -> Option<&str> {
        let key = key
            .strip_prefix("k8s:")
            .or_else(|| key.strip_prefix("any:"))
            .unwrap_or(key);
        if key == "io.kubernetes.pod.namespace" {
            return Some(pod.namespace.as_str());
        }
        if let Some(ns_key) = key.strip_prefix("io.cilium.k8s.namespace.labels.") {
            return model
                .namespace(&pod.namespace)
                .and_then(|ns| ns.labels.get(ns_key))
                .map(String::as_str);
        }
        pod.labels.get(key).map(String::as_str)
    };
    let names_namespace = |key: &str| key.ends_with("io.kubernetes.pod.namespace");
    let match_labels = selector["matchLabels"].as_object();
    let expressions = selector["matchExpressions"].as_array();
    let mentions_namespace = match_labels.is_some_and(|m| m.keys().any(|k| names_namespace(k)))
        || expressions
            .into_iter()
            .flatten()
            .any(|e| e["key"].as_str().is_some_and(names_namespace));
    if !mentions_namespace && pod.namespace != policy_namespace {
        return false;
    }
    let labels_ok = match_labels.into_iter().flatten().all(|(k, v)| label(k) == v.as_str());
    let expressions_ok = expressions.into_iter().flatten().all(|e| {
        let value = e["key"].as_str().and_then(label);
        let values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match e["operator"].as_str() {
            Some("In") => value.is_some_and(|v| values.contains(&v)),
            Some("NotIn") => value.is_none_or(|v| !values.contains(&v)),
            Some("Exists") => value.is_some(),
            Some("DoesNotExist") => value.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

fn entity_matches(entity: &str, peer: &Endpoint) -> bool {
    match (entity, peer) {
        ("all", _) => true,
        ("world", Endpoint::External(_)) => true,
        ("kube-apiserver", Endpoint::External(ext)) => ext.kube_apiserver,
        ("cluster", Endpoint::Pod(_)) => true,
        _ => false,
    }
}

fn cidr_matches(cidr: &str, except: &[&str], peer: &Endpoint) -> bool {
    let Endpoint::External(ext) = peer else { return false };
    let Ok(net) = cidr.parse::<IpNet>() else { return false };
    net.contains(&ext.ip)
        && !except
            .iter()
            .filter_map(|e| e.parse::<IpNet>().ok())
            .any(|e| e.contains(&ext.ip))
}

/// `matchName` exactly; `matchPattern` with `*` standing for any characters
/// within one label (a lone `*` for every name)
pub(super) fn fqdn_matches(selector: &Value, name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if let Some(exact) = selector["matchName"].as_str() {
        return exact.trim_end_matches('.').eq_ignore_ascii_case(&name);
    }
    let Some(pattern) = selector["matchPattern"].as_str() else {
        return false;
    };
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    if pattern == "*" {
        return true;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let patterns: Vec<&str> = pattern.split('.').collect();
    labels.len() == patterns.len() && labels.iter().zip(&patterns).all(|(l, p)| glob(p, l))
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.get(i..).is_some_and(|t| glob(rest, t)))
        }
    }
}

/// An HTTP rule admits a request when its method and path, regular
/// expressions over the whole value, match; header rules need headers, which a
/// modelled request does not carry
pub(super) fn http_matches(rule: &Value, request: &palisade_compiler::model::Request) -> bool {
    let full = |pattern: Option<&str>, text: &str| pattern.is_none_or(|p| matches_whole(p, text));
    full(rule["method"].as_str(), &request.method)
        && full(rule["path"].as_str(), &request.path)
        && rule.get("headers").is_none()
        && rule.get("headerMatches").is_none()
}

thread_local! {
    /// The compiled form of each HTTP pattern: a policy set repeats a few
    /// patterns over every request class, and compiling one costs more than
    /// all its matches. `None` is a pattern that does not compile, which
    /// matches nothing.
    static COMPILED: std::cell::RefCell<std::collections::HashMap<String, Option<regex::Regex>>> =
        std::cell::RefCell::default();
}

/// Whether an HTTP rule's regular expression matches the whole value
fn matches_whole(pattern: &str, text: &str) -> bool {
    COMPILED.with_borrow_mut(|compiled| {
        if !compiled.contains_key(pattern) {
            let regex = regex::Regex::new(&format!("^(?:{pattern})$")).ok();
            compiled.insert(pattern.to_owned(), regex);
        }
        compiled
            .get(pattern)
            .and_then(Option::as_ref)
            .is_some_and(|r| r.is_match(text))
    })
}

/// An absent `toPorts` admits every port; otherwise some entry must admit the
/// port, and, when a request is asked about, its HTTP rules the request
fn ports_match(to_ports: Option<&Value>, conn: &Connection) -> bool {
    let Some(entries) = to_ports.and_then(Value::as_array) else {
        return true;
    };
    entries.iter().any(|entry| {
        let l7_ok = match (conn.request, entry.at(&["rules", "http"]).and_then(Value::as_array)) {
            (Some(request), Some(rules)) => rules.iter().any(|r| http_matches(r, request)),
            _ => true,
        };
        let ports = entry["ports"].as_array();
        let l4_ok = ports.is_none_or(|p| p.is_empty())
            || ports.into_iter().flatten().any(|p| {
                let protocol = p["protocol"].as_str().unwrap_or("ANY");
                let protocol_ok = protocol == "ANY" || protocol == conn.protocol.as_k8s();
                let port = p["port"].as_str().unwrap_or("0");
                let number_ok = match port.parse::<u32>() {
                    Ok(0) => true,
                    Ok(first) => {
                        let last = p["endPort"].as_u64().map_or(first, |e| e as u32);
                        (first..=last).contains(&u32::from(conn.port))
                    }
                    Err(_) => match conn.to {
                        Endpoint::Pod(dst) => dst.ports.iter().any(|c| {
                            c.name.as_deref() == Some(port) && c.port == conn.port && c.protocol == conn.protocol
                        }),
                        Endpoint::External(_) => false,
                    },
                };
                protocol_ok && number_ok
            });
        l7_ok && l4_ok
    })
}

/// Whether a policy puts the pods it selects on default deny in the
/// direction of `key` (`ingress`, `egress`): it has rules there, allow or
/// deny, and `enableDefaultDeny` does not turn that off
pub(super) fn isolates(spec: &Value, key: &str, deny_key: &str) -> bool {
    let has_rules = spec.get(key).is_some() || spec.get(deny_key).is_some();
    let turned_off = spec
        .get("enableDefaultDeny")
        .and_then(|d| d.get(key))
        .and_then(Value::as_bool)
        == Some(false);
    has_rules && !turned_off
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns_match_within_one_label() {
        assert!(fqdn_matches(&json!({"matchPattern": "*.stripe.com"}), "api.stripe.com"));
        assert!(!fqdn_matches(
            &json!({"matchPattern": "*.stripe.com"}),
            "a.b.stripe.com"
        ));
        assert!(fqdn_matches(
            &json!({"matchPattern": "api.stripe.com.*.svc.cluster.local"}),
            "api.stripe.com.shop.svc.cluster.local"
        ));
        assert!(fqdn_matches(&json!({"matchPattern": "*"}), "anything.example"));
        assert!(fqdn_matches(&json!({"matchName": "API.stripe.com"}), "api.stripe.com."));
    }
}
