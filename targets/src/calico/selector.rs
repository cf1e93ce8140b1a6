//! Calico's selector language: `app == 'web'`, `!=`, `in {...}`, `not in
//! {...}`, `has(k)`, `!has(k)`, `all()`, `&&`, `||`, `!`, parentheses. Used to
//! write selectors (`render`) and to evaluate them.

use std::collections::BTreeMap;

/// A parsed selector
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `all()`
    All,
    /// `k == 'v'`
    Eq(String, String),
    /// `k != 'v'`
    Ne(String, String),
    /// `k in {'a', 'b'}`
    In(String, Vec<String>),
    /// `k not in {'a', 'b'}`
    NotIn(String, Vec<String>),
    /// `has(k)`
    Has(String),
    /// `!e`
    Not(Box<Selector>),
    /// `a && b`
    And(Box<Selector>, Box<Selector>),
    /// `a || b`
    Or(Box<Selector>, Box<Selector>),
}

impl Selector {
    /// Whether an object with these labels is selected
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Selector::All => true,
            Selector::Eq(k, v) => labels.get(k) == Some(v),
            Selector::Ne(k, v) => labels.get(k) != Some(v),
            Selector::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Selector::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Selector::Has(k) => labels.contains_key(k),
            Selector::Not(e) => !e.matches(labels),
            Selector::And(a, b) => a.matches(labels) && b.matches(labels),
            Selector::Or(a, b) => a.matches(labels) || b.matches(labels),
        }
    }

    /// Parse; `None` when the text is not a selector (the API server refuses those)
    pub fn parse(text: &str) -> Option<Selector> {
        let tokens = tokenize(text)?;
        let mut parser = Parser { tokens, at: 0 };
        if parser.tokens.is_empty() {
            return Some(Selector::All);
        }
        let selector = parser.or()?;
        (parser.at == parser.tokens.len()).then_some(selector)
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(&'static str),
}

fn tokenize(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars.get(i..i + 2).map(|s| s.iter().collect()).unwrap_or_default();
        if let Some(op) = ["==", "!=", "&&", "||"].into_iter().find(|op| *op == two) {
            tokens.push(Token::Op(op));
            i += 2;
            continue;
        }
        if let Some(op) = ["(", ")", "{", "}", ",", "!"].into_iter().find(|op| op.starts_with(c)) {
            tokens.push(Token::Op(op));
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            let end = chars.get(i + 1..)?.iter().position(|&d| d == c)? + i + 1;
            tokens.push(Token::Quoted(chars.get(i + 1..end)?.iter().collect()));
            i = end + 1;
            continue;
        }
        let start = i;
        while chars.get(i).is_some_and(|d| d.is_alphanumeric() || "-_./".contains(*d)) {
            i += 1;
        }
        if start == i {
            return None;
        }
        tokens.push(Token::Word(chars.get(start..i)?.iter().collect()));
    }
    Some(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, op: &'static str) -> bool {
        let found = self.peek() == Some(&Token::Op(op));
        if found {
            self.at += 1;
        }
        found
    }

    fn word(&mut self) -> Option<String> {
        match self.peek()?.clone() {
            Token::Word(w) => {
                self.at += 1;
                Some(w)
            }
            _ => None,
        }
    }

    fn quoted(&mut self) -> Option<String> {
        match self.peek()?.clone() {
            Token::Quoted(q) => {
                self.at += 1;
                Some(q)
            }
            _ => None,
        }
    }

    fn or(&mut self) -> Option<Selector> {
        let mut left = self.and()?;
        while self.eat("||") {
            left = Selector::Or(Box::new(left), Box::new(self.and()?));
        }
        Some(left)
    }

    fn and(&mut self) -> Option<Selector> {
        let mut left = self.unary()?;
        while self.eat("&&") {
            left = Selector::And(Box::new(left), Box::new(self.unary()?));
        }
        Some(left)
    }

    fn unary(&mut self) -> Option<Selector> {
        if self.eat("!") {
            return Some(Selector::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let inner = self.or()?;
            return self.eat(")").then_some(inner);
        }
        let word = self.word()?;
        match word.as_str() {
            "all" | "global" if self.eat("(") => self.eat(")").then_some(Selector::All),
            "has" if self.eat("(") => {
                let key = self.word()?;
                self.eat(")").then_some(Selector::Has(key))
            }
            _ => {
                if self.eat("==") {
                    return Some(Selector::Eq(word, self.quoted()?));
                }
                if self.eat("!=") {
                    return Some(Selector::Ne(word, self.quoted()?));
                }
                match self.word()?.as_str() {
                    "in" => Some(Selector::In(word, self.set()?)),
                    "not" if self.word()? == "in" => Some(Selector::NotIn(word, self.set()?)),
                    _ => None,
                }
            }
        }
    }

    fn set(&mut self) -> Option<Vec<String>> {
        if !self.eat("{") {
            return None;
        }
        let mut values = Vec::new();
        if self.eat("}") {
            return Some(values);
        }
        loop {
            values.push(self.quoted()?);
            if self.eat("}") {
                return Some(values);
            }
            if !self.eat(",") {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_operator() {
        let pod = labels(&[("app", "web"), ("tier", "front")]);
        let yes = [
            "all()",
            "app == 'web'",
            "app != 'db'",
            "app in {'a', 'web'}",
            "app not in {'db'}",
            "has(tier)",
            "!has(x)",
            "app == 'web' && tier == 'front'",
            "app == 'db' || tier == 'front'",
            "!(app == 'db')",
            "(app == 'db' || has(app)) && !has(zone)",
            "",
        ];
        let no = [
            "app == 'db'",
            "has(zone)",
            "app in {}",
            "app == 'web' && has(zone)",
            "!all()",
        ];
        for s in yes {
            assert_eq!(Selector::parse(s).map(|x| x.matches(&pod)), Some(true), "{s}");
        }
        for s in no {
            assert_eq!(Selector::parse(s).map(|x| x.matches(&pod)), Some(false), "{s}");
        }
        for bad in ["app ==", "app = 'x'", "(app == 'x'", "has(", "app in {'a'"] {
            assert_eq!(Selector::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn rendered_selectors_parse_back() {
        let l = labels(&[("app.kubernetes.io/name", "x"), ("b", "y")]);
        assert_eq!(Selector::parse(&render(&l)).map(|s| s.matches(&l)), Some(true));
    }
}
