//! The NetworkPolicy traps: peers split in two (OR), the API server by pod
//! selector, single public addresses, metadata open to a namespace, every
//! namespace, and policies that select no pod of the cluster dump.

use super::{namespace_of, selector::selects, spec_of};
use crate::{
    lint::{
        check_egress_block, EgressBlock, Finding, ALL_NAMESPACES, APISERVER_BY_SELECTOR, SELECTS_NOTHING, SPLIT_PEER,
    },
    Manifest,
};
use k8s_openapi::api::networking::v1::NetworkPolicyPeer;
use palisade_compiler::model::ClusterModel;

pub(super) fn lint(manifests: &[Manifest], cluster: Option<&ClusterModel>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (index, m) in manifests.iter().enumerate() {
        if m.api_version() != "networking.k8s.io/v1" || m.kind() != "NetworkPolicy" {
            continue;
        }
        let Some(spec) = spec_of(&m.object) else {
            continue;
        };
        let namespace = namespace_of(m);
        let whole_namespace = spec.pod_selector.as_ref().is_none_or(|s| {
            s.match_labels.as_ref().is_none_or(|l| l.is_empty())
                && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
        });
        if let (Some(cluster), Some(selector)) = (cluster, spec.pod_selector.as_ref()) {
            let namespace_known = cluster.namespaces.contains_key(namespace);
            let any = cluster
                .pods
                .iter()
                .any(|p| p.namespace == namespace && selects(selector, &p.labels));
            if namespace_known && !whole_namespace && !any {
                out.push(Finding::new(
                    &SELECTS_NOTHING,
                    index,
                    "/spec/podSelector",
                    format!("no pod of {namespace} in the cluster dump matches this podSelector"),
                    "check the labels against `kubectl get pods -n <namespace> --show-labels`",
                ));
            }
        }
        // Rules of a direction the policy does not isolate are checked too: the
        // trap is there as soon as someone adds the policy type.
        let sides = [
            (
                "ingress",
                "from",
                spec.ingress
                    .iter()
                    .flatten()
                    .map(|r| r.from.clone())
                    .collect::<Vec<_>>(),
            ),
            (
                "egress",
                "to",
                spec.egress.iter().flatten().map(|r| r.to.clone()).collect(),
            ),
        ];
        for (side, key, rules) in sides {
            for (r, peers) in rules.into_iter().enumerate() {
                let peers = peers.unwrap_or_default();
                let at = |p: usize| format!("/spec/{side}/{r}/{key}/{p}");
                split_peers(&peers, index, &at, &mut out);
                for (p, peer) in peers.iter().enumerate() {
                    apiserver(peer, index, &at(p), &mut out);
                    if peer.namespace_selector.as_ref().is_some_and(|s| {
                        s.match_labels.as_ref().is_none_or(|l| l.is_empty())
                            && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
                    }) {
                        out.push(Finding::new(
                            &ALL_NAMESPACES,
                            index,
                            format!("{}/namespaceSelector", at(p)),
                            "`namespaceSelector: {}` selects every namespace, including ones created later",
                            "name the namespaces: `matchLabels: { kubernetes.io/metadata.name: <ns> }` (one peer each)",
                        ));
                    }
                    if let Some(block) = &peer.ip_block {
                        let Ok(net) = block.cidr.parse::<ipnet::IpNet>() else {
                            continue;
                        };
                        let except: Vec<ipnet::IpNet> =
                            block.except.iter().flatten().filter_map(|e| e.parse().ok()).collect();
                        if side == "egress" {
                            let block = EgressBlock {
                                manifest: m,
                                index,
                                pointer: format!("{}/ipBlock/cidr", at(p)),
                                net,
                                except,
                                whole_namespace,
                                name_instead: "allow the DNS name: a palisade FQDN intent (`-> api.example.com`) compiles to Cilium toFQDNs or an Istio egress gateway",
                            };
                            check_egress_block(block, &mut out);
                        }
                    }
                }
            }
        }
    }
    out
}

/// `- namespaceSelector: ...` and `- podSelector: ...` as two items of one rule
fn split_peers(peers: &[NetworkPolicyPeer], index: usize, at: &dyn Fn(usize) -> String, out: &mut Vec<Finding>) {
    let only_namespace = peers
        .iter()
        .position(|p| p.namespace_selector.is_some() && p.pod_selector.is_none() && p.ip_block.is_none());
    let only_pods = peers
        .iter()
        .position(|p| p.pod_selector.is_some() && p.namespace_selector.is_none() && p.ip_block.is_none());
    if let (Some(ns), Some(pods)) = (only_namespace, only_pods) {
        out.push(Finding::new(
            &SPLIT_PEER,
            index,
            at(pods),
            format!(
                "peers {ns} (namespaceSelector) and {pods} (podSelector) are separate list items: they mean OR, so every pod of the selected namespaces is let in"
            ),
            "to require both, put podSelector in the same item as namespaceSelector (remove the `-` before podSelector)",
        ));
    }
}

fn apiserver(peer: &NetworkPolicyPeer, index: usize, at: &str, out: &mut Vec<Finding>) {
    let labels = peer.pod_selector.as_ref().and_then(|s| s.match_labels.as_ref());
    let looks_like = labels.is_some_and(|l| {
        l.iter().any(|(k, v)| {
            (k == "component" && v.contains("apiserver"))
                || (k == "provider" && v == "kubernetes")
                || v == "kube-apiserver"
        })
    });
    if looks_like {
        out.push(Finding::new(
            &APISERVER_BY_SELECTOR,
            index,
            format!("{at}/podSelector"),
            "the API server runs on the host network (or outside the cluster): no pod carries these labels",
            "allow its endpoint addresses (`kubectl get endpoints kubernetes`) as an ipBlock; with palisade, `baseline: [kube-api]` and `apiServer` in the cluster profile",
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::Manifest;

    fn ids(yaml: &str) -> Vec<&'static str> {
        let manifests: Vec<Manifest> = serde_yaml_ng::Deserializer::from_str(yaml)
            .filter_map(|d| <serde_json::Value as serde::Deserialize>::deserialize(d).ok())
            .map(Manifest::new)
            .collect();
        crate::lint::lint(&manifests, None)
            .into_iter()
            .map(|f| f.check)
            .collect()
    }

    #[test]
    fn egress_without_dns_follows_the_api_servers_defaulting_of_policy_types() {
        let head = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: p, namespace: shop }\nspec:\n  podSelector: {}\n";
        // defaults.go: no policyTypes and `egress: []` is [Ingress]; egress stays open.
        assert!(!ids(&format!("{head}  egress: []\n")).contains(&"PAL002"));
        assert!(ids(&format!("{head}  policyTypes: [Egress]\n")).contains(&"PAL002"));
        assert!(ids(&format!(
            "{head}  policyTypes: []\n  egress: [{{ ports: [{{ port: 443 }}] }}]\n"
        ))
        .contains(&"PAL002"));
    }
}
