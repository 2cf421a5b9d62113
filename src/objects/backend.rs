//! The S3 operations s3s dispatches to: buckets, objects and multipart uploads over the
//! [`ObjectStore`] records and the [`BlobDir`] files. s3s has parsed and validated the wire
//! (names, XML, headers, signatures); this file applies S3's semantics and ownership.

mod browse;

pub use browse::Browsed;

use super::blobs::{BlobDir, PendingBlob, WriteError};
use super::checks::{self, Expected};
use super::tenancy::Tenancy;
use crate::store::StoreError;
use crate::store::objects::{
    Bucket, CreatedBucket, DeletedBucket, ListQuery, Listed, ObjectMeta, ObjectStore, Part, Stored,
    Upload,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::{self, Checksum, ETag, StreamingBlob, Timestamp};
use s3s::{S3, S3Error, S3Request, S3Response, S3Result, s3_error};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

/// S3's largest single PUT and largest part: 5 GiB.
pub const MAX_OBJECT_BYTES: u64 = 5 << 30;
/// Every part but the last must be at least 5 MiB.
pub const MIN_PART_BYTES: u64 = 5 << 20;
const MAX_PART_NUMBER: i32 = 10_000;
const MAX_KEYS: i32 = 1000;
const DEFAULT_REGION: &str = "us-east-1";

/// The built-in S3: what s3s calls for each operation (cloned for the console's read-only view).
#[derive(Clone)]
pub struct ObjectService {
    store: Arc<dyn ObjectStore>,
    blobs: BlobDir,
    tenancy: Tenancy,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn timestamp(ms: i64) -> Timestamp {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .into()
}

fn internal(e: impl std::fmt::Display) -> S3Error {
    tracing::error!(error = %e, "S3 backend fault");
    s3_error!(
        InternalError,
        "We encountered an internal error. Please try again."
    )
}

/// A replacing write's outcome as the blobs it made unused, `None` if nothing was written.
fn unused(stored: Stored) -> Option<Vec<String>> {
    match stored {
        Stored::Stored { replaced } => Some(replaced.into_iter().collect()),
        Stored::Gone => None,
    }
}

fn no_such_bucket() -> S3Error {
    s3_error!(NoSuchBucket, "The specified bucket does not exist")
}

fn no_such_key() -> S3Error {
    s3_error!(NoSuchKey, "The specified key does not exist.")
}

fn no_such_upload() -> S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

fn write_error(e: WriteError) -> S3Error {
    match e {
        WriteError::TooLarge(limit) => s3_error!(
            EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed size of {limit} bytes"
        ),
        WriteError::Body(m) => s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header: {m}"
        ),
        WriteError::Io(e) => internal(e),
    }
}

fn strip_quotes(etag: &str) -> &str {
    etag.trim().trim_start_matches("W/").trim_matches('"')
}

fn etag_value(etag: &ETag) -> &str {
    match etag {
        ETag::Strong(s) | ETag::Weak(s) => s,
    }
}

/// PutObject's and UploadPart's outputs: the ETag and the checksums that were verified.
macro_rules! written_output {
    ($output:ident, $etag:expr, $checksum:ident) => {
        dto::$output {
            e_tag: Some(ETag::Strong($etag)),
            checksum_crc32: $checksum.checksum_crc32,
            checksum_crc32c: $checksum.checksum_crc32c,
            checksum_crc64nvme: $checksum.checksum_crc64nvme,
            checksum_sha1: $checksum.checksum_sha1,
            checksum_sha256: $checksum.checksum_sha256,
            ..Default::default()
        }
    };
}

/// GetObject's and HeadObject's outputs: the same object headers (plus the body for GET).
macro_rules! object_output {
    ($output:ident, $meta:ident, $range:ident, $span:ident $(, $field:ident: $value:expr)*) => {
        dto::$output {
            accept_ranges: Some("bytes".into()),
            content_length: Some(($span.end - $span.start) as i64),
            content_range: $range.as_ref().map(|r| content_range(r, $meta.size)),
            content_type: $meta.content_type,
            e_tag: Some(ETag::Strong($meta.etag)),
            last_modified: Some(timestamp($meta.modified_ms)),
            metadata: metadata_or_none($meta.metadata),
            $($field: $value,)*
            ..Default::default()
        }
    };
}

/// Streams the body of a PutObject or UploadPart request (the same member names in both) to a
/// pending blob checked against the request's Content-MD5 and checksums.
macro_rules! receive {
    ($service:expr, $req:ident) => {{
        let checksum = Checksum {
            checksum_crc32: $req.input.checksum_crc32.take(),
            checksum_crc32c: $req.input.checksum_crc32c.take(),
            checksum_crc64nvme: $req.input.checksum_crc64nvme.take(),
            checksum_sha1: $req.input.checksum_sha1.take(),
            checksum_sha256: $req.input.checksum_sha256.take(),
            ..Default::default()
        };
        let expected = Expected::new($req.input.content_md5.take(), checksum, &$req.headers)?;
        let body = $req.input.body.take();
        $service
            .receive(body, $req.input.content_length, expected, || {
                checks::trailers($req.trailing_headers.as_ref(), &$req.extensions)
            })
            .await?
    }};
}

/// The opaque ListObjectsV2 continuation token: the position to list after.
fn encode_token(cursor: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(cursor)
}

fn decode_token(token: &str) -> S3Result<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(token).map_err(|_| {
        s3_error!(
            InvalidArgument,
            "The continuation token provided is incorrect"
        )
    })
}

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(MAX_KEYS as usize),
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "max-keys must be a non-negative integer"
        )),
        Some(n) => Ok(n.min(MAX_KEYS) as usize),
    }
}

fn object_entry(meta: ObjectMeta) -> dto::Object {
    dto::Object {
        e_tag: Some(ETag::Strong(meta.etag)),
        key: Some(meta.key),
        last_modified: Some(timestamp(meta.modified_ms)),
        size: Some(i64::try_from(meta.size).unwrap_or(i64::MAX)),
        storage_class: Some(dto::ObjectStorageClass::from_static(
            dto::ObjectStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}

/// Splits a listing into S3's Contents and CommonPrefixes.
fn split_listing(entries: Vec<Listed>) -> (Vec<dto::Object>, Vec<dto::CommonPrefix>) {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for entry in entries {
        match entry {
            Listed::Object(meta) => contents.push(object_entry(meta)),
            Listed::CommonPrefix(p) => prefixes.push(dto::CommonPrefix { prefix: Some(p) }),
        }
    }
    (contents, prefixes)
}

impl ObjectService {
    /// Opens the blob directory and deletes what a crash left behind (temp files, files no
    /// record points at).
    pub fn open(
        data_dir: &std::path::Path,
        store: Arc<dyn ObjectStore>,
        tenancy: Tenancy,
    ) -> anyhow::Result<Self> {
        let blobs = BlobDir::open(data_dir)?;
        let removed = blobs.collect_garbage(&store.referenced_blobs()?)?;
        if removed > 0 {
            tracing::info!(removed, "deleted object files no record points at");
        }
        Ok(Self {
            store,
            blobs,
            tenancy,
        })
    }

    /// The catalog's handle on these buckets (the `s3://` warehouse).
    pub fn admin(&self) -> super::ObjectAdmin {
        super::ObjectAdmin {
            store: Arc::clone(&self.store),
            blobs: self.blobs.clone(),
        }
    }

    /// Runs a store call off the async threads.
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn ObjectStore) -> Result<T, StoreError> + Send + 'static,
    ) -> S3Result<T> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(internal)?
            .map_err(internal)
    }

    /// The bucket, if it exists and `account` owns it.
    async fn owned_bucket(&self, name: &str, account: &str) -> S3Result<Bucket> {
        let owned = name.to_owned();
        let bucket = self
            .db(move |s| s.bucket(&owned))
            .await?
            .ok_or_else(no_such_bucket)?;
        if bucket.account != account {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        Ok(bucket)
    }

    async fn caller_bucket<T>(&self, req: &S3Request<T>, bucket: &str) -> S3Result<Bucket> {
        let account = self.tenancy.account(req.credentials.as_ref()).await?;
        self.owned_bucket(bucket, &account).await
    }

    async fn object_meta(&self, bucket: &str, key: &str) -> S3Result<ObjectMeta> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.db(move |s| s.object(&bucket, &key))
            .await?
            .ok_or_else(no_such_key)
    }

    /// Streams a request body to a pending blob and checks it against the client's claims.
    async fn receive(
        &self,
        body: Option<StreamingBlob>,
        declared_length: Option<i64>,
        expected: Expected,
        trailing: impl FnOnce() -> Option<http::HeaderMap>,
    ) -> S3Result<PendingBlob> {
        if declared_length.is_some_and(|n| n < 0 || n as u64 > MAX_OBJECT_BYTES) {
            return Err(write_error(WriteError::TooLarge(MAX_OBJECT_BYTES)));
        }
        let hasher = expected.hasher();
        let blob = match body {
            Some(body) => {
                let body = crate::metrics::s3_counted(crate::metrics::S3Direction::In, body);
                self.blobs.write(body, MAX_OBJECT_BYTES, hasher).await
            }
            None => {
                self.blobs
                    .write(
                        futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>(),
                        0,
                        hasher,
                    )
                    .await
            }
        }
        .map_err(write_error)?;
        if let Some(declared) = declared_length
            && declared as u64 != blob.size
        {
            return Err(s3_error!(
                IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header"
            ));
        }
        expected.verify(&blob, trailing)?;
        Ok(blob)
    }

    /// Makes a pending blob visible under `key` (replacing what was there).
    async fn commit_object(
        &self,
        bucket: &str,
        blob: PendingBlob,
        mut meta: ObjectMeta,
    ) -> S3Result<ObjectMeta> {
        meta.blob = blob.keep().await.map_err(internal)?;
        let (owned, record) = (bucket.to_owned(), meta.clone());
        self.commit(&meta.blob, no_such_bucket, move |s| {
            s.put_object(&owned, &record).map(unused)
        })
        .await?;
        Ok(meta)
    }

    /// Commits a record pointing at the kept blob `id`, then deletes the blobs it made unused.
    /// If the commit does not happen (`None`: the bucket or upload is gone, → `gone`; or a
    /// store fault), the blob itself is deleted.
    async fn commit(
        &self,
        id: &str,
        gone: fn() -> S3Error,
        f: impl FnOnce(&dyn ObjectStore) -> Result<Option<Vec<String>>, StoreError> + Send + 'static,
    ) -> S3Result<()> {
        let result = match self.db(f).await {
            Ok(Some(unused)) => {
                self.blobs.remove(unused).await;
                return Ok(());
            }
            Ok(None) => Err(gone()),
            Err(e) => Err(e),
        };
        self.blobs.remove([id.to_owned()]).await;
        result
    }

    /// One page of a bucket listing (ListObjects v1 and v2).
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &Option<String>,
        delimiter: &Option<String>,
        after: Option<Vec<u8>>,
        limit: usize,
    ) -> S3Result<crate::store::objects::ListPage> {
        let (bucket, prefix, delimiter) = (
            bucket.to_owned(),
            prefix.clone().unwrap_or_default(),
            delimiter.clone(),
        );
        self.db(move |s| {
            s.list_objects(ListQuery {
                bucket: &bucket,
                prefix: &prefix,
                delimiter: delimiter.as_deref(),
                after: after.as_deref(),
                limit,
            })
        })
        .await
    }

    async fn upload(&self, bucket: &str, key: &str, id: &str) -> S3Result<Upload> {
        let (bucket, id) = (bucket.to_owned(), id.to_owned());
        self.db(move |s| s.upload(&bucket, &id))
            .await?
            .filter(|u| u.key == key)
            .ok_or_else(no_such_upload)
    }

    /// Opens an object's bytes `[start, start + len)` as a body stream.
    async fn open_range(&self, meta: &ObjectMeta, start: u64, len: u64) -> S3Result<StreamingBlob> {
        let mut file = tokio::fs::File::open(self.blobs.path(&meta.blob))
            .await
            .map_err(|e| match e.kind() {
                // replaced or deleted between the lookup and the open
                std::io::ErrorKind::NotFound => no_such_key(),
                _ => internal(e),
            })?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(internal)?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 * 1024);
        let stream = crate::metrics::s3_counted(crate::metrics::S3Direction::Out, stream);
        Ok(StreamingBlob::wrap(stream))
    }
}

/// GET/HEAD preconditions on the ETag (what S3A's change detection sends): If-Match must
/// match (412 otherwise), If-None-Match must not (304 otherwise).
fn etag_preconditions(
    etag: &str,
    if_match: Option<&dto::ETagCondition>,
    if_none_match: Option<&dto::ETagCondition>,
) -> S3Result<()> {
    let matches = |c: &dto::ETagCondition| match c {
        dto::ETagCondition::Any => true,
        dto::ETagCondition::ETag(e) => strip_quotes(etag_value(e)) == etag,
    };
    if if_match.is_some_and(|c| !matches(c)) {
        return Err(s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        ));
    }
    if if_none_match.is_some_and(matches) {
        return Err(s3_error!(NotModified));
    }
    Ok(())
}

/// The byte range a GET/HEAD asks for, checked against the object's size.
fn requested_range(
    range: Option<&dto::Range>,
    size: u64,
) -> S3Result<Option<std::ops::Range<u64>>> {
    range
        .map(|r| {
            r.check(size)
                .map_err(|_| s3_error!(InvalidRange, "The requested range is not satisfiable"))
        })
        .transpose()
}

fn content_range(range: &std::ops::Range<u64>, size: u64) -> String {
    format!(
        "bytes {}-{}/{size}",
        range.start,
        range.end.saturating_sub(1)
    )
}

fn metadata_or_none(metadata: BTreeMap<String, String>) -> Option<dto::Metadata> {
    (!metadata.is_empty()).then(|| metadata.into_iter().collect())
}

#[async_trait::async_trait]
impl S3 for ObjectService {
    async fn create_bucket(
        &self,
        req: S3Request<dto::CreateBucketInput>,
    ) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        let account = self.tenancy.account(req.credentials.as_ref()).await?;
        let bucket = Bucket {
            name: req.input.bucket.clone(),
            account,
            region: req
                .region
                .as_ref()
                .map_or(DEFAULT_REGION.to_owned(), |r| r.as_str().to_owned()),
            created_ms: now_ms(),
        };
        let location = format!("/{}", bucket.name);
        match self.db(move |s| s.create_bucket(&bucket)).await? {
            CreatedBucket::Created => Ok(S3Response::new(dto::CreateBucketOutput {
                location: Some(location),
            })),
            CreatedBucket::AlreadyOwnedByYou => Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it."
            )),
            CreatedBucket::AlreadyExists => Err(s3_error!(
                BucketAlreadyExists,
                "The requested bucket name is not available. The bucket namespace is shared by all users of the system."
            )),
        }
    }

    async fn delete_bucket(
        &self,
        req: S3Request<dto::DeleteBucketInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        match self.db(move |s| s.delete_bucket(&bucket.name)).await? {
            DeletedBucket::Deleted => Ok(S3Response::new(dto::DeleteBucketOutput {})),
            DeletedBucket::NotEmpty => Err(s3_error!(
                BucketNotEmpty,
                "The bucket you tried to delete is not empty"
            )),
            DeletedBucket::Missing => Err(no_such_bucket()),
        }
    }

    async fn head_bucket(
        &self,
        req: S3Request<dto::HeadBucketInput>,
    ) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        Ok(S3Response::new(dto::HeadBucketOutput {
            bucket_region: Some(bucket.region),
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<dto::GetBucketLocationInput>,
    ) -> S3Result<S3Response<dto::GetBucketLocationOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        // S3 reports us-east-1 as an empty constraint.
        let location_constraint = (bucket.region != DEFAULT_REGION)
            .then(|| dto::BucketLocationConstraint::from(bucket.region));
        Ok(S3Response::new(dto::GetBucketLocationOutput {
            location_constraint,
        }))
    }

    async fn list_buckets(
        &self,
        req: S3Request<dto::ListBucketsInput>,
    ) -> S3Result<S3Response<dto::ListBucketsOutput>> {
        let account = self.tenancy.account(req.credentials.as_ref()).await?;
        let owner = account.clone();
        let buckets = self.db(move |s| s.buckets(&account)).await?;
        Ok(S3Response::new(dto::ListBucketsOutput {
            buckets: Some(
                buckets
                    .into_iter()
                    .map(|b| dto::Bucket {
                        bucket_region: Some(b.region),
                        creation_date: Some(timestamp(b.created_ms)),
                        name: Some(b.name),
                    })
                    .collect(),
            ),
            owner: Some(dto::Owner {
                display_name: Some(owner.clone()),
                id: Some(owner),
            }),
            ..Default::default()
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<dto::PutObjectInput>,
    ) -> S3Result<S3Response<dto::PutObjectOutput>> {
        let mut req = req;
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        let blob = receive!(self, req);
        let input = req.input;
        let checksum = blob.checksum.clone();
        let meta = ObjectMeta {
            key: input.key,
            blob: String::new(),
            size: blob.size,
            etag: hex::encode(blob.md5),
            content_type: input.content_type,
            metadata: input.metadata.unwrap_or_default().into_iter().collect(),
            modified_ms: now_ms(),
        };
        let meta = self.commit_object(&bucket.name, blob, meta).await?;
        Ok(S3Response::new(written_output!(
            PutObjectOutput,
            meta.etag,
            checksum
        )))
    }

    async fn get_object(
        &self,
        req: S3Request<dto::GetObjectInput>,
    ) -> S3Result<S3Response<dto::GetObjectOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        let meta = self.object_meta(&bucket.name, &req.input.key).await?;
        etag_preconditions(
            &meta.etag,
            req.input.if_match.as_ref(),
            req.input.if_none_match.as_ref(),
        )?;
        let range = requested_range(req.input.range.as_ref(), meta.size)?;
        let span = range.clone().unwrap_or(0..meta.size);
        let body = self
            .open_range(&meta, span.start, span.end - span.start)
            .await?;
        Ok(S3Response::new(
            object_output!(GetObjectOutput, meta, range, span, body: Some(body)),
        ))
    }

    async fn head_object(
        &self,
        req: S3Request<dto::HeadObjectInput>,
    ) -> S3Result<S3Response<dto::HeadObjectOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        let meta = self.object_meta(&bucket.name, &req.input.key).await?;
        etag_preconditions(
            &meta.etag,
            req.input.if_match.as_ref(),
            req.input.if_none_match.as_ref(),
        )?;
        let range = requested_range(req.input.range.as_ref(), meta.size)?;
        let span = range.clone().unwrap_or(0..meta.size);
        Ok(S3Response::new(object_output!(
            HeadObjectOutput,
            meta,
            range,
            span
        )))
    }

    async fn delete_object(
        &self,
        req: S3Request<dto::DeleteObjectInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        let key = req.input.key;
        let removed = self
            .db(move |s| s.delete_object(&bucket.name, &key))
            .await?;
        self.blobs.remove(removed).await;
        Ok(S3Response::new(dto::DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<dto::DeleteObjectsInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectsOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        let quiet = req.input.delete.quiet.unwrap_or(false);
        let keys: Vec<String> = req
            .input
            .delete
            .objects
            .into_iter()
            .map(|o| o.key)
            .collect();
        if keys.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "A DeleteObjects request may name at most 1000 keys"
            ));
        }
        let deleted_keys = keys.clone();
        let removed = self
            .db(move |s| {
                keys.iter()
                    .map(|k| s.delete_object(&bucket.name, k))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        self.blobs.remove(removed.into_iter().flatten()).await;
        let deleted = (!quiet).then(|| {
            deleted_keys
                .into_iter()
                .map(|key| dto::DeletedObject {
                    key: Some(key),
                    ..Default::default()
                })
                .collect()
        });
        Ok(S3Response::new(dto::DeleteObjectsOutput {
            deleted,
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<dto::CopyObjectInput>,
    ) -> S3Result<S3Response<dto::CopyObjectOutput>> {
        let account = self.tenancy.account(req.credentials.as_ref()).await?;
        let input = req.input;
        let dto::CopySource::Bucket {
            bucket: source_bucket,
            key: source_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(
                NotImplemented,
                "Copying from an access point is not supported"
            ));
        };
        let source_bucket = self.owned_bucket(source_bucket, &account).await?;
        let target = self.owned_bucket(&input.bucket, &account).await?;
        let source = self.object_meta(&source_bucket.name, source_key).await?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == dto::MetadataDirective::REPLACE);
        let blob = self
            .blobs
            .duplicate(&source.blob)
            .await
            .map_err(write_error)?;
        let (content_type, metadata) = if replace {
            (
                input.content_type,
                input.metadata.unwrap_or_default().into_iter().collect(),
            )
        } else {
            (source.content_type, source.metadata)
        };
        let meta = ObjectMeta {
            key: input.key,
            blob: String::new(),
            size: blob.size,
            etag: source.etag,
            content_type,
            metadata,
            modified_ms: now_ms(),
        };
        let meta = self.commit_object(&target.name, blob, meta).await?;
        Ok(S3Response::new(dto::CopyObjectOutput {
            copy_object_result: Some(dto::CopyObjectResult {
                e_tag: Some(ETag::Strong(meta.etag)),
                last_modified: Some(timestamp(meta.modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<dto::ListObjectsV2Input>,
    ) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        let input = req.input;
        let limit = max_keys(input.max_keys)?;
        let after = match (&input.continuation_token, &input.start_after) {
            (Some(token), _) => Some(decode_token(token)?),
            (None, Some(start)) => Some(start.as_bytes().to_vec()),
            (None, None) => None,
        };
        let page = self
            .list_page(&bucket.name, &input.prefix, &input.delimiter, after, limit)
            .await?;
        let key_count = page.entries.len() as i32;
        let (contents, prefixes) = split_listing(page.entries);
        Ok(S3Response::new(dto::ListObjectsV2Output {
            name: Some(bucket.name),
            prefix: input.prefix,
            delimiter: input.delimiter,
            max_keys: Some(limit as i32),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            start_after: input.start_after,
            is_truncated: Some(page.next.is_some()),
            next_continuation_token: page.next.as_deref().map(encode_token),
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<dto::ListObjectsInput>,
    ) -> S3Result<S3Response<dto::ListObjectsOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        let input = req.input;
        let limit = max_keys(input.max_keys)?;
        let after = input.marker.clone().filter(|m| !m.is_empty());
        let page = self
            .list_page(
                &bucket.name,
                &input.prefix,
                &input.delimiter,
                after.map(String::into_bytes),
                limit,
            )
            .await?;
        let truncated = page.next.is_some();
        let next_marker = if truncated {
            page.entries.last().map(|e| match e {
                Listed::Object(m) => m.key.clone(),
                Listed::CommonPrefix(p) => p.clone(),
            })
        } else {
            None
        };
        let (contents, prefixes) = split_listing(page.entries);
        Ok(S3Response::new(dto::ListObjectsOutput {
            name: Some(bucket.name),
            prefix: input.prefix,
            delimiter: input.delimiter,
            marker: input.marker,
            max_keys: Some(limit as i32),
            is_truncated: Some(truncated),
            next_marker,
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<dto::CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        let input = req.input;
        let upload = Upload {
            id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: bucket.name,
            key: input.key,
            content_type: input.content_type,
            metadata: input.metadata.unwrap_or_default().into_iter().collect(),
            created_ms: now_ms(),
        };
        let record = upload.clone();
        if !self.db(move |s| s.create_upload(&record)).await? {
            return Err(no_such_bucket());
        }
        Ok(S3Response::new(dto::CreateMultipartUploadOutput {
            bucket: Some(upload.bucket),
            key: Some(upload.key),
            upload_id: Some(upload.id),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<dto::UploadPartInput>,
    ) -> S3Result<S3Response<dto::UploadPartOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        let input = &req.input;
        if !(1..=MAX_PART_NUMBER).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
            ));
        }
        let upload = self
            .upload(&bucket.name, &input.key, &input.upload_id)
            .await?;
        let mut req = req;
        let blob = receive!(self, req);
        let input = req.input;
        let checksum = blob.checksum.clone();
        let etag = hex::encode(blob.md5);
        let size = blob.size;
        let id = blob.keep().await.map_err(internal)?;
        let part = Part {
            number: input.part_number,
            blob: id.clone(),
            size,
            etag: etag.clone(),
            modified_ms: now_ms(),
        };
        self.commit(&id, no_such_upload, move |s| {
            s.put_part(&upload.id, &part).map(unused)
        })
        .await?;
        Ok(S3Response::new(written_output!(
            UploadPartOutput,
            etag,
            checksum
        )))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        let input = req.input;
        let upload = self
            .upload(&bucket.name, &input.key, &input.upload_id)
            .await?;
        let requested = input
            .multipart_upload
            .and_then(|m| m.parts)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| s3_error!(MalformedXML, "You must specify at least one part"))?;
        let upload_id = upload.id.clone();
        let stored = self.db(move |s| s.parts(&upload_id)).await?;
        let chosen = choose_parts(&requested, &stored)?;
        let mut md5s = Md5::new();
        for part in &chosen {
            md5s.update(&hex::decode(&part.etag).map_err(internal)?);
        }
        let etag = format!("{}-{}", hex::encode(md5s.finalize()), chosen.len());
        let blob_ids: Vec<String> = chosen.iter().map(|p| p.blob.clone()).collect();
        let blob = self.blobs.concat(&blob_ids).await.map_err(write_error)?;
        let meta = ObjectMeta {
            key: upload.key.clone(),
            blob: String::new(),
            size: blob.size,
            etag,
            content_type: upload.content_type.clone(),
            metadata: upload.metadata.clone(),
            modified_ms: now_ms(),
        };
        let mut meta = meta;
        meta.blob = blob.keep().await.map_err(internal)?;
        let (record, name, id) = (meta.clone(), bucket.name.clone(), upload.id.clone());
        self.commit(&meta.blob, no_such_upload, move |s| {
            s.complete_upload(&name, &id, &record)
        })
        .await?;
        Ok(S3Response::new(dto::CompleteMultipartUploadOutput {
            bucket: Some(bucket.name.clone()),
            key: Some(meta.key.clone()),
            e_tag: Some(ETag::Strong(meta.etag)),
            location: Some(format!("/{}/{}", bucket.name, meta.key)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        let upload = self
            .upload(&bucket.name, &req.input.key, &req.input.upload_id)
            .await?;
        let blobs = self.db(move |s| s.abort_upload(&upload.id)).await?;
        self.blobs.remove(blobs.into_iter().flatten()).await;
        Ok(S3Response::new(dto::AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(
        &self,
        req: S3Request<dto::ListPartsInput>,
    ) -> S3Result<S3Response<dto::ListPartsOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        let upload = self
            .upload(&bucket.name, &req.input.key, &req.input.upload_id)
            .await?;
        let id = upload.id.clone();
        let after = req.input.part_number_marker.unwrap_or(0);
        let limit = req.input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let parts = self.db(move |s| s.parts(&id)).await?;
        let remaining: Vec<Part> = parts.into_iter().filter(|p| p.number > after).collect();
        let truncated = remaining.len() > limit;
        let page: Vec<Part> = remaining.into_iter().take(limit).collect();
        let next = page.last().map(|p| p.number).filter(|_| truncated);
        Ok(S3Response::new(dto::ListPartsOutput {
            bucket: Some(bucket.name),
            key: Some(upload.key),
            upload_id: Some(upload.id),
            max_parts: Some(limit as i32),
            part_number_marker: req.input.part_number_marker,
            next_part_number_marker: next,
            is_truncated: Some(truncated),
            parts: Some(
                page.into_iter()
                    .map(|p| dto::Part {
                        e_tag: Some(ETag::Strong(p.etag)),
                        last_modified: Some(timestamp(p.modified_ms)),
                        part_number: Some(p.number),
                        size: Some(p.size as i64),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<dto::ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<dto::ListMultipartUploadsOutput>> {
        let bucket = self.caller_bucket(&req, &req.input.bucket).await?;
        let prefix = req.input.prefix.clone().unwrap_or_default();
        let limit = req.input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let name = bucket.name.clone();
        let uploads = self
            .db(move |s| s.uploads(&name, &prefix, limit + 1))
            .await?;
        let truncated = uploads.len() > limit;
        Ok(S3Response::new(dto::ListMultipartUploadsOutput {
            bucket: Some(bucket.name),
            prefix: req.input.prefix,
            max_uploads: Some(limit as i32),
            is_truncated: Some(truncated),
            uploads: Some(
                uploads
                    .into_iter()
                    .take(limit)
                    .map(|u| dto::MultipartUpload {
                        initiated: Some(timestamp(u.created_ms)),
                        key: Some(u.key),
                        upload_id: Some(u.id),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}

/// The stored parts CompleteMultipartUpload names, checked as S3 does: ascending part numbers,
/// each uploaded with that ETag, every part but the last at least 5 MiB.
fn choose_parts(requested: &[dto::CompletedPart], stored: &[Part]) -> S3Result<Vec<Part>> {
    let mut chosen: Vec<Part> = Vec::with_capacity(requested.len());
    for want in requested {
        let number = want
            .part_number
            .ok_or_else(|| s3_error!(MalformedXML, "Every part must have a PartNumber"))?;
        if chosen.last().is_some_and(|p| p.number >= number) {
            return Err(s3_error!(
                InvalidPartOrder,
                "The list of parts was not in ascending order. The parts list must be specified in order by part number."
            ));
        }
        let part = stored
            .iter()
            .find(|p| p.number == number)
            .filter(|p| {
                want.e_tag
                    .as_ref()
                    .is_none_or(|e| strip_quotes(etag_value(e)) == p.etag)
            })
            .ok_or_else(|| {
                s3_error!(
                    InvalidPart,
                    "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag."
                )
            })?;
        chosen.push(part.clone());
    }
    if let Some((_, all_but_last)) = chosen.split_last()
        && all_but_last.iter().any(|p| p.size < MIN_PART_BYTES)
    {
        return Err(s3_error!(
            EntityTooSmall,
            "Your proposed upload is smaller than the minimum allowed object size."
        ));
    }
    Ok(chosen)
}
