//! The selector grammar against hand-checked tables. Each row follows the
//! selector table of https://docs.tigera.io/calico/latest/reference/resources/networkpolicy#selectors
//! and, where the doc is silent, Calico's tokenizer and parser
//! (libcalico-go/lib/selector/tokenizer/tokenizer.go, parser/parser.go).

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn verdict(text: &str, on: &BTreeMap<String, String>) -> bool {
    Selector::parse(text)
        .unwrap_or_else(|e| panic!("`{text}` should parse: {e}"))
        .matches(on)
}

#[test]
fn verdict_table_of_every_operator() {
    let pod = labels(&[("app", "web-frontend"), ("tier", "front")]);
    // (selector, verdict on {app: web-frontend, tier: front}, doc rule)
    let table: &[(&str, bool, &str)] = &[
        ("all()", true, "all(): match all resources"),
        ("", true, "an empty selector is all()"),
        ("   ", true, "blanks only: all()"),
        ("global()", true, "global() outside a namespaceSelector evaluates true"),
        ("app == 'web-frontend'", true, "k == 'v': label k is v"),
        ("app == \"web-frontend\"", true, "double quotes are literals too"),
        ("app == 'web'", false, "== is exact, not a prefix"),
        ("app != 'db'", true, "k != 'v': k is not v"),
        ("zone != 'a'", true, "!= also matches when k is absent"),
        ("app in {'a', 'web-frontend'}", true, "k in { 'v1', 'v2' }"),
        ("app in {}", false, "an empty set matches nothing"),
        ("zone in {'a'}", false, "in needs the label"),
        ("app not in {'db'}", true, "k not in { ... }"),
        ("zone not in {'a'}", true, "not in matches when k is absent"),
        ("app notin {'db'}", true, "the tokenizer takes `notin` as one operator"),
        ("app in {'web-frontend',}", true, "a trailing comma is accepted"),
        ("has(tier)", true, "has(k): k present, any value"),
        ("has( tier )", true, "blanks inside has()"),
        ("!has(zone)", true, "! negates"),
        ("!!has(tier)", true, "repeated ! collapse"),
        ("app contains 'front'", true, "k contains 's': substring"),
        ("app contains 'back'", false, "contains is a substring test"),
        ("zone contains ''", false, "contains needs the label"),
        ("app starts with 'web-'", true, "k starts with 's'"),
        ("app starts with 'front'", false, "starts with is a prefix test"),
        ("app startswith 'web'", true, "no blank needed between the words"),
        ("app ends with 'end'", true, "k ends with 's'"),
        ("app ends with 'web'", false, "ends with is a suffix test"),
        ("app == 'x' || tier == 'front'", true, "|| : either"),
        ("app == 'x' && tier == 'front'", false, "&& : both"),
        // && binds tighter than ||: a || (b && c), not (a || b) && c
        (
            "tier == 'front' || app == 'x' && has(zone)",
            true,
            "&& binds tighter than ||",
        ),
        (
            "(tier == 'front' || app == 'x') && has(zone)",
            false,
            "parentheses group",
        ),
        (
            "!(app == 'x' || has(zone))",
            true,
            "! applies to a parenthesised expression",
        ),
        ("!app == 'x'", true, "! applies to one operation: !(app == 'x')"),
        ("!all()", false, "!all() matches nothing"),
        ("\tapp == 'web-frontend'\t", true, "tabs are blanks"),
    ];
    for (text, expected, rule) in table {
        assert_eq!(verdict(text, &pod), *expected, "`{text}`: {rule}");
    }
}

#[test]
fn text_calico_refuses_is_an_error_not_a_selector_that_matches_nothing() {
    let table: &[(&str, &str)] = &[
        ("app ==", "a comparison needs a literal"),
        ("app = 'x'", "`=` is not an operator"),
        ("app == x", "the value must be quoted"),
        ("(app == 'x'", "unbalanced parenthesis"),
        ("app == 'x')", "trailing parenthesis"),
        ("has(", "has( needs a label and )"),
        (
            "has (app)",
            "`has` is a call only when written `has(`: then a label `has` wants an operator",
        ),
        ("all ()", "likewise all()"),
        ("app in {'a'", "unterminated set"),
        ("app in 'a'", "in takes a set"),
        ("app in {'a' 'b'}", "set values are comma-separated"),
        ("app in {,}", "a set does not start with a comma"),
        ("app == 'x' & b == 'y'", "single &"),
        ("app == 'x' | b == 'y'", "single |"),
        ("app == 'x' b == 'y'", "two operations need && or ||"),
        ("app == 'x' &&", "&& needs a right side"),
        ("app", "a bare label is not an operation"),
        ("app like 'x'", "unknown operator"),
        ("app == 'x\nb'", "no: a newline inside a literal is fine for Calico"),
        ("app == 'x' &&\nb == 'y'", "a newline between tokens is not a blank"),
        ("app == 'unterminated", "unterminated string"),
        ("app startswith", "starts with needs a literal"),
        ("app == 'x' || || b == 'y'", "|| needs an operand"),
    ];
    for (text, why) in table {
        let result = Selector::parse(text);
        if why.starts_with("no:") {
            assert!(result.is_ok(), "`{text}` is valid: {result:?}");
        } else {
            assert!(result.is_err(), "`{text}` must be refused ({why}), got {result:?}");
        }
    }
    let long = format!("{} == 'x'", "k".repeat(MAX_LABEL + 1));
    assert!(
        Selector::parse(&long).is_err(),
        "labels over 512 characters are refused"
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let e = Selector::parse("app like 'x'").unwrap_err();
    assert!(e.message.contains("operator after label `app`"), "{e}");
    let e = Selector::parse("app == 'x").unwrap_err();
    assert_eq!(e.message, "unterminated string");
}

#[test]
fn all_and_global_in_a_namespace_selector() {
    // rules.go getEndpointSelector: all() becomes has(projectcalico.org/namespace),
    // global() becomes !has(projectcalico.org/namespace)
    let ns = labels(&[("env", "prod")]);
    let none = labels(&[]);
    let all = Selector::parse("all()").unwrap();
    let global = Selector::parse("global()").unwrap();
    assert!(all.matches_in(&ns, Scope::namespace_of(true)));
    assert!(!all.matches_in(&none, Scope::namespace_of(false)));
    assert!(!global.matches_in(&ns, Scope::namespace_of(true)));
    assert!(global.matches_in(&none, Scope::namespace_of(false)));
    let either = Selector::parse("env == 'prod' || global()").unwrap();
    assert!(either.matches_in(&ns, Scope::namespace_of(true)));
    assert!(either.matches_in(&none, Scope::namespace_of(false)));
}

#[test]
fn a_keyword_is_a_label_where_calico_reads_one() {
    // `in`, `has`, `all` are keywords only in their positions
    let l = labels(&[("in", "x"), ("has", "y"), ("all", "z"), ("contains", "w")]);
    for text in ["in == 'x'", "has == 'y'", "all == 'z'", "contains == 'w'", "has(in)"] {
        assert!(verdict(text, &l), "{text}");
    }
}

#[test]
fn rendered_selectors_parse_back() {
    let l = labels(&[("app.kubernetes.io/name", "x"), ("b", "y")]);
    assert_eq!(Selector::parse(&render(&l)).map(|s| s.matches(&l)), Ok(true));
    assert_eq!(render(&labels(&[])), "all()");
}

#[test]
fn hostile_nesting_and_length_are_errors_not_a_stack_overflow() {
    let deep = format!("{}a == 'b'{}", "(".repeat(8000), ")".repeat(8000));
    assert!(Selector::parse(&deep).is_err());
    let fine = format!("{}a == 'b'{}", "(".repeat(64), ")".repeat(64));
    assert_eq!(
        Selector::parse(&fine).map(|s| s.matches(&labels(&[("a", "b")]))),
        Ok(true)
    );
    let long = vec!["a == 'b'"; 300_000].join(" || ");
    assert!(Selector::parse(&long).is_err());
}
