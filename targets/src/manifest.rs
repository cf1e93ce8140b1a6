//! A rendered Kubernetes object, and its deterministic YAML form.

use serde_json::Value;
use serde_yaml_ng::{Mapping, Value as Yaml};

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

    fn str_at(&self, pointer: &str) -> &str {
        self.object.pointer(pointer).and_then(Value::as_str).unwrap_or("")
    }

    /// apiVersion
    pub fn api_version(&self) -> &str {
        self.str_at("/apiVersion")
    }

    /// kind
    pub fn kind(&self) -> &str {
        self.str_at("/kind")
    }

    /// metadata.name
    pub fn name(&self) -> &str {
        self.str_at("/metadata/name")
    }

    /// metadata.namespace (empty for cluster-scoped objects)
    pub fn namespace(&self) -> &str {
        self.str_at("/metadata/namespace")
    }

    /// The `palisade.dev/source` annotation
    pub fn source(&self) -> Option<String> {
        self.object
            .pointer("/metadata/annotations")
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

    /// `<kind>-<name>.yaml`, lower-case kind
    pub fn file_name(&self) -> String {
        format!("{}-{}.yaml", self.kind().to_ascii_lowercase(), self.name())
    }

    /// YAML with keys sorted at every level, whatever serde_json's map order
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(&sorted(&self.object)).unwrap_or_default()
    }

    /// A stable digest of the object (FNV-1a over its sorted YAML): what the
    /// controller compares to see whether an enforced object changed
    pub fn digest(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.to_yaml().bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}")
    }

    /// The key objects are sorted by in every output
    pub fn sort_key(&self) -> (String, String, String) {
        (
            self.namespace().to_string(),
            self.kind().to_string(),
            self.name().to_string(),
        )
    }
}

/// A YAML value with mapping keys in sorted order
fn sorted(value: &Value) -> Yaml {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Mapping::new();
            for key in keys {
                if let Some(v) = map.get(key) {
                    out.insert(Yaml::String(key.clone()), sorted(v));
                }
            }
            Yaml::Mapping(out)
        }
        Value::Array(items) => Yaml::Sequence(items.iter().map(sorted).collect()),
        Value::String(s) => Yaml::String(s.clone()),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Yaml::Number(u.into()),
            (None, Some(i)) => Yaml::Number(i.into()),
            _ => Yaml::Number(n.as_f64().unwrap_or(0.0).into()),
        },
        Value::Bool(b) => Yaml::Bool(*b),
        Value::Null => Yaml::Null,
    }
}

/// Objects in output order: namespace, kind, name
pub fn sort(manifests: &mut [Manifest]) {
    manifests.sort_by_key(Manifest::sort_key);
}

/// A multi-document YAML stream
pub fn to_stream(manifests: &[Manifest]) -> String {
    manifests.iter().map(|m| format!("---\n{}", m.to_yaml())).collect()
}
