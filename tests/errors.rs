//! Bad input: every error names `file:line:column`, shows the text and a hint,
//! exits 1 and writes nothing. Each case is a small repository written to a
//! temporary folder and checked with `--error-format plain`.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

use assert_cmd::Command;
use std::path::Path;

const PROJECT: &str = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: t }\nspec:\n  cluster:\n    apiServer: { cidrs: [10.0.0.1/32] }\n";

fn intents(namespace: &str, body: &str) -> String {
    format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: {namespace}, namespace: {namespace} }}\nspec:\n{body}")
}

const SERVICES: &str = "  services:\n    frontend: { selector: { app: frontend } }\n    backend: { selector: { app: backend }, ports: { http: tcp/8080 } }\n";

/// Run `palisade check` and `compile --out` on the files; both must fail with
/// exactly the expected `file:line:column: error[code]` lines, and write nothing
fn expect_errors(files: &[(&str, String)], expected: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    if !files.iter().any(|(p, _)| *p == "palisade.yaml") {
        std::fs::write(dir.path().join("palisade.yaml"), PROJECT).unwrap_or_else(|e| panic!("{e}"));
    }
    for (path, text) in files {
        std::fs::write(dir.path().join(path), text).unwrap_or_else(|e| panic!("{e}"));
    }
    let out = dir.path().join("out");
    let mut last = String::new();
    for args in [vec!["check"], vec!["compile", "--out", out.to_str().unwrap_or("out")]] {
        let output = Command::cargo_bin("palisade")
            .unwrap_or_else(|e| panic!("{e}"))
            .current_dir(dir.path())
            .args(["--error-format", "plain"])
            .args(&args)
            .arg(".")
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?} should fail:\n{stderr}");
        let heads: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains(": error["))
            .map(|l| l.split("]: ").next().unwrap_or(""))
            .collect();
        let expected_heads: Vec<String> = expected.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            heads.iter().map(|h| format!("{h}]")).collect::<Vec<_>>(),
            expected_heads,
            "{args:?}:\n{stderr}"
        );
        assert!(stderr.contains("  | "), "the offending text is shown:\n{stderr}");
        assert!(stderr.contains("= help: "), "a hint is given:\n{stderr}");
        assert!(output.stdout.is_empty(), "no output on error");
        assert!(!Path::new(&out).join("kubernetes").exists(), "no partial output folder");
        last = stderr.to_string();
    }
    last
}

#[test]
fn unknown_service_points_at_the_name_and_suggests_one() {
    expect_errors(
        &[(
            "a.yaml",
            intents(
                "shop",
                &format!("{SERVICES}  allow:\n    - frontend -> bakend tcp/8080\n"),
            ),
        )],
        &["a.yaml:9:19: error[palisade::unknown_service]"],
    );
}

#[test]
fn duplicate_service_across_files() {
    let b = intents("shop", "  services:\n    backend: { selector: { app: other } }\n");
    expect_errors(
        &[("a.yaml", intents("shop", SERVICES)), ("b.yaml", b)],
        &["b.yaml:6:5: error[palisade::duplicate_service]"],
    );
}

#[test]
fn cidr_with_host_bits() {
    expect_errors(
        &[(
            "a.yaml",
            intents(
                "shop",
                &format!("{SERVICES}  allow:\n    - backend -> 10.0.0.1/8 tcp/443\n"),
            ),
        )],
        &["a.yaml:9:18: error[palisade::bad_cidr]"],
    );
}

#[test]
fn except_outside_its_cidr() {
    let rule = "  allow:\n    - from: backend\n      to: { cidr: 10.0.0.0/8, except: [11.0.0.0/16] }\n";
    expect_errors(
        &[("a.yaml", intents("shop", &format!("{SERVICES}{rule}")))],
        &["a.yaml:10:40: error[palisade::except_outside_cidr]"],
    );
}

#[test]
fn port_out_of_range_and_backwards_range_both_reported() {
    let rules = "  allow:\n    - frontend -> backend tcp/99999\n    - \"frontend -> backend tcp/9000-8000\"\n";
    expect_errors(
        &[("a.yaml", intents("shop", &format!("{SERVICES}{rules}")))],
        &[
            "a.yaml:9:31: error[palisade::bad_port]",
            "a.yaml:10:32: error[palisade::bad_port]",
        ],
    );
}

#[test]
fn unknown_named_port() {
    expect_errors(
        &[(
            "a.yaml",
            intents("shop", &format!("{SERVICES}  allow:\n    - frontend -> backend htp\n")),
        )],
        &["a.yaml:9:27: error[palisade::unknown_named_port]"],
    );
}

#[test]
fn bad_fqdn_pattern() {
    expect_errors(
        &[(
            "a.yaml",
            intents(
                "shop",
                &format!("{SERVICES}  allow:\n    - backend -> api.*.stripe.com tcp/443\n"),
            ),
        )],
        &["a.yaml:9:18: error[palisade::bad_fqdn]"],
    );
}

#[test]
fn cross_namespace_reference_to_undeclared_namespace() {
    expect_errors(
        &[(
            "a.yaml",
            intents(
                "shop",
                &format!("{SERVICES}  allow:\n    - backend -> payments/ledger tcp/5432\n"),
            ),
        )],
        &["a.yaml:9:18: error[palisade::unknown_namespace]"],
    );
}

#[test]
fn cross_namespace_reference_to_undeclared_service() {
    let payments = intents("payments", "  services:\n    ledger: { selector: { app: ledger } }\n");
    expect_errors(
        &[
            (
                "a.yaml",
                intents(
                    "shop",
                    &format!("{SERVICES}  allow:\n    - backend -> payments/ledgr tcp/5432\n"),
                ),
            ),
            ("b.yaml", payments),
        ],
        &["a.yaml:9:27: error[palisade::unknown_service]"],
    );
}

#[test]
fn empty_selector() {
    expect_errors(
        &[(
            "a.yaml",
            intents("shop", "  services:\n    frontend: { selector: {} }\n"),
        )],
        &["a.yaml:6:27: error[palisade::empty_selector]"],
    );
}

#[test]
fn unknown_field_with_suggestion() {
    expect_errors(
        &[(
            "a.yaml",
            intents(
                "shop",
                "  services:\n    backend: { selector: { app: b }, prots: {} }\n",
            ),
        )],
        &["a.yaml:6:38: error[palisade::unknown_field]"],
    );
}

#[test]
fn yaml_syntax_error() {
    expect_errors(
        &[(
            "a.yaml",
            intents(
                "shop",
                "  services:\n    backend: { selector: { app: b }\n  allow: []\n",
            ),
        )],
        &["a.yaml:7:3: error[palisade::yaml]"],
    );
}

#[test]
fn reserved_word_as_service_name() {
    expect_errors(
        &[(
            "a.yaml",
            intents("shop", "  services:\n    dns: { selector: { app: dns } }\n"),
        )],
        &["a.yaml:6:5: error[palisade::reserved_name]"],
    );
}

#[test]
fn fqdn_refused_on_native_networkpolicy_with_the_alternative() {
    expect_errors(
        &[(
            "a.yaml",
            intents(
                "shop",
                &format!("{SERVICES}  allow:\n    - backend -> https://api.stripe.com\n"),
            ),
        )],
        &["a.yaml:9:7: error[palisade::fqdn_unsupported]"],
    );
}

#[test]
fn http_rules_refused_on_native_networkpolicy() {
    let rule = "  allow:\n    - from: frontend\n      to: backend\n      ports: [tcp/8080]\n      http: [{ method: GET, path: /products/* }]\n";
    expect_errors(
        &[("a.yaml", intents("shop", &format!("{SERVICES}{rule}")))],
        &["a.yaml:9:11: error[palisade::l7_unsupported]"],
    );
}

#[test]
fn flannel_is_refused() {
    let project = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: t }\nspec:\n  cluster:\n    cni: flannel\n".to_string();
    expect_errors(
        &[("palisade.yaml", project), ("a.yaml", intents("shop", SERVICES))],
        &["palisade.yaml:6:10: error[palisade::cni_enforces_nothing]"],
    );
}

#[test]
fn kube_api_without_api_server_in_the_profile() {
    let project = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: t }\n".to_string();
    expect_errors(
        &[
            ("palisade.yaml", project),
            (
                "a.yaml",
                intents("shop", &format!("  baseline: [kube-api]\n{SERVICES}")),
            ),
        ],
        &["a.yaml:5:14: error[palisade::missing_profile]"],
    );
}

#[test]
fn missing_namespace() {
    let text = "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop }\nspec: {}\n".to_string();
    expect_errors(
        &[("a.yaml", text)],
        &["a.yaml:3:19: error[palisade::missing_namespace]"],
    );
}

#[test]
fn every_error_of_a_repository_is_reported_at_once() {
    let rules = "  allow:\n    - frontend -> bakend tcp/8080\n    - frontnd -> backend tcp/8080\n";
    expect_errors(
        &[("a.yaml", intents("shop", &format!("{SERVICES}{rules}")))],
        &[
            "a.yaml:9:19: error[palisade::unknown_service]",
            "a.yaml:10:7: error[palisade::unknown_service]",
        ],
    );
}

#[test]
fn binary_and_truncated_files_give_clean_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("a.yaml"), [0xff, 0xfe, 0x00, 0x41, 0x80]).unwrap_or_else(|e| panic!("{e}"));
    let output = Command::cargo_bin("palisade")
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["--error-format", "plain", "check"])
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("a.yaml:1:1: error[palisade::not_utf8]"));
    let example = std::fs::read_to_string("examples/zero-trust/intents/shop.yaml").unwrap_or_default();
    for cut in (0..example.len()).step_by(7) {
        let Some(prefix) = example.get(..cut) else {
            continue;
        };
        let files = vec![palisade_intents::RawFile {
            path: "a.yaml".into(),
            bytes: prefix.as_bytes().to_vec(),
        }];
        // Must not panic; either loads (a valid prefix) or reports located errors.
        if let Err(diags) = palisade_intents::load_files(files) {
            assert!(
                diags.iter().all(|d| d.loc().is_some() || d.code_str() == "no_intents"),
                "cut at {cut}: {diags:?}"
            );
        }
    }
}

fn project_with(targets: &str, extra: &str) -> String {
    format!("apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: {{ name: t }}\nspec:\n  targets: [{targets}]\n{extra}  cluster:\n    egressGateway: {{ namespace: istio-system, selector: {{ istio: egressgateway }} }}\n")
}

const L7_RULE: &str = "  allow:\n    - from: frontend\n      to: backend\n      ports: [tcp/8080]\n      http: [{ method: GET, path: /products/* }]\n";

#[test]
fn http_rules_refused_on_calico_with_the_alternative() {
    let output = expect_errors(
        &[
            ("palisade.yaml", project_with("calico", "")),
            ("a.yaml", intents("shop", &format!("{SERVICES}{L7_RULE}"))),
        ],
        &["a.yaml:9:11: error[palisade::l7_unsupported]"],
    );
    assert!(output.contains("add a `cilium` or `istio` target"), "{output}");
}

#[test]
fn fqdn_refused_on_calico_open_source_with_the_alternatives() {
    let output = expect_errors(
        &[
            ("palisade.yaml", project_with("calico", "")),
            (
                "a.yaml",
                intents(
                    "shop",
                    &format!("{SERVICES}  allow:\n    - backend -> https://api.stripe.com\n"),
                ),
            ),
        ],
        &["a.yaml:9:7: error[palisade::fqdn_unsupported]"],
    );
    assert!(
        output.contains("Calico Enterprise") && output.contains("via: egress-gateway"),
        "{output}"
    );
}

#[test]
fn istio_alone_is_refused() {
    expect_errors(
        &[
            ("palisade.yaml", project_with("istio", "")),
            ("a.yaml", intents("shop", SERVICES)),
        ],
        &["palisade.yaml:5:13: error[palisade::overlay_alone]"],
    );
}

#[test]
fn istio_cannot_route_a_wildcard_through_the_gateway() {
    let rule = "  allow:\n    - from: backend\n      to: { fqdn: \"*.stripe.com\", via: egress-gateway }\n      ports: [tcp/443]\n";
    expect_errors(
        &[
            ("palisade.yaml", project_with("kubernetes, istio", "")),
            ("a.yaml", intents("shop", &format!("{SERVICES}{rule}"))),
        ],
        &["a.yaml:9:11: error[palisade::istio_unroutable]"],
    );
}

#[test]
fn istio_needs_a_service_account_to_tell_callers_apart() {
    expect_errors(
        &[
            ("palisade.yaml", project_with("kubernetes, istio", "")),
            ("a.yaml", intents("shop", &format!("{SERVICES}{L7_RULE}"))),
        ],
        &["a.yaml:9:11: error[palisade::istio_unidentified_source]"],
    );
}

#[test]
fn l7_degrade_to_l4_is_an_explicit_opt_in_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("palisade.yaml"),
        project_with("kubernetes", "  l7: degrade-to-l4\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        intents("shop", &format!("{SERVICES}{L7_RULE}")),
    )
    .unwrap();
    let output = Command::cargo_bin("palisade")
        .unwrap()
        .args(["--error-format", "plain", "compile"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("a.yaml:9:11: warning[palisade::l7_degraded]"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("port: 8080"));
}

#[test]
fn calico_enterprise_uses_domain_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("palisade.yaml"),
        project_with("calico", "  calico: { edition: enterprise }\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        intents(
            "shop",
            &format!("{SERVICES}  allow:\n    - backend -> https://api.stripe.com\n"),
        ),
    )
    .unwrap();
    let output = Command::cargo_bin("palisade")
        .unwrap()
        .args(["compile"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("domains:\n      - api.stripe.com"));
}

/// A Calico policy with a selector Calico's parser refuses (`=` is not an
/// operator: docs.tigera.io .../reference/resources/networkpolicy#selectors
/// lists `==`); the bad value is on line 8
const UNEVALUABLE_CALICO: &str = "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: api, namespace: storefront }
spec:
  selector: app == 'api'
  ingress:
  - action: Allow
    source: { selector: app = 'web' }
";

fn run_plain(args: &[&str], paths: &[&Path]) -> (Option<i32>, String, String) {
    let output = Command::cargo_bin("palisade")
        .unwrap()
        .args(["--error-format", "plain"])
        .args(args)
        .args(paths)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// What an evaluator cannot evaluate is an error at its place (exit 1,
/// nothing on stdout) in every command that reads manifests from files,
/// never a fail-closed DENIED or a verdict table that reads it as a deny
#[test]
fn a_policy_the_evaluator_cannot_read_is_an_error_at_its_place_in_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("api.yaml");
    std::fs::write(&policy, UNEVALUABLE_CALICO).unwrap();
    let place = format!("{}:8:25:", policy.display());
    let cluster = "examples/multi-namespace/cluster.yaml";
    let simulate = [
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
    ];
    let matrix = [
        "simulate",
        "--cluster",
        cluster,
        "--matrix",
        "--port",
        "8080",
        "--policies",
    ];
    let commands: [&[&str]; 4] = [&simulate, &matrix, &["lint"], &["import"]];
    for args in commands {
        let (code, stdout, stderr) = run_plain(args, &[&policy]);
        assert_eq!(code, Some(1), "{args:?}: {stdout}{stderr}");
        assert_eq!(stdout, "", "{args:?}: nothing but the error: {stderr}");
        assert!(
            stderr.contains(&place) && stderr.contains("error[palisade::cannot_evaluate]"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("`app = 'web'` is not a Calico selector"),
            "{args:?}: {stderr}"
        );
    }
    // A hand edit of a rendered folder that breaks a selector is the same
    // error, not "verification failed" over every connection.
    let out = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run_plain(&["compile", "examples/multi-namespace", "--out"], &[out.path()]);
    assert_eq!(code, Some(0), "{stderr}");
    let edited = out.path().join("calico/storefront/broken.yaml");
    std::fs::write(&edited, UNEVALUABLE_CALICO).unwrap();
    let (code, stdout, stderr) = run_plain(&["verify", "examples/multi-namespace", "--manifests"], &[out.path()]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert_eq!(stdout, "", "{stderr}");
    assert!(
        stderr.contains(&format!("{}:8:", edited.display())) && stderr.contains("cannot_evaluate"),
        "{stderr}"
    );
}

/// DESIGN.md, exit codes: a reader that closes the pipe (`| head`) ends the
/// command quietly with 141, as SIGPIPE would, on every path that prints:
/// no panic message, and never the 0 of a gate that passed
#[test]
fn a_closed_pipe_ends_quietly_with_the_sigpipe_code() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let zero_trust = examples.join("zero-trust");
    let zero_trust = zero_trust.to_str().unwrap();
    for args in [
        vec!["targets"],
        vec!["compile", zero_trust],
        vec!["verify", zero_trust],
        vec!["graph", zero_trust],
    ] {
        // The reader is gone before the command starts.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("palisade"))
            .args(&args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // The same for stderr, where `rollout` prints the gate's verdict
    let flows = examples.join("zero-trust/flows/hubble.jsonl");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("palisade"))
        .args(["rollout", zero_trust, "--stage", "auto", "--dry-run", "--flows"])
        .arg(&flows)
        .stdout(std::process::Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(141));
}

/// `--max-gap` is minutes, at least one: a gap check that is off or can
/// never pass is a usage error (1), not a verdict
#[test]
fn a_max_gap_that_is_not_a_positive_number_of_minutes_is_refused() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/zero-trust");
    let flows = examples.join("flows/hubble.jsonl");
    for gap in ["-5", "0", "99999999999999"] {
        Command::cargo_bin("palisade")
            .unwrap()
            .args(["audit"])
            .arg(&examples)
            .arg("--flows")
            .arg(&flows)
            .arg(format!("--max-gap={gap}"))
            .assert()
            .code(1);
    }
}
