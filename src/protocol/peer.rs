//! Fetching what lives on another node's disk (a session's driver log) on a caller's behalf
//! (the console's Spark UI proxy asks another node the same way).
//! The other node is asked for `/logs/<token>` with a proof that this node holds the nodes'
//! shared secret (the store's), so it answers from its own disk and never passes the request on.

use crate::sessions::SessionService;
use crate::sessions::nodes::LogSource;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// The header carrying a node's proof.
pub const PEER_HEADER: &str = "x-epoxy-peer";

/// The largest log fetched from another node.
const MAX_LOG_BYTES: usize = 256 * 1024 * 1024;

/// How long another node gets to answer.
const PEER_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("no such log")]
    Unknown,
    #[error("this session has no driver log (yet)")]
    Missing,
    #[error("the node that has this log did not answer: {0}")]
    Node(String),
}

/// The bytes of the log `token` names, from this disk or the node that has it.
pub async fn read_log(
    service: &SessionService,
    token: &str,
    peer: Option<&str>,
) -> Result<Vec<u8>, LogError> {
    match service.log_source(token, peer).await {
        None => Err(LogError::Unknown),
        Some(LogSource::Local(path)) => tokio::fs::read(&path).await.map_err(|_| LogError::Missing),
        Some(LogSource::Node { url, proof }) => {
            tokio::time::timeout(PEER_TIMEOUT, fetch(&url, token, &proof))
                .await
                .map_err(|_| LogError::Node(format!("no answer within {PEER_TIMEOUT:?}")))?
        }
    }
}

/// The `host:port` to connect to for a node's advertised URL (node-to-node calls speak plain
/// HTTP only).
pub fn node_authority(url: &str) -> Result<&str, String> {
    if url.starts_with("https://") {
        return Err(format!(
            "{url} is https, which node-to-node calls do not speak; advertise an http:// URL"
        ));
    }
    Ok(url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/'))
}

async fn fetch(url: &str, token: &str, proof: &str) -> Result<Vec<u8>, LogError> {
    let node = |e: &dyn std::fmt::Display| LogError::Node(e.to_string());
    let authority = node_authority(url).map_err(LogError::Node)?;
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| node(&e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| node(&e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = Request::get(format!("/logs/{token}"))
        .header(header::HOST, authority)
        .header(PEER_HEADER, proof)
        .body(Body::empty())
        .map_err(|e| node(&e))?;
    let response = sender.send_request(request).await.map_err(|e| node(&e))?;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => return Err(LogError::Missing),
        other => return Err(LogError::Node(format!("it answered {other}"))),
    }
    let body = Limited::new(response.into_body(), MAX_LOG_BYTES)
        .collect()
        .await
        .map_err(|e| node(&e))?;
    Ok(body.to_bytes().to_vec())
}
