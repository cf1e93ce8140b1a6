//! The terse rule: `SOURCES -> DESTINATIONS [PORTS]`, each a comma-separated list.
//!
//! Whitespace around commas is allowed; whitespace without a comma ends a list,
//! so `a, b -> c tcp/80, udp/53` has two sources, one destination, two ports.
//! Offsets are kept so errors underline the exact word.

use crate::syntax::{PeerSyntax, PortSpec, SyntaxError};

/// A word of the rule and where it starts (byte offset into the rule text)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word<T> {
    /// byte offset into the rule text
    pub offset: usize,
    /// byte length
    pub len: usize,
    /// the parsed value
    pub value: T,
}

/// A parsed terse rule
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerseRule {
    /// the sources
    pub from: Vec<Word<PeerSyntax>>,
    /// the destinations
    pub to: Vec<Word<PeerSyntax>>,
    /// the ports (empty = all)
    pub ports: Vec<Word<PortSpec>>,
}

/// Parse a terse rule; all errors in it are returned, not only the first
pub fn parse(text: &str) -> Result<TerseRule, Vec<SyntaxError>> {
    let Some(arrow) = text.find("->") else {
        return Err(vec![SyntaxError {
            code: "bad_rule",
            offset: 0,
            len: text.len(),
            message: "a rule needs `->` between sources and destinations".into(),
            help: Some("write `SOURCES -> DESTINATIONS [PORTS]`, e.g. `frontend -> backend tcp/8080`".into()),
        }]);
    };
    if let Some(second) = text.get(arrow + 2..).and_then(|rest| rest.find("->")) {
        return Err(vec![SyntaxError {
            code: "bad_rule",
            offset: arrow + 2 + second,
            len: 2,
            message: "a rule has one `->`".into(),
            help: Some("split chains like `a -> b -> c` into two rules".into()),
        }]);
    }
    let left = lists(text.get(..arrow).unwrap_or(""), 0);
    let right = lists(text.get(arrow + 2..).unwrap_or(""), arrow + 2);
    let mut errors = Vec::new();
    let missing = |offset: usize, what: &str| SyntaxError {
        code: "bad_rule",
        offset,
        len: 2,
        message: format!("no {what} before or after `->`"),
        help: Some("write `SOURCES -> DESTINATIONS [PORTS]`, e.g. `frontend -> backend tcp/8080`".into()),
    };
    if left.len() > 1 {
        let extra = &left[1][0];
        errors.push(SyntaxError {
            code: "bad_rule",
            offset: extra.0,
            len: extra.1.len(),
            message: format!("unexpected `{}` among the sources", extra.1),
            help: Some("separate several sources with commas: `a, b -> c`".into()),
        });
    }
    if let Some(extra) = right.get(2).and_then(|l| l.first()) {
        errors.push(SyntaxError {
            code: "bad_rule",
            offset: extra.0,
            len: extra.1.len(),
            message: format!("unexpected `{}` after the ports", extra.1),
            help: Some("separate several ports with commas: `tcp/80, tcp/443`".into()),
        });
    }
    let peers = |list: Option<&Vec<(usize, &str)>>, errors: &mut Vec<SyntaxError>| -> Vec<Word<PeerSyntax>> {
        let mut out = Vec::new();
        for (offset, word) in list.into_iter().flatten() {
            match PeerSyntax::parse(word) {
                Ok(value) => out.push(Word {
                    offset: *offset,
                    len: word.len(),
                    value,
                }),
                Err(e) => errors.push(e.shifted(*offset)),
            }
        }
        out
    };
    let from = peers(left.first(), &mut errors);
    let to = peers(right.first(), &mut errors);
    let mut ports = Vec::new();
    for (offset, word) in right.get(1).into_iter().flatten() {
        match PortSpec::parse(word) {
            Ok(value) => ports.push(Word {
                offset: *offset,
                len: word.len(),
                value,
            }),
            Err(e) => errors.push(e.shifted(*offset)),
        }
    }
    if left.is_empty() {
        errors.push(missing(arrow, "sources"));
    }
    if right.is_empty() {
        errors.push(missing(arrow, "destinations"));
    }
    if errors.is_empty() {
        Ok(TerseRule { from, to, ports })
    } else {
        errors.sort_by_key(|e| e.offset);
        Err(errors)
    }
}

/// Split into whitespace-separated lists of comma-separated words, with offsets
fn lists<'t>(text: &'t str, base: usize) -> Vec<Vec<(usize, &'t str)>> {
    let mut result: Vec<Vec<(usize, &'t str)>> = Vec::new();
    let mut continues = false; // the last separator seen was a comma
    let mut start: Option<usize> = None;
    let finish = |start: usize, end: usize, continues: bool, result: &mut Vec<Vec<(usize, &'t str)>>| {
        let word = text.get(start..end).unwrap_or("");
        match result.last_mut() {
            Some(list) if continues => list.push((base + start, word)),
            _ => result.push(vec![(base + start, word)]),
        }
    };
    for (i, c) in text.char_indices() {
        if c.is_whitespace() || c == ',' {
            if let Some(s) = start.take() {
                finish(s, i, continues, &mut result);
                continues = false;
            }
            if c == ',' {
                continues = true;
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        finish(s, text.len(), continues, &mut result);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::PortNumber;

    fn names(words: &[Word<PeerSyntax>]) -> Vec<String> {
        words.iter().map(|w| format!("{:?}@{}", w.value, w.offset)).collect()
    }

    #[test]
    fn lists_split_on_commas_and_whitespace() {
        let Ok(rule) = parse("a, b -> c tcp/80, udp/53") else {
            unreachable!()
        };
        assert_eq!(rule.from.len(), 2);
        assert_eq!(names(&rule.to), vec![r#"Service { namespace: None, name: "c" }@8"#]);
        assert_eq!(
            rule.ports.iter().map(|p| p.value.to_string()).collect::<Vec<_>>(),
            vec!["tcp/80", "udp/53"]
        );
        assert_eq!(rule.ports.first().map(|p| p.offset), Some(10));
    }

    #[test]
    fn no_ports_means_all_ports() {
        let Ok(rule) = parse("frontend->backend") else {
            unreachable!()
        };
        assert!(rule.ports.is_empty());
        assert_eq!(rule.to.len(), 1);
    }

    #[test]
    fn errors_point_at_the_bad_word() {
        let errors = parse("frontend -> backend tcp/99999").err().unwrap_or_default();
        assert_eq!(
            errors.iter().map(|e| (e.offset, e.code)).collect::<Vec<_>>(),
            vec![(24, "bad_port")]
        );
        let errors = parse("frontend backend -> x").err().unwrap_or_default();
        assert_eq!(errors.first().map(|e| e.offset), Some(9));
        assert!(parse("a -> b -> c").is_err());
        assert!(parse("-> b").is_err());
        assert!(parse("a b").is_err());
        assert!(parse("a -> b tcp/80 extra").is_err());
    }

    #[test]
    fn named_ports_are_ports_not_peers() {
        let Ok(rule) = parse("a -> b http") else { unreachable!() };
        assert_eq!(
            rule.ports.first().map(|p| p.value.port.clone()),
            Some(PortNumber::Named("http".into()))
        );
    }
}
