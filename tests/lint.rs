//! `palisade lint` on the walkthrough's raw policies: every finding at its
//! file:line:column with its fix, the exit code, the JSON form and the list.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use assert_cmd::Command;

fn palisade() -> Command {
    Command::cargo_bin("palisade").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_walkthroughs_traps_are_found_where_they_are() {
    let out = palisade()
        .args(["lint", "examples/zero-trust/raw", "--error-format", "plain"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "PAL010 is an error");
    let text = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "examples/zero-trust/raw/cilium-fqdn.yaml:25:22: error[palisade::PAL010]: [literal-wildcard]",
        "= help: write `matchPattern: \"*.google.com\"`",
        "examples/zero-trust/raw/networkpolicies.yaml:40:11: warning[palisade::PAL003]: [apiserver-by-selector]",
        "examples/zero-trust/raw/networkpolicies.yaml:50:19: warning[palisade::PAL005]: [metadata-to-namespace]",
        "palisade lint: 4 manifests, 1 error, 2 warnings",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn warnings_pass_unless_denied_and_json_is_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("np.yaml");
    std::fs::write(
        &file,
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: p, namespace: shop }\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {}\n",
    )
    .unwrap();
    palisade().arg("lint").arg(&file).assert().code(0);
    palisade()
        .arg("lint")
        .arg(&file)
        .arg("--deny-warnings")
        .assert()
        .code(1);
    let out = palisade()
        .args(["lint", "--error-format", "json"])
        .arg(&file)
        .output()
        .unwrap();
    let line: serde_json::Value =
        serde_json::from_slice(String::from_utf8_lossy(&out.stderr).lines().next().unwrap().as_bytes()).unwrap();
    assert_eq!(line["code"], "palisade::PAL006");
    assert_eq!(line["severity"], "warning");
    assert_eq!((line["line"].as_u64(), line["column"].as_u64()), (Some(8), Some(7)));
}

#[test]
fn the_list_names_every_check() {
    let out = palisade().args(["lint", "--list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 11);
    assert!(text.contains("PAL001 split-peer"));
}
