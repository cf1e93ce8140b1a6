//! Classes 1, 2 (user values) and 9 of issue 14, on the input side: lists that a
//! layer would read as "all" when written empty, user values that land in
//! names, labels, selectors and principals, and files under the intents folder
//! that were passed over without a word. Each refusal is checked end to end:
//! exit code 1, `file:line:column` of what was written, the hint, and no output
//! at all; each file that must be read is checked by the policy its namespace
//! gets (a default-deny namespace without one is the failure the issue found).

use crate::util::{compile, palisade, project, refused, repo};
use serde_json::Value;
use std::path::Path;

const INTENTS: &str = "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  posture: default-deny\n  services:\n    frontend: { selector: { app: frontend }, serviceAccount: frontend }\n    backend: { selector: { app: backend }, serviceAccount: backend }\n  allow:\n    - frontend -> backend tcp/8080\n";

/// `palisade compile DIR --target T --out DIR/out` must fail: returns stderr
/// after checking the exit code, that nothing was written, and the place and
/// hint the user needs
fn assert_refused(dir: &Path, target: &str, at: &str, hint: &str) -> String {
    let out = dir.join("out");
    let mut cmd = palisade();
    // run from the repository's root, as its paths are shown from there
    cmd.current_dir(dir)
        .arg("compile")
        .arg(".")
        .arg("--target")
        .arg(target)
        .arg("--out")
        .arg(&out);
    let (code, stderr) = refused(cmd);
    assert_eq!(code, 1, "{stderr}");
    assert!(!out.exists(), "a refused compile wrote {}", out.display());
    assert!(
        stderr.lines().any(|l| l.starts_with(at)),
        "expected an error at `{at}`:\n{stderr}"
    );
    assert!(stderr.contains(hint), "expected the hint `{hint}`:\n{stderr}");
    stderr
}

/// The NetworkPolicy that isolates every pod of `namespace` both ways, if any:
/// selects all pods (`podSelector: {}`), both policy types, and no rules
fn default_deny(objects: &[Value], namespace: &str) -> bool {
    objects.iter().any(|o| {
        o["kind"] == "NetworkPolicy"
            && o["metadata"]["namespace"] == namespace
            && o["spec"]["podSelector"].as_object().is_some_and(|s| s.is_empty())
            && o["spec"]["policyTypes"] == serde_json::json!(["Ingress", "Egress"])
            && o["spec"].get("ingress").is_none()
            && o["spec"].get("egress").is_none()
    })
}

fn kubernetes_project(cluster: &str) -> String {
    project("kubernetes", cluster)
}

// ---- class 1: empty lists ------------------------------------------------------

#[test]
fn empty_api_server_cidrs_with_kube_api_are_refused_at_the_list() {
    // Rendered, `cidrs: []` was `to: []` (NetworkPolicy: any destination) and
    // `nets: []` (Calico: any address).
    let intents = INTENTS.replace(
        "  posture: default-deny\n",
        "  posture: default-deny\n  baseline: [kube-api]\n",
    );
    for target in ["kubernetes", "calico", "cilium"] {
        let dir = repo(
            &project(target, "{ cni: calico, apiServer: { cidrs: [] } }"),
            &[("intents/shop.yaml", &intents)],
        );
        assert_refused(
            dir.path(),
            target,
            "palisade.yaml:6:47: error[palisade::empty_list]",
            "kubectl get endpoints kubernetes",
        );
    }
}

#[test]
fn empty_profile_lists_are_refused_where_omitting_is_the_default() {
    let cases = [
        (
            "{ apiServer: { cidrs: [10.0.0.1/32], ports: [] } }",
            "palisade.yaml:6:56",
            "omit `ports` for the default tcp/6443",
        ),
        (
            "{ clusterCIDRs: [] }",
            "palisade.yaml:6:28",
            "omit the key when they are not known",
        ),
        (
            "{ dns: { namespace: kube-system, selector: { k8s-app: kube-dns }, ports: [] } }",
            "palisade.yaml:6:85",
            "list the ports its pods serve",
        ),
        (
            "{ telemetry: { namespace: o11y, selector: { app: otel }, ports: [] } }",
            "palisade.yaml:6:76",
            "list the ports its pods serve",
        ),
        (
            "{ telemetry: { namespace: o11y, selector: {}, ports: [tcp/4317] } }",
            "palisade.yaml:6:54",
            "name the labels of the pods meant",
        ),
    ];
    for (cluster, at, hint) in cases {
        let dir = repo(&kubernetes_project(cluster), &[("intents/shop.yaml", INTENTS)]);
        assert_refused(dir.path(), "kubernetes", at, hint);
    }
}

#[test]
fn empty_lists_in_rules_are_refused_where_no_list_means_all() {
    let cases = [
        (
            "    - { from: frontend, to: backend, ports: [] }\n",
            "intents/shop.yaml:11:45",
            "omit `ports` to allow every port",
        ),
        (
            "    - { from: frontend, to: backend, ports: [tcp/8080], http: [] }\n",
            "intents/shop.yaml:11:63",
            "omit `http` to allow every request",
        ),
        (
            "    - { from: [], to: backend }\n",
            "intents/shop.yaml:11:15",
            "name at least one peer",
        ),
        (
            "    - { from: frontend, to: [] }\n",
            "intents/shop.yaml:11:29",
            "name at least one peer",
        ),
        (
            "    - { from: { namespace: web, selector: {} }, to: backend }\n",
            "intents/shop.yaml:11:43",
            "for a whole namespace write `ns/*`",
        ),
    ];
    for (rule, at, hint) in cases {
        let dir = repo(
            &kubernetes_project("{}"),
            &[("intents/shop.yaml", &format!("{INTENTS}{rule}"))],
        );
        assert_refused(dir.path(), "kubernetes", at, hint);
    }
}

#[test]
fn harmless_empties_still_compile_to_exactly_what_is_written() {
    // `except: []` excepts nothing (the block as written), `baseline: []` adds
    // nothing, `allow: []` allows nothing: none reads as "all".
    let intents = INTENTS.replace("  posture: default-deny\n", "  posture: default-deny\n  baseline: []\n")
        + "    - { from: backend, to: { cidr: 203.0.113.0/24, except: [] }, ports: [tcp/443] }\n";
    let other = "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: idle, namespace: idle }\nspec:\n  services: {}\n  allow: []\n";
    let dir = repo(
        &kubernetes_project("{ clusterCIDRs: [10.0.0.0/8] }"),
        &[("intents/shop.yaml", &intents), ("intents/idle.yaml", other)],
    );
    let objects = compile(dir.path(), "kubernetes");
    assert!(default_deny(&objects, "idle"));
    let blocks: Vec<&Value> = objects
        .iter()
        .filter(|o| o["metadata"]["namespace"] == "shop")
        .flat_map(|o| o["spec"]["egress"].as_array().into_iter().flatten())
        .flat_map(|rule| rule["to"].as_array().into_iter().flatten())
        .filter_map(|peer| peer.get("ipBlock"))
        .collect();
    assert_eq!(
        blocks,
        vec![&serde_json::json!({ "cidr": "203.0.113.0/24" })],
        "the block as written, nothing broader"
    );
}

#[test]
fn baselines_without_their_profile_entry_fail_closed() {
    for (baseline, hint) in [("kube-api", "apiServer: {"), ("telemetry", "telemetry: {")] {
        let intents = INTENTS.replace(
            "  posture: default-deny\n",
            &format!("  posture: default-deny\n  baseline: [{baseline}]\n"),
        );
        let dir = repo(&kubernetes_project("{}"), &[("intents/shop.yaml", &intents)]);
        assert_refused(
            dir.path(),
            "kubernetes",
            "intents/shop.yaml:6:14: error[palisade::missing_profile]",
            hint,
        );
    }
    // `dns` and `metadata` have documented defaults (kube-system `k8s-app:
    // kube-dns` on udp/53 and tcp/53; 169.254.169.254/32 on tcp/80): each
    // renders to exactly that, never to an empty peer or port list.
    let intents = INTENTS.replace(
        "  posture: default-deny\n",
        "  posture: default-deny\n  baseline: [dns, metadata]\n",
    );
    let dir = repo(
        &kubernetes_project("{ clusterCIDRs: [10.0.0.0/8] }"),
        &[("intents/shop.yaml", &intents)],
    );
    for o in compile(dir.path(), "kubernetes") {
        for rule in o["spec"]["egress"].as_array().into_iter().flatten() {
            let to = rule["to"].as_array().map_or(0, Vec::len);
            let ports = rule["ports"].as_array().map_or(0, Vec::len);
            assert!(to > 0 && ports > 0, "an egress rule open to every peer or port: {rule}");
        }
    }
}

// ---- class 2: user values in names, labels, selectors, principals --------------

#[test]
fn intents_names_and_namespaces_are_dns_labels() {
    // Both become label values (`palisade.dev/intents`, the namespace's
    // `kubernetes.io/metadata.name`): IsDNS1123Label, at most 63 characters.
    let long = "s".repeat(64);
    let cases = [
        (
            INTENTS.replace("name: shop,", "name: Shop_Front,"),
            "intents/shop.yaml:3:19",
            "not a valid Intents name",
        ),
        (
            INTENTS.replace("name: shop,", &format!("name: {long},")),
            "intents/shop.yaml:3:19",
            "not a valid Intents name",
        ),
        (
            INTENTS.replace("namespace: shop", "namespace: shop.prod"),
            "intents/shop.yaml:3:36",
            "not a valid namespace name",
        ),
    ];
    for (intents, at, message) in cases {
        let dir = repo(&kubernetes_project("{}"), &[("intents/shop.yaml", &intents)]);
        assert_refused(dir.path(), "kubernetes", at, "at most 63 lower-case letters");
        let (_, stderr) = refused({
            let mut c = palisade();
            c.arg("check").arg(dir.path());
            c
        });
        assert!(stderr.contains(message), "{stderr}");
    }
    let dir = repo(
        &kubernetes_project("{}"),
        &[(
            "intents/shop.yaml",
            &INTENTS.replace("name: shop,", &format!("name: {},", "s".repeat(63))),
        )],
    );
    assert!(compile(dir.path(), "kubernetes")
        .iter()
        .any(|o| o["metadata"]["labels"]["palisade.dev/intents"] == "s".repeat(63)));
}

#[test]
fn a_wildcard_service_account_never_reaches_an_istio_principal() {
    // Istio: "Principals ... supports prefix match, suffix match and presence
    // match" (`frontend*` would admit every account whose name starts so).
    // ValidateServiceAccountName is NameIsDNSSubdomain: no `*`, no upper case.
    let project = project("kubernetes, istio", "{ cni: calico }");
    for (account, column) in [
        ("\"frontend*\"", 62),
        ("\"*\"", 62),
        ("Frontend", 62),
        ("front_end", 62),
    ] {
        let intents = INTENTS.replace("serviceAccount: frontend }", &format!("serviceAccount: {account} }}"));
        let dir = repo(&project, &[("intents/shop.yaml", &intents)]);
        let stderr = assert_refused(
            dir.path(),
            "kubernetes,istio",
            &format!("intents/shop.yaml:7:{column}: error[palisade::bad_name]"),
            "",
        );
        assert!(stderr.contains("not a valid service account name"), "{stderr}");
        if account.contains('*') {
            assert!(
                stderr.contains("Istio would read `*` as a prefix or suffix match"),
                "{stderr}"
            );
        }
    }
    // A dotted account is a valid subdomain and is used exactly (an HTTP rule,
    // so that Istio renders the AuthorizationPolicy that names callers).
    let intents = INTENTS.replace("serviceAccount: frontend }", "serviceAccount: web.frontend }")
        + "    - { from: frontend, to: backend, ports: [tcp/8080], http: [{ method: GET, path: /a }] }\n";
    let dir = repo(&project, &[("intents/shop.yaml", &intents)]);
    let principals: Vec<String> = compile(dir.path(), "kubernetes,istio")
        .iter()
        .filter(|o| o["kind"] == "AuthorizationPolicy")
        .flat_map(|o| o["spec"]["rules"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["from"].as_array().cloned().unwrap_or_default())
        .flat_map(|f| f["source"]["principals"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    assert!(
        principals.contains(&"cluster.local/ns/shop/sa/web.frontend".to_string()),
        "{principals:?}"
    );
    assert!(principals.iter().all(|p| !p.contains('*')), "{principals:?}");
}

#[test]
fn selector_keys_values_and_peer_namespaces_follow_kubernetes_label_rules() {
    // IsLabelKey ([prefix/]name, prefix a DNS-1123 subdomain, name at most 63
    // of [-A-Za-z0-9_.] starting and ending alphanumeric) and IsLabelValue.
    let cases = [
        (
            INTENTS.replace("{ app: backend }", "{ \"app/\": backend }"),
            "intents/shop.yaml:8:29",
            "a label key is `[prefix/]name`",
        ),
        (
            INTENTS.replace("{ app: backend }", "{ Example.com/app: backend }"),
            "intents/shop.yaml:8:28",
            "a label key is `[prefix/]name`",
        ),
        (
            INTENTS.replace("{ app: backend }", "{ a/b/c: backend }"),
            "intents/shop.yaml:8:28",
            "a label key is `[prefix/]name`",
        ),
        (
            INTENTS.replace("{ app: backend }", "{ app: \"back end\" }"),
            "intents/shop.yaml:8:34",
            "a label value is empty or at most 63",
        ),
        (
            INTENTS.replace("{ app: backend }", &format!("{{ app: {} }}", "b".repeat(64))),
            "intents/shop.yaml:8:33",
            "a label value is empty or at most 63",
        ),
        (
            format!("{INTENTS}    - {{ from: {{ namespace: Web, selector: {{ app: x }} }}, to: backend }}\n"),
            "intents/shop.yaml:11:28",
            "lower-case letters",
        ),
        (
            format!("{INTENTS}    - {{ from: {{ namespace: web, selector: {{ app: x* }} }}, to: backend }}\n"),
            "intents/shop.yaml:11:50",
            "a label value is empty or at most 63",
        ),
        (
            format!("{INTENTS}    - Web/* -> backend\n"),
            "intents/shop.yaml:11:7",
            "a namespace is a DNS label",
        ),
    ];
    for (intents, at, hint) in cases {
        let dir = repo(&kubernetes_project("{}"), &[("intents/shop.yaml", &intents)]);
        assert_refused(dir.path(), "kubernetes", at, hint);
    }
    // Upper case, `_` and `.` in keys and values, and an empty value, are valid.
    let intents = INTENTS.replace("{ app: backend }", "{ example.com/Tier_1: Web_1.x, app: \"\" }");
    let dir = repo(&kubernetes_project("{}"), &[("intents/shop.yaml", &intents)]);
    compile(dir.path(), "kubernetes");
}

#[test]
fn profile_names_that_land_in_hosts_and_selectors_are_valid() {
    let cases = [
        (
            "{ egressGateway: { namespace: istio-system, selector: { istio: egressgateway }, service: Egress_GW } }",
            "palisade.yaml:6:101",
            "starting with a letter",
        ),
        (
            "{ clusterDomain: \"cluster.local*\" }",
            "palisade.yaml:6:29",
            "the cluster's DNS domain",
        ),
        (
            "{ dns: { namespace: Kube-System, selector: { k8s-app: kube-dns }, ports: [udp/53] } }",
            "palisade.yaml:6:32",
            "lower-case letters",
        ),
    ];
    for (cluster, at, hint) in cases {
        let dir = repo(&kubernetes_project(cluster), &[("intents/shop.yaml", INTENTS)]);
        assert_refused(dir.path(), "kubernetes", at, hint);
    }
}

// ---- class 9: input passed over without a word ---------------------------------

#[test]
fn a_file_with_a_byte_order_mark_gets_its_policies() {
    let with_bom = format!("\u{feff}{INTENTS}");
    let dir = repo(&kubernetes_project("{}"), &[("intents/shop.yaml", &with_bom)]);
    assert!(
        default_deny(&compile(dir.path(), "kubernetes"), "shop"),
        "the BOM file was skipped"
    );
    // UTF-16 with its mark (PowerShell's `>`), which YAML 1.2 requires readers to take.
    let dir = repo(&kubernetes_project("{}"), &[]);
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(INTENTS.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::create_dir_all(dir.path().join("intents")).unwrap();
    std::fs::write(dir.path().join("intents/shop.yaml"), utf16).unwrap();
    assert!(default_deny(&compile(dir.path(), "kubernetes"), "shop"));
    // The mark of a second document in the stream does not hide it either.
    let two = format!("{INTENTS}---\n\u{feff}{}", INTENTS.replace("shop", "pay"));
    let dir = repo(&kubernetes_project("{}"), &[("intents/shop.yaml", &two)]);
    assert!(default_deny(&compile(dir.path(), "kubernetes"), "pay"));
}

#[test]
fn a_linked_folder_is_read_and_a_link_loop_is_an_error_naming_it() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("pay.yaml"), INTENTS.replace("shop", "pay")).unwrap();
    let dir = repo(&kubernetes_project("{}"), &[("intents/shop.yaml", INTENTS)]);
    std::os::unix::fs::symlink(outside.path(), dir.path().join("intents/payments")).unwrap();
    std::os::unix::fs::symlink("shop.yaml", dir.path().join("intents/shop-link.yaml")).unwrap();
    let objects = compile(dir.path(), "kubernetes");
    assert!(default_deny(&objects, "pay"), "the linked folder was skipped");
    assert!(default_deny(&objects, "shop"));
    let sources: Vec<&Value> = objects
        .iter()
        .filter(|o| o["metadata"]["namespace"] == "pay")
        .map(|o| &o["metadata"]["annotations"]["palisade.dev/source"])
        .collect();
    assert!(
        !sources.is_empty()
            && sources
                .iter()
                .all(|s| s.as_str().is_some_and(|s| s.starts_with("intents/payments/pay.yaml#"))),
        "the path through the link: {sources:?}"
    );

    std::os::unix::fs::symlink("..", dir.path().join("intents/up")).unwrap();
    let stderr = assert_refused(
        dir.path(),
        "kubernetes",
        "error[palisade::link_loop]",
        "remove the link",
    );
    assert!(
        stderr.contains("`intents/up` is a link back to the top of the intents folder"),
        "{stderr}"
    );
    std::fs::remove_file(dir.path().join("intents/up")).unwrap();
    std::os::unix::fs::symlink("missing", dir.path().join("intents/gone")).unwrap();
    let stderr = assert_refused(
        dir.path(),
        "kubernetes",
        "error[palisade::bad_link]",
        "fix or remove it",
    );
    assert!(stderr.contains("`intents/gone` is a link to `missing`"), "{stderr}");
}

#[test]
fn a_yaml_1_2_directive_is_valid_yaml() {
    let dir = repo(
        &kubernetes_project("{}"),
        &[("intents/shop.yaml", &format!("%YAML 1.2\n---\n{INTENTS}"))],
    );
    assert!(default_deny(&compile(dir.path(), "kubernetes"), "shop"));
    // YAML 1.1 reads `yes`, `on` and `0777` otherwise: refused, not guessed.
    let dir = repo(
        &kubernetes_project("{}"),
        &[("intents/shop.yaml", &format!("%YAML 1.1\n---\n{INTENTS}"))],
    );
    assert_refused(
        dir.path(),
        "kubernetes",
        "intents/shop.yaml:1:1: error[palisade::yaml]",
        "write `%YAML 1.2`",
    );
    // A document on the `---` line itself is read too.
    let flow =
        "--- { apiVersion: palisade.dev/v1alpha1, kind: Intents, metadata: { name: pay, namespace: pay }, spec: {} }\n";
    let dir = repo(&kubernetes_project("{}"), &[("intents/pay.yaml", flow)]);
    assert!(default_deny(&compile(dir.path(), "kubernetes"), "pay"));
}

#[test]
fn intents_in_files_not_named_yaml_are_refused_naming_the_file() {
    for name in [
        "intents/pay.YAML",
        "intents/pay.yaml.bak",
        "intents/pay.txt",
        "intents/pay",
    ] {
        let dir = repo(
            &kubernetes_project("{}"),
            &[("intents/shop.yaml", INTENTS), (name, &INTENTS.replace("shop", "pay"))],
        );
        assert_refused(
            dir.path(),
            "kubernetes",
            &format!("{name}:1:1: error[palisade::not_read]"),
            "rename it to end in `.yaml`",
        );
    }
    // JSON is YAML, and kubectl and Argo CD apply `.json` manifests: read.
    let json = r#"{"apiVersion": "palisade.dev/v1alpha1", "kind": "Intents", "metadata": {"name": "pay", "namespace": "pay"}, "spec": {}}"#;
    // What is not intents stays out: flow logs, notes, backups, hidden folders.
    let dir = repo(
        &kubernetes_project("{}"),
        &[
            ("intents/shop.yaml", INTENTS),
            ("intents/pay.json", json),
            (
                "flows/hubble.json",
                "{\"flow\": {\"verdict\": \"DROPPED\"}}\n{\"flow\": {}}\n",
            ),
            (
                "README.md",
                "# Shop\n\nIntents are `apiVersion: palisade.dev/v1alpha1` documents.\n",
            ),
            ("intents/shop.yaml~", INTENTS),
            (".disabled/old.yaml", &INTENTS.replace("shop", "old")),
        ],
    );
    let objects = compile(dir.path(), "kubernetes");
    assert!(default_deny(&objects, "shop") && default_deny(&objects, "pay"));
    assert!(!objects.iter().any(|o| o["metadata"]["namespace"] == "old"));
}

#[test]
fn documents_meant_as_intents_do_not_vanish() {
    let cases = [
        (
            INTENTS.replace("apiVersion: palisade.dev/v1alpha1\n", ""),
            "intents/shop.yaml:1:7",
            "write `apiVersion: palisade.dev/v1alpha1`",
        ),
        (
            INTENTS.replace("palisade.dev/v1alpha1", "v1"),
            "intents/shop.yaml:1:13",
            "write `apiVersion: palisade.dev/v1alpha1`",
        ),
        (
            INTENTS.replace("palisade.dev/", "Palisade.dev/"),
            "intents/shop.yaml:1:13",
            "write `apiVersion: palisade.dev/v1alpha1`",
        ),
        (
            INTENTS.replace("apiVersion: palisade.dev/v1alpha1\nkind: Intents\n", ""),
            "intents/shop.yaml:1:1",
            "and `kind: Intents`",
        ),
        (
            format!(
                "apiVersion: v1\nkind: List\nitems:\n- {}",
                INTENTS.trim_end().replace('\n', "\n  ")
            ),
            "intents/shop.yaml:4:3",
            "write each document on its own",
        ),
    ];
    for (text, at, hint) in cases {
        let dir = repo(
            &kubernetes_project("{}"),
            &[
                ("intents/shop.yaml", &text),
                ("intents/other.yaml", &INTENTS.replace("shop", "other")),
            ],
        );
        assert_refused(dir.path(), "kubernetes", at, hint);
    }
}

/// Review of c5d0bb0, finding 1: two Intents files of one namespace that hold
/// their `posture` at the same byte offset. The one that sorted last used to
/// set the posture in silence (`posture: none` removed the default deny).
#[test]
fn review_two_files_with_different_postures_are_refused_whatever_their_layout() {
    let a = "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: a, namespace: shop }\nspec:\n  posture: default-deny\n  services:\n    frontend: { selector: { app: frontend } }\n";
    let b = "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: b, namespace: shop }\nspec:\n  posture: none        \n  services:\n    backend: { selector: { app: backend } }\n";
    assert_eq!(a.find("posture"), b.find("posture"), "the same offset in both files");
    let dir = repo(
        &project("kubernetes", "{ clusterCIDRs: [10.244.0.0/16] }"),
        &[("intents/a.yaml", a), ("intents/b.yaml", b)],
    );
    let stderr = assert_refused(dir.path(), "kubernetes", "intents/b.yaml:5:", "intents/a.yaml");
    assert!(stderr.contains("conflicting_posture"), "{stderr}");
}

/// Review finding 3: the profile's own address blocks are ipBlocks too; one
/// over the pod range would admit every pod on the API server port
#[test]
fn review_profile_addresses_inside_the_cluster_ranges_are_refused() {
    for (field, cluster) in [
        (
            "apiServer.cidrs",
            "{ clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12], apiServer: { cidrs: [10.0.0.0/8], ports: [tcp/6443] } }",
        ),
        (
            "nodeLocalDNS",
            "{ clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12], nodeLocalDNS: 10.244.0.10 }",
        ),
        (
            "metadata",
            "{ clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12], metadata: 10.244.0.0/16 }",
        ),
    ] {
        let dir = repo(&project("kubernetes", cluster), &[("intents/shop.yaml", INTENTS)]);
        let stderr = assert_refused(
            dir.path(),
            "kubernetes",
            "palisade.yaml:6:",
            "kubectl get endpoints kubernetes",
        );
        assert!(
            stderr.contains(field) && stderr.contains("profile_inside_cluster"),
            "{field}: {stderr}"
        );
    }
}

/// Review finding 5: a hidden file is kept out on purpose, but not in silence
#[test]
fn review_a_hidden_file_that_holds_intents_is_named_in_a_warning() {
    let dir = repo(
        &project("kubernetes", "{ clusterCIDRs: [10.244.0.0/16] }"),
        &[
            ("intents/shop.yaml", INTENTS),
            (
                "intents/.other.yaml",
                &INTENTS.replace("namespace: shop", "namespace: other"),
            ),
        ],
    );
    let out = palisade()
        .arg("compile")
        .arg(dir.path())
        .args(["--target", "kubernetes"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("intents/.other.yaml") && stderr.contains("hidden_intents"),
        "{stderr}"
    );
}
