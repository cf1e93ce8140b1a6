//! Conformance of the NetworkPolicy evaluator with the semantics the
//! Kubernetes documentation gives (concepts/services-networking/network-policies):
//! each case is a set of policies on a 3×3 cluster (namespaces x, y, z; pods
//! a, b, c) and the expected verdict for every ordered pair of pods.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use palisade_compiler::model::{ClusterModel, Connection, Endpoint, External};
use palisade_intents::syntax::Protocol;
use palisade_targets::{dialect, Manifest};
use serde_json::Value;

fn cluster() -> ClusterModel {
    let mut yaml = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for (i, ns) in ["x", "y", "z"].iter().enumerate() {
        yaml.push_str(&format!(
            "- {{ apiVersion: v1, kind: Namespace, metadata: {{ name: {ns}, labels: {{ ns: {ns} }} }} }}\n"
        ));
        for (j, pod) in ["a", "b", "c"].iter().enumerate() {
            yaml.push_str(&format!(
                "- apiVersion: v1\n  kind: Pod\n  metadata: {{ name: {pod}, namespace: {ns}, labels: {{ pod: {pod} }} }}\n  spec:\n    containers:\n    - name: c\n      ports: [{{ name: serve-80-tcp, containerPort: 80 }}, {{ name: serve-81-udp, containerPort: 81, protocol: UDP }}]\n  status: {{ podIP: 10.0.{i}.{j} }}\n"
            ));
        }
    }
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

fn policies(yaml: &str) -> Vec<Manifest> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| Manifest::new(<Value as serde::Deserialize>::deserialize(d).unwrap()))
        .filter(|m| !m.object.is_null())
        .collect()
}

/// Check every ordered pair of pods (and both outside addresses, both ways)
/// against `expected(from, to)`, where each end is `ns/pod` or an address
fn check(name: &str, yaml: &str, protocol: Protocol, port: u16, expected: impl Fn(&str, &str) -> bool) {
    let model = cluster();
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
fn policy_types_default_to_ingress_plus_egress_when_an_egress_section_exists() {
    let ingress_only = format!("{HEAD} {{ name: p, namespace: x }}\nspec:\n  podSelector: {{}}\n  ingress: [{{ from: [{{ podSelector: {{ matchLabels: {{ pod: b }} }} }}] }}]\n");
    check(
        "no policyTypes, ingress rules",
        &ingress_only,
        Protocol::Tcp,
        80,
        |from, to| !to.starts_with("x/") || from == "x/b",
    );
    let with_egress = format!("{HEAD} {{ name: p, namespace: x }}\nspec:\n  podSelector: {{}}\n  egress: []\n");
    check(
        "no policyTypes, empty egress section",
        &with_egress,
        Protocol::Tcp,
        80,
        |from, to| !from.starts_with("x/") && !to.starts_with("x/"),
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
