//! What a change to the intents does: the connections it opens and closes
//! (from the reachability of both compiled versions on one model, so renames
//! and reorderings open nothing), warnings for sharp widenings, and the diff
//! of the rendered manifests per target.

use crate::Workspace;
use palisade_compiler::{
    ir::{Ir, Peer},
    model::synthesize_union,
};
use palisade_intents::{syntax::Entity, types::Posture};
use palisade_relation::{change, reference, report, report::Product, Universe};
use palisade_targets::Manifest;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Connections between two ends, on the ports (and requests) listed
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flow {
    /// the source, in intent terms (`shop/frontend`, `world`, `ns/* (other pods)`)
    pub from: String,
    /// the destination, in intent terms
    pub to: String,
    /// `tcp/8080`, `udp/53`, or `tcp/8080 GET /path` for requests
    pub ports: Vec<String>,
}

/// The manifest diff of one target
#[derive(Debug, Clone, Serialize)]
pub struct TargetDiff {
    /// the target
    pub target: String,
    /// unified diff (empty when unchanged)
    pub diff: String,
}

/// The whole report
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// what base was
    pub base: String,
    /// what head was
    pub head: String,
    /// connections the change opens
    pub opened: Vec<Flow>,
    /// connections the change closes
    pub closed: Vec<Flow>,
    /// sharp widenings worth a reviewer's look
    pub warnings: Vec<String>,
    /// per target
    pub diffs: Vec<TargetDiff>,
    /// whether connectivity changed
    pub connectivity_changed: bool,
    /// how many opened groups (templates cannot count)
    pub opened_count: usize,
    /// how many closed groups
    pub closed_count: usize,
}

/// Compare two compiled versions
pub fn plan(
    base_name: &str,
    base: &Workspace,
    base_rendered: &[(&str, Vec<Manifest>)],
    head_name: &str,
    head: &Workspace,
    head_rendered: &[(&str, Vec<Manifest>)],
) -> Plan {
    let (opened, closed, widened) = reachability(&base.ir, &head.ir);
    let mut diffs = Vec::new();
    let targets: BTreeSet<&str> = base_rendered.iter().chain(head_rendered).map(|(t, _)| *t).collect();
    for target in targets {
        let (before, after) = (of_target(base_rendered, target), of_target(head_rendered, target));
        let diff = file_diffs(
            (&format!("{base_name}/{target}"), &before),
            (&format!("{head_name}/{target}"), &after),
        );
        diffs.push(TargetDiff {
            target: target.to_string(),
            diff,
        });
    }
    Plan {
        base: base_name.to_string(),
        head: head_name.to_string(),
        connectivity_changed: !opened.is_empty() || !closed.is_empty(),
        opened_count: opened.len(),
        closed_count: closed.len(),
        opened,
        closed,
        warnings: widened.into_iter().chain(warnings(&base.ir, &head.ir)).collect(),
        diffs,
    }
}

/// The manifests rendered for `target`
fn of_target<'a>(rendered: &'a [(&str, Vec<Manifest>)], target: &str) -> Vec<&'a Manifest> {
    rendered
        .iter()
        .filter(|(t, _)| *t == target)
        .flat_map(|(_, ms)| ms.iter())
        .collect()
}

/// A target's manifests by namespace and file
fn by_file<'a>(manifests: &[&'a Manifest]) -> BTreeMap<(String, String), &'a Manifest> {
    manifests
        .iter()
        .map(|m| ((m.namespace().to_string(), m.file_name()), *m))
        .collect()
}

/// A unified diff per file that differs between the two sets, as git
/// prints one (`--- base/cilium/shop/ciliumnetworkpolicy-web.yaml`); a
/// file the change leaves as it is is not written out at all: on 10,000
/// services, writing and diffing every manifest twice cost more than the
/// plan itself
fn file_diffs(base: (&str, &[&Manifest]), head: (&str, &[&Manifest])) -> String {
    let (before, after) = (by_file(base.1), by_file(head.1));
    let files: BTreeSet<&(String, String)> = before.keys().chain(after.keys()).collect();
    let mut out = String::new();
    for file in files {
        let (old, new) = (before.get(file), after.get(file));
        if let (Some(a), Some(b)) = (old, new) {
            if a.object == b.object {
                continue;
            }
        }
        let text = |m: Option<&&Manifest>| m.map(|m| m.to_yaml()).unwrap_or_default();
        let path = format!("{}/{}", file.0, file.1);
        out.push_str(
            &similar::TextDiff::from_lines(&text(old), &text(new))
                .unified_diff()
                .context_radius(3)
                .header(&format!("{}/{path}", base.0), &format!("{}/{path}", head.0))
                .to_string(),
        );
    }
    out
}

/// Opened and closed connections as products in intent terms, on one model
/// of both versions, and the widenings of connections that were already
/// open in part. A base without intents (a repository's first pull request)
/// is taken as the same namespaces with nothing allowed: everything the head
/// allows is new, and nothing is said to close.
fn reachability(base: &Ir, head: &Ir) -> (Vec<Flow>, Vec<Flow>, Vec<String>) {
    let model = synthesize_union(&[base, head]);
    let universe = Universe::new(&model, true);
    let head_sides = reference::sides(head, &universe);
    let base_sides = if base.namespaces.is_empty() {
        let mut nothing_allowed = head.clone();
        nothing_allowed.edges.clear();
        reference::sides(&nothing_allowed, &universe)
    } else {
        reference::sides(base, &universe)
    };
    let opened = change::opened(&base_sides, &head_sides, &universe);
    let closed = change::opened(&head_sides, &base_sides, &universe);
    let mut widened = Vec::new();
    for product in &opened {
        let (Some(from), Some(to)) = (product.from.min(), product.to.min()) else {
            continue;
        };
        // where a namespace lost its default deny, that one warning says it all
        let weakened = |class| {
            universe
                .pod(class)
                .is_some_and(|pod| lost_default_deny(base, head, &pod.namespace))
        };
        if weakened(from) || weakened(to) {
            continue;
        }
        let was = change::between(&base_sides, &universe, from, to);
        if was.is_empty() {
            continue;
        }
        let now = change::between(&head_sides, &universe, from, to);
        widened.push(format!(
            "{} -> {}: now {}, was {}",
            report::classes(&universe, &product.from),
            report::classes(&universe, &product.to),
            report::services(&universe, &now),
            report::services(&universe, &was)
        ));
    }
    let flows = |products: Vec<Product>| {
        products
            .iter()
            .map(|p| Flow {
                from: report::classes(&universe, &p.from),
                to: report::classes(&universe, &p.to),
                ports: vec![report::services(&universe, &p.services)],
            })
            .collect()
    };
    (flows(opened), flows(closed), widened)
}

/// Whether `namespace` isolated a direction in `base` that it does not in `head`
fn lost_default_deny(base: &Ir, head: &Ir, namespace: &str) -> bool {
    let Some(was) = base.namespaces.get(namespace) else {
        return false;
    };
    match head.namespaces.get(namespace) {
        None => was.isolates_ingress() || was.isolates_egress(),
        Some(now) => {
            was.isolates_ingress() && !now.isolates_ingress() || was.isolates_egress() && !now.isolates_egress()
        }
    }
}

/// New edges from outside or from a whole namespace, new FQDN wildcards, and
/// default denies weakened or removed
fn warnings(base: &Ir, head: &Ir) -> Vec<String> {
    let before: BTreeSet<String> = base.edges.iter().map(|e| e.describe()).collect();
    let mut out = Vec::new();
    for edge in head.edges.iter().filter(|e| !before.contains(&e.describe())) {
        let at = edge.source.loc.to_string();
        match (&edge.from, &edge.to) {
            (Peer::Entity(Entity::World), _) => {
                out.push(format!("new edge from outside the cluster: {} ({at})", edge.describe()))
            }
            (Peer::Namespace(ns), _) if !edge.from_baseline => out.push(format!(
                "new edge from every pod of namespace `{ns}`: {} ({at})",
                edge.describe()
            )),
            _ => {}
        }
        if let Peer::Fqdn { name, .. } = &edge.to {
            if name.is_wildcard() {
                out.push(format!("new FQDN wildcard `{name}`: {} ({at})", edge.describe()));
            }
        }
    }
    for ns in base.namespaces.values().filter(|ns| ns.posture != Posture::None) {
        let weaker = match head.namespaces.get(&ns.name) {
            None => Some("its Intents were removed".to_string()),
            Some(h)
                if ns.isolates_ingress() && !h.isolates_ingress() || ns.isolates_egress() && !h.isolates_egress() =>
            {
                Some(format!(
                    "posture is now `{}`",
                    match h.posture {
                        Posture::DefaultDeny => "default-deny",
                        Posture::DefaultDenyIngress => "default-deny-ingress",
                        Posture::None => "none",
                    }
                ))
            }
            Some(_) => None,
        };
        if let Some(why) = weaker {
            out.push(format!("default deny removed from namespace `{}`: {why}", ns.name));
        }
    }
    out
}
