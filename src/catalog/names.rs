//! Catalog naming rules: Glue (like Hive) stores database, table and function names in lower
//! case, and its list filters are regular expressions matched against the whole name.

use super::error::{CatalogError, CatalogResult};
use regex::{Regex, RegexBuilder};

/// The stored form of a database, table or function name.
pub fn canonical(name: &str) -> String {
    name.to_lowercase()
}

/// A compiled name filter (`GetTables.Expression`, `GetUserDefinedFunctions.Pattern`).
pub struct NamePattern(Option<Regex>);

impl NamePattern {
    /// `None`, empty and `*` match everything; otherwise the pattern must match the whole
    /// (lower-case) name, case-insensitively. A lone `*` is Hive's wildcard, which clients that
    /// translate HMS patterns pass through.
    pub fn new(field: &str, pattern: Option<&str>) -> CatalogResult<Self> {
        let pattern = match pattern.map(str::trim) {
            None | Some("") | Some("*") => return Ok(Self(None)),
            Some(p) => p,
        };
        RegexBuilder::new(&format!("^(?:{pattern})$"))
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
            .map(|re| Self(Some(re)))
            .map_err(|e| {
                CatalogError::InvalidInput(format!(
                    "{field} is not a valid regular expression: {}",
                    e.to_string().lines().last().unwrap_or("syntax error")
                ))
            })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.0.as_ref().is_none_or(|re| re.is_match(name))
    }

    /// The pattern as given, for binding page tokens to the filter.
    pub fn as_str(&self) -> &str {
        self.0.as_ref().map_or("", |re| re.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_names_case_insensitively() {
        let p = NamePattern::new("Expression", Some("sales_.*")).unwrap();
        assert!(p.matches("sales_2024"));
        assert!(p.matches("SALES_x"));
        assert!(!p.matches("old_sales_2024"));
        let alt = NamePattern::new("Expression", Some("a|b")).unwrap();
        assert!(alt.matches("a") && alt.matches("b") && !alt.matches("ab"));
        assert!(
            NamePattern::new("Expression", Some("*"))
                .unwrap()
                .matches("x")
        );
        assert!(NamePattern::new("Expression", Some("(")).is_err());
    }
}
