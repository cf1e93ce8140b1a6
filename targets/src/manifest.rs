//! A rendered Kubernetes object, and its deterministic YAML form.

use serde_json::Value;

/// One rendered object
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// the whole object (apiVersion, kind, metadata, spec)
    pub object: Value,
}

/// Labels every palisade object carries, so it can be found and pruned
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "palisade");

/// The annotation naming the intents an object came from
pub const SOURCE_ANNOTATION: &str = "palisade.dev/source";

impl Manifest {
    /// Wrap an object
    pub fn new(object: Value) -> Self {
        Self { object }
    }

    /// An object from its parts, moved in: `json!` would serialise the
    /// metadata and spec trees once more (a third of a large compile)
    pub fn from_parts(api_version: &str, kind: &str, metadata: Value, spec: Value) -> Self {
        let mut object = serde_json::Map::new();
        object.insert("apiVersion".into(), api_version.into());
        object.insert("kind".into(), kind.into());
        object.insert("metadata".into(), metadata);
        object.insert("spec".into(), spec);
        Self {
            object: Value::Object(object),
        }
    }

    fn str_at(&self, path: &[&str]) -> &str {
        self.object.at(path).and_then(Value::as_str).unwrap_or("")
    }

    /// apiVersion
    pub fn api_version(&self) -> &str {
        self.str_at(&["apiVersion"])
    }

    /// kind
    pub fn kind(&self) -> &str {
        self.str_at(&["kind"])
    }

    /// metadata.name
    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"])
    }

    /// metadata.namespace (empty for cluster-scoped objects)
    pub fn namespace(&self) -> &str {
        self.str_at(&["metadata", "namespace"])
    }

    /// The `palisade.dev/source` annotation
    pub fn source(&self) -> Option<String> {
        self.object
            .at(&["metadata", "annotations"])
            .and_then(|a| a.get(SOURCE_ANNOTATION))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// `Kind namespace/name`, as reports name it
    pub fn reference(&self) -> String {
        if self.namespace().is_empty() {
            format!("{} {}", self.kind(), self.name())
        } else {
            format!("{} {}/{}", self.kind(), self.namespace(), self.name())
        }
    }

    /// `<kind>-<name>.yaml`, lower-case kind, cut with a digest where a long
    /// name would pass the file system's limit
    pub fn file_name(&self) -> String {
        let stem = format!("{}-{}", self.kind().to_ascii_lowercase(), self.name());
        format!(
            "{}.yaml",
            crate::names::bounded(&stem, crate::names::FILE_LIMIT - ".yaml".len())
        )
    }

    /// YAML with keys sorted at every level, whatever serde_json's map order
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        self.write_yaml(&mut out);
        out
    }

    /// [`Manifest::to_yaml`], appended to `out` (a stream of ten thousand
    /// objects is built without a copy of each)
    pub fn write_yaml(&self, out: &mut String) {
        crate::yaml::write(out, &self.object);
    }

    /// A stable digest of the object (FNV-1a over its sorted YAML): what the
    /// controller compares to see whether an enforced object changed. What
    /// names the intents' file and line is left out: the
    /// `palisade.dev/source` annotation, and a `spec.log.value` cut from it
    /// (the tag Hubble shows on Cilium's flows). A comment added above a
    /// rule moves every line without changing what the object enforces, and
    /// the same intents read from a folder or from custom resources give the
    /// same digests.
    pub fn digest(&self) -> String {
        let Some(source) = self.source() else {
            return crate::names::hash(&self.to_yaml());
        };
        let mut object = self.object.clone();
        if let Some(annotations) = object
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
            .and_then(Value::as_object_mut)
        {
            annotations.remove(SOURCE_ANNOTATION);
        }
        let first = source.split(", ").next().unwrap_or("");
        let from_source = object
            .at(&["spec", "log", "value"])
            .and_then(Value::as_str)
            .is_some_and(|tag| !tag.is_empty() && first.ends_with(tag));
        if from_source {
            if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("log");
            }
        }
        let mut out = String::new();
        crate::yaml::write(&mut out, &object);
        crate::names::hash(&out)
    }

    /// The key objects are sorted by in every output
    pub fn sort_key(&self) -> (&str, &str, &str) {
        (self.namespace(), self.kind(), self.name())
    }
}

/// Any value as one YAML document (no `---`), keys sorted at every level,
/// by the writer every manifest goes through: each string that a YAML 1.1
/// or 1.2 reader (kubectl's go-yaml, PyYAML, the API server) would resolve
/// to a boolean, a number, a null or a timestamp is quoted, and so is every
/// key too long to be an implicit one. Everything palisade writes as YAML
/// (CRDs, objects for the intents loader) goes through this, not through
/// serde_yaml_ng, which writes `on` or `1_000` plain.
pub fn value_to_yaml(value: &Value) -> String {
    let mut out = String::new();
    crate::yaml::write(&mut out, value);
    out
}

/// Serialises a JSON value with mapping keys in sorted order at every level,
/// without building a copy of it: serde_yaml_ng's layout, which the writer's
/// differential tests hold it to
#[cfg(test)]
pub(crate) struct Sorted<'a>(pub(crate) &'a Value);

#[cfg(test)]
impl serde::Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(map) => {
                let entries = sorted_entries(map);
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &Sorted(value))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&Sorted(item))?;
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// A mapping's entries by key. serde_json's map is already sorted unless a
/// dependency turns on its `preserve_order` feature; then this sorts.
pub(crate) fn sorted_entries(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    if !entries.is_sorted_by(|a, b| a.0 <= b.0) {
        entries.sort_by(|a, b| a.0.cmp(b.0));
    }
    entries
}

/// A field of a JSON tree by its keys. `Value::pointer` unescapes every
/// segment of a JSON pointer, and evaluators ask for fields millions of times
/// in a verification.
pub trait Field {
    /// The value at `path`, one key per level
    fn at(&self, path: &[&str]) -> Option<&Value>;
}

impl Field for Value {
    fn at(&self, path: &[&str]) -> Option<&Value> {
        path.iter().try_fold(self, |value, key| value.get(key))
    }
}

/// Objects in output order: namespace, kind, name
pub fn sort(manifests: &mut [Manifest]) {
    manifests.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}

/// A multi-document YAML stream
pub fn to_stream(manifests: &[Manifest]) -> String {
    let mut out = String::new();
    for manifest in manifests {
        out.push_str("---\n");
        manifest.write_yaml(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail by panicking")]

    use super::*;
    use serde_json::json;

    /// What a YAML 1.1 reader (go-yaml v2 behind kubectl; yaml.org/type/bool.html,
    /// int.html) would take for a boolean or a number, written plain
    fn plain_ambiguous(text: &str) -> Vec<String> {
        ["yes", "on", "off", "no", "1_000", "1:20", "2001-12-14"]
            .iter()
            .filter(|w| {
                text.lines()
                    .any(|l| l.ends_with(&format!(": {w}")) || l.ends_with(&format!("- {w}")))
            })
            .map(|w| w.to_string())
            .collect()
    }

    #[test]
    fn the_digest_ignores_source_lines_and_nothing_else() {
        let at = |source: &str, tag: &str, port: u16| {
            Manifest::new(json!({
                "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                "metadata": {"name": "b", "annotations": {SOURCE_ANNOTATION: source, "x": "y"}},
                "spec": {"port": port, "log": {"value": tag}}
            }))
        };
        let digest = at("intents/shop.yaml:12, intents/shop.yaml:20", "shop.yaml:12", 80).digest();
        assert_eq!(digest, at("intents/shop.yaml:14", "intents/shop.yaml:14", 80).digest());
        assert_eq!(digest, at("Intents shop/shop:9", "Intents shop/shop:9", 80).digest());
        assert_ne!(digest, at("intents/shop.yaml:12", "shop.yaml:12", 81).digest());
        assert_ne!(
            digest,
            at("intents/shop.yaml:12", "something else", 80).digest(),
            "a log value of its own is part of the object"
        );
    }

    #[test]
    fn value_to_yaml_quotes_what_yaml_1_1_reads_otherwise() {
        let value = json!({
            "metadata": {"labels": {"enabled": "yes", "feature": "on"}},
            "spec": {"replicas": "1_000", "values": ["off", "no", "1:20", "2001-12-14"], "count": 3, "flag": true}
        });
        let text = value_to_yaml(&value);
        assert_eq!(plain_ambiguous(&text), Vec::<String>::new(), "{text}");
        assert!(
            text.contains("enabled: 'yes'\n") && text.contains("replicas: '1_000'\n"),
            "{text}"
        );
        assert!(text.contains("count: 3\n") && text.contains("flag: true\n"), "{text}");
        assert_eq!(serde_yaml_ng::from_str::<Value>(&text).unwrap(), value);
        // serde_yaml_ng, which this replaces, writes them plain
        let theirs = serde_yaml_ng::to_string(&value).unwrap();
        assert!(!plain_ambiguous(&theirs).is_empty(), "{theirs}");
    }

    #[test]
    fn a_manifest_with_a_key_over_the_implicit_limit_is_still_quoted_safely() {
        let long = format!("example.com/{}", "k".repeat(1100));
        let manifest = Manifest::new(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": {long.clone(): "on"}},
            "data": {"mode": "yes", "size": "1_000"}
        }));
        let text = manifest.to_yaml();
        assert_eq!(plain_ambiguous(&text), Vec::<String>::new(), "{text}");
        assert!(text.contains(&format!("? \"{long}\"\n    : 'on'\n")), "{text}");
        assert_eq!(serde_yaml_ng::from_str::<Value>(&text).unwrap(), manifest.object);
        assert_eq!(value_to_yaml(&manifest.object), text);
    }
}
