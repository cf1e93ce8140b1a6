//! A hand-checked verdict table for the Istio evaluator. Each row cites the
//! Istio rule that decides it; the manifests are written here by hand (what
//! palisade emits for the egress gateway, an L7 policy, and a DENY policy),
//! not by the emitter.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

use super::*;
use palisade_compiler::model::Request;
use palisade_intents::types::Labels;

const MESH: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: egress-google.com, namespace: shop }
spec: { hosts: [google.com], ports: [{ number: 443, name: tls, protocol: TLS }], resolution: DNS, location: MESH_EXTERNAL, exportTo: ["."] }
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
    route: [{ destination: { host: istio-egressgateway.istio-system.svc.cluster.local, subset: google-com, port: { number: 443 } } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: palisade-gateway-google.com, namespace: istio-system }
spec: { hosts: [google.com], ports: [{ number: 443, name: tls, protocol: TLS }], resolution: DNS, location: MESH_EXTERNAL, exportTo: ["."] }
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
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: backend, namespace: shop }
spec:
  action: ALLOW
  selector: { matchLabels: { app: backend } }
  rules:
  - from: [{ source: { principals: [cluster.local/ns/shop/sa/frontend] } }]
    to: [{ operation: { ports: ["8080"], methods: [GET], paths: [/products/*] } }]
  - from: [{ source: { principals: [cluster.local/ns/shop/sa/frontend] } }]
    to: [{ operation: { ports: ["9090"] } }]
    when: [{ key: "request.headers[x-tenant]", values: [acme] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: no-admin, namespace: shop }
spec:
  action: DENY
  selector: { matchLabels: { app: backend } }
  rules:
  - to: [{ operation: { paths: [/products/secret*] } }]
  - to: [{ operation: { ports: ["7070"] } }]
"#;

fn manifests(yaml: &str) -> Vec<Manifest> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| Manifest::new(serde::Deserialize::deserialize(doc).unwrap()))
        .collect()
}

fn model() -> ClusterModel {
    let mut model = ClusterModel::default();
    let labels = |k: &str, v: &str| Labels::from([(k.to_string(), v.to_string())]);
    model.add_pod(
        "shop",
        "frontend",
        labels("app", "frontend"),
        Some("frontend".into()),
        Vec::new(),
    );
    model.add_pod(
        "shop",
        "backend",
        labels("app", "backend"),
        Some("backend".into()),
        Vec::new(),
    );
    model.add_pod("shop", "stranger", labels("app", "stranger"), None, Vec::new());
    model.add_pod("blog", "web", labels("app", "web"), Some("web".into()), Vec::new());
    model.add_pod(
        "istio-system",
        "egress-gateway",
        labels("istio", "egressgateway"),
        None,
        Vec::new(),
    );
    model
}

fn external(name: Option<&str>, ip: [u8; 4]) -> External {
    External {
        ip: IpAddr::from(ip),
        fqdn: name.map(str::to_string),
        kube_apiserver: false,
    }
}

enum To<'a> {
    Pod(&'a str),
    Out(&'a External),
}

/// (from, to, protocol, port, request, expected, the rule that decides)
type Row<'a> = (
    &'a str,
    To<'a>,
    Protocol,
    u16,
    Option<(&'a str, &'a str)>,
    bool,
    &'a str,
);

fn check(yaml: &str, rows: &[Row]) {
    let manifests = manifests(yaml);
    let mesh = Mesh::read(&manifests);
    let model = model();
    let pod = |id: &str| {
        model
            .pods
            .iter()
            .find(|p| p.id() == id)
            .unwrap_or_else(|| panic!("no pod {id}"))
    };
    for (from, to, protocol, port, request, expected, why) in rows {
        let request = request.map(|(method, path)| Request::new(method, path.to_string()));
        let conn = Connection {
            from: Endpoint::Pod(pod(from)),
            to: match to {
                To::Pod(id) => Endpoint::Pod(pod(id)),
                To::Out(ext) => Endpoint::External(ext),
            },
            protocol: *protocol,
            port: *port,
            request: request.as_ref(),
        };
        let verdict = mesh.decide(&model, &conn, true);
        assert_eq!(
            verdict.allowed,
            *expected,
            "{} ({why}): {:?}",
            conn.describe(),
            verdict.decided_by
        );
    }
}

#[test]
fn verdict_table() {
    let google = external(Some("google.com"), [142, 250, 0, 1]);
    let other = external(Some("example.org"), [93, 184, 215, 14]);
    let raw = external(None, [203, 0, 113, 9]);
    use Protocol::{Tcp, Udp};
    use To::{Out, Pod};
    check(
        MESH,
        &[
            // The gateway's ALLOW policy: principal AND connection.sni (authorization-policy: "a match
            // occurs when at least one source, one operation and all conditions match")
            (
                "shop/backend",
                Out(&google),
                Tcp,
                443,
                None,
                true,
                "rules[0]: principal and SNI",
            ),
            (
                "shop/frontend",
                Out(&google),
                Tcp,
                443,
                None,
                false,
                "ALLOW policy present, no rule matches",
            ),
            (
                "shop/stranger",
                Out(&google),
                Tcp,
                443,
                None,
                false,
                "no service account: no principal",
            ),
            // exportTo ".": blog's sidecars see neither the route nor the entry; blog has no Sidecar,
            // so ALLOW_ANY passes it to the L3/L4 layer
            (
                "blog/web",
                Out(&google),
                Tcp,
                443,
                None,
                true,
                "route not exported to blog",
            ),
            // REGISTRY_ONLY: "only services in the registry" (Sidecar outboundTrafficPolicy)
            (
                "shop/backend",
                Out(&other),
                Tcp,
                443,
                None,
                false,
                "REGISTRY_ONLY, no ServiceEntry",
            ),
            (
                "shop/backend",
                Out(&raw),
                Tcp,
                80,
                None,
                false,
                "REGISTRY_ONLY, no address entry",
            ),
            // "UDP is not proxied": neither AuthorizationPolicy nor REGISTRY_ONLY sees it
            ("shop/backend", Out(&other), Udp, 443, None, true, "UDP not proxied"),
            ("shop/backend", Out(&raw), Udp, 53, None, true, "UDP not proxied"),
            (
                "shop/stranger",
                Pod("shop/backend"),
                Udp,
                8080,
                None,
                true,
                "UDP not proxied",
            ),
            // L7 ALLOW: ports exact, methods exact, `/products/*` a prefix ("prefix match")
            (
                "shop/frontend",
                Pod("shop/backend"),
                Tcp,
                8080,
                None,
                true,
                "some request passes",
            ),
            (
                "shop/frontend",
                Pod("shop/backend"),
                Tcp,
                8080,
                Some(("GET", "/products/1")),
                true,
                "prefix",
            ),
            (
                "shop/frontend",
                Pod("shop/backend"),
                Tcp,
                8080,
                Some(("GET", "/productsX")),
                false,
                "prefix is `/products/`",
            ),
            (
                "shop/frontend",
                Pod("shop/backend"),
                Tcp,
                8080,
                Some(("POST", "/products/1")),
                false,
                "method",
            ),
            ("shop/frontend", Pod("shop/backend"), Tcp, 8081, None, false, "port"),
            (
                "shop/stranger",
                Pod("shop/backend"),
                Tcp,
                8080,
                None,
                false,
                "principal",
            ),
            // A header condition: some requests carry it; a modelled request carries none
            (
                "shop/frontend",
                Pod("shop/backend"),
                Tcp,
                9090,
                None,
                true,
                "header unknown: admits some",
            ),
            (
                "shop/frontend",
                Pod("shop/backend"),
                Tcp,
                9090,
                Some(("GET", "/")),
                false,
                "no header",
            ),
            // DENY first ("If there are any DENY policies that match the request, deny"); a DENY on some
            // paths does not deny the whole connection (the `None` rows above pass it)
            (
                "shop/frontend",
                Pod("shop/backend"),
                Tcp,
                8080,
                Some(("GET", "/products/secret/1")),
                false,
                "DENY before ALLOW",
            ),
            (
                "shop/frontend",
                Pod("shop/backend"),
                Tcp,
                7070,
                None,
                false,
                "DENY rules[1]: port",
            ),
            // The hop to the gateway pod carries no SNI: the SNI-only policy decides the routed connection
            (
                "shop/frontend",
                Pod("istio-system/egress-gateway"),
                Tcp,
                443,
                None,
                true,
                "hop: L3/L4 decides",
            ),
            (
                "blog/web",
                Pod("istio-system/egress-gateway"),
                Tcp,
                443,
                None,
                true,
                "hop: L3/L4 decides",
            ),
        ],
    );
}

#[test]
fn a_passthrough_server_sees_no_principal() {
    // gateway.go: a passthrough filter chain has "NO TLS context", so no peer
    // certificate: `source.principals` cannot match
    let passthrough = MESH
        .replace("tls: { mode: ISTIO_MUTUAL }", "tls: { mode: PASSTHROUGH }")
        .replace(
            "  tcp:\n  - match: [{ gateways: [palisade-gateway-google.com], port: 443 }]",
            "  tls:\n  - match: [{ gateways: [palisade-gateway-google.com], port: 443, sniHosts: [google.com] }]",
        );
    let google = external(Some("google.com"), [142, 250, 0, 1]);
    check(
        &passthrough,
        &[(
            "shop/backend",
            To::Out(&google),
            Protocol::Tcp,
            443,
            None,
            false,
            "no mTLS, no principal",
        )],
    );
}

#[test]
fn without_palisade_s_gateway_policy_every_shop_caller_gets_through() {
    // The defect of issue 14: no AuthorizationPolicy on the gateway
    let open: String = MESH
        .split("\n---\n")
        .filter(|doc| !doc.contains("name: palisade-egress-gateway"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let google = external(Some("google.com"), [142, 250, 0, 1]);
    check(
        &open,
        &[(
            "shop/frontend",
            To::Out(&google),
            Protocol::Tcp,
            443,
            None,
            true,
            "no policy on the gateway",
        )],
    );
}

#[test]
fn a_route_without_a_gateway_server_goes_nowhere() {
    let unbound: String = MESH
        .split("\n---\n")
        .filter(|doc| !doc.contains("kind: Gateway"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let google = external(Some("google.com"), [142, 250, 0, 1]);
    check(
        &unbound,
        &[(
            "shop/backend",
            To::Out(&google),
            Protocol::Tcp,
            443,
            None,
            false,
            "no Gateway server",
        )],
    );
}

#[test]
fn values_match_as_istio_builds_its_matchers() {
    // matcher/header.go HeaderMatcher, matcher/string.go StringMatcherWithPrefix
    for (pattern, actual, expected) in [
        ("*", "x", true),
        ("*", "", false),
        ("abc*", "abcdef", true),
        ("abc*", "xabc", false),
        ("*def", "abcdef", true),
        ("*def", "defx", false),
        ("a*c", "a*c", true),
        ("a*c", "abc", false),
        ("exact", "exact", true),
        ("exact", "exactly", false),
    ] {
        assert_eq!(value_matches(pattern, actual), expected, "{pattern} vs {actual}");
    }
}

#[test]
fn export_to_decides_visibility() {
    let m = |export: &str| {
        Manifest::new(
            serde_yaml_ng::from_str(&format!(
                "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{ name: e, namespace: shop }}\nspec: {{ hosts: [a.example], {export} }}\n"
            ))
            .unwrap(),
        )
    };
    // networking.istio.io ServiceEntry.exportTo: "." the same namespace, "*" all, a name that namespace
    assert!(visible(&m("exportTo: [\".\"]"), "shop"));
    assert!(!visible(&m("exportTo: [\".\"]"), "blog"));
    assert!(visible(&m("exportTo: [\"*\"]"), "blog"));
    assert!(visible(&m("exportTo: [blog]"), "blog"));
    assert!(
        visible(&m("location: MESH_EXTERNAL"), "blog"),
        "absent: exported everywhere"
    );
}
