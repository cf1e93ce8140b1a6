//! The CEL validation rules of the upstream CRDs (../shared/schemas/*.cel.json)
//! hold for every emitted object: the API server checks them on apply, and
//! jsonschema cannot. Each rule is evaluated with a CEL interpreter at its path
//! (`[]` iterates a list, `{*}` a map's values), `self` bound to the value.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod common;

use cel_interpreter::{Context, Program, Value as Cel};
use common::{compile_dir, examples};
use palisade_targets::Mode;
use serde_json::Value;

/// The values a rule path selects in an object
fn at_path<'v>(object: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut current = vec![object];
    for segment in path.trim_start_matches('.').split('.').filter(|s| !s.is_empty()) {
        let (name, each) = match (segment.strip_suffix("[]"), segment.strip_suffix("{*}")) {
            (Some(n), _) => (n, Some("list")),
            (_, Some(n)) => (n, Some("map")),
            _ => (segment, None),
        };
        current = current
            .into_iter()
            .filter_map(|v| v.get(name))
            .flat_map(|v| match (each, v) {
                (Some("list"), Value::Array(items)) => items.iter().collect::<Vec<_>>(),
                (Some("map"), Value::Object(map)) => map.values().collect(),
                (None, v) => vec![v],
                _ => Vec::new(),
            })
            .collect();
    }
    current
}

fn holds(rule: &str, value: &Value) -> Result<bool, String> {
    let program = Program::compile(rule).map_err(|e| format!("compile: {e}"))?;
    let mut context = Context::default();
    context
        .add_variable("self", value.clone())
        .map_err(|e| format!("bind: {e}"))?;
    match program.execute(&context) {
        Ok(Cel::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("not a boolean: {other:?}")),
        Err(e) => Err(format!("execute: {e}")),
    }
}

#[test]
fn every_emitted_object_satisfies_the_upstream_cel_rules() {
    let Some(dir) = common::schemas_dir() else { return };
    let index: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let mut evaluated = 0;
    for example in examples() {
        let ir = compile_dir(&example);
        let set = common::project_targets(&example);
        for mode in [Mode::Enforce, Mode::Audit] {
            for (_, manifests) in common::render_set(&ir, &set, mode).unwrap() {
                for m in &manifests {
                    let key = format!("{} {}", m.api_version(), m.kind());
                    for entry in index[&key].as_array().into_iter().flatten() {
                        let Some(schema) = entry["schema"].as_str() else {
                            continue;
                        };
                        let cel = dir.join(schema.replace(".schema.json", ".cel.json"));
                        let Ok(text) = std::fs::read_to_string(&cel) else {
                            continue;
                        };
                        let rules: Value = serde_json::from_str(&text).unwrap();
                        for rule in rules["rules"].as_array().into_iter().flatten() {
                            let (path, expr) = (
                                rule["path"].as_str().unwrap_or(""),
                                rule["rule"].as_str().unwrap_or("true"),
                            );
                            for value in at_path(&m.object, path) {
                                let result = holds(expr, value);
                                assert_eq!(
                                    result,
                                    Ok(true),
                                    "{} {}: `{expr}` at {path} on {value}",
                                    example.display(),
                                    m.reference()
                                );
                                evaluated += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        evaluated > 10,
        "only {evaluated} rule evaluations: the paths no longer match the emitted objects"
    );
}

#[test]
fn the_cel_check_catches_a_broken_object() {
    let entry = serde_json::json!({ "hosts": ["*"] });
    assert_eq!(holds("self != \"*\"", &entry["hosts"][0]), Ok(false));
    let ports = serde_json::json!([{ "number": 443 }, { "number": 443 }]);
    assert_eq!(
        holds("self.all(l1, self.exists_one(l2, l1.number == l2.number))", &ports),
        Ok(false)
    );
}
