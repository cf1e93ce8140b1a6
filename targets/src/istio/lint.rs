//! The Istio trap: an egress gateway that pods can go around. Routing through
//! the gateway is only a control when the pods' direct egress is closed by a
//! layer below the mesh (NetworkPolicy, Cilium or Calico): Istio's own docs say
//! so ("Egress Gateways", Additional security considerations: "Istio cannot
//! securely enforce that all egress traffic actually flows through the egress
//! gateways"; a pod that skips its sidecar goes straight out). So whether a
//! pod can bypass is decided here by the evaluators of the L3/L4 layers read,
//! on a direct connection to each host the gateway serves, not by whether some
//! policy of the namespace mentions egress.

use crate::{
    import::Context,
    lint::{Finding, GATEWAY_BYPASS},
    Dialect, Manifest,
};
use palisade_compiler::model::{ClusterModel, Connection, Endpoint, External};
use palisade_intents::{syntax::Protocol, types::Labels};
use serde_json::Value;
use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

/// Stand for the public addresses a host name resolves to, which a linter
/// cannot know: one of each documentation range (RFC 5737, never routed),
/// far apart. A pod that reaches all three reaches the public internet, or
/// the host by name (Cilium's toFQDNs); one rule for a single range (a
/// partner's /24) is not taken for a way around the gateway.
const DOCUMENTATION_ADDRESSES: [[u8; 4]; 3] = [[192, 0, 2, 1], [198, 51, 100, 1], [203, 0, 113, 1]];

/// Addresses where real hosts live, across the space (Cloudflare, AWS,
/// Fastly, Google; Cloudflare's IPv6): a wide allow that skips the
/// documentation ranges (`0.0.0.0/1`) still holds one of them, and
/// reaching any of them is a way out.
const PUBLIC_ADDRESSES: [IpAddr; 5] = [
    IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
    IpAddr::V4(Ipv4Addr::new(52, 0, 0, 1)),
    IpAddr::V4(Ipv4Addr::new(151, 101, 0, 1)),
    IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
    IpAddr::V6(Ipv6Addr::new(0x2606, 0x4700, 0, 0, 0, 0, 0, 1)),
];

/// Where an egress gateway's pods run when no cluster dump says: Istio's
/// default install puts `istio-egressgateway` in istio-system, whatever
/// namespace the Gateway object is in (the istio.io "Egress Gateways" task
/// keeps its Gateway in `default`)
const GATEWAY_PODS_NAMESPACE: &str = "istio-system";

pub(super) fn lint(manifests: &[Manifest], cluster: Option<&ClusterModel>) -> Vec<Finding> {
    let gateways: Vec<(usize, &Manifest)> = manifests
        .iter()
        .enumerate()
        .filter(|(_, m)| is_egress_gateway(m))
        .collect();
    if gateways.is_empty() {
        return Vec::new();
    }
    // The gateway pods themselves go out directly: their namespace is the
    // one not to probe, not the namespace of the Gateway object
    let gateway_pods = gateway_pod_namespaces(&gateways, cluster);
    let servers: Vec<(&str, u16)> = gateways.iter().flat_map(|(_, m)| served(m)).collect();
    let routed = routed(manifests, &gateway_pods, &servers);
    let below = Below::new(manifests, cluster);
    let open: BTreeSet<&str> = routed
        .iter()
        .filter(|(namespace, host, port)| below.bypassable(cluster, namespace, host, *port))
        .map(|(namespace, _, _)| *namespace)
        .collect();
    if open.is_empty() && !routed.is_empty() {
        return Vec::new();
    }
    let namespaces = if routed.is_empty() {
        "the namespaces that use it".to_string()
    } else {
        open.into_iter().collect::<Vec<_>>().join(", ")
    };
    gateways
        .into_iter()
        .map(|(index, _)| {
            Finding::new(
                &GATEWAY_BYPASS,
                index,
                "/spec/selector",
                format!("pods of {namespaces} can reach the destinations directly: no policy linted closes their egress, so the gateway is a route, not a control"),
                "add a default-deny egress NetworkPolicy there that allows only DNS and the egress gateway (palisade: `{ fqdn: ..., via: egress-gateway }` emits it)",
            )
        })
        .collect()
}

/// What to probe, per namespace that uses mesh egress (holds a
/// ServiceEntry or VirtualService) outside the gateway pods' own: each of
/// its hosts a gateway server serves, on the entry's ports and the server's;
/// a namespace none of whose hosts a server names (it may still send there
/// through the gateway, by another route) on every host and port the
/// gateways serve
fn routed<'m>(
    manifests: &'m [Manifest],
    gateway_pods: &BTreeSet<String>,
    servers: &[(&'m str, u16)],
) -> BTreeSet<(&'m str, &'m str, u16)> {
    let mut by_namespace: BTreeMap<&str, BTreeSet<(&str, u16)>> = BTreeMap::new();
    let mesh = manifests
        .iter()
        .filter(|m| m.api_version().starts_with("networking.istio.io/"))
        .filter(|m| matches!(m.kind(), "ServiceEntry" | "VirtualService"))
        .filter(|m| !m.namespace().is_empty() && !gateway_pods.contains(m.namespace()));
    for m in mesh {
        let probes = by_namespace.entry(m.namespace()).or_default();
        let own = ports(m);
        for host in string_list(&m.object["spec"]["hosts"]) {
            let by_gateway: BTreeSet<u16> = servers
                .iter()
                .filter(|(served, _)| serves(served, host))
                .map(|(_, port)| *port)
                .collect();
            if !by_gateway.is_empty() {
                probes.extend(own.iter().chain(&by_gateway).map(|port| (host, *port)));
            }
        }
    }
    by_namespace
        .into_iter()
        .flat_map(|(namespace, probes)| {
            let probes: Vec<(&str, u16)> = if probes.is_empty() {
                servers.to_vec()
            } else {
                probes.into_iter().collect()
            };
            probes.into_iter().map(move |(host, port)| (namespace, host, port))
        })
        .collect()
}

fn is_egress_gateway(m: &Manifest) -> bool {
    m.api_version().starts_with("networking.istio.io/")
        && m.kind() == "Gateway"
        && m.object["spec"]["selector"].as_object().is_some_and(|s| {
            s.values()
                .any(|v| v.as_str().is_some_and(|v| v.contains("egressgateway")))
        })
}

/// The namespaces of the dump's pods that some Gateway's selector selects
/// (a Gateway selects pods of every namespace), or, without them,
/// [`GATEWAY_PODS_NAMESPACE`]
fn gateway_pod_namespaces(gateways: &[(usize, &Manifest)], cluster: Option<&ClusterModel>) -> BTreeSet<String> {
    let selectors: Vec<Labels> = gateways
        .iter()
        .filter_map(|(_, m)| m.object["spec"]["selector"].as_object())
        .map(|s| {
            s.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .collect();
    let found: BTreeSet<String> = cluster
        .into_iter()
        .flat_map(|c| &c.pods)
        .filter(|p| selectors.iter().any(|s| p.matches(s)))
        .map(|p| p.namespace.clone())
        .collect();
    if found.is_empty() {
        BTreeSet::from([GATEWAY_PODS_NAMESPACE.to_string()])
    } else {
        found
    }
}

/// Each host of a Gateway's servers, without the `namespace/` prefix a
/// server host may carry, with the server's port (443 when it names none)
fn served(gateway: &Manifest) -> Vec<(&str, u16)> {
    gateway.object["spec"]["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|server| {
            let port = port_number(&server["port"]).unwrap_or(443);
            string_list(&server["hosts"])
                .map(|h| h.rsplit_once('/').map_or(h, |(_, host)| host))
                .map(move |host| (host, port))
        })
        .collect()
}

/// Whether a Gateway host serves `host`: `*` serves every host, `*.x` every
/// name below `x` (Istio's host wildcard: one leading `*.`, any subdomain,
/// not `x` itself), another name only itself
fn serves(gateway_host: &str, host: &str) -> bool {
    let (gateway_host, host) = (gateway_host.to_ascii_lowercase(), host.to_ascii_lowercase());
    if gateway_host == "*" || gateway_host == host {
        return true;
    }
    gateway_host.strip_prefix("*.").is_some_and(|domain| {
        host.strip_suffix(domain)
            .is_some_and(|below| below.len() > 1 && below.ends_with('.'))
    })
}

fn string_list(value: &Value) -> impl Iterator<Item = &str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn port_number(port: &Value) -> Option<u16> {
    port["number"].as_u64().and_then(|n| u16::try_from(n).ok())
}

/// Every port of a ServiceEntry; a VirtualService names none: TLS on 443,
/// what egress gateways carry
fn ports(m: &Manifest) -> BTreeSet<u16> {
    let listed: BTreeSet<u16> = m.object["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(port_number)
        .collect();
    if listed.is_empty() {
        BTreeSet::from([443])
    } else {
        listed
    }
}

/// The L3/L4 layers linted, read once: their evaluators, and the pods each
/// namespace puts in egress isolation
struct Below<'m> {
    evaluators: Vec<Box<dyn crate::Evaluator + 'm>>,
    isolated: Vec<(String, Labels)>,
}

impl<'m> Below<'m> {
    fn new(manifests: &'m [Manifest], cluster: Option<&ClusterModel>) -> Self {
        let layers: Vec<&dyn Dialect> = crate::DIALECTS
            .iter()
            .copied()
            .filter(|d| !d.capabilities().overlay && manifests.iter().any(|m| d.reads(m)))
            .collect();
        let context = Context::new(manifests, cluster);
        let isolated = layers
            .iter()
            .filter_map(|d| d.import(manifests, &context))
            .flat_map(|imported| imported.isolations)
            .filter(|i| i.egress)
            .map(|i| (i.namespace, i.selector))
            .collect();
        Below {
            evaluators: layers.iter().map(|d| d.evaluator(manifests)).collect(),
            isolated,
        }
    }

    /// Whether some pod of `namespace` reaches `host` without the mesh:
    /// every layer lets the direct connection through (no layer: nothing
    /// stops it). The pods tried: one that only namespace-wide policies
    /// select, one per egress isolation of the namespace, and the dump's pods there.
    fn bypassable(&self, cluster: Option<&ClusterModel>, namespace: &str, host: &str, port: u16) -> bool {
        if self.evaluators.is_empty() {
            return true;
        }
        let mut probes: Vec<Labels> = vec![Labels::new()];
        probes.extend(
            self.isolated
                .iter()
                .filter(|(ns, _)| ns == namespace)
                .map(|(_, selector)| selector.clone()),
        );
        let mut model = ClusterModel::default();
        if let Some(c) = cluster {
            model.namespaces = c.namespaces.clone();
            probes.extend(
                c.pods
                    .iter()
                    .filter(|p| p.namespace == namespace)
                    .map(|p| p.labels.clone()),
            );
        }
        for labels in probes {
            model.add_pod(namespace, "probe", labels, None, Vec::new());
        }
        let outside = |ip: IpAddr| External {
            ip,
            fqdn: (host != "*").then(|| host.to_string()),
            kube_apiserver: false,
        };
        let documentation: Vec<External> = DOCUMENTATION_ADDRESSES.map(|ip| outside(IpAddr::from(ip))).to_vec();
        let public: Vec<External> = PUBLIC_ADDRESSES.map(outside).to_vec();
        model.pods.iter().any(|pod| {
            let reaches = |to: &External| {
                let conn = Connection {
                    from: Endpoint::Pod(pod),
                    to: Endpoint::External(to),
                    protocol: Protocol::Tcp,
                    port,
                    request: None,
                };
                self.evaluators.iter().all(|e| e.allows(&model, &conn))
            };
            documentation.iter().all(reaches) || public.iter().any(reaches)
        })
    }
}
