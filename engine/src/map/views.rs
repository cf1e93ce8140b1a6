//! The views the HTML map switches between, each placed by [`super::layout`]:
//! every node (small maps), one node per namespace (the overview), and one
//! namespace opened with its neighbours. Sizes are estimated from the label
//! length in the page's monospace font, so the boxes hold their text.

use super::{
    layout::{self, Link, Rect, Size},
    ServiceMap,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Above this many nodes the page opens on the namespaces, not on every node
pub const FULL_VIEW_LIMIT: usize = 200;
/// Node labels are cut to this many characters (the full id is in the title)
const LABEL_CHARS: usize = 32;
/// Edge labels too
const EDGE_LABEL_CHARS: usize = 28;
/// Width of one character: DejaVu Sans Mono advances 0.602 em; a little
/// more, so another monospace font still fits
const CHAR_12PX: f64 = 7.4;
const CHAR_10PX: f64 = 6.2;
const CHAR_11PX: f64 = 6.8;

/// One way to look at the map, placed
#[derive(Debug, Serialize)]
pub struct View {
    /// `all`, `namespaces`, `ns:shop`
    pub id: String,
    pub title: String,
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<ViewNode>,
    pub edges: Vec<ViewEdge>,
}

/// A box: a node of the map, or a collapsed namespace
#[derive(Debug, Serialize)]
pub struct ViewNode {
    /// the map node's id, `ns:NAME` for a namespace, `outside` for the rest
    pub id: String,
    pub label: String,
    /// the second line: the namespace, or what a collapsed group holds
    pub sub: String,
    pub kind: String,
    /// the namespace it belongs to (empty outside)
    pub group: String,
    /// for a collapsed group, the map nodes inside it
    pub members: Vec<String>,
    pub rect: Rect,
}

/// A drawn edge: one or more intent edges or flows between two boxes
#[derive(Debug, Serialize)]
pub struct ViewEdge {
    pub from: String,
    pub to: String,
    /// intent, baseline, allowed, would-drop, dropped
    pub show: String,
    pub label: String,
    /// the label's box
    pub rect: Rect,
    /// SVG path data, from `from` to `to`, broken at the label
    pub path: String,
    /// indices into the map's `edges`
    pub intents: Vec<usize>,
    /// indices into the map's `flows`
    pub flows: Vec<usize>,
}

/// Something to draw between two nodes before grouping
#[derive(Clone)]
struct Item {
    from: String,
    to: String,
    show: String,
    label: String,
    intents: Vec<usize>,
    flows: Vec<usize>,
}

struct Scene {
    nodes: Vec<ViewNode>,
    items: Vec<Item>,
}

/// Every view of `map`, and the one the page opens on
pub fn views(map: &ServiceMap) -> (Vec<View>, String) {
    let groups = map.group_of();
    let items = items(map);
    let mut views = Vec::new();
    if groups.len() <= FULL_VIEW_LIMIT {
        let nodes = map
            .all_nodes()
            .map(|(n, g)| node(&n.id, &n.label, g, &n.kind))
            .collect();
        let items = items.clone();
        views.push(draw("all", "every service", Scene { nodes, items }));
    }
    views.push(draw("namespaces", "namespaces", overview(map, &groups, &items)));
    for group in &map.namespaces {
        let scene = opened(map, &group.name, &groups, &items);
        views.push(draw(
            &format!("ns:{}", group.name),
            &format!("namespace {}", group.name),
            scene,
        ));
    }
    let default = views.first().map(|v| v.id.clone()).unwrap_or_default();
    (views, default)
}

fn items(map: &ServiceMap) -> Vec<Item> {
    let intents = map.edges.iter().enumerate().map(|(i, e)| Item {
        from: e.from.clone(),
        to: e.to.clone(),
        show: if e.baseline { "baseline" } else { "intent" }.into(),
        label: e.ports.clone(),
        intents: vec![i],
        flows: Vec::new(),
    });
    let flows = map.flows.iter().enumerate().map(|(i, f)| Item {
        from: f.from.clone(),
        to: f.to.clone(),
        show: f.verdict.clone(),
        label: format!("{} x{}", f.port, f.count),
        intents: Vec::new(),
        flows: vec![i],
    });
    // A loop is drawn out to its label and back on one line: say so.
    intents
        .chain(flows)
        .map(|item| {
            if item.from == item.to {
                Item {
                    label: format!("to itself: {}", item.label),
                    ..item
                }
            } else {
                item
            }
        })
        .collect()
}

fn node(id: &str, label: &str, group: &str, kind: &str) -> ViewNode {
    let sub = if group.is_empty() { kind } else { group };
    ViewNode {
        id: id.to_string(),
        label: cut(label, LABEL_CHARS),
        sub: cut(sub, LABEL_CHARS),
        kind: kind.to_string(),
        group: group.to_string(),
        members: Vec::new(),
        rect: Rect {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0,
        },
    }
}

/// One box per namespace and one for everything outside; edges between
/// groups merged by kind, edges inside a group counted on its box
fn overview(map: &ServiceMap, groups: &BTreeMap<String, String>, items: &[Item]) -> Scene {
    let box_of = |group: &str| {
        if group.is_empty() {
            "outside".to_string()
        } else {
            format!("ns:{group}")
        }
    };
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, group) in groups {
        members.entry(group.clone()).or_default().push(id.clone());
    }
    let mut inside: BTreeMap<String, usize> = BTreeMap::new();
    let mut merged: BTreeMap<(String, String, String), Vec<&Item>> = BTreeMap::new();
    for item in items {
        let (Some(from), Some(to)) = (groups.get(&item.from), groups.get(&item.to)) else {
            continue;
        };
        if from == to {
            *inside.entry(from.clone()).or_default() += 1;
        } else {
            merged
                .entry((box_of(from), box_of(to), item.show.clone()))
                .or_default()
                .push(item);
        }
    }
    let postures: BTreeMap<&str, &str> = map
        .namespaces
        .iter()
        .map(|g| (g.name.as_str(), g.posture.as_str()))
        .collect();
    let nodes = members
        .into_iter()
        .map(|(group, ids)| {
            let what = if group.is_empty() { "destinations" } else { "nodes" };
            let sub = format!(
                "{} {what}, {} edges inside",
                ids.len(),
                inside.get(&group).unwrap_or(&0)
            );
            let label = if group.is_empty() {
                "outside the namespaces".to_string()
            } else {
                format!("{group} ({})", postures.get(group.as_str()).unwrap_or(&"not managed"))
            };
            ViewNode {
                id: box_of(&group),
                label: cut(&label, LABEL_CHARS),
                sub,
                kind: "namespace".into(),
                group,
                members: ids,
                rect: Rect {
                    x: 0.0,
                    y: 0.0,
                    w: 0.0,
                    h: 0.0,
                },
            }
        })
        .collect();
    let items = merged
        .into_iter()
        .map(|((from, to, show), list)| merge(from, to, show, &list))
        .collect();
    Scene { nodes, items }
}

/// Several items between two groups as one edge
fn merge(from: String, to: String, show: String, list: &[&Item]) -> Item {
    let labels: BTreeSet<&str> = list.iter().map(|i| i.label.as_str()).collect();
    let label = match list {
        [one] => one.label.clone(),
        _ if labels.len() <= 1 => format!("{} x{}", labels.iter().next().unwrap_or(&""), list.len()),
        _ => format!("{} edges", list.len()),
    };
    Item {
        from,
        to,
        show,
        label,
        intents: list.iter().flat_map(|i| i.intents.iter().copied()).collect(),
        flows: list.iter().flat_map(|i| i.flows.iter().copied()).collect(),
    }
}

/// One namespace's nodes, the nodes they talk to, and the edges between them
fn opened(map: &ServiceMap, namespace: &str, groups: &BTreeMap<String, String>, items: &[Item]) -> Scene {
    let home = |id: &str| groups.get(id).is_some_and(|g| g == namespace);
    let picked: Vec<Item> = items.iter().filter(|i| home(&i.from) || home(&i.to)).cloned().collect();
    let wanted: BTreeSet<&str> = picked.iter().flat_map(|i| [i.from.as_str(), i.to.as_str()]).collect();
    let nodes = map
        .all_nodes()
        .filter(|(n, g)| *g == namespace || wanted.contains(n.id.as_str()))
        .map(|(n, g)| node(&n.id, &n.label, g, &n.kind))
        .collect();
    Scene { nodes, items: picked }
}

fn draw(id: &str, title: &str, scene: Scene) -> View {
    let Scene { mut nodes, items } = scene;
    let index: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let sizes: Vec<Size> = nodes.iter().map(node_size).collect();
    let mut links = Vec::new();
    let mut drawn = Vec::new();
    for item in items {
        let (Some(&from), Some(&to)) = (index.get(item.from.as_str()), index.get(item.to.as_str())) else {
            continue;
        };
        let label = cut(&item.label, EDGE_LABEL_CHARS);
        links.push(Link {
            from,
            to,
            label: Size {
                w: width(&label, CHAR_11PX) + 10.0,
                h: 18.0,
            },
        });
        drawn.push(Item { label, ..item });
    }
    let placed = layout::place(&sizes, &links);
    for (node, rect) in nodes.iter_mut().zip(&placed.boxes) {
        node.rect = *rect;
    }
    let edges = drawn
        .into_iter()
        .zip(placed.labels.iter().zip(&placed.paths))
        .map(|(item, (rect, path))| ViewEdge {
            from: item.from,
            to: item.to,
            show: item.show,
            label: item.label,
            rect: *rect,
            path: path.clone(),
            intents: item.intents,
            flows: item.flows,
        })
        .collect();
    View {
        id: id.to_string(),
        title: title.to_string(),
        width: placed.width,
        height: placed.height,
        nodes,
        edges,
    }
}

fn node_size(node: &ViewNode) -> Size {
    let w = width(&node.label, CHAR_12PX).max(width(&node.sub, CHAR_10PX)) + 20.0;
    Size {
        w: w.max(64.0),
        h: 38.0,
    }
}

fn width(text: &str, char_width: f64) -> f64 {
    text.chars().count() as f64 * char_width
}

/// At most `max` characters, the cut marked with `...`
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(3)).collect();
    kept + "..."
}
