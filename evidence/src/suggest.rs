//! Naming observed parties in intent terms and writing the allow line that
//! would admit a conversation: the terse form where every peer has a terse
//! spelling, the structured form (one YAML flow mapping) otherwise.

use crate::{
    observe::FlowKey,
    resolve::{Place, Placed},
};
use palisade_compiler::{
    ir::{Ir, ServiceIr},
    model::Pod,
};
use palisade_intents::syntax::Fqdn;
pub use palisade_targets::import::yaml as quote;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The label keys that name a workload, in order of preference
pub const WORKLOAD_LABELS: [&str; 3] = ["app", "app.kubernetes.io/name", "k8s-app"];

/// Names parties and writes allow lines for one intents repository
pub struct Suggester<'a> {
    ir: &'a Ir,
    files: &'a BTreeMap<String, String>,
    placed: &'a Placed,
}

impl<'a> Suggester<'a> {
    /// `files` maps a namespace to the Intents file that holds it
    pub fn new(ir: &'a Ir, files: &'a BTreeMap<String, String>, placed: &'a Placed) -> Self {
        Self { ir, files, placed }
    }

    fn service_of(&self, pod: &Pod) -> Option<&'a ServiceIr> {
        self.ir
            .namespaces
            .get(&pod.namespace)?
            .services
            .values()
            .filter(|s| pod.matches(&s.selector))
            .max_by_key(|s| s.selector.len())
    }

    /// `shop/frontend`, `api.stripe.com (1.2.3.4)`, `203.0.113.9`
    pub fn name(&self, place: Place) -> String {
        match place {
            Place::Pod(i) => match self.placed.model.pods.get(i) {
                Some(pod) => match self.service_of(pod) {
                    Some(s) => format!("{}/{}", pod.namespace, s.name),
                    None => format!("{}/{}", pod.namespace, workload_name(pod)),
                },
                None => "?".into(),
            },
            Place::External(i) => match self.placed.model.externals.get(i) {
                Some(e) if e.kube_apiserver => format!("kube-api ({})", e.ip),
                Some(e) => match &e.fqdn {
                    Some(name) => format!("{name} ({})", e.ip),
                    None => e.ip.to_string(),
                },
                None => "?".into(),
            },
            Place::Node => "node".into(),
            Place::Unknown(why) => format!("unknown ({why})"),
        }
    }

    /// Where the line goes and the line itself
    pub fn allow_line(&self, from: Place, to: Place, keys: &[&FlowKey]) -> AllowLine {
        let namespace_of = |p: Place| match p {
            Place::Pod(i) => self.placed.model.pods.get(i).map(|p| p.namespace.clone()),
            _ => None,
        };
        let home = [namespace_of(from), namespace_of(to)]
            .into_iter()
            .flatten()
            .find(|ns| self.ir.namespaces.contains_key(ns))
            .or_else(|| namespace_of(from))
            .or_else(|| namespace_of(to))
            .unwrap_or_else(|| "default".into());
        let ports: BTreeSet<String> = keys
            .iter()
            .map(|k| format!("{}/{}", k.protocol.as_str(), k.port))
            .collect();
        let ports: Vec<String> = ports.into_iter().collect();
        let to_dns = keys.iter().all(|k| self.is_dns(to, k));
        let peer_to = if to_dns {
            Peer::Terse("dns".into())
        } else {
            self.peer(to, &home)
        };
        let peer_from = self.peer(from, &home);
        let requests: BTreeSet<(String, String)> = keys
            .iter()
            .filter_map(|k| k.request.as_ref().map(|r| (r.method.clone(), r.path.clone())))
            .collect();
        let line = match (&peer_from, &peer_to, requests.is_empty()) {
            (Peer::Terse(f), Peer::Terse(t), true) if to_dns => format!("{f} -> {t}"),
            (Peer::Terse(f), Peer::Terse(t), true) => format!("{f} -> {t} {}", ports.join(",")),
            _ => {
                let mut parts = vec![
                    format!("from: {}", peer_from.flow()),
                    format!("to: {}", peer_to.flow()),
                    format!("ports: [{}]", ports.join(", ")),
                ];
                if !requests.is_empty() {
                    let http: Vec<String> = requests
                        .iter()
                        .map(|(m, p)| format!("{{ method: {m}, path: {} }}", quote(p)))
                        .collect();
                    parts.push(format!("http: [{}]", http.join(", ")));
                }
                format!("{{ {} }}", parts.join(", "))
            }
        };
        AllowLine {
            file: self.files.get(&home).cloned(),
            namespace: home,
            rule: line,
        }
    }

    fn is_dns(&self, to: Place, key: &FlowKey) -> bool {
        let dns = &self.ir.profile.dns;
        let port_ok = dns.ports.iter().any(|p| p.admits(key.protocol, key.port));
        match to {
            Place::Pod(i) => self
                .placed
                .model
                .pods
                .get(i)
                .is_some_and(|p| port_ok && p.namespace == dns.namespace && p.matches(&dns.selector)),
            Place::External(i) => self
                .placed
                .model
                .externals
                .get(i)
                .is_some_and(|e| port_ok && self.ir.profile.node_local_dns.is_some_and(|n| n.contains(&e.ip))),
            _ => false,
        }
    }

    fn peer(&self, place: Place, home: &str) -> Peer {
        match place {
            Place::Pod(i) => match self.placed.model.pods.get(i) {
                Some(pod) => match self.service_of(pod) {
                    Some(s) if pod.namespace == home => Peer::Terse(s.name.clone()),
                    Some(s) => Peer::Terse(format!("{}/{}", pod.namespace, s.name)),
                    None => Peer::Structured(format!(
                        "{{ namespace: {}, selector: {{ {} }} }}",
                        quote(&pod.namespace),
                        workload_selector(pod)
                            .iter()
                            .map(|(k, v)| format!("{}: {}", quote(k), quote(v)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                },
                None => Peer::Terse("world".into()),
            },
            Place::External(i) => match self.placed.model.externals.get(i) {
                Some(e) if e.kube_apiserver => Peer::Terse("kube-api".into()),
                Some(e) => match e.fqdn.as_deref().filter(|n| Fqdn::parse(n).is_ok()) {
                    Some(name) => Peer::Terse(name.to_string()),
                    None => Peer::Terse(host_cidr(e.ip)),
                },
                None => Peer::Terse("world".into()),
            },
            Place::Node | Place::Unknown(_) => Peer::Terse("world".into()),
        }
    }
}

/// The allow line that admits a conversation, and where it goes
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllowLine {
    /// the Intents file of the namespace (none: the namespace has none yet)
    pub file: Option<String>,
    /// the namespace whose `allow:` list takes it
    pub namespace: String,
    /// the line, without the list dash, ready to paste
    pub rule: String,
}

impl AllowLine {
    /// `intents/shop.yaml (namespace shop)`, `a new Intents for namespace shop`
    pub fn place(&self) -> String {
        match &self.file {
            Some(file) => format!("{file} (namespace {})", self.namespace),
            None => format!("a new Intents for namespace {}", self.namespace),
        }
    }
}

enum Peer {
    Terse(String),
    Structured(String),
}

impl Peer {
    fn flow(&self) -> String {
        match self {
            Peer::Terse(t) => quote(t),
            Peer::Structured(s) => s.clone(),
        }
    }
}

/// `203.0.113.9/32`
pub fn host_cidr(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(_) => format!("{ip}/32"),
        std::net::IpAddr::V6(_) => format!("{ip}/128"),
    }
}

/// The labels that identify the pod's workload: the first workload label it
/// has, else all its labels but the per-replica ones
pub fn workload_selector(pod: &Pod) -> BTreeMap<String, String> {
    workload_selector_by(&pod.labels, &WORKLOAD_LABELS)
}

/// `workload_selector` with other label keys
pub fn workload_selector_by(labels: &BTreeMap<String, String>, keys: &[&str]) -> BTreeMap<String, String> {
    for key in keys {
        if let Some(v) = labels.get(*key) {
            return BTreeMap::from([((*key).to_string(), v.clone())]);
        }
    }
    labels
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "pod-template-hash" | "controller-revision-hash" | "statefulset.kubernetes.io/pod-name"
            ) && !k.starts_with("pod-template-generation")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn workload_name(pod: &Pod) -> String {
    workload_selector(pod)
        .values()
        .next()
        .cloned()
        .unwrap_or_else(|| pod.name.clone())
}
