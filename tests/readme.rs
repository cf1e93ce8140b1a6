//! The README is true: every `sh` block runs as written against a copy of the
//! examples, the intent-language example checks, and the CI recipe's steps and
//! the pre-commit hooks pass on an intents repository made from the
//! walkthrough.
//!
//! What stands in for what a test cannot have: `palisade` on PATH is the
//! binary under test (`cargo install` and `cargo test` lines are the suite's
//! own steps and are not run again, `cargo run --release --` is that binary);
//! `kubectl`, `kind`, `docker` and `hubble` are stand-ins that accept their
//! input, `hubble observe` prints the walkthrough's recording, and `kubectl
//! NAME` runs the plugin `kubectl-NAME` from PATH as kubectl does. A line whose
//! comment says `exit N` must exit N; every other line must succeed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

const README: &str = include_str!("../README.md");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A fenced block: its info string, the README line of its first text line, its text
struct Block {
    info: String,
    line: usize,
    text: String,
}

fn blocks() -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<(String, usize, String, usize)> = None;
    for (index, line) in README.lines().enumerate() {
        let trimmed = line.trim_start();
        match (&mut open, trimmed.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some((
                    info.trim().to_string(),
                    index + 2,
                    String::new(),
                    line.len() - trimmed.len(),
                ))
            }
            (Some((info, first, text, _)), Some(_)) => {
                found.push(Block {
                    info: std::mem::take(info),
                    line: *first,
                    text: std::mem::take(text),
                });
                open = None;
            }
            (Some((_, _, text, indent)), None) => {
                text.push_str(line.get(*indent..).unwrap_or(line.trim_start()));
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "README.md has an unclosed code fence");
    found
}

/// A scratch folder with the examples, deploy/ and the Dockerfile copied in,
/// `existing-policies/` (the walkthrough's hand-written policies), a HOME of
/// its own and the stand-in tools first on PATH
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(ROOT);
        copy_tree(&root.join("examples"), &dir.path().join("examples"));
        copy_tree(&root.join("deploy"), &dir.path().join("deploy"));
        copy_tree(
            &root.join("examples/zero-trust/raw"),
            &dir.path().join("existing-policies"),
        );
        std::fs::copy(root.join("Dockerfile"), dir.path().join("Dockerfile")).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("palisade"), bin.join("palisade")).unwrap();
        let recording = root.join("examples/zero-trust/flows/hubble.jsonl");
        let stand_ins = [
            ("hubble", format!("cat '{}'\n", recording.display())),
            (
                "kubectl",
                "if command -v \"kubectl-$1\" >/dev/null 2>&1; then plugin=\"kubectl-$1\"; shift; exec \"$plugin\" \"$@\"; fi\ncat >/dev/null\n".to_string(),
            ),
            ("kind", "cat >/dev/null\n".to_string()),
            ("docker", "cat >/dev/null\n".to_string()),
        ];
        for (name, body) in stand_ins {
            let path = bin.join(name);
            std::fs::write(
                &path,
                format!("#!/usr/bin/env bash\n# a stand-in for {name} (tests/readme.rs)\n{body}"),
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Sandbox { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Run `script` with bash in `at`, as a user whose HOME and PATH are the sandbox's
    fn bash(&self, at: &Path, script: &str) -> std::process::Output {
        let home = self.path().join("home");
        let path = format!(
            "{}:{}:/usr/local/bin:/usr/bin:/bin",
            self.path().join("bin").display(),
            home.join(".local/bin").display()
        );
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(at)
            .env_clear()
            .env("HOME", &home)
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The exit code a line's comment promises (`# exit 3: ...`), else 0
fn promised_exit(line: &str) -> (String, i32) {
    let Some(at) = line.find(" # ").or_else(|| line.find("  #")) else {
        return (line.to_string(), 0);
    };
    let (command, comment) = line.split_at(at);
    let code = comment
        .split_once("exit ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok());
    match code {
        Some(code) => (command.trim_end().to_string(), code),
        None => (line.to_string(), 0),
    }
}

/// The block as a bash script: cargo's own lines replaced by the binary under
/// test, each promised exit code checked
fn script(block: &Block) -> String {
    let mut out = String::from("set -euo pipefail\n");
    for (offset, line) in block.text.lines().enumerate() {
        let at = block.line + offset;
        let line = match line.strip_prefix("cargo run --release -- ") {
            Some(rest) => format!("palisade {rest}"),
            None => line.to_string(),
        };
        if line.starts_with("cargo ") {
            let known =
                line.starts_with("cargo install --locked --path .") || line.starts_with("cargo test --workspace");
            assert!(
                known,
                "README.md:{at}: a cargo line the test does not know how to stand in for: {line}"
            );
            continue;
        }
        let (command, code) = promised_exit(&line);
        if code == 0 {
            out.push_str(&line);
        } else {
            out.push_str(&format!(
                "{command} && rc=0 || rc=$?; [ \"$rc\" = {code} ] || {{ echo \"README.md:{at}: exit $rc, the README says {code}\" >&2; exit 99; }}"
            ));
        }
        out.push('\n');
    }
    out
}

#[test]
fn every_shell_block_runs_as_written() {
    let shell_blocks: Vec<Block> = blocks().into_iter().filter(|b| b.info == "sh").collect();
    assert!(shell_blocks.len() >= 6, "the README's sh blocks were found");
    for block in shell_blocks {
        let sandbox = Sandbox::new();
        let script = script(&block);
        let out = sandbox.bash(sandbox.path(), &script);
        assert!(
            out.status.success(),
            "the block at README.md:{} fails (exit {:?}):\n{script}\n--- stderr\n{}",
            block.line,
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_line_that_promises_an_exit_code_is_held_to_it() {
    let block = Block {
        info: "sh".into(),
        line: 1,
        text: "palisade check examples/zero-trust   # exit 3\n".into(),
    };
    let sandbox = Sandbox::new();
    let out = sandbox.bash(sandbox.path(), &script(&block));
    assert_eq!(out.status.code(), Some(99), "check exits 0, not the 3 promised");
}

/// The block right after the one whose first line is `first_line`
fn block_starting(first_line: &str) -> (Block, Option<Block>) {
    let mut all = blocks().into_iter();
    while let Some(block) = all.next() {
        if block.text.lines().next() == Some(first_line) {
            return (block, all.next());
        }
    }
    panic!("README.md has no block starting with `{first_line}`");
}

#[test]
fn the_intent_language_example_checks_as_written() {
    let (intents, project) = block_starting("# intents/shop.yaml");
    let project = project.unwrap();
    assert!(
        project.text.contains("kind: Project"),
        "the project block follows the intents"
    );
    let sandbox = Sandbox::new();
    let dir = sandbox.path().join("example");
    std::fs::create_dir_all(dir.join("intents")).unwrap();
    std::fs::write(dir.join("intents/shop.yaml"), &intents.text).unwrap();
    std::fs::write(dir.join("palisade.yaml"), &project.text).unwrap();
    let out = sandbox.bash(sandbox.path(), "palisade --error-format plain check example");
    assert!(
        out.status.success(),
        "the example at README.md:{} does not check:\n{}",
        intents.line,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A git repository as the CI recipe expects one: intents/ (the walkthrough),
/// rendered/ committed beside it, origin/main where the pull request branched
fn intents_repository(sandbox: &Sandbox) -> PathBuf {
    let repo = sandbox.path().join("repo");
    copy_tree(
        &sandbox.path().join("examples/zero-trust/intents"),
        &repo.join("intents"),
    );
    std::fs::copy(
        sandbox.path().join("examples/zero-trust/palisade.yaml"),
        repo.join("intents/palisade.yaml"),
    )
    .unwrap();
    let setup = "git init -q -b main . && palisade compile intents --out rendered 2>/dev/null \
        && git add . && git -c user.name=t -c user.email=t@t commit -q -m intents \
        && git update-ref refs/remotes/origin/main HEAD";
    let out = sandbox.bash(&repo, setup);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    repo
}

#[test]
fn the_ci_recipe_and_the_pre_commit_hooks_pass_on_an_intents_repository() {
    let sandbox = Sandbox::new();
    let repo = intents_repository(&sandbox);
    let (workflow, _) = block_starting("# .github/workflows/palisade.yaml (the steps work the same in any CI)");
    let workflow: serde_yaml_ng::Value = serde_yaml_ng::from_str(&workflow.text).unwrap();
    let steps = workflow["jobs"]["network-policy"]["steps"].as_sequence().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(runs.len() >= 5, "the recipe's steps were found");
    for run in runs {
        if run.starts_with("cargo install --locked --path ") {
            continue;
        }
        let command = run.replace("${{ github.base_ref }}", "main");
        let out = sandbox.bash(&repo, &command);
        assert!(
            out.status.success(),
            "CI step `{run}` fails (exit {:?}):\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (hooks, _) = block_starting("# .pre-commit-config.yaml");
    let hooks: serde_yaml_ng::Value = serde_yaml_ng::from_str(&hooks.text).unwrap();
    let entries: Vec<&str> = hooks["repos"][0]["hooks"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|h| h["entry"].as_str())
        .collect();
    assert_eq!(entries.len(), 4, "the four hooks");
    for entry in entries {
        let out = sandbox.bash(&repo, entry);
        assert!(
            out.status.success(),
            "pre-commit hook `{entry}` fails:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
