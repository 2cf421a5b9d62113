//! Request bodies to generated types, strictly: a JSON object with no key repeated at any depth
//! (serde keeps the last of a repeated map key silently); a missing required member is Glue's
//! "must not be null" input error, a wrong type a `SerializationException`.

use crate::api::error::{ApiError, ErrorCode};
use crate::api::validate::fail;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

fn serialization(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Serialization, message)
}

/// Any JSON value, refusing a key repeated within one object.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate member {key:?}")));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
}

/// The request of type `T` from a JSON 1.1 body (empty means `{}`).
pub fn request<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => b"{}".as_slice(),
        Some(b'{') => body,
        Some(_) => return Err(serialization("The request body must be a JSON object")),
    };
    serde_json::from_slice::<UniqueKeys>(body)
        .map_err(|e| serialization(format!("The request body is not valid JSON: {e}")))?;
    serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        match text
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
        {
            Some((field, _)) => fail(field, "Member must not be null"),
            None => serialization(format!(
                "The request body does not match the operation's input shape: {text}"
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::catalog::generated::GetTableRequest;

    #[test]
    fn repeated_keys_missing_members_and_types() {
        let ok: GetTableRequest = request(br#"{"DatabaseName":"d","Name":"t"}"#).unwrap();
        assert_eq!(ok.name, "t");
        let dup = request::<GetTableRequest>(br#"{"DatabaseName":"d","Name":"t","AuditContext":{"AdditionalAuditContext":"a","AdditionalAuditContext":"b"}}"#);
        assert_eq!(dup.unwrap_err().code, ErrorCode::Serialization);
        let missing = request::<GetTableRequest>(br#"{"DatabaseName":"d"}"#).unwrap_err();
        assert_eq!(missing.code, ErrorCode::InvalidInput);
        assert!(missing.message.contains("'Name'"), "{}", missing.message);
        let wrong = request::<GetTableRequest>(br#"{"DatabaseName":1,"Name":"t"}"#).unwrap_err();
        assert_eq!(wrong.code, ErrorCode::Serialization);
        assert_eq!(
            request::<GetTableRequest>(b"[]").unwrap_err().code,
            ErrorCode::Serialization
        );
    }
}
