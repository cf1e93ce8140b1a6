//! `import` and `migrate` end to end: the walkthrough's raw policies, a set of
//! hand-written Cilium and Calico policies that carry over exactly, and one of
//! constructs that cannot, each of which must be reported.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use assert_cmd::Command;
use std::collections::BTreeSet;

fn palisade() -> Command {
    Command::cargo_bin("palisade").unwrap_or_else(|e| panic!("{e}"))
}

fn import_json(path: &str) -> (Option<i32>, serde_json::Value) {
    let out = palisade().args(["import", path, "--output", "json"]).output().unwrap();
    // One JSON document on stdout, the intents inside it.
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert!(
        report["contents"]["palisade.yaml"]
            .as_str()
            .is_some_and(|t| t.contains("kind: Project")),
        "{report}"
    );
    (out.status.code(), report)
}

fn losses(report: &serde_json::Value) -> BTreeSet<(String, String)> {
    report["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["origin"].as_str().unwrap().to_string(),
                l["construct"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn the_walkthroughs_policies_import_and_the_report_finds_its_egress_bug() {
    let (code, report) = import_json("examples/zero-trust/raw");
    assert_eq!(code, Some(2), "{report:#}");
    assert_eq!(
        losses(&report),
        set(&[
            (
                "CiliumNetworkPolicy demo-cilium/allow-only-google",
                "isolation of the pods matching app=my-app"
            ),
            (
                "CiliumNetworkPolicy demo-cilium/allow-only-google egress[1]",
                "matchName `*.google.com`"
            ),
            ("namespace demo-cilium", "egress isolation without ingress isolation"),
        ])
    );
    let differences = report["differences"].as_array().unwrap();
    // Step 3 allows frontend -> backend at the backend, but step 1 denies the
    // frontend's egress and step 2 never allows it: the walkthrough's own
    // policies drop this connection. An intent edge opens both ends.
    let frontend = differences
        .iter()
        .find(|d| d["connection"] == "target-namespace/frontend -> target-namespace/backend tcp/8080")
        .unwrap();
    assert_eq!(
        (frontend["before"].as_bool(), frontend["after"].as_bool()),
        (Some(false), Some(true))
    );
    // Everything else that changed is narrower, bar the DNS over TCP an FQDN rule brings.
    let broader: Vec<&str> = differences
        .iter()
        .filter(|d| d["after"] == true)
        .map(|d| d["connection"].as_str().unwrap())
        .collect();
    assert_eq!(
        broader,
        [
            "demo-cilium/my-app -> kube-system/dns tcp/53",
            "target-namespace/frontend -> target-namespace/backend tcp/8080"
        ]
    );
}

#[test]
fn imported_intents_are_written_and_pass_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = palisade()
        .args(["import", "examples/zero-trust/raw", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 constructs did not carry over exactly"), "{text}");
    assert!(
        text.contains("target-namespace/frontend -> target-namespace/backend: denied before, allowed now on tcp/8080"),
        "{text}"
    );
    let ns = std::fs::read_to_string(dir.path().join("target-namespace.yaml")).unwrap();
    assert!(ns.contains("posture: default-deny"), "{ns}");
    assert!(
        ns.contains(
            "- frontend -> backend tcp/8080  # NetworkPolicy target-namespace/allow-frontend-to-backend ingress[0]"
        ),
        "{ns}"
    );
    assert!(
        ns.contains(
            "- target-namespace/* -> 169.254.169.254/32  # NetworkPolicy target-namespace/allow-infra-egress egress[2]"
        ),
        "{ns}"
    );
    palisade().arg("check").arg(dir.path()).assert().success();
    // Not over an existing import without --force.
    let again = palisade()
        .args(["import", "examples/zero-trust/raw", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
}

#[test]
fn hand_written_cilium_and_calico_policies_carry_over_exactly() {
    for path in [
        "tests/fixtures/import/cilium-exact.yaml",
        "tests/fixtures/import/calico-exact.yaml",
    ] {
        let (code, report) = import_json(path);
        assert_eq!(code, Some(0), "{path}: {report:#}");
        assert!(losses(&report).is_empty(), "{path}: {report:#}");
        assert!(
            report["compared"].as_u64().unwrap() > 100,
            "{path}: a real model was compared (pairs of endpoints, each on every port)"
        );
    }
    let out = palisade()
        .args(["import", "tests/fixtures/import/cilium-exact.yaml"])
        .output()
        .unwrap();
    let intents = String::from_utf8_lossy(&out.stdout);
    assert!(
        intents.contains("- { from: web, to: api, ports: [tcp/8080], http: [{ method: GET, path: \"/products/*\" }] }"),
        "{intents}"
    );
    assert!(
        intents.contains("- { from: api, to: { cidr: 10.20.0.0/16, except: [10.20.5.0/24] }, ports: [tcp/5432] }"),
        "{intents}"
    );
    assert!(intents.contains("- web -> api.stripe.com tcp/443"), "{intents}");
    assert!(intents.contains("to: \"*.stripe.com\""), "{intents}");
}

#[test]
fn what_cannot_carry_over_is_reported_construct_by_construct() {
    let (code, report) = import_json("tests/fixtures/import/lossy.yaml");
    assert_eq!(code, Some(2), "{report:#}");
    assert_eq!(
        losses(&report),
        set(&[
            ("CiliumClusterwideNetworkPolicy /everywhere", "the whole policy"),
            ("CiliumNetworkPolicy edge/guarded", "egressDeny"),
            ("NetworkPolicy edge/admin ingress[0]", "action Deny"),
            ("NetworkPolicy edge/admin ingress[1]", "serviceAccounts"),
            ("NetworkPolicy edge/blocklist", "selector `has(role)`"),
            ("NetworkPolicy edge/web", "podSelector.matchExpressions"),
            ("NetworkPolicy edge/web ingress[0]", "named port `http`"),
            (
                "NetworkPolicy edge/web ingress[0]",
                "namespaceSelector {} (every namespace)"
            ),
        ])
    );
    // The egress deny carved 203.0.113.0/24 out of `world`: without it, that is now allowed.
    let broader: BTreeSet<&str> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["after"] == true)
        .map(|d| d["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        broader,
        BTreeSet::from(["203.0.113.0/24"]),
        "the block, not a probe address"
    );
}

#[test]
fn migrate_writes_intents_and_manifests_and_proves_them_equivalent() {
    let dir = tempfile::tempdir().unwrap();
    let out = palisade()
        .args([
            "migrate",
            "tests/fixtures/import/calico-exact.yaml",
            "--target",
            "kubernetes",
            "--cluster-cidrs",
            "10.244.0.0/16,10.96.0.0/12",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("equivalent: the originals and the kubernetes manifests let the same connections through"),
        "{text}"
    );
    assert!(dir.path().join("intents/pay.yaml").exists());
    assert!(dir.path().join("kubernetes/pay").is_dir());
    // The written folder verifies against the written intents.
    palisade()
        .arg("verify")
        .arg(dir.path().join("intents"))
        .arg("--manifests")
        .arg(dir.path())
        .assert()
        .success();
}

#[test]
fn migrate_refuses_what_the_new_target_cannot_express_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    let out = palisade()
        .args([
            "migrate",
            "tests/fixtures/import/cilium-exact.yaml",
            "--target",
            "kubernetes",
            "--error-format",
            "plain",
            "--out",
        ])
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error[palisade::fqdn_unsupported]"), "{stderr}");
    assert!(stderr.contains("add a `cilium` target"), "{stderr}");
    assert!(stderr.contains("error[palisade::l7_unsupported]"), "{stderr}");
    assert!(!target.exists(), "nothing written");
    let same = palisade()
        .args([
            "migrate",
            "tests/fixtures/import/cilium-exact.yaml",
            "--target",
            "cilium",
            "--out",
        ])
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(same.status.code(), Some(0), "{}", String::from_utf8_lossy(&same.stdout));
}

#[test]
fn import_refuses_input_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: NetworkPolicy\nspec: [\n").unwrap();
    let out = palisade()
        .args(["import", "--error-format", "plain"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml:"), "{stderr}");
    let none = dir.path().join("none.yaml");
    std::fs::write(&none, "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n").unwrap();
    let out = palisade().args(["import"]).arg(&none).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no policy palisade imports was found"));
}
