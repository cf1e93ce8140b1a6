//! Cilium endpoint selectors as sets of pod classes, by the universe's
//! label and namespace indexes: the reading of `evaluate::selects`, where a
//! key may carry a source prefix (`k8s:`, `any:`), the namespace is a label,
//! and so are the namespace's own labels.

use palisade_relation::{ClassSet, Universe};
use serde_json::Value;
use std::collections::HashMap;

/// The label Cilium gives a pod for its namespace (after its source prefix)
const NAMESPACE_KEY: &str = "io.kubernetes.pod.namespace";

/// The prefix of the labels Cilium copies from the pod's namespace
const NAMESPACE_LABELS: &str = "io.cilium.k8s.namespace.labels.";

/// Endpoint selectors read into classes, memoised by their text and the
/// namespace they are read in (many rules name the same selectors)
pub(super) struct Selectors<'u, 'm> {
    universe: &'u Universe<'m>,
    memo: HashMap<(String, String), ClassSet>,
}

impl<'u, 'm> Selectors<'u, 'm> {
    pub(super) fn new(universe: &'u Universe<'m>) -> Self {
        Self {
            universe,
            memo: HashMap::new(),
        }
    }

    /// The pods an endpoint selector selects, as `evaluate::selects` reads
    /// it: without a namespace label, only pods of the policy's namespace
    pub(super) fn endpoints(&mut self, selector: &Value, namespace: &str) -> ClassSet {
        let names_namespace = |key: &str| key.ends_with(NAMESPACE_KEY);
        let labels = selector.get("matchLabels").and_then(Value::as_object);
        let expressions = selector.get("matchExpressions").and_then(Value::as_array);
        let mentions = labels.is_some_and(|m| m.keys().any(|k| names_namespace(k)))
            || expressions
                .into_iter()
                .flatten()
                .any(|e| e["key"].as_str().is_some_and(names_namespace));
        let scope = if mentions { "" } else { namespace };
        let memo_key = (scope.to_string(), selector.to_string());
        if let Some(known) = self.memo.get(&memo_key) {
            return known.clone();
        }
        let mut set = if mentions {
            self.universe.pods()
        } else {
            self.universe.pods_in(namespace)
        };
        for (key, value) in labels.into_iter().flatten() {
            set &= match value.as_str() {
                Some(value) => self.with(key, value),
                None => self.universe.pods() - self.with_key(key),
            };
        }
        for expression in expressions.into_iter().flatten() {
            self.narrow(&mut set, expression);
        }
        self.memo.insert(memo_key, set.clone());
        set
    }

    /// One `matchExpressions` entry; an unknown operator selects nothing
    fn narrow(&self, set: &mut ClassSet, expression: &Value) {
        let key = expression["key"].as_str();
        let values = expression["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        let with_any = key.map_or_else(ClassSet::new, |k| {
            values.fold(ClassSet::new(), |acc, v| acc | self.with(k, v))
        });
        let with_key = key.map_or_else(ClassSet::new, |k| self.with_key(k));
        match expression["operator"].as_str() {
            Some("In") => *set &= with_any,
            Some("NotIn") => *set -= with_any,
            Some("Exists") => *set &= with_key,
            Some("DoesNotExist") => *set -= with_key,
            _ => set.clear(),
        }
    }

    /// The pods whose Cilium label `key` (source prefix dropped) is `value`
    fn with(&self, key: &str, value: &str) -> ClassSet {
        let universe = self.universe;
        let key = strip_source(key);
        if key == NAMESPACE_KEY {
            return universe.pods_in(value);
        }
        if let Some(label) = key.strip_prefix(NAMESPACE_LABELS) {
            return universe.pods_in_namespaces(|ns| ns.labels.get(label).map(String::as_str) == Some(value));
        }
        universe.pods_with(key, value)
    }

    /// The pods that carry Cilium label `key`, whatever its value
    fn with_key(&self, key: &str) -> ClassSet {
        let universe = self.universe;
        let key = strip_source(key);
        if key == NAMESPACE_KEY {
            return universe.pods();
        }
        if let Some(label) = key.strip_prefix(NAMESPACE_LABELS) {
            return universe.pods_in_namespaces(|ns| ns.labels.contains_key(label));
        }
        universe.pods_with_key(key)
    }
}

/// A label key without its `k8s:` or `any:` source
fn strip_source(key: &str) -> &str {
    key.strip_prefix("k8s:")
        .or_else(|| key.strip_prefix("any:"))
        .unwrap_or(key)
}
