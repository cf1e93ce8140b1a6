//! What a change to the intents does: the connections it opens and closes
//! (from the reachability of both compiled versions on one model, so renames
//! and reorderings open nothing), warnings for sharp widenings, and the diff
//! of the rendered manifests per target.

use crate::Workspace;
use palisade_compiler::{
    ir::{Ir, Peer},
    model::{synthesize_union, Connection, Endpoint},
    semantics::Semantics,
};
use palisade_intents::{syntax::Entity, types::Posture};
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
    let (opened, closed) = reachability(&base.ir, &head.ir);
    let mut diffs = Vec::new();
    let targets: BTreeSet<&str> = base_rendered.iter().chain(head_rendered).map(|(t, _)| *t).collect();
    for target in targets {
        let text = |rendered: &[(&str, Vec<Manifest>)]| {
            rendered
                .iter()
                .filter(|(t, _)| *t == target)
                .flat_map(|(_, ms)| {
                    ms.iter()
                        .map(|m| format!("# {}/{}\n{}", m.namespace(), m.file_name(), m.to_yaml()))
                })
                .collect::<String>()
        };
        let (old, new) = (text(base_rendered), text(head_rendered));
        let diff = similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(&format!("{base_name}/{target}"), &format!("{head_name}/{target}"))
            .to_string();
        diffs.push(TargetDiff {
            target: target.to_string(),
            diff: if old == new { String::new() } else { diff },
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
        warnings: warnings(&base.ir, &head.ir),
        diffs,
    }
}

/// Opened and closed connections, on one model of both versions
fn reachability(base: &Ir, head: &Ir) -> (Vec<Flow>, Vec<Flow>) {
    let model = synthesize_union(&[base, head]);
    let (base_semantics, head_semantics) = (Semantics::new(base), Semantics::new(head));
    let mut opened: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut closed: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for l4 in model.connections() {
        let (from, to, protocol, port) = (l4.from, l4.to, l4.protocol, l4.port);
        let (before, after) = (base_semantics.decide(&l4).allowed, head_semantics.decide(&l4).allowed);
        // Requests matter only where the port stays open and an HTTP rule changed.
        let changed: Vec<Connection> = if before != after {
            vec![l4]
        } else if before && matches!(to, Endpoint::Pod(_)) {
            model
                .requests
                .iter()
                .map(|r| Connection { request: Some(r), ..l4 })
                .filter(|c| base_semantics.decide(c).allowed != head_semantics.decide(c).allowed)
                .collect()
        } else {
            Vec::new()
        };
        for conn in changed {
            let after = head_semantics.decide(&conn).allowed;
            let (ir, list) = if after {
                (head, &mut opened)
            } else {
                (base, &mut closed)
            };
            let port = match conn.request {
                Some(r) => format!("{}/{port} {} {}", protocol.as_str(), r.method, r.path),
                None => format!("{}/{port}", protocol.as_str()),
            };
            list.entry((name(ir, &from), name(ir, &to))).or_default().insert(port);
        }
    }
    let flows = |map: BTreeMap<(String, String), BTreeSet<String>>| {
        map.into_iter()
            .map(|((from, to), ports)| Flow {
                from,
                to,
                ports: ports.into_iter().collect(),
            })
            .collect()
    };
    (flows(opened), flows(closed))
}

/// An end in intent terms, named by the version that allows the connection
fn name(ir: &Ir, end: &Endpoint) -> String {
    match end {
        Endpoint::Pod(pod) => {
            let service = ir.namespaces.get(&pod.namespace).and_then(|ns| {
                ns.services
                    .values()
                    .find(|s| !s.selector.is_empty() && pod.matches(&s.selector))
            });
            match service {
                Some(s) => format!("{}/{}", s.namespace, s.name),
                None if pod.name == "stranger" => format!("{}/* (any other pod)", pod.namespace),
                None if pod.namespace == ir.profile.dns.namespace && pod.matches(&ir.profile.dns.selector) => {
                    "dns".into()
                }
                None => {
                    let labels: Vec<String> = pod.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("{}/{{{}}}", pod.namespace, labels.join(","))
                }
            }
        }
        Endpoint::External(ext) => match &ext.fqdn {
            Some(fqdn) => fqdn.clone(),
            None if ir.profile.metadata.contains(&ext.ip) => format!("metadata ({})", ext.ip),
            None if ext.kube_apiserver => format!("kube-api ({})", ext.ip),
            None => ext.ip.to_string(),
        },
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
