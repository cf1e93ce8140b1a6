//! The service map: namespaces as groups, services as nodes, intent edges with
//! the rule each target emitted for them, and observed traffic by verdict.
//! One model, drawn as Graphviz dot and Mermaid here, and as a self-contained
//! HTML page by the command line (the same page the HTML report embeds), whose
//! positions are computed here ([`views`]) so the page stays a drawing.
//! A destination is one node whether an intent or a flow names it.

mod aliases;
mod layout;
mod views;

use aliases::Aliases;
use palisade_compiler::ir::{Ir, Peer};
use palisade_evidence::AuditReport;
use palisade_targets::Manifest;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
pub use views::{View, ViewEdge, ViewNode, FULL_VIEW_LIMIT};

/// Everything the drawings show
#[derive(Debug, Serialize)]
pub struct ServiceMap {
    /// managed namespaces, with their services
    pub namespaces: Vec<Group>,
    /// destinations outside any namespace: names, address blocks, entities
    pub outside: Vec<Node>,
    /// what the intents allow
    pub edges: Vec<MapEdge>,
    /// what was observed, by verdict (empty without flows)
    pub flows: Vec<Flow>,
    /// the targets whose rules are listed
    pub targets: Vec<String>,
}

/// A namespace and the nodes drawn inside it
#[derive(Debug, Serialize)]
pub struct Group {
    pub name: String,
    pub posture: String,
    pub nodes: Vec<Node>,
}

/// A service, a selection of pods, or an outside destination
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    /// unique: `namespace/service`, a DNS name, an address block
    pub id: String,
    pub label: String,
    /// service, pods, fqdn, cidr, entity, address
    pub kind: String,
}

/// One intent edge
#[derive(Debug, Serialize)]
pub struct MapEdge {
    pub from: String,
    pub to: String,
    /// `tcp/8080, tcp/8443` or `all ports`
    pub ports: String,
    /// `GET /products/*`, when the edge has HTTP rules
    pub http: Vec<String>,
    /// the intent as written
    pub intent: String,
    /// `intents/shop.yaml:21`
    pub at: String,
    /// from a `baseline` entry (DNS, API server...)
    pub baseline: bool,
    /// per target, the objects rendered from this intent
    pub rules: BTreeMap<String, Vec<String>>,
}

/// Observed traffic between two workloads on one port
#[derive(Debug, Serialize)]
pub struct Flow {
    pub from: String,
    pub to: String,
    pub port: String,
    pub count: u64,
    /// allowed, would-drop (works today, enforcing breaks it), dropped (already)
    pub verdict: String,
    /// the ends as the flows named them, when that differs from the nodes
    /// (`api.stripe.com (198.51.100.7)` drawn on `api.stripe.com`)
    pub observed_as: Option<String>,
    /// `GET /admin`, for an L7 record
    pub request: Option<String>,
    /// for a drop: the allow line that would admit it, ready to paste
    pub fix: Option<String>,
    /// for a drop: the Intents file (or namespace) the line goes into
    pub add_to: Option<String>,
    /// for a drop: per target, the policies that decide it
    pub blocked_by: BTreeMap<String, Vec<String>>,
}

impl ServiceMap {
    /// The map of `ir`, with the rules of `rendered` and, when given, the audit
    /// of observed flows
    pub fn new(ir: &Ir, rendered: &[(&str, Vec<Manifest>)], audit: Option<&AuditReport>) -> Self {
        let rules = rules_by_intent_line(rendered);
        let mut outside: BTreeSet<Node> = BTreeSet::new();
        let mut extra: BTreeMap<String, BTreeSet<Node>> = BTreeMap::new();
        let mut place = |peer: &Peer| {
            let node = node(peer);
            match peer.namespace() {
                Some(ns) if !matches!(peer, Peer::Service { .. }) => {
                    extra.entry(ns.to_string()).or_default().insert(node.clone());
                }
                Some(_) => {}
                None => {
                    outside.insert(node.clone());
                }
            }
            node.id
        };
        let edges: Vec<MapEdge> = ir
            .edges
            .iter()
            .map(|edge| {
                let at = edge.source.loc.file_line();
                MapEdge {
                    from: place(&edge.from),
                    to: place(&edge.to),
                    ports: if edge.ports.is_empty() {
                        "all ports".into()
                    } else {
                        edge.ports.iter().map(port_text).collect::<Vec<_>>().join(", ")
                    },
                    http: edge
                        .http
                        .iter()
                        .map(|h| {
                            format!(
                                "{} {}",
                                h.method.as_deref().unwrap_or("any method"),
                                h.path.as_deref().unwrap_or("any path")
                            )
                        })
                        .collect(),
                    intent: edge.source.text.clone(),
                    rules: rules.get(&edge.source.id()).cloned().unwrap_or_default(),
                    at,
                    baseline: edge.from_baseline,
                }
            })
            .collect();
        let known: BTreeSet<String> = ir
            .namespaces
            .values()
            .flat_map(|ns| ns.services.values().map(move |s| format!("{}/{}", ns.name, s.name)))
            .chain(outside.iter().map(|n| n.id.clone()))
            .chain(extra.values().flatten().map(|n| n.id.clone()))
            .collect();
        let aliases = Aliases::new(ir);
        let mut flows = audit.map(flows).unwrap_or_default();
        for flow in &mut flows {
            let (from, to) = (aliases.resolve(&flow.from, &known), aliases.resolve(&flow.to, &known));
            if (from.as_str(), to.as_str()) != (flow.from.as_str(), flow.to.as_str()) {
                flow.observed_as = Some(format!("{} -> {}", flow.from, flow.to));
                (flow.from, flow.to) = (from, to);
            }
        }
        for flow in &flows {
            for end in [&flow.from, &flow.to] {
                if !known.contains(end) {
                    let (namespace, name) = end.split_once('/').unwrap_or(("", end));
                    let node = Node {
                        id: end.clone(),
                        label: name.to_string(),
                        kind: if namespace.is_empty() { "address" } else { "workload" }.into(),
                    };
                    if namespace.is_empty() || !ir.namespaces.contains_key(namespace) {
                        outside.insert(node);
                    } else {
                        extra.entry(namespace.to_string()).or_default().insert(node);
                    }
                }
            }
        }
        let namespaces = ir
            .namespaces
            .values()
            .map(|ns| Group {
                name: ns.name.clone(),
                posture: posture_name(ns.posture),
                nodes: ns
                    .services
                    .values()
                    .map(|s| Node {
                        id: format!("{}/{}", ns.name, s.name),
                        label: s.name.clone(),
                        kind: "service".into(),
                    })
                    .chain(extra.remove(&ns.name).into_iter().flatten())
                    .collect(),
            })
            .collect();
        // Namespaces the intents only point at (dns in kube-system...) go outside.
        outside.extend(extra.into_values().flatten());
        ServiceMap {
            namespaces,
            outside: outside.into_iter().collect(),
            edges,
            flows,
            targets: rendered.iter().map(|(id, _)| (*id).to_string()).collect(),
        }
    }

    /// Graphviz: `dot -Tsvg`
    pub fn dot(&self) -> String {
        let mut out = String::from(
            "digraph palisade {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=Helvetica];\n  edge [fontname=Helvetica, fontsize=10];\n",
        );
        for (i, group) in self.namespaces.iter().enumerate() {
            out += &format!(
                "  subgraph cluster_{i} {{\n    label={};\n    style=rounded;\n",
                quote(&format!("{} ({})", group.name, group.posture))
            );
            for node in &group.nodes {
                out += &format!("    {} [label={}];\n", quote(&node.id), quote(&node.label));
            }
            out += "  }\n";
        }
        for node in &self.outside {
            out += &format!("  {} [label={}, shape=ellipse];\n", quote(&node.id), quote(&node.label));
        }
        for edge in &self.edges {
            let style = if edge.baseline {
                ", style=dashed, color=gray"
            } else {
                ""
            };
            out += &format!(
                "  {} -> {} [label={}{style}];\n",
                quote(&edge.from),
                quote(&edge.to),
                quote(&edge.ports)
            );
        }
        for flow in &self.flows {
            out += &format!(
                "  {} -> {} [label={}, color={}, style=bold];\n",
                quote(&flow.from),
                quote(&flow.to),
                quote(&format!("{} {} x{}", flow.verdict, flow.port, flow.count)),
                verdict_colour(&flow.verdict)
            );
        }
        out + "}\n"
    }

    /// Mermaid: a `flowchart` for Markdown (GitHub renders it)
    pub fn mermaid(&self) -> String {
        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        let mut id_of = |name: &str| -> String {
            let next = format!("n{}", ids.len());
            ids.entry(name.to_string()).or_insert(next).clone()
        };
        let mut out = String::from("flowchart LR\n");
        for (i, group) in self.namespaces.iter().enumerate() {
            out += &format!(
                "  subgraph ns{i}[\"{} ({})\"]\n",
                mermaid_text(&group.name),
                group.posture
            );
            for node in &group.nodes {
                out += &format!("    {}[\"{}\"]\n", id_of(&node.id), mermaid_text(&node.label));
            }
            out += "  end\n";
        }
        for node in &self.outside {
            out += &format!("  {}([\"{}\"])\n", id_of(&node.id), mermaid_text(&node.label));
        }
        let mut link = 0;
        let mut styles = String::new();
        for edge in &self.edges {
            let arrow = if edge.baseline { "-.->" } else { "-->" };
            out += &format!(
                "  {} {arrow}|\"{}\"| {}\n",
                id_of(&edge.from),
                mermaid_text(&edge.ports),
                id_of(&edge.to)
            );
            link += 1;
        }
        for flow in &self.flows {
            out += &format!(
                "  {} ==>|\"{} {} x{}\"| {}\n",
                id_of(&flow.from),
                flow.verdict,
                flow.port,
                flow.count,
                id_of(&flow.to)
            );
            styles += &format!("  linkStyle {link} stroke:{}\n", verdict_colour(&flow.verdict));
            link += 1;
        }
        out + &styles
    }

    /// The data the HTML page draws, with every view placed, as JSON safe
    /// inside a `<script>` element
    pub fn embedded_json(&self) -> String {
        #[derive(Serialize)]
        struct Page<'a> {
            #[serde(flatten)]
            map: &'a ServiceMap,
            views: Vec<View>,
            default_view: String,
        }
        let (views, default_view) = views::views(self);
        serde_json::to_string(&Page {
            map: self,
            views,
            default_view,
        })
        .unwrap_or_else(|_| "{}".into())
        .replace("</", "<\\/")
    }

    /// Every node with its namespace (empty outside the managed namespaces)
    pub fn all_nodes(&self) -> impl Iterator<Item = (&Node, &str)> {
        self.namespaces
            .iter()
            .flat_map(|g| g.nodes.iter().map(move |n| (n, g.name.as_str())))
            .chain(self.outside.iter().map(|n| (n, "")))
    }

    /// node id -> its namespace (empty outside)
    pub fn group_of(&self) -> BTreeMap<String, String> {
        self.all_nodes().map(|(n, g)| (n.id.clone(), g.to_string())).collect()
    }
}

/// A port as a reader wants it: a named port with its number, `http (tcp/8080)`
pub fn port_text(port: &palisade_compiler::ir::Port) -> String {
    match &port.name {
        Some(name) if port.first != 0 => {
            let number = palisade_compiler::ir::Port {
                name: None,
                ..port.clone()
            };
            format!("{name} ({number})")
        }
        _ => port.to_string(),
    }
}

/// `default-deny`, as the intents spell it
pub fn posture_name(posture: palisade_intents::types::Posture) -> String {
    serde_json::to_value(posture)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn node(peer: &Peer) -> Node {
    let (kind, label) = match peer {
        Peer::Service { name, .. } => ("service", name.clone()),
        Peer::Namespace(_) => ("pods", "every pod".to_string()),
        Peer::Pods { .. } => ("pods", peer.to_string()),
        Peer::Cidr { .. } => ("cidr", peer.to_string()),
        Peer::Fqdn { .. } => ("fqdn", peer.to_string()),
        Peer::Entity(_) => ("entity", peer.to_string()),
    };
    Node {
        id: peer.to_string(),
        label,
        kind: kind.into(),
    }
}

/// intent id -> target -> objects whose source annotation names it
fn rules_by_intent_line(rendered: &[(&str, Vec<Manifest>)]) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut rules: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (target, manifests) in rendered {
        for manifest in manifests {
            let Some(sources) = manifest.source() else {
                continue;
            };
            for line in sources.split(", ") {
                rules
                    .entry(line.to_string())
                    .or_default()
                    .entry((*target).to_string())
                    .or_default()
                    .push(manifest.reference());
            }
        }
    }
    rules
}

fn flows(audit: &AuditReport) -> Vec<Flow> {
    let admitted = audit.allowed.iter().map(|a| Flow {
        from: a.source.clone(),
        to: a.destination.clone(),
        port: a.port.clone(),
        count: a.count,
        verdict: "allowed".into(),
        observed_as: None,
        request: None,
        fix: None,
        add_to: None,
        blocked_by: BTreeMap::new(),
    });
    let dropped = audit.groups.iter().flat_map(|g| {
        g.dropped.iter().map(move |d| Flow {
            from: g.source.clone(),
            to: g.destination.clone(),
            port: d.port.clone(),
            count: d.count,
            verdict: if g.works_today { "would-drop" } else { "dropped" }.into(),
            observed_as: None,
            request: d.request.clone(),
            // Empty when nothing is suggested (dropped today, not asked for).
            fix: Some(g.intent.clone()).filter(|line| !line.is_empty()),
            add_to: Some(g.add_to.clone()).filter(|file| !file.is_empty()),
            blocked_by: d.dropped_by.clone(),
        })
    });
    admitted.chain(dropped).collect()
}

fn verdict_colour(verdict: &str) -> &'static str {
    match verdict {
        "allowed" => "forestgreen",
        "would-drop" => "orange",
        _ => "red",
    }
}

/// A dot string literal
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Mermaid labels are quoted; quotes inside become `#quot;`
fn mermaid_text(text: &str) -> String {
    text.replace('"', "#quot;")
}
