//! Class 9 of issue 14 at a git revision: `compile --rev` reads the intents
//! from the object database, and must read exactly what the folder walk reads
//! in a checkout of that revision (intents/src/walk.rs: links followed to files
//! and folders, a loop or a dangling link an error naming it, a palisade
//! document under another name refused). Each case is a real repository made
//! with git2, whose links are committed as git stores them (mode 120000).

use crate::util::{compile, documents, palisade, project, refused};
use git2::{Repository, Signature};
use serde_json::Value;
use std::path::Path;

fn intents(namespace: &str) -> String {
    format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: {namespace}, namespace: {namespace} }}\nspec:\n  posture: default-deny\n  services:\n    web: {{ selector: {{ app: web }} }}\n")
}

/// A repository with `files` (path, text) and `links` (path, target),
/// committed; the intents folder is `policy/`
fn committed(files: &[(&str, &str)], links: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let project = project("kubernetes", "{ cni: calico }");
    let mut all: Vec<(&str, &str)> = vec![("policy/palisade.yaml", &project)];
    all.extend_from_slice(files);
    for (path, text) in all {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    for (path, target) in links {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
    }
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    for (path, _) in links {
        let entry = tree.get_path(Path::new(path)).unwrap();
        assert_eq!(entry.filemode(), 0o120_000, "{path} is committed as a link");
    }
    let signature = Signature::now("palisade test", "test@palisade.dev").unwrap();
    repo.commit(Some("HEAD"), &signature, &signature, "base", &tree, &[])
        .unwrap();
    dir
}

/// `compile policy --rev HEAD`, parsed; panics with stderr when it fails
fn compile_at_head(dir: &Path) -> Vec<Value> {
    let out = palisade()
        .arg("compile")
        .arg(dir.join("policy"))
        .args(["--target", "kubernetes", "--rev", "HEAD"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "compile --rev failed: {stderr}");
    documents(&String::from_utf8_lossy(&out.stdout))
}

/// stderr of `compile policy --rev HEAD`, which must refuse with exit 1
fn refused_at_head(dir: &Path) -> String {
    let mut cmd = palisade();
    cmd.arg("compile")
        .arg(dir.join("policy"))
        .args(["--target", "kubernetes", "--rev", "HEAD"]);
    let (code, stderr) = refused(cmd);
    assert_eq!(code, 1, "{stderr}");
    stderr
}

/// The namespaces that get the default-deny NetworkPolicy (both types, all
/// pods, no rules: kubernetes.io/docs/concepts/services-networking/network-policies
/// "Default deny all ingress and all egress traffic")
fn denied_namespaces(objects: &[Value]) -> Vec<String> {
    let mut namespaces: Vec<String> = objects
        .iter()
        .filter(|o| {
            o["kind"] == "NetworkPolicy"
                && o["spec"]["podSelector"].as_object().is_some_and(|s| s.is_empty())
                && o["spec"]["policyTypes"] == serde_json::json!(["Ingress", "Egress"])
                && o["spec"].get("ingress").is_none()
                && o["spec"].get("egress").is_none()
        })
        .filter_map(|o| o["metadata"]["namespace"].as_str().map(str::to_string))
        .collect();
    namespaces.sort();
    namespaces
}

#[test]
fn links_to_files_and_folders_are_followed_at_a_revision_as_in_the_checkout() {
    let shop = intents("shop");
    let pay = intents("pay");
    let data = intents("data");
    let json = r#"{"apiVersion": "palisade.dev/v1alpha1", "kind": "Intents", "metadata": {"name": "ledger", "namespace": "ledger"}, "spec": {"posture": "default-deny"}}"#;
    let dir = committed(
        &[
            ("policy/shop.yaml", &shop),
            ("policy/ledger.json", json),
            ("shared/pay.yaml", &pay),
            ("shared/team/data.yaml", &data),
            ("shared/team/nested/more.yaml", "# no documents\n"),
        ],
        &[
            // `data.yaml` is reached twice, and `pay.yaml` through `chain.yaml`
            // too: each is read once (else its namespace would be declared twice)
            ("policy/also-data.yaml", "../shared/team/data.yaml"),
            ("policy/pay.yaml", "../shared/pay.yaml"),
            ("policy/team", "../shared/team"),
            ("policy/chain.yaml", "pay.yaml"),
        ],
    );
    let at_head = compile_at_head(dir.path());
    assert_eq!(
        denied_namespaces(&at_head),
        ["data", "ledger", "pay", "shop"],
        "each namespace on default deny gets its policy, whether its file is a link, under a linked folder, or JSON"
    );
    // The revision reads what the checkout reads: the same manifests.
    assert_eq!(at_head, compile(&dir.path().join("policy"), "kubernetes"));
}

/// (path, target) of each link to commit
type Links<'a> = &'a [(&'a str, &'a str)];

#[test]
fn a_link_that_loops_dangles_or_leaves_the_repository_is_refused_naming_it() {
    let shop = intents("shop");
    let cases: [(Links, &str, &str); 4] = [
        (
            &[("policy/again", ".")],
            "error[palisade::link_loop]",
            "`again` is a link back to",
        ),
        (
            &[("policy/a.yaml", "b.yaml"), ("policy/b.yaml", "a.yaml")],
            "error[palisade::link_loop]",
            "`a.yaml` is a link to `b.yaml`",
        ),
        (
            &[("policy/gone.yaml", "../nowhere.yaml")],
            "error[palisade::bad_link]",
            "`gone.yaml` is a link to `../nowhere.yaml`, which is not in the repository",
        ),
        (
            &[("policy/host.yaml", "/etc/hostname")],
            "error[palisade::bad_link]",
            "`host.yaml` is a link to `/etc/hostname`, outside the repository",
        ),
    ];
    for (links, code, message) in cases {
        let dir = committed(&[("policy/shop.yaml", &shop)], links);
        let stderr = refused_at_head(dir.path());
        assert!(
            stderr.contains(code) && stderr.contains(message),
            "{links:?}:\n{stderr}"
        );
    }
}

#[test]
fn a_palisade_document_under_another_name_is_refused_at_a_revision_too() {
    let shop = intents("shop");
    let pay = intents("pay");
    let dir = committed(
        &[
            ("policy/shop.yaml", &shop),
            ("policy/pay.txt", &pay),
            // not intents, and passed over as on disk
            ("policy/notes.txt", "remember the milk\n"),
            ("policy/shop.yaml~", &shop),
        ],
        &[],
    );
    let stderr = refused_at_head(dir.path());
    assert!(
        stderr.contains("error[palisade::not_read]") && stderr.contains("`pay.txt` holds a palisade document"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("notes.txt") && !stderr.contains("shop.yaml~"),
        "{stderr}"
    );
}
