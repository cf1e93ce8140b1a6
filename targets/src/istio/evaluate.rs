//! The Istio semantics palisade emits, at connection level (no HTTP request in
//! the connection: an operation's methods, paths and `when` conditions are
//! taken to admit some requests).
//!
//! Ingress: AuthorizationPolicies of the destination's namespace that select
//! it (no selector: all), dry-run ones ignored. A matching DENY rule denies;
//! with any ALLOW policy present, only a matching ALLOW rule admits. Egress: a
//! pod whose Sidecar is REGISTRY_ONLY reaches outside names only where a
//! ServiceEntry lists the host and port, and raw outside addresses not at all.

use crate::manifest::Field;
use crate::{Evaluator, Manifest, RuleRef, Verdict};
use ipnet::IpNet;
use palisade_compiler::model::{ClusterModel, Connection, Endpoint, Pod};
use serde_json::Value;
use std::collections::HashMap;

/// The Istio objects of a manifest set
pub(super) struct Mesh<'m> {
    /// enforcing AuthorizationPolicies by namespace: one applies only to
    /// workloads of its own namespace
    policies: HashMap<&'m str, Vec<&'m Manifest>>,
    sidecars: Vec<&'m Manifest>,
    service_entries: Vec<&'m Manifest>,
}

impl<'m> Mesh<'m> {
    pub(super) fn read(manifests: &'m [Manifest]) -> Self {
        let of = |group: &'static str, kind: &'static str| {
            manifests
                .iter()
                .filter(move |m| m.api_version().starts_with(group) && m.kind() == kind)
                .collect::<Vec<_>>()
        };
        let dry_run = |m: &&Manifest| {
            m.object
                .at(&["metadata", "annotations", "istio.io/dry-run"])
                .and_then(Value::as_str)
                == Some("true")
        };
        let mut policies: HashMap<&str, Vec<&Manifest>> = HashMap::new();
        for m in of("security.istio.io/", "AuthorizationPolicy")
            .into_iter()
            .filter(|m| !dry_run(m))
        {
            policies.entry(m.namespace()).or_default().push(m);
        }
        Self {
            policies,
            sidecars: of("networking.istio.io/", "Sidecar"),
            service_entries: of("networking.istio.io/", "ServiceEntry"),
        }
    }
}

fn selects(selector: Option<&Value>, pod: &Pod) -> bool {
    selector
        .and_then(|s| s.get("matchLabels").or(s.get("labels")))
        .and_then(Value::as_object)
        .is_none_or(|labels| {
            labels
                .iter()
                .all(|(k, v)| pod.labels.get(k).map(String::as_str) == v.as_str())
        })
}

impl Evaluator for Mesh<'_> {
    fn decide(&self, _model: &ClusterModel, conn: &Connection, _explain: bool) -> Verdict {
        let mut decided_by = Vec::new();
        if let Endpoint::Pod(src) = conn.from {
            if let Some(verdict) = self.egress(src, conn) {
                return verdict;
            }
        }
        if let Endpoint::Pod(dst) = conn.to {
            let applying: Vec<&&Manifest> = self
                .policies
                .get(dst.namespace.as_str())
                .into_iter()
                .flatten()
                .filter(|m| selects(m.object.at(&["spec", "selector"]), dst))
                .collect();
            let reference = |m: &Manifest, rule: String| RuleRef {
                policy: m.reference(),
                rule,
                source: m.source(),
            };
            for m in applying
                .iter()
                .filter(|m| m.object.at(&["spec", "action"]).and_then(Value::as_str) == Some("DENY"))
            {
                if let Some(i) = matching_rule(m, conn) {
                    return Verdict {
                        allowed: false,
                        decided_by: vec![reference(m, format!("rules[{i}] DENY"))],
                    };
                }
            }
            let allows: Vec<&&&Manifest> = applying
                .iter()
                .filter(|m| {
                    m.object
                        .at(&["spec", "action"])
                        .and_then(Value::as_str)
                        .unwrap_or("ALLOW")
                        == "ALLOW"
                })
                .collect();
            if !allows.is_empty() {
                match allows
                    .iter()
                    .find_map(|m| matching_rule(m, conn).map(|i| reference(m, format!("rules[{i}] ALLOW"))))
                {
                    Some(r) => decided_by.push(r),
                    None => {
                        return Verdict {
                            allowed: false,
                            decided_by: allows
                                .iter()
                                .map(|m| reference(m, "no ALLOW rule matches".into()))
                                .collect(),
                        }
                    }
                }
            }
        }
        Verdict {
            allowed: true,
            decided_by,
        }
    }
}

impl Mesh<'_> {
    /// `Some` only when REGISTRY_ONLY decides
    fn egress(&self, src: &Pod, conn: &Connection) -> Option<Verdict> {
        let Endpoint::External(ext) = conn.to else { return None };
        let sidecar = self.sidecars.iter().find(|s| {
            s.namespace() == src.namespace
                && selects(s.object.at(&["spec", "workloadSelector"]), src)
                && s.object
                    .at(&["spec", "outboundTrafficPolicy", "mode"])
                    .and_then(Value::as_str)
                    == Some("REGISTRY_ONLY")
        })?;
        let entry = self.service_entries.iter().find(|e| {
            let hosts = e.object.at(&["spec", "hosts"]).and_then(Value::as_array);
            let host_ok = ext.fqdn.as_deref().is_some_and(|name| {
                hosts
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .any(|h| match h.strip_prefix("*.") {
                        Some(suffix) => name
                            .strip_suffix(suffix)
                            .is_some_and(|head| head.ends_with('.') && head.len() > 1),
                        None => h.eq_ignore_ascii_case(name),
                    })
            });
            let addresses = e.object.at(&["spec", "addresses"]).and_then(Value::as_array);
            let address_ok = addresses
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str()?.parse::<IpNet>().ok())
                .any(|a| a.contains(&ext.ip));
            let ports = e.object.at(&["spec", "ports"]).and_then(Value::as_array);
            let port_ok = ports.is_none_or(|p| p.is_empty())
                || ports
                    .into_iter()
                    .flatten()
                    .any(|p| p["number"].as_u64() == Some(u64::from(conn.port)));
            (host_ok || address_ok) && port_ok
        });
        Some(match entry {
            Some(e) => Verdict {
                allowed: true,
                decided_by: vec![RuleRef {
                    policy: e.reference(),
                    rule: "hosts".into(),
                    source: e.source(),
                }],
            },
            None => Verdict {
                allowed: false,
                decided_by: vec![RuleRef {
                    policy: sidecar.reference(),
                    rule: "REGISTRY_ONLY".into(),
                    source: sidecar.source(),
                }],
            },
        })
    }
}

fn matching_rule(policy: &Manifest, conn: &Connection) -> Option<usize> {
    let rules = policy.object.at(&["spec", "rules"]).and_then(Value::as_array)?;
    rules.iter().position(|rule| {
        let from_ok = rule
            .get("from")
            .and_then(Value::as_array)
            .is_none_or(|from| from.iter().any(|f| source_matches(&f["source"], &conn.from)));
        let to_ok = rule
            .get("to")
            .and_then(Value::as_array)
            .is_none_or(|to| to.iter().any(|t| operation_matches(&t["operation"], conn)));
        // Conditions on request headers cannot hold for a request without headers.
        let when_ok = conn.request.is_none()
            || rule.get("when").and_then(Value::as_array).is_none_or(|w| {
                w.iter()
                    .all(|c| !c["key"].as_str().unwrap_or("").starts_with("request.headers"))
            });
        from_ok && to_ok && when_ok
    })
}

/// Ports always; methods and paths only when a request is asked about. A path
/// with a trailing `*` is a prefix, a leading `*` a suffix.
fn operation_matches(operation: &Value, conn: &Connection) -> bool {
    let list = |key: &str| {
        operation
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>())
    };
    let ports_ok = list("ports").is_none_or(|ports| ports.contains(&conn.port.to_string().as_str()));
    let Some(request) = conn.request else { return ports_ok };
    let methods_ok = list("methods").is_none_or(|m| m.contains(&request.method.as_str()));
    let paths_ok = list("paths").is_none_or(|paths| {
        paths.iter().any(|p| match (p.strip_suffix('*'), p.strip_prefix('*')) {
            (Some(prefix), _) => request.path.starts_with(prefix),
            (_, Some(suffix)) => request.path.ends_with(suffix),
            _ => request.path == *p,
        })
    });
    ports_ok && methods_ok && paths_ok
}

fn source_matches(source: &Value, from: &Endpoint) -> bool {
    let list = |key: &str| {
        source.get(key).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
    };
    let ip = match from {
        Endpoint::Pod(p) => p.ip,
        Endpoint::External(e) => e.ip,
    };
    let in_blocks = |blocks: &[String]| {
        blocks
            .iter()
            .filter_map(|b| b.parse::<IpNet>().ok())
            .any(|b| b.contains(&ip))
    };
    let principal = match from {
        Endpoint::Pod(p) => p
            .service_account
            .as_ref()
            .map(|sa| format!("cluster.local/ns/{}/sa/{sa}", p.namespace)),
        Endpoint::External(_) => None,
    };
    let namespace = match from {
        Endpoint::Pod(p) => Some(p.namespace.clone()),
        Endpoint::External(_) => None,
    };
    list("principals").is_none_or(|ps| principal.as_ref().is_some_and(|p| ps.contains(p)))
        && list("namespaces").is_none_or(|ns| namespace.as_ref().is_some_and(|n| ns.contains(n)))
        && list("ipBlocks").is_none_or(|b| in_blocks(&b))
        && list("notIpBlocks").is_none_or(|b| !in_blocks(&b))
}
