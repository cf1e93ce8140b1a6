//! Differences between relations, as the few products a reviewer reads:
//! `api/orders -> data/postgres tcp/5000-5431, 5433-6000`, with services and
//! namespaces by name, outside addresses as CIDRs, ports as ranges.

use crate::{
    services::{parts, Key, Services},
    sides::{Direction, SideSet, Sides},
    universe::{Class, ClassSet, Span, Universe},
};
use palisade_compiler::model::Connection;
use std::{collections::BTreeMap, fmt::Write as _, net::IpAddr};

/// Connections from every class of `from` to every class of `to` on `services`
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// sources
    pub from: ClassSet,
    /// destinations
    pub to: ClassSet,
    /// ports and requests
    pub services: Services,
}

impl Product {
    /// How many (source, destination) pairs it covers: broader first
    pub fn breadth(&self) -> u64 {
        self.from.len().saturating_mul(self.to.len())
    }

    /// One connection of the product (its first source, destination and
    /// service), for asking an evaluator which rules decide it
    pub fn sample<'m>(&self, universe: &Universe<'m>) -> Option<Connection<'m>> {
        let from = universe.endpoint(self.from.min()?)?;
        let to = universe.endpoint(self.to.min()?)?;
        let (protocol, port, request) = parts(self.services.intervals().first()?.0);
        Some(Connection {
            from,
            to,
            protocol,
            port,
            request: universe.request(request),
        })
    }
}

/// What passes on one side of `a` and not on the same side of `b`, as
/// products (the pod whose side it is at its end of the product); only the
/// classes of `peers` at the other end are compared
pub fn side_difference(
    a: &Sides,
    b: &Sides,
    direction: Direction,
    universe: &Universe,
    peers: &ClassSet,
) -> Vec<Product> {
    let all = universe.all();
    let mut found = Vec::new();
    for (class, (x, y)) in (0u32..).zip(a.of(direction).iter().zip(b.of(direction))) {
        if x == y {
            continue;
        }
        let only: SideSet = x.difference(y, all).restrict(peers, all);
        for (lo, hi, set) in only.entries() {
            let mut pod = ClassSet::new();
            pod.insert(class);
            let services = Services::from_intervals(vec![(lo, hi)]);
            found.push(match direction {
                Direction::Egress => Product {
                    from: pod,
                    to: set.clone(),
                    services,
                },
                Direction::Ingress => Product {
                    from: set.clone(),
                    to: pod,
                    services,
                },
            });
        }
    }
    group(found)
}

/// A product's sources and destinations, as sortable lists
type Ends = (Vec<u32>, Vec<u32>);

/// Products merged where they differ in one dimension only, broadest first
pub fn group(products: Vec<Product>) -> Vec<Product> {
    // same destinations and services: one product of all their sources
    let mut by_to: BTreeMap<(Vec<u32>, Services), ClassSet> = BTreeMap::new();
    for p in products {
        *by_to.entry((p.to.iter().collect(), p.services)).or_default() |= p.from;
    }
    // same ends: one product of all their services (gathered, then merged
    // once: a union per product was quadratic in a side of many intervals)
    let mut by_ends: BTreeMap<Ends, Vec<(Key, Key)>> = BTreeMap::new();
    for ((to, services), from) in by_to {
        by_ends
            .entry((from.iter().collect(), to))
            .or_default()
            .extend_from_slice(services.intervals());
    }
    let by_ends = by_ends
        .into_iter()
        .map(|(ends, intervals)| (ends, Services::from_intervals(intervals)));
    // same sources and services: one product of all their destinations
    let mut by_from: BTreeMap<(Vec<u32>, Services), ClassSet> = BTreeMap::new();
    for ((from, to), services) in by_ends {
        *by_from.entry((from, services)).or_default() |= to.into_iter().collect::<ClassSet>();
    }
    let mut out: Vec<Product> = by_from
        .into_iter()
        .map(|((from, services), to)| Product {
            from: from.into_iter().collect(),
            to,
            services,
        })
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.breadth()));
    out
}

/// How many names a list shows before it says how many more there are
const SHOWN: usize = 6;

/// A product in intent terms: `shop/frontend -> shop/backend tcp/8080`
pub fn describe(universe: &Universe, product: &Product) -> String {
    format!(
        "{} -> {} {}",
        classes(universe, &product.from),
        classes(universe, &product.to),
        services(universe, &product.services)
    )
}

/// A set of classes by name: `shop/*` for every pod of a namespace,
/// `shop/{a, b}`, outside names, outside addresses as CIDRs, `world`
pub fn classes(universe: &Universe, set: &ClassSet) -> String {
    let mut parts: Vec<String> = Vec::new();
    let pods = universe.pods();
    let outsides = universe.outsides();
    if pods.is_subset(set) && !pods.is_empty() {
        parts.push("any pod".into());
    } else {
        let mut by_namespace: BTreeMap<&str, Vec<Class>> = BTreeMap::new();
        for class in set.iter().filter(|&c| c < universe.pod_count()) {
            if let Some(pod) = universe.pod(class) {
                by_namespace.entry(pod.namespace.as_str()).or_default().push(class);
            }
        }
        let namespaces = by_namespace.len();
        for (shown, (namespace, members)) in by_namespace.into_iter().enumerate() {
            if shown == SHOWN {
                parts.push(format!("{} more namespaces", namespaces - SHOWN));
                break;
            }
            let whole = universe.pods_in(namespace);
            if whole.len() == u64::try_from(members.len()).unwrap_or(0) {
                parts.push(format!("{namespace}/*"));
                continue;
            }
            let names: Vec<String> = members.iter().filter_map(|&c| universe.pod(c)).map(pod_name).collect();
            parts.push(match names.as_slice() {
                [one] => format!("{namespace}/{one}"),
                many => format!("{namespace}/{{{}}}", shorten(many)),
            });
        }
    }
    let outside_part = set & &outsides;
    if !outside_part.is_empty() {
        let missing = &outsides - &outside_part;
        let left_out = (!missing.is_empty() && missing.len() < outside_part.len())
            .then(|| outside_text(universe, &missing))
            // "world except A except B" reads as nothing a reviewer can check
            .filter(|text| !text.contains(" except "));
        if missing.is_empty() {
            parts.push("world".into());
        } else if let Some(text) = left_out {
            // most of the outside: say what is left out
            parts.push(format!("world except {text}"));
        } else {
            parts.push(outside_text(universe, &outside_part));
        }
    }
    if parts.is_empty() {
        return "nothing".into();
    }
    parts.join(", ")
}

/// Outside classes by name and by the CIDRs of the address space they fill
fn outside_text(universe: &Universe, set: &ClassSet) -> String {
    let mut spans: Vec<Span> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for class in set.iter() {
        if let Some((outside, ext)) = universe.outside(class) {
            match &ext.fqdn {
                Some(name) => names.push(name_text(name)),
                None => spans.push(outside.span),
            }
        }
    }
    names.sort();
    names.dedup();
    let mut parts = Vec::new();
    if !names.is_empty() {
        parts.push(shorten(&names));
    }
    let inside: Vec<Span> = universe
        .model
        .pod_ranges
        .iter()
        .map(crate::universe::block_span)
        .collect();
    let blocks: Vec<String> = merge(spans, &inside).iter().map(span_text).collect();
    if !blocks.is_empty() {
        parts.push(shorten(&blocks));
    }
    parts.join(", ")
}

/// How an outside name reads: the names the model makes up to stand for a
/// pattern's matches (`sub.` or `probe.` before a suffix, `a.b.` for a
/// deeper name) or for names no rule speaks of (`not-` before a name,
/// `probe`) by what they stand for, never as names someone wrote
fn name_text(name: &str) -> String {
    if let Some(suffix) = name.strip_prefix("a.b.") {
        return format!("names below *.{suffix}");
    }
    if let Some(suffix) = name.strip_prefix("sub.").or_else(|| name.strip_prefix("probe.")) {
        return format!("*.{suffix}");
    }
    if name == "probe" || name.starts_with("not-") {
        return "other names".into();
    }
    name.to_string()
}

/// How a pod class is named: its service, or what it stands for
fn pod_name(pod: &palisade_compiler::model::Pod) -> String {
    if pod.labels.contains_key("palisade.dev/stranger") {
        return "(pods no intent names)".into();
    }
    if pod.labels.contains_key("palisade.dev/probe") || pod.name.starts_with("probe") || pod.name.starts_with("pods-") {
        let labels: Vec<String> = pod
            .labels
            .iter()
            .filter(|(k, _)| !k.starts_with("palisade.dev/"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        return format!("(pods with {})", labels.join(","));
    }
    pod.name.clone()
}

fn shorten(names: &[String]) -> String {
    if names.len() <= SHOWN {
        return names.join(", ");
    }
    let shown: Vec<&str> = names.iter().take(SHOWN).map(String::as_str).collect();
    format!("{}, and {} more", shown.join(", "), names.len() - SHOWN)
}

/// Neighbouring spans as one, also across the cluster's own ranges
/// (`inside`), where no outside address is: `0.0.0.0/0 except 10.30.0.0/24`
/// reads better than the pieces around the pod range
fn merge(mut spans: Vec<Span>, inside: &[Span]) -> Vec<Span> {
    spans.sort();
    let bridged = |from: u128, to: u128, v6: bool| {
        // the gap from..=to holds no outside address
        let mut at = from;
        while at <= to {
            match inside.iter().find(|r| r.v6 == v6 && r.first <= at && at <= r.last) {
                Some(range) => match range.last.checked_add(1) {
                    Some(next) => at = next,
                    None => return true,
                },
                None => return false,
            }
        }
        true
    };
    let mut out: Vec<Span> = Vec::new();
    for span in spans {
        match out.last_mut() {
            Some(last)
                if last.v6 == span.v6
                    && last
                        .last
                        .checked_add(1)
                        .is_some_and(|n| n >= span.first || bridged(n, span.first - 1, span.v6)) =>
            {
                last.last = last.last.max(span.last);
            }
            _ => out.push(span),
        }
    }
    out
}

/// A span as a reviewer reads it: its CIDRs, or, where fewer words say
/// it, the smallest block around it and the blocks it leaves out
/// (`10.30.0.0/16 except 10.30.0.0/24`), or past a few of either, its
/// first and last address (`10.0.0.0-169.254.169.253`)
fn span_text(span: &Span) -> String {
    let pieces = cidrs(span);
    if pieces.len() <= 2 {
        return pieces.join(", ");
    }
    let bits: u32 = if span.v6 { 128 } else { 32 };
    let differing = span.first ^ span.last;
    let size = (128 - differing.leading_zeros()).min(bits);
    let mask = if size >= 128 { u128::MAX } else { (1u128 << size) - 1 };
    let around = Span {
        v6: span.v6,
        first: span.first & !mask,
        last: span.first | mask,
    };
    let mut holes = Vec::new();
    if around.first < span.first {
        holes.extend(cidrs(&Span {
            last: span.first - 1,
            ..around
        }));
    }
    if span.last < around.last {
        holes.extend(cidrs(&Span {
            first: span.last + 1,
            ..around
        }));
    }
    let whole = cidrs(&around).join("");
    if holes.len() < pieces.len() && holes.len() <= 2 {
        format!("{whole} except {}", holes.join(", "))
    } else if pieces.len() <= 3 {
        pieces.join(", ")
    } else {
        // many CIDRs or many holes: the range reads in one look
        format!("{}-{}", address(span.v6, span.first), address(span.v6, span.last))
    }
}

fn address(v6: bool, at: u128) -> IpAddr {
    if v6 {
        IpAddr::from(std::net::Ipv6Addr::from(at))
    } else {
        IpAddr::from(std::net::Ipv4Addr::from(u32::try_from(at).unwrap_or(u32::MAX)))
    }
}

/// The fewest CIDRs that cover exactly a span
pub fn cidrs(span: &Span) -> Vec<String> {
    let bits: u32 = if span.v6 { 128 } else { 32 };
    let mut out = Vec::new();
    let mut at = span.first;
    loop {
        // the largest aligned block starting at `at` that ends within the span
        let mut size = if at == 0 { bits } else { at.trailing_zeros().min(bits) };
        while size > 0 {
            let end = if size >= 128 {
                u128::MAX
            } else {
                at | ((1u128 << size) - 1)
            };
            if end <= span.last {
                break;
            }
            size -= 1;
        }
        out.push(format!("{}/{}", address(span.v6, at), bits - size));
        let end = if size >= 128 {
            u128::MAX
        } else {
            at | ((1u128 << size) - 1)
        };
        if end >= span.last {
            break;
        }
        at = end + 1;
    }
    out
}

/// Ports as ranges per protocol, `all ports`, and where only some requests
/// of a port pass, those requests (`tcp/8080 GET /products/item`)
pub fn services(universe: &Universe, services: &Services) -> String {
    if *services == Services::all() {
        return "all ports".into();
    }
    let missing = Services::all().difference(services);
    if missing.intervals().len() < services.intervals().len() {
        return format!("all ports except {}", listed(universe, &missing));
    }
    listed(universe, services)
}

/// Services spelled out: ranges per protocol, then ports with some requests
fn listed(universe: &Universe, services: &Services) -> String {
    let mut whole: Vec<(palisade_intents::syntax::Protocol, u16, u16)> = Vec::new();
    let mut partial: BTreeMap<(palisade_intents::syntax::Protocol, u16), Vec<String>> = BTreeMap::new();
    for &(lo, hi) in services.intervals() {
        let (protocol, first, r_lo) = parts(lo);
        let (_, last, r_hi) = parts(hi);
        if r_lo == 0 && r_hi == u32::MAX {
            whole.push((protocol, first, last));
            continue;
        }
        // an interval with partial requests covers few ports: spell them out
        for port in first..=last {
            let from = if port == first { r_lo } else { 0 };
            let to = if port == last { r_hi } else { u32::MAX };
            let entry = partial.entry((protocol, port)).or_default();
            entry.extend(requests(universe, from, to));
            if port == u16::MAX {
                break;
            }
        }
    }
    let mut out = String::new();
    let mut last_protocol = None;
    for (protocol, first, last) in whole {
        if !out.is_empty() {
            out.push_str(", ");
        }
        if last_protocol != Some(protocol) {
            let _ = write!(out, "{}/", protocol.as_str());
            last_protocol = Some(protocol);
        }
        if first == 1 && last == u16::MAX {
            out.push_str("all");
        } else if first == last {
            let _ = write!(out, "{first}");
        } else {
            let _ = write!(out, "{first}-{last}");
        }
    }
    for ((protocol, port), mut what) in partial {
        // The connection itself goes with any request: it is named only alone
        if what.len() > 1 {
            what.retain(|w| w != CONNECTION_ONLY);
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        let _ = write!(out, "{}/{port} {}", protocol.as_str(), shorten(&what));
    }
    out
}

/// How a port's plain connection without any request is named
const CONNECTION_ONLY: &str = "(the connection, no request)";

/// Requests `from..=to` of one port by the patterns they stand for
fn requests(universe: &Universe, from: u32, to: u32) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let known = universe.request_count();
    for r in from.max(1)..=to.min(known) {
        if let Some(request) = universe.request(r) {
            names.push(request.stands_for.clone());
        }
    }
    if to > known {
        names.push("other requests".into());
    }
    if from == 0 {
        names.push(CONNECTION_ONLY.into());
    }
    names
}
