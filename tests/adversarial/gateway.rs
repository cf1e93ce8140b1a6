//! Class 5, the egress gateway end to end: `verify` proves who reaches each
//! host through the gateway (the intents admit a host only for the callers
//! whose gateway intents name it), so a hand-broadened gateway
//! AuthorizationPolicy fails verification, and `explain` answers the same for
//! the intents and for Istio. The expected verdicts are hand-checked against
//! Istio's AuthorizationPolicy reference (security.istio.io): "a match occurs
//! when at least one source, one operation and all conditions match", a rule
//! without `from` has no source condition, and ALLOW rules are ORed.

use crate::util::{palisade, project, repo};

const CLUSTER: &str = "{ clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12], egressGateway: { namespace: istio-system, selector: { istio: egressgateway }, service: istio-egressgateway } }";

/// `shop/a` may use api.stripe.com and `shop/b` example.org through the
/// gateway; `shop/c` only calls `a`
fn two_hosts() -> tempfile::TempDir {
    repo(
        &project("kubernetes, istio", CLUSTER),
        &[(
            "intents/shop.yaml",
            "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  posture: default-deny\n  services:\n    a: { selector: { app: a }, serviceAccount: a }\n    b: { selector: { app: b }, serviceAccount: b }\n    c: { selector: { app: c }, serviceAccount: c }\n  allow:\n    - from: a\n      to: { fqdn: api.stripe.com, via: egress-gateway }\n      ports: [tcp/443]\n    - from: b\n      to: { fqdn: example.org, via: egress-gateway }\n      ports: [tcp/443]\n    - c -> a tcp/8080\n",
        )],
    )
}

fn verify(dir: &std::path::Path, out: &std::path::Path) -> (bool, String) {
    let run = palisade()
        .arg("verify")
        .arg(dir)
        .arg("--manifests")
        .arg(out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout).to_string() + &String::from_utf8_lossy(&run.stderr);
    assert!(!text.contains("panicked"), "{text}");
    (run.status.success(), text)
}

/// The rendered file of the gateway's AuthorizationPolicy
fn gateway_policy(out: &std::path::Path) -> std::path::PathBuf {
    let mut stack = vec![out.join("istio")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read_to_string(&path)
                .unwrap()
                .contains("kind: AuthorizationPolicy")
                && path.to_string_lossy().contains("palisade-egress-gateway")
            {
                return path;
            }
        }
    }
    panic!("no gateway AuthorizationPolicy under {}", out.display());
}

#[test]
fn verify_catches_a_gateway_policy_broadened_to_any_principal() {
    let dir = two_hosts();
    let out = tempfile::tempdir().unwrap();
    let compiled = palisade()
        .arg("compile")
        .arg(dir.path())
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        compiled.status.success(),
        "{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let (ok, text) = verify(dir.path(), out.path());
    assert!(ok, "as emitted:\n{text}");
    // The hand edit: a rule for api.stripe.com without `from`, i.e. any caller
    let path = gateway_policy(out.path());
    let mut object: serde_json::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    object["spec"]["rules"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({ "when": [{ "key": "connection.sni", "values": ["api.stripe.com"] }] }));
    std::fs::write(&path, serde_yaml_ng::to_string(&object).unwrap()).unwrap();
    let (ok, text) = verify(dir.path(), out.path());
    assert!(!ok, "the broadened gateway passed verify:\n{text}");
    // `b` may reach the gateway pods (for example.org), so it now reaches
    // api.stripe.com; `c` may not reach them at all (NetworkPolicy), so the
    // edit changes nothing for it.
    assert!(
        text.contains("verification failed")
            && text.contains("shop/b -> api.stripe.com")
            && text.contains("through istio-system/egress-gateway")
            && text.contains("the intents deny it, kubernetes+istio allows it"),
        "{text}"
    );
    assert!(!text.contains("shop/c -> api.stripe.com"), "{text}");
    // A rule for any principal and any host is caught on both hosts
    object["spec"]["rules"] = serde_json::json!([{}]);
    std::fs::write(&path, serde_yaml_ng::to_string(&object).unwrap()).unwrap();
    let (ok, text) = verify(dir.path(), out.path());
    assert!(
        !ok && text.contains("shop/b -> api.stripe.com") && text.contains("shop/a -> example.org"),
        "{text}"
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
fn explain_agrees_between_the_intents_and_istio_on_gateway_routes() {
    let dir = two_hosts();
    // (connection, hand-checked verdict): the host for the caller whose
    // intent names it, nobody else, not another host
    let table = [
        ("shop/a -> api.stripe.com tcp/443", true),
        ("shop/b -> example.org tcp/443", true),
        ("shop/b -> api.stripe.com tcp/443", false),
        ("shop/a -> example.org tcp/443", false),
        ("shop/c -> api.stripe.com tcp/443", false),
    ];
    for (connection, expected) in table {
        let text = explain(dir.path(), connection);
        let word = if expected { "allowed" } else { "denied" };
        assert!(
            text.contains(&format!("intents: {word}")) && text.contains(&format!("istio (overlay): {word}")),
            "{connection}:\n{text}"
        );
    }
    let admitted = explain(dir.path(), "shop/a -> api.stripe.com tcp/443");
    assert!(
        admitted.contains("shop.yaml:")
            && admitted.contains("AuthorizationPolicy istio-system/palisade-egress-gateway rules[0] ALLOW"),
        "{admitted}"
    );
}

/// Every layer of explain judges a gateway route as the layer carries it: the
/// L3/L4 target by its two legs, so its line agrees with the intents and the
/// overlay instead of denying the caller's own packets to the host
#[test]
fn explain_judges_the_l3l4_target_on_the_gateway_legs() {
    let line = |from: &str| {
        let out = palisade()
            .args([
                "explain",
                "examples/zero-trust",
                &format!("{from} -> google.com tcp/443"),
            ])
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 5)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let backend = line("backend");
    assert!(backend.contains("  intents: allowed"), "{backend}");
    assert!(
        backend.contains("  cilium: allowed (through the egress gateway)"),
        "{backend}"
    );
    assert!(backend.contains("  istio (overlay): allowed"), "{backend}");
    let frontend = line("frontend");
    assert!(frontend.contains("  intents: denied"), "{frontend}");
    assert!(frontend.contains("  istio (overlay): denied"), "{frontend}");
}

/// Without an overlay nothing tells the gateway's hosts apart: a caller of
/// one host would reach every host sent through the gateway. Refused, with
/// the target that makes it exact.
#[test]
fn a_gateway_host_with_other_callers_is_refused_without_an_overlay() {
    let dir = two_hosts();
    let out = palisade()
        .arg("compile")
        .arg(dir.path())
        .args(["--target", "kubernetes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("gateway_needs_overlay") && stderr.contains("add an `istio` target"),
        "{stderr}"
    );
}
