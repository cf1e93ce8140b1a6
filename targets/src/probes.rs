//! Probes from the manifests: verification builds its cluster model from the
//! intents, so a hand edit that names something the intents never mention (a
//! namespace `evil`, a block 198.18.0.0/15, ports 1000-2000, `*.evil.com`, a
//! principal of another namespace) had no connection in the model to be
//! caught on. Everything a manifest names as a peer, a port or a name becomes
//! a probe too, so the comparison covers what either side speaks of.
//!
//! It reads the manifests as plain JSON trees, by the field names the four
//! dialects use for peers and ports; it needs no dialect's semantics, because
//! a probe only adds a connection to decide, never a verdict.

use palisade_compiler::model::{probe_addresses, ClusterModel, DeclaredAccounts, External, NewPod};
use palisade_intents::{syntax::Protocol, types::Labels};
use serde_json::{Map, Value};
use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::{IpAddr, Ipv4Addr},
};

use crate::Manifest;

/// Label of the pods this module adds, so reports can tell them apart
const PROBE_LABEL: &str = "palisade.dev/probe";

/// The namespace label every namespace carries
const NAMESPACE_LABEL: &str = "kubernetes.io/metadata.name";

/// Cilium's label for a pod's namespace
const CILIUM_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";

/// Where a selector that names no namespace selects pods, as the kinds
/// that carry one read it: a namespaced policy's selectors (NetworkPolicy
/// `podSelector`, Cilium's endpoint selectors, an AuthorizationPolicy's
/// `selector`) speak of its own namespace; a cluster-scoped policy's, and
/// those of Istio's root namespace, of every namespace; a `podSelector`
/// beside a `namespaceSelector`, of the namespaces that one selects.
/// Probing a selector in every namespace instead would multiply the model
/// by the number of namespaces without adding a connection any rule decides
/// differently.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Scope {
    Everywhere,
    Namespace(String),
    Labelled(Labels),
}

impl Scope {
    /// The scope of a manifest's own selectors
    fn of(manifest: &Manifest) -> Self {
        match manifest.namespace() {
            "" => Self::Everywhere,
            ns if ns == crate::istio::ROOT_NAMESPACE => Self::Everywhere,
            ns => Self::Namespace(ns.to_string()),
        }
    }

    /// The scope of the `podSelector` of a peer with a `namespaceSelector`
    fn of_peer(peer: &Map<String, Value>) -> Option<Self> {
        let selector = peer.get("namespaceSelector")?.as_object()?;
        let exact = selector.get("matchExpressions").is_none();
        Some(match selector.get("matchLabels").and_then(Value::as_object) {
            Some(labels) if exact && !labels.is_empty() => Self::Labelled(
                labels
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect(),
            ),
            _ => Self::Everywhere,
        })
    }

    /// The namespaces of `model` it speaks of
    fn namespaces(&self, model: &ClusterModel) -> Vec<String> {
        match self {
            Self::Everywhere => model.namespaces.keys().cloned().collect(),
            Self::Namespace(ns) => vec![ns.clone()],
            Self::Labelled(labels) => model
                .namespaces
                .values()
                .filter(|ns| labels.iter().all(|(k, v)| ns.labels.get(k) == Some(v)))
                .map(|ns| ns.name.clone())
                .collect(),
        }
    }
}

#[derive(Default)]
struct Found {
    namespaces: BTreeSet<String>,
    namespace_labels: BTreeSet<Labels>,
    /// hashed while walking (most repeat), sorted once after
    pod_labels: HashSet<(Labels, Scope)>,
    accounts: BTreeSet<(String, String)>,
    blocks: BTreeSet<ipnet::IpNet>,
    ports: BTreeSet<(Protocol, u16)>,
    names: BTreeSet<String>,
}

/// Add to `model` a probe for every peer, port and name the manifests mention
pub fn add<'a>(model: &mut ClusterModel, manifests: impl IntoIterator<Item = &'a Manifest>) {
    let mut found = Found::default();
    for manifest in manifests {
        walk(&manifest.object, None, &Scope::of(manifest), &mut found);
    }
    for ns in &found.namespaces {
        model.add_stranger(ns);
    }
    for (index, labels) in found.namespace_labels.iter().enumerate() {
        let name = labels
            .get(NAMESPACE_LABEL)
            .cloned()
            .unwrap_or_else(|| format!("palisade-probe-{index}"));
        model.add_namespace(&name);
        if let Some(ns) = model.namespaces.get_mut(&name) {
            for (k, v) in labels {
                ns.labels.insert(k.clone(), v.clone());
            }
        }
        model.add_stranger(&name);
    }
    // the labels of each namespace's pods, the probes added here included
    let mut present: HashMap<String, Present> = HashMap::new();
    for pod in &model.pods {
        present.entry(pod.namespace.clone()).or_default().push(&pod.labels);
    }
    let accounts = DeclaredAccounts::new(model);
    let mut probes: Vec<NewPod> = Vec::new();
    let mut pod_labels: Vec<&(Labels, Scope)> = found.pod_labels.iter().collect();
    pod_labels.sort_unstable();
    for (labels, scope) in pod_labels {
        let (namespace, selector) = split_namespace(labels);
        let targets = namespace.map_or_else(|| scope.namespaces(model), |ns| vec![ns]);
        for ns in targets {
            // A pod the selector already selects is its probe: a second one
            // would only be that service without its service account
            let present = present.entry(ns.clone()).or_default();
            if !present.selects(&selector) {
                present.push(&selector);
                let account = accounts.of(&ns, &selector);
                let mut labels = selector.clone();
                labels.insert(PROBE_LABEL.into(), "true".into());
                probes.push((ns, "probe".into(), labels, account, Vec::new()));
            }
        }
    }
    for (ns, account) in &found.accounts {
        let labels = Labels::from([(PROBE_LABEL.to_string(), account.clone())]);
        probes.push((ns.clone(), "probe".into(), labels, Some(account.clone()), Vec::new()));
    }
    model.add_pods(probes);
    let blocks: BTreeSet<ipnet::IpNet> = model.blocks.iter().chain(&found.blocks).copied().collect();
    model.blocks = blocks.into_iter().collect();
    let mut externals: BTreeSet<External> = model.externals.iter().cloned().collect();
    let outside = |ip: &IpAddr| !model.pod_ranges.iter().any(|c| c.contains(ip));
    for block in &found.blocks {
        for ip in probe_addresses(block).into_iter().filter(outside) {
            if !externals.iter().any(|e| e.ip == ip) {
                externals.insert(External {
                    ip,
                    fqdn: None,
                    kube_apiserver: false,
                });
            }
        }
    }
    for (index, name) in found.names.iter().enumerate() {
        if externals.iter().any(|e| e.fqdn.as_deref() == Some(name)) {
            continue;
        }
        // TEST-NET-1 (RFC 5737): never a real destination, never a pod
        let low = u8::try_from(index % 250).unwrap_or(0);
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, low.saturating_add(1)));
        externals.insert(External {
            ip,
            fqdn: Some(name.clone()),
            kube_apiserver: false,
        });
    }
    model.externals = externals.into_iter().collect();
    let ports: BTreeSet<(Protocol, u16)> = model.ports.iter().copied().chain(found.ports).collect();
    model.ports = ports.into_iter().collect();
    model
        .pods
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
}

/// The label sets of one namespace's pods, indexed by label
#[derive(Default)]
struct Present {
    pods: Vec<Labels>,
    by_label: HashMap<(String, String), Vec<usize>>,
}

impl Present {
    fn push(&mut self, labels: &Labels) {
        for (k, v) in labels {
            self.by_label
                .entry((k.clone(), v.clone()))
                .or_default()
                .push(self.pods.len());
        }
        self.pods.push(labels.clone());
    }

    /// Whether some pod carries every label of `selector`
    fn selects(&self, selector: &Labels) -> bool {
        let candidates = selector
            .iter()
            .map(|(k, v)| {
                self.by_label
                    .get(&(k.clone(), v.clone()))
                    .map_or(&[][..], Vec::as_slice)
            })
            .min_by_key(|list| list.len());
        match candidates {
            None => !self.pods.is_empty(),
            Some(list) => list
                .iter()
                .filter_map(|&i| self.pods.get(i))
                .any(|pod| selector.iter().all(|(k, v)| pod.get(k) == Some(v))),
        }
    }
}

/// Cilium selectors carry the namespace as a label (`k8s:` prefixed or not)
fn split_namespace(labels: &Labels) -> (Option<String>, Labels) {
    let mut namespace = None;
    let mut rest = Labels::new();
    for (k, v) in labels {
        let key = k.strip_prefix("k8s:").unwrap_or(k);
        if key == CILIUM_NAMESPACE_LABEL {
            namespace = Some(v.clone());
        } else if !key.starts_with("io.cilium.") && !key.starts_with("io.kubernetes.pod.") {
            rest.insert(key.to_string(), v.clone());
        }
    }
    (namespace, rest)
}

fn walk(value: &Value, key: Option<&str>, scope: &Scope, found: &mut Found) {
    match value {
        Value::Object(map) => {
            object(map, key, scope, found);
            let peer = Scope::of_peer(map);
            for (k, v) in map {
                let inner = match (&peer, k.as_str()) {
                    (Some(peer), "podSelector") => peer,
                    _ => scope,
                };
                walk(v, Some(k), inner, found);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, key, scope, found);
            }
        }
        Value::String(text) => string(text, key, found),
        _ => {}
    }
}

fn object(map: &Map<String, Value>, key: Option<&str>, scope: &Scope, found: &mut Found) {
    if let Some(labels) = map.get("matchLabels").and_then(Value::as_object) {
        let labels: Labels = labels
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect();
        if key == Some("namespaceSelector") {
            found.namespace_labels.insert(labels);
        } else {
            found.pod_labels.insert((labels, scope.clone()));
        }
    }
    if let Some(port) = map.get("port").and_then(number) {
        let protocol = map.get("protocol").and_then(Value::as_str).and_then(|p| p.parse().ok());
        let last = map.get("endPort").and_then(number).unwrap_or(port);
        for protocol in protocol.map_or_else(|| vec![Protocol::Tcp, Protocol::Udp], |p| vec![p]) {
            edges(found, protocol, port, last);
        }
    }
    // Calico: `protocol` beside `destination: { ports: [80, "1000:2000"] }`
    if let Some(protocol) = map.get("protocol").and_then(Value::as_str).and_then(|p| p.parse().ok()) {
        for side in ["destination", "source"] {
            let ports = map.get(side).and_then(|s| s.get("ports")).and_then(Value::as_array);
            for item in ports.into_iter().flatten() {
                let range = match item {
                    Value::String(text) => text
                        .split_once(':')
                        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?))),
                    other => number(other).map(|p| (p, p)),
                };
                if let Some((first, last)) = range {
                    edges(found, protocol, first, last);
                }
            }
        }
    }
}

/// A port range and its neighbours, as the intents' ports are probed
fn edges(found: &mut Found, protocol: Protocol, first: u16, last: u16) {
    for port in [Some(first), Some(last), first.checked_sub(1), last.checked_add(1)]
        .into_iter()
        .flatten()
    {
        if port > 0 {
            found.ports.insert((protocol, port));
        }
    }
}

fn string(text: &str, key: Option<&str>, found: &mut Found) {
    match key {
        Some(
            "cidr" | "toCIDR" | "fromCIDR" | "nets" | "notNets" | "except" | "addresses" | "ipBlocks" | "notIpBlocks",
        ) => {
            if let Ok(block) = text.parse::<ipnet::IpNet>() {
                found.blocks.insert(block.trunc());
            } else if let Ok(ip) = text.parse::<IpAddr>() {
                found.blocks.insert(ipnet::IpNet::from(ip));
            }
        }
        Some("matchName" | "hosts" | "host" | "values") if looks_like_host(text) => {
            found.names.insert(text.trim_start_matches("*.").to_string());
            if let Some(suffix) = text.strip_prefix("*.") {
                found.names.insert(format!("probe.{suffix}"));
            }
        }
        Some("matchPattern") => {
            found.names.insert(text.replace("**.", "probe.").replace('*', "probe"));
        }
        Some("principals" | "notPrincipals") => {
            // `<trust domain>/ns/<namespace>/sa/<account>`
            let parts: Vec<&str> = text.split('/').collect();
            if let [_, "ns", ns, "sa", account] = parts.as_slice() {
                if !ns.contains('*') && !account.contains('*') {
                    found.accounts.insert(((*ns).to_string(), (*account).to_string()));
                }
            }
        }
        Some("namespaces" | "notNamespaces") if !text.contains('*') => {
            found.namespaces.insert(text.to_string());
        }
        _ => {}
    }
}

/// A DNS name outside the cluster (not a mesh-internal or in-cluster name)
fn looks_like_host(text: &str) -> bool {
    text.contains('.')
        && !text.ends_with(".svc.cluster.local")
        && !text.ends_with(".palisade.invalid")
        && text.parse::<IpAddr>().is_err()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*'))
}

fn number(value: &Value) -> Option<u16> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}
