//! The Calico policy traps: single public addresses in `nets`, metadata open
//! to a namespace, `namespaceSelector: all()`, policies that select no pod of
//! the cluster dump.

use super::selector::Selector;
use crate::{
    lint::{check_egress_block, EgressBlock, Finding, ALL_NAMESPACES, SELECTS_NOTHING},
    Manifest,
};
use ipnet::IpNet;
use palisade_compiler::model::ClusterModel;

/// A pod's labels as Calico's selectors see them (its workload endpoint's)
fn endpoint_labels(pod: &palisade_compiler::model::Pod) -> std::collections::BTreeMap<String, String> {
    let mut labels = pod.labels.clone();
    labels.insert("projectcalico.org/namespace".into(), pod.namespace.clone());
    labels.insert("projectcalico.org/orchestrator".into(), "k8s".into());
    if let Some(sa) = &pod.service_account {
        labels.insert("projectcalico.org/serviceaccount".into(), sa.clone());
    }
    labels
}

pub(super) fn lint(manifests: &[Manifest], cluster: Option<&ClusterModel>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (index, m) in manifests.iter().enumerate() {
        if m.api_version() != "projectcalico.org/v3" || m.kind() != "NetworkPolicy" {
            continue;
        }
        let spec = &m.object["spec"];
        let selector_text = spec["selector"].as_str().unwrap_or("all()");
        let selector = Selector::parse(selector_text).ok();
        // `projectcalico.org/orchestrator == 'k8s'` alone is every pod of the namespace.
        let every_pod = Selector::Eq("projectcalico.org/orchestrator".into(), "k8s".into());
        let whole_namespace = selector == Some(Selector::All) || selector.as_ref() == Some(&every_pod);
        if let (Some(cluster), Some(selector)) = (cluster, selector.as_ref().filter(|_| !whole_namespace)) {
            if cluster.namespaces.contains_key(m.namespace())
                && !cluster
                    .pods
                    .iter()
                    .any(|p| p.namespace == m.namespace() && selector.matches(&endpoint_labels(p)))
            {
                out.push(Finding::new(
                    &SELECTS_NOTHING,
                    index,
                    "/spec/selector",
                    format!(
                        "no pod of {} in the cluster dump matches `{selector_text}`",
                        m.namespace()
                    ),
                    "check the labels against `kubectl get pods -n <namespace> --show-labels`",
                ));
            }
        }
        for side in ["ingress", "egress"] {
            for (r, rule) in spec[side].as_array().into_iter().flatten().enumerate() {
                for end in ["source", "destination"] {
                    let entity = &rule[end];
                    if entity["namespaceSelector"].as_str().map(str::trim) == Some("all()") {
                        out.push(Finding::new(
                            &ALL_NAMESPACES,
                            index,
                            format!("/spec/{side}/{r}/{end}/namespaceSelector"),
                            "`namespaceSelector: all()` selects every namespace, including ones created later",
                            "name the namespaces: `projectcalico.org/name == '<ns>'`",
                        ));
                    }
                    let outward = side == "egress" && end == "destination";
                    let except: Vec<IpNet> = entity["notNets"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|n| n.as_str()?.parse().ok())
                        .collect();
                    for (n, net) in entity["nets"].as_array().into_iter().flatten().enumerate() {
                        let Some(net) = net.as_str().and_then(|t| t.parse::<IpNet>().ok()) else {
                            continue;
                        };
                        if !outward || rule["action"] != "Allow" {
                            continue;
                        }
                        let block = EgressBlock {
                            manifest: m,
                            index,
                            pointer: format!("/spec/{side}/{r}/{end}/nets/{n}"),
                            net,
                            except: except.clone(),
                            whole_namespace,
                            name_instead: "allow the DNS name (Calico Enterprise `domains`, or a palisade FQDN intent through an egress gateway)",
                        };
                        check_egress_block(block, &mut out);
                    }
                }
            }
        }
    }
    out
}
