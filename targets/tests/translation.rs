//! Translation validation: on every example, and on generated intents, the
//! manifests each dialect emits decide every connection of the representative
//! cluster model exactly as the intents do.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;

use common::{compile_dir, compile_text, examples, verify_set};
use proptest::prelude::*;

#[test]
fn every_example_means_what_its_intents_say_on_every_target_it_names() {
    for dir in examples() {
        let ir = compile_dir(&dir);
        let set = common::project_targets(&dir);
        match verify_set(&ir, &set) {
            Ok(compared) => assert!(compared > 100, "{}: model too small to mean anything", dir.display()),
            Err(problems) => panic!(
                "{}: {} disagreements:\n{}",
                dir.display(),
                problems.len(),
                problems.join("\n")
            ),
        }
        // Each L3/L4 target of the set also stands alone where it can express the intents.
        for dialect in set.iter().filter(|d| !d.capabilities().overlay) {
            if let Err(problems) = verify_set(&ir, &[*dialect]) {
                assert!(
                    problems.iter().all(|p| p.contains("unsupported")),
                    "{} alone on {}:\n{}",
                    dialect.id(),
                    dir.display(),
                    problems.join("\n")
                );
            }
        }
    }
}

#[test]
fn the_zero_trust_example_allows_the_walkthrough_flows_and_nothing_else() {
    use palisade_compiler::model::{synthesize, Connection, Endpoint};
    use palisade_intents::syntax::Protocol;
    use palisade_targets::Mode;
    let dir = common::root().join("examples/zero-trust");
    let ir = compile_dir(&dir);
    let set = common::project_targets(&dir);
    assert_eq!(set.iter().map(|d| d.id()).collect::<Vec<_>>(), ["cilium", "istio"]);
    let rendered = common::render_set(&ir, &set, Mode::Enforce).unwrap_or_else(|e| panic!("{e}"));
    let evaluators: Vec<_> = rendered.iter().map(|(d, m)| d.evaluator(m)).collect();
    let model = synthesize(&ir);
    let pod = |id: &str| {
        model
            .pods
            .iter()
            .find(|p| p.id() == id)
            .map(Endpoint::Pod)
            .unwrap_or_else(|| panic!("no pod {id}"))
    };
    let ext = |key: &str| {
        model
            .externals
            .iter()
            .find(|e| e.ip.to_string() == key || e.fqdn.as_deref() == Some(key))
            .map(Endpoint::External)
            .unwrap_or_else(|| panic!("no address {key}"))
    };
    let allowed = |from, to, protocol, port| {
        evaluators.iter().all(|e| {
            e.evaluate(
                &model,
                &Connection {
                    request: None,
                    from,
                    to,
                    protocol,
                    port,
                },
            )
            .allowed
        })
    };
    assert!(allowed(pod("shop/frontend"), pod("shop/backend"), Protocol::Tcp, 8080));
    assert!(!allowed(pod("shop/frontend"), pod("shop/backend"), Protocol::Tcp, 8081));
    assert!(!allowed(pod("shop/backend"), pod("shop/frontend"), Protocol::Tcp, 8080));
    assert!(!allowed(pod("shop/stranger"), pod("shop/backend"), Protocol::Tcp, 8080));
    assert!(allowed(pod("shop/stranger"), pod("kube-system/dns"), Protocol::Udp, 53));
    assert!(allowed(pod("shop/frontend"), ext("172.20.0.10"), Protocol::Tcp, 6443));
    assert!(allowed(pod("shop/backend"), ext("169.254.169.254"), Protocol::Tcp, 80));
    assert!(
        !allowed(pod("shop/frontend"), ext("169.254.169.254"), Protocol::Tcp, 80),
        "metadata is for backend only"
    );
    assert!(
        allowed(pod("shop/backend"), ext("api.stripe.com"), Protocol::Tcp, 443),
        "Stripe through Cilium FQDN"
    );
    assert!(!allowed(
        pod("shop/frontend"),
        ext("api.stripe.com"),
        Protocol::Tcp,
        443
    ));
    assert!(!allowed(
        pod("shop/backend"),
        ext("not-api.stripe.com"),
        Protocol::Tcp,
        443
    ));
    assert!(
        allowed(
            pod("shop/backend"),
            pod("istio-system/egress-gateway"),
            Protocol::Tcp,
            443
        ),
        "google.com through the gateway"
    );
    assert!(!allowed(
        pod("shop/frontend"),
        pod("istio-system/egress-gateway"),
        Protocol::Tcp,
        443
    ));
    assert!(allowed(
        pod("shop/frontend"),
        pod("observability/telemetry"),
        Protocol::Tcp,
        4317
    ));
    assert!(
        !allowed(pod("shop/frontend"), ext("203.0.113.10"), Protocol::Tcp, 443),
        "nothing reaches the internet directly"
    );
}

// Generated intents: a few namespaces with random postures, services and rules
// in every peer and port form the kubernetes target can express.

fn pod_peer() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..3usize, 0..4usize).prop_map(|(ns, svc)| format!("ns{ns}/svc{svc}")),
        (0..4usize).prop_map(|svc| format!("svc{svc}")),
        (0..3usize).prop_map(|ns| format!("ns{ns}/*")),
    ]
}

fn outside_source() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("10.30.0.0/16".to_string()),
        Just("192.0.2.7".to_string()),
        Just("world".to_string())
    ]
}

fn outside_destination() -> impl Strategy<Value = String> {
    prop_oneof![
        outside_source(),
        Just("kube-api".to_string()),
        Just("dns".to_string()),
        Just("api.example.com".to_string()),
        Just("*.example.com".to_string()),
    ]
}

fn ports(named_allowed: bool) -> impl Strategy<Value = Vec<String>> {
    let numbered = prop_oneof![
        Just("tcp/80".to_string()),
        Just("udp/53".to_string()),
        Just("tcp/8000-8100".to_string()),
        Just("sctp/9".to_string())
    ];
    let port = if named_allowed {
        prop_oneof![4 => numbered, 1 => Just("http".to_string())].boxed()
    } else {
        numbered.boxed()
    };
    prop::collection::vec(port, 0..3)
}

/// A rule with at least one side in a managed namespace; named ports only
/// towards services, which declare them
fn rule_strategy() -> impl Strategy<Value = (String, String, Vec<String>)> {
    prop_oneof![
        (pod_peer(), pod_peer()).prop_flat_map(|(from, to)| {
            let named = !to.ends_with('*');
            (Just(from), Just(to), ports(named))
        }),
        (pod_peer(), outside_destination(), ports(false)),
        (outside_source(), pod_peer()).prop_flat_map(|(from, to)| {
            let named = !to.ends_with('*');
            (Just(from), Just(to), ports(named))
        }),
    ]
}

type GeneratedNamespace = (
    usize,
    Vec<(String, String, Vec<String>)>,
    Vec<&'static str>,
    Vec<(usize, usize)>,
    Option<usize>,
);

fn namespace_strategy() -> impl Strategy<Value = GeneratedNamespace> {
    (
        0..3usize,
        prop::collection::vec(rule_strategy(), 0..6),
        prop::sample::subsequence(vec!["dns", "kube-api", "metadata"], 0..3),
        prop::collection::vec((0..4usize, 0..4usize), 0..2),
        prop::option::of(0..4usize),
    )
}

fn render(namespaces: &[GeneratedNamespace]) -> Vec<(&'static str, String)> {
    let project = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: gen }\nspec:\n  cluster:\n    apiServer: { cidrs: [172.20.0.10/32] }\n    clusterCIDRs: [10.244.0.0/16]\n    nodeLocalDNS: 169.254.20.10\n".to_string();
    let mut files = vec![("palisade.yaml", project)];
    let names = ["ns0.yaml", "ns1.yaml", "ns2.yaml"];
    for (index, (posture, rules, baseline, l7, except)) in namespaces.iter().enumerate() {
        let posture = ["default-deny", "default-deny-ingress", "none"][*posture];
        let mut text = format!("apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: {{ name: ns{index}, namespace: ns{index} }}\nspec:\n  posture: {posture}\n  baseline: [{}]\n  services:\n", baseline.join(", "));
        for svc in 0..4 {
            let labels = if svc == 3 {
                format!("{{ app: svc{svc}, tier: x }}")
            } else {
                format!("{{ app: svc{svc} }}")
            };
            text.push_str(&format!(
                "    svc{svc}: {{ selector: {labels}, ports: {{ http: tcp/8080 }} }}\n"
            ));
        }
        text.push_str("  allow:\n");
        for (from, to, ports) in rules {
            text.push_str(&format!("    - \"{from} -> {to} {}\"\n", ports.join(",")));
        }
        if let Some(svc) = except {
            text.push_str(&format!("    - {{ from: svc{svc}, to: {{ cidr: 10.30.0.0/16, except: [10.30.128.0/17, 10.30.1.0/24] }}, ports: [tcp/443] }}\n"));
        }
        for (from, to) in l7 {
            text.push_str(&format!("    - {{ from: svc{from}, to: svc{to}, ports: [tcp/8080], http: [{{ method: GET, path: /api/* }}, {{ method: POST, path: /api/orders }}] }}\n"));
        }
        files.push((names[index], text));
    }
    files
}

/// The sets a user would render: each L3/L4 target alone, and with Istio
fn sets() -> Vec<Vec<&'static dyn palisade_targets::Dialect>> {
    let d = |id: &str| palisade_targets::dialect(id).unwrap_or_else(|| panic!("{id}"));
    vec![
        vec![d("kubernetes")],
        vec![d("calico")],
        vec![d("cilium")],
        vec![d("cilium"), d("istio")],
        vec![d("kubernetes"), d("istio")],
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn generated_intents_mean_the_same_on_every_target(namespaces in prop::collection::vec(namespace_strategy(), 3..=3)) {
        let files = render(&namespaces);
        let ir = compile_text(&files);
        prop_assert!(ir.is_ok(), "generated intents were refused: {:?}", ir.as_ref().err());
        let Ok(ir) = ir else { return Ok(()) };
        for set in sets() {
            if let Err(problems) = verify_set(&ir, &set) {
                // A target may refuse what it cannot express (by its capability
                // table); it may never answer differently from the intents.
                let refusals = ["fqdn_unsupported", "l7_unsupported", "istio_l7_needs_isolation", "istio_unidentified_source", "istio_port_range"];
                let refused = problems.len() == 1 && problems.iter().all(|p| refusals.iter().any(|r| p.contains(r)));
                let ids: Vec<&str> = set.iter().map(|d| d.id()).collect();
                prop_assert!(refused, "{ids:?} disagrees on generated intents:\n{}\n{}", files.iter().map(|(p, t)| format!("# {p}\n{t}")).collect::<String>(), problems.join("\n"));
            }
        }
    }
}

/// Import of what palisade emitted, for one target: the intents it reads back
/// decide every connection as the emitted manifests do, unless the loss
/// report names what did not carry over
fn import_round_trip(
    ir: &palisade_compiler::ir::Ir,
    dialect: &'static dyn palisade_targets::Dialect,
) -> Result<(), String> {
    use palisade_targets::{
        equivalence::{compare, Decider},
        import::Context,
    };
    let Ok(rendered) = common::render_set(ir, &[dialect], palisade_targets::Mode::Enforce) else {
        return Ok(());
    };
    let manifests: Vec<palisade_targets::Manifest> = rendered.into_iter().flat_map(|(_, m)| m).collect();
    let context = Context {
        api_server: "172.20.0.10/32".parse().ok(),
        ..Context::new(&manifests, None)
    };
    let imported = dialect.import(&manifests, &context).ok_or("no importer")?;
    let (mut files, more_losses) = imported.to_intents();
    let losses: Vec<String> = imported
        .losses
        .iter()
        .chain(&more_losses)
        .map(|l| format!("{}: {}", l.origin, l.construct))
        .collect();
    files.insert(
        "palisade.yaml".into(),
        "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: back }\nspec:\n  cluster:\n    apiServer: { cidrs: [172.20.0.10/32] }\n".into(),
    );
    let shown: String = files.iter().map(|(p, t)| format!("# {p}\n{t}")).collect();
    let as_files: Vec<(&str, String)> = files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
    let back = compile_text(&as_files).map_err(|e| format!("the import does not compile: {e}\n{shown}"))?;
    let model = imported.model(&back, None);
    let (_, differences) = compare(&model, &Decider::manifests(&manifests), &Decider::intents(&back));
    if differences.is_empty() || !losses.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} import claims no loss but differs on {} connections, e.g. {:?}\n{shown}",
        dialect.id(),
        differences.len(),
        differences.first().map(|d| &d.connection)
    ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn importing_what_palisade_emits_is_exact_or_says_why(namespaces in prop::collection::vec(namespace_strategy(), 3..=3)) {
        // Without DNS names and HTTP rules, which kubernetes and calico refuse.
        let plain: Vec<GeneratedNamespace> = namespaces
            .iter()
            .map(|(posture, rules, baseline, _, except)| {
                let rules = rules.iter().filter(|(_, to, _)| !to.contains("example.com")).cloned().collect();
                (*posture, rules, baseline.clone(), Vec::new(), *except)
            })
            .collect();
        for (id, namespaces) in [("kubernetes", &plain), ("calico", &plain), ("cilium", &namespaces)] {
            let files = render(namespaces);
            let Ok(ir) = compile_text(&files) else { return Ok(()) };
            let dialect = palisade_targets::dialect(id).unwrap_or_else(|| panic!("{id}"));
            if let Err(problem) = import_round_trip(&ir, dialect) {
                prop_assert!(false, "{problem}\nfrom:\n{}", files.iter().map(|(p, t)| format!("# {p}\n{t}")).collect::<String>());
            }
        }
    }
}
