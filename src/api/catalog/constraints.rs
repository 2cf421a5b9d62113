//! The checks the generated code (generated.rs) calls, one per kind of model constraint. The
//! pattern checks are written by hand for each distinct pattern of the model: the generator
//! refuses a pattern it has no check for.

use crate::api::error::ApiError;
use crate::api::validate::fail;
pub use crate::api::validate::{glue_arn, length, line as single_line, multi_line, one_of, range};

pub type Check = Result<(), ApiError>;

/// A request structure that knows its model constraints; `path` names it in messages
/// (`TableInput.StorageDescriptor.Columns.0.Name`), empty for the request itself.
pub trait Validate {
    fn validate(&self, path: &str) -> Check;
}

/// List and map sizes.
pub fn entries(field: &str, n: usize, min: usize, max: usize) -> Check {
    if n < min || n > max {
        return Err(fail(
            field,
            format!("Member must have between {min} and {max} entries (got {n})"),
        ));
    }
    Ok(())
}

fn pattern(field: &str, ok: bool, pattern: &str) -> Check {
    if ok {
        Ok(())
    } else {
        Err(fail(
            field,
            format!("Member must satisfy regular expression pattern: {pattern}"),
        ))
    }
}

/// `SchemaRegistryNameString`: `[a-zA-Z0-9-_$#.]+`.
pub fn registry_name(field: &str, value: &str) -> Check {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_$#.".contains(c));
    pattern(field, ok, "[a-zA-Z0-9-_$#.]+")
}

/// `SchemaVersionIdString`: a lower-case hex UUID.
pub fn uuid(field: &str, value: &str) -> Check {
    let groups: Vec<&str> = value.split('-').collect();
    let ok = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    pattern(
        field,
        ok,
        "[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}",
    )
}

/// `TransactionIdString`: `[\p{L}\p{N}\p{P}]*`. Rust's standard library has no Unicode
/// punctuation class, so this takes letters, digits and ASCII punctuation (Glue's transaction
/// ids are alphanumeric).
pub fn letters_numbers_punctuation(field: &str, value: &str) -> Check {
    let ok = value
        .chars()
        .all(|c| c.is_alphanumeric() || c.is_ascii_punctuation());
    pattern(field, ok, "[\\p{L}\\p{N}\\p{P}]*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_checks() {
        assert!(registry_name("n", "a-b_c$#.1").is_ok());
        assert!(registry_name("n", "a b").is_err());
        assert!(registry_name("n", "").is_err());
        assert!(uuid("u", "0123abcd-0000-4fff-8aaa-0123456789ab").is_ok());
        assert!(uuid("u", "0123ABCD-0000-4fff-8aaa-0123456789ab").is_err());
        assert!(uuid("u", "0123abcd-0000-4fff-8aaa").is_err());
        assert!(letters_numbers_punctuation("t", "tx-1.a").is_ok());
        assert!(letters_numbers_punctuation("t", "tx 1").is_err());
        assert!(entries("l", 3, 1, 2).is_err());
        assert!(entries("l", 0, 1, 2).is_err());
        assert!(entries("l", 2, 1, 2).is_ok());
    }
}
