//! The S3 door: a request signed for the `s3` service (SigV4 Credential scope `…/s3/aws4_request`
//! in the Authorization header or a presigned URL's `X-Amz-Credential`, or SigV2, which only S3
//! speaks) goes to s3s; every other request continues to the Glue/STS routes unchanged.
//! Unsigned requests stay with Glue: nothing about an anonymous `GET /x` says it is S3.

use super::aws_chunked;
use crate::objects::{AccountsAuth, DecodedTrailers, ObjectService, Tenancy, check_session_key};
use crate::store::CredentialStore;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use s3s::dto::StreamingBlob;
use s3s::host::{S3Host, VirtualHost};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3Error, S3ErrorCode, S3Result};
use std::sync::Arc;

/// What answers S3 requests on this port.
pub enum S3Door {
    Serving {
        service: S3Service,
        /// Strict mode: where sessions' minted keys are checked (token, revocation, expiry)
        /// before s3s verifies the signature. `None` is open mode: signatures are not checked
        /// (there are no secrets to check them with).
        session_keys: Option<Arc<dyn CredentialStore>>,
    },
    /// `--s3-endpoint`: S3 lives elsewhere; S3 requests here get an error saying where.
    Disabled { endpoint: String },
}

/// Query parameters that carry a presigned URL's signature (SigV4 and SigV2).
const PRESIGN_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
];

/// Virtual-host addressing for `<bucket>.localhost[:port]`; any other host is path-style.
struct LocalhostBuckets;

impl S3Host for LocalhostBuckets {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name);
        Ok(match name.strip_suffix(".localhost") {
            Some(bucket) if !bucket.is_empty() => VirtualHost::new(host).with_bucket(bucket),
            _ => VirtualHost::new(host),
        })
    }
}

impl S3Door {
    pub fn serving(objects: ObjectService, tenancy: &Tenancy) -> Self {
        let mut builder = S3ServiceBuilder::new(objects);
        builder.set_host(LocalhostBuckets);
        let session_keys = match tenancy {
            Tenancy::Open => None,
            Tenancy::Accounts { accounts, store } => {
                builder.set_auth(AccountsAuth {
                    accounts: accounts.clone(),
                    store: Arc::clone(store),
                });
                Some(Arc::clone(store))
            }
        };
        Self::Serving {
            service: builder.build(),
            session_keys,
        }
    }

    async fn serve(&self, req: Request) -> Response {
        let sends_body = sends_body(req.headers());
        let mut resp = self.answer(req).await;
        if sends_body && !resp.status().is_success() {
            // An early error leaves the body unread; a client that sends it anyway (after
            // `Expect: 100-continue` timed out) must not have it read as its next request.
            resp.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        resp
    }

    async fn answer(&self, req: Request) -> Response {
        match self {
            Self::Disabled { endpoint } => error(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                format!(
                    "epoxy's built-in S3 is disabled: this server was started with --s3-endpoint {endpoint}; send S3 requests there"
                ),
            )),
            Self::Serving {
                service,
                session_keys,
            } => {
                let req = match session_keys {
                    None => unsigned(req),
                    Some(store) => {
                        if let Some((key, token)) = access_key_and_token(req.headers(), req.uri())
                            && let Err(e) = check_session_key(store, &key, token.as_deref()).await
                        {
                            return error(e);
                        }
                        sigv2_token_as_header(req).map(s3s::Body::http_body_unsync)
                    }
                };
                match service.call(req).await {
                    Ok(resp) => resp.map(Body::new),
                    Err(e) => {
                        tracing::error!(error = ?e, "s3s failed to answer");
                        error(S3Error::new(S3ErrorCode::InternalError))
                    }
                }
            }
        }
    }
}

/// Whether a request announces a body (one the answer may leave unread).
fn sends_body(headers: &http::HeaderMap) -> bool {
    headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

fn error(e: S3Error) -> Response {
    match e.to_http_response() {
        Ok(resp) => resp.map(Body::new),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Puts the S3 door in front of `router`.
pub fn with_s3(router: Router, door: Arc<S3Door>) -> Router {
    router.layer(axum::middleware::from_fn_with_state(door, intercept))
}

async fn intercept(State(door): State<Arc<S3Door>>, req: Request, next: Next) -> Response {
    if signed_for_s3(req.headers(), req.uri()) {
        door.serve(req).await
    } else {
        next.run(req).await
    }
}

/// The service of a SigV4 credential `KEY/DATE/REGION/SERVICE/aws4_request`.
fn scope_service(credential: &str) -> Option<&str> {
    let mut parts = credential.rsplitn(3, '/');
    (parts.next()? == "aws4_request").then_some(())?;
    parts.next()
}

/// The access key id a request is signed with, and its session token (header or presigned
/// query parameter), as sent.
fn access_key_and_token(headers: &HeaderMap, uri: &Uri) -> Option<(String, Option<Vec<u8>>)> {
    let params: Vec<(String, String)> = uri
        .query()
        .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let key = match headers.get(header::AUTHORIZATION) {
        Some(auth) => {
            let auth = String::from_utf8_lossy(auth.as_bytes()).into_owned();
            match auth.strip_prefix("AWS ") {
                Some(v2) => v2.split(':').next()?.trim().to_owned(),
                None => auth
                    .split_once("Credential=")?
                    .1
                    .split('/')
                    .next()?
                    .to_owned(),
            }
        }
        None => param("X-Amz-Credential")
            .and_then(|c| c.split('/').next())
            .or_else(|| param("AWSAccessKeyId"))?
            .to_owned(),
    };
    let token = headers
        .get("x-amz-security-token")
        .map(|v| v.as_bytes().to_vec())
        .or_else(|| query_token(&params).map(|t| t.as_bytes().to_vec()));
    Some((key, token))
}

/// A presigned URL's session token: SigV4 spells the parameter `X-Amz-Security-Token`, SigV2
/// (boto3's default for `generate_presigned_url`) `x-amz-security-token`.
fn query_token(params: &[(String, String)]) -> Option<&str> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("X-Amz-Security-Token"))
        .map(|(_, t)| t.as_str())
}

pub fn signed_for_s3(headers: &HeaderMap, uri: &Uri) -> bool {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let auth = String::from_utf8_lossy(auth.as_bytes());
        if auth.starts_with("AWS ") {
            return true;
        }
        return auth
            .split_once("Credential=")
            .and_then(|(_, rest)| rest.split([',', ' ']).next())
            .and_then(scope_service)
            == Some("s3");
    }
    let Some(query) = uri.query() else {
        return false;
    };
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    params.iter().any(|(name, value)| {
        (name == "X-Amz-Credential" && scope_service(value) == Some("s3"))
            || name == "AWSAccessKeyId"
    })
}

/// A SigV2 presigned URL's session token is signed as the `x-amz-security-token` header it
/// stands for (botocore signs it so and AWS checks it so), but s3s builds the SigV2 string to
/// sign from headers only: the query's token is given to it as that header too.
fn sigv2_token_as_header(mut req: Request) -> Request {
    let Some(query) = req.uri().query() else {
        return req;
    };
    if req.headers().contains_key("x-amz-security-token") {
        return req;
    }
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    if !params.iter().any(|(n, _)| n == "AWSAccessKeyId") {
        return req;
    }
    let token = query_token(&params).and_then(|t| http::HeaderValue::from_str(t).ok());
    if let Some(token) = token {
        req.headers_mut().insert("x-amz-security-token", token);
    }
    req
}

/// Open mode: the request as s3s sees an anonymous one — no Authorization, no presigning
/// parameters, and an aws-chunked body reduced to its payload, its trailers (checksums) passed
/// on in the extensions. Chunk signatures are not checked (nothing to check them with).
fn unsigned(req: Request) -> http::Request<s3s::Body> {
    let (mut parts, body) = req.into_parts();
    let headers = &mut parts.headers;
    headers.remove(header::AUTHORIZATION);
    if let Some(query) = parts.uri.query() {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| {
                let name = p.split('=').next().unwrap_or_default();
                !PRESIGN_PARAMS.iter().any(|n| n.eq_ignore_ascii_case(name))
            })
            .collect();
        let path_and_query = if kept.is_empty() {
            parts.uri.path().to_owned()
        } else {
            format!("{}?{}", parts.uri.path(), kept.join("&"))
        };
        let mut uri = parts.uri.clone().into_parts();
        uri.path_and_query = path_and_query.parse().ok();
        if let Ok(rebuilt) = Uri::from_parts(uri) {
            parts.uri = rebuilt;
        }
    }
    let streaming = headers
        .get("x-amz-content-sha256")
        .is_some_and(|v| v.as_bytes().starts_with(b"STREAMING-"));
    headers.remove("x-amz-content-sha256");
    let body = s3s::Body::http_body_unsync(body);
    if !streaming {
        return http::Request::from_parts(parts, body);
    }
    if let Some(decoded) = headers.remove("x-amz-decoded-content-length") {
        headers.insert(header::CONTENT_LENGTH, decoded);
    }
    let encodings = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|e| !e.eq_ignore_ascii_case("aws-chunked") && !e.is_empty())
                .collect::<Vec<_>>()
                .join(",")
        });
    match encodings.and_then(|e| HeaderValue::from_str(&e).ok()) {
        Some(e) if !e.is_empty() => headers.insert(header::CONTENT_ENCODING, e),
        _ => headers.remove(header::CONTENT_ENCODING),
    };
    let trailers = DecodedTrailers::default();
    parts.extensions.insert(trailers.clone());
    let payload = StreamingBlob::wrap(aws_chunked::decode(body, trailers));
    http::Request::from_parts(parts, s3s::Body::from(payload))
}
