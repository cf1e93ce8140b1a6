//! Conformance of the NetworkPolicy evaluator with the semantics the
//! Kubernetes documentation gives (concepts/services-networking/network-policies)
//! and with the truth tables of the upstream e2e suite
//! (kubernetes test/e2e/network/netpol/network_policy.go, cited by case name):
//! each case is a set of policies on a 3×3 cluster (namespaces x, y, z; pods
//! a, b, c, serving 80 and 81 on TCP, UDP and SCTP as the e2e pods do) and the
//! expected verdict for every ordered pair of endpoints.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use palisade_compiler::model::{ClusterModel, CniProfile, Connection, Endpoint, External};
use palisade_intents::syntax::Protocol;
use palisade_targets::{dialect, Manifest};
use serde_json::Value;

fn cluster() -> ClusterModel {
    cluster_with("")
}

/// The 3×3 cluster plus more pods (YAML list items)
fn cluster_with(extra: &str) -> ClusterModel {
    let mut yaml = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for (i, ns) in ["x", "y", "z"].iter().enumerate() {
        yaml.push_str(&format!(
            "- {{ apiVersion: v1, kind: Namespace, metadata: {{ name: {ns}, labels: {{ ns: {ns} }} }} }}\n"
        ));
        for (j, pod) in ["a", "b", "c"].iter().enumerate() {
            yaml.push_str(&format!(
                "- apiVersion: v1\n  kind: Pod\n  metadata: {{ name: {pod}, namespace: {ns}, labels: {{ pod: {pod} }} }}\n  spec:\n    containers:\n    - name: c\n      ports: [{E2E_PORTS}]\n  status: {{ podIP: 10.0.{i}.{j} }}\n"
            ));
        }
    }
    yaml.push_str(extra);
    let mut model = palisade_compiler::cluster::from_yaml("cluster.yaml", &yaml).unwrap();
    model.externals.push(External {
        ip: "192.168.1.5".parse().unwrap(),
        fqdn: None,
        kube_apiserver: false,
    });
    model.externals.push(External {
        ip: "192.168.2.5".parse().unwrap(),
        fqdn: None,
        kube_apiserver: false,
    });
    model
}

/// The container ports of the e2e pods: `serve-<port>-<protocol>` for 80 and
/// 81 on each protocol
const E2E_PORTS: &str = "{ name: serve-80-tcp, containerPort: 80 }, { name: serve-81-tcp, containerPort: 81 }, { name: serve-80-udp, containerPort: 80, protocol: UDP }, { name: serve-81-udp, containerPort: 81, protocol: UDP }, { name: serve-80-sctp, containerPort: 80, protocol: SCTP }, { name: serve-81-sctp, containerPort: 81, protocol: SCTP }";

fn policies(yaml: &str) -> Vec<Manifest> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| Manifest::new(<Value as serde::Deserialize>::deserialize(d).unwrap()))
        .filter(|m| !m.object.is_null())
        .collect()
}

/// Check every ordered pair of pods (and both outside addresses, both ways)
/// against `expected(from, to)`, where each end is `ns/pod` or an address
fn check(name: &str, yaml: &str, protocol: Protocol, port: u16, expected: impl Fn(&str, &str) -> bool) {
    check_on(&cluster(), name, yaml, protocol, port, expected);
}

fn check_on(
    model: &ClusterModel,
    name: &str,
    yaml: &str,
    protocol: Protocol,
    port: u16,
    expected: impl Fn(&str, &str) -> bool,
) {
    let model = model.clone();
    let manifests = policies(yaml);
    let k8s = dialect("kubernetes").unwrap();
    let evaluator = k8s.evaluator(&manifests);
    let ends: Vec<Endpoint> = model.endpoints().collect();
    let mut wrong = Vec::new();
    for from in &ends {
        for to in &ends {
            if matches!((from, to), (Endpoint::External(_), Endpoint::External(_))) {
                continue;
            }
            let id = |e: &Endpoint| match e {
                Endpoint::Pod(p) => p.id(),
                Endpoint::External(x) => x.ip.to_string(),
            };
            let conn = Connection {
                from: *from,
                to: *to,
                protocol,
                port,
                request: None,
            };
            let got = evaluator.evaluate(&model, &conn).allowed;
            if got != expected(&id(from), &id(to)) {
                wrong.push(format!("{} -> {}: got {got}", id(from), id(to)));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{name}: {} pairs wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

const HEAD: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:";

#[test]
fn without_policies_everything_is_allowed() {
    check("no policies", "", Protocol::Tcp, 80, |_, _| true);
}

#[test]
fn a_policy_isolates_the_pods_it_selects_in_its_directions_only() {
    let deny_ingress =
        format!("{HEAD} {{ name: deny, namespace: x }}\nspec: {{ podSelector: {{}}, policyTypes: [Ingress] }}\n");
    check("deny all ingress in x", &deny_ingress, Protocol::Tcp, 80, |_, to| {
        !to.starts_with("x/")
    });
    let deny_egress = format!("{HEAD} {{ name: deny, namespace: x }}\nspec: {{ podSelector: {{ matchLabels: {{ pod: a }} }}, policyTypes: [Egress] }}\n");
    check("deny egress of x/a", &deny_egress, Protocol::Tcp, 80, |from, _| {
        from != "x/a"
    });
}

#[test]
fn policy_types_default_to_ingress_plus_egress_when_there_are_egress_rules() {
    // pkg/apis/networking/v1/defaults.go, SetDefaults_NetworkPolicy: absent or
    // empty policyTypes become [Ingress], plus Egress when len(spec.egress) != 0.
    let ingress_only = format!("{HEAD} {{ name: p, namespace: x }}\nspec:\n  podSelector: {{}}\n  ingress: [{{ from: [{{ podSelector: {{ matchLabels: {{ pod: b }} }} }}] }}]\n");
    check(
        "no policyTypes, ingress rules",
        &ingress_only,
        Protocol::Tcp,
        80,
        |from, to| !to.starts_with("x/") || from == "x/b",
    );
    // `egress: []` is an egress section with no rule: the API server stores
    // policyTypes [Ingress] for it, so egress stays open.
    let empty_egress = format!("{HEAD} {{ name: p, namespace: x }}\nspec:\n  podSelector: {{}}\n  egress: []\n");
    check(
        "no policyTypes, egress: []",
        &empty_egress,
        Protocol::Tcp,
        80,
        |_, to| !to.starts_with("x/"),
    );
    let egress_rules = format!(
        "{HEAD} {{ name: p, namespace: x }}\nspec:\n  podSelector: {{}}\n  egress: [{{ ports: [{{ port: 81 }}] }}]\n"
    );
    check(
        "no policyTypes, an egress rule",
        &egress_rules,
        Protocol::Tcp,
        80,
        |from, to| !from.starts_with("x/") && !to.starts_with("x/"),
    );
    check(
        "no policyTypes, an egress rule, its port",
        &egress_rules,
        Protocol::Tcp,
        81,
        |_, to| !to.starts_with("x/"),
    );
    let empty_types = format!("{HEAD} {{ name: p, namespace: x }}\nspec:\n  podSelector: {{}}\n  policyTypes: []\n  egress: [{{ ports: [{{ port: 81 }}] }}]\n");
    check(
        "policyTypes: [] is defaulted as if absent",
        &empty_types,
        Protocol::Tcp,
        80,
        |from, to| !from.starts_with("x/") && !to.starts_with("x/"),
    );
    let no_spec = format!("{HEAD} {{ name: p, namespace: x }}\n");
    check(
        "no spec: every pod of x, ingress isolated",
        &no_spec,
        Protocol::Tcp,
        80,
        |_, to| !to.starts_with("x/"),
    );
}

#[test]
fn namespace_and_pod_selectors_in_one_peer_and_but_in_two_peers_or() {
    let and = format!("{HEAD} {{ name: p, namespace: x }}\nspec:\n  podSelector: {{ matchLabels: {{ pod: a }} }}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ namespaceSelector: {{ matchLabels: {{ ns: y }} }}, podSelector: {{ matchLabels: {{ pod: b }} }} }}] }}]\n");
    check("AND", &and, Protocol::Tcp, 80, |from, to| to != "x/a" || from == "y/b");
    let or = format!("{HEAD} {{ name: p, namespace: x }}\nspec:\n  podSelector: {{ matchLabels: {{ pod: a }} }}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ namespaceSelector: {{ matchLabels: {{ ns: y }} }} }}, {{ podSelector: {{ matchLabels: {{ pod: b }} }} }}] }}]\n");
    check("OR", &or, Protocol::Tcp, 80, |from, to| {
        to != "x/a" || from.starts_with("y/") || from == "x/b"
    });
    let any_namespace = format!("{HEAD} {{ name: p, namespace: x }}\nspec:\n  podSelector: {{ matchLabels: {{ pod: a }} }}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ namespaceSelector: {{}} }}] }}]\n");
    check(
        "empty namespaceSelector: every namespace's pods",
        &any_namespace,
        Protocol::Tcp,
        80,
        |from, to| to != "x/a" || from.contains('/'),
    );
}

#[test]
fn absent_or_empty_from_admits_everyone_but_no_rules_admit_no_one() {
    for (name, rules) in [("rule without from", "[{}]"), ("rule with from: []", "[{ from: [] }]")] {
        let yaml = format!("{HEAD} {{ name: p, namespace: x }}\nspec: {{ podSelector: {{}}, policyTypes: [Ingress], ingress: {rules} }}\n");
        check(name, &yaml, Protocol::Tcp, 80, |_, _| true);
    }
    let none = format!(
        "{HEAD} {{ name: p, namespace: x }}\nspec: {{ podSelector: {{}}, policyTypes: [Ingress], ingress: [] }}\n"
    );
    check("ingress: []", &none, Protocol::Tcp, 80, |_, to| !to.starts_with("x/"));
}

#[test]
fn policies_are_a_union() {
    let yaml = format!(
        "{HEAD} {{ name: p1, namespace: x }}\nspec: {{ podSelector: {{ matchLabels: {{ pod: a }} }}, ingress: [{{ from: [{{ podSelector: {{ matchLabels: {{ pod: b }} }} }}] }}] }}\n---\n{HEAD} {{ name: p2, namespace: x }}\nspec: {{ podSelector: {{ matchLabels: {{ pod: a }} }}, ingress: [{{ from: [{{ namespaceSelector: {{ matchLabels: {{ ns: z }} }}, podSelector: {{ matchLabels: {{ pod: c }} }} }}] }}] }}\n"
    );
    check("union", &yaml, Protocol::Tcp, 80, |from, to| {
        to != "x/a" || from == "x/b" || from == "z/c"
    });
}

#[test]
fn ip_blocks_with_except_match_outside_addresses() {
    let yaml = format!("{HEAD} {{ name: p, namespace: x }}\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress: [{{ to: [{{ ipBlock: {{ cidr: 192.168.0.0/16, except: [192.168.2.0/24] }} }}] }}]\n");
    check("ipBlock except", &yaml, Protocol::Tcp, 80, |from, to| {
        !from.starts_with("x/") || to == "192.168.1.5"
    });
}

#[test]
fn ports_numbers_ranges_names_and_protocols() {
    let rule = |ports: &str| {
        format!("{HEAD} {{ name: p, namespace: x }}\nspec: {{ podSelector: {{}}, policyTypes: [Ingress], ingress: [{{ ports: {ports} }}] }}\n")
    };
    check(
        "port 80 admits tcp/80",
        &rule("[{ port: 80 }]"),
        Protocol::Tcp,
        80,
        |_, _| true,
    );
    check(
        "port 80 refuses tcp/81",
        &rule("[{ port: 80 }]"),
        Protocol::Tcp,
        81,
        |_, to| !to.starts_with("x/"),
    );
    check(
        "protocol defaults to TCP",
        &rule("[{ port: 81 }]"),
        Protocol::Udp,
        81,
        |_, to| !to.starts_with("x/"),
    );
    check(
        "UDP rule",
        &rule("[{ port: 81, protocol: UDP }]"),
        Protocol::Udp,
        81,
        |_, _| true,
    );
    check(
        "endPort range",
        &rule("[{ port: 79, endPort: 81 }]"),
        Protocol::Tcp,
        81,
        |_, _| true,
    );
    check(
        "endPort upper bound",
        &rule("[{ port: 79, endPort: 81 }]"),
        Protocol::Tcp,
        82,
        |_, to| !to.starts_with("x/"),
    );
    check(
        "named port on the destination",
        &rule("[{ port: serve-80-tcp }]"),
        Protocol::Tcp,
        80,
        |_, _| true,
    );
    check(
        "named port with another number",
        &rule("[{ port: serve-80-tcp }]"),
        Protocol::Tcp,
        81,
        |_, to| !to.starts_with("x/"),
    );
    check(
        "named port of another protocol",
        &rule("[{ port: serve-81-udp, protocol: TCP }]"),
        Protocol::Tcp,
        81,
        |_, to| !to.starts_with("x/"),
    );
    check(
        "SCTP",
        &rule("[{ port: 80, protocol: SCTP }]"),
        Protocol::Sctp,
        80,
        |_, _| true,
    );
}

#[test]
fn pod_to_pod_needs_both_ends() {
    let yaml = format!(
        "{HEAD} {{ name: allow-in, namespace: x }}\nspec: {{ podSelector: {{}}, ingress: [{{ from: [{{ namespaceSelector: {{}} }}] }}] }}\n---\n{HEAD} {{ name: deny-out, namespace: y }}\nspec: {{ podSelector: {{}}, policyTypes: [Egress] }}\n"
    );
    check("egress of y closed", &yaml, Protocol::Tcp, 80, |from, to| {
        !from.starts_with("y/") && (!to.starts_with("x/") || from.contains('/'))
    });
}

#[test]
fn match_expressions() {
    let yaml = format!("{HEAD} {{ name: p, namespace: x }}\nspec:\n  podSelector: {{ matchExpressions: [{{ key: pod, operator: In, values: [a, b] }}] }}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ podSelector: {{ matchExpressions: [{{ key: pod, operator: NotIn, values: [c] }}] }} }}] }}]\n");
    check("In / NotIn", &yaml, Protocol::Tcp, 80, |from, to| {
        to == "x/c" || !to.starts_with("x/") || from == "x/a" || from == "x/b"
    });
}

/// One NetworkPolicy document in namespace `ns`
fn np(name: &str, ns: &str, spec: &str) -> String {
    format!("{HEAD} {{ name: {name}, namespace: {ns} }}\nspec:\n{spec}\n---\n")
}

fn in_ns(end: &str, ns: &str) -> bool {
    end.strip_prefix(ns).is_some_and(|rest| rest.starts_with('/'))
}

fn is_pod(end: &str) -> bool {
    end.contains('/')
}

const ISOLATE_A: &str = "  podSelector: { matchLabels: { pod: a } }";

// The cases of network_policy.go, "NetworkPolicy between server and client",
// in the order of the file; each truth table as its Reachability builds it.

#[test]
fn e2e_default_deny_ingress_and_default_deny_all() {
    // "should support a 'default-deny-ingress' policy"
    let deny_ingress = np("deny-ingress", "x", "  podSelector: {}\n  policyTypes: [Ingress]");
    for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
        check("default-deny-ingress", &deny_ingress, protocol, 80, |_, to| {
            !in_ns(to, "x")
        });
    }
    // "should support a 'default-deny-all' policy", "should stop enforcing policies after they are deleted"
    let deny_all = np("deny-all", "x", "  podSelector: {}\n  policyTypes: [Ingress, Egress]");
    check("default-deny-all", &deny_all, Protocol::Tcp, 80, |from, to| {
        !in_ns(from, "x") && !in_ns(to, "x")
    });
    check("after deletion", "", Protocol::Tcp, 80, |_, _| true);
}

#[test]
fn e2e_pod_and_namespace_selectors() {
    // "should enforce policy to allow traffic from pods within server namespace based on PodSelector"
    let yaml = np("x-a-allows-x-b", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ podSelector: {{ matchLabels: {{ pod: b }} }} }}] }}]"));
    check(
        "within server namespace by PodSelector",
        &yaml,
        Protocol::Tcp,
        80,
        |from, to| to != "x/a" || from == "x/b",
    );
    // "should enforce policy to allow ingress traffic for a target"
    let yaml = np("deny-all", "x", "  podSelector: {}\n  policyTypes: [Ingress]")
        + &np("allow-all-to-a", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ podSelector: {{}}, namespaceSelector: {{}} }}] }}]"));
    check("ingress traffic for a target", &yaml, Protocol::Tcp, 80, |from, to| {
        !in_ns(to, "x") || (to == "x/a" && is_pod(from))
    });
    // "should enforce policy to allow ingress traffic from pods in all namespaces"
    let yaml = np("allow-from-another-ns", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ namespaceSelector: {{ matchLabels: {{}} }} }}] }}]"));
    check("from pods in all namespaces", &yaml, Protocol::Tcp, 80, |from, to| {
        to != "x/a" || is_pod(from)
    });
    // "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector"
    // and "... based on NamespaceSelector with MatchLabels using default ns label"
    for selector in [
        "{ matchLabels: { ns: y } }",
        "{ matchLabels: { kubernetes.io/metadata.name: y } }",
    ] {
        let yaml = np(
            "allow-client-a-via-ns-selector",
            "x",
            &format!(
                "{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ namespaceSelector: {selector} }}] }}]"
            ),
        );
        check(
            "only from a different namespace",
            &yaml,
            Protocol::Tcp,
            80,
            |from, to| to != "x/a" || in_ns(from, "y"),
        );
    }
    // "should enforce policy based on PodSelector with MatchExpressions"
    let yaml = np("x-a-allows-x-b", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ podSelector: {{ matchExpressions: [{{ key: pod, operator: In, values: [b] }}] }} }}] }}]"));
    check(
        "PodSelector with MatchExpressions",
        &yaml,
        Protocol::Tcp,
        80,
        |from, to| to != "x/a" || from == "x/b",
    );
    // "should enforce policy based on NamespaceSelector with MatchExpressions"
    let yaml = np("allow-ns-y-match-selector", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ namespaceSelector: {{ matchExpressions: [{{ key: kubernetes.io/metadata.name, operator: In, values: [y] }}] }} }}] }}]"));
    check(
        "NamespaceSelector with MatchExpressions",
        &yaml,
        Protocol::Tcp,
        80,
        |from, to| to != "x/a" || in_ns(from, "y"),
    );
}

#[test]
fn e2e_namespace_selector_and_pod_selector_and_versus_or() {
    let not_x = "{ matchExpressions: [{ key: kubernetes.io/metadata.name, operator: NotIn, values: [x] }] }";
    // "should enforce policy based on PodSelector or NamespaceSelector": two peers, OR
    let yaml = np("allow-ns-y-match-selector", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ namespaceSelector: {not_x} }}, {{ podSelector: {{ matchLabels: {{ pod: b }} }} }}] }}]"));
    check(
        "PodSelector or NamespaceSelector",
        &yaml,
        Protocol::Tcp,
        80,
        |from, to| to != "x/a" || (is_pod(from) && !in_ns(from, "x")) || from == "x/b",
    );
    // "should enforce policy based on PodSelector and NamespaceSelector": one peer, AND
    let yaml = np("allow-ns-y-podselector-and-nsselector", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ namespaceSelector: {not_x}, podSelector: {{ matchLabels: {{ pod: b }} }} }}] }}]"));
    check(
        "PodSelector and NamespaceSelector",
        &yaml,
        Protocol::Tcp,
        80,
        |from, to| to != "x/a" || from == "y/b" || from == "z/b",
    );
    // "should enforce policy based on Multiple PodSelectors and NamespaceSelectors"
    let yaml = np("allow-ns-y-z-pod-b-c", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ namespaceSelector: {not_x}, podSelector: {{ matchExpressions: [{{ key: pod, operator: In, values: [b, c] }}] }} }}] }}]"));
    check(
        "Multiple PodSelectors and NamespaceSelectors",
        &yaml,
        Protocol::Tcp,
        80,
        |from, to| to != "x/a" || (is_pod(from) && !in_ns(from, "x") && !from.ends_with("/a")),
    );
    // "should enforce policy based on any PodSelectors"
    let yaml = np("allow-ns-x-pod-b-c", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ podSelector: {{ matchLabels: {{ pod: b }} }} }}, {{ podSelector: {{ matchLabels: {{ pod: c }} }} }}] }}]"));
    check("any PodSelectors", &yaml, Protocol::Tcp, 80, |from, to| {
        to != "x/a" || from == "x/b" || from == "x/c"
    });
    // "should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector" (TCP, UDP, SCTP)
    let yaml = np("allow-ns-y-pod-a-via-namespace-pod-selector", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: y }} }}, podSelector: {{ matchLabels: {{ pod: a }} }} }}] }}]"));
    for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
        check("only from y/a", &yaml, protocol, 80, |from, to| {
            to != "x/a" || from == "y/a"
        });
    }
    // "should deny ingress from pods on other namespaces": `podSelector: {}` in from is this namespace only
    let yaml = np(
        "deny-empty-policy",
        "x",
        "  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{ from: [{ podSelector: { matchLabels: {} } }] }]",
    );
    check(
        "deny ingress from other namespaces",
        &yaml,
        Protocol::Tcp,
        80,
        |from, to| !in_ns(to, "x") || in_ns(from, "x"),
    );
}

#[test]
fn e2e_ports_named_ports_and_protocols() {
    // "should enforce policy based on Ports" (TCP, UDP, SCTP)
    for (protocol, name) in [(Protocol::Tcp, "TCP"), (Protocol::Udp, "UDP"), (Protocol::Sctp, "SCTP")] {
        let yaml = np("allow-client-a-via-ns-selector", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: y }} }} }}], ports: [{{ port: 81, protocol: {name} }}] }}]"));
        check("based on Ports, 81", &yaml, protocol, 81, |from, to| {
            to != "x/a" || in_ns(from, "y")
        });
        check("based on Ports, 80", &yaml, protocol, 80, |_, to| to != "x/a");
    }
    // "should enforce multiple, stacked policies with overlapping podSelectors"
    let rule = |port: u16| {
        format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: y }} }} }}], ports: [{{ port: {port}, protocol: TCP }}] }}]")
    };
    let first = np("allow-client-a-via-ns-selector", "x", &rule(81));
    check("stacked: 80 before", &first, Protocol::Tcp, 80, |_, to| to != "x/a");
    let both = first + &np("allow-client-a-via-ns-selector-80", "x", &rule(80));
    for port in [80, 81] {
        check("stacked: union", &both, Protocol::Tcp, port, |from, to| {
            to != "x/a" || in_ns(from, "y")
        });
    }
    // "should support allow-all policy"
    let yaml = np(
        "allow-all",
        "x",
        "  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{}]",
    );
    for port in [80, 81] {
        check("allow-all", &yaml, Protocol::Tcp, port, |_, _| true);
    }
    // "should allow ingress access on one named port"
    let yaml = np(
        "allow-all",
        "x",
        "  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{ ports: [{ port: serve-81-tcp }] }]",
    );
    check("named port, 81", &yaml, Protocol::Tcp, 81, |_, _| true);
    check("named port, 80", &yaml, Protocol::Tcp, 80, |_, to| !in_ns(to, "x"));
    // "should allow ingress access from namespace on one named port"
    let yaml = np("allow-client-a-via-ns-selector-80", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: y }} }} }}], ports: [{{ port: serve-80-tcp, protocol: TCP }}] }}]"));
    check("named port from namespace, 80", &yaml, Protocol::Tcp, 80, |from, to| {
        to != "x/a" || in_ns(from, "y")
    });
    check("named port from namespace, 81", &yaml, Protocol::Tcp, 81, |_, to| {
        to != "x/a"
    });
    // "should allow egress access on one named port": the name resolves on the destination pod
    let yaml = np(
        "allow-egress",
        "x",
        "  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{ ports: [{ port: serve-80-tcp }] }]",
    );
    check("egress named port, 80", &yaml, Protocol::Tcp, 80, |from, to| {
        !in_ns(from, "x") || is_pod(to)
    });
    check("egress named port, 81", &yaml, Protocol::Tcp, 81, |from, _| {
        !in_ns(from, "x")
    });
    // "should enforce ingress policy allowing any port traffic to a server on a specific protocol"
    let yaml = np(
        "allow-ingress-by-proto",
        "x",
        &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ ports: [{{ protocol: TCP }}] }}]"),
    );
    check("any port, TCP", &yaml, Protocol::Tcp, 80, |_, _| true);
    check("any port, UDP refused", &yaml, Protocol::Udp, 80, |_, to| to != "x/a");
    // "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP"
    let yaml = np("deny-ingress", "x", "  podSelector: {}\n  policyTypes: [Ingress]")
        + &np(
            "allow-only-sctp-ingress-on-port-81",
            "x",
            &format!(
                "{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ ports: [{{ port: 81, protocol: SCTP }}] }}]"
            ),
        );
    check("SCTP is not TCP", &yaml, Protocol::Tcp, 81, |_, to| !in_ns(to, "x"));
    // "should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP"
    let yaml = np(
        "allow-only-sctp-ingress-on-port-80",
        "x",
        &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ ports: [{{ port: 80, protocol: SCTP }}] }}]"),
    );
    check("SCTP rule isolates", &yaml, Protocol::Tcp, 81, |_, to| to != "x/a");
    // "should not allow access by TCP when a policy specifies only UDP"
    let yaml = np(
        "allow-only-udp-ingress-on-port-81",
        "x",
        &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ ports: [{{ port: 81, protocol: UDP }}] }}]"),
    );
    check("UDP only", &yaml, Protocol::Tcp, 81, |_, to| to != "x/a");
    // endPort (NetworkPolicyPort API reference: "the range of ports from port to endPort, inclusive")
    let yaml = np("range", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ ports: [{{ port: 80, endPort: 81, protocol: TCP }}] }}]"));
    for port in [80, 81] {
        check("endPort inclusive", &yaml, Protocol::Tcp, port, |_, _| true);
    }
    check("endPort upper bound", &yaml, Protocol::Tcp, 82, |_, to| to != "x/a");
    check("endPort on TCP only", &yaml, Protocol::Udp, 81, |_, to| to != "x/a");
}

#[test]
fn e2e_egress_and_both_directions() {
    // "should deny egress from pods based on PodSelector"
    let yaml = np(
        "deny-egress-pod-a",
        "x",
        &format!("{ISOLATE_A}\n  policyTypes: [Egress]"),
    );
    check("deny egress of x/a", &yaml, Protocol::Tcp, 80, |from, _| from != "x/a");
    // "should deny egress from all pods in a namespace"
    let yaml = np("deny-egress-ns-x", "x", "  podSelector: {}\n  policyTypes: [Egress]");
    check("deny egress of x", &yaml, Protocol::Tcp, 80, |from, _| {
        !in_ns(from, "x")
    });
    // "should work with Ingress, Egress specified together"
    let yaml = np("allow-client-a-via-pod-selector", "x", &format!("{ISOLATE_A}\n  policyTypes: [Egress, Ingress]\n  ingress: [{{ from: [{{ podSelector: {{ matchLabels: {{ pod: b }} }} }}] }}]\n  egress: [{{ ports: [{{ port: 80 }}] }}]"));
    check("together, 80", &yaml, Protocol::Tcp, 80, |from, to| {
        to != "x/a" || from == "x/b"
    });
    check("together, 81", &yaml, Protocol::Tcp, 81, |from, to| {
        from != "x/a" && (to != "x/a" || from == "x/b")
    });
    // "should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)"
    let from_xa = "[{ from: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: x } }, podSelector: { matchLabels: { pod: a } } }] }]";
    let yaml = np("allow-to-ns-y-pod-a", "x", &format!("{ISOLATE_A}\n  policyTypes: [Egress]\n  egress: [{{ to: [{{ namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: y }} }}, podSelector: {{ matchLabels: {{ pod: a }} }} }}] }}]"))
        + &np("allow-from-xa-on-ya-match-selector", "y", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: {from_xa}"))
        + &np("allow-from-xa-on-yb-match-selector", "y", &format!("  podSelector: {{ matchLabels: {{ pod: b }} }}\n  policyTypes: [Ingress]\n  ingress: {from_xa}"));
    check("client-side egress denial", &yaml, Protocol::Tcp, 80, |from, to| {
        if from == "x/a" {
            to == "y/a"
        } else {
            to != "y/a" && to != "y/b"
        }
    });
    // "should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector"
    let yaml = np("allow-to-ns-y-pod-a", "x", &format!("{ISOLATE_A}\n  policyTypes: [Egress]\n  egress: [{{ to: [{{ namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: y }} }}, podSelector: {{ matchLabels: {{ pod: a }} }} }}] }}]"));
    check("egress to y/a only", &yaml, Protocol::Tcp, 80, |from, to| {
        from != "x/a" || to == "y/a"
    });
    // "should enforce multiple ingress policies with ingress allow-all policy taking precedence"
    let port80 = np(
        "allow-ingress-port-80",
        "x",
        "  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{ ports: [{ port: 80 }] }]",
    );
    check("ingress port 80 only", &port80, Protocol::Tcp, 81, |_, to| {
        !in_ns(to, "x")
    });
    let all = port80
        + &np(
            "allow-ingress",
            "x",
            "  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{}]",
        );
    check("ingress allow-all wins", &all, Protocol::Tcp, 81, |_, _| true);
    // "should enforce multiple egress policies with egress allow-all policy taking precedence"
    let port80 = np(
        "allow-egress-port-80",
        "x",
        "  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{ ports: [{ port: 80 }] }]",
    );
    check("egress port 80 only", &port80, Protocol::Tcp, 81, |from, _| {
        !in_ns(from, "x")
    });
    let all = port80
        + &np(
            "allow-egress",
            "x",
            "  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{}]",
        );
    check("egress allow-all wins", &all, Protocol::Tcp, 81, |_, _| true);
    // "should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector"
    let egress = np(
        "allow-egress-for-target",
        "x",
        &format!("{ISOLATE_A}\n  policyTypes: [Egress]\n  egress: [{{}}]"),
    );
    check("egress allowed for target", &egress, Protocol::Tcp, 80, |_, _| true);
    let both = egress
        + &np(
            "deny-ingress-via-label-selector",
            "x",
            &format!("{ISOLATE_A}\n  policyTypes: [Ingress]"),
        );
    check("ingress denied independently", &both, Protocol::Tcp, 80, |_, to| {
        to != "x/a"
    });
    // "should enforce policy based on NamespaceSelector with MatchExpressions using default ns label" (egress)
    let yaml = np("allow-ns-y-match-selector-for-immutable-ns-label", "x", &format!("{ISOLATE_A}\n  policyTypes: [Egress]\n  egress: [{{ to: [{{ namespaceSelector: {{ matchExpressions: [{{ key: kubernetes.io/metadata.name, operator: NotIn, values: [y] }}] }} }}] }}]"));
    check("egress NotIn y", &yaml, Protocol::Tcp, 80, |from, to| {
        from != "x/a" || (is_pod(to) && !in_ns(to, "y"))
    });
    // "should enforce updated policy": allow-all, then `ingress: []` denies all
    let denied = np(
        "allow-all-mutate-to-deny-all",
        "x",
        "  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: []",
    );
    check("updated to deny all", &denied, Protocol::Tcp, 81, |_, to| {
        !in_ns(to, "x")
    });
}

#[test]
fn e2e_ip_blocks_match_pod_addresses() {
    // "should allow egress access to server in CIDR block": y/b's podIP/32
    let yaml = np(
        "allow-client-a-via-cidr-egress-rule",
        "x",
        &format!(
            "{ISOLATE_A}\n  policyTypes: [Egress]\n  egress: [{{ to: [{{ ipBlock: {{ cidr: 10.0.1.1/32 }} }}] }}]"
        ),
    );
    check("egress to a pod's CIDR", &yaml, Protocol::Tcp, 80, |from, to| {
        from != "x/a" || to == "y/b"
    });
    // "should enforce except clause while egress access to server in CIDR block": the /4 around x/b, except x/b
    let except = np("allow-client-a-via-cidr-egress-rule", "x", &format!("{ISOLATE_A}\n  policyTypes: [Egress]\n  egress: [{{ to: [{{ ipBlock: {{ cidr: 0.0.0.0/4, except: [10.0.0.1/32] }} }}] }}]"));
    check("except clause", &except, Protocol::Tcp, 80, |from, to| {
        from != "x/a" || (is_pod(to) && to != "x/b")
    });
    // "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed": a second policy admits x/b
    let both = except
        + &np(
            "allow-client-a-via-cidr-egress-rule-2",
            "x",
            &format!(
                "{ISOLATE_A}\n  policyTypes: [Egress]\n  egress: [{{ to: [{{ ipBlock: {{ cidr: 10.0.0.1/32 }} }}] }}]"
            ),
        );
    check(
        "except overlapped by another policy",
        &both,
        Protocol::Tcp,
        80,
        |from, to| from != "x/a" || is_pod(to),
    );
    // Ingress by the source pod's address, on the same terms.
    let ingress = np("from-cidr", "x", &format!("{ISOLATE_A}\n  policyTypes: [Ingress]\n  ingress: [{{ from: [{{ ipBlock: {{ cidr: 10.0.2.0/24, except: [10.0.2.2/32] }} }}] }}]"));
    check("ingress from z/a, z/b", &ingress, Protocol::Tcp, 80, |from, to| {
        to != "x/a" || from == "z/a" || from == "z/b"
    });
}

#[test]
fn on_cilium_ip_blocks_never_match_pods() {
    // docs.cilium.io, Layer 3 policy: "CIDR rules do not apply to traffic where
    // both sides of the connection are either managed by Cilium or use an IP
    // belonging to a node in the cluster"; ipBlocks become CIDR rules there.
    let mut model = cluster();
    model.cni = CniProfile::Cilium;
    let yaml = np(
        "allow-client-a-via-cidr-egress-rule",
        "x",
        &format!("{ISOLATE_A}\n  policyTypes: [Egress]\n  egress: [{{ to: [{{ ipBlock: {{ cidr: 0.0.0.0/0 }} }}] }}]"),
    );
    check_on(
        &model,
        "Cilium: ipBlock to pods",
        &yaml,
        Protocol::Tcp,
        80,
        |from, to| from != "x/a" || !is_pod(to),
    );
    model.cni = CniProfile::Calico;
    check_on(&model, "Calico: ipBlock to pods", &yaml, Protocol::Tcp, 80, |_, _| true);
}

#[test]
fn a_pod_without_an_address_matches_no_ip_block() {
    let model = cluster_with(
        "- { apiVersion: v1, kind: Pod, metadata: { name: pending, namespace: y, labels: { pod: pending } }, spec: { containers: [{ name: c }] } }\n",
    );
    assert!(model
        .pods
        .iter()
        .any(|p| p.id() == "y/pending" && p.address().is_none()));
    let yaml = np(
        "everything",
        "x",
        &format!("{ISOLATE_A}\n  policyTypes: [Egress]\n  egress: [{{ to: [{{ ipBlock: {{ cidr: 0.0.0.0/0 }} }}] }}]"),
    );
    check_on(&model, "no address", &yaml, Protocol::Tcp, 80, |from, to| {
        from != "x/a" || to != "y/pending"
    });
}

#[test]
fn a_policy_without_a_namespace_is_in_default() {
    let model = cluster_with(
        "- { apiVersion: v1, kind: Pod, metadata: { name: a, namespace: default, labels: { pod: a } }, status: { podIP: 10.0.9.1 } }\n",
    );
    let yaml = format!("{HEAD} {{ name: deny }}\nspec: {{ podSelector: {{}}, policyTypes: [Ingress] }}\n");
    check_on(&model, "no namespace", &yaml, Protocol::Tcp, 80, |_, to| {
        to != "default/a"
    });
}
