//! The Calico evaluator against hand-checked verdict tables. Each row cites
//! the rule that decides it: the API reference pages under
//! https://docs.tigera.io/calico/latest/reference/resources/ (networkpolicy,
//! globalnetworkpolicy, networkset, tier, stagednetworkpolicy) or, where the
//! reference is silent, the Calico source it follows.

use super::*;
use palisade_compiler::model::{External, Namespace, Pod};
use palisade_intents::{syntax::Protocol, types::Labels};

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

/// shop {team: a}: web, db, spoof (carries a NetworkSet's label), sa-pod;
/// other {team: b}: client. Outside: 203.0.113.5, api.stripe.com, a.b.stripe.com.
fn model() -> ClusterModel {
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
    let pod = |ns: &str, name: &str, l: &[(&str, &str)], ip: [u8; 4], sa: Option<&str>| Pod {
        namespace: ns.into(),
        name: name.into(),
        labels: labels(l),
        service_account: sa.map(str::to_string),
        ip: IpAddr::from(ip),
        ports: Vec::new(),
    };
    m.pods = vec![
        pod("other", "client", &[("app", "client")], [10, 244, 1, 10], None),
        pod("shop", "db", &[("app", "db")], [10, 244, 0, 11], None),
        pod(
            "shop",
            "sa-pod",
            &[("app", "worker")],
            [10, 244, 0, 13],
            Some("builder"),
        ),
        pod(
            "shop",
            "spoof",
            &[("app", "x"), ("palisade.dev/network", "palisade-net-203-0-113-0-24")],
            [10, 244, 0, 12],
            None,
        ),
        pod("shop", "web", &[("app", "web")], [10, 244, 0, 10], None),
    ];
    m.externals = vec![
        External {
            ip: IpAddr::from([203, 0, 113, 5]),
            fqdn: None,
            kube_apiserver: false,
        },
        External {
            ip: IpAddr::from([198, 51, 100, 7]),
            fqdn: Some("api.stripe.com".into()),
            kube_apiserver: false,
        },
        External {
            ip: IpAddr::from([198, 51, 100, 8]),
            fqdn: Some("a.b.stripe.com".into()),
            kube_apiserver: false,
        },
    ];
    m
}

fn endpoint<'a>(m: &'a ClusterModel, id: &str) -> Endpoint<'a> {
    m.pods
        .iter()
        .find(|p| p.id() == id)
        .map(Endpoint::Pod)
        .or_else(|| {
            m.externals
                .iter()
                .find(|e| e.ip.to_string() == id || e.fqdn.as_deref() == Some(id))
                .map(Endpoint::External)
        })
        .unwrap_or_else(|| panic!("no endpoint {id}"))
}

fn allowed(policies: &[Manifest], from: &str, to: &str, protocol: Protocol, port: u16) -> bool {
    let m = model();
    let conn = Connection {
        from: endpoint(&m, from),
        to: endpoint(&m, to),
        protocol,
        port,
        request: None,
    };
    Policies::read(policies).allows(&m, &conn)
}

/// (from, to, port, expected, rule)
type Row<'a> = (&'a str, &'a str, u16, bool, &'a str);

fn check(yaml: &str, rows: &[Row]) {
    let policies = manifests(yaml);
    assert_eq!(problems(&policies), Vec::new(), "the table's manifests are valid");
    for (from, to, port, expected, rule) in rows {
        assert_eq!(
            allowed(&policies, from, to, Protocol::Tcp, *port),
            *expected,
            "{from} -> {to} tcp/{port}: {rule}"
        );
    }
}

const SET: &str = "
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: { name: partner, namespace: shop, labels: { palisade.dev/network: palisade-net-203-0-113-0-24 } }
spec: { nets: [203.0.113.0/24] }
";

#[test]
fn a_rule_selector_matches_pods_and_network_sets_alike_unless_it_names_the_kind() {
    let bare = format!(
        "{SET}---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {{ name: web, namespace: shop }}
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    source: {{ selector: palisade.dev/network == 'palisade-net-203-0-113-0-24' }}
"
    );
    check(
        &bare,
        &[
            (
                "203.0.113.5",
                "shop/web",
                80,
                true,
                "networkset: a selector includes the CIDRs of the sets it matches",
            ),
            (
                "shop/spoof",
                "shop/web",
                80,
                true,
                "networkpolicy#selectors: a selector matches any endpoint with the label, the pod too",
            ),
            (
                "shop/db",
                "shop/web",
                80,
                false,
                "end of tier: the policy selects web, no rule matches db",
            ),
        ],
    );
    let exact = bare.replace(
        "palisade.dev/network == 'palisade-net-203-0-113-0-24'",
        "palisade.dev/network == 'palisade-net-203-0-113-0-24' && !has(projectcalico.org/orchestrator)",
    );
    check(
        &exact,
        &[
            ("203.0.113.5", "shop/web", 80, true, "the set has no orchestrator label"),
            (
                "shop/spoof",
                "shop/web",
                80,
                false,
                "every workload endpoint carries projectcalico.org/orchestrator",
            ),
        ],
    );
}

#[test]
fn a_namespace_peer_matches_the_namespaces_network_sets_unless_it_names_pods() {
    let bare = format!(
        "{SET}---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {{ name: db, namespace: other }}
spec:
  selector: all()
  ingress:
  - action: Allow
    source: {{ namespaceSelector: projectcalico.org/name == 'shop' }}
"
    );
    check(
        &bare,
        &[
            (
                "shop/web",
                "other/client",
                80,
                true,
                "namespaceSelector picks shop's pods",
            ),
            (
                "203.0.113.5",
                "other/client",
                80,
                true,
                "NetworkSets inherit their namespace's labels: shop's set is picked",
            ),
        ],
    );
    let pods = bare.replace(
        "{ namespaceSelector: projectcalico.org/name == 'shop' }",
        "{ namespaceSelector: projectcalico.org/name == 'shop', selector: projectcalico.org/orchestrator == 'k8s' }",
    );
    check(
        &pods,
        &[
            ("shop/web", "other/client", 80, true, "pods carry orchestrator k8s"),
            ("203.0.113.5", "other/client", 80, false, "sets do not"),
        ],
    );
}

#[test]
fn a_network_set_holding_pod_addresses_admits_those_pods() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: { name: wide, namespace: shop, labels: { role: collector } }
spec: { nets: [10.0.0.0/8] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    source: { selector: role == 'collector' && !has(projectcalico.org/orchestrator) }
";
    check(
        yaml,
        &[
            (
                "shop/db",
                "shop/web",
                80,
                true,
                "networkset: Calico matches packets by address; 10.0.0.0/8 holds db's",
            ),
            ("203.0.113.5", "shop/web", 80, false, "outside the set"),
        ],
    );
}

#[test]
fn global_network_policy_is_evaluated_across_namespaces_and_ordered_with_namespaced_ones() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: deny-db }
spec:
  order: 10
  selector: app == 'db'
  namespaceSelector: team == 'a'
  ingress:
  - action: Deny
    source: { selector: app == 'client' }
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
    check(
        yaml,
        &[
            (
                "other/client",
                "shop/db",
                5432,
                false,
                "globalnetworkpolicy: order 10 runs before the namespaced order 100; its rule selector spans namespaces",
            ),
            ("shop/web", "shop/db", 5432, true, "the global policy's rule does not match web; the namespaced one allows"),
        ],
    );
}

#[test]
fn order_then_name_decides_and_no_order_comes_last() {
    let two = |a: (&str, &str, &str), b: (&str, &str, &str)| {
        let policy = |(name, order, action): (&str, &str, &str)| {
            format!(
                "apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {{ name: {name}, namespace: shop }}
spec:
  {order}
  selector: app == 'web'
  ingress: [{{ action: {action} }}]
"
            )
        };
        format!("{}---\n{}", policy(a), policy(b))
    };
    let cases: &[(String, bool, &str)] = &[
        (
            two(("b", "order: 1", "Allow"), ("a", "order: 2", "Deny")),
            true,
            "networkpolicy: lowest order first",
        ),
        (
            two(("b", "order: 5", "Allow"), ("a", "order: 5", "Deny")),
            false,
            "equal order: by name (policy_sorter.go PolKVLess), `a` first",
        ),
        (
            two(("a", "", "Deny"), ("b", "order: 1000", "Allow")),
            true,
            "no order: +infinity, after every ordered policy",
        ),
        (
            two(("a", "", "Deny"), ("b", "", "Allow")),
            false,
            "both without order: by name",
        ),
        (
            two(("a", "order: 5", "Allow"), ("a-b", "order: 5", "Deny")),
            false,
            "ties compare `name/namespace/kind`: `a-b/shop/…` sorts before `a/shop/…` ('-' < '/')",
        ),
    ];
    for (yaml, expected, rule) in cases {
        let policies = manifests(yaml);
        assert_eq!(problems(&policies), Vec::new());
        assert_eq!(
            allowed(&policies, "shop/db", "shop/web", Protocol::Tcp, 80),
            *expected,
            "{rule}\n{yaml}"
        );
    }
}

#[test]
fn tiers_pass_log_and_the_end_of_tier_deny() {
    let tiered = "
apiVersion: projectcalico.org/v3
kind: Tier
metadata: { name: security }
spec: { order: 100 }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: security.web, namespace: shop }
spec:
  tier: security
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
metadata: { name: web, namespace: shop }
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    source: { selector: app == 'db' }
  - action: Allow
    source: { selector: app == 'x' }
";
    check(
        tiered,
        &[
            (
                "shop/db",
                "shop/web",
                80,
                true,
                "tier: Pass skips to the next tier (default), which allows",
            ),
            (
                "shop/spoof",
                "shop/web",
                80,
                false,
                "tier security (order 100) denies before the default tier (1000000) allows; Log went on",
            ),
            (
                "other/client",
                "shop/web",
                80,
                false,
                "tier: the tier applies, no rule acts: dropped",
            ),
            (
                "shop/web",
                "shop/db",
                80,
                true,
                "no policy applies to db: the namespace profile allows",
            ),
        ],
    );
    let pass_last = "
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  selector: app == 'web'
  ingress: [{ action: Pass }]
";
    check(
        pass_last,
        &[(
            "shop/db",
            "shop/web",
            80,
            true,
            "Pass in the last tier: the profile allows",
        )],
    );
    let pass_tier = "
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
  ingress: [{ action: Deny, source: { selector: app == 'x' } }]
";
    check(
        pass_tier,
        &[
            (
                "shop/db",
                "shop/web",
                80,
                true,
                "tier defaultAction Pass: the next tier decides (none: profile allows)",
            ),
            ("shop/spoof", "shop/web", 80, false, "an explicit Deny still denies"),
        ],
    );
}

#[test]
fn staged_policies_enforce_nothing_and_types_default_as_the_api_server_sets_them() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata: { name: web, namespace: shop }
spec: { selector: all(), types: [Ingress, Egress] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: egress-only, namespace: shop }
spec:
  selector: app == 'db'
  egress: [{ action: Allow, destination: { selector: app == 'web' } }]
";
    check(
        yaml,
        &[
            (
                "shop/web",
                "shop/db",
                80,
                true,
                "stagednetworkpolicy: not enforced; the egress-only policy has no Ingress type",
            ),
            ("shop/db", "shop/web", 80, true, "egress allowed by rule"),
            (
                "shop/db",
                "other/client",
                80,
                false,
                "types defaulted to [Egress]: db's egress is isolated",
            ),
        ],
    );
}

#[test]
fn negations_protocols_and_ports() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    notProtocol: UDP
    source: { notSelector: app == 'x', notNets: [10.244.0.11/32] }
    destination: { }
  - action: Allow
    protocol: UDP
    destination: { ports: ['1000:2000'], notPorts: [1500] }
";
    let policies = manifests(yaml);
    assert_eq!(problems(&policies), Vec::new());
    let rows: &[(&str, Protocol, u16, bool, &str)] = &[
        (
            "shop/sa-pod",
            Protocol::Tcp,
            80,
            true,
            "notProtocol UDP lets TCP through; notSelector spares app worker",
        ),
        (
            "other/client",
            Protocol::Tcp,
            80,
            false,
            "a notSelector alone confines a namespaced policy's rule to its namespace (updateprocessors/rules.go)",
        ),
        (
            "shop/spoof",
            Protocol::Tcp,
            80,
            false,
            "notSelector app == 'x' excludes spoof",
        ),
        ("shop/db", Protocol::Tcp, 80, false, "notNets excludes db's address"),
        (
            "other/client",
            Protocol::Udp,
            1200,
            true,
            "second rule: UDP in 1000:2000, from anywhere",
        ),
        ("other/client", Protocol::Udp, 1500, false, "notPorts 1500"),
        ("other/client", Protocol::Udp, 80, false, "outside the range"),
        (
            "shop/sa-pod",
            Protocol::Sctp,
            80,
            true,
            "notProtocol UDP: SCTP matches rule one",
        ),
        (
            "shop/sa-pod",
            Protocol::Udp,
            80,
            false,
            "notProtocol UDP: rule one does not match UDP",
        ),
    ];
    for (from, protocol, port, expected, rule) in rows {
        assert_eq!(
            allowed(&policies, from, "shop/web", *protocol, *port),
            *expected,
            "{from} {protocol:?}/{port}: {rule}"
        );
    }
}

#[test]
fn service_accounts_and_namespace_selector_keywords() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    source: { serviceAccounts: { names: [builder] } }
  - action: Allow
    source: { namespaceSelector: team starts with 'b' }
";
    check(
        yaml,
        &[
            (
                "shop/sa-pod",
                "shop/web",
                80,
                true,
                "serviceAccounts.names: the pod's account",
            ),
            ("shop/db", "shop/web", 80, false, "no account"),
            (
                "other/client",
                "shop/web",
                80,
                true,
                "namespaceSelector with starts with",
            ),
        ],
    );
}

#[test]
fn calico_enterprise_domains_star_is_one_or_more_labels() {
    // docs.tigera.io/calico-enterprise/latest/network-policy/domain-based-policy
    let table = [
        ("*.stripe.com", "api.stripe.com", true),
        ("*.stripe.com", "a.b.stripe.com", true),
        ("*.stripe.com", "stripe.com", false),
        ("www.*.com", "www.sun.com", true),
        ("www.*.com", "www.com", false),
        ("api.stripe.com", "API.stripe.com.", true),
        ("api.stripe.com", "x.api.stripe.com", false),
    ];
    for (pattern, name, expected) in table {
        assert_eq!(domain_matches(pattern, name), expected, "{pattern} vs {name}");
    }
    let yaml = "
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  selector: app == 'web'
  types: [Egress]
  egress: [{ action: Allow, destination: { domains: ['*.stripe.com'] } }]
";
    check(
        yaml,
        &[
            ("shop/web", "api.stripe.com", 443, true, "one label"),
            (
                "shop/web",
                "a.b.stripe.com",
                443,
                true,
                "two labels: Calico Enterprise's `*` covers them",
            ),
        ],
    );
}

#[test]
fn what_cannot_be_evaluated_is_a_problem_and_every_verdict_says_so() {
    let yaml = "
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: web, namespace: shop }
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    source: { selector: app = 'db' }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: tiered, namespace: shop }
spec:
  tier: platform
  selector: all()
";
    let policies = manifests(yaml);
    let found = problems(&policies);
    let at: Vec<(usize, &str)> = found.iter().map(|p| (p.manifest, p.pointer.as_str())).collect();
    assert_eq!(
        at,
        [(0, "/spec/ingress/0/source/selector"), (1, "/spec/tier")],
        "{found:?}"
    );
    assert!(
        found[0].message.contains("`app = 'db'` is not a Calico selector"),
        "{found:?}"
    );
    let m = model();
    let conn = Connection {
        from: endpoint(&m, "shop/db"),
        to: endpoint(&m, "other/client"),
        protocol: Protocol::Tcp,
        port: 80,
        request: None,
    };
    let verdict = Policies::read(&policies).evaluate(&m, &conn);
    assert!(!verdict.allowed, "never read as a narrow policy: fail closed");
    assert!(verdict.decided_by[0].rule.contains("not evaluated"), "{verdict:?}");
}
