//! The sets against the evaluator on hand-written meshes, for the forms the
//! generated repositories never produce (palisade emits few of them): each
//! test states a few answers a user would check by hand, and every
//! connection of its model (each request too) is compared with `decide`.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

use super::*;
use crate::Evaluator;
use palisade_compiler::model::{ClusterModel, External};
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

fn external(name: Option<&str>, ip: &str) -> External {
    External {
        ip: ip.parse().unwrap(),
        fqdn: name.map(str::to_string),
        kube_apiserver: false,
    }
}

/// shop/{frontend, backend, stranger}, blog/web, the egress gateway pods,
/// a few names and addresses, ports and requests
fn model() -> ClusterModel {
    let mut model = ClusterModel::default();
    let sa = |s: &str| Some(s.to_string());
    model.add_pod(
        "shop",
        "frontend",
        labels(&[("app", "frontend")]),
        sa("frontend"),
        Vec::new(),
    );
    model.add_pod(
        "shop",
        "backend",
        labels(&[("app", "backend")]),
        sa("backend"),
        Vec::new(),
    );
    model.add_pod("shop", "stranger", labels(&[("app", "stranger")]), None, Vec::new());
    model.add_pod(
        "shop",
        "admin",
        labels(&[("app", "admin"), ("role", "ops")]),
        sa("admin"),
        Vec::new(),
    );
    model.add_pod("blog", "web", labels(&[("app", "web")]), sa("web"), Vec::new());
    model.add_pod(
        "istio-system",
        "egress-gateway",
        labels(&[("istio", "egressgateway")]),
        None,
        Vec::new(),
    );
    model.externals = vec![
        external(Some("google.com"), "142.250.0.1"),
        external(Some("Mail.Google.com"), "142.250.0.2"),
        external(Some("example.org"), "93.184.215.14"),
        external(None, "203.0.113.9"),
        external(None, "198.51.100.7"),
        external(None, "10.30.1.5"),
    ];
    model.ports = [80, 443, 7070, 8080, 8081, 9090]
        .into_iter()
        .map(|p| (Protocol::Tcp, p))
        .chain([(Protocol::Udp, 53), (Protocol::Sctp, 9)])
        .collect();
    model.requests = [
        ("GET", "/products/1"),
        ("POST", "/products/1"),
        ("GET", "/products/secret/x"),
        ("DELETE", "/admin"),
    ]
    .into_iter()
    .map(|(m, p)| Request::new(m, p.into()))
    .collect();
    model
}

/// Every connection of the model (each request where the destination is a
/// pod) decided by the sets as by the evaluator, with and without requests
fn agree(yaml: &str, model: &ClusterModel) {
    crate::sets_agree::sets_agree(&Mesh::read(&manifests(yaml)), model);
}

/// The sets' answer on one connection (universe with requests)
fn answer(yaml: &str, model: &ClusterModel, from: &str, to: &str, port: u16, request: Option<(&str, &str)>) -> bool {
    let manifests = manifests(yaml);
    crate::sets_agree::sets_answer(&Mesh::read(&manifests), model, (from, to), port, request)
}

const GATEWAY: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: egress-google.com, namespace: shop }
spec: { hosts: [google.com], ports: [{ number: 443, name: tls, protocol: TLS }], resolution: DNS, exportTo: ["."] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: egress-google.com, namespace: shop }
spec:
  hosts: [google.com]
  gateways: [mesh]
  exportTo: ["."]
  tls:
  - match: [{ gateways: [mesh], port: 443, sniHosts: [google.com] }]
    route: [{ destination: { host: istio-egressgateway.istio-system.svc.cluster.local, port: { number: 443 } } }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: palisade-gateway-google.com, namespace: istio-system }
spec:
  selector: { istio: egressgateway }
  servers: [{ port: { number: 443, name: tls, protocol: TLS }, hosts: [./google.com], tls: { mode: ISTIO_MUTUAL } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: palisade-gateway-google.com, namespace: istio-system }
spec:
  hosts: [google.com]
  gateways: [palisade-gateway-google.com]
  exportTo: ["."]
  tcp:
  - match: [{ gateways: [palisade-gateway-google.com], port: 443 }]
    route: [{ destination: { host: google.com, port: { number: 443 } } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: palisade-egress-gateway, namespace: istio-system }
spec:
  action: ALLOW
  selector: { matchLabels: { istio: egressgateway } }
  rules:
  - from: [{ source: { principals: [cluster.local/ns/shop/sa/backend] } }]
    when: [{ key: connection.sni, values: [google.com] }]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: palisade-registry-only, namespace: shop }
spec: { outboundTrafficPolicy: { mode: REGISTRY_ONLY } }
"#;

#[test]
fn the_gateway_admits_its_callers_by_principal_and_sni() {
    let model = model();
    agree(GATEWAY, &model);
    assert!(answer(GATEWAY, &model, "shop/backend", "google.com", 443, None));
    assert!(!answer(GATEWAY, &model, "shop/frontend", "google.com", 443, None));
    // REGISTRY_ONLY: no entry for the port, the name or the address
    assert!(!answer(GATEWAY, &model, "shop/backend", "google.com", 80, None));
    assert!(!answer(GATEWAY, &model, "shop/backend", "example.org", 443, None));
    assert!(!answer(GATEWAY, &model, "shop/backend", "203.0.113.9", 443, None));
    // blog sees neither entry nor route and has no Sidecar
    assert!(answer(GATEWAY, &model, "blog/web", "google.com", 443, None));
    // the hop carries no SNI: the SNI-only policy does not decide it
    assert!(answer(
        GATEWAY,
        &model,
        "shop/frontend",
        "istio-system/egress-gateway",
        443,
        None
    ));
}

#[test]
fn a_passthrough_server_sees_no_principal_but_the_address() {
    let passthrough = GATEWAY
        .replace("tls: { mode: ISTIO_MUTUAL }", "tls: { mode: PASSTHROUGH }")
        .replace(
            "  tcp:\n  - match: [{ gateways: [palisade-gateway-google.com], port: 443 }]",
            "  tls:\n  - match: [{ gateways: [palisade-gateway-google.com], port: 443, sniHosts: [google.com] }]",
        );
    let model = model();
    agree(&passthrough, &model);
    assert!(!answer(&passthrough, &model, "shop/backend", "google.com", 443, None));
    let backend_ip = model.pods.iter().find(|p| p.name == "backend").unwrap().ip;
    let by_address = passthrough.replace(
        "principals: [cluster.local/ns/shop/sa/backend]",
        &format!("ipBlocks: [\"{backend_ip}\"]"),
    );
    agree(&by_address, &model);
    assert!(answer(&by_address, &model, "shop/backend", "google.com", 443, None));
    assert!(!answer(&by_address, &model, "shop/frontend", "google.com", 443, None));
}

#[test]
fn routes_without_a_server_or_a_bound_route_go_nowhere() {
    let model = model();
    let without = |kind: &str| -> String {
        GATEWAY
            .split("\n---\n")
            .filter(|doc| !doc.contains(kind))
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    let no_server = without("kind: Gateway\n");
    agree(&no_server, &model);
    assert!(!answer(&no_server, &model, "shop/backend", "google.com", 443, None));
    let no_bound_route = without("tcp:");
    agree(&no_bound_route, &model);
    assert!(!answer(
        &no_bound_route,
        &model,
        "shop/backend",
        "google.com",
        443,
        None
    ));
    let no_policy = without("kind: AuthorizationPolicy");
    agree(&no_policy, &model);
    assert!(answer(&no_policy, &model, "shop/frontend", "google.com", 443, None));
    // without the Sidecar the mesh route still decides what it routes
    let open = without("kind: Sidecar");
    agree(&open, &model);
    assert!(!answer(&open, &model, "shop/frontend", "google.com", 443, None));
    assert!(answer(&open, &model, "shop/frontend", "example.org", 443, None));
}

#[test]
fn the_first_route_that_leads_elsewhere_decides_per_port() {
    // an any-port entry; a route to the host itself and one without
    // destination are skipped; port 8443 goes to a Service with no gateway
    let yaml = GATEWAY
        .replace(
            "spec: { hosts: [google.com], ports: [{ number: 443, name: tls, protocol: TLS }], resolution: DNS, exportTo: [\".\"] }",
            "spec: { hosts: [\"*.google.com\", GOOGLE.com], resolution: DNS, exportTo: [\".\"] }",
        )
        .replace(
            "  tls:\n  - match: [{ gateways: [mesh], port: 443, sniHosts: [google.com] }]",
            "  tls:\n  - match: [{ sniHosts: [google.com] }]\n    route: [{ destination: { host: google.com } }]\n  - route: []\n  - match: [{ port: 8443, sniHosts: [\"*.google.com\", google.com] }]\n    route: [{ destination: { host: other.elsewhere.svc.cluster.local } }]\n  - match: [{ gateways: [mesh], port: 443, sniHosts: [google.com] }]",
        );
    let mut model = model();
    model.ports.push((Protocol::Tcp, 8443));
    agree(&yaml, &model);
    assert!(answer(&yaml, &model, "shop/backend", "google.com", 443, None));
    assert!(!answer(&yaml, &model, "shop/backend", "google.com", 8443, None));
    // a wildcard's suffix compares case, as `host_matches` does: no entry for this name
    assert!(!answer(&yaml, &model, "shop/frontend", "Mail.Google.com", 80, None));
}

const POLICIES: &str = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: backend, namespace: shop }
spec:
  selector: { matchLabels: { app: backend } }
  rules:
  - from: [{ source: { principals: [cluster.local/ns/shop/sa/frontend] } }]
    to: [{ operation: { ports: ["8080"], methods: [GET], paths: [/products/*] } }]
  - from: [{ source: { principals: ["cluster.local/ns/shop/*"], notPrincipals: ["*/sa/frontend"] } }]
    to: [{ operation: { ports: ["9090", "+80", "080"] } }]
    when: [{ key: "request.headers[x-tenant]", values: [acme] }]
  - from: [{ source: { namespaces: ["*log"] } }, { source: { ipBlocks: [198.51.100.0/24, 203.0.113.9] } }]
    to: [{ operation: { notPorts: ["8080", "9090"], notMethods: [DELETE] } }]
  - from: [{ source: { serviceAccounts: [shop/admin] } }]
    when: [{ key: destination.port, values: ["70*"] }, { key: source.namespace, notValues: [blog] }]
  - from: [{ source: { serviceAccounts: [admin] } }]
    to: [{ operation: { ports: ["8081"] } }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-secrets, namespace: shop }
spec:
  action: DENY
  selector: { matchLabels: { app: backend } }
  rules:
  - to: [{ operation: { paths: [/products/secret*] } }]
  - from: [{ source: { notIpBlocks: [0.0.0.0/0] } }]
  - to: [{ operation: { paths: ["/products/{*}/x"] } }]
  - when: [{ key: "request.auth.claims[group]", values: [x] }]
  - to: [{ operation: { ports: ["8081"] } }]
    when: [{ key: source.principal, values: ["*/sa/stranger"] }]
  - from: [{ source: { requestPrincipals: ["*"] } }]
  - to: [{ operation: { notPaths: ["/products/*"] } }]
    when: [{ key: "request.headers[x-admin]" }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: audited, namespace: shop }
spec: { action: AUDIT, rules: [{}] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: nobody, namespace: blog, annotations: { istio.io/dry-run: "true" } }
spec: { rules: [] }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ops-only, namespace: shop }
spec:
  action: ALLOW
  selector: { matchLabels: { role: ops, absent: 7 } }
  rules:
  - from: []
  - to: []
  - from: [{ source: { notNamespaces: [shop] } }]
"#;

#[test]
fn allow_and_deny_rules_read_as_istio_reads_them() {
    let model = model();
    agree(POLICIES, &model);
    let get = Some(("GET", "/products/1"));
    assert!(answer(POLICIES, &model, "shop/frontend", "shop/backend", 8080, None));
    assert!(answer(POLICIES, &model, "shop/frontend", "shop/backend", 8080, get));
    assert!(!answer(
        POLICIES,
        &model,
        "shop/frontend",
        "shop/backend",
        8080,
        Some(("POST", "/products/1"))
    ));
    assert!(!answer(
        POLICIES,
        &model,
        "shop/frontend",
        "shop/backend",
        8080,
        Some(("GET", "/products/secret/x"))
    ));
    // a header condition: some connections carry it, a modelled request never does
    assert!(answer(POLICIES, &model, "shop/admin", "shop/backend", 9090, None));
    assert!(!answer(POLICIES, &model, "shop/admin", "shop/backend", 9090, get));
    assert!(!answer(POLICIES, &model, "shop/frontend", "shop/backend", 9090, None));
    // `ports` compares text: "+80" and "080" are not port 80
    assert!(!answer(POLICIES, &model, "shop/admin", "shop/backend", 80, None));
    // namespaces by suffix, addresses, notPorts and notMethods
    assert!(answer(POLICIES, &model, "blog/web", "shop/backend", 443, None));
    assert!(!answer(
        POLICIES,
        &model,
        "blog/web",
        "shop/backend",
        443,
        Some(("DELETE", "/admin"))
    ));
    assert!(answer(POLICIES, &model, "198.51.100.7", "shop/backend", 80, None));
    assert!(!answer(POLICIES, &model, "10.30.1.5", "shop/backend", 80, None));
    // a qualified service account; a bare one is not decided (Unknown: an ALLOW may admit)
    assert!(answer(POLICIES, &model, "shop/admin", "shop/backend", 7070, None));
    assert!(answer(POLICIES, &model, "shop/stranger", "shop/backend", 8081, None));
    // an ALLOW policy with a non-string label selects pods without that label
    assert!(!answer(POLICIES, &model, "shop/frontend", "shop/admin", 80, None));
    assert!(answer(POLICIES, &model, "blog/web", "shop/admin", 80, None));
    // dry-run: blog is open
    assert!(answer(POLICIES, &model, "shop/stranger", "blog/web", 80, None));
}

#[test]
fn root_namespace_policies_apply_everywhere_and_gateway_pods_drop_sni_only_ones_on_the_hop() {
    let yaml = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: mesh-wide, namespace: istio-system }
spec:
  action: DENY
  rules: [{ from: [{ source: { namespaces: [blog] } }], to: [{ operation: { ports: ["443"] } }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: sni, namespace: istio-system }
spec:
  selector: { matchLabels: { istio: egressgateway } }
  rules: [{ when: [{ key: connection.sni, values: [google.com] }] }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: istio-system }
spec: { selector: { istio: egressgateway }, servers: [] }
"#;
    let model = model();
    agree(yaml, &model);
    assert!(!answer(yaml, &model, "blog/web", "shop/backend", 443, None));
    assert!(answer(yaml, &model, "blog/web", "shop/backend", 80, None));
    assert!(answer(
        yaml,
        &model,
        "shop/frontend",
        "istio-system/egress-gateway",
        80,
        None
    ));
    assert!(!answer(
        yaml,
        &model,
        "blog/web",
        "istio-system/egress-gateway",
        443,
        None
    ));
}

#[test]
fn the_sidecar_of_a_workload_wins_over_its_namespace_and_the_root() {
    let yaml = r#"
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: root, namespace: istio-system }
spec: { outboundTrafficPolicy: { mode: REGISTRY_ONLY } }
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: admin, namespace: shop }
spec: { workloadSelector: { labels: { role: ops } }, outboundTrafficPolicy: { mode: ALLOW_ANY } }
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: shop, namespace: shop }
spec: { outboundTrafficPolicy: { mode: REGISTRY_ONLY } }
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: shop-later, namespace: shop }
spec: { outboundTrafficPolicy: { mode: ALLOW_ANY } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: block, namespace: blog }
spec: { hosts: [x.invalid], addresses: [198.51.100.0/24], ports: [{ number: 80 }] }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: mail, namespace: shop }
spec: { hosts: ["*.Google.com"], exportTo: [blog, "~"] }
"#;
    let model = model();
    agree(yaml, &model);
    assert!(answer(yaml, &model, "shop/admin", "example.org", 443, None));
    assert!(!answer(yaml, &model, "shop/frontend", "example.org", 443, None));
    assert!(answer(yaml, &model, "shop/frontend", "198.51.100.7", 80, None));
    assert!(!answer(yaml, &model, "blog/web", "198.51.100.7", 81, None));
    assert!(answer(yaml, &model, "blog/web", "Mail.Google.com", 443, None));
    assert!(!answer(yaml, &model, "shop/frontend", "Mail.Google.com", 443, None));
    // pod to pod is never the registry's business
    assert!(answer(yaml, &model, "shop/frontend", "blog/web", 443, None));
}

#[test]
fn export_index_reads_export_to_as_visible_does() {
    let objects = manifests(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: a, namespace: shop }
spec: { exportTo: ["."] }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: b, namespace: shop }
spec: { exportTo: [blog, "*"] }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: c, namespace: shop }
spec: { exportTo: ["~", 7] }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: d, namespace: shop }
spec: { exportTo: [] }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: e, namespace: shop }
spec: { exportTo: [blog, ".", blog] }
"#,
    );
    let exports = Exports::new(objects.iter());
    for ns in ["shop", "blog", "other"] {
        let expected: Vec<usize> = (0..objects.len())
            .filter(|&i| super::super::evaluate::visible(&objects[i], ns))
            .collect();
        assert_eq!(exports.seen_from(ns), expected, "{ns}");
    }
}

#[test]
fn a_block_that_splits_an_outside_class_gets_no_sets() {
    let yaml = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: backend, namespace: shop }
spec:
  selector: { matchLabels: { app: backend } }
  rules: [{ from: [{ source: { ipBlocks: [198.51.100.0/28] } }] }]
"#;
    let mut model = model();
    // the model's only block groups .7 and .100 as one class the policy tells apart
    model.blocks = vec!["203.0.113.0/24".parse().unwrap()];
    model.externals.push(external(None, "198.51.100.100"));
    let manifests = manifests(yaml);
    let mesh = Mesh::read(&manifests);
    assert!(mesh.sides(&Universe::new(&model, false)).is_none());
    // with the block in the model the classes are fine again
    model.blocks.push("198.51.100.0/28".parse().unwrap());
    agree(yaml, &model);
}

mod generated {
    //! Random meshes from the forms Istio reads, against the evaluator

    use super::*;
    use proptest::prelude::*;

    const SOURCE_FIELDS: &[&str] = &[
        "principals: [cluster.local/ns/shop/sa/frontend]",
        "principals: [\"cluster.local/ns/shop/*\"]",
        "principals: [\"*\"]",
        "notPrincipals: [cluster.local/ns/shop/sa/admin]",
        "namespaces: [shop]",
        "namespaces: [\"*log\"]",
        "notNamespaces: [blog]",
        "ipBlocks: [198.51.100.0/24]",
        "ipBlocks: [203.0.113.9]",
        "ipBlocks: [10.244.0.0/16]",
        "notIpBlocks: [0.0.0.0/0]",
        "notIpBlocks: [10.244.0.11/32]",
        "remoteIpBlocks: [142.250.0.0/16]",
        "serviceAccounts: [shop/admin]",
        "serviceAccounts: [admin]",
        "serviceAccounts: [shop/admin, web]",
        "requestPrincipals: [\"*\"]",
    ];

    const OPERATION_FIELDS: &[&str] = &[
        "ports: [\"8080\"]",
        "ports: [\"443\", \"9090\"]",
        "ports: [\"080\"]",
        "notPorts: [\"8080\"]",
        "methods: [GET]",
        "methods: [\"P*\"]",
        "notMethods: [DELETE]",
        "paths: [/products/*]",
        "paths: [\"/products/{*}/x\"]",
        "paths: [\"*/x\"]",
        "notPaths: [/admin]",
        "hosts: [x]",
    ];

    const CONDITIONS: &[&str] = &[
        "{ key: connection.sni, values: [google.com] }",
        "{ key: connection.sni, notValues: [\"*.org\"] }",
        "{ key: source.principal, values: [\"*frontend\"] }",
        "{ key: source.namespace, notValues: [shop] }",
        "{ key: destination.port, values: [\"80*\"] }",
        "{ key: destination.port, notValues: [\"443\"] }",
        "{ key: \"request.headers[x]\", values: [a] }",
        "{ key: \"request.headers[x]\", notValues: [a] }",
        "{ key: \"request.auth.claims[g]\", values: [a] }",
    ];

    const SELECTORS: &[&str] = &[
        "",
        "selector: { matchLabels: { app: backend } }",
        "selector: { matchLabels: { role: ops } }",
        "selector: { matchLabels: { absent: 7 } }",
        "selector: { matchLabels: { app: 7 } }",
        "selector: { matchLabels: { istio: egressgateway } }",
    ];

    const ACTIONS: &[&str] = &["", "action: ALLOW", "action: DENY", "action: AUDIT"];

    const EXTRAS: &[&str] = &[
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: root, namespace: istio-system }\nspec: { outboundTrafficPolicy: { mode: REGISTRY_ONLY } }",
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: ops, namespace: shop }\nspec: { workloadSelector: { labels: { role: ops } }, outboundTrafficPolicy: { mode: ALLOW_ANY } }",
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: blog, namespace: blog }\nspec: { outboundTrafficPolicy: { mode: REGISTRY_ONLY } }",
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: nets, namespace: blog }\nspec: { hosts: [n.invalid], addresses: [198.51.100.0/24, 10.30.0.0/16], ports: [{ number: 80 }, { number: 443 }] }",
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: org, namespace: shop }\nspec: { hosts: [EXAMPLE.org, \"*.Google.com\"], exportTo: [blog, \".\"] }",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: org, namespace: blog }\nspec:\n  hosts: [example.org]\n  tls:\n  - match: [{ port: 443, sniHosts: [example.org] }]\n    route: [{ destination: { host: istio-egressgateway.istio-system.svc.cluster.local } }]",
    ];

    fn policy(index: usize, namespace: &str, selector: &str, action: &str, rules: &[String]) -> String {
        format!(
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{ name: p{index}, namespace: {namespace} }}\nspec:\n  {selector}\n  {action}\n  rules:{}",
            if rules.is_empty() { " []\n".to_string() } else { format!("\n{}", rules.concat()) }
        )
    }

    fn rule() -> impl Strategy<Value = String> {
        let fields = |list: &'static [&'static str]| {
            prop::collection::vec(prop::sample::select(list), 1..=2).prop_map(|f| {
                let mut f = f;
                f.sort_unstable();
                f.dedup();
                f.join(", ")
            })
        };
        (
            prop::option::of(prop::collection::vec(fields(SOURCE_FIELDS), 0..=2)),
            prop::option::of(prop::collection::vec(fields(OPERATION_FIELDS), 0..=2)),
            prop::option::of(prop::collection::vec(prop::sample::select(CONDITIONS), 1..=2)),
        )
            .prop_map(|(from, to, when)| {
                let mut out = "  - {".to_string();
                if let Some(from) = from {
                    let sources: Vec<String> = from.iter().map(|f| format!("{{ source: {{ {f} }} }}")).collect();
                    out.push_str(&format!(" from: [{}],", sources.join(", ")));
                }
                if let Some(to) = to {
                    let ops: Vec<String> = to.iter().map(|f| format!("{{ operation: {{ {f} }} }}")).collect();
                    out.push_str(&format!(" to: [{}],", ops.join(", ")));
                }
                if let Some(when) = when {
                    out.push_str(&format!(" when: [{}],", when.join(", ")));
                }
                out.push_str(" }\n");
                out
            })
    }

    fn mesh() -> impl Strategy<Value = String> {
        let one = (
            prop::sample::select(&["shop", "blog", "istio-system"][..]),
            prop::sample::select(SELECTORS),
            prop::sample::select(ACTIONS),
            prop::collection::vec(rule(), 0..=3),
        );
        (
            prop::collection::vec(one, 0..=4),
            prop::sample::subsequence(EXTRAS, 0..=EXTRAS.len()),
            0..4usize,
        )
            .prop_map(|(policies, extras, gateway)| {
                let mut docs: Vec<String> = policies
                    .iter()
                    .enumerate()
                    .map(|(i, (ns, selector, action, rules))| policy(i, ns, selector, action, rules))
                    .collect();
                docs.extend(extras.iter().map(|e| (*e).to_string()));
                let base = GATEWAY
                    .split("\n---\n")
                    .filter(|doc| !doc.contains("name: palisade-egress-gateway"))
                    .collect::<Vec<_>>()
                    .join("\n---\n");
                match gateway {
                    0 => {}
                    1 => docs.push(base),
                    2 => docs.push(base.replace("tls: { mode: ISTIO_MUTUAL }", "tls: { mode: PASSTHROUGH }").replace(
                        "  tcp:\n  - match: [{ gateways: [palisade-gateway-google.com], port: 443 }]",
                        "  tls:\n  - match: [{ gateways: [palisade-gateway-google.com], port: 443, sniHosts: [google.com, example.org] }]",
                    )),
                    _ => docs.push(base.replace("hosts: [./google.com]", "hosts: [\"*/*\"]")),
                }
                docs.join("\n---\n")
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Every rule form, selector, action, Sidecar, entry and gateway
        /// variant above, on every connection of the model
        #[test]
        fn random_meshes_decide_as_the_evaluator(yaml in mesh()) {
            let mut model = model();
            model.ports.push((Protocol::Tcp, 8443));
            agree(&yaml, &model);
        }
    }
}
