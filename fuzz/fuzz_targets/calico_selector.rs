//! Any text as a Calico selector: parsing never panics (nor overflows the
//! stack), a parsed selector evaluates in every scope, and a rendered
//! selector parses back and selects the labels it was rendered from.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_targets::calico::selector::{render, Scope, Selector};
use std::collections::BTreeMap;

fuzz_target!(|text: &str| {
    // Labels taken from the input too, so that evaluation sees keys the
    // selector names: `k=v` pairs split on whitespace.
    let labels: BTreeMap<String, String> = text
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Ok(selector) = Selector::parse(text) {
        for scope in [Scope::PLAIN, Scope::namespace_of(true), Scope::namespace_of(false)] {
            let _ = selector.matches_in(&labels, scope);
        }
    }
    // What palisade writes must be what Calico reads, for every label
    // Kubernetes accepts (a name: alphanumeric at both ends, `-_.` inside,
    // at most 63; a key may have a DNS prefix and `/`)
    let name = |s: &str| {
        s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let key = |s: &str| match s.split_once('/') {
        Some((prefix, rest)) => {
            prefix.len() <= 253
                && prefix
                    .split('.')
                    .all(|l| name(l) && !l.contains(['_', '.']) && l == l.to_ascii_lowercase())
                && name(rest)
        }
        None => name(s),
    };
    let label_like = |k: &str, v: &str| key(k) && (v.is_empty() || name(v));
    if labels.iter().all(|(k, v)| label_like(k, v)) {
        let rendered = render(&labels);
        match Selector::parse(&rendered) {
            Ok(back) => assert!(back.matches(&labels), "{rendered} does not select {labels:?}"),
            Err(e) => panic!("palisade wrote `{rendered}`, which does not parse: {e}"),
        }
    }
});
