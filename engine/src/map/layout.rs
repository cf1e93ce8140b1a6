//! Geometry of the HTML map: a layered (Sugiyama) layout, left to right,
//! computed by `rust-sugiyama` (network-simplex ranking, barycenter crossing
//! reduction, Brandes-Köpf coordinates) so that the page only draws numbers.
//!
//! Every edge label is a vertex of its own, in the layer between the edge's
//! ends, so the layout keeps it clear of other boxes. Edges leave and enter
//! boxes sideways and cross a layer only through a gap between its boxes,
//! so no edge runs over a label. Knows nothing of services or flows.

use rust_sugiyama::configure::{Config, CrossingMinimization, RankingType};
use serde::Serialize;
use std::collections::BTreeMap;

/// The gap between two boxes of one layer
const SPACING: f64 = 18.0;
/// The gap between two layers, where the curves run
const LAYER_GAP: f64 = 64.0;
/// Around each connected part of the graph
const PART_GAP: f64 = 32.0;
/// Around the whole drawing
const MARGIN: f64 = 16.0;
/// Above this many vertices the layout skips the transpose pass
const TRANSPOSE_LIMIT: usize = 400;
/// How wide a row of unconnected boxes may grow before it wraps
const MIN_ROW: f64 = 760.0;

/// A box to place: its size
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Size {
    pub w: f64,
    pub h: f64,
}

/// A placed box, by its top-left corner
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// An edge between two boxes, with the size of its label
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub from: usize,
    pub to: usize,
    pub label: Size,
}

/// The drawing: boxes in input order, each edge's label box and SVG path
#[derive(Debug)]
pub struct Placed {
    pub boxes: Vec<Rect>,
    pub labels: Vec<Rect>,
    pub paths: Vec<String>,
    pub width: f64,
    pub height: f64,
}

/// Where the layout put a vertex: its connected part, its layer, its centre
/// across the layer
#[derive(Debug, Clone, Copy)]
struct Spot {
    part: usize,
    layer: usize,
    across: f64,
}

/// One connected part: its layers' centres and widths, and its offset
#[derive(Debug, Default)]
struct Part {
    centres: Vec<f64>,
    widths: Vec<f64>,
    /// per layer, the boxes' (top, bottom), sorted
    spans: Vec<Vec<(f64, f64)>>,
}

/// Lay out `boxes` and `links`. A link whose ends are not boxes is left
/// undrawn (empty path), never a panic.
pub fn place(boxes: &[Size], links: &[Link]) -> Placed {
    let n = boxes.len();
    let links: Vec<Link> = links.iter().filter(|l| l.from < n && l.to < n).copied().collect();
    let sizes: Vec<Size> = boxes.iter().copied().chain(links.iter().map(|l| l.label)).collect();
    let spots = layers(&sizes, &links, n);
    let (rects, parts) = arrange(&sizes, &spots);
    let mut placed = Placed {
        boxes: rects.iter().take(n).copied().collect(),
        labels: rects.iter().skip(n).copied().collect(),
        paths: Vec::with_capacity(links.len()),
        width: 0.0,
        height: 0.0,
    };
    for (j, link) in links.iter().enumerate() {
        let label = n + j;
        let path = match (spots.get(link.from), spots.get(label), spots.get(link.to)) {
            (Some(a), Some(l), Some(b)) => {
                let parts_of = |s: &Spot| parts.get(s.part);
                match (parts_of(a), rects.get(link.from), rects.get(label), rects.get(link.to)) {
                    (Some(part), Some(ra), Some(rl), Some(rb)) => {
                        format!("{} {}", route(part, (a, ra), (l, rl)), route(part, (l, rl), (b, rb)))
                    }
                    _ => String::new(),
                }
            }
            _ => String::new(),
        };
        placed.paths.push(path);
    }
    placed.width = rects.iter().map(|r| r.x + r.w).fold(0.0, f64::max) + MARGIN;
    placed.height = rects.iter().map(|r| r.y + r.h).fold(0.0, f64::max) + MARGIN;
    placed
}

/// The layered layout of the crate: each vertex's part, layer and centre
fn layers(sizes: &[Size], links: &[Link], n: usize) -> Vec<Spot> {
    // Layers run left to right, so a box's height is its extent across its layer.
    let vertices: Vec<(u32, (f64, f64))> = sizes.iter().enumerate().map(|(i, s)| (index(i), (s.h, s.w))).collect();
    let edges: Vec<(u32, u32)> = links
        .iter()
        .enumerate()
        .flat_map(|(j, l)| [(index(l.from), index(n + j)), (index(n + j), index(l.to))])
        .collect();
    let config = Config {
        minimum_length: 1,
        vertex_spacing: SPACING,
        dummy_vertices: true,
        dummy_size: 1.0,
        ranking_type: RankingType::MinimizeEdgeLength,
        c_minimization: CrossingMinimization::Barycenter,
        // Swapping neighbours removes a few more crossings but costs the
        // most time of all on big graphs (the crate's own warning).
        transpose: vertices.len() <= TRANSPOSE_LIMIT,
    };
    let mut parts = rust_sugiyama::from_vertices_and_edges(&vertices, &edges, &config);
    // The crate lists parts in the order it found them; sort for a stable drawing.
    parts.sort_by_key(|(coords, _, _)| coords.iter().map(|(v, _)| *v).min().unwrap_or(usize::MAX));
    let mut spots = vec![
        Spot {
            part: usize::MAX,
            layer: 0,
            across: 0.0
        };
        sizes.len()
    ];
    for (p, (coords, _, _)) in parts.iter().enumerate() {
        let mut ranks: Vec<f64> = coords.iter().map(|(_, (_, y))| *y).collect();
        ranks.sort_by(f64::total_cmp);
        ranks.dedup();
        for (v, (x, y)) in coords {
            if let Some(spot) = spots.get_mut(*v) {
                *spot = Spot {
                    part: p,
                    layer: ranks.partition_point(|r| r < y),
                    across: *x,
                };
            }
        }
    }
    spots
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Boxes from spots: each part's layers side by side, parts one below the
/// other, lone boxes in wrapped rows at the end
fn arrange(sizes: &[Size], spots: &[Spot]) -> (Vec<Rect>, Vec<Part>) {
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (v, spot) in spots.iter().enumerate() {
        members.entry(spot.part).or_default().push(v);
    }
    let mut rects = vec![
        Rect {
            x: 0.0,
            y: 0.0,
            w: 0.0,
            h: 0.0
        };
        sizes.len()
    ];
    let mut parts: Vec<Part> = Vec::new();
    let mut lone: Vec<usize> = Vec::new();
    let mut top = MARGIN;
    let mut widest = MIN_ROW;
    for (p, vs) in &members {
        while parts.len() <= *p && *p != usize::MAX {
            parts.push(Part::default());
        }
        let Some(part) = parts.get_mut(*p) else {
            lone.extend(vs);
            continue;
        };
        if vs.len() == 1 {
            lone.extend(vs);
            continue;
        }
        let (bottom, width) = arrange_part(part, vs, sizes, spots, top, &mut rects);
        widest = widest.max(width);
        top = bottom + PART_GAP;
    }
    let (mut x, mut row) = (MARGIN, 0.0_f64);
    for v in lone {
        let (Some(size), Some(rect)) = (sizes.get(v), rects.get_mut(v)) else {
            continue;
        };
        if x > MARGIN && x + size.w > widest {
            x = MARGIN;
            top += row + SPACING;
            row = 0.0;
        }
        *rect = Rect {
            x,
            y: top,
            w: size.w,
            h: size.h,
        };
        x += size.w + SPACING;
        row = row.max(size.h);
    }
    (rects, parts)
}

/// Place one part's boxes with its top at `top`: its bottom and width
fn arrange_part(
    part: &mut Part,
    vs: &[usize],
    sizes: &[Size],
    spots: &[Spot],
    top: f64,
    rects: &mut [Rect],
) -> (f64, f64) {
    let layer_count = vs
        .iter()
        .filter_map(|v| spots.get(*v))
        .map(|s| s.layer + 1)
        .max()
        .unwrap_or(0);
    part.widths = vec![0.0; layer_count];
    let mut highest = f64::INFINITY;
    for v in vs {
        if let (Some(s), Some(size)) = (spots.get(*v), sizes.get(*v)) {
            if let Some(w) = part.widths.get_mut(s.layer) {
                *w = w.max(size.w);
            }
            highest = highest.min(s.across - size.h / 2.0);
        }
    }
    let mut x = MARGIN;
    part.centres = part
        .widths
        .iter()
        .map(|w| {
            let centre = x + w / 2.0;
            x += w + LAYER_GAP;
            centre
        })
        .collect();
    part.spans = vec![Vec::new(); layer_count];
    let mut bottom = top;
    for v in vs {
        let (Some(s), Some(size), Some(rect)) = (spots.get(*v), sizes.get(*v), rects.get_mut(*v)) else {
            continue;
        };
        let centre = part.centres.get(s.layer).copied().unwrap_or(MARGIN);
        let y = top + (s.across - size.h / 2.0 - highest);
        *rect = Rect {
            x: centre - size.w / 2.0,
            y,
            w: size.w,
            h: size.h,
        };
        bottom = bottom.max(y + size.h);
        if let Some(spans) = part.spans.get_mut(s.layer) {
            spans.push((y, y + size.h));
        }
    }
    for spans in &mut part.spans {
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    (bottom, x - LAYER_GAP)
}

/// The path from box `a` to box `b` of one part: out of the side facing `b`,
/// along a gap through each layer between them, into the side facing `a`
fn route(part: &Part, (a, ra): (&Spot, &Rect), (b, rb): (&Spot, &Rect)) -> String {
    let right = b.layer >= a.layer;
    let side = |layer: usize, towards_right: bool| {
        let centre = part.centres.get(layer).copied().unwrap_or(0.0);
        let half = part.widths.get(layer).copied().unwrap_or(0.0) / 2.0;
        if towards_right {
            centre + half
        } else {
            centre - half
        }
    };
    let (y1, y2) = (ra.y + ra.h / 2.0, rb.y + rb.h / 2.0);
    if a.layer == b.layer {
        // Not made by the crate (an edge spans at least one layer); should it
        // happen, loop through the gap on the right rather than across boxes.
        let edge = side(a.layer, true);
        let out = edge + LAYER_GAP / 2.0;
        return format!(
            "M{} {} L{} {} C{} {} {} {} {} {} L{} {}",
            num(ra.x + ra.w),
            num(y1),
            num(edge),
            num(y1),
            num(out),
            num(y1),
            num(out),
            num(y2),
            num(edge),
            num(y2),
            num(rb.x + rb.w),
            num(y2)
        );
    }
    let start = if right { ra.x + ra.w } else { ra.x };
    let end = if right { rb.x } else { rb.x + rb.w };
    let mut d = format!("M{} {} L{} {}", num(start), num(y1), num(side(a.layer, right)), num(y1));
    let (mut x, mut y) = (side(a.layer, right), y1);
    let between: Vec<usize> = if right {
        (a.layer + 1..b.layer).collect()
    } else {
        (b.layer + 1..a.layer).rev().collect()
    };
    let steps = between.len() + 1;
    for (i, layer) in between.iter().enumerate() {
        let wanted = y1 + (y2 - y1) * (i + 1) as f64 / steps as f64;
        let through = gap(part.spans.get(*layer).map_or(&[][..], Vec::as_slice), wanted);
        let entry = side(*layer, !right);
        d += &curve((x, y), (entry, through));
        x = side(*layer, right);
        y = through;
        d += &format!(" L{} {}", num(x), num(y));
    }
    d += &curve((x, y), (side(b.layer, !right), y2));
    d + &format!(" L{} {}", num(end), num(y2))
}

/// The middle of the gap between boxes (or above or below them all) nearest
/// to `wanted`
fn gap(spans: &[(f64, f64)], wanted: f64) -> f64 {
    let mut best = spans.first().map_or(wanted, |s| s.0 - SPACING / 2.0);
    let mut consider = |y: f64| {
        if (y - wanted).abs() < (best - wanted).abs() {
            best = y;
        }
    };
    for pair in spans.windows(2) {
        if let [upper, lower] = pair {
            if lower.0 - upper.1 >= SPACING / 2.0 {
                consider((upper.1 + lower.0) / 2.0);
            }
        }
    }
    if let Some(last) = spans.last() {
        consider(last.1 + SPACING / 2.0);
    }
    best
}

fn curve((x1, y1): (f64, f64), (x2, y2): (f64, f64)) -> String {
    let mid = (x1 + x2) / 2.0;
    format!(
        " C{} {} {} {} {} {}",
        num(mid),
        num(y1),
        num(mid),
        num(y2),
        num(x2),
        num(y2)
    )
}

/// One decimal: enough for a screen, and the same bytes on every run
fn num(v: f64) -> String {
    let rounded = (v * 10.0).round() / 10.0;
    if rounded == 0.0 {
        "0".into()
    } else {
        format!("{rounded}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxes(n: usize) -> Vec<Size> {
        (0..n)
            .map(|i| Size {
                w: 60.0 + (i % 3) as f64 * 20.0,
                h: 26.0,
            })
            .collect()
    }

    fn link(from: usize, to: usize) -> Link {
        Link {
            from,
            to,
            label: Size { w: 50.0, h: 18.0 },
        }
    }

    fn overlap(a: &Rect, b: &Rect) -> bool {
        a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
    }

    fn sample() -> (Vec<Size>, Vec<Link>) {
        let links = vec![
            link(0, 1),
            link(0, 2),
            link(1, 3),
            link(2, 3),
            link(0, 3),
            link(3, 0),
            link(4, 5),
            link(1, 2),
        ];
        (boxes(7), links)
    }

    #[test]
    fn no_two_boxes_or_labels_overlap() {
        let (b, l) = sample();
        let placed = place(&b, &l);
        let all: Vec<Rect> = placed.boxes.iter().chain(&placed.labels).copied().collect();
        for (i, a) in all.iter().enumerate() {
            for c in all.iter().skip(i + 1) {
                assert!(!overlap(a, c), "{a:?} overlaps {c:?}");
            }
        }
        assert!(placed.paths.iter().all(|p| p.starts_with('M')));
    }

    #[test]
    fn the_same_graph_is_drawn_the_same_every_time() {
        let (b, l) = sample();
        let first = place(&b, &l);
        for _ in 0..20 {
            let again = place(&b, &l);
            assert_eq!(first.paths, again.paths);
            assert_eq!(first.boxes, again.boxes);
        }
    }

    #[test]
    fn a_link_to_no_box_is_not_drawn_and_does_not_panic() {
        let placed = place(&boxes(2), &[link(0, 7), link(0, 1)]);
        assert_eq!(placed.paths.len(), 1);
    }
}
