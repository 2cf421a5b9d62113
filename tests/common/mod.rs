//! Shared by the HTTP-level tests: an in-process epoxy (`--runtime none`), request builders,
//! reply assertions and a small SigV4 signer.
#![allow(dead_code)] // each test crate uses a different part of this module

use axum::body::Body;
use epoxy::auth::{Authenticator, Keys};
use epoxy::catalog::CatalogService;
use epoxy::protocol::{self, App};
use epoxy::sessions::service::NodeConfig;
use epoxy::sessions::{ServiceConfig, SessionService};
use epoxy::store::SessionStore;
use epoxy::store::sqlite::SqliteStore;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use time::OffsetDateTime;
use tower::ServiceExt;

pub const JSON_1_1: &str = "application/x-amz-json-1.1";
pub const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
pub const ROLE: &str = "arn:aws:iam::123456789012:role/GlueInteractive";
pub const OPEN_ACCOUNT: &str = "000000000000";

// ---------------------------------------------------------------------------------------------
// the server

/// epoxy wired as `epoxy serve --runtime none` does, answering in-process.
pub struct Server {
    router: axum::Router,
    _dir: TempDir,
}

impl Server {
    pub async fn open() -> Self {
        Self::start(Keys::Open).await
    }

    pub async fn start(keys: Keys) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(SqliteStore::open(&dir.path().join("epoxy.db")).expect("store"));
        let auth = Authenticator::new(keys, store.clone());
        let config = ServiceConfig {
            minute: Duration::from_secs(60),
            max_live_sessions: 4,
            capacity: 4,
            // No listener: this server answers in-process and runs no drivers.
            endpoint_url: "http://127.0.0.1:4747".into(),
            node: NodeConfig {
                id: "0".repeat(32),
                advertise_url: "http://127.0.0.1:4747".into(),
                lease: Duration::from_secs(15),
                metastore: None,
            },
        };
        let catalog = Arc::new(CatalogService::new(
            Arc::clone(&store) as _,
            dir.path().join("warehouse"),
            store.secret().expect("secret"),
        ));
        let service = SessionService::start(store, None, config)
            .await
            .expect("service");
        let router = protocol::router(Arc::new(App::new(service, catalog, None, auth, true)));
        Self { router, _dir: dir }
    }

    /// The data directory (holding `epoxy.db`), for tests that inspect the store directly.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Sends one request; no reply may ever be a 5xx (botocore retries those).
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let what = format!(
            "{} {} {:?}",
            request.method(),
            request.uri(),
            request.headers().get("x-amz-target")
        );
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("response body")
            .to_bytes()
            .to_vec();
        let reply = Reply {
            status,
            headers,
            body,
        };
        assert!(
            !status.is_server_error(),
            "{what} answered {status}: {}",
            reply.text()
        );
        reply
    }

    /// An unsigned Glue call (open mode accepts it).
    pub async fn call(&self, op: &str, body: Value) -> Reply {
        self.send(glue(op, &body)).await
    }

    /// CreateSession with the minimal valid input plus `extra`; must succeed.
    pub async fn create(&self, id: &str, extra: Value) -> Value {
        self.call("CreateSession", create_input(id, extra))
            .await
            .ok()
    }

    /// All session ids ListSessions returns for `filter`, following NextToken.
    pub async fn list_ids(&self, filter: Value) -> Vec<String> {
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({ "MaxResults": 1000, "Tags": filter });
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let page = self.call("ListSessions", body).await.ok();
            ids.extend(strings(&page["Ids"]));
            match page.get("NextToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_owned()),
                None => return ids,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// requests

/// Headers botocore sends to Glue (minus the signature).
pub fn glue_headers(op: &str) -> HeaderMap {
    headers(&[
        ("host", "localhost:4747"),
        ("content-type", JSON_1_1),
        ("x-amz-target", &format!("AWSGlue.{op}")),
    ])
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                HeaderValue::from_str(v).expect("header value"),
            )
        })
        .collect()
}

/// `POST /` with exactly these headers and body.
pub fn post(headers: HeaderMap, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post("/").body(body.into()).expect("request");
    *request.headers_mut() = headers;
    request
}

/// A Glue JSON 1.1 request for `op`.
pub fn glue(op: &str, body: &Value) -> Request<Body> {
    post(glue_headers(op), body.to_string())
}

pub fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, "localhost:4747")
        .body(Body::empty())
        .expect("request")
}

/// The smallest valid CreateSession input, with `extra` members merged over it (`null` removes).
pub fn create_input(id: &str, extra: Value) -> Value {
    let mut input = json!({
        "Id": id,
        "Role": ROLE,
        "Command": { "Name": "glueetl", "PythonVersion": "3" },
    });
    merge(&mut input, extra);
    input
}

/// Shallow merge of the members of `extra` into `into`; a `null` member is removed.
pub fn merge(into: &mut Value, extra: Value) {
    let Value::Object(extra) = extra else {
        return;
    };
    let target = into.as_object_mut().expect("an object");
    for (k, v) in extra {
        if v.is_null() {
            target.remove(&k);
        } else {
            target.insert(k, v);
        }
    }
}

pub fn session_arn(account: &str, region: &str, id: &str) -> String {
    format!("arn:aws:glue:{region}:{account}:session/{id}")
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// replies

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// A JSON 1.1 success: 200, the protocol's content type, a request id; the body's JSON.
    #[track_caller]
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        assert_eq!(self.header("content-type"), Some(JSON_1_1));
        assert!(
            self.header("x-amzn-requestid")
                .is_some_and(|id| !id.is_empty()),
            "no x-amzn-RequestId"
        );
        let body = self.json();
        assert!(body.is_object(), "output is not an object: {body}");
        body
    }

    /// A JSON 1.1 error as botocore and the smithy SDKs read it; returns its Message.
    #[track_caller]
    pub fn error(&self, status: u16, code: &str) -> String {
        let body = self.json();
        assert_eq!(
            (self.status.as_u16(), body["__type"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert_eq!(self.header("content-type"), Some(JSON_1_1), "{body}");
        assert_eq!(self.header("x-amzn-errortype"), Some(code), "{body}");
        assert!(
            self.header("x-amzn-requestid")
                .is_some_and(|id| !id.is_empty()),
            "no x-amzn-RequestId: {body}"
        );
        let message = body["Message"].as_str().unwrap_or_default();
        assert!(!message.trim().is_empty(), "empty Message: {body}");
        message.to_owned()
    }

    /// 400 InvalidInputException.
    #[track_caller]
    pub fn invalid(&self) -> String {
        self.error(400, "InvalidInputException")
    }

    #[track_caller]
    pub fn not_found(&self) -> String {
        self.error(400, "EntityNotFoundException")
    }
}

// ---------------------------------------------------------------------------------------------
// SigV4

/// Signs requests as botocore does (spec §a.3): every `host`, `content-type` and `x-amz-*`
/// header, the body's SHA-256, scope `<date>/<region>/<service>/aws4_request`.
#[derive(Clone, Debug)]
pub struct Signer {
    pub access_key: String,
    pub secret: String,
    pub region: String,
    pub service: String,
    pub at: OffsetDateTime,
    /// Sent (and signed) as `X-Amz-Security-Token`, as SDKs do for temporary credentials.
    pub token: Option<String>,
}

impl Signer {
    pub fn new(access_key: &str, secret: &str, region: &str) -> Self {
        Self {
            access_key: access_key.into(),
            secret: secret.into(),
            region: region.into(),
            service: "glue".into(),
            at: OffsetDateTime::now_utc(),
            token: None,
        }
    }

    pub fn token(self, token: &str) -> Self {
        Self {
            token: Some(token.into()),
            ..self
        }
    }

    pub fn service(self, service: &str) -> Self {
        Self {
            service: service.into(),
            ..self
        }
    }

    pub fn region(self, region: &str) -> Self {
        Self {
            region: region.into(),
            ..self
        }
    }

    pub fn secret(self, secret: &str) -> Self {
        Self {
            secret: secret.into(),
            ..self
        }
    }

    pub fn access_key(self, access_key: &str) -> Self {
        Self {
            access_key: access_key.into(),
            ..self
        }
    }

    pub fn at(self, at: OffsetDateTime) -> Self {
        Self { at, ..self }
    }

    /// Adds `X-Amz-Date` and `Authorization` for `POST /` with `body`.
    pub fn sign(&self, headers: &mut HeaderMap, body: &[u8]) {
        let amz_date = amz_date(self.at);
        headers.insert("x-amz-date", HeaderValue::from_str(&amz_date).unwrap());
        if let Some(token) = &self.token {
            headers.insert(
                "x-amz-security-token",
                HeaderValue::from_str(token).expect("token header"),
            );
        }
        let mut names: Vec<&str> = headers
            .keys()
            .map(HeaderName::as_str)
            .filter(|n| matches!(*n, "host" | "content-type") || n.starts_with("x-amz-"))
            .collect();
        names.sort_unstable();
        names.dedup();
        let canonical_headers: String = names
            .iter()
            .map(|n| {
                let value = headers[*n].to_str().expect("ASCII header");
                format!(
                    "{n}:{}\n",
                    value.split_whitespace().collect::<Vec<_>>().join(" ")
                )
            })
            .collect();
        let signed = names.join(";");
        let canonical_request = format!(
            "POST\n/\n\n{canonical_headers}\n{signed}\n{}",
            sha256_hex(body)
        );
        let scope = format!(
            "{}/{}/{}/aws4_request",
            &amz_date[..8],
            self.region,
            self.service
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical_request.as_bytes())
        );
        let key = [
            &amz_date[..8],
            self.region.as_str(),
            self.service.as_str(),
            "aws4_request",
        ]
        .iter()
        .fold(format!("AWS4{}", self.secret).into_bytes(), |key, part| {
            hmac(&key, part.as_bytes())
        });
        let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            self.access_key
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&authorization).unwrap(),
        );
    }

    /// A signed Glue request.
    pub fn glue(&self, op: &str, body: &Value) -> Request<Body> {
        let mut headers = glue_headers(op);
        let body = body.to_string().into_bytes();
        self.sign(&mut headers, &body);
        post(headers, body)
    }

    /// A signed awsQuery (STS) request with a form body.
    pub fn query(&self, form: &str) -> Request<Body> {
        let mut headers = headers(&[("host", "localhost:4747"), ("content-type", FORM)]);
        self.sign(&mut headers, form.as_bytes());
        post(headers, form.to_owned())
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// SigV4's basic ISO-8601 time, `20261124T232404Z`.
pub fn amz_date(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
