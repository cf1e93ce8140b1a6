//! The Istio semantics palisade emits, at connection level: a connection
//! passes when some request on it would (an operation's methods and paths,
//! and `when` conditions, that the connection does not tell are taken to
//! admit some requests in an ALLOW rule, and not to deny the whole connection
//! in a DENY rule).
//!
//! - Only TCP is Istio's: "Istio supports proxying any TCP traffic ... UDP is
//!   not proxied" (istio.io, ops/configuration/traffic-management/protocol-selection);
//!   the sidecar's iptables capture TCP only. UDP and SCTP pass the overlay
//!   untouched (no AuthorizationPolicy, no REGISTRY_ONLY), and the L3/L4
//!   layer's verdict is the answer.
//! - Ingress: AuthorizationPolicies of the destination's namespace that
//!   select it (no selector: all), and those of the root namespace
//!   (`istio-system`, Istio's default `rootNamespace`) for every namespace;
//!   dry-run ones are ignored. "If there are any DENY policies that match the
//!   request, deny the request. If there are no ALLOW policies for the
//!   workload, allow the request. If any of the ALLOW policies match the
//!   request, allow the request. Deny the request." (security/authorization-policy).
//!   Values match as Istio's matchers build them: a leading `*` is a suffix, a
//!   trailing `*` a prefix, `*` alone presence.
//! - Egress: a mesh VirtualService visible to the caller's namespace
//!   (`exportTo`) that routes the host's SNI to a gateway, with a ServiceEntry
//!   the caller sees for the host, takes the connection to the gateway; there
//!   a Gateway server for the host and a VirtualService bound to it must route
//!   it on, and the gateway pods' AuthorizationPolicies decide with
//!   `connection.sni` = the host and the caller's principal (known only where
//!   the server terminates Istio mTLS: a passthrough server sees no peer).
//!   Otherwise a caller whose Sidecar is REGISTRY_ONLY reaches outside names
//!   only where a visible ServiceEntry lists the host and port, and raw
//!   outside addresses only where one lists the address.
//! - A stated limit: a connection to a gateway pod itself (the model's L3/L4
//!   hop) carries no SNI. What it carries is decided on the routed connection
//!   (caller → host, above), so a policy on a gateway pod all of whose rules
//!   condition on `connection.sni` does not decide the hop. Path templates
//!   (`{*}`, `{**}`) and request attributes the model has no value for
//!   (JWT claims, `hosts`) are unknown and read as above.

use crate::manifest::Field;
use crate::{Evaluator, Manifest, RuleRef, Verdict};
use ipnet::IpNet;
use palisade_compiler::model::{ClusterModel, Connection, Endpoint, External, Pod};
use palisade_intents::syntax::Protocol;
use serde_json::Value;
use std::{collections::HashMap, net::IpAddr};

/// Istio's default `meshConfig.rootNamespace`: policies there apply mesh-wide
pub(crate) const ROOT_NAMESPACE: &str = "istio-system";

/// The Istio objects of a manifest set
pub(super) struct Mesh<'m> {
    /// enforcing AuthorizationPolicies by namespace: one applies to workloads
    /// of its own namespace, or of every namespace from the root namespace
    pub(super) policies: HashMap<&'m str, Vec<&'m Manifest>>,
    pub(super) sidecars: Vec<&'m Manifest>,
    pub(super) service_entries: Vec<&'m Manifest>,
    pub(super) virtual_services: Vec<&'m Manifest>,
    pub(super) gateways: Vec<&'m Manifest>,
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
            virtual_services: of("networking.istio.io/", "VirtualService"),
            gateways: of("networking.istio.io/", "Gateway"),
        }
    }
}

fn selects(selector: Option<&Value>, pod: &Pod) -> bool {
    selector
        .and_then(|s| s.get("matchLabels").or(s.get("labels")).or(Some(s)))
        .and_then(Value::as_object)
        .is_none_or(|labels| {
            labels
                .iter()
                .all(|(k, v)| pod.labels.get(k).map(String::as_str) == v.as_str())
        })
}

/// Whether an object with this `exportTo` is seen from `namespace`. Absent
/// or empty: `*` (Istio's default when meshConfig sets none).
pub(super) fn visible(m: &Manifest, namespace: &str) -> bool {
    let Some(export) = m.object.at(&["spec", "exportTo"]).and_then(Value::as_array) else {
        return true;
    };
    export.is_empty()
        || export.iter().filter_map(Value::as_str).any(|e| match e {
            "*" => true,
            "." => m.namespace() == namespace,
            "~" => false,
            ns => ns == namespace,
        })
}

pub(super) fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A DNS host against a registry host (`*.example.com` covers one or more
/// labels in front of `example.com`, Istio's wildcard)
pub(super) fn host_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .strip_suffix(suffix)
            .is_some_and(|head| head.ends_with('.') && head.len() > 1),
        None => pattern == "*" || pattern.eq_ignore_ascii_case(name),
    }
}

/// An AuthorizationPolicy value against an actual value, as Istio's
/// `StringMatcherWithPrefix` and `HeaderMatcher` build it: `*` presence
/// (non-empty), `*x` suffix, `x*` prefix, otherwise exact
pub(super) fn value_matches(pattern: &str, actual: &str) -> bool {
    if pattern == "*" {
        return !actual.is_empty();
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return actual.ends_with(suffix);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return actual.starts_with(prefix);
    }
    pattern == actual
}

/// Three-valued: what the connection tells about a condition
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    Yes,
    No,
    Unknown,
}

impl Truth {
    fn of(b: bool) -> Self {
        if b {
            Self::Yes
        } else {
            Self::No
        }
    }

    fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::No, _) | (_, Self::No) => Self::No,
            (Self::Yes, Self::Yes) => Self::Yes,
            _ => Self::Unknown,
        }
    }

    fn or(self, other: Self) -> Self {
        match (self, other) {
            (Self::Yes, _) | (_, Self::Yes) => Self::Yes,
            (Self::No, Self::No) => Self::No,
            _ => Self::Unknown,
        }
    }

    fn all(items: impl IntoIterator<Item = Self>) -> Self {
        items.into_iter().fold(Self::Yes, Self::and)
    }

    fn any(items: impl IntoIterator<Item = Self>) -> Self {
        items.into_iter().fold(Self::No, Self::or)
    }
}

/// What the proxy that decides knows of one connection
struct Facts<'a> {
    conn: &'a Connection<'a>,
    /// the authenticated peer, when mTLS carried one
    principal: Option<String>,
    namespace: Option<&'a str>,
    ip: Option<IpAddr>,
    /// `connection.sni`: `None` when the connection does not tell
    sni: Option<&'a str>,
}

impl Facts<'_> {
    fn source(&self, source: &Value) -> Truth {
        let Some(fields) = source.as_object() else {
            return Truth::Yes;
        };
        let in_blocks = |blocks: Vec<&str>| {
            self.ip.is_some_and(|ip| {
                blocks.iter().any(|b| {
                    b.parse::<IpNet>()
                        .map(|n| n.contains(&ip))
                        .or_else(|_| b.parse::<IpAddr>().map(|a| a == ip))
                        .unwrap_or(false)
                })
            })
        };
        let any_of = |values: Vec<&str>, actual: Option<&str>| {
            actual.is_some_and(|a| values.iter().any(|v| value_matches(v, a)))
        };
        let principal = self.principal.as_deref();
        // `serviceAccounts: [ns/sa]` or `[sa]` (the policy's namespace) is
        // the principal spelled differently; the policy's namespace is not
        // known here, so only the qualified form is decided
        Truth::all(fields.iter().map(|(key, value)| {
            let values = strings(Some(value));
            match key.as_str() {
                "principals" => Truth::of(any_of(values, principal)),
                "notPrincipals" => Truth::of(!any_of(values, principal)),
                "namespaces" => Truth::of(any_of(values, self.namespace)),
                "notNamespaces" => Truth::of(!any_of(values, self.namespace)),
                "ipBlocks" | "remoteIpBlocks" => Truth::of(in_blocks(values)),
                "notIpBlocks" | "notRemoteIpBlocks" => Truth::of(!in_blocks(values)),
                "serviceAccounts" if values.iter().all(|v| v.contains('/')) => Truth::of(values.iter().any(|v| {
                    v.split_once('/')
                        .is_some_and(|(ns, sa)| principal == Some(format!("cluster.local/ns/{ns}/sa/{sa}").as_str()))
                })),
                _ => Truth::Unknown,
            }
        }))
    }

    fn operation(&self, operation: &Value) -> Truth {
        let Some(fields) = operation.as_object() else {
            return Truth::Yes;
        };
        let request = self.conn.request;
        let port = self.conn.port.to_string();
        Truth::all(fields.iter().map(|(key, value)| {
            let values = strings(Some(value));
            let known = |actual: Option<&str>, negate: bool| match actual {
                None => Truth::Unknown,
                Some(a) => Truth::of(values.iter().any(|v| value_matches(v, a)) != negate),
            };
            let path = request.map(|r| r.path.as_str());
            let templated = values.iter().any(|v| v.contains("{*}") || v.contains("{**}"));
            match key.as_str() {
                "ports" => Truth::of(values.contains(&port.as_str())),
                "notPorts" => Truth::of(!values.contains(&port.as_str())),
                "methods" => known(request.map(|r| r.method.as_str()), false),
                "notMethods" => known(request.map(|r| r.method.as_str()), true),
                "paths" if !templated => known(path, false),
                "notPaths" if !templated => known(path, true),
                _ => Truth::Unknown,
            }
        }))
    }

    fn condition(&self, condition: &Value) -> Truth {
        let key = condition["key"].as_str().unwrap_or("");
        let values = strings(condition.get("values"));
        let not_values = strings(condition.get("notValues"));
        let port = self.conn.port.to_string();
        // Some(Some(v)): the value; Some(None): known to be absent; None: not known
        let actual: Option<Option<String>> = match key {
            "connection.sni" => self.sni.map(|s| Some(s.to_string())),
            "source.principal" => Some(self.principal.clone()),
            "source.namespace" => Some(self.namespace.map(str::to_string)),
            "destination.port" => Some(Some(port)),
            // A modelled request carries no headers
            k if k.starts_with("request.headers[") => self.conn.request.map(|_| None),
            _ => None,
        };
        let Some(actual) = actual else {
            return Truth::Unknown;
        };
        let hit = |list: &[&str]| {
            actual
                .as_deref()
                .is_some_and(|a| list.iter().any(|v| value_matches(v, a)))
        };
        let values_ok = values.is_empty() || hit(&values);
        let not_ok = not_values.is_empty() || !hit(&not_values);
        Truth::of(values_ok && not_ok)
    }

    fn rule(&self, rule: &Value) -> Truth {
        let from = rule.get("from").and_then(Value::as_array).map_or(Truth::Yes, |from| {
            Truth::any(from.iter().map(|f| self.source(&f["source"])))
        });
        let to = rule.get("to").and_then(Value::as_array).map_or(Truth::Yes, |to| {
            Truth::any(to.iter().map(|t| self.operation(&t["operation"])))
        });
        let when = rule
            .get("when")
            .and_then(Value::as_array)
            .map_or(Truth::Yes, |w| Truth::all(w.iter().map(|c| self.condition(c))));
        from.and(to).and(when)
    }
}

/// Whether every rule of a policy conditions on `connection.sni`
pub(super) fn only_about_sni(policy: &Manifest) -> bool {
    policy
        .object
        .at(&["spec", "rules"])
        .and_then(Value::as_array)
        .is_some_and(|rules| {
            !rules.is_empty()
                && rules.iter().all(|r| {
                    r.get("when")
                        .and_then(Value::as_array)
                        .is_some_and(|w| w.iter().any(|c| c["key"] == "connection.sni"))
                })
        })
}

fn reference(m: &Manifest, rule: String) -> RuleRef {
    RuleRef {
        policy: m.reference(),
        rule,
        source: m.source(),
    }
}

impl Evaluator for Mesh<'_> {
    fn decide(&self, model: &ClusterModel, conn: &Connection, _explain: bool) -> Verdict {
        let pass = Verdict {
            allowed: true,
            decided_by: Vec::new(),
        };
        if conn.protocol != Protocol::Tcp {
            return pass;
        }
        if let (Endpoint::Pod(src), Endpoint::External(ext)) = (conn.from, conn.to) {
            if let Some(verdict) = self.egress(model, src, ext, conn) {
                return verdict;
            }
        }
        let Endpoint::Pod(dst) = conn.to else { return pass };
        let facts = match conn.from {
            Endpoint::Pod(p) => Facts {
                conn,
                principal: principal_of(p),
                namespace: Some(p.namespace.as_str()),
                ip: p.address(),
                sni: None,
            },
            Endpoint::External(e) => Facts {
                conn,
                principal: None,
                namespace: None,
                ip: Some(e.ip),
                sni: None,
            },
        };
        let hop = self.is_gateway_pod(dst);
        self.authorize(dst, &facts, hop)
    }

    fn sides(&self, universe: &palisade_relation::Universe) -> Option<palisade_relation::Sides> {
        super::symbolic::sides(self, universe)
    }

    fn routed(&self, universe: &palisade_relation::Universe) -> Option<Vec<palisade_relation::SideSet>> {
        super::symbolic::routed(self, universe)
    }
}

/// The sidecar's mTLS certificate names the pod's service account
pub(super) fn principal_of(pod: &Pod) -> Option<String> {
    pod.service_account
        .as_ref()
        .map(|sa| format!("cluster.local/ns/{}/sa/{sa}", pod.namespace))
}

impl Mesh<'_> {
    fn is_gateway_pod(&self, pod: &Pod) -> bool {
        self.gateways
            .iter()
            .any(|g| g.object.at(&["spec", "selector"]).is_some() && selects(g.object.at(&["spec", "selector"]), pod))
    }

    /// The AuthorizationPolicies of `dst` decide. `hop`: a connection to a
    /// gateway pod without SNI, which SNI-only policies do not decide.
    fn authorize(&self, dst: &Pod, facts: &Facts, hop: bool) -> Verdict {
        let root = self
            .policies
            .get(ROOT_NAMESPACE)
            .filter(|_| dst.namespace != ROOT_NAMESPACE);
        let applying: Vec<&&Manifest> = self
            .policies
            .get(dst.namespace.as_str())
            .into_iter()
            .chain(root)
            .flatten()
            .filter(|m| selects(m.object.at(&["spec", "selector"]), dst))
            .filter(|m| !(hop && facts.sni.is_none() && only_about_sni(m)))
            .collect();
        fn action(m: &Manifest) -> &str {
            m.object
                .at(&["spec", "action"])
                .and_then(Value::as_str)
                .unwrap_or("ALLOW")
        }
        fn rules(m: &Manifest) -> &[Value] {
            m.object
                .at(&["spec", "rules"])
                .and_then(Value::as_array)
                .map_or(&[], Vec::as_slice)
        }
        for m in applying.iter().filter(|m| action(m) == "DENY") {
            // Only a rule that certainly holds denies the whole connection
            if let Some(i) = rules(m).iter().position(|r| facts.rule(r) == Truth::Yes) {
                return Verdict {
                    allowed: false,
                    decided_by: vec![reference(m, format!("rules[{i}] DENY"))],
                };
            }
        }
        let allows: Vec<&&&Manifest> = applying.iter().filter(|m| action(m) == "ALLOW").collect();
        if allows.is_empty() {
            return Verdict {
                allowed: true,
                decided_by: Vec::new(),
            };
        }
        let admitted = allows.iter().find_map(|m| {
            rules(m)
                .iter()
                .position(|r| facts.rule(r) != Truth::No)
                .map(|i| reference(m, format!("rules[{i}] ALLOW")))
        });
        match admitted {
            Some(r) => Verdict {
                allowed: true,
                decided_by: vec![r],
            },
            None => Verdict {
                allowed: false,
                decided_by: allows
                    .iter()
                    .map(|m| reference(m, "no ALLOW rule matches".into()))
                    .collect(),
            },
        }
    }

    /// The ServiceEntry through which `src`'s sidecar knows this destination
    fn entry_for(&self, src: &Pod, ext: &External, port: u16) -> Option<&Manifest> {
        self.service_entries
            .iter()
            .find(|e| {
                let hosts = strings(e.object.at(&["spec", "hosts"]));
                let host_ok = ext
                    .fqdn
                    .as_deref()
                    .is_some_and(|name| hosts.iter().any(|h| host_matches(h, name)));
                let address_ok = strings(e.object.at(&["spec", "addresses"]))
                    .iter()
                    .filter_map(|a| a.parse::<IpNet>().ok())
                    .any(|a| a.contains(&ext.ip));
                let ports = e.object.at(&["spec", "ports"]).and_then(Value::as_array);
                let port_ok = ports.is_none_or(|p| p.is_empty())
                    || ports
                        .into_iter()
                        .flatten()
                        .any(|p| p["number"].as_u64() == Some(u64::from(port)));
                visible(e, &src.namespace) && (host_ok || address_ok) && port_ok
            })
            .copied()
    }

    /// The Sidecar that configures `src`: one whose workloadSelector selects
    /// it, else its namespace's, else the root namespace's
    fn sidecar_for(&self, src: &Pod) -> Option<&Manifest> {
        fn selector(s: &Manifest) -> Option<&Value> {
            s.object.at(&["spec", "workloadSelector"])
        }
        self.sidecars
            .iter()
            .find(|s| s.namespace() == src.namespace && selector(s).is_some() && selects(selector(s), src))
            .or_else(|| {
                self.sidecars
                    .iter()
                    .find(|s| s.namespace() == src.namespace && selector(s).is_none())
            })
            .or_else(|| {
                self.sidecars
                    .iter()
                    .find(|s| s.namespace() == ROOT_NAMESPACE && selector(s).is_none())
            })
            .copied()
    }

    /// `Some` when the mesh decides a connection to an outside address
    fn egress(&self, model: &ClusterModel, src: &Pod, ext: &External, conn: &Connection) -> Option<Verdict> {
        let entry = self.entry_for(src, ext, conn.port);
        if let (Some(name), Some(_)) = (ext.fqdn.as_deref(), entry) {
            if let Some(verdict) = self.through_gateway(model, src, name, conn) {
                return Some(verdict);
            }
        }
        let sidecar = self.sidecar_for(src).filter(|s| {
            s.object
                .at(&["spec", "outboundTrafficPolicy", "mode"])
                .and_then(Value::as_str)
                == Some("REGISTRY_ONLY")
        })?;
        Some(match entry {
            Some(e) => Verdict {
                allowed: true,
                decided_by: vec![reference(e, "hosts".into())],
            },
            None => Verdict {
                allowed: false,
                decided_by: vec![reference(sidecar, "REGISTRY_ONLY".into())],
            },
        })
    }

    /// `Some` when a mesh route visible to `src` sends `host` to a gateway:
    /// then the gateway's server, its route and its policies decide
    fn through_gateway(&self, model: &ClusterModel, src: &Pod, host: &str, conn: &Connection) -> Option<Verdict> {
        let (route, index, destination) = self.virtual_services.iter().find_map(|vs| {
            if !visible(vs, &src.namespace) {
                return None;
            }
            let gateways = strings(vs.object.at(&["spec", "gateways"]));
            if !(gateways.is_empty() || gateways.contains(&"mesh")) {
                return None;
            }
            if !strings(vs.object.at(&["spec", "hosts"]))
                .iter()
                .any(|h| host_matches(h, host))
            {
                return None;
            }
            let tls = vs.object.at(&["spec", "tls"]).and_then(Value::as_array)?;
            tls.iter().enumerate().find_map(|(i, route)| {
                let matched = route["match"].as_array().is_none_or(|ms| {
                    ms.iter().any(|m| {
                        let gws = strings(m.get("gateways"));
                        (gws.is_empty() || gws.contains(&"mesh"))
                            && m["port"].as_u64().is_none_or(|p| p == u64::from(conn.port))
                            && strings(m.get("sniHosts")).iter().any(|h| host_matches(h, host))
                    })
                });
                let destination = route["route"][0]["destination"]["host"].as_str()?;
                (matched && destination != host).then(|| (*vs, i, destination.to_string()))
            })
        })?;
        let route_ref = reference(route, format!("tls[{index}] to {destination}"));
        // `name.namespace.svc...`: the gateway Service's namespace
        let gateway_ns = destination.split('.').nth(1).unwrap_or("");
        let denied = |why: RuleRef| Verdict {
            allowed: false,
            decided_by: vec![route_ref.clone(), why],
        };
        // A Gateway object with a server for the host, whose pods are in the model
        let server = self.gateways.iter().find_map(|g| {
            let pods: Vec<&Pod> = model
                .pods
                .iter()
                .filter(|p| p.namespace == gateway_ns && selects(g.object.at(&["spec", "selector"]), p))
                .collect();
            let servers = g.object.at(&["spec", "servers"]).and_then(Value::as_array)?;
            servers.iter().find_map(|s| {
                let hosts_ok = strings(s.get("hosts")).iter().any(|h| {
                    let bare = h.rsplit('/').next().unwrap_or(h);
                    host_matches(bare, host)
                });
                (hosts_ok && !pods.is_empty()).then(|| (*g, s.clone(), pods.clone()))
            })
        });
        let Some((gateway, server, pods)) = server else {
            return Some(denied(reference(route, format!("no Gateway server for {host}"))));
        };
        let gateway_pod = pods.first().copied()?;
        let terminates = server["tls"]["mode"].as_str() == Some("ISTIO_MUTUAL");
        if !self.gateway_routes(gateway, &server, gateway_pod, host, terminates) {
            return Some(denied(reference(gateway, format!("no route bound to it for {host}"))));
        }
        let facts = Facts {
            conn,
            // A passthrough server has no TLS context: no peer identity
            principal: if terminates { principal_of(src) } else { None },
            namespace: if terminates { Some(src.namespace.as_str()) } else { None },
            ip: src.address(),
            sni: Some(host),
        };
        let mut verdict = self.authorize(gateway_pod, &facts, false);
        verdict.decided_by.insert(0, route_ref);
        Some(verdict)
    }

    /// Whether a VirtualService bound to `gateway` (and visible in its pods'
    /// namespace) routes `host` on from this server: `tcp` routes where the
    /// server terminates TLS, `tls` routes by SNI where it passes it through
    pub(super) fn gateway_routes(
        &self,
        gateway: &Manifest,
        server: &Value,
        pod: &Pod,
        host: &str,
        terminates: bool,
    ) -> bool {
        let qualified = format!("{}/{}", gateway.namespace(), gateway.name());
        let port = server["port"]["number"].as_u64();
        self.virtual_services.iter().any(|vs| {
            let bound = |gws: Vec<&str>| {
                gws.iter()
                    .any(|g| *g == qualified || (*g == gateway.name() && vs.namespace() == gateway.namespace()))
            };
            // `./host` and `ns/host` servers bind VirtualServices of that namespace only
            let host_ok = strings(server.get("hosts")).iter().any(|h| match h.split_once('/') {
                Some((".", bare)) => vs.namespace() == gateway.namespace() && host_matches(bare, host),
                Some(("*", bare)) => host_matches(bare, host),
                Some((ns, bare)) => vs.namespace() == ns && host_matches(bare, host),
                None => host_matches(h, host),
            });
            let routes_ok = |key: &str| {
                vs.object
                    .at(&["spec", key])
                    .and_then(Value::as_array)
                    .is_some_and(|routes| {
                        routes.iter().any(|r| {
                            r["match"].as_array().is_none_or(|ms| {
                                ms.iter().any(|m| {
                                    let gws = strings(m.get("gateways"));
                                    (gws.is_empty() || bound(gws))
                                        && m["port"].as_u64().is_none_or(|p| Some(p) == port)
                                        && (key == "tcp"
                                            || strings(m.get("sniHosts")).iter().any(|h| host_matches(h, host)))
                                })
                            }) && r["route"].as_array().is_some_and(|d| !d.is_empty())
                        })
                    })
            };
            visible(vs, &pod.namespace)
                && bound(strings(vs.object.at(&["spec", "gateways"])))
                && strings(vs.object.at(&["spec", "hosts"]))
                    .iter()
                    .any(|h| host_matches(h, host))
                && host_ok
                && routes_ok(if terminates { "tcp" } else { "tls" })
        })
    }
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
