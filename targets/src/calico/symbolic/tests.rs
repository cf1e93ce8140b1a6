//! The sets against the evaluator on hand-written policies, for the Calico
//! forms palisade emits rarely or never: each test states a few answers a
//! user would check by hand, read from the sets, and every connection of
//! its model (each request too) is compared with the evaluator's `decide`.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

use crate::{calico::evaluate::Policies, Evaluator, Manifest};
use palisade_compiler::model::{ClusterModel, ContainerPort, Endpoint, External, Namespace, Pod, Request};
use palisade_intents::{syntax::Protocol, types::Labels};
use palisade_relation::{services::key, Sides, Universe};

fn manifests(yaml: &str) -> Vec<Manifest> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &serde_json::Value| !v.is_null())
        .map(Manifest::new)
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn named(name: &str, port: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        protocol: Protocol::Tcp,
        port,
    }
}

/// shop {team: a}: web (port `http` 8080), db (`http` 9090), spoof (carries
/// a NetworkSet's label), sa-pod (account `builder`, port `metrics` 8080), v6 (an IPv6 pod),
/// bare and bare2 (no address); other {team: b}: client. Outside: 203.0.113.5,
/// api.stripe.com, a.b.stripe.com, 2001:db8::1. Ports tcp/80, 81, 8080, 9090,
/// udp/53; one request.
pub(super) fn model() -> ClusterModel {
    let mut m = ClusterModel::default();
    for (ns, team) in [("shop", "a"), ("other", "b")] {
        m.namespaces.insert(
            ns.into(),
            Namespace {
                name: ns.into(),
                labels: labels(&[("kubernetes.io/metadata.name", ns), ("team", team)]),
            },
        );
    }
    let pod = |ns: &str, name: &str, l: &[(&str, &str)], ip: &str, sa: Option<&str>, ports: Vec<ContainerPort>| Pod {
        namespace: ns.into(),
        name: name.into(),
        labels: labels(l),
        service_account: sa.map(str::to_string),
        ip: ip.parse().unwrap(),
        ports,
    };
    m.pods = vec![
        pod("other", "client", &[("app", "client")], "10.244.1.10", None, Vec::new()),
        pod(
            "shop",
            "db",
            &[("app", "db")],
            "10.244.0.11",
            None,
            vec![named("http", 9090)],
        ),
        pod(
            "shop",
            "sa-pod",
            &[("app", "worker")],
            "10.244.0.13",
            Some("builder"),
            vec![named("metrics", 8080)],
        ),
        pod(
            "shop",
            "spoof",
            &[("app", "x"), ("palisade.dev/network", "partner")],
            "10.244.0.12",
            None,
            Vec::new(),
        ),
        pod(
            "shop",
            "web",
            &[("app", "web"), ("tier", "front-end")],
            "10.244.0.10",
            None,
            vec![named("http", 8080)],
        ),
        pod("shop", "v6", &[("app", "v6")], "fd00::10", None, Vec::new()),
        pod("shop", "bare", &[("app", "bare")], "0.0.0.0", None, Vec::new()),
        pod("shop", "bare2", &[("app", "bare2")], "0.0.0.0", None, Vec::new()),
    ];
    let external = |ip: &str, fqdn: Option<&str>| External {
        ip: ip.parse().unwrap(),
        fqdn: fqdn.map(str::to_string),
        kube_apiserver: false,
    };
    m.externals = vec![
        external("203.0.113.5", None),
        external("198.51.100.7", Some("api.stripe.com")),
        external("198.51.100.8", Some("a.b.stripe.com")),
        external("2001:db8::1", None),
    ];
    m.ports = vec![
        (Protocol::Tcp, 80),
        (Protocol::Tcp, 81),
        (Protocol::Tcp, 8080),
        (Protocol::Tcp, 9090),
        (Protocol::Udp, 53),
    ];
    m.requests = vec![Request::new("GET", "/".into())];
    m
}

/// The sets of these manifests on the model, each connection (and request)
/// checked against the evaluator first
fn sides_of(yaml: &str) -> (ClusterModel, Sides) {
    let model = model();
    let policies = manifests(yaml);
    let evaluator = Policies::read(&policies);
    crate::sets_agree::sets_agree(&evaluator, &model);
    let sides = evaluator
        .sides(&Universe::new(&model, true))
        .expect("the classes carry the answer");
    (model, sides)
}

/// Whether the sets let `from` reach `to` on tcp (or udp for 53)
fn reaches(model: &ClusterModel, sides: &Sides, from: &str, to: &str, port: u16) -> bool {
    let universe = Universe::new(model, true);
    let class = |id: &str| {
        let endpoint = model
            .pods
            .iter()
            .find(|p| p.id() == id)
            .map(Endpoint::Pod)
            .or_else(|| {
                model
                    .externals
                    .iter()
                    .find(|e| e.fqdn.as_deref() == Some(id) || e.ip.to_string() == id)
                    .map(Endpoint::External)
            })
            .unwrap_or_else(|| panic!("{id}"));
        universe.class_of(&endpoint).unwrap()
    };
    let protocol = if port == 53 { Protocol::Udp } else { Protocol::Tcp };
    sides.allows(&universe, class(from), class(to), key(protocol, port, 0))
}

const SET: &str = "
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: { name: partner, namespace: shop, labels: { palisade.dev/network: partner } }
spec: { nets: [203.0.113.0/24, 10.244.0.11/32] }
";

#[test]
fn order_tiers_pass_log_and_the_end_of_tier_deny() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: Tier
metadata: { name: security }
spec: { order: 100 }
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: { name: admin }
spec: { order: 10, defaultAction: Pass }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: admin.web, namespace: shop }
spec:
  tier: admin
  selector: app == 'web'
  ingress: [{ action: Deny, source: { selector: app == 'worker' } }]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: security.web, namespace: shop }
spec:
  tier: security
  order: 5
  selector: app == 'web'
  ingress:
  - action: Log
  - action: Deny
    source: { selector: app == 'x' }
  - action: Pass
    source: { selector: app == 'db' }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: security.late, namespace: shop }
spec:
  tier: security
  selector: app == 'web'
  ingress: [{ action: Allow, source: { selector: app == 'db' } }, { action: Allow, source: { selector: app == 'client' } }]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    source: { selector: app == 'db' }
  - action: Allow
    source: { selector: app == 'x' }
";
    let (m, sides) = sides_of(yaml);
    assert!(
        !reaches(&m, &sides, "shop/sa-pod", "shop/web", 80),
        "the admin tier denies"
    );
    assert!(
        reaches(&m, &sides, "shop/db", "shop/web", 80),
        "Pass skips security.late, the default tier allows"
    );
    assert!(
        !reaches(&m, &sides, "shop/spoof", "shop/web", 80),
        "order 5 denies before the default tier"
    );
    assert!(
        !reaches(&m, &sides, "other/client", "shop/web", 80),
        "security.late's selector is confined to shop: client is not in it, the tier ends in Deny"
    );
    assert!(reaches(&m, &sides, "shop/web", "shop/db", 80), "nothing applies to db");
}

#[test]
fn a_selecting_policy_denies_the_rest_and_staged_kinds_enforce_nothing() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: lock, namespace: shop }
spec: { selector: app == 'db', types: [Ingress, Egress] }
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: { name: web, namespace: shop }
spec: { selector: all(), types: [Ingress, Egress] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: out, namespace: shop }
spec:
  selector: app == 'worker'
  egress: [{ action: Allow, destination: { nets: [203.0.113.0/24] } }]
";
    let (m, sides) = sides_of(yaml);
    assert!(!reaches(&m, &sides, "shop/web", "shop/db", 80));
    assert!(!reaches(&m, &sides, "shop/db", "203.0.113.5", 80));
    assert!(
        !reaches(&m, &sides, "shop/sa-pod", "shop/web", 80),
        "egress only: types is Egress"
    );
    assert!(reaches(&m, &sides, "shop/web", "shop/sa-pod", 80), "ingress stays open");
    assert!(reaches(&m, &sides, "shop/sa-pod", "203.0.113.5", 80));
    assert!(
        reaches(&m, &sides, "shop/web", "other/client", 80),
        "the staged policy enforces nothing"
    );
}

#[test]
fn selectors_all_has_namespace_selector_and_calico_labels() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  selector: has(tier) && tier starts with 'front'
  ingress:
  - action: Allow
    source: { namespaceSelector: team == 'b', selector: all() }
  - action: Allow
    source: { selector: \"app in {'db', 'v6'} && projectcalico.org/orchestrator == 'k8s'\" }
  - action: Allow
    source: { selector: \"app contains 'ork' && projectcalico.org/serviceaccount == 'builder'\" }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: db, namespace: shop }
spec:
  selector: \"!has(tier) && app not in {'x', 'client'} && app != 'bare2'\"
  ingress:
  - action: Allow
    source: { namespaceSelector: all(), selector: app ends with 'nt' }
  - action: Deny
    source: { notSelector: app == 'web' }
  - action: Allow
";
    let (m, sides) = sides_of(yaml);
    assert!(
        reaches(&m, &sides, "other/client", "shop/web", 80),
        "namespaceSelector team == 'b'"
    );
    assert!(reaches(&m, &sides, "shop/db", "shop/web", 80));
    assert!(reaches(&m, &sides, "shop/sa-pod", "shop/web", 80), "the account label");
    assert!(!reaches(&m, &sides, "shop/spoof", "shop/web", 80));
    assert!(
        reaches(&m, &sides, "other/client", "shop/db", 80),
        "all(): any namespace"
    );
    assert!(!reaches(&m, &sides, "shop/sa-pod", "shop/db", 80), "notSelector denies");
    assert!(reaches(&m, &sides, "shop/web", "shop/db", 80));
    assert!(
        reaches(&m, &sides, "shop/sa-pod", "shop/bare2", 80),
        "`!=`: bare2 is not selected"
    );
    assert!(!reaches(&m, &sides, "shop/sa-pod", "shop/bare", 80), "bare is");
    assert!(
        reaches(&m, &sides, "203.0.113.5", "shop/db", 80),
        "notSelector of a namespaced policy is confined to its namespace: an address goes on to the Allow"
    );
}

#[test]
fn nets_not_nets_network_sets_and_domains() {
    let yaml = format!(
        "{SET}---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {{ name: out, namespace: shop }}
spec:
  selector: app == 'web'
  egress:
  - action: Deny
    destination: {{ nets: [198.51.100.0/24], notNets: [198.51.100.7/32] }}
  - action: Allow
    destination: {{ selector: palisade.dev/network == 'partner' }}
  - action: Allow
    destination: {{ domains: ['*.stripe.com'] }}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {{ name: in, namespace: shop }}
spec:
  selector: app == 'worker'
  ingress:
  - action: Allow
    source: {{ notNets: [10.244.0.0/16] }}
"
    );
    let (m, sides) = sides_of(&yaml);
    assert!(reaches(&m, &sides, "shop/web", "203.0.113.5", 80), "the set's CIDR");
    assert!(
        reaches(&m, &sides, "shop/web", "shop/db", 80),
        "db's address is in the set"
    );
    assert!(
        reaches(&m, &sides, "shop/web", "shop/spoof", 80),
        "spoof carries the label"
    );
    assert!(
        !reaches(&m, &sides, "shop/web", "a.b.stripe.com", 80),
        "denied by nets first"
    );
    assert!(
        reaches(&m, &sides, "shop/web", "api.stripe.com", 80),
        "notNets spared it"
    );
    assert!(!reaches(&m, &sides, "shop/web", "other/client", 80));
    assert!(
        !reaches(&m, &sides, "other/client", "shop/sa-pod", 80),
        "notNets: pod addresses"
    );
    assert!(
        reaches(&m, &sides, "shop/v6", "shop/sa-pod", 80),
        "an IPv6 address is outside 10.244/16"
    );
    assert!(
        reaches(&m, &sides, "shop/bare", "shop/sa-pod", 80),
        "no address: no CIDR holds it"
    );
    assert!(reaches(&m, &sides, "203.0.113.5", "shop/sa-pod", 80));
}

#[test]
fn global_policy_namespace_selector_and_service_accounts() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: team-a }
spec:
  order: 1
  namespaceSelector: team == 'a'
  serviceAccountSelector: all()
  egress:
  - action: Allow
    destination: { serviceAccounts: { names: [builder] } }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: everyone }
spec:
  order: 2
  ingress:
  - action: Allow
    source: { serviceAccounts: { selector: projectcalico.org/name == 'builder' } }
  - action: Pass
    source: { namespaceSelector: global() }
";
    let (m, sides) = sides_of(yaml);
    assert!(
        reaches(&m, &sides, "shop/sa-pod", "shop/sa-pod", 80),
        "builder to builder"
    );
    assert!(
        !reaches(&m, &sides, "shop/sa-pod", "other/client", 80),
        "all() picks the pods with an account: sa-pod may reach builder only"
    );
    assert!(
        !reaches(&m, &sides, "shop/web", "other/client", 80),
        "global() picks no pod: end of tier"
    );
    assert!(
        !reaches(&m, &sides, "other/client", "shop/web", 80),
        "only builder gets in"
    );
    assert!(!reaches(&m, &sides, "203.0.113.5", "shop/web", 80));
}

#[test]
fn ports_not_ports_named_ports_and_protocols() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: out, namespace: other }
spec:
  selector: all()
  egress:
  - action: Deny
    protocol: TCP
    destination: { notPorts: [http, 80] }
  - action: Allow
    protocol: TCP
    destination: { ports: [http, 80] }
  - action: Allow
    protocol: UDP
    destination: { ports: ['50:60'] }
  - action: Allow
    notProtocol: UDP
    destination: { nets: [203.0.113.0/24] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: in, namespace: shop }
spec:
  selector: \"app in {'web', 'db'}\"
  ingress:
  - action: Allow
    protocol: TCP
    destination: { ports: [http, 80], notPorts: ['9000:9100'] }
  - action: Allow
    protocol: ICMP
";
    let (m, sides) = sides_of(yaml);
    assert!(reaches(&m, &sides, "other/client", "shop/web", 8080), "web's http");
    assert!(
        !reaches(&m, &sides, "other/client", "shop/web", 9090),
        "9090 is not web's http"
    );
    assert!(
        !reaches(&m, &sides, "other/client", "shop/db", 9090),
        "db's http, but notPorts in"
    );
    assert!(reaches(&m, &sides, "other/client", "shop/db", 80), "80 is in both");
    assert!(
        !reaches(&m, &sides, "other/client", "shop/sa-pod", 8080),
        "no http there: denied"
    );
    assert!(
        reaches(&m, &sides, "other/client", "shop/sa-pod", 53),
        "udp/53 in 50:60"
    );
    assert!(
        !reaches(&m, &sides, "other/client", "203.0.113.5", 8080),
        "the deny comes first"
    );
    assert!(reaches(&m, &sides, "other/client", "203.0.113.5", 80));
}

#[test]
fn ip_version_asks_the_source_family_then_the_destinations() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: v4-out, namespace: shop }
spec:
  selector: \"app in {'bare2', 'v6', 'web'}\"
  egress: [{ action: Allow, ipVersion: 4 }]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: v6-in, namespace: shop }
spec:
  selector: \"app in {'bare', 'v6', 'db'}\"
  ingress: [{ action: Allow, ipVersion: 6 }]
";
    let (m, sides) = sides_of(yaml);
    assert!(reaches(&m, &sides, "shop/web", "203.0.113.5", 80));
    assert!(!reaches(&m, &sides, "shop/v6", "203.0.113.5", 80), "the source is IPv6");
    assert!(
        reaches(&m, &sides, "shop/bare2", "203.0.113.5", 80),
        "no source address: the destination's"
    );
    assert!(!reaches(&m, &sides, "shop/bare2", "2001:db8::1", 80));
    assert!(reaches(&m, &sides, "2001:db8::1", "shop/v6", 80));
    assert!(
        reaches(&m, &sides, "shop/bare", "shop/v6", 80),
        "no source address: v6's own"
    );
    assert!(
        !reaches(&m, &sides, "shop/bare", "shop/db", 80),
        "no source address: db's, IPv4"
    );
    assert!(
        !reaches(&m, &sides, "shop/bare", "shop/bare", 80),
        "no address at either end"
    );
    assert!(!reaches(&m, &sides, "shop/v6", "shop/v6", 80));
}

#[test]
fn a_problem_denies_everything() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  selector: app == 'web'
  tier: missing
  ingress: [{ action: Allow }]
";
    let (m, sides) = sides_of(yaml);
    assert!(!reaches(&m, &sides, "shop/db", "shop/sa-pod", 80));
    assert!(!reaches(&m, &sides, "203.0.113.5", "shop/sa-pod", 80));
}

#[test]
fn no_sets_where_a_class_merges_what_a_rule_tells_apart() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: out, namespace: shop }
spec:
  selector: all()
  egress: [{ action: Allow, destination: { nets: [203.0.113.0/24] } }]
";
    let mut m = model();
    m.externals.push(External {
        ip: "192.0.2.1".parse().unwrap(),
        fqdn: None,
        kube_apiserver: false,
    });
    m.blocks = vec!["0.0.0.0/0".parse().unwrap()];
    let policies = manifests(yaml);
    let evaluator = Policies::read(&policies);
    assert!(evaluator.sides(&Universe::new(&m, false)).is_none());
    let own_end = manifests(&yaml.replace("destination", "source"));
    assert!(
        Policies::read(&own_end).sides(&Universe::new(&m, false)).is_some(),
        "an egress rule's source is the pod itself: no outside class is asked"
    );
    m.blocks.push("203.0.113.0/24".parse().unwrap());
    assert!(evaluator.sides(&Universe::new(&m, false)).is_some());
    m.ports.push((Protocol::Tcp, 0));
    assert!(
        evaluator.sides(&Universe::new(&m, false)).is_none(),
        "port 0 is outside the domain"
    );
}

#[test]
fn named_ports_resolve_per_name_on_the_destination() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: in, namespace: shop }
spec:
  selector: \"app in {'web', 'worker'}\"
  ingress: [{ action: Allow, protocol: TCP, destination: { ports: [http], notPorts: [metrics] } }]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: out, namespace: other }
spec:
  selector: all()
  egress:
  - { action: Allow, protocol: TCP, destination: { ports: [metrics] } }
  - { action: Allow, protocol: TCP, destination: { notPorts: [http] } }
";
    let (m, sides) = sides_of(yaml);
    assert!(reaches(&m, &sides, "shop/db", "shop/web", 8080), "web's http");
    assert!(
        !reaches(&m, &sides, "shop/db", "shop/sa-pod", 8080),
        "8080 is sa-pod's metrics, not its http: the same number, another name"
    );
    assert!(
        !reaches(&m, &sides, "other/client", "shop/web", 8080),
        "notPorts: web's http"
    );
    assert!(
        reaches(&m, &sides, "other/client", "shop/db", 8080),
        "8080 is not db's http"
    );
    assert!(!reaches(&m, &sides, "other/client", "shop/db", 9090), "9090 is");
    assert!(
        reaches(&m, &sides, "other/client", "203.0.113.5", 9090),
        "an address has no named port"
    );
}

#[test]
fn domains_count_on_an_egress_allow_destination_only() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: { name: stripe, labels: { kind: payments } }
spec: { allowedEgressDomains: [api.stripe.com] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: out, namespace: shop }
spec:
  selector: app == 'web'
  egress:
  - { action: Deny, destination: { domains: ['*.b.stripe.com'] } }
  - { action: Allow, destination: { selector: kind == 'payments', namespaceSelector: global() } }
  - { action: Allow, destination: { domains: ['*.stripe.com'] } }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: in, namespace: shop }
spec:
  selector: app == 'db'
  ingress: [{ action: Allow, source: { domains: [api.stripe.com] } }]
";
    let (m, sides) = sides_of(yaml);
    assert!(
        reaches(&m, &sides, "shop/web", "api.stripe.com", 80),
        "the global set's domain"
    );
    assert!(
        reaches(&m, &sides, "shop/web", "a.b.stripe.com", 80),
        "a Deny's domains do not count: the star allows it"
    );
    assert!(!reaches(&m, &sides, "shop/web", "203.0.113.5", 80));
    assert!(
        !reaches(&m, &sides, "api.stripe.com", "shop/db", 80),
        "a source's domains never count"
    );
}
