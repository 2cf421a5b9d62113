//! HTTP: one port for Glue (AWS JSON 1.1: sessions and the Data Catalog), STS GetCallerIdentity
//! (awsQuery), Lake Formation's permission grants (REST-JSON), `/health`, the driver-log URLs,
//! `/metrics` and the console. Decodes the wire, asks auth who is calling, hands the operation to
//! the api layer and encodes its answer or error exactly as botocore parses them.

mod aws_chunked;
mod json;
mod lakeformation;
pub mod peer;
mod query;
pub mod s3;

use crate::api::{
    self, Context,
    error::{ApiError, ErrorCode},
};
use crate::auth::Authenticator;
use crate::auth::sigv4::RequestParts;
use crate::catalog::CatalogService;
use crate::console::{self, Console};
use crate::objects::ObjectService;
use crate::sessions::SessionService;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::BodyExt;
use std::sync::Arc;

/// Largest request body accepted: a 68,000-character statement, 75 × 4 KiB arguments and 50
/// tags fit many times over, even fully `\u`-escaped.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// An oversized body is still read (and dropped) up to this much, so the client gets the 413
/// on a healthy connection instead of a reset.
const MAX_DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// What every request handler shares.
pub struct App {
    pub service: Arc<SessionService>,
    pub catalog: Arc<CatalogService>,
    pub auth: Arc<Authenticator>,
    /// Whether `/metrics` is served to anyone (loopback binds and `--auth open`); otherwise
    /// only to a signed-in console user, as scrapers cannot sign requests.
    pub metrics_public: bool,
    pub console: Arc<Console>,
}

impl App {
    pub fn new(
        service: Arc<SessionService>,
        catalog: Arc<CatalogService>,
        objects: Option<ObjectService>,
        auth: Authenticator,
        metrics_public: bool,
    ) -> Self {
        let auth = Arc::new(auth);
        let console = Console::new(
            Arc::clone(&service),
            Arc::clone(&catalog),
            objects,
            Arc::clone(&auth),
        );
        Self {
            service,
            catalog,
            auth,
            metrics_public,
            console,
        }
    }
}

pub fn router(app: Arc<App>) -> Router {
    let console = console::router(Arc::clone(&app.console));
    Router::new()
        // Other methods on these paths get the AWS-style 404 from `handle`, not a bare 405.
        .route("/health", get(health).fallback(handle))
        .route("/logs/{token}", get(logs).fallback(handle))
        .route("/metrics", get(metrics).fallback(handle))
        .fallback(handle)
        .with_state(app)
        .merge(console)
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let body = serde_json::json!({
        "status": "ok",
        "live_drivers": app.service.live_drivers(),
        "node": app.service.node_id(),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Prometheus scrape: the recorded metrics plus one grouped store query.
async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if !app.metrics_public && !app.console.is_viewer(&headers) {
        return (
            StatusCode::FORBIDDEN,
            "/metrics on a public bind is served to signed-in console users only\n",
        )
            .into_response();
    }
    match app.service.metrics_snapshot().await {
        // Off the async threads: rendering scans /proc for the drivers' memory.
        Ok(snapshot) => {
            match tokio::task::spawn_blocking(move || crate::metrics::render(&snapshot)).await {
                Ok(text) => {
                    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
                }
                Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
            }
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

/// The URL GetSystemLogsForSession hands out: the token is the credential. Any node answers;
/// the log comes from the node whose disk has it.
async fn logs(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let proof = headers.get(peer::PEER_HEADER).and_then(|v| v.to_str().ok());
    match peer::read_log(&app.service, &token, proof).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response(),
        Err(e @ peer::LogError::Node(_)) => {
            (StatusCode::BAD_GATEWAY, format!("{e}\n")).into_response()
        }
        Err(e) => (StatusCode::NOT_FOUND, format!("{e}\n")).into_response(),
    }
}

/// Reads at most `MAX_BODY_BYTES`; past that, drains a bounded amount and reports the size.
async fn read_body(body: Body) -> Result<Vec<u8>, ApiError> {
    let mut body = body;
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::new(
                ErrorCode::Serialization,
                format!("could not read the request body: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= MAX_BODY_BYTES {
                buf.extend_from_slice(&data);
            } else if seen > MAX_DRAIN_BYTES {
                break;
            }
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(ApiError::new(
            ErrorCode::RequestEntityTooLarge,
            format!("The request body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    Ok(buf)
}

/// The Content-Type's media type, lower-cased, without parameters (`; charset=utf-8`).
fn media_type(headers: &HeaderMap) -> String {
    header_str(headers, "content-type")
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn handle(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let target = headers
        .get("x-amz-target")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let is_query = target.is_none() && media_type(&headers) == "application/x-www-form-urlencoded";
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(e) if is_query => return query::error(&request_id, &e),
        Err(e) => return json::error(&request_id, &e),
    };
    let parts = RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    if method == Method::POST && lakeformation::PATHS.contains(&uri.path()) {
        return lakeformation::handle(&app, &parts, &request_id).await;
    }
    if method != Method::POST || uri.path() != "/" {
        let e = ApiError::new(
            ErrorCode::UnknownOperation,
            format!(
                "No operation at {method} {}; AWS APIs are POST /",
                uri.path()
            ),
        );
        return json::error(&request_id, &e).into_response_with(StatusCode::NOT_FOUND);
    }
    if is_query {
        return query::handle(&app, &parts, &request_id).await;
    }
    let started = std::time::Instant::now();
    let result = glue(&app, &parts, target.as_deref()).await;
    crate::metrics::request(
        operation_label(target.as_deref()),
        result.as_ref().err().map(|e| e.code.as_str()),
        started.elapsed(),
    );
    match result {
        Ok(body) => json::success(&request_id, body),
        Err(e) => {
            if e.code == ErrorCode::InternalService {
                tracing::error!(request_id, error = %e, "internal error");
            }
            json::error(&request_id, &e)
        }
    }
}

async fn glue(
    app: &App,
    parts: &RequestParts<'_>,
    target: Option<&str>,
) -> Result<String, ApiError> {
    let target = target.ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownOperation,
            "Missing X-Amz-Target header: expected AWSGlue.<Operation>",
        )
    })?;
    let operation = target.strip_prefix("AWSGlue.").ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownOperation,
            format!("Unknown target {target:?}: expected AWSGlue.<Operation>"),
        )
    })?;
    let content_type = media_type(parts.headers);
    if content_type != "application/x-amz-json-1.1" && content_type != "application/x-amz-json-1.0"
    {
        return Err(ApiError::new(
            ErrorCode::Serialization,
            format!("Content-Type must be application/x-amz-json-1.1, not {content_type:?}"),
        ));
    }
    let caller = app.auth.authenticate(parts, "glue").await?;
    let host = header_str(parts.headers, "host")
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("127.0.0.1");
    let ctx = Context {
        tenant: caller.tenant,
        base_url: format!("http://{host}"),
    };
    let started = std::time::Instant::now();
    let result = api::dispatch(&app.service, &app.catalog, &ctx, operation, parts.body).await;
    tracing::debug!(
        operation,
        ok = result.is_ok(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    result
}

/// The operation as a metrics label: one of the served operations, or "unknown" (a label
/// taken from the client's header would let anyone grow the metrics without bound).
fn operation_label(target: Option<&str>) -> &'static str {
    target
        .and_then(|t| t.strip_prefix("AWSGlue."))
        .and_then(|op| api::OPERATIONS.iter().find(|known| **known == op))
        .copied()
        .unwrap_or("unknown")
}

/// Re-statusing a built error response (404 for paths that are not an AWS endpoint).
trait WithStatus {
    fn into_response_with(self, status: StatusCode) -> Response;
}

impl WithStatus for Response {
    fn into_response_with(mut self, status: StatusCode) -> Response {
        *self.status_mut() = status;
        self
    }
}
