//! What every adversarial test needs: the binary, a throw-away repository, and
//! the manifests a compile wrote, parsed.

use assert_cmd::Command;
use std::{path::Path, time::Duration};

/// The binary, with plain diagnostics
pub fn palisade() -> Command {
    let mut cmd = Command::cargo_bin("palisade").unwrap_or_else(|e| panic!("{e}"));
    cmd.timeout(Duration::from_secs(120)).arg("--error-format").arg("plain");
    cmd
}

/// A project file with these targets and this `cluster:` body (YAML flow mapping)
pub fn project(targets: &str, cluster: &str) -> String {
    format!("apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: {{ name: p }}\nspec:\n  targets: [{targets}]\n  cluster: {cluster}\n")
}

/// A repository in a temp dir: `palisade.yaml` plus `files` (path, text)
pub fn repo(project: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("palisade.yaml"), project).unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// `palisade compile DIR --target T` on stdout, parsed into objects; panics
/// with stderr when it fails
pub fn compile(dir: &Path, target: &str) -> Vec<serde_json::Value> {
    let out = palisade()
        .arg("compile")
        .arg(dir)
        .arg("--target")
        .arg(target)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "compile failed: {stderr}");
    documents(&String::from_utf8_lossy(&out.stdout))
}

/// Exit code and stderr of a command that must fail: no panic, nothing on stdout
pub fn refused(mut cmd: Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "expected a refusal, got success: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "partial output on a refusal: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    (out.status.code().unwrap_or(-1), stderr)
}

/// The documents of a YAML stream
pub fn documents(yaml: &str) -> Vec<serde_json::Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .filter(|v: &serde_json::Value| !v.is_null())
        .collect()
}
