//! Checks for the model's constraints that botocore does not enforce (max length, pattern, enum)
//! and the ones it does (required, min), since other SDKs and raw HTTP skip them.

use super::error::ApiError;
use std::collections::BTreeMap;

type Check = Result<(), ApiError>;

/// The model's validation message for `field` breaking `rule` (shared by the generated checks).
pub fn fail(field: &str, rule: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_input(format!(
        "1 validation error detected: Value at '{field}' failed to satisfy constraint: {rule}"
    ))
}

/// A required member: botocore checks this client-side, raw HTTP does not.
pub fn required<'a, T>(field: &str, value: &'a Option<T>) -> Result<&'a T, ApiError> {
    value
        .as_ref()
        .ok_or_else(|| fail(field, "Member must not be null"))
}

/// Length in Unicode scalar values, as smithy counts it.
pub fn length(field: &str, value: &str, min: usize, max: usize) -> Check {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(fail(
            field,
            format!("Member must have length between {min} and {max} (got {n})"),
        ));
    }
    Ok(())
}

/// Glue's `SingleLine` pattern: TAB or any character from U+0020 except surrogates and U+FFFE/FFFF.
fn single_line_char(c: char) -> bool {
    c == '\t'
        || ('\u{20}'..='\u{D7FF}').contains(&c)
        || ('\u{E000}'..='\u{FFFD}').contains(&c)
        || c >= '\u{10000}'
}

/// `NameString`: 1..255 characters on one line.
pub fn name(field: &str, value: &str) -> Check {
    length(field, value, 1, 255)?;
    line(field, value)
}

/// The single-line pattern alone.
pub fn line(field: &str, value: &str) -> Check {
    if !value.chars().all(single_line_char) {
        return Err(fail(
            field,
            "Member must satisfy regular expression pattern: [\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*",
        ));
    }
    Ok(())
}

/// The multi-line pattern: the single-line characters plus CR and LF.
pub fn multi_line(field: &str, value: &str) -> Check {
    if !value
        .chars()
        .all(|c| c == '\r' || c == '\n' || single_line_char(c))
    {
        return Err(fail(
            field,
            "Member must satisfy regular expression pattern: [\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\r\\n\\t]*",
        ));
    }
    Ok(())
}

/// `OrchestrationNameString`: 1..128 of `[.\-_A-Za-z0-9]`.
pub fn token(field: &str, value: &str) -> Check {
    length(field, value, 1, 128)?;
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(fail(
            field,
            "Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
        ));
    }
    Ok(())
}

/// `OrchestrationRoleArn`: `arn:aws[^:]*:iam::[0-9]*:role/.+`, 20..2048.
pub fn role_arn(field: &str, value: &str) -> Check {
    length(field, value, 20, 2048)?;
    let ok = (|| {
        let rest = value.strip_prefix("arn:aws")?;
        let (_, rest) = rest.split_once(':')?;
        let rest = rest.strip_prefix("iam::")?;
        let (account, rest) = rest.split_once(':')?;
        let role = rest.strip_prefix("role/")?;
        (account.chars().all(|c| c.is_ascii_digit()) && !role.is_empty() && !role.contains('\n'))
            .then_some(())
    })();
    ok.ok_or_else(|| {
        fail(
            field,
            "Member must satisfy regular expression pattern: arn:aws[^:]*:iam::[0-9]*:role/.+",
        )
    })
}

/// `GlueResourceArn`: 1..10240, `arn:aws(-(cn|us-gov|iso(-[bef])?))?:glue:.*`.
pub fn glue_arn(field: &str, value: &str) -> Check {
    length(field, value, 1, 10240)?;
    let partition_ok = value
        .strip_prefix("arn:")
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(p, rest)| {
            matches!(
                p,
                "aws"
                    | "aws-cn"
                    | "aws-us-gov"
                    | "aws-iso"
                    | "aws-iso-b"
                    | "aws-iso-e"
                    | "aws-iso-f"
            ) && rest.starts_with("glue:")
        });
    if !partition_ok {
        return Err(fail(
            field,
            "Member must satisfy regular expression pattern: arn:aws(-(cn|us-gov|iso(-[bef])?))?:glue:.*",
        ));
    }
    Ok(())
}

/// `GlueVersionString` `^((\w+\.)+\w+|auto)$` (ASCII `\w`), plus Glue's rule: interactive sessions from 2.0 on.
pub fn glue_version(field: &str, value: &str) -> Check {
    length(field, value, 1, 255)?;
    if value == "auto" {
        return Ok(());
    }
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let parts: Vec<&str> = value.split('.').collect();
    if parts.len() < 2 || !parts.iter().all(|p| word(p)) {
        return Err(fail(
            field,
            "Member must satisfy regular expression pattern: ^((\\w+\\.)+\\w+|auto)$",
        ));
    }
    let numeric: Option<(u64, u64)> = parts[0].parse().ok().zip(parts[1].parse().ok());
    match numeric {
        // Interactive sessions exist from Glue 2.0 on; every version runs on epoxy's one runtime.
        Some((major, minor)) if (major, minor) >= (2, 0) => Ok(()),
        _ => Err(ApiError::invalid_input(format!(
            "GlueVersion {value} is not supported for interactive sessions: it must be 2.0 or later (e.g. 4.0, 5.0) or auto"
        ))),
    }
}

/// One of the listed values: enums reach the server unchecked from botocore.
pub fn one_of(field: &str, value: &str, allowed: &[&str]) -> Check {
    if !allowed.contains(&value) {
        return Err(fail(
            field,
            format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Numeric range (inclusive) for integers.
pub fn range(field: &str, value: i64, min: i64, max: i64) -> Check {
    if value < min || value > max {
        return Err(fail(
            field,
            format!("Member must have value between {min} and {max} (got {value})"),
        ));
    }
    Ok(())
}

/// Entry count of a map or list.
pub fn count(field: &str, n: usize, max: usize) -> Check {
    if n > max {
        return Err(fail(
            field,
            format!("Member must have at most {max} entries (got {n})"),
        ));
    }
    Ok(())
}

/// `TagsMap`: ≤50 tags, keys 1..128, values 0..256.
pub fn tags(field: &str, tags: &BTreeMap<String, String>) -> Check {
    count(field, tags.len(), 50)?;
    for (k, v) in tags {
        tag_key(&format!("{field}.key"), k)?;
        length(&format!("{field}.{k}"), v, 0, 256)?;
    }
    Ok(())
}

/// `TagKey`: 1..128 characters.
pub fn tag_key(field: &str, key: &str) -> Check {
    length(field, key, 1, 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_control_characters_and_accept_unicode() {
        assert!(name("Id", "my session é 😀").is_ok());
        assert!(name("Id", "a\nb").is_err());
        assert!(name("Id", "a\u{0}b").is_err());
        assert!(name("Id", "").is_err());
        assert!(name("Id", &"x".repeat(255)).is_ok());
        assert!(name("Id", &"x".repeat(256)).is_err());
        assert!(multi_line("Description", "a\r\nb\tc").is_ok());
    }

    #[test]
    fn role_arn_follows_the_model_pattern() {
        assert!(role_arn("Role", "arn:aws:iam::123456789012:role/Glue").is_ok());
        assert!(role_arn("Role", "arn:aws-cn:iam::123456789012:role/a/b").is_ok());
        assert!(role_arn("Role", "arn:aws:iam::12345678901x:role/Glue").is_err());
        assert!(role_arn("Role", "arn:aws:iam::123456789012:user/Glue").is_err());
        assert!(role_arn("Role", "arn:aws:iam::1:role/").is_err());
    }

    #[test]
    fn glue_versions_from_two_on() {
        for ok in ["2.0", "2.1", "3.0", "4.0", "5.0", "5.1", "auto", "10.0"] {
            assert!(glue_version("GlueVersion", ok).is_ok(), "{ok}");
        }
        for bad in ["1.0", "0.9", "5", "5.", ".5", "a b", "ａ.1", "auto2"] {
            assert!(glue_version("GlueVersion", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn glue_arn_partitions() {
        assert!(glue_arn("ResourceArn", "arn:aws:glue:us-east-1:1:session/x").is_ok());
        assert!(glue_arn("ResourceArn", "arn:aws-iso-b:glue:x").is_ok());
        assert!(glue_arn("ResourceArn", "arn:aws:s3:::bucket").is_err());
        assert!(glue_arn("ResourceArn", "arn:aws-iso-c:glue:x").is_err());
    }

    #[test]
    fn tokens_are_restricted() {
        assert!(token("RequestOrigin", "GlueStudioNotebook").is_ok());
        assert!(token("RequestOrigin", "has space").is_err());
        assert!(token("RequestOrigin", &"a".repeat(129)).is_err());
    }
}
