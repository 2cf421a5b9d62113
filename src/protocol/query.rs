//! STS over awsQuery (form in, XML out): GetCallerIdentity, which the Glue kernel calls to learn
//! its account and user, and code in a session asks to learn its assumed role.

use super::App;
use crate::api::error::{ApiError, ErrorCode};
use crate::auth::sigv4::RequestParts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

pub async fn handle(app: &App, parts: &RequestParts<'_>, request_id: &str) -> Response {
    let form: HashMap<String, String> = match serde_urlencoded::from_bytes(parts.body) {
        Ok(f) => f,
        Err(e) => {
            return error(
                request_id,
                &ApiError::new(
                    ErrorCode::Serialization,
                    format!("malformed form body: {e}"),
                ),
            );
        }
    };
    match form.get("Action").map(String::as_str) {
        Some("GetCallerIdentity") => {}
        Some(other) => {
            let e = ApiError::new(
                ErrorCode::UnknownOperation,
                format!("Could not find operation {other} for version 2011-06-15"),
            );
            return error(request_id, &e);
        }
        None => {
            let e = ApiError::new(
                ErrorCode::UnknownOperation,
                "Missing Action; epoxy serves STS GetCallerIdentity",
            );
            return error(request_id, &e);
        }
    }
    let caller = match app.auth.authenticate(parts, "sts").await {
        Ok(c) => c,
        Err(e) => return error(request_id, &e),
    };
    let body = format!(
        "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        escape(&caller.arn),
        escape(&caller.user_id),
        escape(&caller.tenant.account),
    );
    xml(StatusCode::OK, body, request_id)
}

pub fn error(request_id: &str, e: &ApiError) -> Response {
    let status = match e.code {
        // STS answers an expired token with 403, where Glue's JSON protocol says 400.
        ErrorCode::ExpiredToken => StatusCode::FORBIDDEN,
        other => StatusCode::from_u16(other.status()).unwrap_or(StatusCode::BAD_REQUEST),
    };
    let kind = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let code = match e.code {
        ErrorCode::UnknownOperation => "InvalidAction",
        ErrorCode::ExpiredToken => "ExpiredToken",
        other => other.as_str(),
    };
    let body = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
        escape(&e.message)
    );
    xml(status, body, request_id)
}

fn xml(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
    response
}

/// XML text: markup escaped, and characters XML 1.0 cannot carry (controls other than TAB, LF,
/// CR, and U+FFFE/U+FFFF) replaced, since messages may quote the request.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}
