//! Class 2: generated object names. Two different things never share a name
//! (the API would merge or overwrite them), and no name passes the API's
//! limits (253 for an object name, `IsDNS1123Subdomain` in apimachinery's
//! validation) or the file system's (255 bytes for a file name).

use crate::util::{compile, palisade, project, refused, repo};
use serde_json::Value;
use std::collections::BTreeSet;

const CLUSTER: &str = "{ clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12], egressGateway: { namespace: istio-system, selector: { istio: egressgateway }, service: istio-egressgateway }, dns: { namespace: kube-system, selector: { k8s-app: kube-dns }, ports: [udp/53, tcp/53] } }";

fn intents(services: &str, allow: &str) -> String {
    format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: shop, namespace: shop }}\nspec:\n  posture: default-deny\n  services:\n{services}  allow:\n{allow}")
}

fn names_of(objects: &[Value]) -> Vec<(String, String, String)> {
    objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or("").to_string(),
                o["metadata"]["namespace"].as_str().unwrap_or("").to_string(),
                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Each VirtualService routes through a Gateway that is emitted
fn assert_gateways_exist(objects: &[Value]) {
    for vs in objects.iter().filter(|o| o["kind"] == "VirtualService") {
        for gateway in vs["spec"]["gateways"].as_array().unwrap() {
            let gateway = gateway.as_str().unwrap();
            if gateway == "mesh" {
                continue;
            }
            let name = gateway.rsplit('/').next().unwrap();
            assert!(
                objects
                    .iter()
                    .any(|o| o["kind"] == "Gateway" && o["metadata"]["name"] == name),
                "VirtualService {} routes through a Gateway `{gateway}` that is not emitted",
                vs["metadata"]["name"]
            );
        }
    }
}

fn assert_unique(objects: &[Value]) {
    let names = names_of(objects);
    let unique: BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "two objects share a name: {names:?}");
}

#[test]
fn hosts_that_differ_only_in_dot_and_dash_get_their_own_objects() {
    let dir = repo(
        &project("kubernetes, istio", CLUSTER),
        &[(
            "shop.yaml",
            &intents(
                "    a: { selector: { app: a }, serviceAccount: a }\n    b: { selector: { app: b }, serviceAccount: b }\n",
                "    - from: a\n      to: { fqdn: api.stripe.com, via: egress-gateway }\n      ports: [tcp/443]\n    - from: b\n      to: { fqdn: api-stripe.com, via: egress-gateway }\n      ports: [tcp/443]\n",
            ),
        )],
    );
    let objects = compile(dir.path(), "kubernetes,istio");
    assert_unique(&objects);
    let entries: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "ServiceEntry").collect();
    let hosts: BTreeSet<&str> = entries.iter().filter_map(|o| o["spec"]["hosts"][0].as_str()).collect();
    assert!(
        hosts.contains("api.stripe.com") && hosts.contains("api-stripe.com"),
        "{hosts:?}"
    );
    assert_gateways_exist(&objects);
}

#[test]
fn a_253_character_host_gives_names_and_files_within_the_limits() {
    // Four labels of 62 characters and `.com`: 253 characters, a valid DNS name
    let label = "a".repeat(62);
    let host = format!("{label}.{label}.{label}.{}.com", "b".repeat(60));
    assert_eq!(host.len(), 253);
    let dir = repo(
        &project("kubernetes, istio", CLUSTER),
        &[(
            "shop.yaml",
            &intents(
                "    a: { selector: { app: a }, serviceAccount: a }\n",
                &format!("    - from: a\n      to: {{ fqdn: {host}, via: egress-gateway }}\n      ports: [tcp/443]\n"),
            ),
        )],
    );
    let objects = compile(dir.path(), "kubernetes,istio");
    assert_unique(&objects);
    assert_gateways_exist(&objects);
    for (kind, _, name) in names_of(&objects) {
        assert!(name.len() <= 253, "{kind} {name}: {} characters", name.len());
    }
    let out = tempfile::tempdir().unwrap();
    let status = palisade()
        .arg("compile")
        .arg(dir.path())
        .arg("--target")
        .arg("kubernetes,istio")
        .arg("--out")
        .arg(out.path().join("out"))
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
}

#[test]
fn a_service_named_like_a_generated_group_is_refused_where_it_is_declared() {
    let dir = repo(
        &project("kubernetes", CLUSTER),
        &[(
            "shop.yaml",
            &intents(
                "    palisade-namespace: { selector: { app: db } }\n    web: { selector: { app: web } }\n",
                "    - web -> palisade-namespace tcp/5432\n    - web -> shop/* tcp/80\n",
            ),
        )],
    );
    let (code, stderr) = refused({
        let mut c = palisade();
        c.arg("compile").arg(dir.path());
        c
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("shop.yaml:7:5") && stderr.contains("palisade-namespace"),
        "{stderr}"
    );
}

#[test]
fn a_service_named_like_the_default_deny_is_refused_not_overwritten() {
    let dir = repo(
        &project("cilium", CLUSTER),
        &[(
            "shop.yaml",
            &intents(
                "    palisade-default-deny: { selector: { app: db } }\n    web: { selector: { app: web } }\n",
                "    - web -> palisade-default-deny tcp/5432\n",
            ),
        )],
    );
    let (code, stderr) = refused({
        let mut c = palisade();
        c.arg("compile").arg(dir.path());
        c
    });
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("palisade-default-deny"), "{stderr}");
}

#[test]
fn ad_hoc_pod_groups_get_one_policy_each_and_the_folder_lists_each_file_once() {
    let dir = repo(
        &project("kubernetes", CLUSTER),
        &[(
            "shop.yaml",
            &intents(
                "    web: { selector: { app: web } }\n",
                "    - from: web\n      to: { namespace: shop, selector: { tier: a } }\n      ports: [tcp/1]\n    - from: web\n      to: { namespace: shop, selector: { tier: b } }\n      ports: [tcp/2]\n",
            ),
        )],
    );
    let objects = compile(dir.path(), "kubernetes");
    assert_unique(&objects);
    let ingress: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("palisade-pods-") && n.ends_with("-ingress"))
        })
        .collect();
    assert_eq!(
        ingress.len(),
        2,
        "one ingress policy per selector: {:?}",
        names_of(&objects)
    );
    let out = tempfile::tempdir().unwrap();
    let folder = out.path().join("out");
    let run = palisade()
        .arg("compile")
        .arg(dir.path())
        .arg("--out")
        .arg(&folder)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let kustomization = std::fs::read_to_string(folder.join("kubernetes/kustomization.yaml")).unwrap();
    let resources: Vec<&str> = kustomization
        .lines()
        .filter(|l| l.trim_start().starts_with("- "))
        .collect();
    let unique: BTreeSet<&&str> = resources.iter().collect();
    assert_eq!(unique.len(), resources.len(), "{kustomization}");
    assert_eq!(resources.len(), objects.len(), "{kustomization}");
}
