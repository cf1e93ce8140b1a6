//! Class 5 (Istio) and the Istio part of class 10: what `compile` emits for
//! the egress gateway and for HTTP rules, read by a hand-written evaluation of
//! Istio's AuthorizationPolicy rules (security.istio.io reference:
//! "a match occurs when at least one source, one operation and all conditions
//! match"; rules are ORed; once an ALLOW policy selects a workload, what no
//! ALLOW rule matches is denied), not by palisade's evaluator; and what
//! `explain` and `simulate` answer on the same questions.

use crate::util::{compile, palisade, project, refused, repo};
use serde_json::Value;

const CLUSTER: &str = "{ clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12], egressGateway: { namespace: istio-system, selector: { istio: egressgateway }, service: istio-egressgateway }, dns: { namespace: kube-system, selector: { k8s-app: kube-dns }, ports: [udp/53, tcp/53] } }";

fn intents(namespace: &str, body: &str) -> String {
    format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: {namespace}, namespace: {namespace} }}\nspec:\n  posture: default-deny\n{body}")
}

/// Three services of `shop`: `a` may reach api.stripe.com, `b` example.org,
/// `c` neither (it has an intent to `a` only). `blog/web` has no gateway intent.
fn gateway_repo() -> tempfile::TempDir {
    repo(
        &project("kubernetes, istio", CLUSTER),
        &[
            (
                "intents/shop.yaml",
                &intents(
                    "shop",
                    "  services:\n    a: { selector: { app: a }, serviceAccount: a }\n    b: { selector: { app: b }, serviceAccount: b }\n    c: { selector: { app: c }, serviceAccount: c }\n  allow:\n    - from: a\n      to: { fqdn: api.stripe.com, via: egress-gateway }\n      ports: [tcp/443]\n    - from: b\n      to: { fqdn: example.org, via: egress-gateway }\n      ports: [tcp/443]\n    - c -> a tcp/8080\n",
                ),
            ),
            (
                "intents/blog.yaml",
                &intents(
                    "blog",
                    "  services:\n    web: { selector: { app: web }, serviceAccount: web }\n  allow:\n    - web -> shop/a tcp/8080\n",
                ),
            ),
        ],
    )
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

/// Istio's value match for principals and `when` values
/// (pilot/pkg/security/authz/matcher): `*` presence, `*x` suffix, `x*`
/// prefix, else exact
fn istio_match(pattern: &str, actual: &str) -> bool {
    if pattern == "*" {
        !actual.is_empty()
    } else if let Some(s) = pattern.strip_prefix('*') {
        actual.ends_with(s)
    } else if let Some(p) = pattern.strip_suffix('*') {
        actual.starts_with(p)
    } else {
        pattern == actual
    }
}

/// Whether the ALLOW AuthorizationPolicies that select the gateway admit a
/// TLS connection with this SNI from this principal (namespace `ns`)
fn gateway_admits(objects: &[Value], principal: &str, ns: &str, sni: &str) -> bool {
    let policies: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "AuthorizationPolicy" && o["metadata"]["namespace"] == "istio-system")
        .filter(|o| o["spec"]["selector"]["matchLabels"]["istio"] == "egressgateway")
        .collect();
    assert!(
        !policies.is_empty(),
        "no AuthorizationPolicy selects the egress gateway"
    );
    policies.iter().all(|p| p["spec"]["action"] == "ALLOW")
        && policies.iter().any(|p| {
            p["spec"]["rules"].as_array().into_iter().flatten().any(|rule| {
                let from = rule["from"].as_array().is_none_or(|from| {
                    from.iter().any(|f| {
                        let s = &f["source"];
                        let principals = s
                            .get("principals")
                            .is_none_or(|ps| strings(ps).iter().any(|x| istio_match(x, principal)));
                        let namespaces = s
                            .get("namespaces")
                            .is_none_or(|ns_| strings(ns_).iter().any(|x| istio_match(x, ns)));
                        principals && namespaces
                    })
                });
                let when = rule["when"].as_array().is_none_or(|w| {
                    w.iter().all(|c| match c["key"].as_str() {
                        Some("connection.sni") => strings(&c["values"]).iter().any(|x| istio_match(x, sni)),
                        other => panic!("a gateway rule conditions on {other:?}, which this check does not know"),
                    })
                });
                assert!(
                    rule.get("to").is_none(),
                    "the gateway sees the pod port, not 443: no `to` ports"
                );
                from && when
            })
        })
}

#[test]
fn a_service_without_the_fqdn_intent_is_denied_at_the_gateway() {
    let dir = gateway_repo();
    let objects = compile(dir.path(), "kubernetes,istio");
    let p = |ns: &str, sa: &str| format!("cluster.local/ns/{ns}/sa/{sa}");
    // (principal, namespace, SNI, admitted)
    let table = [
        (p("shop", "a"), "shop", "api.stripe.com", true),
        (p("shop", "a"), "shop", "example.org", false),
        (p("shop", "b"), "shop", "example.org", true),
        (p("shop", "b"), "shop", "api.stripe.com", false),
        (p("shop", "c"), "shop", "api.stripe.com", false),
        (p("shop", "c"), "shop", "example.org", false),
        (p("blog", "web"), "blog", "api.stripe.com", false),
        (p("shop", "a"), "shop", "api.stripe.co", false),
        (p("shop", "a"), "shop", "xapi.stripe.com", false),
    ];
    for (principal, ns, sni, expected) in table {
        assert_eq!(
            gateway_admits(&objects, &principal, ns, sni),
            expected,
            "{principal} with SNI {sni}"
        );
    }
    // Principals only exist where the gateway terminates Istio mTLS: a
    // passthrough server has no TLS context (Istio gateway.go)
    for gateway in objects.iter().filter(|o| o["kind"] == "Gateway") {
        assert_eq!(gateway["metadata"]["namespace"], "istio-system");
        for server in gateway["spec"]["servers"].as_array().unwrap() {
            assert_eq!(server["tls"]["mode"], "ISTIO_MUTUAL", "{gateway}");
        }
    }
    // Without `exportTo` (default `*`) blog's sidecars would route shop's hosts too
    for o in objects.iter().filter(|o| {
        o["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("networking.istio.io/"))
            && matches!(
                o["kind"].as_str(),
                Some("ServiceEntry" | "VirtualService" | "DestinationRule")
            )
    }) {
        assert_eq!(
            o["spec"]["exportTo"],
            serde_json::json!(["."]),
            "{}",
            o["metadata"]["name"]
        );
    }
    assert!(
        !objects.iter().any(|o| o["metadata"]["namespace"] == "blog"
            && o["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("networking.istio.io/"))),
        "blog routes nothing through the gateway"
    );
}

fn explain(dir: &std::path::Path, connection: &str) -> String {
    let out = palisade().arg("explain").arg(dir).arg(connection).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // 0: allowed, 5: denied everywhere; anything else is an error or a disagreement
    assert!(
        matches!(out.status.code(), Some(0 | 5)),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn explain_says_where_the_gateway_decides() {
    let dir = gateway_repo();
    let denied = explain(dir.path(), "shop/c -> api.stripe.com tcp/443");
    assert!(denied.contains("intents: denied"), "{denied}");
    assert!(
        denied.contains("istio (overlay): denied")
            && denied.contains("AuthorizationPolicy istio-system/palisade-egress-gateway no ALLOW rule matches"),
        "{denied}"
    );
    let other_host = explain(dir.path(), "shop/b -> api.stripe.com tcp/443");
    assert!(other_host.contains("istio (overlay): denied"), "{other_host}");
    let admitted = explain(dir.path(), "shop/a -> api.stripe.com tcp/443");
    assert!(
        admitted.contains("istio (overlay): allowed")
            && admitted.contains("AuthorizationPolicy istio-system/palisade-egress-gateway rules[0] ALLOW"),
        "{admitted}"
    );
}

#[test]
fn header_values_with_a_star_are_refused_with_the_place_and_the_alternative() {
    for (value, reading) in [
        ("\"*\"", "presence"),
        ("\"acme-*\"", "prefix"),
        ("\"*-prod\"", "suffix"),
    ] {
        let dir = repo(
            &project("kubernetes, istio", CLUSTER),
            &[(
                "shop.yaml",
                &intents(
                    "shop",
                    &format!("  services:\n    frontend: {{ selector: {{ app: frontend }}, serviceAccount: frontend }}\n    backend: {{ selector: {{ app: backend }} }}\n  allow:\n    - from: frontend\n      to: backend\n      ports: [tcp/8080]\n      http: [{{ method: GET, path: /a, headers: {{ x-tenant: {value} }} }}]\n"),
                ),
            )],
        );
        let (code, stderr) = refused({
            let mut c = palisade();
            c.arg("compile").arg(dir.path());
            c
        });
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains("shop.yaml:10:11: error[palisade::istio_inexact_http]"),
            "{value}: {stderr}"
        );
        assert!(
            stderr.contains(reading) && stderr.contains("cilium"),
            "{value}: {stderr}"
        );
    }
}

const CLUSTER_DUMP: &str = "apiVersion: v1\nkind: List\nitems:\n- { apiVersion: v1, kind: Namespace, metadata: { name: shop, labels: { kubernetes.io/metadata.name: shop } } }\n- apiVersion: v1\n  kind: Pod\n  metadata: { name: backend, namespace: shop, labels: { app: backend } }\n  spec: { serviceAccountName: backend, containers: [{ name: c, ports: [{ containerPort: 8080 }] }] }\n  status: { podIP: 10.244.1.2 }\n- apiVersion: v1\n  kind: Pod\n  metadata: { name: frontend, namespace: shop, labels: { app: frontend } }\n  spec: { serviceAccountName: frontend, containers: [{ name: c }] }\n  status: { podIP: 10.244.1.3 }\n- apiVersion: v1\n  kind: Pod\n  metadata: { name: stranger, namespace: shop, labels: { app: stranger } }\n  spec: { serviceAccountName: stranger, containers: [{ name: c }] }\n  status: { podIP: 10.244.1.4 }\n";

const ALLOW_FRONTEND: &str = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: backend, namespace: shop }\nspec:\n  action: ALLOW\n  selector: { matchLabels: { app: backend } }\n  rules:\n  - from: [{ source: { principals: [cluster.local/ns/shop/sa/frontend] } }]\n    to: [{ operation: { ports: [\"8080\"] } }]\n";

fn simulate(from: &str, protocol: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), CLUSTER_DUMP).unwrap();
    std::fs::write(dir.path().join("policy.yaml"), ALLOW_FRONTEND).unwrap();
    let out = palisade()
        .arg("simulate")
        .arg("--cluster")
        .arg(dir.path().join("cluster.yaml"))
        .arg("--policies")
        .arg(dir.path().join("policy.yaml"))
        .args([
            "--from",
            from,
            "--to",
            "shop/backend",
            "--port",
            "8080",
            "--protocol",
            protocol,
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn udp_is_not_decided_by_authorization_policies() {
    // "Istio supports proxying any TCP traffic ... UDP is not proxied"
    // (istio.io protocol selection): the sidecar never sees UDP, so an ALLOW
    // policy that admits only `frontend` on 8080 does not touch UDP to 8080
    assert_eq!(
        simulate("shop/stranger", "TCP")["allowed"],
        false,
        "TCP: the ALLOW policy decides"
    );
    assert_eq!(simulate("shop/frontend", "TCP")["allowed"], true);
    let udp = simulate("shop/stranger", "UDP");
    assert_eq!(udp["allowed"], true, "UDP passes Istio: {udp}");
    assert!(
        !udp["decided_by"].to_string().contains("AuthorizationPolicy"),
        "no AuthorizationPolicy decides UDP: {udp}"
    );
}

/// Review finding 4: the gateway passes the application's TLS through; it
/// cannot enforce a method or a path, so an HTTP rule through it is refused
/// rather than compiled to the whole host
#[test]
fn review_http_rules_through_the_egress_gateway_are_refused() {
    let body = "  services:\n    frontend: { selector: { app: frontend }, serviceAccount: frontend }\n  allow:\n    - from: frontend\n      to: { fqdn: api.stripe.com, via: egress-gateway }\n      ports: [tcp/443]\n      http: [{ method: GET, path: /v1/x }]\n";
    let dir = repo(
        &project("kubernetes, istio", CLUSTER),
        &[("shop.yaml", &intents("shop", body))],
    );
    let mut cmd = palisade();
    cmd.arg("compile").arg(dir.path());
    let (code, stderr) = refused(cmd);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("istio_l7_through_gateway") && stderr.contains("shop.yaml:9:"),
        "{stderr}"
    );
}

/// Review finding 6: a ServiceEntry without `exportTo` is exported to every
/// namespace (Istio's ServiceEntry reference), and another namespace's
/// REGISTRY_ONLY sidecars would admit this one's destinations
#[test]
fn review_every_service_entry_is_exported_to_its_namespace_only() {
    let body = "  services:\n    web: { selector: { app: web }, serviceAccount: web }\n  allow:\n    - web -> https://api.stripe.com\n    - web -> 203.0.113.0/24 tcp/5432\n    - from: web\n      to: { fqdn: google.com, via: egress-gateway }\n      ports: [tcp/443]\n";
    let dir = repo(
        &project("cilium, istio", CLUSTER),
        &[("shop.yaml", &intents("shop", body))],
    );
    let objects = compile(dir.path(), "cilium,istio");
    let entries: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "ServiceEntry").collect();
    assert!(entries.len() >= 2, "{entries:?}");
    for entry in entries {
        assert_eq!(entry["spec"]["exportTo"], serde_json::json!(["."]), "{entry}");
    }
}

/// Review finding V1 (bench, generated repositories): with an L3/L4 target
/// that sees no HTTP, the HTTP rule of an edge holds at the destination's
/// sidecar only. Verify compares the source's egress side port by port and
/// the requests end to end, so the rule compiled as intended verifies, and
/// a sidecar policy widened to every request is caught.
#[test]
fn http_rules_enforced_at_the_destination_only_verify_and_their_widening_is_caught() {
    let dir = repo(
        &project("kubernetes, istio", CLUSTER),
        &[(
            "intents/shop.yaml",
            &intents(
                "shop",
                "  services:\n    web: { selector: { app: web }, serviceAccount: web }\n    api: { selector: { app: api }, serviceAccount: api }\n  allow:\n    - { from: web, to: api, ports: [tcp/8080], http: [{ method: GET, path: \"/products/*\" }] }\n",
            ),
        )],
    );
    let verify = |out: &std::path::Path| {
        let run = palisade()
            .arg("verify")
            .arg(dir.path())
            .arg("--manifests")
            .arg(out)
            .output()
            .unwrap();
        (
            run.status.code(),
            String::from_utf8_lossy(&run.stdout).to_string() + &String::from_utf8_lossy(&run.stderr),
        )
    };
    let out = tempfile::tempdir().unwrap();
    palisade()
        .arg("compile")
        .arg(dir.path())
        .arg("--out")
        .arg(out.path())
        .assert()
        .success();
    let (code, text) = verify(out.path());
    assert_eq!(code, Some(0), "{text}");
    let path = out.path().join("istio/shop/authorizationpolicy-api.yaml");
    let policy = std::fs::read_to_string(&path).unwrap();
    let mut object: Value = serde_yaml_ng::from_str(&policy).unwrap();
    for rule in object["spec"]["rules"].as_array_mut().unwrap() {
        if let Some(to) = rule.as_object_mut() {
            to.remove("to");
        }
    }
    std::fs::write(&path, serde_yaml_ng::to_string(&object).unwrap()).unwrap();
    let (code, text) = verify(out.path());
    assert_eq!(code, Some(4), "{text}");
    assert!(
        text.contains("shop/web -> shop/api tcp/8080") && text.contains("the intents deny it"),
        "{text}"
    );
}
