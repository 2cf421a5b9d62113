//! The `--accounts FILE` (TOML): the access keys epoxy accepts and the account each belongs to.

use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// One `[[account]]` table.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
    pub user_arn: Option<String>,
}

/// Never prints the secret, so no `{:?}` can leak it into a log.
impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("account_id", &self.account_id)
            .field("user_arn", &self.user_arn)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    #[serde(default)]
    account: Vec<Account>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid accounts file: {message}")]
    Invalid { path: String, message: String },
}

/// Accounts by access key id.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    by_key: HashMap<String, Account>,
}

impl Accounts {
    pub fn load(path: &Path) -> Result<Self, AccountsError> {
        let text = std::fs::read_to_string(path).map_err(|source| AccountsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|message| AccountsError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        // The parser's own message quotes the offending line, which may hold a secret: say
        // only where and what.
        let file: AccountsFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |span| {
                text[..span.start.min(text.len())].lines().count().max(1)
            });
            format!("line {line}: {}", e.message())
        })?;
        if file.account.is_empty() {
            return Err("it defines no [[account]]".into());
        }
        let mut by_key = HashMap::new();
        for a in file.account {
            if a.account_id.len() != 12 || !a.account_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("account_id {:?} must be 12 digits", a.account_id));
            }
            if a.access_key_id.is_empty()
                || !a.access_key_id.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(format!(
                    "access_key_id {:?} must be non-empty and alphanumeric",
                    a.access_key_id
                ));
            }
            if a.secret_access_key.is_empty() {
                return Err(format!(
                    "access key {} has an empty secret_access_key",
                    a.access_key_id
                ));
            }
            if let Some(arn) = &a.user_arn
                && !arn.starts_with("arn:")
            {
                return Err(format!("user_arn {arn:?} is not an ARN"));
            }
            let key = a.access_key_id.clone();
            if by_key.insert(key.clone(), a).is_some() {
                return Err(format!("access_key_id {key} appears twice"));
            }
        }
        Ok(Self { by_key })
    }

    pub fn get(&self, access_key_id: &str) -> Option<&Account> {
        self.by_key.get(access_key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::Accounts;

    #[test]
    fn parses_and_rejects() {
        let ok = r#"
            [[account]]
            access_key_id = "AKIAA"
            secret_access_key = "s"
            account_id = "111111111111"
            user_arn = "arn:aws:iam::111111111111:user/alice"
        "#;
        let accounts = Accounts::parse(ok).unwrap();
        assert_eq!(accounts.get("AKIAA").unwrap().account_id, "111111111111");
        assert!(accounts.get("nope").is_none());
        assert!(Accounts::parse("").is_err());
        assert!(Accounts::parse(&ok.replace("111111111111\"\n", "1\"\n")).is_err());
        assert!(Accounts::parse(&format!("{ok}{ok}")).is_err());
        assert!(Accounts::parse(&ok.replace("user_arn", "nonsense")).is_err());
        let broken = Accounts::parse(
            &ok.replace("secret_access_key = \"s\"", "secret_access_key = \"hunter2"),
        )
        .unwrap_err();
        assert!(!broken.contains("hunter2"), "{broken}");
        assert!(broken.starts_with("line "), "{broken}");
    }
}
