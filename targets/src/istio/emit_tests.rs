//! What the Istio emitter writes for the egress gateway and for HTTP rules,
//! read against Istio's reference (cited per test), and what it refuses.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

use super::*;

const PROJECT: &str = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: t }\nspec:\n  targets: [kubernetes, istio]\n  cluster:\n    clusterCIDRs: [10.244.0.0/16]\n    egressGateway: { namespace: istio-system, selector: { istio: egressgateway }, service: istio-egressgateway }\n";

fn ir(shop: &str) -> Ir {
    let files = vec![
        palisade_intents::RawFile {
            path: "palisade.yaml".into(),
            bytes: PROJECT.as_bytes().to_vec(),
        },
        palisade_intents::RawFile {
            path: "shop.yaml".into(),
            bytes: format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: shop, namespace: shop }}\nspec:\n  posture: default-deny\n{shop}").into_bytes(),
        },
    ];
    let repository = palisade_intents::load_files(files).unwrap_or_else(|d| panic!("{d:?}"));
    palisade_compiler::compile(&repository)
        .map(|(ir, _)| ir)
        .unwrap_or_else(|d| panic!("{d:?}"))
}

fn emitted(shop: &str) -> Vec<Manifest> {
    emit(&ir(shop), Mode::Enforce).unwrap_or_else(|d| panic!("{d:?}"))
}

fn refusal(shop: &str) -> String {
    match emit(&ir(shop), Mode::Enforce) {
        Ok(_) => panic!("expected a refusal"),
        Err(d) => format!("{d:?}"),
    }
}

fn find<'m>(manifests: &'m [Manifest], kind: &str, namespace: &str, name: &str) -> &'m Value {
    manifests
        .iter()
        .find(|m| m.kind() == kind && m.namespace() == namespace && m.name() == name)
        .map(|m| &m.object)
        .unwrap_or_else(|| {
            let all: Vec<String> = manifests.iter().map(Manifest::reference).collect();
            panic!("no {kind} {namespace}/{name} in {all:?}")
        })
}

const GATEWAY_USERS: &str = "  services:\n    a: { selector: { app: a }, serviceAccount: a }\n    b: { selector: { app: b }, serviceAccount: b }\n    c: { selector: { app: c }, serviceAccount: c }\n  allow:\n    - from: a\n      to: { fqdn: api.stripe.com, via: egress-gateway }\n      ports: [tcp/443]\n    - from: [a, b]\n      to: { fqdn: api-stripe.com, via: egress-gateway }\n      ports: [tcp/443]\n    - c -> a tcp/80\n";

#[test]
fn the_gateway_admits_each_host_only_from_the_principals_whose_intents_name_it() {
    let manifests = emitted(GATEWAY_USERS);
    let policy = find(&manifests, "AuthorizationPolicy", "istio-system", GATEWAY_POLICY);
    assert_eq!(policy["spec"]["action"], "ALLOW");
    assert_eq!(
        policy["spec"]["selector"],
        json!({ "matchLabels": { "istio": "egressgateway" } })
    );
    // Istio: rules OR, and inside a rule `from` and `when` AND; `connection.sni`
    // is "the server name indication" of the TLS connection (Conditions reference)
    assert_eq!(
        policy["spec"]["rules"],
        json!([
            {
                "from": [{ "source": { "principals": ["cluster.local/ns/shop/sa/a", "cluster.local/ns/shop/sa/b"] } }],
                "when": [{ "key": "connection.sni", "values": ["api-stripe.com"] }],
            },
            {
                "from": [{ "source": { "principals": ["cluster.local/ns/shop/sa/a"] } }],
                "when": [{ "key": "connection.sni", "values": ["api.stripe.com"] }],
            },
        ])
    );
    let text = serde_json::to_string(&policy).unwrap();
    assert!(!text.contains("sa/c"), "c has no gateway intent: {text}");
}

#[test]
fn the_gateway_terminates_istio_mtls_so_that_it_knows_the_caller() {
    let manifests = emitted(GATEWAY_USERS);
    let gateway = find(&manifests, "Gateway", "istio-system", "palisade-gateway-api.stripe.com");
    assert_eq!(
        gateway["spec"]["servers"],
        json!([{ "port": { "number": 443, "name": "tls", "protocol": "TLS" }, "hosts": ["./api.stripe.com"], "tls": { "mode": "ISTIO_MUTUAL" } }])
    );
    // A server that terminates TLS routes by `tcp` blocks (gateway.go,
    // buildGatewayNetworkFiltersFromTCPRoutes)
    let route = find(
        &manifests,
        "VirtualService",
        "istio-system",
        "palisade-gateway-api.stripe.com",
    );
    assert_eq!(route["spec"]["exportTo"], json!(["."]));
    assert_eq!(
        route["spec"]["tcp"][0]["route"][0]["destination"]["host"],
        "api.stripe.com"
    );
    // The caller's sidecar wraps the application's TLS in Istio mTLS whose SNI is the host
    let rule = find(&manifests, "DestinationRule", "shop", "palisade-egress-gateway");
    assert_eq!(rule["spec"]["exportTo"], json!(["."]));
    let subsets = rule["spec"]["subsets"].as_array().unwrap();
    let stripe = subsets
        .iter()
        .find(|s| s["trafficPolicy"]["tls"]["sni"] == "api.stripe.com")
        .unwrap();
    assert_eq!(stripe["trafficPolicy"]["tls"]["mode"], "ISTIO_MUTUAL");
    let mesh = find(&manifests, "VirtualService", "shop", "egress-api.stripe.com");
    assert_eq!(mesh["spec"]["gateways"], json!(["mesh"]));
    assert_eq!(
        mesh["spec"]["tls"][0]["route"][0]["destination"]["subset"],
        stripe["name"]
    );
}

#[test]
fn every_route_object_is_seen_only_where_it_is_needed() {
    // Without `exportTo` an object is exported to every namespace (Istio's
    // default `*`): other namespaces' sidecars would route the host too.
    for m in emitted(GATEWAY_USERS) {
        if matches!(m.kind(), "ServiceEntry" | "VirtualService" | "DestinationRule") {
            assert_eq!(m.object["spec"]["exportTo"], json!(["."]), "{}", m.reference());
        }
    }
}

#[test]
fn subset_names_are_distinct_dns_labels() {
    let a = subset_name("api.stripe.com");
    let b = subset_name("api-stripe.com");
    assert_ne!(a, b);
    assert_eq!(subset_name("api-stripe-com"), "api-stripe-com", "a label already");
    assert_ne!(subset_name("api-stripe-com"), a);
    let long = subset_name(&format!("{}.example.com", "x".repeat(200)));
    for name in [&a, &b, &long] {
        assert!(name.len() <= 63, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
    }
}

#[test]
fn a_caller_without_a_service_account_is_refused_not_widened_to_its_namespace() {
    let text = refusal("  services:\n    a: { selector: { app: a } }\n  allow:\n    - from: a\n      to: { fqdn: api.stripe.com, via: egress-gateway }\n      ports: [tcp/443]\n");
    assert!(
        text.contains("istio_unidentified_source") && text.contains("serviceAccount"),
        "{text}"
    );
}

#[test]
fn a_namespace_caller_is_admitted_by_namespace() {
    let manifests = emitted("  allow:\n    - from: shop/*\n      to: { fqdn: api.stripe.com, via: egress-gateway }\n      ports: [tcp/443]\n");
    let policy = find(&manifests, "AuthorizationPolicy", "istio-system", GATEWAY_POLICY);
    assert_eq!(
        policy["spec"]["rules"][0]["from"],
        json!([{ "source": { "namespaces": ["shop"] } }])
    );
}

#[test]
fn services_sharing_a_service_account_with_different_allowances_are_refused() {
    let text = refusal("  services:\n    a: { selector: { app: a }, serviceAccount: shared }\n    b: { selector: { app: b }, serviceAccount: shared }\n  allow:\n    - from: a\n      to: { fqdn: api.stripe.com, via: egress-gateway }\n      ports: [tcp/443]\n    - from: b\n      to: { fqdn: example.org, via: egress-gateway }\n      ports: [tcp/443]\n");
    assert!(text.contains("istio_shared_principal"), "{text}");
    // The same allowance for both: one principal is exact
    emitted("  services:\n    a: { selector: { app: a }, serviceAccount: shared }\n    b: { selector: { app: b }, serviceAccount: shared }\n  allow:\n    - from: [a, b]\n      to: { fqdn: api.stripe.com, via: egress-gateway }\n      ports: [tcp/443]\n");
}

fn l7(http: &str) -> String {
    format!("  services:\n    frontend: {{ selector: {{ app: frontend }}, serviceAccount: frontend }}\n    backend: {{ selector: {{ app: backend }} }}\n  allow:\n    - from: frontend\n      to: backend\n      ports: [tcp/8080]\n      http: [{http}]\n")
}

#[test]
fn header_values_istio_would_read_as_patterns_are_refused() {
    // HeaderMatcher: `*` presence, `*x` suffix, `x*` prefix
    for (value, reading) in [
        ("\"*\"", "presence"),
        ("\"*-prod\"", "suffix"),
        ("\"tenant-*\"", "prefix"),
    ] {
        let text = refusal(&l7(&format!(
            "{{ method: GET, path: /a, headers: {{ x-tenant: {value} }} }}"
        )));
        assert!(
            text.contains("istio_inexact_http") && text.contains(reading) && text.contains("cilium"),
            "{value}: {text}"
        );
    }
    // CheckEmptyValues: "empty value not allowed"
    let text = refusal(&l7("{ method: GET, headers: { x-tenant: \"\" } }"));
    assert!(text.contains("istio_inexact_http"), "{text}");
    let text = refusal(&l7("{ method: GET, headers: { \"x]y\": a } }"));
    assert!(text.contains("not an HTTP header name"), "{text}");
}

#[test]
fn an_inner_star_is_exact_to_istio_and_is_kept() {
    let manifests = emitted(&l7("{ method: GET, path: /a, headers: { x-tenant: \"a*b\" } }"));
    let policy = find(&manifests, "AuthorizationPolicy", "shop", "backend");
    assert_eq!(
        policy["spec"]["rules"][0]["when"],
        json!([{ "key": "request.headers[x-tenant]", "values": ["a*b"] }])
    );
}

#[test]
fn paths_with_braces_are_refused_and_prefixes_stay_prefixes() {
    // `{*}` / `{**}`: URI templates (ContainsPathTemplate); other braces are
    // rejected by CheckValidPathTemplate
    let text = refusal(&l7("{ method: GET, path: \"/a/{id}\" }"));
    assert!(
        text.contains("istio_inexact_http") && text.contains("path template"),
        "{text}"
    );
    let manifests = emitted(&l7("{ method: GET, path: /products/* }"));
    let policy = find(&manifests, "AuthorizationPolicy", "shop", "backend");
    assert_eq!(
        policy["spec"]["rules"][0]["to"][0]["operation"]["paths"],
        json!(["/products/*"])
    );
}

#[test]
fn the_registry_lists_tcp_destinations_only() {
    let manifests = emitted("  services:\n    a: { selector: { app: a }, serviceAccount: a }\n  allow:\n    - from: a\n      to: { fqdn: api.stripe.com, via: egress-gateway }\n      ports: [tcp/443]\n    - a -> 192.0.2.0/24 udp/514\n    - a -> 198.51.100.0/24 tcp/5432,udp/5432\n");
    let entries: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| m.kind() == "ServiceEntry" && m.name().starts_with("external-"))
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "{:?}",
        entries.iter().map(|m| m.reference()).collect::<Vec<_>>()
    );
    assert_eq!(entries[0].object["spec"]["addresses"], json!(["198.51.100.0/24"]));
    assert_eq!(
        entries[0].object["spec"]["ports"],
        json!([{ "number": 5432, "name": "tcp-5432", "protocol": "TCP" }])
    );
}
