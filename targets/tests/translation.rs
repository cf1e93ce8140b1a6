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

use common::{
    compile_dir, compile_text, examples,
    generate::{namespace_strategy, render, GeneratedNamespace},
    verify_set,
};
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
    // The route itself, as verify decides it: the intents and the combined
    // layers (Cilium sees the hop to the gateway pods, Istio the host).
    let report = palisade_targets::verify::verify(
        &ir,
        &model,
        &rendered.iter().map(|(d, m)| (*d, m.as_slice())).collect::<Vec<_>>(),
    );
    assert!(
        report.mismatches.is_empty(),
        "{:?}",
        report.mismatches.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    let semantics = palisade_compiler::semantics::Semantics::new(&ir);
    let intends = |from, to| {
        semantics
            .decide(&Connection {
                request: None,
                from,
                to,
                protocol: Protocol::Tcp,
                port: 443,
            })
            .allowed
    };
    assert!(intends(pod("shop/backend"), ext("google.com")));
    assert!(!intends(pod("shop/frontend"), ext("google.com")));
    assert!(!intends(pod("shop/backend"), ext("not-google.com")));
    // Cilium decides the legs through the gateway, not the pod's own packets to google.com
    let istio: Vec<&dyn palisade_targets::Evaluator> = evaluators[1..].iter().map(AsRef::as_ref).collect();
    let route = Connection {
        request: None,
        from: pod("shop/backend"),
        to: ext("google.com"),
        protocol: Protocol::Tcp,
        port: 443,
    };
    let legs = palisade_targets::verify::l3l4_legs(&ir, &model, &route, &istio);
    assert_eq!(
        legs.iter().map(Connection::describe).collect::<Vec<_>>(),
        [
            "shop/backend -> istio-system/egress-gateway tcp/443".to_string(),
            format!("istio-system/egress-gateway -> {} tcp/443", route.to.describe()),
        ]
    );
    assert!(legs.iter().all(|leg| evaluators[0].allows(&model, leg)));
    assert!(
        !evaluators[0].allows(&model, &route),
        "Cilium has no rule for google.com itself"
    );
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

fn verify_rendered(ir: &palisade_compiler::ir::Ir, rendered: &common::Rendered) -> palisade_targets::verify::Report {
    let model = palisade_compiler::model::synthesize(ir);
    let borrowed: Vec<(&dyn palisade_targets::Dialect, &[palisade_targets::Manifest])> =
        rendered.iter().map(|(d, m)| (*d, m.as_slice())).collect();
    palisade_targets::verify::verify(ir, &model, &borrowed)
}

#[test]
fn verify_proves_who_reaches_each_host_through_the_gateway() {
    let ir = common::two_gateway_hosts();
    let d = |id: &str| palisade_targets::dialect(id).unwrap_or_else(|| panic!("{id}"));
    for l4 in ["kubernetes", "calico", "cilium"] {
        let set = [d(l4), d("istio")];
        let mut rendered =
            common::render_set(&ir, &set, palisade_targets::Mode::Enforce).unwrap_or_else(|e| panic!("{e}"));
        let report = verify_rendered(&ir, &rendered);
        assert!(
            report.mismatches.is_empty(),
            "{l4}+istio as emitted:\n{}",
            report
                .mismatches
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
        // The model holds the hosts and their near misses, so the routes are compared.
        let model = palisade_compiler::model::synthesize(&ir);
        for host in ["api.stripe.com", "not-api.stripe.com", "example.org", "not-example.org"] {
            assert!(
                model.externals.iter().any(|e| e.fqdn.as_deref() == Some(host)),
                "no {host} in the model"
            );
        }
        // A hand edit broadens the gateway: one more rule, for any principal,
        // on api.stripe.com. Istio's reference: a rule without `from` matches
        // every source ("a match occurs when at least one source, one
        // operation and all conditions match"; no `from` is no source
        // condition), and rules are ORed.
        let istio = rendered
            .iter_mut()
            .find(|(dialect, _)| dialect.id() == "istio")
            .unwrap();
        let policy = istio
            .1
            .iter_mut()
            .find(|m| {
                m.object["kind"] == "AuthorizationPolicy" && m.object["metadata"]["name"] == "palisade-egress-gateway"
            })
            .unwrap_or_else(|| panic!("no gateway AuthorizationPolicy"));
        policy.object["spec"]["rules"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({ "when": [{ "key": "connection.sni", "values": ["api.stripe.com"] }] }));
        let report = verify_rendered(&ir, &rendered);
        let found: Vec<String> = report.mismatches.iter().map(ToString::to_string).collect();
        // `b` reaches the gateway pods (for example.org), so the broadened
        // gateway lets it reach api.stripe.com; `c` is stopped at L3/L4.
        assert!(
            found.iter().any(|m| m.starts_with("shop/b -> api.stripe.com")
                && m.contains("through istio-system/egress-gateway")
                && m.contains("the intents deny it")),
            "{l4}+istio: the broadened gateway passed verify:\n{}",
            found.join("\n")
        );
        assert!(
            found.iter().all(|m| m.starts_with("shop/b -> api.stripe.com")),
            "{l4}+istio:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn without_an_overlay_the_gateway_hop_is_the_host_and_is_broader_than_two_hosts() {
    // Nothing in a set without Istio configures the gateway: the L3/L4 layer
    // lets `a` and `b` reach the gateway pods on tcp/443 and cannot tell
    // their hosts apart, so each reaches the other's host. The compile
    // refuses it; verify, the second line, reports it on what a compile
    // without the refusal would render.
    let ir = common::two_gateway_hosts();
    let d = |id: &str| palisade_targets::dialect(id).unwrap_or_else(|| panic!("{id}"));
    for l4 in ["kubernetes", "calico", "cilium"] {
        let refused = common::render_set(&ir, &[d(l4)], palisade_targets::Mode::Enforce)
            .err()
            .unwrap_or_default();
        assert!(
            refused.contains("gateway_needs_overlay"),
            "{l4} alone compiles: {refused}"
        );
        let options = palisade_targets::EmitOptions {
            gateway_by_overlay: true,
            ..palisade_targets::EmitOptions::for_set(d(l4), &[d(l4)], &ir, palisade_targets::Mode::Enforce)
        };
        let (manifests, _) = palisade_targets::render(d(l4), &ir, &options).unwrap_or_else(|e| panic!("{e:?}"));
        let model = palisade_compiler::model::synthesize(&ir);
        let report = palisade_targets::verify::verify(&ir, &model, &[(d(l4), manifests.as_slice())]);
        let problems: Vec<String> = report.mismatches.iter().map(ToString::to_string).collect();
        let mut callers: Vec<&str> = problems
            .iter()
            .filter(|p| p.contains("through istio-system/egress-gateway"))
            .filter_map(|p| p.split(" (").next())
            .collect();
        callers.sort_unstable();
        callers.dedup();
        assert_eq!(
            callers,
            ["shop/a -> example.org tcp/443", "shop/b -> api.stripe.com tcp/443"],
            "{l4} alone:\n{}",
            problems.join("\n")
        );
    }
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
    let differences = compare(&model, &Decider::manifests(&manifests), &Decider::intents(&back)).differences;
    if differences.is_empty() || !losses.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} import claims no loss but differs on {} products, e.g. {:?}\n{shown}",
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

#[test]
fn a_probe_a_service_selects_runs_as_the_service_account_it_declares() {
    // `{ app: ledger, version: v2 }` names some of ledger's pods: the probe
    // for it is ledger, so it runs as ledger's account, and the mesh, which
    // knows callers by account, lets it call web as ledger may.
    let project = "apiVersion: palisade.dev/v1alpha1\nkind: Project\nmetadata: { name: sa }\nspec:\n  cluster:\n    clusterCIDRs: [10.244.0.0/16, 10.96.0.0/12]\n".to_string();
    let shop = "apiVersion: palisade.dev/v1alpha1\nkind: Intents\nmetadata: { name: shop, namespace: shop }\nspec:\n  posture: default-deny\n  services:\n    ledger: { selector: { app: ledger }, serviceAccount: ledger }\n    web: { selector: { app: web }, serviceAccount: web }\n  allow:\n    - { from: web, to: { namespace: shop, selector: { app: ledger, version: v2 } }, ports: [tcp/8080] }\n    - ledger -> web tcp/9090\n".to_string();
    let ir = compile_text(&[("palisade.yaml", project), ("intents/shop.yaml", shop)]).unwrap_or_else(|e| panic!("{e}"));
    let d = |id: &str| palisade_targets::dialect(id).unwrap_or_else(|| panic!("{id}"));
    for l4 in ["kubernetes", "calico", "cilium"] {
        let set = [d(l4), d("istio")];
        if let Err(problems) = verify_set(&ir, &set) {
            panic!("{l4}+istio:\n{}", problems.join("\n"));
        }
    }
}
