//! The sets against the evaluator on hand-written CiliumNetworkPolicies, for
//! the corners of Cilium's semantics the generated repositories rarely
//! reach: each test states a few answers a user would check by hand, and
//! every connection of its model (each request too) is compared with
//! `decide`.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

use super::*;
use crate::Evaluator;
use palisade_compiler::model::{ClusterModel, ContainerPort, External, Request};
use palisade_intents::types::Labels;

fn manifests(yaml: &str) -> Vec<Manifest> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| Manifest::new(serde::Deserialize::deserialize(doc).unwrap()))
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn external(name: Option<&str>, ip: &str, kube_apiserver: bool) -> External {
    External {
        ip: ip.parse().unwrap(),
        fqdn: name.map(str::to_string),
        kube_apiserver,
    }
}

fn port(name: &str, number: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_string()),
        protocol: Protocol::Tcp,
        port: number,
    }
}

/// shop/{frontend, backend, admin, stranger}, blog/web, kube-system/dns; a
/// few names and addresses (one of the API server); ports and requests
pub(super) fn model() -> ClusterModel {
    let mut model = ClusterModel::default();
    model.add_pod("shop", "frontend", labels(&[("app", "frontend")]), None, Vec::new());
    model.add_pod(
        "shop",
        "backend",
        labels(&[("app", "backend")]),
        None,
        vec![port("http", 8080)],
    );
    model.add_pod(
        "shop",
        "admin",
        labels(&[("app", "admin"), ("role", "ops")]),
        None,
        vec![port("http", 9090)],
    );
    model.add_pod(
        "shop",
        "stranger",
        labels(&[("palisade.dev/stranger", "true")]),
        None,
        Vec::new(),
    );
    model.add_pod("blog", "web", labels(&[("app", "web")]), None, vec![port("http", 8080)]);
    model.add_pod(
        "kube-system",
        "dns",
        labels(&[("k8s-app", "kube-dns")]),
        None,
        Vec::new(),
    );
    if let Some(blog) = model.namespaces.get_mut("blog") {
        blog.labels.insert("team".into(), "content".into());
    }
    model.externals = vec![
        external(Some("api.stripe.com"), "192.0.2.1", false),
        external(Some("evil.com"), "192.0.2.2", false),
        external(None, "203.0.113.9", false),
        external(None, "203.0.113.200", false),
        external(None, "198.51.100.7", false),
        external(None, "172.20.0.1", true),
    ];
    model.ports = [1, 80, 443, 1000, 1500, 2000, 8080, 9090, 65535]
        .into_iter()
        .map(|p| (Protocol::Tcp, p))
        .chain([(Protocol::Udp, 53), (Protocol::Tcp, 53), (Protocol::Sctp, 9)])
        .collect();
    model.requests = [("GET", "/products/1"), ("POST", "/products/1"), ("DELETE", "/admin")]
        .into_iter()
        .map(|(m, p)| Request::new(m, p.into()))
        .collect();
    model
}

/// Every connection of the model (each request where the destination is a
/// pod) decided by the sets as by the evaluator, with and without requests
fn agree(yaml: &str, model: &ClusterModel) {
    agree_on(&manifests(yaml), model);
}

/// [`agree`] on manifests already read
pub(super) fn agree_on(manifests: &[Manifest], model: &ClusterModel) {
    crate::sets_agree::sets_agree(&Policies::read(manifests), model);
}

/// The sets' answer on one TCP connection (universe with requests)
fn answer(yaml: &str, from: &str, to: &str, port: u16, request: Option<(&str, &str)>) -> bool {
    let manifests = manifests(yaml);
    crate::sets_agree::sets_answer(&Policies::read(&manifests), &model(), (from, to), port, request)
}

/// From, to, TCP port, request (method, path), whether it passes
type Answer<'a> = (&'a str, &'a str, u16, Option<(&'a str, &'a str)>, bool);

/// Agree on every connection, then the answers a user would check
fn check(yaml: &str, answers: &[Answer]) {
    agree(yaml, &model());
    for &(from, to, port, request, expected) in answers {
        assert_eq!(
            answer(yaml, from, to, port, request),
            expected,
            "{from} -> {to} tcp/{port} {request:?}"
        );
    }
}

const HEADER: &str = "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n";

fn policy(namespace: &str, name: &str, spec: &str) -> String {
    format!("---\n{HEADER}metadata: {{ name: {name}, namespace: {namespace} }}\nspec:\n{spec}\n")
}

#[test]
fn endpoint_selectors_reach_across_namespaces_only_by_the_namespace_label() {
    let yaml = policy(
        "shop",
        "backend",
        r#"  endpointSelector: { matchLabels: { app: backend } }
  ingress:
  - fromEndpoints:
    - matchLabels: { app: frontend }
    - matchLabels: { "k8s:io.kubernetes.pod.namespace": blog }
    - matchLabels: { "k8s:io.cilium.k8s.namespace.labels.team": content, app: web }
    - matchExpressions: [{ key: role, operator: In, values: [ops] }, { key: app, operator: NotIn, values: [x] }]
    toPorts: [{ ports: [{ port: "8080", protocol: TCP }] }]"#,
    );
    check(
        &yaml,
        &[
            ("shop/frontend", "shop/backend", 8080, None, true),
            ("shop/frontend", "shop/backend", 80, None, false),
            ("blog/web", "shop/backend", 8080, None, true),
            ("shop/admin", "shop/backend", 8080, None, true),
            ("shop/stranger", "shop/backend", 8080, None, false),
            ("kube-system/dns", "shop/backend", 8080, None, false),
            // egress is not in default deny: the policy has no egress rules
            ("shop/backend", "evil.com", 443, None, true),
        ],
    );
}

#[test]
fn expressions_on_missing_labels_and_unknown_operators() {
    let yaml = policy(
        "shop",
        "all",
        r#"  endpointSelector: { matchExpressions: [{ key: app, operator: Exists }] }
  ingress:
  - fromEndpoints:
    - matchExpressions: [{ key: role, operator: DoesNotExist }]
    - matchExpressions: [{ key: app, operator: Between, values: [a] }]
    - matchLabels: { "any:role": ops }"#,
    );
    check(
        &yaml,
        &[
            ("shop/frontend", "shop/backend", 80, None, true),
            ("shop/admin", "shop/backend", 80, None, true),
            ("blog/web", "shop/backend", 80, None, false),
            // the stranger has no `app`: not selected, so open
            ("blog/web", "shop/stranger", 80, None, true),
        ],
    );
}

#[test]
fn entities_name_the_world_the_cluster_and_the_api_server() {
    let yaml = policy(
        "shop",
        "frontend",
        r#"  endpointSelector: { matchLabels: { app: frontend } }
  egress:
  - toEntities: [kube-apiserver]
    toPorts: [{ ports: [{ port: "443" }] }]
  - toEntities: [cluster]
    toPorts: [{ ports: [{ port: "53", protocol: ANY }] }]
  - toEntities: [host, remote-node]
  ingress:
  - fromEntities: [world]
    toPorts: [{ ports: [{ port: "80" }] }]
  - fromEntities: [all]
    toPorts: [{ ports: [{ port: "9090" }] }]"#,
    );
    check(
        &yaml,
        &[
            ("shop/frontend", "172.20.0.1", 443, None, true),
            ("shop/frontend", "198.51.100.7", 443, None, false),
            ("shop/frontend", "kube-system/dns", 53, None, true),
            ("shop/frontend", "kube-system/dns", 80, None, false),
            ("198.51.100.7", "shop/frontend", 80, None, true),
            ("shop/backend", "shop/frontend", 80, None, false),
            ("shop/backend", "shop/frontend", 9090, None, true),
        ],
    );
}

#[test]
fn cidr_sets_except_and_deny_rules_override_allows() {
    let yaml = policy(
        "shop",
        "backend",
        r#"  endpointSelector: { matchLabels: { app: backend } }
  egress:
  - toCIDRSet: [{ cidr: 203.0.113.0/24, except: [203.0.113.128/25] }, { cidr: not-a-cidr }]
  - toCIDR: [198.51.100.0/24, 10.0.0.0/8]
    toPorts: [{ ports: [{ port: "1000", endPort: 2000, protocol: TCP }] }]
  - toEndpoints: [{}]
  egressDeny:
  - toEndpoints: [{ matchLabels: { app: admin } }]
    toPorts: [{ ports: [{ port: "9090" }] }]
  - toCIDR: [198.51.100.7/32]
    toPorts: [{ ports: [{ port: "1500" }] }]"#,
    );
    check(
        &yaml,
        &[
            ("shop/backend", "203.0.113.9", 443, None, true),
            ("shop/backend", "203.0.113.200", 443, None, false),
            ("shop/backend", "198.51.100.7", 1000, None, true),
            ("shop/backend", "198.51.100.7", 2000, None, true),
            ("shop/backend", "198.51.100.7", 1500, None, false),
            ("shop/backend", "198.51.100.7", 443, None, false),
            ("shop/backend", "shop/admin", 80, None, true),
            ("shop/backend", "shop/admin", 9090, None, false),
            // `{}` selects the policy's namespace only
            ("shop/backend", "blog/web", 80, None, false),
        ],
    );
}

#[test]
fn names_are_admitted_only_where_the_dns_proxy_learns_them() {
    let dns = r#"  - toEndpoints: [{ matchLabels: { "k8s:io.kubernetes.pod.namespace": kube-system, k8s-app: kube-dns } }]
    toPorts: [{ ports: [{ port: "53", protocol: ANY }], rules: { dns: [{ matchPattern: "*.stripe.com" }] } }]"#;
    let fqdns = r#"  - toFQDNs: [{ matchName: api.stripe.com }, { matchPattern: "*.com" }]
    toPorts: [{ ports: [{ port: "443" }] }]"#;
    let with_proxy = policy(
        "shop",
        "frontend",
        &format!("  endpointSelector: {{ matchLabels: {{ app: frontend }} }}\n  egress:\n{fqdns}\n{dns}"),
    );
    check(
        &with_proxy,
        &[
            ("shop/frontend", "api.stripe.com", 443, None, true),
            ("shop/frontend", "evil.com", 443, None, false),
            ("shop/frontend", "kube-system/dns", 53, None, true),
        ],
    );
    // the proxy rule may come from another policy selecting the pod
    let split = policy(
        "shop",
        "names",
        &format!("  endpointSelector: {{ matchLabels: {{ app: frontend }} }}\n  egress:\n{fqdns}"),
    ) + &policy("shop", "dns", &format!("  endpointSelector: {{}}\n  egress:\n{dns}"));
    check(&split, &[("shop/frontend", "api.stripe.com", 443, None, true)]);
    let without = policy(
        "shop",
        "frontend",
        &format!("  endpointSelector: {{ matchLabels: {{ app: frontend }} }}\n  egress:\n{fqdns}"),
    );
    check(&without, &[("shop/frontend", "api.stripe.com", 443, None, false)]);
}

#[test]
fn http_rules_admit_requests_and_leave_the_connection_itself() {
    let yaml = policy(
        "shop",
        "backend",
        r#"  endpointSelector: { matchLabels: { app: backend } }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: frontend } }]
    toPorts:
    - ports: [{ port: "8080", protocol: TCP }]
      rules: { http: [{ method: GET, path: "/products/.*" }, { method: DELETE, headers: ["X: y"] }] }
    - ports: [{ port: "80", protocol: TCP }]
      rules: { http: [] }
  - fromEndpoints: [{ matchLabels: { app: admin } }]
    toPorts: [{ rules: { http: [{ method: "DELETE|POST" }] } }]"#,
    );
    check(
        &yaml,
        &[
            ("shop/frontend", "shop/backend", 8080, None, true),
            (
                "shop/frontend",
                "shop/backend",
                8080,
                Some(("GET", "/products/1")),
                true,
            ),
            (
                "shop/frontend",
                "shop/backend",
                8080,
                Some(("POST", "/products/1")),
                false,
            ),
            ("shop/frontend", "shop/backend", 8080, Some(("DELETE", "/admin")), false),
            ("shop/frontend", "shop/backend", 80, None, true),
            ("shop/frontend", "shop/backend", 80, Some(("GET", "/products/1")), false),
            ("shop/admin", "shop/backend", 443, Some(("DELETE", "/admin")), true),
            ("shop/admin", "shop/backend", 443, Some(("GET", "/products/1")), false),
        ],
    );
}

#[test]
fn named_ports_resolve_on_the_destination() {
    let yaml = policy(
        "shop",
        "frontend",
        r#"  endpointSelector: { matchLabels: { app: frontend } }
  egress:
  - toEndpoints: [{ matchLabels: { app: backend } }, { matchLabels: { app: admin } }]
    toPorts: [{ ports: [{ port: http, protocol: TCP }] }]"#,
    ) + &policy(
        "shop",
        "served",
        r#"  endpointSelector: { matchExpressions: [{ key: app, operator: In, values: [backend, admin] }] }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: frontend } }]
    toPorts: [{ ports: [{ port: http }] }]"#,
    );
    check(
        &yaml,
        &[
            ("shop/frontend", "shop/backend", 8080, None, true),
            ("shop/frontend", "shop/backend", 9090, None, false),
            ("shop/frontend", "shop/admin", 9090, None, true),
            ("shop/frontend", "shop/admin", 8080, None, false),
        ],
    );
}

#[test]
fn default_deny_only_on_the_direction_with_rules_and_as_enabled() {
    let yaml = policy(
        "shop",
        "audit",
        r#"  endpointSelector: { matchLabels: { app: backend } }
  enableDefaultDeny: { ingress: false }
  ingress:
  - fromEndpoints: [{ matchLabels: { app: frontend } }]
  - {}"#,
    ) + &policy(
        "shop",
        "deny-only",
        r#"  endpointSelector: { matchLabels: { app: admin } }
  egressDeny:
  - toEntities: [world]"#,
    );
    check(
        &yaml,
        &[
            ("shop/stranger", "shop/backend", 80, None, true),
            ("shop/backend", "shop/stranger", 80, None, true),
            // a deny-only policy still puts its direction in default deny
            ("shop/admin", "shop/stranger", 80, None, false),
            ("shop/admin", "198.51.100.7", 80, None, false),
            ("shop/stranger", "shop/admin", 80, None, true),
        ],
    );
}

#[test]
fn clusterwide_policies_are_not_read_as_the_evaluator_does_not() {
    let yaml = r#"
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: { name: lockdown }
spec:
  endpointSelector: {}
  ingress: []
  egress: []
"#;
    check(yaml, &[("shop/frontend", "shop/backend", 80, None, true)]);
}

#[test]
fn port_protocols_and_odd_forms() {
    let yaml = policy(
        "blog",
        "web",
        r#"  endpointSelector: {}
  ingress:
  - toPorts: [{ ports: [{ port: "0", protocol: UDP }, { port: "80", protocol: tcp }, { port: "443", endPort: 100 }] }]
  - fromEndpoints: [{ matchLabels: { "k8s:io.kubernetes.pod.namespace": shop } }]
    toPorts: [{ ports: [{ port: "9090", protocol: SCTP }, { port: "8080", endPort: 8081 }] }]"#,
    );
    check(
        &yaml,
        &[
            ("shop/frontend", "blog/web", 8080, None, true),
            ("shop/frontend", "blog/web", 80, None, false),
            ("shop/frontend", "blog/web", 443, None, false),
            ("kube-system/dns", "blog/web", 8080, None, false),
        ],
    );
}

#[test]
fn the_sets_refuse_what_their_classes_cannot_tell() {
    let yaml = policy(
        "shop",
        "backend",
        r#"  endpointSelector: { matchLabels: { app: backend } }
  egress:
  - toCIDR: [203.0.113.0/25]"#,
    );
    let manifests = manifests(&yaml);
    let policies = Policies::read(&manifests);
    let mut model = model();
    // one block merges the two 203.0.113.x addresses that the rule tells apart
    model.blocks = vec!["203.0.113.0/24".parse().unwrap()];
    assert!(policies.sides(&Universe::new(&model, false)).is_none());
    model.blocks.push("203.0.113.0/25".parse().unwrap());
    assert!(policies.sides(&Universe::new(&model, false)).is_some());
    model.ports.push((Protocol::Tcp, 0));
    assert!(policies.sides(&Universe::new(&model, false)).is_none());
}

/// The size of the large repository: 20,000 pods of 10,000 services in 100
/// namespaces, a policy per service naming five peers, a named port, an
/// HTTP rule and a CIDR set. Run with `cargo test -p palisade-targets --lib
/// cilium::symbolic::tests::the_large -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn the_large_repository_resolves_in_seconds() {
    use serde_json::json;
    const NAMESPACES: usize = 100;
    const SERVICES: usize = 10_000;
    let mut model = ClusterModel::default();
    for s in 0..SERVICES {
        let namespace = format!("ns{}", s % NAMESPACES);
        for version in ["v1", "v2"] {
            let app = format!("svc{s}");
            let labels = labels(&[("app", app.as_str()), ("version", version)]);
            model.add_pod(
                &namespace,
                &format!("{app}-{version}"),
                labels,
                None,
                vec![port("http", 8080)],
            );
        }
    }
    model.externals = vec![
        external(None, "192.168.1.5", false),
        external(None, "203.0.113.9", false),
    ];
    model.ports = vec![(Protocol::Tcp, 8080), (Protocol::Tcp, 5432), (Protocol::Udp, 53)];
    model.requests = vec![Request::new("GET", "/products/1".into())];
    let manifests: Vec<Manifest> = (0..SERVICES)
        .map(|s| {
            let peers: Vec<_> = (0..5)
                .map(|k| {
                    let other = (s * 7 + k * 131 + 1) % SERVICES;
                    json!({ "matchLabels": {
                        "k8s:io.kubernetes.pod.namespace": format!("ns{}", other % NAMESPACES),
                        "app": format!("svc{other}") } })
                })
                .collect();
            Manifest::new(json!({
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNetworkPolicy",
                "metadata": { "name": format!("svc{s}"), "namespace": format!("ns{}", s % NAMESPACES) },
                "spec": {
                    "endpointSelector": { "matchLabels": { "app": format!("svc{s}") } },
                    "ingress": [{ "fromEndpoints": peers, "toPorts": [{ "ports": [{ "port": "http" }, { "port": "5432" }],
                        "rules": { "http": [{ "method": "GET" }] } }] }],
                    "egress": [
                        { "toEndpoints": peers, "toPorts": [{ "ports": [{ "port": "8080" }] }] },
                        { "toCIDRSet": [{ "cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"] }] }
                    ]
                }
            }))
        })
        .collect();
    let policies = Policies::read(&manifests);
    let started = std::time::Instant::now();
    let universe = Universe::new(&model, true);
    let sides = policies.sides(&universe).unwrap();
    eprintln!(
        "{} pods, {} policies: sides in {:?}",
        model.pods.len(),
        manifests.len(),
        started.elapsed()
    );
    assert_eq!(sides.ingress.len(), model.pods.len());
}
