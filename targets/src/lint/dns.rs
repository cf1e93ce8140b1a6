//! PAL002: pods isolated for egress that cannot reach the cluster DNS,
//! decided by every dialect's evaluator together (they all enforce).
//!
//! Which pods are the DNS is the cluster's to say: kubelet's `clusterDNS`
//! points pods at a Service whose pods are `k8s-app: kube-dns` in
//! kube-system by convention only (kubeadm, GKE, EKS, AKS); OpenShift runs
//! them in `openshift-dns` as `dns.operator.openshift.io/daemonset-dns:
//! default`, NodeLocal DNSCache answers on a link-local address of the node,
//! and a project may name others. So the servers tried are the conventional
//! one and every destination the policies themselves allow on udp/53; with a
//! cluster dump, only the dump's pods among them (a selector that matches no
//! pod of the cluster is no server).

use super::{Finding, EGRESS_WITHOUT_DNS};
use crate::{
    import::{Context, Peer},
    Dialect, Manifest,
};
use palisade_compiler::model::{ClusterModel, Connection, Endpoint, External, Pod};
use palisade_intents::{syntax::Protocol, types::Labels};
use std::net::IpAddr;

pub(super) fn egress_without_dns(manifests: &[Manifest], cluster: Option<&ClusterModel>) -> Vec<Finding> {
    let context = Context::new(manifests, cluster);
    let mut groups: Vec<(String, Labels, String)> = Vec::new();
    let mut named: Vec<Peer> = Vec::new();
    for d in crate::DIALECTS {
        if let Some(imported) = d.import(manifests, &context) {
            groups.extend(
                imported
                    .isolations
                    .into_iter()
                    .filter(|i| i.egress && i.namespace != "kube-system")
                    .map(|i| (i.namespace, i.selector, i.origin)),
            );
            named.extend(
                imported
                    .rules
                    .into_iter()
                    .filter(|r| r.ports.iter().any(|p| p == "udp/53"))
                    .map(|r| r.to),
            );
        }
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
    for (namespace, labels, _) in &groups {
        model.add_pod(namespace, "probe", labels.clone(), None, Vec::new());
    }
    let evaluators: Vec<Box<dyn crate::Evaluator + '_>> = crate::DIALECTS
        .iter()
        .filter(|d| manifests.iter().any(|m| d.reads(m)))
        .map(|d: &&dyn Dialect| d.evaluator(manifests))
        .collect();
    let mut findings = Vec::new();
    for (namespace, labels, origin) in &groups {
        let Some(pod) = model
            .pods
            .iter()
            .find(|p| &p.namespace == namespace && &p.labels == labels)
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
        if reaches {
            continue;
        }
        let Some(index) = manifests
            .iter()
            .position(|m| origin == &format!("{} {}/{}", m.kind(), m.namespace(), m.name()))
        else {
            continue;
        };
        findings.push(Finding::new(
            &EGRESS_WITHOUT_DNS,
            index,
            "/spec",
            format!(
                "pods of {namespace} matching {} are isolated for egress and no policy lets them reach a DNS server on udp/53 (kube-system/kube-dns, or a udp/53 destination the policies name)",
                crate::import::labels_text(labels)
            ),
            "allow egress to the DNS pods on udp/53 and tcp/53 (with palisade: `baseline: [dns]`)",
        ));
    }
    findings
}

/// The DNS servers to try, first in `model`: the conventional kube-dns
/// (the dump's, or one standing for it) and each udp/53 destination named
fn add_servers(model: &mut ClusterModel, named: &[Peer], cluster: Option<&ClusterModel>) {
    let conventional = Labels::from([("k8s-app".to_string(), "kube-dns".to_string())]);
    match cluster {
        Some(c) => {
            let wanted = |p: &&Pod| {
                (p.namespace == "kube-system" && p.matches(&conventional))
                    || named.iter().any(|peer| {
                        matches!(peer, Peer::Pods { namespace, selector } if &p.namespace == namespace && p.matches(selector))
                    })
            };
            for pod in c.pods.iter().filter(wanted) {
                model.insert_pod(pod.clone());
            }
        }
        None => {
            model.insert_pod(Pod {
                namespace: "kube-system".into(),
                name: "kube-dns".into(),
                labels: conventional,
                service_account: None,
                ip: IpAddr::from([10, 96, 0, 10]),
                ports: Vec::new(),
            });
            for peer in named {
                if let Peer::Pods { namespace, selector } = peer {
                    model.add_pod(namespace, "dns", selector.clone(), None, Vec::new());
                }
            }
        }
    }
    for peer in named {
        let Peer::Cidr { net, except } = peer else {
            continue;
        };
        // One address of the block that its exceptions leave (a /32 is its address)
        let Some(ip) = net.hosts().take(256).find(|ip| !except.iter().any(|e| e.contains(ip))) else {
            continue;
        };
        // Every policy of a namespace names the same node-local address: one is enough
        if model.externals.iter().any(|e| e.ip == ip) {
            continue;
        }
        model.externals.push(External {
            ip,
            fqdn: None,
            kube_apiserver: false,
        });
    }
}
