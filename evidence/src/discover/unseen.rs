//! The workloads discovery knows of but no flow of the window shows: the
//! proposal cannot vouch for them, and says so.

use super::watch::Watched;
use super::{service_name, Unseen};
use crate::{resolve::Placed, suggest::workload_selector_by};
use palisade_compiler::{
    ir::Ir,
    model::{ClusterModel, Pod},
};
use std::collections::BTreeMap;

/// The workloads of the dump's pods and the services of the intents, in
/// the namespaces proposed for, that no flow of the window shows: default
/// deny would leave them only what is allowed, and nothing allowed rests on
/// their traffic. A workload both know is named as the intents name it.
pub(super) fn unseen_services(
    cluster: Option<&ClusterModel>,
    ir: Option<&Ir>,
    placed: &Placed,
    wanted: &impl Fn(&str) -> bool,
    keys: &[&str],
) -> Vec<Unseen> {
    let seen = |namespace: &str, selector: &BTreeMap<String, String>| {
        placed
            .model
            .pods
            .iter()
            .any(|p| p.namespace == namespace && !selector.is_empty() && p.matches(selector))
    };
    let mut out: BTreeMap<(String, BTreeMap<String, String>), String> = BTreeMap::new();
    let services = ir
        .into_iter()
        .flat_map(|ir| ir.namespaces.values())
        .filter(|ns| wanted(&ns.name))
        .flat_map(|ns| ns.services.values());
    for svc in services.filter(|s| !seen(&s.namespace, &s.selector)) {
        out.insert((svc.namespace.clone(), svc.selector.clone()), svc.name.clone());
    }
    let pods = cluster.into_iter().flat_map(|c| &c.pods);
    for pod in pods.filter(|p| wanted(&p.namespace)) {
        let selector = workload_selector_by(&pod.labels, keys);
        let dumped_seen = placed.model.pods.iter().any(|p| {
            p.namespace == pod.namespace && {
                let by = workload_selector_by(&p.labels, keys);
                !by.is_empty() && pod.matches(&by)
            }
        });
        if dumped_seen || ir.is_some_and(|ir| service_of(ir, pod)) {
            continue;
        }
        let name = service_name(pod, &selector);
        out.entry((pod.namespace.clone(), selector)).or_insert(name);
    }
    let mut unseen: Vec<Unseen> = out
        .into_iter()
        .map(|((namespace, selector), service)| Unseen {
            namespace,
            service,
            selector,
        })
        .collect();
    unseen.sort();
    unseen
}

/// Whether the intents name a service of the pod: it is listed under that
/// name when unseen, and seen with its service otherwise
fn service_of(ir: &Ir, pod: &Pod) -> bool {
    ir.namespaces.get(&pod.namespace).is_some_and(|ns| {
        ns.services
            .values()
            .any(|s| !s.selector.is_empty() && pod.matches(&s.selector))
    })
}

pub(super) fn unseen_note(unseen: &[Unseen], watched: Option<&Watched>) -> Option<String> {
    if unseen.is_empty() {
        return None;
    }
    let names: Vec<String> = unseen
        .iter()
        .map(|u| format!("{}/{}", u.namespace, u.service))
        .collect();
    Some(format!(
        "{} the cluster dump knows no flow shows{}, so the proposal cannot vouch for them (default deny leaves them only what it allows): {}",
        crate::plural(unseen.len(), "service"),
        watched.map(Watched::between).unwrap_or_default(),
        names.join(", ")
    ))
}
