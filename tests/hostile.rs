//! Hostile input: deeply nested YAML, alias bombs, huge files, invalid UTF-8,
//! enormous port ranges and CIDR lists, label values at the size limits, junk
//! flow logs. Each gives a clean result (an error with its place, or a
//! correct answer) within bounded time, and never a panic.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use assert_cmd::Command;
use std::{path::Path, time::Duration};

fn palisade() -> Command {
    let mut cmd = Command::cargo_bin("palisade").unwrap_or_else(|e| panic!("{e}"));
    cmd.timeout(Duration::from_secs(60)).arg("--error-format").arg("plain");
    cmd
}

const PROJECT: &str = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: p }\nspec: { targets: [kubernetes], cluster: { clusterCIDRs: [10.244.0.0/16] } }\n";

fn repo(dir: &Path, intents: &[u8]) {
    std::fs::write(dir.join("palisade.yaml"), PROJECT).unwrap();
    std::fs::write(dir.join("shop.yaml"), intents).unwrap();
}

/// Exit 1, a message on stderr, no panic
fn refused(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn deeply_nested_yaml_is_refused_in_intents_and_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let nested = format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: s, namespace: s }}\nspec: {{ services: {}0{} }}\n", "[".repeat(20_000), "]".repeat(20_000));
    repo(dir.path(), nested.as_bytes());
    let stderr = refused({
        let mut c = palisade();
        c.arg("check").arg(dir.path());
        c
    });
    assert!(stderr.contains("nested"), "{stderr}");
    let manifests = dir.path().join("np.yaml");
    std::fs::write(&manifests, format!("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{ name: x, namespace: s }}\nspec: {}0{}\n", "[".repeat(20_000), "]".repeat(20_000))).unwrap();
    for command in ["lint", "import"] {
        let stderr = refused({
            let mut c = palisade();
            c.arg(command).arg(&manifests);
            c
        });
        assert!(stderr.contains("np.yaml"), "{command}: {stderr}");
    }
}

#[test]
fn alias_bombs_are_refused_not_expanded() {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..12 {
        let prev = (b'a' + level - 1) as char;
        let this = (b'a' + level) as char;
        bomb.push_str(&format!("{this}: &{this} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path(), format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: s, namespace: s }}\nspec:\n  services: {{}}\n  allow: []\nx:\n{}", bomb.lines().map(|l| format!("  {l}\n")).collect::<String>()).as_bytes());
    refused({
        let mut c = palisade();
        c.arg("check").arg(dir.path());
        c
    });
    let manifests = dir.path().join("bomb.yaml");
    std::fs::write(
        &manifests,
        format!("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{ name: x, namespace: s }}\n{bomb}"),
    )
    .unwrap();
    refused({
        let mut c = palisade();
        c.arg("lint").arg(&manifests);
        c
    });
}

#[test]
fn huge_and_binary_files_are_refused_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut huge = b"apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: s, namespace: s }\nspec:\n  services: {}\n#".to_vec();
    huge.extend(std::iter::repeat_n(b'x', 9 * 1024 * 1024));
    repo(dir.path(), &huge);
    let stderr = refused({
        let mut c = palisade();
        c.arg("check").arg(dir.path());
        c
    });
    assert!(stderr.contains("shop.yaml") && stderr.contains("bytes"), "{stderr}");
    let binary = dir.path().join("np.yaml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x41, 0x80, 0x0a]).unwrap();
    let stderr = refused({
        let mut c = palisade();
        c.arg("lint").arg(&binary);
        c
    });
    assert!(stderr.contains("not UTF-8"), "{stderr}");
}

#[test]
fn enormous_port_ranges_and_cidr_lists_compile_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let cidrs: Vec<String> = (0..2000)
        .map(|i| format!("100.{}.{}.0/24", 64 + i / 256, i % 256))
        .collect();
    let intents = format!(
        "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: s, namespace: s }}\nspec:\n  services:\n    a: {{ selector: {{ app: a }} }}\n    b: {{ selector: {{ app: b }} }}\n  allow:\n    - a -> b tcp/1-65535,udp/1-65535,sctp/1-65535\n    - {{ from: a, to: [{}], ports: [tcp/1-65535] }}\n",
        cidrs.join(", ")
    );
    repo(dir.path(), intents.as_bytes());
    let out = palisade().arg("compile").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(
        yaml.contains("endPort: 65535"),
        "one rule for the whole range, not 65,535"
    );
    assert!(yaml.matches("cidr: 100.").count() >= 2000);
}

#[test]
fn label_values_at_and_past_the_size_limits() {
    let dir = tempfile::tempdir().unwrap();
    let longest = "v".repeat(63);
    // A DNS-subdomain prefix of 253 characters (labels of at most 63) and a 63-character name.
    let prefix = format!("{0}.{0}.{0}.{1}", "p".repeat(63), "p".repeat(61));
    assert_eq!(prefix.len(), 253);
    let key = format!("{prefix}/{}", "k".repeat(63));
    repo(dir.path(), format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: s, namespace: s }}\nspec:\n  services:\n    a: {{ selector: {{ \"{key}\": {longest} }} }}\n  allow: []\n").as_bytes());
    palisade().arg("check").arg(dir.path()).assert().success();
    repo(dir.path(), format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: s, namespace: s }}\nspec:\n  services:\n    a: {{ selector: {{ app: {} }} }}\n  allow: []\n", "v".repeat(64)).as_bytes());
    let stderr = refused({
        let mut c = palisade();
        c.arg("check").arg(dir.path());
        c
    });
    assert!(stderr.contains("shop.yaml:"), "{stderr}");
}

#[test]
fn junk_flow_logs_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string("examples/zero-trust/flows/hubble.jsonl").unwrap();
    let mut junk = good.lines().take(3).collect::<Vec<_>>().join("\n");
    junk.push('\n');
    junk.push_str(&"{\"flow\":".repeat(50_000));
    junk.push('\n');
    junk.push_str(&format!(
        "{{\"flow\": {{\"verdict\": \"FORWARDED\", \"l4\": {{\"TCP\": {{\"destination_port\": 99999999}}}}}}}}\n{}\n",
        "x".repeat(1_000_000)
    ));
    let path = dir.path().join("junk.json");
    std::fs::write(&path, junk).unwrap();
    let out = palisade()
        .args(["audit", "examples/zero-trust", "--flows"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("3 unreadable lines"), "{stdout}");
}
