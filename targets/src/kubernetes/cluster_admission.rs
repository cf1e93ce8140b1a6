//! What the API server refuses in a ClusterNetworkPolicy: the v0.2.0 CRD's
//! schema (config/crd/{standard,experimental}/
//! policy.networking.k8s.io_clusternetworkpolicies.yaml, the same as
//! ../shared/schemas/network-policy-api) and its CEL rules, with unknown
//! fields refused as `kubectl --validate=strict` does. The CRD checks no
//! selector operators: those are evaluation problems (`cluster_problems`).
//! `nodes` and `domainNames` are admitted, as the experimental CRD they need
//! does; the standard one prunes them and then refuses the empty peer.

use super::{as_object, list, text, unknown, wrong_type, Problem};
use serde_json::{Map, Value};
use std::{collections::BTreeSet, sync::LazyLock};

/// Rules per direction, peers per rule, protocols per rule, CIDRs and
/// domain names per peer (`maxItems`)
const MAX_ITEMS: usize = 25;

/// `DomainName`'s pattern, as the CRD writes it (its `A-z` included)
static DOMAIN_NAME: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(
        r"^(\*\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$",
    )
    .ok()
});

/// Every field of the object the API server would refuse; empty: admitted
pub fn validate(object: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(spec) = object.get("spec").filter(|s| !s.is_null()) else {
        out.push(Problem::new(
            "/spec",
            "a ClusterNetworkPolicy needs `spec`",
            "write `spec: { tier: Admin, priority: <0-1000>, subject: {...} }`",
        ));
        return out;
    };
    let Some(fields) = as_object(spec, "/spec", "a mapping", &mut out) else {
        return out;
    };
    for required in ["tier", "priority", "subject"] {
        if present(fields, required).is_none() {
            out.push(Problem::new(
                "/spec",
                format!("`spec.{required}` is required"),
                "a ClusterNetworkPolicy names its `tier`, `priority` and `subject`",
            ));
        }
    }
    for (key, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
        let at = format!("/spec/{key}");
        match key.as_str() {
            "tier" => tier(value, &at, &mut out),
            "priority" => priority(value, &at, &mut out),
            "subject" => one_of(value, &at, &["namespaces", "pods"], "the subject", &mut out),
            "ingress" | "egress" => rules(value, &at, key == "ingress", &mut out),
            other => out.push(unknown(
                &at,
                other,
                &["tier", "priority", "subject", "ingress", "egress"],
            )),
        }
    }
    out
}

fn present<'v>(fields: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    fields.get(key).filter(|v| !v.is_null())
}

fn too_many(at: &str, what: &str, out: &mut Vec<Problem>) {
    out.push(Problem::new(
        at,
        format!("at most {MAX_ITEMS} {what}"),
        "split them over more rules or policies",
    ));
}

fn tier(value: &Value, at: &str, out: &mut Vec<Problem>) {
    if !matches!(value.as_str(), Some("Admin" | "Baseline")) {
        out.push(Problem::new(
            at,
            format!("`{}` is not a tier", text(value)),
            "write `Admin` or `Baseline` (case matters)",
        ));
    }
}

fn priority(value: &Value, at: &str, out: &mut Vec<Problem>) {
    if !value.as_i64().is_some_and(|p| (0..=1000).contains(&p)) {
        out.push(Problem::new(
            at,
            format!("`{}` is not a priority from 0 to 1000", text(value)),
            "write a whole number from 0 (first) to 1000 (last)",
        ));
    }
}

/// A union (`minProperties: 1, maxProperties: 1`) over `members`, each
/// member checked by its own shape
fn one_of(value: &Value, at: &str, members: &[&str], what: &str, out: &mut Vec<Problem>) {
    let Some(fields) = as_object(value, at, "a mapping", out) else {
        return;
    };
    let set: Vec<&str> = fields
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, _)| k.as_str())
        .collect();
    for key in &set {
        let here = format!("{at}/{key}");
        let Some(v) = fields.get(*key) else { continue };
        match *key {
            _ if !members.contains(key) => out.push(not_a_member(&here, key, members)),
            "namespaces" | "nodes" => selector(v, &here, out),
            "pods" => pods(v, &here, out),
            "networks" => networks(v, &here, out),
            _ => domain_names(v, &here, out),
        }
    }
    let known = set.iter().filter(|k| members.contains(k)).count();
    if known != 1 {
        let names: Vec<String> = members.iter().map(|m| format!("`{m}`")).collect();
        out.push(Problem::new(
            at,
            format!("{what} must set exactly one of {}", names.join(", ")),
            "write one member per list item; several items are ORed",
        ));
    }
}

fn not_a_member(at: &str, key: &str, members: &[&str]) -> Problem {
    if matches!(key, "networks" | "nodes" | "domainNames") {
        return Problem::new(
            at,
            format!("unknown field `{key}`"),
            "only egress peers name `networks`, `nodes` or `domainNames`; subjects and ingress peers are `namespaces` or `pods`",
        );
    }
    unknown(at, key, members)
}

fn pods(value: &Value, at: &str, out: &mut Vec<Problem>) {
    let Some(fields) = as_object(value, at, "a mapping", out) else {
        return;
    };
    if present(fields, "podSelector").is_none() {
        out.push(Problem::new(
            at,
            "`pods` needs `podSelector`",
            "write `podSelector: {}` to select every pod of the namespaces",
        ));
    }
    for (key, v) in fields.iter().filter(|(_, v)| !v.is_null()) {
        let here = format!("{at}/{key}");
        match key.as_str() {
            "namespaceSelector" | "podSelector" => selector(v, &here, out),
            other => out.push(unknown(&here, other, &["namespaceSelector", "podSelector"])),
        }
    }
}

/// A label selector as the CRD's schema has it: types and fields only
fn selector(value: &Value, at: &str, out: &mut Vec<Problem>) {
    let Some(fields) = as_object(value, at, "a label selector mapping (`{}` selects all)", out) else {
        return;
    };
    for (key, v) in fields.iter().filter(|(_, v)| !v.is_null()) {
        let here = format!("{at}/{key}");
        match key.as_str() {
            "matchLabels" => {
                for (label, value) in as_object(v, &here, "a mapping of labels", out).into_iter().flatten() {
                    if !value.is_string() {
                        out.push(wrong_type(&format!("{here}/{label}"), value, "a string (quote it)"));
                    }
                }
            }
            "matchExpressions" => {
                for (i, e) in list(v, &here, "a list of expressions", out).iter().enumerate() {
                    expression(e, &format!("{here}/{i}"), out);
                }
            }
            other => out.push(unknown(&here, other, &["matchLabels", "matchExpressions"])),
        }
    }
}

fn expression(e: &Value, at: &str, out: &mut Vec<Problem>) {
    let Some(fields) = as_object(e, at, "a mapping with `key`, `operator` and `values`", out) else {
        return;
    };
    for required in ["key", "operator"] {
        match present(fields, required) {
            Some(Value::String(_)) => {}
            Some(other) => out.push(wrong_type(&format!("{at}/{required}"), other, "a string")),
            None => out.push(Problem::new(
                at,
                format!("an expression needs `{required}`"),
                "write `key`, `operator` and, for In/NotIn, `values`",
            )),
        }
    }
    for (key, v) in fields
        .iter()
        .filter(|(k, v)| !v.is_null() && !matches!(k.as_str(), "key" | "operator"))
    {
        let here = format!("{at}/{key}");
        if key != "values" {
            out.push(unknown(&here, key, &["key", "operator", "values"]));
            continue;
        }
        for (i, value) in list(v, &here, "a list of strings", out).iter().enumerate() {
            if !value.is_string() {
                out.push(wrong_type(&format!("{here}/{i}"), value, "a string (quote it)"));
            }
        }
    }
}

/// `items` between 1 and [`MAX_ITEMS`] at `at`, or a problem
fn bounded<'v>(value: &'v Value, at: &str, what: &str, out: &mut Vec<Problem>) -> &'v [Value] {
    let items = list(value, at, &format!("a list of {what}"), out);
    if matches!(value, Value::Array(a) if a.is_empty()) {
        out.push(Problem::new(
            at,
            format!("the list of {what} is empty"),
            "write at least one item, or leave the field out",
        ));
    } else if items.len() > MAX_ITEMS {
        too_many(at, what, out);
    }
    items
}

/// A `listType: set` of strings: duplicates are refused
fn strings_set<'v>(items: &'v [Value], at: &str, out: &mut Vec<Problem>) -> Vec<(String, &'v str)> {
    let mut seen = BTreeSet::new();
    let mut strings = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let here = format!("{at}/{i}");
        match item.as_str() {
            Some(s) if !seen.insert(s) => out.push(Problem::new(
                here,
                format!("`{s}` is listed twice"),
                "the list is a set: write each item once",
            )),
            Some(s) => strings.push((here, s)),
            None => out.push(wrong_type(&here, item, "a string")),
        }
    }
    strings
}

fn networks(value: &Value, at: &str, out: &mut Vec<Problem>) {
    let items = bounded(value, at, "networks", out);
    for (here, cidr) in strings_set(items, at, out) {
        if cidr.len() > 43 {
            out.push(Problem::new(
                here,
                format!("`{cidr}` is longer than 43 characters"),
                "write a CIDR such as `10.0.0.0/8`",
            ));
        } else if cidr.parse::<ipnet::IpNet>().is_err() {
            // CEL `isCIDR(self)`: "Invalid CIDR format provided"
            out.push(Problem::new(
                here,
                format!("`{cidr}` is not a CIDR"),
                "write an address block with its prefix length, such as `10.0.0.0/8` or `2001:db8::/32`",
            ));
        }
    }
}

fn domain_names(value: &Value, at: &str, out: &mut Vec<Problem>) {
    let items = bounded(value, at, "domain names", out);
    for (here, name) in strings_set(items, at, out) {
        if !DOMAIN_NAME.as_ref().is_some_and(|re| re.is_match(name)) {
            out.push(Problem::new(
                here,
                format!("`{name}` is not a domain name"),
                "write a name of two labels or more (`api.example.com`), `*.` only as a prefix",
            ));
        }
    }
}

fn rules(value: &Value, at: &str, ingress: bool, out: &mut Vec<Problem>) {
    let items = list(value, at, "a list of rules", out);
    if items.len() > MAX_ITEMS {
        too_many(at, "rules per direction", out);
    }
    for (i, rule) in items.iter().enumerate() {
        one_rule(rule, &format!("{at}/{i}"), ingress, out);
    }
}

fn one_rule(rule: &Value, at: &str, ingress: bool, out: &mut Vec<Problem>) {
    let Some(fields) = as_object(rule, at, "a mapping", out) else {
        return;
    };
    let peers = if ingress { "from" } else { "to" };
    for required in ["action", peers] {
        if present(fields, required).is_none() {
            out.push(Problem::new(
                at,
                format!("a rule needs `{required}`"),
                format!("write `action: Accept|Deny|Pass` and `{peers}: [...]`"),
            ));
        }
    }
    let members: &[&str] = if ingress {
        &["namespaces", "pods"]
    } else {
        &["namespaces", "pods", "networks", "nodes", "domainNames"]
    };
    for (key, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
        let here = format!("{at}/{key}");
        match key.as_str() {
            "name" => match value.as_str() {
                Some(name) if name.chars().count() > 100 => out.push(Problem::new(
                    here,
                    "a rule name is at most 100 characters",
                    "shorten the name",
                )),
                Some(_) => {}
                None => out.push(wrong_type(&here, value, "a string")),
            },
            "action" if matches!(value.as_str(), Some("Accept" | "Deny" | "Pass")) => {}
            "action" => out.push(Problem::new(
                here,
                format!("`{}` is not an action", text(value)),
                "write `Accept`, `Deny` or `Pass` (v1alpha1's `Allow` is `Accept` now)",
            )),
            "protocols" => {
                for (i, entry) in bounded(value, &here, "protocols", out).iter().enumerate() {
                    protocol(entry, &format!("{here}/{i}"), out);
                }
            }
            k if k == peers => {
                for (i, peer) in bounded(value, &here, "peers", out).iter().enumerate() {
                    one_of(peer, &format!("{here}/{i}"), members, "a peer", out);
                }
            }
            other => out.push(unknown(&here, other, &["name", "action", peers, "protocols"])),
        }
    }
    if !ingress {
        named_ports_beside_addresses(fields, at, out);
    }
}

/// CEL on egress rules (experimental CRD): "networks/nodes/domainNames peer
/// cannot be set with namedPorts". `nodes` and `domainNames` exist only in
/// the experimental CRD, so with them the rule is refused on either
/// channel; with `networks` alone the standard CRD admits it (an
/// evaluation problem then).
fn named_ports_beside_addresses(fields: &Map<String, Value>, at: &str, out: &mut Vec<Problem>) {
    let experimental_peer = fields.get("to").and_then(Value::as_array).is_some_and(|peers| {
        peers
            .iter()
            .any(|p| p.get("nodes").is_some() || p.get("domainNames").is_some())
    });
    let named = fields
        .get("protocols")
        .and_then(Value::as_array)
        .and_then(|ps| ps.iter().position(|p| p.get("destinationNamedPort").is_some()));
    if let (true, Some(i)) = (experimental_peer, named) {
        out.push(Problem::new(
            format!("{at}/protocols/{i}"),
            "networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames",
            "write the port number, or put the pod peers in a rule of their own",
        ));
    }
}

fn protocol(entry: &Value, at: &str, out: &mut Vec<Problem>) {
    let members = ["tcp", "udp", "sctp", "destinationNamedPort"];
    let Some(fields) = as_object(entry, at, "a mapping", out) else {
        return;
    };
    let set: Vec<&String> = fields.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k).collect();
    for key in &set {
        let here = format!("{at}/{key}");
        let Some(value) = fields.get(key.as_str()) else {
            continue;
        };
        match key.as_str() {
            "tcp" | "udp" | "sctp" => transport(value, &here, key, out),
            "destinationNamedPort" if value.is_string() => {}
            "destinationNamedPort" => out.push(wrong_type(&here, value, "the name of a container port")),
            other => out.push(unknown(&here, other, &members)),
        }
    }
    if set.iter().filter(|k| members.contains(&k.as_str())).count() != 1 {
        out.push(Problem::new(
            at,
            "a protocol entry must set exactly one of `tcp`, `udp`, `sctp`, `destinationNamedPort`",
            "write one per list item, e.g. `- tcp: { destinationPort: { number: 80 } }`",
        ));
    }
}

/// `tcp`/`udp`/`sctp` (`minProperties: 1`): `tcp: {}` is refused
fn transport(value: &Value, at: &str, protocol: &str, out: &mut Vec<Problem>) {
    let Some(fields) = as_object(value, at, "a mapping with `destinationPort`", out) else {
        return;
    };
    let mut ports = None;
    for (key, v) in fields.iter().filter(|(_, v)| !v.is_null()) {
        if key == "destinationPort" {
            ports = Some(v);
        } else {
            out.push(unknown(&format!("{at}/{key}"), key, &["destinationPort"]));
        }
    }
    let Some(port) = ports else {
        out.push(Problem::new(
            at,
            format!("`{protocol}` needs `destinationPort`"),
            format!(
                "for every {} port write `{protocol}: {{ destinationPort: {{ range: {{ start: 1, end: 65535 }} }} }}`",
                protocol.to_ascii_uppercase()
            ),
        ));
        return;
    };
    destination_port(port, &format!("{at}/destinationPort"), out);
}

fn destination_port(value: &Value, at: &str, out: &mut Vec<Problem>) {
    let Some(fields) = as_object(value, at, "a mapping with `number` or `range`", out) else {
        return;
    };
    let set: Vec<&String> = fields.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k).collect();
    for key in &set {
        let here = format!("{at}/{key}");
        let Some(v) = fields.get(key.as_str()) else { continue };
        match key.as_str() {
            "number" => {
                port_number(v, &here, out);
            }
            "range" => range(v, &here, out),
            other => out.push(unknown(&here, other, &["number", "range"])),
        }
    }
    if set.iter().filter(|k| matches!(k.as_str(), "number" | "range")).count() != 1 {
        out.push(Problem::new(
            at,
            "`destinationPort` must set exactly one of `number` and `range`",
            "write `number: 80` or `range: { start: 8000, end: 8080 }`",
        ));
    }
}

fn port_number(value: &Value, at: &str, out: &mut Vec<Problem>) -> Option<i64> {
    let n = value.as_i64().filter(|n| (1..=65535).contains(n));
    if n.is_none() {
        out.push(Problem::new(
            at,
            format!("`{}` is not a port from 1 to 65535", text(value)),
            "write a port number from 1 to 65535",
        ));
    }
    n
}

fn range(value: &Value, at: &str, out: &mut Vec<Problem>) {
    let Some(fields) = as_object(value, at, "a mapping with `start` and `end`", out) else {
        return;
    };
    let bound = |key: &str, out: &mut Vec<Problem>| match present(fields, key) {
        Some(v) => port_number(v, &format!("{at}/{key}"), out),
        None => {
            out.push(Problem::new(
                at,
                format!("a range needs `{key}`"),
                "write `start` and `end`",
            ));
            None
        }
    };
    let (start, end) = (bound("start", out), bound("end", out));
    for key in fields.keys().filter(|k| !matches!(k.as_str(), "start" | "end")) {
        out.push(unknown(&format!("{at}/{key}"), key, &["start", "end"]));
    }
    // CEL `self.start < self.end`: strict, so one port is a `number`
    if let (Some(start), Some(end)) = (start, end) {
        if start >= end {
            out.push(Problem::new(
                at,
                format!("Start port must be less than End port (`{start}` to `{end}`)"),
                "write `number: <port>` for one port, or a range whose start is below its end",
            ));
        }
    }
}
