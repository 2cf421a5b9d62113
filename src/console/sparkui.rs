//! The live Spark UI of a session, proxied at `/console/sessions/<id>/sparkui/` behind the
//! console's sign-in. Spark builds its links from the `X-Forwarded-Context` header of each
//! request, so warm-pool drivers need no prefix at start; redirects to the driver's own address
//! are rewritten under the prefix. Bodies stream both ways untouched.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;

/// The header Spark builds its links from (and another node takes the prefix from).
pub const FORWARDED_CONTEXT: &str = "x-forwarded-context";

/// Request headers passed on to Spark (never the console's cookie).
const FORWARDED_REQUEST_HEADERS: [header::HeaderName; 3] = [
    header::ACCEPT,
    header::ACCEPT_LANGUAGE,
    header::IF_MODIFIED_SINCE,
];

/// Response headers passed back to the browser.
const FORWARDED_RESPONSE_HEADERS: [header::HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CACHE_CONTROL,
    header::LAST_MODIFIED,
    header::EXPIRES,
];

/// `Location` as the browser must follow it: an absolute URL of the driver, or a path Spark
/// made without the prefix, goes under `prefix`.
pub fn rewrite_location(location: &str, prefix: &str) -> String {
    let path = match location.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => location,
    };
    if path.starts_with(prefix) || !path.starts_with('/') {
        path.to_string()
    } else {
        format!("{prefix}{path}")
    }
}

/// Where a Spark UI request is sent.
pub struct Upstream<'a> {
    /// `host:port`: the driver's UI on loopback, or the node that runs the driver.
    pub authority: String,
    pub path_and_query: String,
    /// To another node: the proof that this node asks on a signed-in viewer's behalf.
    pub peer_proof: Option<&'a str>,
}

impl Upstream<'_> {
    /// The UI of a driver of this node, on its loopback `port`.
    pub fn driver(port: u16, path_and_query: String) -> Self {
        Self {
            authority: format!("127.0.0.1:{port}"),
            path_and_query,
            peer_proof: None,
        }
    }
}

/// Sends the request to `upstream` (the UI's links and redirects kept under `prefix`),
/// streaming its answer back.
pub async fn proxy(upstream: Upstream<'_>, prefix: &str, headers: &HeaderMap) -> Response {
    let authority = upstream.authority.as_str();
    let unavailable = |why: String| {
        tracing::debug!(authority, error = %why, "Spark UI proxy");
        (
            StatusCode::BAD_GATEWAY,
            "the session's Spark UI does not answer\n",
        )
            .into_response()
    };
    let stream = match tokio::net::TcpStream::connect(authority).await {
        Ok(s) => s,
        Err(e) => return unavailable(e.to_string()),
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(e) => return unavailable(e.to_string()),
        };
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "Spark UI connection ended");
        }
    });
    let mut request = Request::get(upstream.path_and_query)
        .header(header::HOST, authority)
        .header(FORWARDED_CONTEXT, prefix);
    if let Some(proof) = upstream.peer_proof {
        request = request.header(crate::protocol::peer::PEER_HEADER, proof);
    }
    for name in FORWARDED_REQUEST_HEADERS {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let Ok(request) = request.body(Body::empty()) else {
        return (StatusCode::BAD_REQUEST, "unusable Spark UI path\n").into_response();
    };
    let upstream = match sender.send_request(request).await {
        Ok(r) => r,
        Err(e) => return unavailable(e.to_string()),
    };
    let (parts, body) = upstream.into_parts();
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = parts.status;
    for name in FORWARDED_RESPONSE_HEADERS {
        if let Some(value) = parts.headers.get(&name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    if let Some(location) = parts
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        && let Ok(value) = HeaderValue::from_str(&rewrite_location(location, prefix))
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_under_the_prefix() {
        let prefix = "/console/sessions/s1/sparkui";
        assert_eq!(
            rewrite_location("http://127.0.0.1:4041/jobs/", prefix),
            "/console/sessions/s1/sparkui/jobs/"
        );
        assert_eq!(
            rewrite_location(
                "http://127.0.0.1:4041/console/sessions/s1/sparkui/jobs/",
                prefix
            ),
            "/console/sessions/s1/sparkui/jobs/"
        );
        assert_eq!(
            rewrite_location("/stages/", prefix),
            "/console/sessions/s1/sparkui/stages/"
        );
        assert_eq!(
            rewrite_location("http://127.0.0.1:4041", prefix),
            "/console/sessions/s1/sparkui/"
        );
    }
}
