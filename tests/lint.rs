//! `palisade lint` on the walkthrough's raw policies: every finding at its
//! file:line:column with its object and fix, the exit code, the JSON form and
//! the list; checks turned off per run and per object; and palisade's own
//! output of every example, which must give no finding.

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

/// `palisade lint ARGS...`: its exit code and what it wrote on stderr
fn lint(args: &[&str]) -> (Option<i32>, String) {
    let out = palisade().arg("lint").args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Lint `yaml` (one file) with `args` and `--error-format plain`: the exit
/// code, and every `expect`ed text is on stderr
fn check(yaml: &str, args: &[&str], code: i32, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policies.yaml");
    std::fs::write(&file, yaml).unwrap();
    let file = file.to_string_lossy().into_owned();
    let mut all = vec![file.as_str(), "--error-format", "plain"];
    all.extend(args);
    let (got, stderr) = lint(&all);
    assert_eq!(got, Some(code), "exit code of lint {args:?}:\n{stderr}");
    for e in expect {
        assert!(stderr.contains(e), "missing {e:?} in\n{stderr}");
    }
}

/// Two traps in one policy: PAL006 (every namespace) and PAL002 (egress
/// isolated, no DNS)
const TWO_TRAPS: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: frontend-ingress\n  namespace: shop\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n  ingress:\n  - from:\n    - namespaceSelector: {}\n";

#[test]
fn the_walkthroughs_traps_are_found_where_they_are() {
    let out = palisade()
        .args(["lint", "examples/zero-trust/raw", "--error-format", "plain"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "PAL010 is an error");
    let text = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "examples/zero-trust/raw/cilium-fqdn.yaml:25:22: error[palisade::PAL010]: [literal-wildcard] CiliumNetworkPolicy demo-cilium/allow-only-google: ",
        "= help: write `matchPattern: \"*.google.com\"`",
        "examples/zero-trust/raw/networkpolicies.yaml:40:11: warning[palisade::PAL003]: [apiserver-by-selector] NetworkPolicy target-namespace/allow-infra-egress: ",
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
    assert!(
        line["message"].as_str().unwrap().contains("NetworkPolicy shop/p: "),
        "{line}"
    );
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

#[test]
fn machine_output_is_one_document_on_stdout_naming_each_object() {
    let out = palisade()
        .args(["lint", "examples/zero-trust/raw", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "PAL010 is an error");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            doc["manifests"].as_u64(),
            doc["errors"].as_u64(),
            doc["warnings"].as_u64()
        ),
        (Some(4), Some(1), Some(2))
    );
    let first = &doc["findings"][0];
    assert_eq!(first["code"], "palisade::PAL010");
    assert_eq!(first["object"], "CiliumNetworkPolicy demo-cilium/allow-only-google");
    assert_eq!(first["file"], "examples/zero-trust/raw/cilium-fqdn.yaml");
    assert_eq!((first["line"].as_u64(), first["column"].as_u64()), (Some(25), Some(22)));
    let again = palisade()
        .args(["lint", "examples/zero-trust/raw", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, again.stdout, "the same input gives the same bytes");
}

#[test]
fn checks_are_turned_off_per_run_by_id_or_name() {
    check(
        TWO_TRAPS,
        &[],
        1,
        &[
            "error[palisade::PAL002]",
            "warning[palisade::PAL006]: [all-namespaces] NetworkPolicy shop/frontend-ingress: ",
        ],
    );
    check(
        TWO_TRAPS,
        &["--disable", "PAL002"],
        0,
        &["palisade lint: 1 manifests, 0 errors, 1 warning"],
    );
    check(
        TWO_TRAPS,
        &["--disable", "egress-without-dns,PAL006"],
        0,
        &["0 errors, 0 warnings"],
    );
    check(
        TWO_TRAPS,
        &["--disable", "PAL002", "--disable", "pal006"],
        0,
        &["0 errors, 0 warnings"],
    );
    check(
        TWO_TRAPS,
        &["--disable", "PAL02"],
        1,
        &[
            "error[palisade::unknown_check]: --disable: no check is called `PAL02`",
            "did you mean `PAL002`?",
        ],
    );
}

#[test]
fn an_object_turns_checks_off_by_its_annotation() {
    let annotated = TWO_TRAPS.replace(
        "  namespace: shop\n",
        "  namespace: shop\n  annotations:\n    palisade.dev/lint-disable: PAL002,PAL006\n",
    );
    check(&annotated, &[], 0, &["0 errors, 0 warnings"]);
    check(&annotated.replace("PAL002,", ""), &[], 1, &["error[palisade::PAL002]"]);
    // A typo would turn nothing off without a word: it is an error, at the annotation
    check(
        &annotated.replace("PAL006", "all-namespace"),
        &[],
        1,
        &[
            "policies.yaml:7:32: error[palisade::unknown_check]: palisade.dev/lint-disable: no check is called `all-namespace`",
            "did you mean `all-namespaces`?",
        ],
    );
}

/// The target sets palisade renders: every dialect alone, and the overlay
/// on each of the others (it enforces nothing alone)
fn target_sets() -> Vec<String> {
    let l3 = ["kubernetes", "calico", "cilium"];
    let mut sets: Vec<String> = l3.iter().map(|t| t.to_string()).collect();
    sets.extend(l3.iter().map(|t| format!("{t},istio")));
    sets.push("all".to_string());
    sets
}

#[test]
fn palisades_own_output_of_every_example_gives_no_finding() {
    let mut linted = 0;
    for example in std::fs::read_dir("examples").unwrap() {
        let example = example.unwrap().path();
        if !example.join("palisade.yaml").is_file() {
            continue;
        }
        let cluster = example.join("cluster.yaml");
        for targets in target_sets() {
            let out = tempfile::tempdir().unwrap();
            let compiled = palisade()
                .arg("compile")
                .arg(&example)
                .args(["-t", &targets, "--out"])
                .arg(out.path().join("rendered"))
                .output()
                .unwrap();
            // A target that cannot express an intent refuses it (zero-trust's
            // FQDNs on kubernetes): nothing rendered, nothing to lint; the
            // project's own targets must render
            if compiled.status.code() != Some(0) {
                assert_ne!(
                    targets,
                    "all",
                    "{}: {}",
                    example.display(),
                    String::from_utf8_lossy(&compiled.stderr)
                );
                continue;
            }
            let mut command = palisade();
            command
                .arg("lint")
                .arg(out.path().join("rendered"))
                .args(["--deny-warnings", "-o", "json"]);
            if cluster.is_file() {
                command.arg("--cluster").arg(&cluster);
            }
            let result = command.output().unwrap();
            let doc: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
            assert_eq!(
                (result.status.code(), &doc["findings"]),
                (Some(0), &serde_json::json!([])),
                "{} -t {targets}",
                example.display()
            );
            linted += 1;
        }
    }
    assert!(linted >= 8, "only {linted} renderings were linted");
}

#[test]
fn palisades_own_output_for_a_dns_elsewhere_gives_no_finding() {
    // OpenShift's DNS runs in openshift-dns with its own labels: palisade
    // allows that, and lint used to look for kube-system/kube-dns only (PAL002)
    let project = tempfile::tempdir().unwrap();
    for entry in ["palisade.yaml", "intents/shop.yaml"] {
        let to = project.path().join(entry);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(std::path::Path::new("examples/zero-trust").join(entry), &to).unwrap();
    }
    let profile = project.path().join("palisade.yaml");
    let text = std::fs::read_to_string(&profile).unwrap();
    let moved = text.replace(
        "dns: { namespace: kube-system, selector: { k8s-app: kube-dns }",
        "dns: { namespace: openshift-dns, selector: { dns.operator.openshift.io/daemonset-dns: default }",
    );
    assert_ne!(text, moved, "the walkthrough's DNS line changed: update this test");
    std::fs::write(&profile, moved).unwrap();
    let out = project.path().join("rendered");
    palisade()
        .arg("compile")
        .arg(project.path())
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0);
    let result = palisade().arg("lint").arg(&out).args(["-o", "json"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(
        (result.status.code(), &doc["findings"]),
        (Some(0), &serde_json::json!([]))
    );
}

#[test]
fn a_finding_is_at_its_own_object_and_only_its_annotation_turns_it_off() {
    // A Kubernetes and a Calico NetworkPolicy of one name: the Calico one
    // isolates egress; the Kubernetes one's annotation is not its to give
    let twins = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: lockdown\n  namespace: shop\n  annotations: { palisade.dev/lint-disable: PAL002 }\nspec:\n  podSelector: { matchLabels: { app: batch } }\n  policyTypes: [Ingress]\n---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: { name: lockdown, namespace: shop }\nspec:\n  selector: all()\n  types: [Egress]\n";
    check(twins, &[], 1, &["policies.yaml:14:1: error[palisade::PAL002]"]);
}

#[test]
fn udp_53_to_a_pod_that_is_not_the_cluster_dns_is_named_and_still_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("cluster.yaml");
    std::fs::write(
        &cluster,
        "apiVersion: v1\nkind: List\nitems:\n- { apiVersion: v1, kind: Pod, metadata: { name: metrics-1, namespace: shop, labels: { app: metrics } }, status: { podIP: 10.0.0.5 } }\n- { apiVersion: v1, kind: Pod, metadata: { name: coredns-1, namespace: kube-system, labels: { k8s-app: kube-dns } }, status: { podIP: 10.0.0.9 } }\n",
    )
    .unwrap();
    let metrics = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: deny-egress, namespace: shop }\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to: [{ podSelector: { matchLabels: { app: metrics } } }]\n    ports: [{ protocol: UDP, port: 53 }]\n";
    let cluster = cluster.to_string_lossy().into_owned();
    check(
        metrics,
        &["--cluster", &cluster],
        1,
        &["error[palisade::PAL002]", "udp/53 to shop/app=metrics is no way to it"],
    );
}
