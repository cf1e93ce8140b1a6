//! The symbolic relations against the per-connection evaluators they
//! replace: on the examples and on generated repositories, every connection
//! of the model (each request too) is decided by the sets exactly as by the
//! enumerative evaluator of the same dialect, and the intents' sets exactly
//! as by the reference semantics.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;

use common::{
    compile_dir, compile_text, examples,
    generate::{namespace_strategy, render},
    render_set,
};
use palisade_compiler::{
    ir::Ir,
    model::{synthesize, ClusterModel, Connection, Endpoint},
    semantics::Semantics,
};
use palisade_relation::{services::key, Sides, Universe};
use palisade_targets::{probes, Dialect, Manifest, Mode};
use proptest::prelude::*;

/// Every connection of the model, each request of the model too where the
/// destination is a pod, with its place in the universe
fn connections<'m>(model: &'m ClusterModel, universe: &Universe) -> Vec<(Connection<'m>, u32, u32, u64)> {
    let mut out = Vec::new();
    for conn in model.connections() {
        let (Some(from), Some(to)) = (universe.class_of(&conn.from), universe.class_of(&conn.to)) else {
            panic!("{} has no class", conn.describe());
        };
        out.push((conn, from, to, key(conn.protocol, conn.port, 0)));
        if matches!(conn.to, Endpoint::Pod(_)) && universe.request_count() > 0 {
            for (r, request) in (1u32..).zip(&model.requests) {
                let with = Connection {
                    request: Some(request),
                    ..conn
                };
                out.push((with, from, to, key(conn.protocol, conn.port, r)));
            }
        }
    }
    out
}

/// Where the sets and the enumerative answer disagree, the first few
fn disagreements(
    model: &ClusterModel,
    universe: &Universe,
    sides: &Sides,
    decide: impl Fn(&Connection) -> bool,
) -> Vec<String> {
    connections(model, universe)
        .into_iter()
        .filter_map(|(conn, from, to, key)| {
            let symbolic = sides.allows(universe, from, to, key);
            let enumerative = decide(&conn);
            (symbolic != enumerative).then(|| {
                format!(
                    "{}: the sets say {symbolic}, the evaluator {enumerative}",
                    conn.describe()
                )
            })
        })
        .take(5)
        .collect()
}

/// The intents' sets and every rendered dialect's sets, each against its
/// enumerative twin, on the model verification uses
fn check(ir: &Ir, set: &[&'static dyn Dialect]) -> Result<(), String> {
    let Ok(rendered) = render_set(ir, set, Mode::Enforce) else {
        return Ok(());
    };
    let manifests: Vec<Manifest> = rendered.iter().flat_map(|(_, m)| m.clone()).collect();
    let mut model = synthesize(ir);
    probes::add(&mut model, &manifests);
    for requests in [false, true] {
        let universe = Universe::new(&model, requests);
        let semantics = Semantics::new(ir);
        let reference = palisade_relation::reference::sides(ir, &universe);
        let wrong = disagreements(&model, &universe, &reference, |c| {
            (requests || c.request.is_none()) && semantics.decide(c).allowed
        });
        if !wrong.is_empty() {
            return Err(format!(
                "the intents' sets (requests: {requests}):\n{}",
                wrong.join("\n")
            ));
        }
        for (dialect, manifests) in &rendered {
            let evaluator = dialect.evaluator(manifests);
            let Some(sides) = evaluator.sides(&universe) else {
                continue;
            };
            let wrong = disagreements(&model, &universe, &sides, |c| {
                (requests || c.request.is_none()) && evaluator.allows(&model, c)
            });
            if !wrong.is_empty() {
                return Err(format!(
                    "{} (requests: {requests}):\n{}",
                    dialect.id(),
                    wrong.join("\n")
                ));
            }
            matrix_agrees(&model, &universe, &sides).map_err(|e| format!("{}: {e}", dialect.id()))?;
        }
    }
    Ok(())
}

/// The matrix of a port, every pair at once, against the sets asked one pair at a time
fn matrix_agrees(model: &ClusterModel, universe: &Universe, sides: &Sides) -> Result<(), String> {
    for &(protocol, port) in model.ports.iter().take(4) {
        let k = key(protocol, port, 0);
        let grid = palisade_relation::matrix::matrix(sides, universe, k);
        for (from, row) in (0u32..).zip(&grid) {
            for (to, cell) in (0u32..).zip(row) {
                if *cell != sides.allows(universe, from, to, k) {
                    return Err(format!("the matrix says {cell} for pods {from} -> {to} on {port}"));
                }
            }
        }
    }
    Ok(())
}

fn sets() -> Vec<Vec<&'static dyn Dialect>> {
    let d = |id: &str| palisade_targets::dialect(id).unwrap_or_else(|| panic!("{id}"));
    vec![vec![d("kubernetes")], vec![d("calico")], vec![d("cilium"), d("istio")]]
}

#[test]
fn the_sets_decide_every_example_as_the_evaluators_do() {
    for dir in examples() {
        let ir = compile_dir(&dir);
        for set in sets().into_iter().chain([common::project_targets(&dir)]) {
            if let Err(problem) = check(&ir, &set) {
                panic!("{}: {problem}", dir.display());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn the_sets_decide_generated_repositories_as_the_evaluators_do(namespaces in prop::collection::vec(namespace_strategy(), 3..=3)) {
        let files = render(&namespaces);
        let Ok(ir) = compile_text(&files) else { return Ok(()) };
        for set in sets() {
            if let Err(problem) = check(&ir, &set) {
                prop_assert!(false, "{problem}\nfrom:\n{}", files.iter().map(|(p, t)| format!("# {p}\n{t}")).collect::<String>());
            }
        }
    }
}

/// The places a hand edit can widen or narrow a manifest: every element of
/// an array under `spec` (a rule, a peer, a port) and every field that
/// narrows what it sits in (`from`, `to`, `ports`, `toPorts`, `rules`,
/// `when`, `selector`-like fields)
fn edit_points(value: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                path.push(key.clone());
                out.push(path.clone());
                edit_points(inner, path, out);
                path.pop();
            }
        }
        serde_json::Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                path.push(i.to_string());
                out.push(path.clone());
                edit_points(inner, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Remove what `path` names from `value`
fn remove_at(value: &mut serde_json::Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = value;
    for step in parents {
        at = match at {
            serde_json::Value::Object(map) => match map.get_mut(step) {
                Some(v) => v,
                None => return,
            },
            serde_json::Value::Array(items) => match step.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match at {
        serde_json::Value::Object(map) => {
            map.remove(last);
        }
        serde_json::Value::Array(items) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|&i| i < items.len()) {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// The examples that send names through the egress gateway, with the sets
/// that carry them: the routed connections are where sets and legs meet
fn gateway_cases() -> Vec<(Ir, Vec<&'static dyn Dialect>)> {
    let d = |id: &str| palisade_targets::dialect(id).unwrap_or_else(|| panic!("{id}"));
    let mut out = Vec::new();
    let irs = examples()
        .into_iter()
        .map(|dir| compile_dir(&dir))
        .chain([common::two_gateway_hosts()])
        .filter(|ir| ir.profile.egress_gateway.is_some());
    for ir in irs {
        for set in [
            vec![d("kubernetes"), d("istio")],
            vec![d("calico"), d("istio")],
            vec![d("cilium"), d("istio")],
        ] {
            if render_set(&ir, &set, Mode::Enforce).is_ok() {
                out.push((ir.clone(), set));
            }
        }
    }
    assert!(!out.is_empty(), "no example sends a name through the egress gateway");
    out
}

/// Whether the sets find what the enumeration of every connection finds.
/// Through the gateway both answer end to end: the same kinds of
/// difference (broader, narrower), or none. Elsewhere the sets compare side
/// by side and may find more (a side wider than the intents that the other
/// side still stops), never less: each kind the enumeration finds, they find.
fn verifies_agree(ir: &Ir, rendered: &[(&'static dyn Dialect, Vec<Manifest>)]) -> Result<(), String> {
    let model = synthesize(ir);
    let borrowed: Vec<(&dyn Dialect, &[Manifest])> = rendered.iter().map(|(d, m)| (*d, m.as_slice())).collect();
    let symbolic = palisade_targets::verify::verify(ir, &model, &borrowed);
    let enumerative = palisade_targets::verify::verify_enumerating(ir, &model, &borrowed);
    let kinds = |r: &palisade_targets::verify::Report, routed: bool| {
        let mut k: Vec<bool> = r
            .mismatches
            .iter()
            .filter(|m| m.connection.contains(" (through ") == routed)
            .map(|m| m.expected)
            .collect();
        k.sort_unstable();
        k.dedup();
        k
    };
    let routed_agree = kinds(&symbolic, true) == kinds(&enumerative, true);
    let direct = kinds(&symbolic, false);
    let direct_agree = kinds(&enumerative, false).iter().all(|k| direct.contains(k));
    if routed_agree && direct_agree {
        return Ok(());
    }
    let show = |r: &palisade_targets::verify::Report| {
        r.mismatches
            .iter()
            .take(6)
            .map(|m| format!("  {m}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Err(format!(
        "the sets found:\n{}\nthe enumeration found:\n{}",
        show(&symbolic),
        show(&enumerative)
    ))
}

#[test]
fn verify_on_sets_finds_what_the_enumeration_finds_on_the_gateway_examples() {
    for (ir, set) in gateway_cases() {
        let rendered = render_set(&ir, &set, Mode::Enforce).unwrap_or_else(|e| panic!("{e}"));
        verifies_agree(&ir, &rendered).unwrap_or_else(|e| panic!("as emitted: {e}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn verify_on_sets_finds_what_the_enumeration_finds_after_a_hand_edit(case in any::<prop::sample::Index>(), manifest in any::<prop::sample::Index>(), point in any::<prop::sample::Index>()) {
        let cases = gateway_cases();
        let (ir, set) = case.get(&cases);
        let mut rendered = render_set(ir, set, Mode::Enforce).unwrap_or_else(|e| panic!("{e}"));
        let count: usize = rendered.iter().map(|(_, m)| m.len()).sum();
        prop_assume!(count > 0);
        let mut which = manifest.index(count);
        let Some(edited) = rendered.iter_mut().flat_map(|(_, m)| m.iter_mut()).find(|_| {
            let hit = which == 0;
            which = which.saturating_sub(1);
            hit
        }) else { return Ok(()) };
        let mut points = Vec::new();
        edit_points(&edited.object["spec"], &mut vec!["spec".to_string()], &mut points);
        prop_assume!(!points.is_empty());
        let path = point.get(&points).clone();
        remove_at(&mut edited.object, &path);
        let what = format!("{} {}: removed {}", edited.object["kind"], edited.object["metadata"]["name"], path.join("."));
        if let Err(problem) = verifies_agree(ir, &rendered) {
            prop_assert!(false, "{what}\n{problem}");
        }
    }
}
