//! JSON Schema of both kinds, for editors (yaml-language-server) and CRDs.

use crate::types::{IntentsDocument, ProjectDocument};
use schemars::{generate::SchemaSettings, Schema};

/// The schema of `kind: Intents`
pub fn intents() -> Schema {
    SchemaSettings::draft07().into_generator().into_root_schema_for::<IntentsDocument>()
}

/// The schema of `kind: Project`
pub fn project() -> Schema {
    SchemaSettings::draft07().into_generator().into_root_schema_for::<ProjectDocument>()
}

/// One schema accepting either kind, chosen by `kind`: what an editor points at
pub fn combined() -> serde_json::Value {
    let intents = intents().to_value();
    let project = project().to_value();
    serde_json::json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "palisade intents and project files",
        "if": { "properties": { "kind": { "const": "Project" } } },
        "then": project,
        "else": intents,
    })
}
