//! `plan`, `--rev` and `compile --check` on real git repositories built in a
//! temporary folder with git2.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use assert_cmd::Command;
use git2::{Repository, Signature};
use serde_json::Value;
use std::path::Path;

const PROJECT: &str = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: t }\nspec:\n  targets: [cilium]\n  cluster:\n    clusterCIDRs: [10.244.0.0/16]\n";

fn shop(services: &str, rules: &str) -> String {
    format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: shop, namespace: shop }}\nspec:\n  baseline: [dns]\n  services:\n{services}  allow:\n{rules}")
}

const SERVICES: &str = "    frontend: { selector: { app: frontend } }\n    backend: { selector: { app: backend } }\n    db: { selector: { app: db } }\n";
const RULES: &str =
    "    - frontend -> backend tcp/8080\n    - backend -> db tcp/5432\n    - backend -> 10.30.0.0/24 tcp/443\n";

/// A repository whose HEAD holds the base intents, and a work tree to change
fn repository() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    std::fs::create_dir_all(dir.path().join("intents")).unwrap();
    std::fs::write(dir.path().join("palisade.yaml"), PROJECT).unwrap();
    std::fs::write(dir.path().join("intents/shop.yaml"), shop(SERVICES, RULES)).unwrap();
    commit(&repo, "base");
    (dir, repo)
}

fn commit(repo: &Repository, message: &str) {
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = Signature::now("palisade test", "test@palisade.dev").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &parents)
        .unwrap();
}

fn plan(dir: &Path, output: &str) -> (Option<i32>, String) {
    let out = Command::cargo_bin("palisade")
        .unwrap()
        .args(["plan"])
        .arg(dir)
        .args(["--base", "HEAD", "--detailed-exitcode", "--output", output])
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// (from, to, ports)
type FlowRow = (String, String, Vec<String>);

/// (from, to, ports) of each opened and closed flow
fn flows(json: &str) -> (Vec<FlowRow>, Vec<FlowRow>, Value) {
    let plan: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let list = |key: &str| {
        plan[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["from"].as_str().unwrap().to_string(),
                    f["to"].as_str().unwrap().to_string(),
                    f["ports"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p.as_str().unwrap().to_string())
                        .collect(),
                )
            })
            .collect()
    };
    (list("opened"), list("closed"), plan)
}

fn flow(from: &str, to: &str, ports: &[&str]) -> (String, String, Vec<String>) {
    (from.into(), to.into(), ports.iter().map(|p| p.to_string()).collect())
}

#[test]
fn adding_an_edge_opens_exactly_it() {
    let (dir, _repo) = repository();
    std::fs::write(
        dir.path().join("intents/shop.yaml"),
        shop(SERVICES, &format!("{RULES}    - frontend -> db tcp/5432\n")),
    )
    .unwrap();
    let (code, json) = plan(dir.path(), "json");
    assert_eq!(code, Some(2), "{json}");
    let (opened, closed, _) = flows(&json);
    assert_eq!(opened, vec![flow("shop/frontend", "shop/db", &["tcp/5432"])]);
    assert!(closed.is_empty());
    // The pull-request comment says the same.
    let (code, markdown) = plan(dir.path(), "markdown");
    assert_eq!(code, Some(2));
    assert!(
        markdown.contains("**Opens 1** connection group:")
            && markdown.contains("| `shop/frontend` | `shop/db` | `tcp/5432` |"),
        "{markdown}"
    );
    assert!(!markdown.contains("**Closes"), "{markdown}");
}

#[test]
fn removing_an_edge_closes_exactly_it() {
    let (dir, _repo) = repository();
    std::fs::write(
        dir.path().join("intents/shop.yaml"),
        shop(
            SERVICES,
            "    - frontend -> backend tcp/8080\n    - backend -> 10.30.0.0/24 tcp/443\n",
        ),
    )
    .unwrap();
    let (code, json) = plan(dir.path(), "json");
    assert_eq!(code, Some(2), "{json}");
    let (opened, closed, _) = flows(&json);
    assert!(opened.is_empty());
    assert_eq!(closed, vec![flow("shop/backend", "shop/db", &["tcp/5432"])]);
}

#[test]
fn renaming_a_service_changes_no_connection_but_shows_the_manifest_diff() {
    let (dir, _repo) = repository();
    let services = SERVICES.replace("frontend:", "web:");
    let rules = RULES.replace("frontend ->", "web ->");
    // Reordered too: order carries no meaning.
    let rules: String = rules.lines().rev().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.path().join("intents/shop.yaml"), shop(&services, &rules)).unwrap();
    let (code, json) = plan(dir.path(), "json");
    assert_eq!(code, Some(0), "{json}");
    let (opened, closed, report) = flows(&json);
    assert!(opened.is_empty() && closed.is_empty(), "{json}");
    assert_eq!(report["connectivity_changed"], Value::Bool(false));
    let diff = report["diffs"][0]["diff"].as_str().unwrap();
    assert!(
        diff.contains("+  name: web"),
        "the rename shows in the manifests: {diff}"
    );
    let (_, text) = plan_text(dir.path());
    assert!(text.contains("no connection is opened or closed"), "{text}");
}

fn plan_text(dir: &Path) -> (Option<i32>, String) {
    plan(dir, "text")
}

#[test]
fn widening_a_cidr_opens_the_new_addresses_only() {
    let (dir, _repo) = repository();
    std::fs::write(
        dir.path().join("intents/shop.yaml"),
        shop(SERVICES, &RULES.replace("10.30.0.0/24", "10.30.0.0/16")),
    )
    .unwrap();
    let (code, json) = plan(dir.path(), "json");
    assert_eq!(code, Some(2), "{json}");
    let (opened, closed, _) = flows(&json);
    assert!(closed.is_empty(), "{json}");
    assert_eq!(
        opened,
        // CIDR arithmetic, not sample addresses: the new /16 less the old /24
        vec![flow("shop/backend", "10.30.0.0/16 except 10.30.0.0/24", &["tcp/443"])]
    );
}

#[test]
fn adding_an_fqdn_opens_the_name_and_warns_about_wildcards() {
    let (dir, _repo) = repository();
    std::fs::write(
        dir.path().join("intents/shop.yaml"),
        shop(SERVICES, &format!("{RULES}    - backend -> https://api.stripe.com\n")),
    )
    .unwrap();
    let (code, json) = plan(dir.path(), "json");
    assert_eq!(code, Some(2), "{json}");
    let (opened, closed, report) = flows(&json);
    assert_eq!(opened, vec![flow("shop/backend", "api.stripe.com", &["tcp/443"])]);
    assert!(closed.is_empty());
    assert!(report["warnings"].as_array().unwrap().is_empty(), "{json}");
    std::fs::write(
        dir.path().join("intents/shop.yaml"),
        shop(
            SERVICES,
            &format!("{RULES}    - \"backend -> *.stripe.com tcp/443\"\n    - world -> frontend tcp/443\n"),
        ),
    )
    .unwrap();
    let (_, json) = plan(dir.path(), "json");
    let (_, _, report) = flows(&json);
    let warnings: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("new FQDN wildcard `*.stripe.com`")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("new edge from outside the cluster")),
        "{warnings:?}"
    );
}

#[test]
fn removing_a_default_deny_is_a_warning() {
    let (dir, _repo) = repository();
    std::fs::write(
        dir.path().join("intents/shop.yaml"),
        shop(SERVICES, RULES).replace("  baseline: [dns]\n", "  posture: none\n  baseline: [dns]\n"),
    )
    .unwrap();
    let (code, json) = plan(dir.path(), "json");
    assert_eq!(code, Some(2), "{json}");
    let (_, _, report) = flows(&json);
    assert!(
        report["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .starts_with("default deny removed from namespace `shop`")),
        "{json}"
    );
}

#[test]
fn a_custom_template_renders_the_same_lists() {
    let (dir, _repo) = repository();
    std::fs::write(
        dir.path().join("intents/shop.yaml"),
        shop(SERVICES, &format!("{RULES}    - frontend -> db tcp/5432\n")),
    )
    .unwrap();
    let template = dir.path().join("t.hbs");
    std::fs::write(
        &template,
        "{{#each opened}}OPEN {{from}} {{to}} {{#each ports}}{{this}}{{/each}}\n{{/each}}",
    )
    .unwrap();
    let out = Command::cargo_bin("palisade")
        .unwrap()
        .arg("plan")
        .arg(dir.path())
        .args(["--base", "HEAD", "--output", "markdown", "--template"])
        .arg(&template)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "OPEN shop/frontend shop/db tcp/5432"
    );
}

#[test]
fn reading_a_revision_needs_no_checkout_and_works_in_a_bare_clone() {
    let (dir, repo) = repository();
    // A dirty work tree: --rev HEAD still sees the committed intents.
    std::fs::write(dir.path().join("intents/shop.yaml"), "not: [valid").unwrap();
    Command::cargo_bin("palisade")
        .unwrap()
        .arg("check")
        .arg(dir.path())
        .args(["--rev", "HEAD"])
        .assert()
        .success();
    Command::cargo_bin("palisade")
        .unwrap()
        .arg("check")
        .arg(dir.path())
        .assert()
        .code(1);
    let bare = tempfile::tempdir().unwrap();
    git2::build::RepoBuilder::new()
        .bare(true)
        .clone(repo.path().to_str().unwrap(), bare.path())
        .unwrap();
    let head = Command::cargo_bin("palisade")
        .unwrap()
        .arg("compile")
        .arg(bare.path())
        .args(["--rev", "HEAD"])
        .output()
        .unwrap();
    assert!(head.status.success(), "{}", String::from_utf8_lossy(&head.stderr));
    assert!(String::from_utf8_lossy(&head.stdout).contains("kind: CiliumNetworkPolicy"));
    Command::cargo_bin("palisade")
        .unwrap()
        .arg("verify")
        .arg(bare.path())
        .args(["--rev", "HEAD"])
        .assert()
        .success();
}

#[test]
fn compile_check_tells_whether_a_committed_folder_is_in_sync() {
    let (dir, _repo) = repository();
    let out = dir.path().join("rendered");
    let palisade = || Command::cargo_bin("palisade").unwrap();
    palisade()
        .arg("compile")
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    palisade()
        .arg("compile")
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .arg("--check")
        .assert()
        .success();
    std::fs::write(
        dir.path().join("intents/shop.yaml"),
        shop(SERVICES, &format!("{RULES}    - frontend -> db tcp/5432\n")),
    )
    .unwrap();
    let result = palisade()
        .arg("compile")
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .arg("--check")
        .output()
        .unwrap();
    // 2: a difference, never the 1 of bad input (README, exit codes)
    assert_eq!(result.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&result.stdout).contains("differs: cilium/shop/ciliumnetworkpolicy-"),
        "{}",
        String::from_utf8_lossy(&result.stdout)
    );
    // The command it names writes the folder back in sync.
    let stderr = String::from_utf8_lossy(&result.stderr);
    let hint = stderr
        .split("run `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("a command to run: {stderr}"));
    let words: Vec<&str> = hint.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"palisade"), "{hint}");
    palisade().args(&words[1..]).assert().success();
    palisade()
        .arg("compile")
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .arg("--check")
        .assert()
        .success();
}

#[test]
fn a_world_edge_opens_world_not_sample_addresses() {
    let (dir, _repo) = repository();
    std::fs::write(
        dir.path().join("intents/shop.yaml"),
        shop(SERVICES, &format!("{RULES}    - world -> frontend tcp/443\n")),
    )
    .unwrap();
    let (code, json) = plan(dir.path(), "json");
    assert_eq!(code, Some(2), "{json}");
    let (opened, closed, _) = flows(&json);
    assert_eq!(opened, vec![flow("world", "shop/frontend", &["tcp/443"])]);
    assert!(closed.is_empty(), "{json}");
    let (_, text) = plan_text(dir.path());
    for invented in ["169.254", "203.0.113", "stranger", "not-", "palisade-elsewhere"] {
        assert!(
            !text.contains(invented),
            "a probe leaks into the plan ({invented}):\n{text}"
        );
    }
}

#[test]
fn all_ports_over_an_http_rule_is_a_widening_warned_first() {
    let (dir, repo) = repository();
    let narrow = "    - { from: frontend, to: backend, ports: [tcp/8080], http: [{ method: GET, path: /products/* }] }\n    - backend -> db tcp/5432\n";
    std::fs::write(dir.path().join("intents/shop.yaml"), shop(SERVICES, narrow)).unwrap();
    commit(&repo, "http rule");
    let wide = "    - frontend -> backend\n    - backend -> db tcp/5432\n";
    std::fs::write(dir.path().join("intents/shop.yaml"), shop(SERVICES, wide)).unwrap();
    let (code, json) = plan(dir.path(), "json");
    assert_eq!(code, Some(2), "{json}");
    let (opened, _, report) = flows(&json);
    assert_eq!(opened.len(), 1, "{json}");
    let warning = report["warnings"][0].as_str().unwrap();
    assert_eq!(
        warning,
        "shop/frontend -> shop/backend: now all ports, was tcp/8080 GET /products/*"
    );
    let (_, text) = plan_text(dir.path());
    let warned = text.find(warning).unwrap_or(usize::MAX);
    let listed = text.find("opens").unwrap_or(0);
    assert!(warned < listed, "the widening comes first:\n{text}");
}

#[test]
fn renaming_a_namespace_closes_the_old_and_opens_the_new_in_a_few_lines() {
    let (dir, _repo) = repository();
    std::fs::write(
        dir.path().join("intents/shop.yaml"),
        shop(SERVICES, RULES).replace("namespace: shop", "namespace: store"),
    )
    .unwrap();
    let (code, text) = plan_text(dir.path());
    assert_eq!(code, Some(2), "{text}");
    let summary: Vec<&str> = text.lines().take_while(|l| !l.ends_with("manifests:")).collect();
    // The line that matters first: shop's pods lose their default deny
    assert_eq!(
        summary.get(1).copied(),
        Some("  ! default deny removed from namespace `shop`: its Intents were removed"),
        "{text}"
    );
    assert!(summary.len() < 25, "{text}");
    assert!(summary.iter().all(|l| l.len() < 160), "{text}");
    // shop opens beyond what it allowed; store closes all but what it allows
    assert!(
        summary
            .iter()
            .any(|l| l.contains("+ shop/frontend -> shop/backend all ports except tcp/8080")),
        "{text}"
    );
    assert!(
        summary
            .iter()
            .any(|l| l.contains("- store/frontend -> store/backend all ports except tcp/8080")),
        "{text}"
    );
}

#[test]
fn a_first_pull_request_opens_what_its_intents_allow() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    std::fs::write(dir.path().join("palisade.yaml"), PROJECT).unwrap();
    commit(&repo, "empty");
    std::fs::create_dir_all(dir.path().join("intents")).unwrap();
    std::fs::write(dir.path().join("intents/shop.yaml"), shop(SERVICES, RULES)).unwrap();
    let (code, json) = plan(dir.path(), "json");
    assert_eq!(code, Some(2), "{json}");
    let (mut opened, closed, _) = flows(&json);
    opened.sort();
    assert!(closed.is_empty(), "nothing was enforced, so nothing closes: {json}");
    assert!(
        opened.contains(&flow("shop/frontend", "shop/backend", &["tcp/8080"])),
        "{json}"
    );
    assert!(
        opened.contains(&flow("shop/backend", "shop/db", &["tcp/5432"])),
        "{json}"
    );
    assert!(
        opened.contains(&flow("shop/backend", "10.30.0.0/24", &["tcp/443"])),
        "{json}"
    );
}

#[test]
fn the_pull_request_comment_stays_under_the_github_limit() {
    let (dir, _repo) = repository();
    let services: String = (0..400)
        .map(|i| format!("    svc{i}: {{ selector: {{ app: svc{i}, team: t{i} }} }}\n"))
        .collect();
    let rules: String = (0..400)
        .map(|i| format!("    - svc{i} -> db tcp/{}\n", 1000 + i))
        .collect();
    std::fs::write(
        dir.path().join("intents/shop.yaml"),
        shop(&format!("{SERVICES}{services}"), &format!("{RULES}{rules}")),
    )
    .unwrap();
    let (code, markdown) = plan(dir.path(), "markdown");
    assert_eq!(code, Some(2));
    assert!(markdown.len() < 60_000, "{} characters", markdown.len());
    assert!(markdown.contains("**Opens"), "the summary is always there");
    assert!(markdown.contains("truncated"), "the cut says so");
}

#[test]
fn the_manifest_diff_shows_the_files_a_change_touches_and_no_other() {
    let (dir, _repo) = repository();
    let rules = format!("{RULES}    - frontend -> db tcp/5432\n");
    std::fs::write(dir.path().join("intents/shop.yaml"), shop(SERVICES, &rules)).unwrap();
    let (code, json) = plan(dir.path(), "json");
    assert_eq!(code, Some(2), "{json}");
    let (_, _, report) = flows(&json);
    let diff = report["diffs"][0]["diff"].as_str().unwrap();
    let files: Vec<&str> = diff
        .lines()
        .filter_map(|l| l.strip_prefix("+++ work tree/cilium/shop/"))
        .collect();
    assert!(
        files.iter().any(|f| f.contains("frontend")) && files.iter().any(|f| f.contains("db")),
        "the policies of frontend and db change: {diff}"
    );
    assert!(
        !files.iter().any(|f| f.contains("backend")),
        "backend's policy is as it was and is not in the diff: {diff}"
    );
}
