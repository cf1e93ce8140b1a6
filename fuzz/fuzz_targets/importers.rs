//! Any YAML stream as manifests, through every importer and the linter.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let mut manifests = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        match <serde_json::Value as serde::Deserialize>::deserialize(document) {
            Ok(value) if value.get("apiVersion").is_some() && value.get("kind").is_some() => {
                manifests.push(palisade_targets::Manifest::new(value))
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
    let context = palisade_targets::import::Context::new(&manifests, None);
    for dialect in palisade_targets::DIALECTS {
        if let Some(imported) = dialect.import(&manifests, &context) {
            let _ = imported.to_intents();
        }
    }
    let _ = palisade_targets::lint::lint(&manifests, None);
});
