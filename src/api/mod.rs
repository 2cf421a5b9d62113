//! Glue's operations as typed requests: decode the JSON body, validate it against the model's
//! constraints, call the service, encode the output shape. One file per operation group.

pub mod catalog;
pub mod error;
mod sessions;
mod statements;
mod strict;
mod tags;
pub mod validate;

use crate::catalog::CatalogService;
use crate::sessions::SessionService;
use crate::sessions::model::Tenant;
use error::{ApiError, ErrorCode};
use serde::de::DeserializeOwned;

/// Who is asking and how to build URLs back to this server.
pub struct Context {
    pub tenant: Tenant,
    /// `http://host:port` as the client addressed us (for GetSystemLogsForSession).
    pub base_url: String,
}

/// The Interactive Sessions operations, by their `X-Amz-Target` suffix.
const SESSION_OPERATIONS: &[&str] = &[
    "CreateSession",
    "GetSession",
    "ListSessions",
    "StopSession",
    "DeleteSession",
    "RunStatement",
    "GetStatement",
    "ListStatements",
    "CancelStatement",
    "TagResource",
    "UntagResource",
    "GetTags",
    "GetSystemLogsForSession",
    "GetSessionEndpoint",
];

/// Every operation epoxy serves, by its `X-Amz-Target` suffix: sessions, then the Data Catalog.
pub const OPERATIONS: &[&str] = &concat::<{ SESSION_OPERATIONS.len() + catalog::OPERATIONS.len() }>(
    SESSION_OPERATIONS,
    catalog::OPERATIONS,
);

const fn concat<const N: usize>(a: &[&'static str], b: &[&'static str]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < b.len() {
        out[i + j] = b[j];
        j += 1;
    }
    out
}

/// Runs one Glue operation; `operation` is the part after `AWSGlue.`.
pub async fn dispatch(
    service: &SessionService,
    catalog: &CatalogService,
    ctx: &Context,
    operation: &str,
    body: &[u8],
) -> Result<String, ApiError> {
    if let Some(result) = catalog::dispatch(catalog, ctx, operation, body).await {
        return result;
    }
    match operation {
        "CreateSession" => sessions::create(service, ctx, parse(body)?).await,
        "GetSession" => sessions::get(service, ctx, parse(body)?).await,
        "ListSessions" => sessions::list(service, ctx, parse(body)?).await,
        "StopSession" => sessions::stop(service, ctx, parse(body)?).await,
        "DeleteSession" => sessions::delete(service, ctx, parse(body)?).await,
        "GetSystemLogsForSession" => sessions::system_logs(service, ctx, parse(body)?).await,
        "GetSessionEndpoint" => sessions::endpoint(service, ctx, parse(body)?).await,
        "RunStatement" => statements::run(service, ctx, parse(body)?).await,
        "GetStatement" => statements::get(service, ctx, parse(body)?).await,
        "ListStatements" => statements::list(service, ctx, parse(body)?).await,
        "CancelStatement" => statements::cancel(service, ctx, parse(body)?).await,
        "TagResource" => tags::tag(service, ctx, parse(body)?).await,
        "UntagResource" => tags::untag(service, ctx, parse(body)?).await,
        "GetTags" => tags::get(service, ctx, parse(body)?).await,
        other => Err(ApiError::new(
            ErrorCode::UnknownOperation,
            format!(
                "Operation {other} is not supported: epoxy serves the Glue Interactive Sessions and Data Catalog operations ({})",
                OPERATIONS.join(", ")
            ),
        )),
    }
}

/// Decodes the input shape; a wrong JSON type or a duplicate member is the client's error.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // The body must be a JSON object: serde would also map an array onto the members in order.
    let body = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => b"{}".as_slice(),
        Some(b'{') => body,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::Serialization,
                "The request body must be a JSON object",
            ));
        }
    };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::Serialization,
            format!("The request body does not match the operation's input shape: {e}"),
        )
    })
}

/// Epoch milliseconds → the JSON 1.1 timestamp: epoch seconds with a fraction.
fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
