//! End-to-end tests of the binary: the README's commands, output layout,
//! determinism, snapshots and the editor schema.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use assert_cmd::Command;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

fn palisade() -> Command {
    Command::cargo_bin("palisade").unwrap_or_else(|e| panic!("{e}"))
}

fn examples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("examples")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("palisade.yaml").exists())
        .collect();
    dirs.sort();
    dirs
}

/// Every file under `dir`, relative path → bytes
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().to_string();
                out.insert(relative, std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

#[test]
fn compiling_every_example_in_both_modes_matches_its_snapshot() {
    for dir in examples() {
        for mode in ["enforce", "audit"] {
            let output = palisade()
                .arg("compile")
                .arg(&dir)
                .args(["--target", "all", "--mode", mode])
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                output.status.success(),
                "{} {mode}: {}",
                dir.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            insta::assert_snapshot!(
                format!("compile-{name}-{mode}"),
                String::from_utf8_lossy(&output.stdout)
            );
        }
    }
}

#[test]
fn the_zero_trust_example_renders_every_target_it_names_into_a_folder() {
    for mode in ["enforce", "audit"] {
        let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        palisade()
            .args([
                "compile",
                "examples/zero-trust",
                "--target",
                "all",
                "--mode",
                mode,
                "--out",
            ])
            .arg(out.path())
            .assert()
            .success();
        let files = tree(out.path());
        for target in ["cilium", "istio"] {
            assert!(
                files.contains_key(&format!("{target}/kustomization.yaml")),
                "{mode}: no {target} folder"
            );
        }
        let sidecar = files.keys().any(|k| k.contains("sidecar-"));
        assert_eq!(sidecar, mode == "enforce", "the REGISTRY_ONLY Sidecar is enforce-only");
        let dry_run = files
            .values()
            .any(|v| String::from_utf8_lossy(v).contains("istio.io/dry-run: 'true'"));
        assert_eq!(
            dry_run,
            mode == "audit",
            "AuthorizationPolicies are dry-run in audit only"
        );
    }
}

#[test]
fn targets_prints_the_capability_matrix() {
    let output = palisade().arg("targets").output().unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for row in [
        "kubernetes  L3/L4",
        "calico      L3/L4",
        "cilium      L3/L4",
        "istio       overlay",
    ] {
        assert!(text.contains(row), "{text}");
    }
}

#[test]
fn output_is_byte_identical_across_runs_and_matches_the_stream() {
    for dir in examples() {
        let first = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let second = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for out in [first.path(), second.path()] {
            palisade()
                .arg("compile")
                .arg(&dir)
                .arg("--out")
                .arg(out)
                .assert()
                .success();
        }
        let (a, b) = (tree(first.path()), tree(second.path()));
        assert!(a.len() > 3, "{}: too few files", dir.display());
        assert_eq!(a, b, "{}: two runs differ", dir.display());
        assert!(
            a.keys().all(|k| !k.contains(".palisade-")),
            "no staging folder left behind"
        );
        // The folder holds the same objects as the stdout stream, each listed
        // in its target's kustomization.yaml.
        let stream = palisade()
            .arg("compile")
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
            .stdout;
        let stream = String::from_utf8_lossy(&stream);
        let documents = stream.split("---\n").filter(|d| !d.is_empty()).count();
        assert_eq!(
            documents,
            a.keys().filter(|k| !k.ends_with("kustomization.yaml")).count()
        );
        for (path, bytes) in a.iter().filter(|(k, _)| !k.ends_with("kustomization.yaml")) {
            assert!(
                stream.contains(&*String::from_utf8_lossy(bytes)),
                "{path} is not in the stream"
            );
            let (target, relative) = path.split_once('/').unwrap_or_default();
            let kustomization = String::from_utf8_lossy(&a[&format!("{target}/kustomization.yaml")]).to_string();
            assert!(
                kustomization.contains(&format!("  - {relative}\n")),
                "{path} missing from kustomization.yaml"
            );
        }
    }
}

#[test]
fn a_new_compile_keeps_a_users_files_and_a_failed_one_keeps_the_folder() {
    let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let compile = || {
        palisade()
            .args(["compile", "examples/zero-trust", "--out"])
            .arg(out.path())
            .assert()
            .success();
    };
    compile();
    let top = std::fs::read_to_string(out.path().join("kustomization.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let targets: Vec<String> = std::fs::read_dir(out.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!targets.is_empty());
    for target in &targets {
        assert!(
            top.contains(&format!("  - {target}\n")),
            "the top level includes {target}: {top}"
        );
    }
    let mine = out.path().join(&targets[0]).join("shop/my-extra-policy.yaml");
    std::fs::create_dir_all(mine.parent().unwrap_or(out.path())).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&mine, "hand-written").unwrap_or_else(|e| panic!("{e}"));
    compile();
    assert!(mine.exists(), "a file palisade did not write survives a new compile");
    let before = tree(out.path());
    let broken = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(broken.path().join("a.yaml"), "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: x, namespace: x }\nspec:\n  allow: [\"a -> b\"]\n").unwrap_or_else(|e| panic!("{e}"));
    palisade()
        .arg("compile")
        .arg(broken.path())
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(1);
    assert_eq!(before, tree(out.path()), "a failed compile leaves the folder as it was");
}

#[test]
fn unknown_target_is_a_clean_error_with_the_list() {
    let output = palisade()
        .args([
            "--error-format",
            "plain",
            "compile",
            "examples/zero-trust",
            "--target",
            "kubernets",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown target `kubernets`") && stderr.contains("did you mean `kubernetes`?"),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_1_never_the_2_of_a_difference() {
    palisade().args(["compile"]).assert().code(1);
    palisade()
        .args(["compile", "examples/zero-trust", "--mode", "sometimes"])
        .assert()
        .code(1);
    palisade().args(["--help"]).assert().code(0);
}

#[test]
fn check_reports_warnings_and_succeeds() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("a.yaml"),
        "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: a, namespace: a }\nspec:\n  baseline: [metadata]\n  services:\n    web: { selector: { app: web } }\n  allow:\n    - web -> web tcp/80\n    - web -> web\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let output = palisade()
        .args(["--error-format", "plain", "check"])
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("a.yaml:5:14: warning[palisade::metadata_for_namespace]"),
        "{stderr}"
    );
    assert!(
        stderr.contains("a.yaml:9:7: warning[palisade::shadowed_edge]"),
        "{stderr}"
    );
}

#[test]
fn the_editor_schema_is_committed_and_accepts_every_example() {
    let output = palisade().arg("schema").output().unwrap_or_else(|e| panic!("{e}"));
    assert!(output.status.success());
    let committed = std::fs::read_to_string("schema/palisade.schema.json").unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        committed,
        "schema/palisade.schema.json is stale: run `cargo run -- schema > schema/palisade.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
    let mut checked = 0;
    for dir in examples() {
        let mut files = vec![dir.join("palisade.yaml")];
        files.extend(
            std::fs::read_dir(dir.join("intents"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path()),
        );
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let value: serde_json::Value =
                serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|e| format!("{e} at {}", e.instance_path))
                .collect();
            assert!(errors.is_empty(), "{}: {}", file.display(), errors.join("; "));
            assert!(
                text.starts_with("# yaml-language-server: $schema="),
                "{} lacks the editor modeline",
                file.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 6);
    let typo: serde_json::Value = serde_yaml_ng::from_str("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: a, namespace: a }\nspec: { servics: {} }\n").unwrap_or_default();
    assert!(!validator.is_valid(&typo), "the schema rejects unknown fields");
}

#[test]
fn lines_added_above_a_rule_change_no_byte_of_the_output() {
    let copy = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for file in ["palisade.yaml", "intents/shop.yaml"] {
        let to = copy.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap_or(copy.path())).unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(Path::new("examples/zero-trust").join(file), &to).unwrap_or_else(|e| panic!("{e}"));
    }
    let compile = || {
        let out = palisade()
            .args(["compile", "-t", "all"])
            .arg(copy.path())
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let before = compile();
    assert!(String::from_utf8_lossy(&before).contains("palisade.dev/source: intents/shop.yaml#"));
    let intents = copy.path().join("intents/shop.yaml");
    let text = std::fs::read_to_string(&intents).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&intents, format!("# reviewed by the platform team\n\n{text}")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        before == compile(),
        "annotations and Cilium's log tags name rules, not lines: a comment above them changes nothing"
    );
}

#[test]
fn diagnostics_point_from_the_working_directory_and_annotate_a_pull_request() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.path().join("repo/intents")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        "examples/zero-trust/palisade.yaml",
        dir.path().join("repo/palisade.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("repo/intents/a.yaml"),
        "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: x, namespace: shop }\nspec:\n  allow: [\"a -> b\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let run = |format: &str| {
        let out = palisade()
            .current_dir(dir.path())
            .args(["--error-format", format, "check", "repo"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let plain = run("plain");
    assert!(
        plain.starts_with("repo/intents/a.yaml:5:12: error[palisade::unknown_service]"),
        "the path opens from where palisade ran: {plain}"
    );
    let github = run("github");
    let first = github.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("::error file=repo/intents/a.yaml,line=5,col=12,title=palisade%3A%3Aunknown_service::unknown service `a`%0Ahelp: "),
        "{github}"
    );
    assert!(!github.contains("errors found"), "only workflow commands: {github}");
}

#[test]
fn check_in_a_folder_of_the_project_checks_the_whole_project() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(repo.join("intents")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy("examples/zero-trust/palisade.yaml", repo.join("palisade.yaml")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy("examples/zero-trust/intents/shop.yaml", repo.join("intents/shop.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    // From the intents folder, `.` is inside the project: its targets (cilium,
    // istio) apply, so the L7 rule compiles; alone, the folder would compile
    // for kubernetes and be refused.
    let out = palisade()
        .current_dir(repo.join("intents"))
        .args(["check", "."])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("cilium, istio"), "the project's targets: {stderr}");
    // The folder defaults to the current one.
    palisade()
        .current_dir(repo.join("intents"))
        .arg("check")
        .assert()
        .success();
    // Diagnostics still point from the working directory.
    let refused = palisade()
        .current_dir(repo.join("intents"))
        .args(["--error-format", "plain", "check", ".", "-t", "kubernetes"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.starts_with("../intents/shop.yaml:"), "{stderr}");
    // Never above the repository's root.
    std::fs::copy("examples/zero-trust/palisade.yaml", dir.path().join("palisade.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(repo.join("palisade.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let alone = palisade()
        .current_dir(repo.join("intents"))
        .args(["--error-format", "plain", "check", "."])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        alone.status.code(),
        Some(1),
        "the folder alone compiles for kubernetes, which refuses L7"
    );
}

#[test]
fn flows_may_be_a_folder_and_an_empty_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(flows.join("day2")).unwrap_or_else(|e| panic!("{e}"));
    let recorded = std::fs::read_to_string("examples/zero-trust/flows/hubble.jsonl").unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<&str> = recorded.lines().collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    std::fs::write(flows.join("day1.jsonl"), first.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(flows.join("day2/b.jsonl"), second.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(flows.join(".hidden"), "not a flow\n").unwrap_or_else(|e| panic!("{e}"));
    let audit = |flows: &Path| {
        palisade()
            .args(["audit", "examples/zero-trust", "-o", "json", "--flows"])
            .arg(flows)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let from_folder = audit(&flows);
    let from_file = audit(Path::new("examples/zero-trust/flows/hubble.jsonl"));
    assert_eq!(from_folder.status.code(), from_file.status.code());
    let judged = |out: &std::process::Output| {
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
        json["would_drop"].clone()
    };
    assert_eq!(
        judged(&from_folder),
        judged(&from_file),
        "the same flows, the same verdicts"
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap_or_else(|e| panic!("{e}"));
    let out = audit(&empty);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no flow log files under"));
}

#[test]
fn explain_answers_in_json_for_scripts() {
    let out = palisade()
        .args([
            "explain",
            "examples/zero-trust",
            "frontend -> backend tcp/8080",
            "-o",
            "json",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["outcome"], "allowed");
    assert_eq!(json["intents"]["allowed"], true);
    let layers: Vec<&str> = json["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["layer"].as_str())
        .collect();
    assert!(layers.iter().any(|l| l.starts_with("cilium")), "{layers:?}");
}

#[test]
fn discover_for_a_namespace_no_flow_names_is_an_error_with_the_near_name() {
    let out = palisade()
        .args([
            "discover",
            "--flows",
            "examples/zero-trust/flows/hubble.jsonl",
            "-n",
            "shopp",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing proposed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no flow names namespace `shopp`") && stderr.contains("did you mean `shop`?"),
        "{stderr}"
    );
}

#[test]
fn a_hand_edit_found_by_verify_annotates_the_rule_in_a_pull_request() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("out");
    palisade()
        .args(["compile", "examples/zero-trust", "--out"])
        .arg(&out)
        .assert()
        .success();
    let edited = out.join("cilium/shop/ciliumnetworkpolicy-frontend.yaml");
    let text = std::fs::read_to_string(&edited).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains("port: '8080'"), "{text}");
    std::fs::write(&edited, text.replacen("port: '8080'", "port: '8081'", 1)).unwrap_or_else(|e| panic!("{e}"));
    let run = palisade()
        .args([
            "--error-format",
            "github",
            "verify",
            "examples/zero-trust",
            "--manifests",
        ])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&run.stderr);
    let annotation = format!("::error file={},line=", edited.display());
    assert!(stderr.lines().any(|l| l.starts_with(&annotation)), "{stderr}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("verification failed: 2 differences"), "{stdout}");
    let intent_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("intent:"))
        .unwrap_or_default();
    assert_eq!(
        intent_line.matches("shop.yaml:21:11").count(),
        1,
        "each intent named once: {intent_line}"
    );
}

#[test]
fn a_flow_format_that_reads_none_of_the_records_names_the_one_that_does() {
    let out = palisade()
        .args(["audit", "examples/zero-trust", "--flow-format", "calico", "--flows"])
        .arg("examples/zero-trust/flows/hubble.jsonl")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1), "bad input, not a gate that holds");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`--flow-format calico` reads none of the") && stderr.contains("they are hubble records"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no verdict on no evidence");
}

#[test]
fn targets_answers_in_json_for_scripts() {
    let out = palisade()
        .args(["targets", "-o", "json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let cilium = json
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["target"] == "cilium")
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(cilium["capabilities"]["fqdn"], "direct");
    assert_eq!(cilium["capabilities"]["l7_http"], true);
}
