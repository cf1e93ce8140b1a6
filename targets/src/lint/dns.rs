//! PAL002: pods isolated for egress that cannot reach the cluster DNS,
//! decided by every dialect's evaluator together (they all enforce).
//!
//! A pod resolves names through kubelet's `clusterDNS`: the address of the
//! DNS Service, whose pods are the cluster's DNS, whatever else a policy
//! lets through on udp/53 (a udp/53 rule to some other pod or to a public
//! resolver is no way to the names of the cluster). So the servers tried
//! are the known DNS deployments: `k8s-app: kube-dns` in kube-system (the
//! convention of kubeadm, GKE, EKS, AKS), OpenShift's
//! `dns.operator.openshift.io/daemonset-dns` pods in openshift-dns, and
//! NodeLocal DNSCache on a link-local address of the node (one of each
//! 169.254.0.0/16 block the policies name on udp/53: its address is the
//! cluster's choice, 169.254.20.10 by default). With a cluster dump, its
//! pods of those deployments stand for them, when it holds any.

use super::{Finding, EGRESS_WITHOUT_DNS};
use crate::{
    import::{labels_text, Context, Peer},
    Dialect, Manifest,
};
use ipnet::IpNet;
use palisade_compiler::model::{ClusterModel, Connection, Endpoint, External, Pod};
use palisade_intents::{syntax::Protocol, types::Labels};
use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr},
};

/// The DNS deployments known: namespace, the label key that marks their
/// pods, and its value on the pods a stand-in is made of
const DNS_DEPLOYMENTS: [(&str, &str, &str); 2] = [
    ("kube-system", "k8s-app", "kube-dns"),
    ("openshift-dns", "dns.operator.openshift.io/daemonset-dns", "default"),
];

/// Where NodeLocal DNSCache and the cloud resolvers on the node listen
const LINK_LOCAL: IpNet = IpNet::new_assert(IpAddr::V4(Ipv4Addr::new(169, 254, 0, 0)), 16);

/// Pods isolated for egress, with the policy that isolates them
struct Isolated {
    namespace: String,
    selector: Labels,
    /// index of the manifest in the list linted
    manifest: usize,
}

pub(super) fn egress_without_dns(manifests: &[Manifest], cluster: Option<&ClusterModel>) -> Vec<Finding> {
    let context = Context::new(manifests, cluster);
    let mut groups: Vec<Isolated> = Vec::new();
    let mut named: Vec<(String, Peer)> = Vec::new();
    for d in crate::DIALECTS {
        let Some(imported) = d.import(manifests, &context) else {
            continue;
        };
        for i in imported
            .isolations
            .into_iter()
            .filter(|i| i.egress && i.namespace != "kube-system")
        {
            // INVARIANT: an isolation's origin is `Kind ns/name` of a manifest
            // this dialect reads; the dialect tells apart two kinds of one
            // name (Kubernetes' and Calico's NetworkPolicy).
            let Some(manifest) = manifests
                .iter()
                .position(|m| d.reads(m) && i.origin == format!("{} {}/{}", m.kind(), m.namespace(), m.name()))
            else {
                continue;
            };
            groups.push(Isolated {
                namespace: i.namespace,
                selector: i.selector,
                manifest,
            });
        }
        named.extend(
            imported
                .rules
                .into_iter()
                .filter(|r| r.ports.iter().any(|p| p == "udp/53"))
                .map(|r| (r.home, r.to)),
        );
    }
    if groups.is_empty() {
        return Vec::new();
    }
    let mut model = ClusterModel::default();
    if let Some(c) = cluster {
        model.namespaces = c.namespaces.clone();
    }
    add_servers(&mut model, &named, cluster);
    let servers = model.pods.len();
    for g in &groups {
        model.add_pod(&g.namespace, "probe", g.selector.clone(), None, Vec::new());
    }
    let evaluators: Vec<Box<dyn crate::Evaluator + '_>> = crate::DIALECTS
        .iter()
        .filter(|d| manifests.iter().any(|m| d.reads(m)))
        .map(|d: &&dyn Dialect| d.evaluator(manifests))
        .collect();
    let mut findings = Vec::new();
    for g in &groups {
        let Some(pod) = model
            .pods
            .iter()
            .find(|p| p.namespace == g.namespace && p.labels == g.selector)
        else {
            continue;
        };
        let to_servers = model.pods.iter().take(servers).map(Endpoint::Pod);
        let reaches = to_servers
            .chain(model.externals.iter().map(Endpoint::External))
            .any(|to| {
                let conn = Connection {
                    from: Endpoint::Pod(pod),
                    to,
                    protocol: Protocol::Udp,
                    port: 53,
                    request: None,
                };
                evaluators.iter().all(|e| e.allows(&model, &conn))
            });
        if !reaches {
            findings.push(finding(g, &named));
        }
    }
    findings
}

fn finding(g: &Isolated, named: &[(String, Peer)]) -> Finding {
    let others: BTreeSet<String> = named
        .iter()
        .filter(|(home, peer)| home == &g.namespace && !is_dns(peer))
        .map(|(_, peer)| peer_text(peer))
        .collect();
    let mut message = format!(
        "pods of {} matching {} are isolated for egress and no policy lets them reach the cluster DNS on udp/53 (kube-system/kube-dns, openshift-dns, or NodeLocal DNSCache)",
        g.namespace,
        labels_text(&g.selector)
    );
    if !others.is_empty() {
        message.push_str(&format!(
            "; udp/53 to {} is no way to it: pods resolve through kubelet's clusterDNS, the DNS Service",
            others.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Finding::new(
        &EGRESS_WITHOUT_DNS,
        g.manifest,
        "/spec",
        message,
        "allow egress to the DNS pods on udp/53 and tcp/53 (with palisade: `baseline: [dns]`)",
    )
}

/// Whether a udp/53 destination names a known DNS deployment
fn is_dns(peer: &Peer) -> bool {
    match peer {
        Peer::Pods { namespace, selector } => DNS_DEPLOYMENTS
            .iter()
            .any(|(ns, key, _)| namespace == ns && selector.contains_key(*key)),
        Peer::Cidr { net, .. } => LINK_LOCAL.contains(net),
        Peer::Fqdn(_) | Peer::Entity(_) => false,
    }
}

fn peer_text(peer: &Peer) -> String {
    match peer {
        Peer::Pods { namespace, selector } => format!("{namespace}/{}", labels_text(selector)),
        Peer::Cidr { net, .. } => net.to_string(),
        Peer::Fqdn(name) => name.clone(),
        Peer::Entity(entity) => (*entity).to_string(),
    }
}

/// The DNS servers to try, first in `model`: the dump's pods of the known
/// DNS deployments, or (no dump, or none there) one pod standing for each;
/// then one address of each link-local block named
fn add_servers(model: &mut ClusterModel, named: &[(String, Peer)], cluster: Option<&ClusterModel>) {
    let dumped: Vec<&Pod> = cluster
        .into_iter()
        .flat_map(|c| &c.pods)
        .filter(|p| {
            DNS_DEPLOYMENTS
                .iter()
                .any(|(ns, key, _)| &p.namespace == ns && p.labels.contains_key(*key))
        })
        .collect();
    if dumped.is_empty() {
        for (namespace, key, value) in DNS_DEPLOYMENTS {
            model.add_pod(
                namespace,
                "dns",
                Labels::from([(key.to_string(), value.to_string())]),
                None,
                Vec::new(),
            );
        }
    } else {
        for pod in dumped {
            model.insert_pod(pod.clone());
        }
    }
    let mut addresses = Vec::new();
    for (_, peer) in named {
        let Peer::Cidr { net, except } = peer else {
            continue;
        };
        if !LINK_LOCAL.contains(net) {
            continue;
        }
        // One address of the block that its exceptions leave (a /32 is its address)
        if let Some(ip) = net.hosts().take(256).find(|ip| !except.iter().any(|e| e.contains(ip))) {
            addresses.push(ip);
        }
    }
    // Every policy of a namespace names the same node-local address: one is enough
    addresses.sort();
    addresses.dedup();
    model.externals.extend(addresses.into_iter().map(|ip| External {
        ip,
        fqdn: None,
        kube_apiserver: false,
    }));
}
