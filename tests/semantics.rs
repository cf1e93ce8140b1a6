//! `verify`, `simulate` and `explain` as a user runs them.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use assert_cmd::Command;
use std::path::Path;

fn palisade() -> Command {
    Command::cargo_bin("palisade").unwrap()
}

fn run(args: &[&str], extra: &[&Path]) -> (Option<i32>, String) {
    let output = palisade().args(args).args(extra).output().unwrap();
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn verify_passes_on_every_example() {
    for example in ["examples/zero-trust", "examples/multi-namespace"] {
        let (code, text) = run(&["verify", example], &[]);
        assert_eq!(code, Some(0), "{text}");
        assert!(text.starts_with("verified: "), "{text}");
    }
}

/// A hand edit of the rendered folder, in either direction, is caught and the
/// differing connection named, for every dialect
#[test]
fn verify_catches_hand_edits_of_rendered_manifests() {
    let cases = [
        (
            "examples/multi-namespace",
            "kubernetes",
            "payments/networkpolicy-palisade-default-deny.yaml",
            "the intents deny it",
        ),
        (
            "examples/multi-namespace",
            "kubernetes",
            "payments/networkpolicy-ledger-ingress.yaml",
            "the intents allow it",
        ),
        (
            "examples/multi-namespace",
            "calico",
            "payments/networkpolicy-palisade-default-deny.yaml",
            "the intents deny it",
        ),
        (
            "examples/multi-namespace",
            "calico",
            "payments/networkpolicy-ledger.yaml",
            "the intents allow it",
        ),
        (
            "examples/multi-namespace",
            "cilium",
            "payments/ciliumnetworkpolicy-palisade-default-deny.yaml",
            "the intents deny it",
        ),
        (
            "examples/multi-namespace",
            "cilium",
            "payments/ciliumnetworkpolicy-ledger.yaml",
            "the intents allow it",
        ),
        // Removing it would change nothing: Cilium enforces the same HTTP rule.
        // Narrowing it must show.
        (
            "examples/zero-trust",
            "istio",
            "shop/authorizationpolicy-backend.yaml",
            "tcp/8080 GET /products/* (on the ingress side): the intents allow it",
        ),
        (
            "examples/zero-trust",
            "istio",
            "shop/serviceentry-external-api.stripe.com.yaml",
            "the intents allow it",
        ),
    ];
    for (example, target, file, expected) in cases {
        let out = tempfile::tempdir().unwrap();
        let (code, text) = run(&["compile", example, "--out"], &[out.path()]);
        assert_eq!(code, Some(0), "{text}");
        let (code, text) = run(&["verify", example, "--manifests"], &[out.path()]);
        assert_eq!(code, Some(0), "untouched folder: {text}");
        let edited = out.path().join(target).join(file);
        assert!(edited.exists(), "{} was not rendered", edited.display());
        if file.starts_with("shop/authorizationpolicy") {
            let text = std::fs::read_to_string(&edited).unwrap().replace("- GET", "- POST");
            std::fs::write(&edited, text).unwrap();
        } else {
            std::fs::remove_file(&edited).unwrap();
        }
        let (code, text) = run(&["verify", example, "--manifests"], &[out.path()]);
        assert_eq!(code, Some(4), "{target} {file}: {text}");
        assert!(
            text.contains(expected) && text.contains("verification failed"),
            "{target} {file}:\n{text}"
        );
    }
}

#[test]
fn simulate_answers_in_one_line_with_the_reason() {
    let out = tempfile::tempdir().unwrap();
    run(&["compile", "examples/multi-namespace", "--out"], &[out.path()]);
    let cluster = "examples/multi-namespace/cluster.yaml";
    let (code, text) = run(
        &[
            "simulate",
            "--cluster",
            cluster,
            "--from",
            "storefront/web-5f7",
            "--to",
            "storefront/api-6c4",
            "--port",
            "8080",
            "--policies",
        ],
        &[&out.path().join("kubernetes")],
    );
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("ALLOWED storefront/web-5f7 -> storefront/api-6c4 tcp/8080: kubernetes: NetworkPolicy storefront/web-egress egress[0]"), "{text}");
    let (_, text) = run(
        &[
            "simulate",
            "--cluster",
            cluster,
            "--from",
            "storefront/debug-shell",
            "--to",
            "payments/ledger-0",
            "--port",
            "5432",
            "--policies",
        ],
        &[&out.path().join("calico"), &out.path().join("cilium")],
    );
    assert!(
        text.starts_with("DENIED storefront/debug-shell -> payments/ledger-0 tcp/5432"),
        "{text}"
    );
    assert!(
        text.contains("calico: ") && text.contains("cilium: "),
        "both layers are consulted: {text}"
    );
    // The matrix contract of DESIGN.md.
    let (code, text) = run(
        &[
            "simulate",
            "--cluster",
            cluster,
            "--matrix",
            "--port",
            "5432",
            "--protocol",
            "TCP",
            "--output",
            "json",
            "--policies",
        ],
        &[&out.path().join("kubernetes")],
    );
    assert_eq!(code, Some(0), "{text}");
    let matrix: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (matrix["protocol"].as_str(), matrix["port"].as_u64()),
        (Some("TCP"), Some(5432))
    );
    let pods: Vec<&str> = matrix["pods"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    let mut sorted = pods.clone();
    sorted.sort_by_key(|p| p.split_once('/'));
    assert_eq!(pods, sorted, "pods sorted by namespace then name");
    let at = |from: &str, to: &str| {
        let (i, j) = (
            pods.iter().position(|p| *p == from).unwrap(),
            pods.iter().position(|p| *p == to).unwrap(),
        );
        matrix["allowed"][i][j].as_bool().unwrap()
    };
    assert!(at("payments/checkout-8b2", "payments/ledger-0"));
    assert!(at("storefront/api-6c4", "data/catalog-db-0"));
    assert!(!at("storefront/web-5f7", "payments/ledger-0"));
    // In text, the same matrix as a table a terminal shows: the row of a pod
    // has a mark per destination, in the order of the numbered columns
    let (code, table) = run(
        &[
            "simulate",
            "--cluster",
            cluster,
            "--matrix",
            "--port",
            "5432",
            "--policies",
        ],
        &[&out.path().join("kubernetes")],
    );
    assert_eq!(code, Some(0), "{table}");
    let allowed: usize = matrix["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .filter(|c| c.as_bool() == Some(true))
        .count();
    assert!(
        table.starts_with(&format!(
            "tcp/5432: {allowed} of {} pod pairs allowed",
            pods.len() * pods.len()
        )),
        "{table}"
    );
    let checkout = pods.iter().position(|p| *p == "payments/checkout-8b2").unwrap();
    let ledger = pods.iter().position(|p| *p == "payments/ledger-0").unwrap();
    let row = table
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with(&format!("{} payments/checkout-8b2", checkout + 1))
        })
        .unwrap();
    let marks: Vec<&str> = row.split_whitespace().skip(2).collect();
    assert_eq!(marks.len(), pods.len(), "{row}");
    assert_eq!(marks[ledger], "✓", "{row}");
}

#[test]
fn simulate_refuses_unknown_pods_and_bad_dumps_cleanly() {
    let (code, text) = run(
        &[
            "--error-format",
            "plain",
            "simulate",
            "--cluster",
            "examples/multi-namespace/cluster.yaml",
            "--from",
            "nope/x",
            "--to",
            "storefront/api-6c4",
            "--port",
            "80",
            "--policies",
            "examples/multi-namespace",
        ],
        &[],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("no pod `nope/x`"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("c.yaml");
    std::fs::write(&dump, "items: [\n  - kind: Pod\n").unwrap();
    let (code, text) = run(
        &[
            "--error-format",
            "plain",
            "simulate",
            "--from",
            "a/b",
            "--to",
            "c/d",
            "--port",
            "80",
            "--policies",
            "examples",
            "--cluster",
        ],
        &[&dump],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("c.yaml:") && text.contains("error[palisade::yaml]"),
        "{text}"
    );
}

#[test]
fn explain_names_the_intent_and_the_rule_per_target() {
    let (code, text) = run(&["explain", "examples/zero-trust", "frontend -> backend tcp/8080"], &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("intents: allowed") && text.contains("(examples/zero-trust/intents/shop.yaml:21:11)"),
        "{text}"
    );
    assert!(
        text.contains("cilium: allowed") && text.contains("\n    by CiliumNetworkPolicy shop/frontend egress[0]"),
        "{text}"
    );
    assert!(
        text.contains("\n    by AuthorizationPolicy shop/backend rules[0] ALLOW"),
        "{text}"
    );
    // the port is allowed for one request pattern only, and the answer says which
    assert!(
        text.contains("intents: allowed, for tcp/8080 GET /products/* only"),
        "{text}"
    );
    assert!(
        text.contains("istio (overlay): allowed, for tcp/8080 GET /products/* only"),
        "{text}"
    );
    let (code, text) = run(
        &[
            "explain",
            "examples/zero-trust",
            "frontend -> backend tcp/8080",
            "--method",
            "POST",
            "--path",
            "/products/1",
        ],
        &[],
    );
    assert!(
        text.contains("intents: denied") && text.contains("istio (overlay): denied"),
        "{text}"
    );
    assert_eq!(code, Some(5), "denied everywhere: {text}");
    let (_, text) = run(
        &["explain", "examples/zero-trust", "backend -> api.stripe.com tcp/443"],
        &[],
    );
    assert!(
        text.contains("by backend -> https://api.stripe.com (examples/zero-trust/intents/shop.yaml:27:7)"),
        "{text}"
    );
    // a name is never shown with an address the model made up for it
    assert!(text.starts_with("shop/backend -> api.stripe.com tcp/443\n"), "{text}");
    assert!(!text.contains("198.51.100"), "{text}");
}

#[test]
fn explain_allows_a_name_through_the_egress_gateway() {
    let (code, text) = run(
        &["explain", "examples/zero-trust", "backend -> google.com tcp/443"],
        &[],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("cilium: allowed (through the egress gateway)"), "{text}");
    assert!(text.contains("istio (overlay): allowed"), "{text}");
}

#[test]
fn explain_says_denied_by_its_exit_code_and_suggests_a_known_name() {
    let (code, text) = run(&["explain", "examples/zero-trust", "frontend -> world tcp/443"], &[]);
    assert_eq!(code, Some(5), "{text}");
    assert!(text.starts_with("shop/frontend -> world tcp/443\n"), "{text}");
    assert!(!text.contains("203.0.113"), "{text}");
    let (code, text) = run(&["explain", "examples/zero-trust", "frontend -> backnd tcp/8080"], &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("`backnd` is not a service or namespace of the intents")
            && text.contains("did you mean `backend`?"),
        "{text}"
    );
}
