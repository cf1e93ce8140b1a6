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
