//! Calico (issue 14 classes 3, 6, 10 and the ICMP import of 11): every
//! selector palisade emits picks only the kind of endpoint its intent names,
//! wildcard domains are refused where Calico Enterprise reads them broader,
//! the evaluator reads GlobalNetworkPolicy, order ties and selector
//! operators as Calico does, and `import` carries an ICMP rule as a loss.
//!
//! The verdicts are decided here by hand from the Calico reference
//! (docs.tigera.io/calico/latest/reference/resources/networkpolicy, section
//! "Selectors"; .../networkset), not by palisade's evaluator.

use crate::util::{compile, palisade, project, refused, repo};
use serde_json::Value;
use std::collections::BTreeMap;

const CLUSTER: &str = "{ cni: calico, clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12] }";

const SHOP: &str = "apiVersion: palisade.dev/v1alpha1
kind: Intents
metadata: { name: shop, namespace: shop }
spec:
  posture: default-deny
  services:
    web: { selector: { app: web } }
    api: { selector: { app: api }, serviceAccount: api }
  allow:
    - web -> api tcp/8080
    - web -> 203.0.113.0/24 tcp/443
    - 198.51.100.0/24 -> web tcp/443
    - other/* -> api tcp/8080
";

const OTHER: &str = "apiVersion: palisade.dev/v1alpha1
kind: Intents
metadata: { name: other, namespace: other }
spec:
  posture: default-deny
  services:
    client: { selector: { app: client } }
  allow:
    - client -> shop/api tcp/8080
";

/// Every `source`/`destination` entity of every rule of every policy
fn entities(objects: &[Value]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for o in objects.iter().filter(|o| o["kind"] == "NetworkPolicy") {
        for side in ["ingress", "egress"] {
            for (i, rule) in o["spec"][side].as_array().into_iter().flatten().enumerate() {
                for end in ["source", "destination"] {
                    if rule[end].is_object() {
                        let at = format!("{} {side}[{i}].{end}", o["metadata"]["name"]);
                        out.push((at, rule[end].clone()));
                    }
                }
            }
        }
    }
    out
}

/// The `&&`-joined terms of a selector written as palisade writes them
fn terms(selector: &str) -> Vec<String> {
    selector.split("&&").map(|t| t.trim().to_string()).collect()
}

/// A hand evaluation of a conjunction of `k == 'v'` and `!has(k)` terms (the
/// only forms palisade writes), per the reference's selector table
fn conjunction_matches(selector: &str, labels: &BTreeMap<&str, &str>) -> bool {
    terms(selector).iter().all(|t| {
        if let Some(key) = t.strip_prefix("!has(").and_then(|r| r.strip_suffix(')')) {
            return !labels.contains_key(key);
        }
        let (k, v) = t.split_once(" == ").unwrap_or_else(|| panic!("unexpected term `{t}`"));
        labels.get(k) == Some(&v.trim_matches('\''))
    })
}

fn compiled() -> Vec<Value> {
    let dir = repo(
        &project("calico", CLUSTER),
        &[("intents/shop.yaml", SHOP), ("intents/other.yaml", OTHER)],
    );
    compile(dir.path(), "calico")
}

#[test]
fn a_pod_that_carries_the_network_set_label_is_not_admitted() {
    let objects = compiled();
    let sets: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "NetworkSet").collect();
    assert_eq!(sets.len(), 2, "one NetworkSet per block");
    for set in sets {
        let label = set["metadata"]["labels"]["palisade.dev/network"].as_str().unwrap();
        // Calico's labels for a pod's workload endpoint: its own, plus
        // namespace and orchestrator (libcalico-go k8s/conversion).
        let spoofing_pod = BTreeMap::from([
            ("palisade.dev/network", label),
            ("projectcalico.org/namespace", "shop"),
            ("projectcalico.org/orchestrator", "k8s"),
        ]);
        // A NetworkSet's: its own plus namespace, no orchestrator.
        let the_set = BTreeMap::from([("palisade.dev/network", label), ("projectcalico.org/namespace", "shop")]);
        let selecting: Vec<(String, Value)> = entities(&objects)
            .into_iter()
            .filter(|(_, e)| e["selector"].as_str().is_some_and(|s| s.contains(label)))
            .collect();
        assert!(!selecting.is_empty(), "some rule selects {label}");
        for (at, entity) in selecting {
            let selector = entity["selector"].as_str().unwrap();
            assert!(
                terms(selector).contains(&"!has(projectcalico.org/orchestrator)".to_string()),
                "{at}: `{selector}` has no kind term"
            );
            assert!(
                conjunction_matches(selector, &the_set),
                "{at}: `{selector}` must pick the set"
            );
            assert!(
                !conjunction_matches(selector, &spoofing_pod),
                "{at}: `{selector}` admits a pod that carries the label"
            );
        }
    }
}

#[test]
fn pod_and_namespace_peers_do_not_pick_network_sets() {
    let objects = compiled();
    let mut peers = 0;
    for (at, entity) in entities(&objects) {
        let Some(ns_selector) = entity["namespaceSelector"].as_str() else {
            continue;
        };
        peers += 1;
        // Without a `selector`, a namespaceSelector also picks the
        // namespace's NetworkSets (they inherit its labels).
        let selector = entity["selector"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: namespaceSelector `{ns_selector}` without a kind term"));
        assert_eq!(
            terms(selector).first().map(String::as_str),
            Some("projectcalico.org/orchestrator == 'k8s'"),
            "{at}: `{selector}`"
        );
        let network_set = BTreeMap::from([("projectcalico.org/namespace", "shop")]);
        assert!(
            !conjunction_matches(selector, &network_set),
            "{at}: `{selector}` picks a NetworkSet"
        );
    }
    assert!(peers >= 3, "service, namespace and cross-namespace peers: {peers}");
    // The whole-namespace peer (`other/*`) is there, with only the kind term.
    assert!(entities(&objects).iter().any(|(_, e)| {
        e["namespaceSelector"] == "projectcalico.org/name == 'other'"
            && e["selector"] == "projectcalico.org/orchestrator == 'k8s'"
    }));
}

#[test]
fn a_one_label_wildcard_domain_is_refused_on_calico_enterprise() {
    let enterprise = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: p }\nspec:\n  targets: [calico]\n  calico: { edition: enterprise }\n  cluster: { cni: calico, clusterCIDRs: [10.244.0.0/16] }\n";
    let intents = "apiVersion: palisade.dev/v1alpha1
kind: Intents
metadata: { name: pay, namespace: pay }
spec:
  posture: default-deny
  services:
    checkout: { selector: { app: checkout } }
  allow:
    - from: checkout
      to: { fqdn: '*.stripe.com' }
      ports: [tcp/443]
";
    let dir = repo(enterprise, &[("intents/pay.yaml", intents)]);
    let mut cmd = palisade();
    cmd.arg("compile").arg(dir.path()).arg("--target").arg("calico");
    let (_, stderr) = refused(cmd);
    assert!(stderr.contains("*.stripe.com"), "{stderr}");
    assert!(stderr.contains("one or more labels"), "says why: {stderr}");
    assert!(stderr.contains("pay.yaml:"), "names the file: {stderr}");
    for choice in ["list the names", "egress-gateway", "cilium"] {
        assert!(stderr.contains(choice), "offers `{choice}`: {stderr}");
    }
    // An exact name has an exact Calico form: it compiles.
    let exact = intents.replace("'*.stripe.com'", "api.stripe.com");
    let dir = repo(enterprise, &[("intents/pay.yaml", &exact)]);
    let objects = compile(dir.path(), "calico");
    let domains: Vec<Value> = entities(&objects)
        .into_iter()
        .filter_map(|(_, e)| e.get("domains").cloned())
        .flat_map(|d| d.as_array().cloned().unwrap_or_default())
        .collect();
    assert!(
        !domains.is_empty() && domains.iter().all(|d| *d == "api.stripe.com"),
        "{domains:?}"
    );
}

const DUMP: &str = "apiVersion: v1
kind: List
items:
- { apiVersion: v1, kind: Namespace, metadata: { name: shop, labels: { team: a } } }
- { apiVersion: v1, kind: Namespace, metadata: { name: other, labels: { team: b } } }
- apiVersion: v1
  kind: Pod
  metadata: { name: db, namespace: shop, labels: { app: db } }
  status: { podIP: 10.244.0.11 }
- apiVersion: v1
  kind: Pod
  metadata: { name: client, namespace: other, labels: { app: client-v2 } }
  status: { podIP: 10.244.1.10 }
- apiVersion: v1
  kind: Pod
  metadata: { name: web, namespace: shop, labels: { app: web } }
  status: { podIP: 10.244.0.10 }
";

/// `palisade simulate` from one pod to another on tcp/PORT: (allowed, output)
fn simulate(policies: &str, from: &str, to: &str, port: u16) -> (bool, String) {
    let dir = repo("", &[("cluster.yaml", DUMP), ("policies.yaml", policies)]);
    let out = palisade()
        .arg("simulate")
        .arg("--cluster")
        .arg(dir.path().join("cluster.yaml"))
        .arg("--policies")
        .arg(dir.path().join("policies.yaml"))
        .arg("--from")
        .arg(from)
        .arg("--to")
        .arg(to)
        .arg("--port")
        .arg(port.to_string())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked") && !text.contains("palisade bug"), "{text}");
    let allowed = text.to_ascii_lowercase().contains("allowed");
    (allowed, text)
}

#[test]
fn a_global_network_policy_is_evaluated_across_namespaces() {
    // reference/resources/globalnetworkpolicy: non-namespaced, applies to
    // endpoints of every namespace its namespaceSelector picks; order 10
    // runs before the namespaced order 100 of the same (default) tier.
    let policies = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: deny-clients }
spec:
  order: 10
  namespaceSelector: team == 'a'
  selector: app == 'db'
  ingress:
  - action: Deny
    source: { selector: app starts with 'client' }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: db, namespace: shop }
spec:
  order: 100
  selector: app == 'db'
  ingress:
  - action: Allow
    source: { namespaceSelector: all() }
";
    let (allowed, text) = simulate(policies, "other/client", "shop/db", 5432);
    assert!(!allowed, "the global Deny (`starts with`) comes first: {text}");
    assert!(text.contains("deny-clients"), "names the deciding policy: {text}");
    let (allowed, text) = simulate(policies, "shop/web", "shop/db", 5432);
    assert!(allowed, "web is not a client: the namespaced Allow decides: {text}");
}

#[test]
fn equal_orders_are_broken_by_name_as_felix_sorts_them() {
    // felix/calc/policy_sorter.go: equal order, then `name/namespace/kind`;
    // `allow` sorts before `deny`.
    let policies = "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: deny, namespace: shop }
spec: { order: 5, selector: app == 'db', ingress: [{ action: Deny }] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: allow, namespace: shop }
spec: { order: 5, selector: app == 'db', ingress: [{ action: Allow }] }
";
    let (allowed, text) = simulate(policies, "shop/web", "shop/db", 80);
    assert!(allowed, "{text}");
    let swapped = policies.replace("name: deny", "name: a-deny");
    let (allowed, text) = simulate(&swapped, "shop/web", "shop/db", 80);
    assert!(!allowed, "`a-deny` sorts first: {text}");
}

#[test]
fn an_unparseable_selector_is_never_a_silent_no_match() {
    // `app like 'x'` is refused by Calico's parser: a policy with it cannot
    // exist, so no verdict may read it as "matches nothing".
    let policies = "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: db, namespace: shop }
spec:
  selector: app == 'db'
  ingress:
  - action: Deny
    source: { selector: app like 'web' }
  - action: Allow
";
    let (allowed, text) = simulate(policies, "shop/web", "shop/db", 80);
    assert!(!allowed, "not allowed by a Deny that was dropped: {text}");
    assert!(text.contains("app like 'web'"), "names the selector: {text}");
}

#[test]
fn an_icmp_rule_is_reported_as_a_loss_and_the_rest_imports() {
    let policies = "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  selector: all()
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: ICMP
    icmp: { type: 8 }
  - action: Allow
    protocol: TCP
    source: { selector: app == 'db' }
    destination: { ports: [8080] }
";
    let dir = repo("", &[("policies.yaml", policies)]);
    let out = palisade()
        .arg("import")
        .arg(dir.path().join("policies.yaml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit 0: what imported decides every modelled connection as before
    // (the model has no ICMP connections).
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status.code());
    assert!(!stderr.contains("bug") && !stderr.contains("internal"), "{stderr}");
    assert!(stderr.contains("ICMP"), "the ICMP rule is a reported loss: {stderr}");
    assert!(stdout.contains("tcp/8080"), "the TCP rule imports: {stdout}");
    assert!(!stdout.to_ascii_lowercase().contains("icmp"), "{stdout}");
}
