//! Where an edge's allowances go, shared by the L3/L4 dialects: the egress
//! side in the source's namespace, the ingress side in the destination's, each
//! in the policy of a pod group (a service, the whole namespace, or an ad-hoc
//! selector), and only where the namespace's posture isolates that direction.

use crate::manifest::{MANAGED_BY, SOURCE_ANNOTATION};
use palisade_compiler::ir::{Edge, Ir, NamespaceIr, Peer};
use palisade_intents::{
    types::{Labels, Via},
    Diag,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The pods a policy selects, and how the policy is named after them
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Group {
    /// namespace of the pods
    pub namespace: String,
    /// name stem: the service, `palisade-namespace`, or `palisade-pods-<hash>`
    pub name: String,
    /// pod labels (empty = every pod of the namespace)
    pub selector: Labels,
}

/// The group whose egress lets this edge out, if its namespace isolates egress
pub fn egress_group(ir: &Ir, edge: &Edge) -> Option<Group> {
    group(ir, &edge.from).filter(|g| {
        ir.namespaces
            .get(&g.namespace)
            .is_some_and(NamespaceIr::isolates_egress)
    })
}

/// The group whose ingress lets this edge in, if its namespace isolates ingress.
/// An FQDN through the gateway has no ingress side here (the gateway is the mesh's).
pub fn ingress_group(ir: &Ir, edge: &Edge) -> Option<Group> {
    if matches!(
        edge.to,
        Peer::Fqdn {
            via: Via::EgressGateway,
            ..
        }
    ) {
        return None;
    }
    group(ir, &edge.to).filter(|g| {
        ir.namespaces
            .get(&g.namespace)
            .is_some_and(NamespaceIr::isolates_ingress)
    })
}

fn group(ir: &Ir, peer: &Peer) -> Option<Group> {
    match peer {
        Peer::Service { namespace, name } => Some(Group {
            namespace: namespace.clone(),
            name: name.clone(),
            selector: ir.service(namespace, name)?.selector.clone(),
        }),
        Peer::Namespace(ns) => Some(Group {
            namespace: ns.clone(),
            name: "palisade-namespace".into(),
            selector: Labels::new(),
        }),
        Peer::Pods { namespace, selector } => Some(Group {
            namespace: namespace.clone(),
            name: format!("palisade-pods-{}", short_hash(selector)),
            selector: selector.clone(),
        }),
        _ => None,
    }
}

/// A stable name for an ad-hoc selector: a digest of its labels, each key and
/// value length-prefixed so that no two selectors share an encoding
pub fn short_hash(labels: &Labels) -> String {
    let mut encoded = String::new();
    for (k, v) in labels {
        encoded.push_str(&format!("{}:{k}{}:{v}", k.len(), v.len()));
    }
    crate::names::hash(&encoded)
}

/// Refusals for two pod groups of one namespace that would get the same policy
/// name (a service named like a generated group, or a digest collision): the
/// dialects merge a group's rules by name, so one group would get the other's
/// allowances. Both intent lines are named.
pub fn name_collisions(ir: &Ir) -> Vec<Diag> {
    let mut seen: BTreeMap<(String, String), (Labels, &Edge)> = BTreeMap::new();
    let mut diags = Vec::new();
    for edge in &ir.edges {
        for group in [egress_group(ir, edge), ingress_group(ir, edge)].into_iter().flatten() {
            let key = (group.namespace.clone(), group.name.clone());
            match seen.get(&key) {
                Some((selector, first)) if *selector != group.selector => diags.push(
                    Diag::error(
                        "name_collision",
                        format!(
                            "the policies of two different pod groups of namespace `{}` would both be named `{}` (from {} and from {})",
                            group.namespace,
                            group.name,
                            first.source.file_line(),
                            edge.source.file_line(),
                        ),
                    )
                    .at(&edge.source.loc)
                    .help("names that start with `palisade-` are palisade's own: rename the service"),
                ),
                Some(_) => {}
                None => {
                    seen.insert(key, (group.selector, edge));
                }
            }
        }
    }
    diags
}

/// The ids of the intents an object comes from (`Source::id`), in
/// first-seen order, without repeats
#[derive(Debug, Default, Clone)]
pub struct Sources {
    ids: Vec<String>,
    // a policy of a widely reached service has thousands of sources
    seen: std::collections::HashSet<String>,
}

impl Sources {
    /// Record one
    pub fn add(&mut self, id: String) {
        if self.seen.insert(id.clone()) {
            self.ids.push(id);
        }
    }

    /// The annotation value
    pub fn joined(&self) -> String {
        self.ids.join(", ")
    }
}

/// The metadata every palisade object carries
pub fn metadata(ir: &Ir, namespace: &str, name: &str, sources: &Sources) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    if let Some(ns) = ir.namespaces.get(namespace) {
        labels.insert("palisade.dev/intents".into(), ns.intents_name.clone().into());
    }
    json!({
        "name": crate::names::object(name),
        "namespace": namespace,
        "labels": labels,
        "annotations": { SOURCE_ANNOTATION: sources.joined() },
    })
}
