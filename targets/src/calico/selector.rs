//! Calico's selector language, parsed as Calico's own tokenizer and parser
//! read it (libcalico-go/lib/selector): `k == 'v'`, `!=`, `in {...}`, `not in
//! {...}`, `contains`, `starts with`, `ends with`, `has(k)`, `all()`,
//! `global()`, `!`, `&&` (binds tighter than `||`), parentheses. Text Calico
//! refuses is an error here too, never a selector that silently matches
//! nothing. Used to write selectors (`render`) and to evaluate them.
//!
//! Doc: https://docs.tigera.io/calico/latest/reference/resources/networkpolicy#selectors

use std::{collections::BTreeMap, fmt};

/// A parsed selector
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// `all()`
    All,
    /// `global()`: in a `namespaceSelector`, the non-namespaced endpoints
    Global,
    /// `k == 'v'`
    Eq(String, String),
    /// `k != 'v'` (also true when `k` is absent)
    Ne(String, String),
    /// `k in {'a', 'b'}`
    In(String, Vec<String>),
    /// `k not in {'a', 'b'}` (also true when `k` is absent)
    NotIn(String, Vec<String>),
    /// `k contains 'v'`
    Contains(String, String),
    /// `k starts with 'v'`
    StartsWith(String, String),
    /// `k ends with 'v'`
    EndsWith(String, String),
    /// `has(k)`
    Has(String),
    /// `!e`
    Not(Box<Selector>),
    /// `a && b`
    And(Box<Selector>, Box<Selector>),
    /// `a || b`
    Or(Box<Selector>, Box<Selector>),
}

/// Why a text is not a selector (the API server refuses such objects)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    /// what is wrong, lower case
    pub message: String,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn error<T>(message: impl Into<String>) -> Result<T, SelectorError> {
    Err(SelectorError {
        message: message.into(),
    })
}

/// What `all()` and `global()` mean where a selector is evaluated: in a
/// policy's or rule's `selector` both match everything (Calico's AST
/// evaluates them to true); in a rule's `namespaceSelector` Calico rewrites
/// `all()` to `has(projectcalico.org/namespace)` and `global()` to its
/// negation (libcalico-go updateprocessors/rules.go getEndpointSelector)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// what `all()` evaluates to
    pub all: bool,
    /// what `global()` evaluates to
    pub global: bool,
}

impl Scope {
    /// A `selector` field: `all()` and `global()` are true
    pub const PLAIN: Scope = Scope {
        all: true,
        global: true,
    };

    /// A rule's `namespaceSelector`, evaluated for a namespaced endpoint
    /// (`true`) or a non-namespaced one (a GlobalNetworkSet)
    pub fn namespace_of(namespaced: bool) -> Scope {
        Scope {
            all: namespaced,
            global: !namespaced,
        }
    }
}

impl Selector {
    /// Whether an object with these labels is selected (`all()`, `global()` true)
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_in(labels, Scope::PLAIN)
    }

    /// Whether an object with these labels is selected, `all()` and `global()` as `scope` says
    pub fn matches_in(&self, labels: &BTreeMap<String, String>, scope: Scope) -> bool {
        let value = |k: &String| labels.get(k);
        match self {
            Selector::All => scope.all,
            Selector::Global => scope.global,
            Selector::Eq(k, v) => value(k) == Some(v),
            Selector::Ne(k, v) => value(k) != Some(v),
            Selector::In(k, vs) => value(k).is_some_and(|v| vs.contains(v)),
            Selector::NotIn(k, vs) => value(k).is_none_or(|v| !vs.contains(v)),
            Selector::Contains(k, v) => value(k).is_some_and(|x| x.contains(v.as_str())),
            Selector::StartsWith(k, v) => value(k).is_some_and(|x| x.starts_with(v.as_str())),
            Selector::EndsWith(k, v) => value(k).is_some_and(|x| x.ends_with(v.as_str())),
            Selector::Has(k) => labels.contains_key(k),
            Selector::Not(e) => !e.matches_in(labels, scope),
            Selector::And(a, b) => a.matches_in(labels, scope) && b.matches_in(labels, scope),
            Selector::Or(a, b) => a.matches_in(labels, scope) || b.matches_in(labels, scope),
        }
    }

    /// A label every match needs (`k == 'v'` in the top-level conjunction),
    /// by which an index finds the candidates
    pub fn required_label(&self) -> Option<(&str, &str)> {
        match self {
            Selector::Eq(k, v) => Some((k, v)),
            Selector::And(a, b) => a.required_label().or_else(|| b.required_label()),
            _ => None,
        }
    }

    /// Parse as Calico does; an empty (or blank) text is `all()`
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Ok(Selector::All);
        }
        if tokens.len() > MAX_TOKENS {
            return error(format!("more than {MAX_TOKENS} terms and operators"));
        }
        let mut parser = Parser {
            tokens,
            at: 0,
            depth: 0,
        };
        let selector = parser.or()?;
        match parser.peek() {
            None => Ok(selector),
            Some(t) => error(format!("unexpected {} after a complete selector", t.describe())),
        }
    }
}

/// `k1 == 'v1' && k2 == 'v2'`, or `all()` for no labels
pub fn render(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "all()".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k} == '{v}'"))
        .collect::<Vec<_>>()
        .join(" && ")
}

/// Calico's tokenizer caps a label at this many bytes
const MAX_LABEL: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Label(String),
    Literal(String),
    Has(String),
    All,
    Global,
    Op(Op),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Eq,
    Ne,
    Not,
    And,
    Or,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Label(l) => format!("label `{l}`"),
            Token::Literal(v) => format!("string '{v}'"),
            Token::Has(k) => format!("`has({k})`"),
            Token::All => "`all()`".into(),
            Token::Global => "`global()`".into(),
            Token::Op(op) => format!(
                "`{}`",
                match op {
                    Op::LParen => "(",
                    Op::RParen => ")",
                    Op::LBrace => "{",
                    Op::RBrace => "}",
                    Op::Comma => ",",
                    Op::Eq => "==",
                    Op::Ne => "!=",
                    Op::Not => "!",
                    Op::And => "&&",
                    Op::Or => "||",
                    Op::In => "in",
                    Op::NotIn => "not in",
                    Op::Contains => "contains",
                    Op::StartsWith => "starts with",
                    Op::EndsWith => "ends with",
                }
            ),
        }
    }
}

fn identifier_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-')
}

/// Calico skips only spaces and tabs: a newline inside a selector is refused
fn skip_blank(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

fn word_boundary(rest: &str) -> bool {
    rest.as_bytes().first().is_none_or(|&c| !identifier_char(c))
}

/// `words` in sequence (blanks between, none needed: Calico reads `notin`),
/// then a word boundary
fn cut_words<'a>(input: &'a str, words: &[&str]) -> Option<&'a str> {
    let mut rest = input;
    for word in words {
        rest = skip_blank(rest.strip_prefix(word)?);
    }
    word_boundary(rest).then_some(rest)
}

fn cut_identifier(input: &str) -> Result<(String, &str), SelectorError> {
    let end = input.bytes().position(|c| !identifier_char(c)).unwrap_or(input.len());
    let (ident, rest) = input.split_at(end);
    if ident.is_empty() {
        let found = input.chars().next().map_or("the end".to_string(), |c| format!("{c:?}"));
        return error(format!("expected a label, found {found}"));
    }
    if ident.len() > MAX_LABEL {
        return error(format!("label `{ident}` is longer than {MAX_LABEL} characters"));
    }
    Ok((ident.to_string(), rest))
}

fn tokenize(text: &str) -> Result<Vec<Token>, SelectorError> {
    let mut tokens: Vec<Token> = Vec::new();
    let mut input = text;
    loop {
        input = skip_blank(input);
        let Some(first) = input.chars().next() else {
            return Ok(tokens);
        };
        let after_label = matches!(tokens.last(), Some(Token::Label(_)));
        let simple = match first {
            '(' => Some(Op::LParen),
            ')' => Some(Op::RParen),
            '{' => Some(Op::LBrace),
            '}' => Some(Op::RBrace),
            ',' => Some(Op::Comma),
            _ => None,
        };
        if let Some(op) = simple {
            tokens.push(Token::Op(op));
            input = &input[1..];
            continue;
        }
        if first == '"' || first == '\'' {
            let body = &input[1..];
            let Some(end) = body.find(first) else {
                return error("unterminated string");
            };
            tokens.push(Token::Literal(body[..end].to_string()));
            input = &body[end + 1..];
            continue;
        }
        let two = [("==", Op::Eq), ("!=", Op::Ne), ("&&", Op::And), ("||", Op::Or)];
        if let Some((text, op)) = two.into_iter().find(|(t, _)| input.starts_with(t)) {
            tokens.push(Token::Op(op));
            input = &input[text.len()..];
            continue;
        }
        match first {
            '!' => {
                tokens.push(Token::Op(Op::Not));
                input = &input[1..];
                continue;
            }
            '=' => return error("expected `==`"),
            '&' => return error("expected `&&`"),
            '|' => return error("expected `||`"),
            _ => {}
        }
        if after_label {
            let operators: [(&[&str], Op); 5] = [
                (&["contains"], Op::Contains),
                (&["starts", "with"], Op::StartsWith),
                (&["ends", "with"], Op::EndsWith),
                (&["not", "in"], Op::NotIn),
                (&["in"], Op::In),
            ];
            let Some((rest, op)) = operators
                .iter()
                .find_map(|(words, op)| cut_words(input, words).map(|rest| (rest, *op)))
            else {
                let label = match tokens.last() {
                    Some(Token::Label(l)) => l.as_str(),
                    _ => "",
                };
                return error(format!(
                    "expected an operator after label `{label}` (==, !=, in, not in, contains, starts with, ends with)"
                ));
            };
            tokens.push(Token::Op(op));
            input = rest;
            continue;
        }
        // `has(`, `all(`, `global(` are read as one piece: `has (x)` is a label `has`.
        if let Some(rest) = input.strip_prefix("has(") {
            let (key, rest) = cut_identifier(skip_blank(rest))?;
            let Some(rest) = skip_blank(rest).strip_prefix(')') else {
                return error("no closing `)` after `has(`");
            };
            tokens.push(Token::Has(key));
            input = rest;
            continue;
        }
        let mut call = None;
        for (name, token) in [("all(", Token::All), ("global(", Token::Global)] {
            if let Some(rest) = input.strip_prefix(name) {
                let Some(rest) = skip_blank(rest).strip_prefix(')') else {
                    return error(format!("no closing `)` after `{name}`"));
                };
                call = Some((token, rest));
                break;
            }
        }
        if let Some((token, rest)) = call {
            tokens.push(token);
            input = rest;
            continue;
        }
        let (label, rest) = cut_identifier(input)?;
        tokens.push(Token::Label(label));
        input = rest;
    }
}

/// Deepest nesting of parentheses read: the parser and the selector tree
/// recurse, and a policy of a few KiB of `(` must be an error, not a stack
/// overflow (found by fuzzing, fuzz/seeds/calico_selector/crash-deep-parens)
const MAX_DEPTH: usize = 64;

/// Most tokens in one selector: `&&`/`||` chains build a left-deep tree that
/// matching and dropping walk recursively (a real selector has a few dozen)
const MAX_TOKENS: usize = 10_000;

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn eat(&mut self, op: Op) -> bool {
        let found = self.peek() == Some(&Token::Op(op));
        if found {
            self.at += 1;
        }
        found
    }

    fn or(&mut self) -> Result<Selector, SelectorError> {
        let mut left = self.and()?;
        while self.eat(Op::Or) {
            left = Selector::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Selector, SelectorError> {
        let mut left = self.operation()?;
        while self.eat(Op::And) {
            left = Selector::And(Box::new(left), Box::new(self.operation()?));
        }
        Ok(left)
    }

    /// One operation, after any number of `!` (they collapse: `!!a` is `a`)
    fn operation(&mut self) -> Result<Selector, SelectorError> {
        let mut negated = false;
        while self.eat(Op::Not) {
            negated = !negated;
        }
        let selector = match self.next() {
            None => return error("unexpected end of selector"),
            Some(Token::Has(k)) => Selector::Has(k),
            Some(Token::All) => Selector::All,
            Some(Token::Global) => Selector::Global,
            Some(Token::Op(Op::LParen)) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return error(format!("parentheses nested deeper than {MAX_DEPTH}"));
                }
                let inner = self.or()?;
                self.depth -= 1;
                if !self.eat(Op::RParen) {
                    return error("expected `)`");
                }
                inner
            }
            Some(Token::Label(label)) => self.comparison(label)?,
            Some(other) => return error(format!("unexpected {}", other.describe())),
        };
        Ok(if negated {
            Selector::Not(Box::new(selector))
        } else {
            selector
        })
    }

    fn comparison(&mut self, label: String) -> Result<Selector, SelectorError> {
        let Some(Token::Op(op)) = self.next() else {
            return error(format!("expected an operator after label `{label}`"));
        };
        match op {
            Op::In | Op::NotIn => {
                let values = self.set()?;
                Ok(if op == Op::In {
                    Selector::In(label, values)
                } else {
                    Selector::NotIn(label, values)
                })
            }
            Op::Eq | Op::Ne | Op::Contains | Op::StartsWith | Op::EndsWith => {
                let Some(Token::Literal(value)) = self.next() else {
                    return error(format!("expected a quoted string after `{label}`"));
                };
                Ok(match op {
                    Op::Eq => Selector::Eq(label, value),
                    Op::Ne => Selector::Ne(label, value),
                    Op::Contains => Selector::Contains(label, value),
                    Op::StartsWith => Selector::StartsWith(label, value),
                    _ => Selector::EndsWith(label, value),
                })
            }
            _ => error(format!("expected an operator after label `{label}`")),
        }
    }

    /// `{'a', 'b'}`; Calico takes `{}` and a trailing comma
    fn set(&mut self) -> Result<Vec<String>, SelectorError> {
        if !self.eat(Op::LBrace) {
            return error("expected a set literal `{'a', 'b'}`");
        }
        let mut values = Vec::new();
        while let Some(Token::Literal(v)) = self.peek().cloned() {
            self.at += 1;
            values.push(v);
            if !self.eat(Op::Comma) {
                break;
            }
        }
        if !self.eat(Op::RBrace) {
            return error("expected `}`");
        }
        Ok(values)
    }
}

#[cfg(test)]
#[path = "selector_tests.rs"]
mod tests;
