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
    /// intent, baseline, allowed, would-drop, dropped: the most severe it holds
    pub show: String,
    /// every kind it holds (a merged edge shows while any of them is ticked)
    pub kinds: Vec<String>,
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
    kinds: Vec<String>,
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
        kinds: Vec::new(),
        label: e.ports.clone(),
        intents: vec![i],
        flows: Vec::new(),
    });
    let flows = map.flows.iter().enumerate().map(|(i, f)| Item {
        from: f.from.clone(),
        to: f.to.clone(),
        show: f.verdict.clone(),
        kinds: Vec::new(),
        label: format!("{} x{}", f.port, f.count),
        intents: Vec::new(),
        flows: vec![i],
    });
    // A loop is drawn out to its label and back on one line: say so.
    intents
        .chain(flows)
        .map(|item| {
            let kinds = vec![item.show.clone()];
            if item.from == item.to {
                Item {
                    label: format!("to itself: {}", item.label),
                    kinds,
                    ..item
                }
            } else {
                Item { kinds, ..item }
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

/// The box that stands for a namespace (`outside` for the rest)
fn group_box(group: &str) -> String {
    if group.is_empty() {
        "outside".to_string()
    } else {
        format!("ns:{group}")
    }
}

/// A namespace (or the outside) collapsed to one box
/// `inside`: how many edges it holds, where the view knows
fn group_node(map: &ServiceMap, group: &str, ids: Vec<String>, inside: Option<usize>) -> ViewNode {
    let label = match map.namespaces.iter().find(|g| g.name == group) {
        _ if group.is_empty() => "outside the namespaces".to_string(),
        Some(g) => format!("{group} ({})", g.posture),
        None => format!("{group} (not managed)"),
    };
    let what = if group.is_empty() { "destination" } else { "node" };
    ViewNode {
        id: group_box(group),
        label: cut(&label, LABEL_CHARS),
        sub: match inside {
            Some(edges) => format!("{}, {} inside", plural(ids.len(), what), plural(edges, "edge")),
            None => plural(ids.len(), what),
        },
        kind: "namespace".into(),
        group: group.to_string(),
        members: ids,
        rect: Rect {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0,
        },
    }
}

fn members(groups: &BTreeMap<String, String>) -> BTreeMap<String, Vec<String>> {
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, group) in groups {
        members.entry(group.clone()).or_default().push(id.clone());
    }
    members
}

/// One box per namespace and one for everything outside; everything between
/// two groups merged into one edge (many services talk across namespaces:
/// one edge per kind made the overview of 1,000 services 30,000 px tall),
/// edges inside a group counted on its box
fn overview(map: &ServiceMap, groups: &BTreeMap<String, String>, items: &[Item]) -> Scene {
    let mut inside: BTreeMap<String, usize> = BTreeMap::new();
    let mut merged: BTreeMap<(String, String), Vec<&Item>> = BTreeMap::new();
    for item in items {
        let (Some(from), Some(to)) = (groups.get(&item.from), groups.get(&item.to)) else {
            continue;
        };
        if from == to {
            *inside.entry(from.clone()).or_default() += 1;
        } else {
            merged.entry((group_box(from), group_box(to))).or_default().push(item);
        }
    }
    let nodes = members(groups)
        .into_iter()
        .map(|(group, ids)| {
            let count = inside.get(&group).copied().unwrap_or(0);
            group_node(map, &group, ids, Some(count))
        })
        .collect();
    let items = merged
        .into_iter()
        .map(|((from, to), list)| merge(from, to, &list))
        .collect();
    Scene { nodes, items }
}

/// The kinds of edge, least severe first
const SEVERITY: [&str; 5] = ["baseline", "intent", "allowed", "would-drop", "dropped"];

fn severity(kind: &str) -> usize {
    SEVERITY.iter().position(|k| *k == kind).unwrap_or(0)
}

/// Several items between two boxes as one edge, coloured by the most severe
fn merge(from: String, to: String, list: &[&Item]) -> Item {
    let mut kinds: Vec<String> = list.iter().flat_map(|i| i.kinds.iter().cloned()).collect();
    kinds.sort_by_key(|k| severity(k));
    kinds.dedup();
    let show = kinds.last().cloned().unwrap_or_default();
    let labels: BTreeSet<&str> = list.iter().map(|i| i.label.as_str()).collect();
    let count = |kind: &str| list.iter().filter(|i| i.show == kind).count();
    let label = match list {
        [one] => one.label.clone(),
        _ if labels.len() <= 1 => format!("{} x{}", labels.iter().next().unwrap_or(&""), list.len()),
        _ if kinds.len() <= 1 => format!("{} edges", list.len()),
        _ => {
            let intents = count("intent") + count("baseline");
            let worst = format!("{} {}", count(&show), show.replace('-', " "));
            match intents {
                0 => worst,
                n if show == "intent" => plural(n, "intent"),
                n => format!("{}, {worst}", plural(n, "intent")),
            }
        }
    };
    Item {
        from,
        to,
        show,
        kinds,
        label,
        intents: list.iter().flat_map(|i| i.intents.iter().copied()).collect(),
        flows: list.iter().flat_map(|i| i.flows.iter().copied()).collect(),
    }
}

/// One namespace opened: its nodes, the destinations outside it talks to,
/// and every other namespace it talks to as one box
fn opened(map: &ServiceMap, namespace: &str, groups: &BTreeMap<String, String>, items: &[Item]) -> Scene {
    let group = |id: &str| groups.get(id).map_or("", String::as_str);
    let home = |id: &str| group(id) == namespace;
    let end = |id: &str| match group(id) {
        g if g == namespace || g.is_empty() => id.to_string(),
        g => group_box(g),
    };
    // One edge per pair, as Hubble draws it: a namespace of 50 services with
    // its flows drew 800 edges, one per pair and kind.
    let mut merged: BTreeMap<(String, String), Vec<&Item>> = BTreeMap::new();
    for item in items.iter().filter(|i| home(&i.from) || home(&i.to)) {
        merged.entry((end(&item.from), end(&item.to))).or_default().push(item);
    }
    let items: Vec<Item> = merged
        .into_iter()
        .map(|((from, to), list)| merge(from, to, &list))
        .collect();
    let wanted: BTreeSet<&str> = items.iter().flat_map(|i| [i.from.as_str(), i.to.as_str()]).collect();
    let mut nodes: Vec<ViewNode> = map
        .all_nodes()
        .filter(|(n, g)| *g == namespace || (g.is_empty() && wanted.contains(n.id.as_str())))
        .map(|(n, g)| node(&n.id, &n.label, g, &n.kind))
        .collect();
    for (other, ids) in members(groups) {
        if !other.is_empty() && other != namespace && wanted.contains(group_box(&other).as_str()) {
            nodes.push(group_node(map, &other, ids, None));
        }
    }
    Scene { nodes, items }
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
            kinds: item.kinds,
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

/// `1 edge`, `2 edges`
fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// At most `max` characters, the cut marked with `...`
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(3)).collect();
    kept + "..."
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::{Flow, Group, MapEdge, Node};

    fn service(id: &str) -> Node {
        let label = id.split_once('/').map_or(id, |(_, name)| name).to_string();
        Node {
            id: id.into(),
            label,
            kind: "service".into(),
        }
    }

    fn edge(from: &str, to: &str) -> MapEdge {
        MapEdge {
            from: from.into(),
            to: to.into(),
            ports: "tcp/80".into(),
            http: Vec::new(),
            intent: format!("{from} -> {to} tcp/80"),
            at: "intents/a.yaml:1".into(),
            baseline: false,
            rules: BTreeMap::new(),
        }
    }

    fn map() -> ServiceMap {
        let group = |name: &str, ids: &[&str]| Group {
            name: name.into(),
            posture: "default-deny".into(),
            nodes: ids.iter().map(|id| service(id)).collect(),
        };
        ServiceMap {
            namespaces: vec![group("a", &["a/x", "a/y"]), group("b", &["b/z"])],
            outside: Vec::new(),
            edges: vec![edge("a/x", "a/y"), edge("a/x", "b/z")],
            flows: vec![Flow {
                from: "a/x".into(),
                to: "b/z".into(),
                port: "tcp/81".into(),
                count: 3,
                verdict: "would-drop".into(),
                observed_as: None,
                request: None,
                fix: Some("x -> b/z tcp/81".into()),
                add_to: Some("intents/a.yaml".into()),
                blocked_by: BTreeMap::new(),
            }],
            targets: vec!["cilium".into()],
        }
    }

    #[test]
    fn the_overview_draws_a_namespace_as_a_box_and_one_edge_per_pair_in_its_worst_colour() {
        let (views, default) = views(&map());
        assert_eq!(default, "all");
        let ids: Vec<&str> = views.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["all", "namespaces", "ns:a", "ns:b"]);
        let all = &views[0];
        assert_eq!((all.nodes.len(), all.edges.len()), (3, 3));
        let overview = &views[1];
        let boxes: Vec<&str> = overview.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(boxes, ["ns:a", "ns:b"]);
        assert_eq!(overview.nodes[0].sub, "2 nodes, 1 edge inside");
        let [between] = overview.edges.as_slice() else {
            panic!("{:?}", overview.edges)
        };
        assert_eq!((between.from.as_str(), between.to.as_str()), ("ns:a", "ns:b"));
        assert_eq!(between.show, "would-drop");
        assert_eq!(between.kinds, ["intent", "would-drop"]);
        assert_eq!(between.label, "1 intent, 1 would drop");
        assert_eq!((between.intents.clone(), between.flows.clone()), (vec![1], vec![0]));
    }

    #[test]
    fn an_opened_namespace_shows_its_services_and_the_others_collapsed() {
        let (views, _) = views(&map());
        let opened = &views[2];
        let ids: Vec<&str> = opened.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["a/x", "a/y", "ns:b"]);
        let pairs: Vec<(&str, &str)> = opened.edges.iter().map(|e| (e.from.as_str(), e.to.as_str())).collect();
        assert_eq!(pairs, [("a/x", "a/y"), ("a/x", "ns:b")]);
        assert!(opened.edges.iter().all(|e| e.path.starts_with('M') && e.rect.w > 0.0));
    }
}
