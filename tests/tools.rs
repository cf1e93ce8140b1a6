//! Fitting the user's habits: shell completions, the man page, kubectl's
//! plugin mechanism, and the service map in the text forms (dot, Mermaid).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use assert_cmd::Command;

fn palisade() -> Command {
    Command::cargo_bin("palisade").unwrap()
}

fn stdout(command: &mut Command) -> String {
    let output = command.assert().success().get_output().stdout.clone();
    String::from_utf8(output).unwrap()
}

#[test]
fn completions_know_every_subcommand_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _palisade"),
        ("zsh", "#compdef palisade"),
        ("fish", "complete -c palisade"),
    ] {
        let script = stdout(palisade().args(["completions", shell]));
        assert!(script.contains(marker), "{shell}: {}", &script[..200.min(script.len())]);
        for subcommand in ["compile", "verify", "audit", "graph", "report"] {
            assert!(script.contains(subcommand), "{shell} completes `{subcommand}`");
        }
    }
    palisade().args(["completions", "tcsh"]).assert().code(1);
}

#[test]
fn the_man_page_is_roff_with_every_subcommand() {
    let page = stdout(palisade().arg("man"));
    assert!(page.contains(".TH palisade 1"));
    assert!(page.contains("Compile network intents"));
    for subcommand in ["compile", "simulate", "rollout", "graph"] {
        assert!(page.contains(subcommand), "the man page lists `{subcommand}`");
    }
}

#[test]
fn completions_offer_the_targets_and_flow_formats_not_file_names() {
    let script = stdout(palisade().args(["completions", "bash"]));
    assert!(
        script.contains(r#"compgen -W "kubernetes calico cilium istio all""#),
        "-t completes the targets"
    );
    let formats = script
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("--flow-format)"))
        .nth(1)
        .unwrap_or_default();
    for format in ["hubble", "calico", "envoy"] {
        assert!(
            formats.contains(format),
            "--flow-format completes `{format}`: {formats}"
        );
    }
    let fish = stdout(palisade().args(["completions", "fish"]));
    let audit_output = fish
        .lines()
        .find(|l| l.contains("using_subcommand audit\" -s o -l output"))
        .unwrap_or_else(|| panic!("audit has -o/--output: {fish}"));
    assert!(
        audit_output.contains("markdown"),
        "-o completes the output formats: {audit_output}"
    );
}

#[test]
fn each_subcommand_has_its_man_page_and_all_of_them_are_written_at_once() {
    let page = stdout(palisade().args(["man", "audit"]));
    assert!(
        page.contains(".TH palisade-audit 1"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(page.contains(r"\-\-flow\-format"), "the page documents the flags");
    palisade()
        .args(["man", "adit"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("did you mean `audit`?"));
    let dir = tempfile::tempdir().unwrap();
    palisade().arg("man").arg("--out").arg(dir.path()).assert().success();
    for name in [
        "palisade.1",
        "palisade-compile.1",
        "palisade-verify.1",
        "palisade-graph.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(text.starts_with(".ie"), "{name} is roff");
    }
}

#[test]
fn run_as_kubectl_palisade_it_works_and_says_so_in_its_usage() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("kubectl-palisade");
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("palisade"), &plugin).unwrap();
    let help = stdout(Command::new(&plugin).arg("--help"));
    assert!(help.contains("Usage: kubectl palisade"), "{help}");
    let root = env!("CARGO_MANIFEST_DIR");
    let plugin_out = stdout(
        Command::new(&plugin)
            .current_dir(root)
            .args(["compile", "examples/zero-trust"]),
    );
    let direct_out = stdout(palisade().current_dir(root).args(["compile", "examples/zero-trust"]));
    assert_eq!(plugin_out, direct_out);
}

#[test]
fn the_map_in_dot_and_mermaid_has_the_namespaces_services_and_verdicts() {
    let args = [
        "graph",
        "examples/zero-trust",
        "--flows",
        "examples/zero-trust/flows/hubble.jsonl",
        "--output",
    ];
    let dot = stdout(palisade().args(args).arg("dot"));
    assert!(dot.starts_with("digraph palisade {"));
    assert!(dot.contains(r#"label="shop (default-deny)""#));
    assert!(
        dot.contains(r#""shop/backend" -> "api.stripe.com" [label="tcp/443"]"#),
        "{dot}"
    );
    assert!(
        dot.contains(r#"[label="would-drop tcp/5432 x2", color=orange"#),
        "{dot}"
    );
    assert_eq!(dot, stdout(palisade().args(args).arg("dot")), "deterministic");

    let mermaid = stdout(palisade().args(args).arg("mermaid"));
    assert!(mermaid.starts_with("flowchart LR\n"));
    assert!(mermaid.contains(r#"["shop (default-deny)"]"#));
    assert!(mermaid.contains(r#"==>|"would-drop tcp/5432 x2"|"#), "{mermaid}");
    assert!(mermaid.contains("stroke:orange"));
}

#[test]
fn the_map_of_bad_intents_is_a_clean_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("palisade.yaml"),
        "apiVersion: palisade.dev/v1alpha1\nkind: Project\nspec: [\n",
    )
    .unwrap();
    let out = dir.path().join("map.html");
    let assert = palisade()
        .args(["graph"])
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("palisade.yaml:"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn every_pre_commit_hook_runs_a_real_subcommand_on_the_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/.pre-commit-hooks.yaml")).unwrap();
    let hooks: Vec<serde_yaml_ng::Value> = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(hooks.len(), 4);
    let rendered = tempfile::tempdir().unwrap();
    palisade()
        .current_dir(root)
        .args(["compile", "examples/zero-trust", "--out"])
        .arg(rendered.path())
        .assert()
        .success();
    for hook in hooks {
        let entry = hook["entry"].as_str().unwrap();
        let mut words = entry.split_whitespace();
        assert_eq!(words.next(), Some("palisade"), "{entry}");
        assert_eq!(hook["language"].as_str(), Some("rust"));
        let subcommand: Vec<&str> = words.collect();
        // The arguments a user would configure for the example.
        let args: Vec<String> = match subcommand.as_slice() {
            ["check"] | ["verify"] => vec!["examples/zero-trust".into()],
            ["compile"] => vec![
                "examples/zero-trust".into(),
                "--out".into(),
                rendered.path().display().to_string(),
                "--check".into(),
            ],
            ["lint"] => vec![rendered.path().display().to_string()],
            other => panic!("unexpected hook entry {other:?}"),
        };
        palisade()
            .current_dir(root)
            .args(&subcommand)
            .args(&args)
            .assert()
            .success();
    }
}
