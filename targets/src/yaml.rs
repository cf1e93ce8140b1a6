//! The block-style YAML of a rendered object, written directly.
//!
//! libyaml's emitter (behind serde_yaml_ng) was a third of a large compile.
//! Rendered objects are plain trees of short identifiers, so this writer lays
//! them out itself, byte for byte as serde_yaml_ng would (a differential test
//! holds it to that), and asks serde_yaml_ng only about scalars it cannot
//! place as plain text at a glance. Anything it does not handle (a key that
//! needs quoting, a string over several lines) makes it give up, and the
//! caller renders the whole object through serde_yaml_ng instead.

use serde_json::Value;
use std::fmt::Write;

/// Append the object as YAML with keys sorted at every level; false (and
/// `out` as it was) where serde_yaml_ng must decide
pub(crate) fn write(out: &mut String, value: &Value) -> bool {
    let start = out.len();
    let written = match value {
        Value::Object(map) if !map.is_empty() => mapping(out, map, 0, false),
        Value::Array(items) if !items.is_empty() => sequence(out, items, 0, false),
        other => scalar_or_empty(out, other).map(|()| out.push('\n')),
    };
    if written.is_none() {
        out.truncate(start);
    }
    written.is_some()
}

/// `key: value` lines at `indent`; `after_dash` when the first key goes on the
/// line a sequence dash already began
fn mapping(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize, after_dash: bool) -> Option<()> {
    for (i, (key, value)) in crate::manifest::sorted_entries(map).into_iter().enumerate() {
        if i > 0 || !after_dash {
            pad(out, indent);
        }
        if !is_plain_key(key) {
            return None;
        }
        out.push_str(key);
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                mapping(out, inner, indent + 2, false)?;
            }
            // libyaml puts a mapping's sequence at the mapping's own indent
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                sequence(out, items, indent, false)?;
            }
            other => {
                out.push(' ');
                scalar_or_empty(out, other)?;
                out.push('\n');
            }
        }
    }
    Some(())
}

/// `- item` lines at `indent`; `after_dash` as for [`mapping`]
fn sequence(out: &mut String, items: &[Value], indent: usize, after_dash: bool) -> Option<()> {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !after_dash {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => mapping(out, inner, indent + 2, true)?,
            // a nested sequence starts on the dash line too
            Value::Array(inner) if !inner.is_empty() => sequence(out, inner, indent + 2, true)?,
            other => {
                scalar_or_empty(out, other)?;
                out.push('\n');
            }
        }
    }
    Some(())
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar, `{}` or `[]`, on the current line
fn scalar_or_empty(out: &mut String, value: &Value) -> Option<()> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            let _ = write!(out, "{n}");
        }
        Value::Number(n) => out.push_str(&single_line(&serde_yaml_ng::to_string(&n.as_f64()?).ok()?)?),
        Value::String(s) if is_plain(s) => out.push_str(s),
        Value::String(s) => out.push_str(&single_line(&serde_yaml_ng::to_string(s).ok()?)?),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
    Some(())
}

/// serde_yaml_ng's rendering of a lone scalar, if it fits on one line
fn single_line(rendered: &str) -> Option<String> {
    let line = rendered.strip_suffix('\n')?;
    (!line.contains('\n') && !line.starts_with(['|', '>'])).then(|| line.to_string())
}

/// Text that libyaml writes plain in block context (serde_yaml_ng never asks
/// for flow style) and that no YAML reader takes for a null, a boolean or a
/// number. Conservative: whatever might be a number, or starts with an
/// indicator, is left to serde_yaml_ng.
fn is_plain(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    let starts_clean = !first.is_ascii_digit() && !b"+-.~ #,[]{}&*!|>'\"%@`?:".contains(first);
    starts_clean
        && *last != b' '
        && *last != b':'
        && bytes.iter().all(|b| (0x20..=0x7e).contains(b))
        && !s.contains(": ")
        && !s.contains(" #")
        && !matches!(
            s,
            "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
        )
}

/// A mapping key libyaml writes as a plain simple key (longer ones become
/// `? key` entries)
fn is_plain_key(s: &str) -> bool {
    s.len() <= 128 && is_plain(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    fn write(value: &Value) -> Option<String> {
        let mut out = String::new();
        super::write(&mut out, value).then_some(out)
    }
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn reference(value: &Value) -> String {
        serde_yaml_ng::to_string(&crate::manifest::Sorted(value)).unwrap()
    }

    #[test]
    fn lays_out_a_policy_as_serde_yaml_ng_does() {
        let policy = json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "backend", "namespace": "shop", "labels": {"app.kubernetes.io/managed-by": "palisade"},
                         "annotations": {"palisade.dev/source": "intents/shop.yaml:12:5"}},
            "spec": {"podSelector": {"matchLabels": {"app": "backend"}}, "policyTypes": ["Ingress", "Egress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}, "namespaceSelector": {}}],
                                  "ports": [{"port": 8080, "protocol": "TCP"}, {"port": "http"}]}],
                     "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}, {}],
                     "nested": [[1, 2], [], [{"a": "yes", "b": "8080", "c": "true", "d": "~", "e": "a: b", "f": 1.5, "g": "", "h": "app == 'x' && b != 'y'", "k8s:io.ns": "x:y"}]]}
        });
        assert_eq!(write(&policy).unwrap(), reference(&policy));
    }

    #[test]
    fn gives_up_on_keys_that_need_quotes_and_strings_over_lines() {
        assert_eq!(write(&json!({"a: b": 1})), None);
        assert_eq!(write(&json!({"k".repeat(129): 1})), None);
        assert_eq!(write(&json!({"a": "line\nline"})), None);
    }

    fn values() -> impl Strategy<Value = Value> {
        let word = prop_oneof![
            "[a-z][a-z0-9./_-]{0,12}",
            "[ -~]{0,10}",
            "[a-z :#'=&-]{1,12}",
            Just("true".to_string()),
            Just("0x1F".to_string()),
            Just("-".to_string()),
            Just(String::new()),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            word.clone().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(word.clone(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Differential: wherever the writer answers, it answers as serde_yaml_ng
        #[test]
        fn agrees_with_serde_yaml_ng(value in values()) {
            if let Some(text) = write(&value) {
                prop_assert_eq!(text, reference(&value));
            }
        }
    }
}
