//! AWS JSON 1.1 replies: the output shape, or `{"__type", "Message"}` with `x-amzn-ErrorType`.

use crate::api::error::ApiError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

pub fn success(request_id: &str, body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    decorate(&mut response, request_id);
    response
}

pub fn error(request_id: &str, e: &ApiError) -> Response {
    let body = serde_json::json!({ "__type": e.code.as_str(), "Message": e.message });
    let status = StatusCode::from_u16(e.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, body.to_string()).into_response();
    decorate(&mut response, request_id);
    response.headers_mut().insert(
        "x-amzn-ErrorType",
        HeaderValue::from_static(e.code.as_str()),
    );
    response
}

fn decorate(response: &mut Response, request_id: &str) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
}
