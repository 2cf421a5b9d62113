//! The partition predicate of `GetPartitions.Expression` (and Hive's `get_partitions_by_filter`):
//! comparisons of partition keys with literals (`=`, `<>`/`!=`, `<`, `>`, `<=`, `>=`, `BETWEEN`,
//! `IN`, `LIKE`), combined with `AND`, `OR`, `NOT` and parentheses. Literals are strings in
//! single or double quotes, or numbers. Comparisons follow the key's declared type: numeric keys
//! compare as numbers, everything else as strings (dates and timestamps in their ISO form order
//! correctly as strings). A partition whose value cannot be read as the key's type, or is Hive's
//! null partition, matches no comparison.

use super::error::{CatalogError, CatalogResult};
use crate::catalog::model::Column;
use regex::Regex;
use std::cmp::Ordering;

/// Hive's stand-in for a null partition value.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// A parsed expression, bound to the table's partition keys.
#[derive(Debug)]
pub struct Predicate {
    root: Node,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum KeyType {
    Integral,
    Fractional,
    Text,
}

#[derive(Debug)]
enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Compare {
        key: usize,
        ty: KeyType,
        op: Op,
        value: Literal,
    },
    Between {
        key: usize,
        ty: KeyType,
        low: Literal,
        high: Literal,
    },
    In {
        key: usize,
        ty: KeyType,
        values: Vec<Literal>,
    },
    Like {
        key: usize,
        pattern: Regex,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Number(String),
}

impl Literal {
    fn text(&self) -> &str {
        match self {
            Self::Text(s) | Self::Number(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Text(String),
    Number(String),
    Op(Op),
    LParen,
    RParen,
    Comma,
}

fn invalid(message: impl Into<String>) -> CatalogError {
    CatalogError::InvalidInput(format!("Expression: {}", message.into()))
}

fn tokenize(input: &str) -> CatalogResult<Vec<Token>> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => (tokens.push(Token::LParen), i += 1).1,
            ')' => (tokens.push(Token::RParen), i += 1).1,
            ',' => (tokens.push(Token::Comma), i += 1).1,
            '=' => {
                tokens.push(Token::Op(Op::Eq));
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
            }
            '!' if chars.get(i + 1) == Some(&'=') => (tokens.push(Token::Op(Op::Ne)), i += 2).1,
            '<' => {
                let (op, n) = match chars.get(i + 1) {
                    Some('=') => (Op::Le, 2),
                    Some('>') => (Op::Ne, 2),
                    _ => (Op::Lt, 1),
                };
                tokens.push(Token::Op(op));
                i += n;
            }
            '>' => {
                let (op, n) = if chars.get(i + 1) == Some(&'=') {
                    (Op::Ge, 2)
                } else {
                    (Op::Gt, 1)
                };
                tokens.push(Token::Op(op));
                i += n;
            }
            '\'' | '"' => {
                let quote = c;
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(invalid("unterminated string literal")),
                        Some(&q) if q == quote && chars.get(i + 1) == Some(&quote) => {
                            text.push(quote);
                            i += 2;
                        }
                        Some(&q) if q == quote => {
                            i += 1;
                            break;
                        }
                        Some('\\') if chars.get(i + 1).is_some() => {
                            text.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&ch) => {
                            text.push(ch);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Text(text));
            }
            '`' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&ch| ch == '`')
                    .ok_or_else(|| invalid("unterminated quoted name"))?;
                tokens.push(Token::Ident(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            c if c.is_ascii_digit() || c == '.' || (c == '-' && starts_number(&chars, i + 1)) => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || chars[i] == '.'
                        || matches!(chars[i], 'e' | 'E')
                        || (matches!(chars[i], '+' | '-') && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                if text.parse::<f64>().is_err() {
                    return Err(invalid(format!("{text:?} is not a number")));
                }
                tokens.push(Token::Number(text));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(invalid(format!("unexpected character {other:?}"))),
        }
    }
    Ok(tokens)
}

fn starts_number(chars: &[char], i: usize) -> bool {
    chars
        .get(i)
        .is_some_and(|c| c.is_ascii_digit() || *c == '.')
}

fn key_type(declared: Option<&str>) -> KeyType {
    let t = declared.unwrap_or("string").trim().to_ascii_lowercase();
    let base = t.split('(').next().unwrap_or("");
    match base {
        "tinyint" | "smallint" | "int" | "integer" | "bigint" | "long" | "short" | "byte" => {
            KeyType::Integral
        }
        "float" | "double" | "decimal" | "numeric" | "real" => KeyType::Fractional,
        _ => KeyType::Text,
    }
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    keys: &'a [Column],
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word)) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn expect(&mut self, token: Token, what: &str) -> CatalogResult<()> {
        if self.next() == Some(token) {
            Ok(())
        } else {
            Err(invalid(format!("expected {what}")))
        }
    }

    fn or(&mut self) -> CatalogResult<Node> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Node::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> CatalogResult<Node> {
        let mut left = self.not()?;
        while self.keyword("and") {
            left = Node::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> CatalogResult<Node> {
        if self.keyword("not") {
            return Ok(Node::Not(Box::new(self.not()?)));
        }
        if self.peek() == Some(&Token::LParen) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Token::RParen, "')'")?;
            return Ok(inner);
        }
        self.comparison()
    }

    fn literal(&mut self) -> CatalogResult<Literal> {
        match self.next() {
            Some(Token::Text(s)) => Ok(Literal::Text(s)),
            Some(Token::Number(s)) => Ok(Literal::Number(s)),
            _ => Err(invalid("expected a string or number literal")),
        }
    }

    fn key(&mut self) -> CatalogResult<(usize, KeyType)> {
        let name = match self.next() {
            Some(Token::Ident(name)) => name,
            _ => return Err(invalid("expected a partition key name")),
        };
        let index = self
            .keys
            .iter()
            .position(|k| k.name.eq_ignore_ascii_case(&name))
            .ok_or_else(|| {
                let keys: Vec<&str> = self.keys.iter().map(|k| k.name.as_str()).collect();
                invalid(format!(
                    "{name} is not a partition key of this table (keys: {})",
                    keys.join(", ")
                ))
            })?;
        Ok((index, key_type(self.keys[index].r#type.as_deref())))
    }

    fn comparison(&mut self) -> CatalogResult<Node> {
        let (key, ty) = self.key()?;
        let negated = self.keyword("not");
        let node = if self.keyword("between") {
            let low = self.typed(ty)?;
            if !self.keyword("and") {
                return Err(invalid("expected AND in BETWEEN"));
            }
            let high = self.typed(ty)?;
            Node::Between { key, ty, low, high }
        } else if self.keyword("in") {
            self.expect(Token::LParen, "'(' after IN")?;
            let mut values = vec![self.typed(ty)?];
            while self.peek() == Some(&Token::Comma) {
                self.pos += 1;
                values.push(self.typed(ty)?);
            }
            self.expect(Token::RParen, "')' after the IN list")?;
            Node::In { key, ty, values }
        } else if self.keyword("like") {
            let pattern = like_regex(self.literal()?.text())?;
            Node::Like { key, pattern }
        } else if negated {
            return Err(invalid("expected BETWEEN, IN or LIKE after NOT"));
        } else {
            let op = match self.next() {
                Some(Token::Op(op)) => op,
                _ => return Err(invalid("expected a comparison operator")),
            };
            Node::Compare {
                key,
                ty,
                op,
                value: self.typed(ty)?,
            }
        };
        Ok(if negated {
            Node::Not(Box::new(node))
        } else {
            node
        })
    }

    /// A literal compared with a key of type `ty`: numeric keys need numeric literals.
    fn typed(&mut self, ty: KeyType) -> CatalogResult<Literal> {
        let lit = self.literal()?;
        if ty != KeyType::Text && lit.text().trim().parse::<f64>().is_err() {
            return Err(invalid(format!(
                "{:?} is compared with a numeric partition key but is not a number",
                lit.text()
            )));
        }
        Ok(lit)
    }
}

fn like_regex(pattern: &str) -> CatalogResult<Regex> {
    let mut re = String::from("^");
    for c in pattern.chars() {
        match c {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&format!("(?s){re}")).map_err(|_| invalid("LIKE pattern is too large"))
}

fn compare(ty: KeyType, value: &str, lit: &Literal) -> Option<Ordering> {
    if value == NULL_PARTITION {
        return None;
    }
    match ty {
        KeyType::Text => Some(value.cmp(lit.text())),
        KeyType::Integral => match (
            value.trim().parse::<i128>(),
            lit.text().trim().parse::<i128>(),
        ) {
            (Ok(a), Ok(b)) => Some(a.cmp(&b)),
            _ => fractional(value, lit.text()),
        },
        KeyType::Fractional => fractional(value, lit.text()),
    }
}

fn fractional(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?);
    a.partial_cmp(&b)
}

impl Node {
    fn eval(&self, values: &[String]) -> bool {
        let value = |key: &usize| values.get(*key).map(String::as_str);
        match self {
            Node::And(a, b) => a.eval(values) && b.eval(values),
            Node::Or(a, b) => a.eval(values) || b.eval(values),
            Node::Not(a) => !a.eval(values),
            Node::Compare {
                key,
                ty,
                op,
                value: lit,
            } => {
                let Some(ord) = value(key).and_then(|v| compare(*ty, v, lit)) else {
                    return false;
                };
                match op {
                    Op::Eq => ord == Ordering::Equal,
                    Op::Ne => ord != Ordering::Equal,
                    Op::Lt => ord == Ordering::Less,
                    Op::Gt => ord == Ordering::Greater,
                    Op::Le => ord != Ordering::Greater,
                    Op::Ge => ord != Ordering::Less,
                }
            }
            Node::Between { key, ty, low, high } => value(key).is_some_and(|v| {
                compare(*ty, v, low).is_some_and(|o| o != Ordering::Less)
                    && compare(*ty, v, high).is_some_and(|o| o != Ordering::Greater)
            }),
            Node::In {
                key,
                ty,
                values: list,
            } => value(key).is_some_and(|v| {
                list.iter()
                    .any(|lit| compare(*ty, v, lit) == Some(Ordering::Equal))
            }),
            Node::Like { key, pattern } => {
                value(key).is_some_and(|v| v != NULL_PARTITION && pattern.is_match(v))
            }
        }
    }
}

impl Predicate {
    /// Parses `expression` against the table's partition keys (names case-insensitive).
    pub fn parse(expression: &str, keys: &[Column]) -> CatalogResult<Self> {
        let tokens = tokenize(expression)?;
        if tokens.is_empty() {
            return Err(invalid("the expression is empty"));
        }
        let mut parser = Parser {
            tokens,
            pos: 0,
            keys,
        };
        let root = parser.or()?;
        if parser.pos < parser.tokens.len() {
            return Err(invalid("unexpected text after the end of the expression"));
        }
        Ok(Self { root })
    }

    /// Whether a partition with these values (in key order) satisfies the expression.
    pub fn matches(&self, values: &[String]) -> bool {
        self.root.eval(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<Column> {
        [("year", "int"), ("region", "string"), ("score", "double")]
            .into_iter()
            .map(|(n, t)| Column {
                name: n.into(),
                r#type: Some(t.into()),
                ..Column::default()
            })
            .collect()
    }

    fn check(expr: &str, values: [&str; 3]) -> bool {
        let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        Predicate::parse(expr, &keys()).unwrap().matches(&values)
    }

    #[test]
    fn comparisons_follow_the_key_types() {
        let p = ["2024", "eu", "9.5"];
        assert!(check("year = 2024", p));
        assert!(check("year > 999", p), "numeric, not string, order");
        assert!(check("region < 'us'", p));
        assert!(check("score >= 9.5 AND score <= 10", p));
        assert!(check("year <> 2023 and region != \"us\"", p));
        assert!(check("year BETWEEN 2020 AND 2024", p));
        assert!(!check("year NOT BETWEEN 2020 AND 2024", p));
        assert!(check("region IN ('us', 'eu')", p));
        assert!(check("region NOT IN ('us')", p));
        assert!(check("region LIKE 'e%' AND region LIKE '_u'", p));
        assert!(check("NOT (year = 1 OR region = 'x') AND (score < 10)", p));
        assert!(check("YEAR = 2024", p), "key names are case-insensitive");
        assert!(check("region = 'it''s' OR year = 2024", p));
        assert!(!check("year = 2024 AND region = 'us' OR score = 1", p));
    }

    #[test]
    fn unreadable_values_and_null_partitions_match_nothing() {
        assert!(!check("year = 2024", ["abc", "eu", "1"]));
        assert!(!check(
            "region = 'eu'",
            [NULL_PARTITION, NULL_PARTITION, "1"]
        ));
        assert!(!check("region LIKE '%'", ["1", NULL_PARTITION, "1"]));
    }

    #[test]
    fn bad_expressions_are_input_errors() {
        for bad in [
            "",
            "year =",
            "nope = 1",
            "year = 'abc'",
            "year = 1 AND",
            "(year = 1",
            "year = 1)",
            "region = 'unterminated",
            "region NOT = 'a'",
            "region IN ()",
            "year # 1",
            "1 = year",
        ] {
            assert!(
                matches!(
                    Predicate::parse(bad, &keys()),
                    Err(CatalogError::InvalidInput(_))
                ),
                "{bad:?}"
            );
        }
    }
}
