//! What the S3 door keeps about buckets, objects and multipart uploads. The bytes are files the
//! objects service writes under the data dir; these records say which file (`blob`) holds which
//! key, and a record is written only once its file is complete, so a key is either fully there
//! or not at all.

use super::StoreError;
use std::collections::{BTreeMap, HashSet};

/// A bucket: names are global, the creating account owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    pub account: String,
    pub region: String,
    pub created_ms: i64,
}

/// One stored object (or, for a multipart upload, the object it will become).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub blob: String,
    pub size: u64,
    /// Without the quotes S3 puts around it on the wire.
    pub etag: String,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub modified_ms: i64,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: String,
    pub bucket: String,
    pub key: String,
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created_ms: i64,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub number: i32,
    pub blob: String,
    pub size: u64,
    pub etag: String,
    pub modified_ms: i64,
}

/// Outcome of CreateBucket: names are global, so a taken name says whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedBucket {
    Created,
    AlreadyOwnedByYou,
    AlreadyExists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletedBucket {
    Deleted,
    NotEmpty,
    Missing,
}

/// Outcome of a write that replaces a record: the file the old record pointed at, which the
/// caller deletes once the new record is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Stored {
        replaced: Option<String>,
    },
    /// The bucket (or upload) was deleted meanwhile: nothing was written.
    Gone,
}

/// One page of keys in byte order after `after` (exclusive), those under `prefix`, keys that
/// have `delimiter` after the prefix rolled up into common prefixes.
pub struct ListQuery<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub after: Option<&'a [u8]>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    Object(ObjectMeta),
    CommonPrefix(String),
}

pub struct ListPage {
    pub entries: Vec<Listed>,
    /// Where the next page starts (exclusive) when this one is truncated.
    pub next: Option<Vec<u8>>,
}

pub trait ObjectStore: Send + Sync + 'static {
    fn create_bucket(&self, bucket: &Bucket) -> Result<CreatedBucket, StoreError>;
    fn bucket(&self, name: &str) -> Result<Option<Bucket>, StoreError>;
    fn buckets(&self, account: &str) -> Result<Vec<Bucket>, StoreError>;
    /// Deletes the bucket only if it holds no objects and no uploads.
    fn delete_bucket(&self, name: &str) -> Result<DeletedBucket, StoreError>;

    fn put_object(&self, bucket: &str, object: &ObjectMeta) -> Result<Stored, StoreError>;
    fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    /// The deleted object's blob, if there was one.
    fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<String>, StoreError>;
    fn list_objects(&self, query: ListQuery<'_>) -> Result<ListPage, StoreError>;

    /// False if the bucket is gone.
    fn create_upload(&self, upload: &Upload) -> Result<bool, StoreError>;
    fn upload(&self, bucket: &str, id: &str) -> Result<Option<Upload>, StoreError>;
    /// The bucket's uploads in (key, created) order, at most `limit`.
    fn uploads(&self, bucket: &str, prefix: &str, limit: usize) -> Result<Vec<Upload>, StoreError>;
    fn put_part(&self, upload: &str, part: &Part) -> Result<Stored, StoreError>;
    fn parts(&self, upload: &str) -> Result<Vec<Part>, StoreError>;
    /// Stores `object` and ends the upload in one transaction; the blobs no longer referenced
    /// (all parts, and a replaced object's), or `None` if the upload is gone.
    fn complete_upload(
        &self,
        bucket: &str,
        upload: &str,
        object: &ObjectMeta,
    ) -> Result<Option<Vec<String>>, StoreError>;
    /// The upload's part blobs, or `None` if there is no such upload.
    fn abort_upload(&self, upload: &str) -> Result<Option<Vec<String>>, StoreError>;

    /// Every blob a record points at, so start-up can delete files a crash left behind.
    fn referenced_blobs(&self) -> Result<HashSet<String>, StoreError>;
}

/// x-amz-meta-* values as stored (a JSON object), in every store.
pub(crate) fn metadata_json(metadata: &BTreeMap<String, String>) -> String {
    serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn metadata_from(json: &str) -> Result<BTreeMap<String, String>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("object metadata: {e}")))
}

/// A stored key back as text.
pub(crate) fn text_key(bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|_| StoreError::Corrupt("an object key is not UTF-8".into()))
}

/// The smallest byte string above every key that starts with `prefix`: no UTF-8 byte is 0xFF.
fn past_prefix(prefix: &str) -> Vec<u8> {
    let mut cursor = prefix.as_bytes().to_vec();
    cursor.push(0xFF);
    cursor
}

/// S3's listing on top of any store's key scan: `fetch(cursor, n)` returns up to `n` objects
/// of the bucket whose keys are above `cursor` and at or above the prefix, in byte order.
/// Common prefixes are skipped past in one jump, so a page costs a scan per entry at most.
pub(crate) fn list_by_scan(
    query: &ListQuery<'_>,
    mut fetch: impl FnMut(&[u8], i64) -> Result<Vec<ObjectMeta>, StoreError>,
) -> Result<ListPage, StoreError> {
    let mut entries = Vec::new();
    if query.limit == 0 {
        return Ok(ListPage {
            entries,
            next: None,
        });
    }
    let mut cursor = query.after.map(<[u8]>::to_vec).unwrap_or_default();
    'scan: loop {
        let batch = (query.limit - entries.len() + 1) as i64;
        let rows = fetch(&cursor, batch)?;
        if rows.is_empty() {
            return Ok(ListPage {
                entries,
                next: None,
            });
        }
        for object in rows {
            if !object.key.starts_with(query.prefix) {
                return Ok(ListPage {
                    entries,
                    next: None,
                });
            }
            if entries.len() == query.limit {
                return Ok(ListPage {
                    entries,
                    next: Some(cursor),
                });
            }
            let rest = &object.key[query.prefix.len()..];
            if let Some(delimiter) = query.delimiter.filter(|d| !d.is_empty())
                && let Some(at) = rest.find(delimiter)
            {
                let common = format!("{}{}", query.prefix, &rest[..at + delimiter.len()]);
                cursor = past_prefix(&common);
                entries.push(Listed::CommonPrefix(common));
                continue 'scan;
            }
            cursor = object.key.as_bytes().to_vec();
            entries.push(Listed::Object(object));
        }
    }
}
