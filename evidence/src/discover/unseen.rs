//! The workloads discovery knows of but no flow of the window shows: the
//! proposal cannot vouch for them, and says so.

use super::watch::Watched;
use super::{service_name, Unseen};
use crate::{resolve::Placed, suggest::workload_selector_by};
use palisade_compiler::{
    ir::Ir,
    model::{ClusterModel, Pod},
};
use palisade_intents::types::Labels;
use std::collections::{BTreeMap, BTreeSet};

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
    // Per namespace, so that a dump of 20,000 pods is not matched against
    // every pod the flows show.
    let mut seen_pods: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
    let mut seen_workloads: BTreeMap<&str, Vec<Labels>> = BTreeMap::new();
    for pod in &placed.model.pods {
        seen_pods.entry(&pod.namespace).or_default().push(pod);
        let workload = workload_selector_by(&pod.labels, keys);
        if !workload.is_empty() {
            seen_workloads.entry(&pod.namespace).or_default().push(workload);
        }
    }
    let mut out: BTreeMap<(String, Labels), (String, &'static str)> = BTreeMap::new();
    let services = ir
        .into_iter()
        .flat_map(|ir| ir.namespaces.values())
        .filter(|ns| wanted(&ns.name))
        .flat_map(|ns| ns.services.values());
    for svc in services {
        let pods = seen_pods.get(svc.namespace.as_str()).map_or(&[][..], Vec::as_slice);
        if svc.selector.is_empty() || pods.iter().any(|p| p.matches(&svc.selector)) {
            continue;
        }
        out.insert(
            (svc.namespace.clone(), svc.selector.clone()),
            (svc.name.clone(), INTENTS),
        );
    }
    let pods = cluster.into_iter().flat_map(|c| &c.pods);
    for pod in pods.filter(|p| wanted(&p.namespace)) {
        let workloads = seen_workloads
            .get(pod.namespace.as_str())
            .map_or(&[][..], Vec::as_slice);
        if workloads.iter().any(|w| pod.matches(w)) || ir.is_some_and(|ir| service_of(ir, pod)) {
            continue;
        }
        let selector = workload_selector_by(&pod.labels, keys);
        let name = service_name(pod, &selector);
        out.entry((pod.namespace.clone(), selector)).or_insert((name, DUMP));
    }
    let mut unseen: Vec<Unseen> = out
        .into_iter()
        .map(|((namespace, selector), (service, known_from))| Unseen {
            namespace,
            service,
            selector,
            known_from,
        })
        .collect();
    unseen.sort();
    unseen
}

/// What knew an unseen service, as [`Unseen::known_from`] says it
const INTENTS: &str = "intents";
const DUMP: &str = "cluster dump";

/// Whether the intents name a service of the pod: it is listed under that
/// name when unseen, and seen with its service otherwise
fn service_of(ir: &Ir, pod: &Pod) -> bool {
    ir.namespaces.get(&pod.namespace).is_some_and(|ns| {
        ns.services
            .values()
            .any(|s| !s.selector.is_empty() && pod.matches(&s.selector))
    })
}

/// How many unseen services the note names: a cluster of thousands would
/// bury the other notes
const NOTE_NAMES: usize = 20;

/// The summary's note of the unseen services
pub(super) fn unseen_note(unseen: &[Unseen], watched: Option<&Watched>) -> Option<String> {
    if unseen.is_empty() {
        return None;
    }
    let mut names: Vec<String> = unseen
        .iter()
        .take(NOTE_NAMES)
        .map(|u| format!("{}/{}", u.namespace, u.service))
        .collect();
    if unseen.len() > NOTE_NAMES {
        names.push(format!(
            "and {} more (each Intents file lists its own; `-o json` has them all)",
            unseen.len() - NOTE_NAMES
        ));
    }
    let sources: BTreeSet<&str> = unseen.iter().map(|u| u.known_from).collect();
    let sources: Vec<String> = sources.into_iter().map(|s| format!("the {s}")).collect();
    let (is, them) = if unseen.len() == 1 {
        ("is", "it")
    } else {
        ("are", "them")
    };
    Some(format!(
        "{} known to {} {is} in no flow{}, so the proposal cannot vouch for {them} (default deny leaves {them} only what it allows): {}",
        crate::plural(unseen.len(), "service"),
        sources.join(" and "),
        watched.map(Watched::between).unwrap_or_default(),
        names.join(", ")
    ))
}
