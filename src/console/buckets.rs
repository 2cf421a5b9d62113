//! The console's S3 pages: the viewer's buckets and a bucket's objects, browsed by prefix with
//! a delimiter (folders) and paged, read through [`ObjectService`](crate::objects::ObjectService)
//! with the same ownership rule as the S3 door: another account's bucket does not exist here.

use super::{Console, PageViewer, Signed, viewer_context};
use crate::api::error::ApiError;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use s3s::{S3Error, S3ErrorCode};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Entries per page unless the query asks for fewer.
const PAGE: usize = 100;
/// The most a page may ask for (S3's own MaxKeys bound).
const MAX_PAGE: usize = 1000;

/// S3's answer as the console shows it: a bucket the viewer does not own is not found.
fn s3_error(bucket: &str, e: &S3Error) -> ApiError {
    match e.code() {
        S3ErrorCode::NoSuchBucket | S3ErrorCode::AccessDenied => {
            ApiError::not_found(format!("Bucket {bucket} does not exist"))
        }
        S3ErrorCode::InvalidArgument => {
            ApiError::invalid_input(e.message().unwrap_or("invalid listing").to_owned())
        }
        _ => {
            tracing::error!(error = ?e, "console: S3 listing failed");
            ApiError::internal("The bucket could not be listed")
        }
    }
}

fn disabled() -> ApiError {
    ApiError::not_found(
        "The built-in S3 is off (this server was started with --s3-endpoint); browse that S3 with its own tools",
    )
}

pub(super) async fn buckets_page(
    State(console): State<Arc<Console>>,
    Signed(viewer): PageViewer,
) -> Response {
    let Some(objects) = &console.objects else {
        return console.error(disabled());
    };
    match objects.account_buckets(&viewer.tenant.account).await {
        Ok(buckets) => {
            let buckets: Vec<_> = buckets
                .iter()
                .map(|b| {
                    serde_json::json!({
                        "name": b.name,
                        "region": b.region,
                        "created": super::rfc3339(b.created_ms),
                    })
                })
                .collect();
            console.render(
                "buckets.html",
                serde_json::json!({ "viewer": viewer_context(&viewer), "buckets": buckets }),
            )
        }
        Err(e) => console.error(s3_error("", &e)),
    }
}

#[derive(Deserialize, Serialize, Clone)]
pub(super) struct Browse {
    #[serde(default)]
    prefix: String,
    /// Folders at this delimiter; empty lists every key flat.
    #[serde(default = "slash")]
    delimiter: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    limit: Option<usize>,
}

fn slash() -> String {
    "/".to_owned()
}

/// The query of a listing of `bucket` at `prefix` (the same delimiter and page size).
fn browse_query(browse: &Browse, prefix: &str, next: &str) -> String {
    serde_urlencoded::to_string(Browse {
        prefix: prefix.to_owned(),
        next: next.to_owned(),
        ..browse.clone()
    })
    .unwrap_or_default()
}

/// Breadcrumbs: each folder of `prefix` (ending in the delimiter) with its listing's query.
fn crumbs(browse: &Browse) -> Vec<serde_json::Value> {
    let mut out = vec![serde_json::json!({ "name": "/", "query": browse_query(browse, "", "") })];
    if browse.delimiter.is_empty() {
        return out;
    }
    let mut at = 0;
    while let Some(found) = browse.prefix[at..].find(&browse.delimiter) {
        let end = at + found + browse.delimiter.len();
        out.push(serde_json::json!({
            "name": &browse.prefix[at..end],
            "query": browse_query(browse, &browse.prefix[..end], ""),
        }));
        at = end;
    }
    out
}

pub(super) async fn bucket_page(
    State(console): State<Arc<Console>>,
    Signed(viewer): PageViewer,
    Path(bucket): Path<String>,
    Query(browse): Query<Browse>,
) -> Response {
    let Some(objects) = &console.objects else {
        return console.error(disabled());
    };
    let limit = browse.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let delimiter = Some(browse.delimiter.as_str()).filter(|d| !d.is_empty());
    let token = Some(browse.next.as_str()).filter(|t| !t.is_empty());
    let page = match objects
        .browse(
            &viewer.tenant.account,
            &bucket,
            &browse.prefix,
            delimiter,
            token,
            limit,
        )
        .await
    {
        Ok(page) => page,
        Err(e) => return console.error(s3_error(&bucket, &e)),
    };
    let folders: Vec<_> = page
        .prefixes
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.strip_prefix(browse.prefix.as_str()).unwrap_or(p),
                "query": browse_query(&browse, p, ""),
            })
        })
        .collect();
    let objects: Vec<_> = page
        .objects
        .iter()
        .map(|o| {
            serde_json::json!({
                "key": o.key,
                "name": o.key.strip_prefix(browse.prefix.as_str()).unwrap_or(&o.key),
                "size": o.size,
                "etag": o.etag,
                "content_type": o.content_type,
                "modified": super::rfc3339(o.modified_ms),
            })
        })
        .collect();
    console.render(
        "bucket.html",
        serde_json::json!({
            "viewer": viewer_context(&viewer),
            "bucket": bucket,
            "prefix": browse.prefix,
            "delimiter": browse.delimiter,
            "crumbs": crumbs(&browse),
            "folders": folders,
            "objects": objects,
            "next_query": page.next.map(|next| browse_query(&browse, &browse.prefix, &next)),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breadcrumbs_follow_the_delimiter() {
        let browse = Browse {
            prefix: "a/b/c".into(),
            delimiter: "/".into(),
            next: "tok".into(),
            limit: Some(5),
        };
        let names: Vec<_> = crumbs(&browse)
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["/", "a/", "b/"]);
        let last = &crumbs(&browse)[2]["query"];
        assert_eq!(last, "prefix=a%2Fb%2F&delimiter=%2F&next=&limit=5");
        let flat = Browse {
            delimiter: String::new(),
            ..browse
        };
        assert_eq!(crumbs(&flat).len(), 1);
    }
}
