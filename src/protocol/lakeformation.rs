//! Lake Formation over REST-JSON: `POST /BatchGrantPermissions` and `POST /BatchRevokePermissions`
//! (signing service `lakeformation`). epoxy enforces no Lake Formation permissions, so every
//! entry is accepted and none fails: clients that grant after creating a database (dbt-glue)
//! go on without an error in their log.

use super::{App, json};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::validate;
use crate::auth::sigv4::RequestParts;
use axum::response::Response;
use serde::Deserialize;

/// The request paths this door answers.
pub const PATHS: &[&str] = &["/BatchGrantPermissions", "/BatchRevokePermissions"];

#[derive(Deserialize)]
struct BatchPermissionsRequest {
    #[serde(rename = "CatalogId")]
    catalog_id: Option<String>,
    #[serde(rename = "Entries")]
    entries: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "Id")]
    id: Option<String>,
}

async fn check(app: &App, parts: &RequestParts<'_>) -> Result<String, ApiError> {
    let caller = app.auth.authenticate(parts, "lakeformation").await?;
    let body = if parts.body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        parts.body
    };
    let request: BatchPermissionsRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::Serialization,
            format!("The request body does not match the operation's input shape: {e}"),
        )
    })?;
    let entries = validate::required("Entries", &request.entries)?;
    for (i, entry) in entries.iter().enumerate() {
        let field = format!("Entries.{i}.Id");
        validate::length(&field, validate::required(&field, &entry.id)?, 1, 255)?;
    }
    if let Some(id) = &request.catalog_id
        && id != &caller.tenant.account
    {
        return Err(ApiError::new(
            ErrorCode::AccessDenied,
            format!("Catalog {id} is not the caller's catalog"),
        ));
    }
    Ok(r#"{"Failures":[]}"#.to_string())
}

pub async fn handle(app: &App, parts: &RequestParts<'_>, request_id: &str) -> Response {
    match check(app, parts).await {
        Ok(body) => json::success(request_id, body),
        Err(e) => json::error(request_id, &e),
    }
}
