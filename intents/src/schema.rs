//! JSON Schema of the kinds, for editors (yaml-language-server) and CRDs.

use crate::types::{GuardrailsDocument, IntentsDocument, ProjectDocument};
use schemars::{generate::SchemaSettings, Schema};
use serde_json::{Map, Value};

/// The schema of `kind: Intents`
pub fn intents() -> Schema {
    SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<IntentsDocument>()
}

/// The schema of `kind: Guardrails`
pub fn guardrails() -> Schema {
    SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<GuardrailsDocument>()
}

/// The schema of `kind: Project`
pub fn project() -> Schema {
    SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<ProjectDocument>()
}

/// One schema accepting every kind, chosen by `kind`: what an editor points
/// at. The kinds' definitions move to the root, where their `$ref`s point.
pub fn combined() -> Value {
    let mut definitions = Map::new();
    let mut body = |schema: Schema| -> Value {
        let mut value = schema.to_value();
        if let Some(map) = value.as_object_mut() {
            map.remove("$schema");
            if let Some(Value::Object(defs)) = map.remove("definitions") {
                definitions.extend(defs);
            }
        }
        value
    };
    let intents = body(intents());
    let project = body(project());
    let guardrails = body(guardrails());
    serde_json::json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "palisade intents and project files",
        "if": { "properties": { "kind": { "const": "Project" } } },
        "then": project,
        "else": {
            "if": { "properties": { "kind": { "const": "Guardrails" } } },
            "then": guardrails,
            "else": intents,
        },
        "definitions": definitions,
    })
}
