//! What the flows show of the cluster's infrastructure: the DNS workload,
//! the API server and node-local DNS, which become baseline, not allow lines.

use crate::{
    observe::Evidence,
    resolve::{Place, Placed},
    suggest::workload_selector_by,
};
use palisade_intents::syntax::Protocol;
use std::collections::{BTreeMap, BTreeSet};

/// What the flows show of the cluster's infrastructure
pub(super) struct Infra {
    /// the DNS workload: namespace and selector
    pub(super) dns: Option<(String, BTreeMap<String, String>)>,
    /// API server addresses and ports
    pub(super) api: BTreeSet<(std::net::IpAddr, u16)>,
    /// node-local DNS address
    pub(super) node_local_dns: Option<std::net::IpAddr>,
}

impl Infra {
    pub(super) fn observe(evidence: &Evidence, placed: &Placed) -> Self {
        let mut dns_counts: BTreeMap<(String, BTreeMap<String, String>), u64> = BTreeMap::new();
        let mut api = BTreeSet::new();
        let mut node_local_dns = None;
        for (key, seen) in evidence.sorted().into_iter().filter(|(k, _)| k.port != 0) {
            match placed.place(&key.destination) {
                Place::Pod(j) if key.port == 53 => {
                    if let Some(p) = placed.model.pods.get(j) {
                        // The DNS service is the workload most pods send port 53
                        // to, among those with labels that can select it.
                        let selector = workload_selector_by(&p.labels, &["k8s-app", "app"]);
                        if !selector.is_empty() {
                            *dns_counts.entry((p.namespace.clone(), selector)).or_default() += seen.count;
                        }
                    }
                }
                Place::External(j) => {
                    if let Some(e) = placed.model.externals.get(j) {
                        if e.kube_apiserver {
                            api.insert((e.ip, key.port));
                        } else if key.port == 53 && e.ip.to_string().starts_with("169.254.") {
                            node_local_dns = Some(e.ip);
                        }
                    }
                }
                _ => {}
            }
        }
        let dns = dns_counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .map(|(w, _)| w);
        Self {
            dns,
            api,
            node_local_dns,
        }
    }

    pub(super) fn is_dns(&self, placed: &Placed, to: Place, protocol: Protocol, port: u16) -> bool {
        if port != 53 || !matches!(protocol, Protocol::Udp | Protocol::Tcp) {
            return false;
        }
        match to {
            Place::Pod(j) => placed.model.pods.get(j).is_some_and(|p| {
                self.dns
                    .as_ref()
                    .is_some_and(|(ns, sel)| &p.namespace == ns && p.matches(sel))
            }),
            Place::External(j) => placed
                .model
                .externals
                .get(j)
                .is_some_and(|e| Some(e.ip) == self.node_local_dns),
            _ => false,
        }
    }
}
