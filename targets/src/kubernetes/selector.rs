//! Kubernetes label selectors (matchLabels and matchExpressions).

use super::{wrong_type, Problem};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;
use std::collections::BTreeMap;

/// What the API server refuses in a label selector at `at`
/// (metav1validation.ValidateLabelSelector): wrong types, unknown fields and
/// operators, values with `Exists`/`DoesNotExist`, none with `In`/`NotIn`
pub(crate) fn validate(value: &Value, at: &str, out: &mut Vec<Problem>) {
    let Some(fields) = value.as_object() else {
        out.push(wrong_type(at, value, "a label selector mapping (`{}` selects all)"));
        return;
    };
    for (key, v) in fields.iter().filter(|(_, v)| !v.is_null()) {
        let here = format!("{at}/{key}");
        match key.as_str() {
            "matchLabels" => match v.as_object() {
                Some(labels) => {
                    for (label, value) in labels {
                        if !value.is_string() {
                            out.push(wrong_type(&format!("{here}/{label}"), value, "a string (quote it)"));
                        }
                    }
                }
                None => out.push(wrong_type(&here, v, "a mapping of labels")),
            },
            "matchExpressions" => match v.as_array() {
                Some(items) => {
                    for (i, e) in items.iter().enumerate() {
                        expression(e, &format!("{here}/{i}"), out);
                    }
                }
                None => out.push(wrong_type(&here, v, "a list of expressions")),
            },
            other => out.push(Problem {
                pointer: here.clone(),
                message: format!("unknown field `{other}`"),
                help: "a label selector has `matchLabels` and `matchExpressions`".into(),
            }),
        }
    }
}

fn expression(e: &Value, at: &str, out: &mut Vec<Problem>) {
    let Some(fields) = e.as_object() else {
        out.push(wrong_type(at, e, "a mapping with `key`, `operator` and `values`"));
        return;
    };
    if !fields.get("key").is_some_and(Value::is_string) {
        out.push(Problem {
            pointer: format!("{at}/key"),
            message: "an expression needs a string `key`".into(),
            help: "write `key: <label>`".into(),
        });
    }
    let values = match fields.get("values") {
        None | Some(Value::Null) => 0,
        Some(Value::Array(items)) => {
            for (i, v) in items.iter().enumerate().filter(|(_, v)| !v.is_string()) {
                out.push(wrong_type(&format!("{at}/values/{i}"), v, "a string (quote it)"));
            }
            items.len()
        }
        Some(other) => {
            out.push(wrong_type(&format!("{at}/values"), other, "a list of strings"));
            return;
        }
    };
    let problem = match fields.get("operator").and_then(Value::as_str) {
        Some("In" | "NotIn") if values == 0 => Some("`In` and `NotIn` need at least one value"),
        Some("Exists" | "DoesNotExist") if values > 0 => Some("`Exists` and `DoesNotExist` take no values"),
        Some("In" | "NotIn" | "Exists" | "DoesNotExist") => None,
        _ => Some("the operator must be `In`, `NotIn`, `Exists` or `DoesNotExist`"),
    };
    if let Some(message) = problem {
        out.push(Problem {
            pointer: format!("{at}/operator"),
            message: message.into(),
            help: "see the label selector reference: In/NotIn with values, Exists/DoesNotExist without".into(),
        });
    }
    for key in fields
        .keys()
        .filter(|k| !matches!(k.as_str(), "key" | "operator" | "values"))
    {
        out.push(Problem {
            pointer: format!("{at}/{key}"),
            message: format!("unknown field `{key}`"),
            help: "an expression has `key`, `operator` and `values`".into(),
        });
    }
}

/// Whether `selector` selects an object with `labels`; an empty selector selects all.
/// An unknown operator selects nothing (the API server would have refused it).
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or(&[]);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}
