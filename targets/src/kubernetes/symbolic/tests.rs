//! Corners the generated repositories do not reach, checked as a user
//! would: hand-written policies on a small cluster, the expected answer
//! on a few connections, and the sets against the evaluator on all.

use crate::{dialect, Manifest};
use palisade_compiler::model::{
    ClusterModel, CniProfile, Connection, ContainerPort, Endpoint, External, Namespace, Pod, Request,
};
use palisade_intents::syntax::Protocol;
use palisade_relation::{services::key, Universe};
use std::net::IpAddr;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

pub(super) fn port(name: &str, protocol: Protocol, number: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        protocol,
        port: number,
    }
}

pub(super) fn pod(
    namespace: &str,
    name: &str,
    labels: &[(&str, &str)],
    address: &str,
    ports: Vec<ContainerPort>,
) -> Pod {
    Pod {
        namespace: namespace.into(),
        name: name.into(),
        labels: labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
        service_account: None,
        ip: ip(address),
        ports,
    }
}

pub(super) fn external(address: &str) -> External {
    External {
        ip: ip(address),
        fqdn: None,
        kube_apiserver: false,
    }
}

/// Namespaces x (team a) and y (team b); x/b names port `http` 9090
/// where x/a names it 8080; y/c has no address
pub(super) fn cluster() -> ClusterModel {
    let mut model = ClusterModel::default();
    for (name, team) in [("x", "a"), ("y", "b")] {
        let labels = [("kubernetes.io/metadata.name", name), ("team", team)];
        model.namespaces.insert(
            name.into(),
            Namespace {
                name: name.into(),
                labels: labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            },
        );
    }
    model.pods = vec![
        pod(
            "x",
            "a",
            &[("app", "a")],
            "10.0.0.1",
            vec![port("http", Protocol::Tcp, 8080)],
        ),
        pod(
            "x",
            "b",
            &[("app", "b")],
            "10.0.0.2",
            vec![port("http", Protocol::Tcp, 9090), port("dns", Protocol::Udp, 53)],
        ),
        pod("y", "a", &[("app", "a")], "10.0.1.1", Vec::new()),
        pod("y", "c", &[("app", "c"), ("tier", "db")], "0.0.0.0", Vec::new()),
    ];
    model.externals = vec![external("192.168.1.5"), external("192.168.2.5")];
    model.ports = [79, 80, 81, 8080, 9090]
        .map(|p| (Protocol::Tcp, p))
        .into_iter()
        .chain([(Protocol::Udp, 53), (Protocol::Udp, 80), (Protocol::Sctp, 80)])
        .collect();
    model.requests = vec![Request::new("GET", "/".into())];
    model
}

pub(super) fn manifests(yaml: &str) -> Vec<Manifest> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| Manifest::new(<serde_json::Value as serde::Deserialize>::deserialize(d).unwrap()))
        .collect()
}

/// A NetworkPolicy `p` in `namespace` with this spec (flow YAML)
fn policy(namespace: &str, spec: &str) -> String {
    format!("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{ name: p, namespace: {namespace} }}\nspec: {spec}\n")
}

fn id(end: &Endpoint) -> String {
    match end {
        Endpoint::Pod(p) => p.id(),
        Endpoint::External(e) => e.ip.to_string(),
    }
}

/// Where the sets and the evaluator disagree on some connection or request
/// of `model`; `None` when the evaluator gives no sets for it
pub(super) fn disagreements(model: &ClusterModel, manifests: &[Manifest]) -> Option<Vec<String>> {
    let evaluator = dialect("kubernetes").unwrap().evaluator(manifests);
    let mut wrong = Vec::new();
    for requests in [false, true] {
        let universe = Universe::new(model, requests);
        let sides = evaluator.sides(&universe)?;
        for conn in model.connections() {
            let (from, to) = (
                universe.class_of(&conn.from).unwrap(),
                universe.class_of(&conn.to).unwrap(),
            );
            let enumerative = evaluator.allows(model, &conn);
            let with_request = Connection {
                request: model.requests.first(),
                ..conn
            };
            assert_eq!(enumerative, evaluator.allows(model, &with_request), "HTTP is not seen");
            let request = u32::from(requests && matches!(conn.to, Endpoint::Pod(_)));
            for r in 0..=request {
                if sides.allows(&universe, from, to, key(conn.protocol, conn.port, r)) != enumerative {
                    wrong.push(format!(
                        "{} (request {r}): the evaluator says {enumerative}",
                        conn.describe()
                    ));
                }
            }
        }
    }
    Some(wrong)
}

/// The sets agree with the evaluator on every connection and request of
/// `model`, and both give `expected` (from, to, protocol, port, allowed)
fn check(model: &ClusterModel, yaml: &str, expected: &[(&str, &str, Protocol, u16, bool)]) {
    let manifests = manifests(yaml);
    let wrong = disagreements(model, &manifests).expect("NetworkPolicy is separable");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let evaluator = dialect("kubernetes").unwrap().evaluator(&manifests);
    let mut seen = 0;
    for conn in model.connections() {
        for &(f, t, protocol, port, allowed) in expected {
            if id(&conn.from) == f && id(&conn.to) == t && conn.protocol == protocol && conn.port == port {
                assert_eq!(evaluator.allows(model, &conn), allowed, "{}", conn.describe());
                seen += 1;
            }
        }
    }
    assert_eq!(seen, expected.len(), "every expected connection is in the model");
}

use Protocol::{Sctp, Tcp, Udp};

#[test]
fn ip_blocks_match_pods_by_address_except_on_cilium_and_never_a_pod_without_one() {
    let yaml = policy(
        "x",
        "{ podSelector: { matchLabels: { app: a } }, policyTypes: [Egress], egress: [{ to: [{ ipBlock: { cidr: 10.0.0.0/16, except: [10.0.0.2/32] } }, { ipBlock: { cidr: 192.168.1.0/24 } }] }] }",
    );
    let mut model = cluster();
    let by_address = [
        ("x/a", "x/a", Tcp, 80, true),
        ("x/a", "x/b", Tcp, 80, false),
        ("x/a", "y/a", Tcp, 80, true),
        ("x/a", "y/c", Tcp, 80, false),
        ("x/a", "192.168.1.5", Tcp, 80, true),
        ("x/a", "192.168.2.5", Tcp, 80, false),
        ("x/b", "192.168.2.5", Tcp, 80, true),
    ];
    for cni in [CniProfile::Unknown, CniProfile::Calico] {
        model.cni = cni;
        check(&model, &yaml, &by_address);
    }
    model.cni = CniProfile::Cilium;
    let by_identity = [
        ("x/a", "x/a", Tcp, 80, false),
        ("x/a", "y/a", Tcp, 80, false),
        ("x/a", "192.168.1.5", Tcp, 80, true),
    ];
    check(&model, &yaml, &by_identity);
}

#[test]
fn an_ingress_ip_block_admits_pods_by_address_only() {
    let yaml = policy(
        "y",
        "{ podSelector: { matchLabels: { app: a } }, ingress: [{ from: [{ ipBlock: { cidr: 0.0.0.0/0 } }] }] }",
    );
    let expected = [
        ("x/a", "y/a", Tcp, 80, true),
        ("y/c", "y/a", Tcp, 80, false),
        ("192.168.2.5", "y/a", Tcp, 80, true),
    ];
    check(&cluster(), &yaml, &expected);
}

#[test]
fn a_namespace_selector_and_a_pod_selector_in_one_peer_both_hold() {
    let and = policy(
        "x",
        "{ podSelector: { matchLabels: { app: b } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: b } }, podSelector: { matchLabels: { app: a } } }] }] }",
    );
    let expected = [
        ("y/a", "x/b", Tcp, 80, true),
        ("x/a", "x/b", Tcp, 80, false),
        ("y/c", "x/b", Tcp, 80, false),
        ("192.168.1.5", "x/b", Tcp, 80, false),
    ];
    check(&cluster(), &and, &expected);
    let or = policy(
        "x",
        "{ podSelector: { matchLabels: { app: b } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: b } } }, { podSelector: { matchLabels: { app: a } } }] }] }",
    );
    let expected = [
        ("y/c", "x/b", Tcp, 80, true),
        ("x/a", "x/b", Tcp, 80, true),
        ("x/b", "x/b", Tcp, 80, false),
    ];
    check(&cluster(), &or, &expected);
}

#[test]
fn named_ports_resolve_on_the_destination_pod() {
    let egress = policy(
        "x",
        "{ podSelector: { matchLabels: { app: a } }, policyTypes: [Egress], egress: [{ ports: [{ port: http }] }] }",
    );
    let expected = [
        ("x/a", "x/b", Tcp, 9090, true),
        ("x/a", "x/b", Tcp, 8080, false),
        ("x/a", "x/a", Tcp, 8080, true),
        ("x/a", "192.168.1.5", Tcp, 8080, false),
    ];
    check(&cluster(), &egress, &expected);
    let ingress = policy(
        "x",
        "{ podSelector: {}, ingress: [{ ports: [{ port: http }, { port: dns, protocol: UDP }] }] }",
    );
    let expected = [
        ("y/a", "x/b", Tcp, 9090, true),
        ("y/a", "x/b", Tcp, 8080, false),
        ("y/a", "x/a", Tcp, 8080, true),
        ("y/a", "x/b", Udp, 53, true),
        ("y/a", "x/a", Udp, 53, false),
    ];
    check(&cluster(), &ingress, &expected);
}

#[test]
fn end_port_ranges_are_inclusive_and_a_protocol_alone_is_every_port() {
    let yaml = policy(
        "x",
        "{ podSelector: {}, ingress: [{ ports: [{ port: 80, endPort: 8080 }, { port: 9090, endPort: 81 }, { protocol: SCTP }, { port: 53, protocol: tcp }] }] }",
    );
    let expected = [
        ("y/a", "x/b", Tcp, 79, false),
        ("y/a", "x/b", Tcp, 80, true),
        ("y/a", "x/b", Tcp, 8080, true),
        ("y/a", "x/b", Tcp, 9090, false),
        ("y/a", "x/b", Udp, 80, false),
        ("y/a", "x/b", Sctp, 80, true),
    ];
    check(&cluster(), &yaml, &expected);
}

#[test]
fn policy_types_default_from_the_egress_rules() {
    let no_egress_rules = policy("x", "{ podSelector: {}, egress: [] }");
    let expected = [("x/a", "y/a", Tcp, 80, true), ("y/a", "x/a", Tcp, 80, false)];
    check(&cluster(), &no_egress_rules, &expected);
    let one_egress_rule = policy("x", "{ podSelector: {}, egress: [{ ports: [{ port: 81 }] }] }");
    let expected = [("x/a", "y/a", Tcp, 80, false), ("x/a", "y/a", Tcp, 81, true)];
    check(&cluster(), &one_egress_rule, &expected);
    let egress_only = policy(
        "x",
        "{ podSelector: {}, policyTypes: [Egress], ingress: [{ ports: [{ port: 81 }] }] }",
    );
    let expected = [("y/a", "x/a", Tcp, 80, true), ("x/a", "y/a", Tcp, 81, false)];
    check(&cluster(), &egress_only, &expected);
    let without_spec = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: p, namespace: y }\n";
    check(&cluster(), without_spec, &[("x/a", "y/a", Tcp, 80, false)]);
}

#[test]
fn empty_peers_and_ports_match_everything_and_an_empty_peer_nothing() {
    for rule in ["{}", "{ from: [] }", "{ ports: [] }"] {
        let yaml = policy("x", &format!("{{ podSelector: {{}}, ingress: [{rule}] }}"));
        check(&cluster(), &yaml, &[("192.168.1.5", "x/a", Udp, 80, true)]);
    }
    let yaml = policy(
        "x",
        "{ podSelector: {}, ingress: [{ from: [{}, { ipBlock: { cidr: not-a-block } }] }] }",
    );
    check(&cluster(), &yaml, &[("x/a", "x/b", Tcp, 80, false)]);
}

#[test]
fn match_expressions_select_as_the_evaluator_does() {
    let yaml = [
        policy(
            "x",
            "{ podSelector: { matchExpressions: [{ key: app, operator: NotIn, values: [a] }] }, policyTypes: [Egress] }",
        ),
        policy(
            "y",
            "{ podSelector: { matchExpressions: [{ key: tier, operator: DoesNotExist }] }, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: team, operator: In, values: [a] }] }, podSelector: { matchExpressions: [{ key: app, operator: Exists }, { key: app, operator: Near }] } }] }] }",
        ),
    ]
    .join("---\n");
    let expected = [
        ("x/a", "192.168.1.5", Tcp, 80, true),
        ("x/b", "192.168.1.5", Tcp, 80, false),
        ("x/a", "y/a", Tcp, 80, false),
        ("x/a", "y/c", Tcp, 80, true),
    ];
    check(&cluster(), &yaml, &expected);
}

/// Outside addresses that the model's blocks put in one class but a
/// policy's block tells apart: no set can answer for both
#[test]
fn outside_classes_a_block_splits_are_refused() {
    let yaml = policy(
        "x",
        "{ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 192.168.1.0/24 } }] }] }",
    );
    let manifests = manifests(&yaml);
    let evaluator = dialect("kubernetes").unwrap().evaluator(&manifests);
    let mut model = cluster();
    model.blocks = vec!["192.168.0.0/16".parse().unwrap()];
    assert!(evaluator.sides(&Universe::new(&model, false)).is_none());
    model.blocks.push("192.168.1.0/24".parse().unwrap());
    check(
        &model,
        &yaml,
        &[
            ("192.168.1.5", "x/a", Tcp, 80, true),
            ("192.168.2.5", "x/a", Tcp, 80, false),
        ],
    );
    model.ports.push((Tcp, 0));
    assert!(
        evaluator.sides(&Universe::new(&model, false)).is_none(),
        "port 0 is outside the domain"
    );
}
