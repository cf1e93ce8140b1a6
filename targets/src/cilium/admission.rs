//! CiliumNetworkPolicy admission: the rules Cilium's agent applies to a
//! policy that its CRD schema does not carry (`Sanitize()` in Cilium's
//! pkg/policy/api/rule_validation.go, fqdn.go, http.go and
//! pkg/fqdn/matchpattern). The API server stores a policy that breaks one,
//! and the agent then refuses the whole policy: it enforces nothing of it,
//! and `kubectl get cnp` shows it as not valid. The emitter is held to these
//! rules by a test over every manifest it renders; lint reports them on
//! hand-written policies.
//!
//! Modelled with Cilium's defaults (L7 proxy on, ICMP rules on, node
//! selector labels off). Rules that need more than the object (a CIDR group
//! that exists, a secret that exists) are not checked.

use crate::lint::{Check, Severity};
use ipnet::IpNet;
use serde_json::Value;
use std::net::IpAddr;

/// The lint check that reports these refusals
pub const CILIUM_REFUSES: Check = Check {
    id: "PAL011",
    name: "cilium-refuses",
    severity: Severity::Error,
    summary: "Cilium's agent refuses the whole CiliumNetworkPolicy (a rule its CRD schema does not carry): none of it is enforced",
};

/// One admission rule the object breaks
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// JSON pointer to the offending field
    pub pointer: String,
    /// the Cilium function that refuses it, and its rule
    pub rule: &'static str,
    /// what is wrong here
    pub message: String,
}

/// `pkg/policy/api/rule_validation.go`: `maxPorts`, the most ports one
/// `toPorts` entry may list
pub const MAX_PORTS: usize = 40;

/// `maxICMPFields`, the most ICMP fields of one `icmps` entry
const MAX_ICMP_FIELDS: usize = 40;

/// The entities `EntitySelectorMapping` knows (pkg/policy/api/entity.go)
const ENTITIES: &[&str] = &[
    "all",
    "world",
    "world-ipv4",
    "world-ipv6",
    "cluster",
    "host",
    "init",
    "ingress",
    "unmanaged",
    "remote-node",
    "health",
    "none",
    "kube-apiserver",
];

/// Every admission rule a CiliumNetworkPolicy (or clusterwide policy) breaks;
/// empty for any other kind
pub fn refusals(object: &Value) -> Vec<Refusal> {
    let kind = object["kind"].as_str().unwrap_or("");
    if object["apiVersion"] != "cilium.io/v2"
        || !matches!(kind, "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy")
    {
        return Vec::new();
    }
    let mut out = Refusals(Vec::new());
    let spec = object.get("spec").filter(|s| !s.is_null());
    let specs = object.get("specs").and_then(Value::as_array);
    if spec.is_none() && specs.is_none() {
        out.push(
            "",
            "pkg/k8s/apis/cilium.io/v2 Parse: ErrEmptyCNP",
            "the policy has neither `spec` nor `specs`: \"Invalid CiliumNetworkPolicy spec(s): empty policy\"",
        );
    }
    if let Some(spec) = spec {
        rule(&mut out, "/spec", spec);
    }
    for (i, spec) in specs.into_iter().flatten().enumerate() {
        rule(&mut out, &format!("/specs/{i}"), spec);
    }
    out.0
}

struct Refusals(Vec<Refusal>);

impl Refusals {
    fn push(&mut self, pointer: &str, rule: &'static str, message: impl Into<String>) {
        self.0.push(Refusal {
            pointer: pointer.to_string(),
            rule,
            message: message.into(),
        });
    }
}

fn items<'v>(value: &'v Value, key: &str) -> impl Iterator<Item = (usize, &'v Value)> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

fn count(value: &Value, key: &str) -> usize {
    value.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

/// Present and not null: Go's `!= nil` on what the JSON decoder filled in
fn present(value: &Value, key: &str) -> bool {
    value.get(key).is_some_and(|v| !v.is_null())
}

/// `Rule.Sanitize`
fn rule(out: &mut Refusals, at: &str, spec: &Value) {
    let endpoint = present(spec, "endpointSelector");
    let node = present(spec, "nodeSelector");
    if !endpoint && !node {
        out.push(
            at,
            "rule_validation.go Rule.Sanitize",
            "rule must have one of EndpointSelector or NodeSelector",
        );
    }
    if endpoint && node {
        out.push(
            at,
            "rule_validation.go Rule.Sanitize",
            "rule cannot have both EndpointSelector and NodeSelector",
        );
    }
    for key in ["endpointSelector", "nodeSelector"] {
        if let Some(selector) = spec.get(key).filter(|s| !s.is_null()) {
            label_selector(out, &format!("{at}/{key}"), selector);
        }
    }
    for (direction, ingress) in [
        ("ingress", true),
        ("ingressDeny", true),
        ("egress", false),
        ("egressDeny", false),
    ] {
        for (i, r) in items(spec, direction) {
            let at = format!("{at}/{direction}/{i}");
            peer_rule(out, &at, r, ingress);
            if node && l7_count(r) > 0 {
                out.push(
                    &at,
                    "rule_validation.go Rule.Sanitize",
                    "host policies do not support L7 rules yet",
                );
            }
        }
    }
}

/// `countL7Rules`: DNS, HTTP and Kafka rules of every `toPorts` entry
fn l7_count(r: &Value) -> usize {
    items(r, "toPorts")
        .map(|(_, p)| {
            ["dns", "http", "kafka"]
                .iter()
                .map(|k| count(&p["rules"], k))
                .sum::<usize>()
        })
        .sum()
}

/// `IngressRule.sanitize` and `EgressRule.sanitize` (the deny variants are
/// sanitized alike)
fn peer_rule(out: &mut Refusals, at: &str, r: &Value, ingress: bool) {
    const WHERE: &str = "rule_validation.go IngressRule/EgressRule.sanitize";
    let l3: &[&str] = if ingress {
        &[
            "fromEndpoints",
            "fromCIDR",
            "fromCIDRSet",
            "fromEntities",
            "fromNodes",
            "fromGroups",
        ]
    } else {
        &[
            "toCIDR",
            "toCIDRSet",
            "toEndpoints",
            "toEntities",
            "toServices",
            "toFQDNs",
            "toGroups",
            "toNodes",
        ]
    };
    let used: Vec<&str> = l3.iter().copied().filter(|k| count(r, k) > 0).collect();
    if let [first, second, ..] = used.as_slice() {
        out.push(
            at,
            WHERE,
            format!("Combining {first} and {second} is not supported yet: one peer kind per rule"),
        );
    }
    if !ingress && count(r, "toServices") > 0 && count(r, "toPorts") > 0 {
        out.push(at, WHERE, "Combining ToServices and ToPorts is not supported yet");
    }
    let dns_rules = items(r, "toPorts").any(|(_, p)| count(&p["rules"], "dns") > 0);
    if ingress && dns_rules {
        out.push(at, WHERE, "L7 protocol DNS is not supported on ingress yet");
    }
    if count(r, "icmps") > 0 && count(r, "toPorts") > 0 {
        out.push(
            at,
            WHERE,
            "The ICMPs block may only be present without ToPorts. Define a separate rule to use ToPorts.",
        );
    }
    for key in ["fromNodes", "toNodes"] {
        if count(r, key) > 0 {
            out.push(
                &format!("{at}/{key}"),
                WHERE,
                format!("{key} rules can only be applied when the \"enable-node-selector-labels\" flag is set (off by default)"),
            );
        }
    }
    for key in [
        "fromEndpoints",
        "toEndpoints",
        "fromRequires",
        "toRequires",
        "fromNodes",
        "toNodes",
    ] {
        for (i, selector) in items(r, key) {
            label_selector(out, &format!("{at}/{key}/{i}"), selector);
        }
    }
    for (i, p) in items(r, "toPorts") {
        port_rule(out, &format!("{at}/toPorts/{i}"), p, ingress);
    }
    for (i, icmp) in items(r, "icmps") {
        let at = format!("{at}/icmps/{i}");
        if count(icmp, "fields") > MAX_ICMP_FIELDS {
            out.push(
                &at,
                "rule_validation.go ICMPRule.verify",
                format!("too many types, the max is {MAX_ICMP_FIELDS}"),
            );
        }
        for (j, field) in items(icmp, "fields") {
            let family = field["family"].as_str().unwrap_or("");
            if !matches!(family, "" | "IPv4" | "IPv6") {
                out.push(
                    &format!("{at}/fields/{j}/family"),
                    "rule_validation.go ICMPRule.verify",
                    format!("wrong family: {family}"),
                );
            }
        }
    }
    for key in ["fromCIDR", "toCIDR"] {
        for (i, cidr) in items(r, key) {
            let text = cidr.as_str().unwrap_or("");
            if text.parse::<IpNet>().is_err() && text.parse::<IpAddr>().is_err() {
                out.push(
                    &format!("{at}/{key}/{i}"),
                    "rule_validation.go CIDR.sanitize",
                    format!("unable to parse CIDR `{text}`"),
                );
            }
        }
    }
    for key in ["fromCIDRSet", "toCIDRSet"] {
        for (i, set) in items(r, key) {
            cidr_rule(out, &format!("{at}/{key}/{i}"), set);
        }
    }
    for key in ["fromEntities", "toEntities"] {
        for (i, entity) in items(r, key) {
            let name = entity.as_str().unwrap_or("");
            if !ENTITIES.contains(&name) {
                out.push(&format!("{at}/{key}/{i}"), WHERE, format!("unsupported entity: {name}"));
            }
        }
    }
    for (i, fqdn) in items(r, "toFQDNs") {
        fqdn_selector(out, &format!("{at}/toFQDNs/{i}"), fqdn, true);
    }
}

/// `CIDRRule.sanitize`: the cidr is `address/length`, and every except lies
/// inside it (the same family; Cilium checks the except's address)
fn cidr_rule(out: &mut Refusals, at: &str, set: &Value) {
    const WHERE: &str = "rule_validation.go CIDRRule.sanitize";
    if set
        .get("cidrGroupRef")
        .and_then(Value::as_str)
        .is_some_and(|r| !r.is_empty())
    {
        return;
    }
    let text = set["cidr"].as_str().unwrap_or("");
    let Ok(net) = text.parse::<IpNet>() else {
        out.push(
            &format!("{at}/cidr"),
            WHERE,
            format!("Unable to parse CIDRRule `{text}`: an address/length is needed"),
        );
        return;
    };
    for (i, except) in items(set, "except") {
        let text = except.as_str().unwrap_or("");
        match text.parse::<IpNet>() {
            Ok(e) if net.contains(&e.addr()) => {}
            Ok(_) => out.push(
                &format!("{at}/except/{i}"),
                WHERE,
                format!("allow CIDR prefix {net} does not contain exclude CIDR prefix {text}"),
            ),
            Err(_) => out.push(
                &format!("{at}/except/{i}"),
                WHERE,
                format!("`{text}` is not an address/length"),
            ),
        }
    }
}

/// `PortRule.sanitize`, `PortProtocol.sanitize` and `L7Rules.sanitize`
fn port_rule(out: &mut Refusals, at: &str, p: &Value, ingress: bool) {
    const WHERE: &str = "rule_validation.go PortRule.sanitize";
    let rules = p.get("rules").filter(|r| !r.is_null());
    let types: Vec<&str> = ["http", "kafka", "dns"]
        .into_iter()
        .filter(|k| rules.is_some_and(|r| present(r, k)))
        .chain(
            rules
                .and_then(|r| r["l7proto"].as_str())
                .filter(|s| !s.is_empty())
                .map(|_| "l7proto"),
        )
        .collect();
    let has_l7 = !types.is_empty() || rules.is_some_and(|r| present(r, "l7"));
    let dns = rules.is_some_and(|r| count(r, "dns") > 0);
    if ingress && dns {
        out.push(at, WHERE, "DNS rules are not allowed on ingress");
    }
    let server_names = items(p, "serverNames").count();
    if server_names > 0 && has_l7 && !present(p, "terminatingTLS") {
        out.push(
            at,
            WHERE,
            "ServerNames are not allowed with L7 rules without TLS termination",
        );
    }
    for (i, name) in items(p, "serverNames") {
        if name.as_str().is_none_or(str::is_empty) {
            out.push(
                &format!("{at}/serverNames/{i}"),
                WHERE,
                "Empty server name is not allowed",
            );
        }
    }
    let ports = count(p, "ports");
    if ports > MAX_PORTS {
        out.push(
            &format!("{at}/ports"),
            WHERE,
            format!("too many ports, the max is {MAX_PORTS} (this entry lists {ports})"),
        );
    }
    let mut zero = false;
    for (i, port) in items(p, "ports") {
        let at = format!("{at}/ports/{i}");
        let text = match &port["port"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        let number = if text.is_empty() {
            out.push(
                &at,
                "rule_validation.go PortProtocol.sanitize",
                "Port must be specified",
            );
            None
        } else if is_svc_name(&text) {
            None
        } else {
            match go_parse_u16(&text) {
                Some(n) => Some(n),
                None => {
                    out.push(
                        &at,
                        "rule_validation.go PortProtocol.sanitize",
                        format!("Unable to parse port `{text}`"),
                    );
                    None
                }
            }
        };
        zero |= number == Some(0);
        let end = port["endPort"].as_i64().unwrap_or(0);
        if let Some(n) = number.filter(|n| dns && end > i64::from(*n)) {
            out.push(
                &format!("{at}/endPort"),
                "rule_validation.go PortProtocol.sanitize",
                format!("DNS rules do not support port ranges ({n}-{end})"),
            );
        }
        // ParseL4Proto: upper-cased; empty is ANY
        let protocol = port["protocol"].as_str().unwrap_or("").to_ascii_uppercase();
        let protocol = if protocol.is_empty() {
            "ANY".to_string()
        } else {
            protocol
        };
        if !matches!(
            protocol.as_str(),
            "TCP" | "UDP" | "SCTP" | "ICMP" | "ICMPV6" | "VRRP" | "IGMP" | "ANY"
        ) {
            out.push(
                &format!("{at}/protocol"),
                "l4.go ParseL4Proto",
                format!("unknown protocol `{protocol}`"),
            );
        }
        if has_l7 && !dns && protocol != "TCP" {
            out.push(
                &format!("{at}/protocol"),
                WHERE,
                format!("L7 rules can only apply to TCP (not {protocol}) except for DNS rules"),
            );
        }
    }
    if let Some(listener) = p.get("listener").filter(|l| !l.is_null()) {
        let name = listener["name"].as_str().unwrap_or("");
        if ingress {
            out.push(
                &format!("{at}/listener"),
                WHERE,
                format!("Listener is not allowed on ingress ({name})"),
            );
        }
        if has_l7 {
            out.push(
                &format!("{at}/listener"),
                WHERE,
                format!("Listener is not allowed with L7 rules ({name})"),
            );
        }
    }
    let Some(rules) = rules.filter(|_| has_l7) else { return };
    let at_rules = format!("{at}/rules");
    if zero {
        out.push(&at_rules, WHERE, "L7 rules can not be used when a port is 0");
    }
    if types.len() > 1 {
        out.push(
            &at_rules,
            "rule_validation.go L7Rules.sanitize",
            "multiple L7 protocol rule types specified in single rule",
        );
    }
    if present(rules, "l7") && !types.contains(&"l7proto") {
        out.push(
            &at_rules,
            "rule_validation.go L7Rules.sanitize",
            "'l7' may only be specified when a 'l7proto' is also specified",
        );
    }
    if present(rules, "dns") && ports == 0 {
        out.push(
            &at_rules,
            "rule_validation.go L7Rules.sanitize",
            "Port 53 must be specified for DNS rules",
        );
    }
    for (i, http) in items(rules, "http") {
        http_rule(out, &format!("{at_rules}/http/{i}"), http);
    }
    for (i, dns) in items(rules, "dns") {
        fqdn_selector(out, &format!("{at_rules}/dns/{i}"), dns, false);
    }
}

/// `PortRuleHTTP.Sanitize`: path and method are regular expressions; header
/// matches name their header and a known mismatch action
fn http_rule(out: &mut Refusals, at: &str, rule: &Value) {
    const WHERE: &str = "http.go PortRuleHTTP.Sanitize";
    for key in ["path", "method"] {
        if let Some(text) = rule[key].as_str().filter(|t| !t.is_empty() && !is_literal_regex(t)) {
            if let Err(e) = regex::Regex::new(text) {
                out.push(
                    &format!("{at}/{key}"),
                    WHERE,
                    format!("`{text}` is not a regular expression: {e}"),
                );
            }
        }
    }
    for (i, m) in items(rule, "headerMatches") {
        let at = format!("{at}/headerMatches/{i}");
        if m["name"].as_str().is_none_or(str::is_empty) {
            out.push(&at, WHERE, "Header name missing");
        }
        let mismatch = m["mismatch"].as_str().unwrap_or("");
        if !matches!(mismatch, "" | "LOG" | "ADD" | "DELETE" | "REPLACE") {
            out.push(
                &format!("{at}/mismatch"),
                WHERE,
                format!("Invalid header action: {mismatch}"),
            );
        }
        if present(m, "secret") && m["secret"]["name"].as_str().is_none_or(str::is_empty) {
            out.push(&format!("{at}/secret"), WHERE, "Secret name missing");
        }
    }
}

/// A regular expression of literal characters, escaped specials and `.*`
/// (what palisade writes): valid without building it, which a large compile
/// cannot afford for every HTTP rule
fn is_literal_regex(text: &str) -> bool {
    const SPECIAL: &str = "\\.+*?()|[]{}^$";
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if !chars.next().is_some_and(|e| SPECIAL.contains(e)) => return false,
            '\\' => {}
            '.' if chars.peek() == Some(&'*') => {
                chars.next();
            }
            c if SPECIAL.contains(c) => return false,
            _ => {}
        }
    }
    true
}

/// `FQDNSelector.sanitize` (`toFQDNs`) and `PortRuleDNS.Sanitize` (DNS
/// rules): `matchName` of DNS characters, `matchPattern` of DNS characters
/// and `*` (matchpattern.Validate), not both in one selector
fn fqdn_selector(out: &mut Refusals, at: &str, selector: &Value, to_fqdns: bool) {
    const WHERE: &str = "fqdn.go FQDNSelector.sanitize / PortRuleDNS.Sanitize";
    let name = selector["matchName"].as_str().unwrap_or("");
    let pattern = selector["matchPattern"].as_str().unwrap_or("");
    if to_fqdns && !name.is_empty() && !pattern.is_empty() {
        out.push(
            at,
            WHERE,
            "only one of MatchName or MatchPattern is allowed in an FQDNSelector",
        );
    }
    let dns_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !name.is_empty() && !name.chars().all(dns_char) {
        out.push(
            &format!("{at}/matchName"),
            WHERE,
            format!(
                "Invalid characters in MatchName: \"{name}\". Only 0-9, a-z, A-Z and . and - characters are allowed"
            ),
        );
    }
    if !pattern.is_empty() && !pattern.chars().all(|c| dns_char(c) || c == '*') {
        out.push(
            &format!("{at}/matchPattern"),
            WHERE,
            format!("Invalid characters in MatchPattern: \"{pattern}\". Only 0-9, a-z, A-Z and ., - and * characters are allowed"),
        );
    }
}

/// `EndpointSelector.sanitize`: a valid Kubernetes label selector once
/// Cilium's source prefix (`k8s:`, `any:`, `reserved:`, ...) is taken off
fn label_selector(out: &mut Refusals, at: &str, selector: &Value) {
    const WHERE: &str = "selector.go EndpointSelector.sanitize (ValidateLabelSelector)";
    for (key, value) in selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let at = format!("{at}/matchLabels/{}", escape(key));
        if !is_label_key(key) {
            out.push(&at, WHERE, format!("`{key}` is not a valid label key"));
        }
        if !value.as_str().is_some_and(palisade_intents::names::is_label_value) {
            out.push(&at, WHERE, format!("`{value}` is not a valid label value"));
        }
    }
    for (i, e) in items(selector, "matchExpressions") {
        let at = format!("{at}/matchExpressions/{i}");
        let key = e["key"].as_str().unwrap_or("");
        if !is_label_key(key) {
            out.push(&format!("{at}/key"), WHERE, format!("`{key}` is not a valid label key"));
        }
        let values = e.get("values").and_then(Value::as_array);
        let n = values.map_or(0, Vec::len);
        match e["operator"].as_str().unwrap_or("") {
            "In" | "NotIn" if n == 0 => out.push(
                &at,
                WHERE,
                "values: must be specified when `operator` is 'In' or 'NotIn'",
            ),
            "Exists" | "DoesNotExist" if n > 0 => {
                out.push(
                    &at,
                    WHERE,
                    "values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                );
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => out.push(
                &format!("{at}/operator"),
                WHERE,
                format!("not a valid selector operator: `{other}`"),
            ),
        }
        for (j, v) in values.into_iter().flatten().enumerate() {
            if !v.as_str().is_some_and(palisade_intents::names::is_label_value) {
                out.push(
                    &format!("{at}/values/{j}"),
                    WHERE,
                    format!("`{v}` is not a valid label value"),
                );
            }
        }
    }
}

/// A JSON pointer segment (RFC 6901)
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A label key: an optional Cilium source (`k8s:`), then a Kubernetes
/// qualified name
fn is_label_key(key: &str) -> bool {
    let key = match key.split_once(':') {
        Some((source, rest))
            if !source.is_empty()
                && source
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') =>
        {
            rest
        }
        _ => key,
    };
    palisade_intents::names::is_label_key(key)
}

/// `iana.IsSvcName`: 1 to 15 letters, digits and single inner `-`, at least one letter
fn is_svc_name(text: &str) -> bool {
    (1..=15).contains(&text.len())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && text.chars().any(|c| c.is_ascii_alphabetic())
        && !text.starts_with('-')
        && !text.ends_with('-')
        && !text.contains("--")
}

/// Go's `strconv.ParseUint(text, 0, 16)` (a `0x`, `0o`, `0b` or `0` prefix
/// picks the base)
fn go_parse_u16(text: &str) -> Option<u16> {
    let lower = text.to_ascii_lowercase();
    let (digits, radix) = if let Some(rest) = lower.strip_prefix("0x") {
        (rest, 16)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (rest, 8)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (rest, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u16::from_str_radix(digits, radix).ok()
}

/// A CiliumNetworkPolicy around a spec, for the tests' hand-written policies
#[cfg(test)]
fn policy(spec: Value) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("apiVersion".into(), "cilium.io/v2".into());
    object.insert("kind".into(), "CiliumNetworkPolicy".into());
    object.insert(
        "metadata".into(),
        serde_json::json!({ "name": "p", "namespace": "shop" }),
    );
    object.insert("spec".into(), spec);
    Value::Object(object)
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
