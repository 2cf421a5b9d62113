//! `ObjectStore` on PostgreSQL (migrations/postgres/0004_objects.sql). Keys are bytea, whose
//! order is S3's byte order. Writes into a bucket or upload hold a share lock on its row, so a
//! concurrent delete (on any node) waits and then sees the new record.

use super::{PostgresStore, exec, row, rows};
use crate::store::StoreError;
use crate::store::objects::{
    Bucket, CreatedBucket, DeletedBucket, ListPage, ListQuery, ObjectMeta, ObjectStore, Part,
    Stored, Upload, list_by_scan, metadata_from, metadata_json, text_key,
};
use deadpool_postgres::GenericClient;
use std::collections::HashSet;
use tokio_postgres::Row;

const OBJECT_COLUMNS: &str = "key, blob, size, etag, content_type, metadata, modified_ms";
const UPLOAD_COLUMNS: &str = "id, bucket, key, content_type, metadata, created_ms";
const BUCKET_COLUMNS: &str = "name, account, region, created_ms";

fn size(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt("negative object size".into()))
}

fn object_from_row(r: &Row) -> Result<ObjectMeta, StoreError> {
    Ok(ObjectMeta {
        key: text_key(r.try_get(0)?)?,
        blob: r.try_get(1)?,
        size: size(r.try_get(2)?)?,
        etag: r.try_get(3)?,
        content_type: r.try_get(4)?,
        metadata: metadata_from(r.try_get(5)?)?,
        modified_ms: r.try_get(6)?,
    })
}

fn upload_from_row(r: &Row) -> Result<Upload, StoreError> {
    Ok(Upload {
        id: r.try_get(0)?,
        bucket: r.try_get(1)?,
        key: text_key(r.try_get(2)?)?,
        content_type: r.try_get(3)?,
        metadata: metadata_from(r.try_get(4)?)?,
        created_ms: r.try_get(5)?,
    })
}

fn bucket_from_row(r: &Row) -> Result<Bucket, StoreError> {
    Ok(Bucket {
        name: r.try_get(0)?,
        account: r.try_get(1)?,
        region: r.try_get(2)?,
        created_ms: r.try_get(3)?,
    })
}

fn stored_size(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// Whether the bucket exists, holding it against deletion until the transaction ends.
async fn hold_bucket(c: &impl GenericClient, name: &str) -> Result<bool, StoreError> {
    Ok(row(
        c,
        "SELECT 1 FROM s3_buckets WHERE name = $1 FOR SHARE",
        &[&name],
    )
    .await?
    .is_some())
}

/// Whether the upload exists, holding it until the transaction ends.
async fn hold_upload(c: &impl GenericClient, id: &str, lock: &str) -> Result<bool, StoreError> {
    Ok(row(
        c,
        &format!("SELECT 1 FROM s3_uploads WHERE id = $1 {lock}"),
        &[&id],
    )
    .await?
    .is_some())
}

/// Inserts or replaces `object`, returning the blob of the record it replaced.
async fn upsert_object(
    c: &impl GenericClient,
    bucket: &str,
    object: &ObjectMeta,
) -> Result<Option<String>, StoreError> {
    let key = object.key.as_bytes();
    let replaced = row(
        c,
        "SELECT blob FROM s3_objects WHERE bucket = $1 AND key = $2 FOR UPDATE",
        &[&bucket, &key],
    )
    .await?
    .map(|r| r.try_get(0))
    .transpose()?;
    exec(
        c,
        "INSERT INTO s3_objects (bucket, key, blob, size, etag, content_type, metadata, modified_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (bucket, key) DO UPDATE SET blob = excluded.blob, size = excluded.size, \
           etag = excluded.etag, content_type = excluded.content_type, metadata = excluded.metadata, \
           modified_ms = excluded.modified_ms",
        &[
            &bucket,
            &key,
            &object.blob,
            &stored_size(object.size),
            &object.etag,
            &object.content_type,
            &metadata_json(&object.metadata),
            &object.modified_ms,
        ],
    )
    .await?;
    Ok(replaced)
}

/// The blobs of an upload's parts, or `None` if the upload does not exist.
async fn part_blobs(
    c: &impl GenericClient,
    upload: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    if !hold_upload(c, upload, "FOR UPDATE").await? {
        return Ok(None);
    }
    let found = rows(c, "SELECT blob FROM s3_parts WHERE upload = $1", &[&upload]).await?;
    Ok(Some(
        found
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?,
    ))
}

impl ObjectStore for PostgresStore {
    fn create_bucket(&self, bucket: &Bucket) -> Result<CreatedBucket, StoreError> {
        self.run(async |c| {
            let n = exec(
                &*c,
                "INSERT INTO s3_buckets (name, account, region, created_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO NOTHING",
                &[&bucket.name, &bucket.account, &bucket.region, &bucket.created_ms],
            )
            .await?;
            if n == 1 {
                return Ok(CreatedBucket::Created);
            }
            let owner: Option<String> = row(
                &*c,
                "SELECT account FROM s3_buckets WHERE name = $1",
                &[&bucket.name],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
            Ok(match owner {
                Some(owner) if owner == bucket.account => CreatedBucket::AlreadyOwnedByYou,
                _ => CreatedBucket::AlreadyExists,
            })
        })
    }

    fn bucket(&self, name: &str) -> Result<Option<Bucket>, StoreError> {
        let found = self.run(async |c| {
            row(
                &*c,
                &format!("SELECT {BUCKET_COLUMNS} FROM s3_buckets WHERE name = $1"),
                &[&name],
            )
            .await
        })?;
        found.as_ref().map(bucket_from_row).transpose()
    }

    fn buckets(&self, account: &str) -> Result<Vec<Bucket>, StoreError> {
        let found = self.run(async |c| {
            rows(
                &*c,
                &format!(
                    "SELECT {BUCKET_COLUMNS} FROM s3_buckets WHERE account = $1 ORDER BY name"
                ),
                &[&account],
            )
            .await
        })?;
        found.iter().map(bucket_from_row).collect()
    }

    fn delete_bucket(&self, name: &str) -> Result<DeletedBucket, StoreError> {
        self.run(async |c| {
            let tx = c.transaction().await?;
            if row(
                &tx,
                "SELECT 1 FROM s3_buckets WHERE name = $1 FOR UPDATE",
                &[&name],
            )
            .await?
            .is_none()
            {
                return Ok(DeletedBucket::Missing);
            }
            let used = row(
                &tx,
                "SELECT 1 WHERE EXISTS (SELECT 1 FROM s3_objects WHERE bucket = $1) \
                     OR EXISTS (SELECT 1 FROM s3_uploads WHERE bucket = $1)",
                &[&name],
            )
            .await?
            .is_some();
            if used {
                return Ok(DeletedBucket::NotEmpty);
            }
            exec(&tx, "DELETE FROM s3_buckets WHERE name = $1", &[&name]).await?;
            tx.commit().await?;
            Ok(DeletedBucket::Deleted)
        })
    }

    fn put_object(&self, bucket: &str, object: &ObjectMeta) -> Result<Stored, StoreError> {
        self.run(async |c| {
            let tx = c.transaction().await?;
            if !hold_bucket(&tx, bucket).await? {
                return Ok(Stored::Gone);
            }
            let replaced = upsert_object(&tx, bucket, object).await?;
            tx.commit().await?;
            Ok(Stored::Stored { replaced })
        })
    }

    fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let key = key.as_bytes();
        let found = self.run(async |c| {
            row(
                &*c,
                &format!("SELECT {OBJECT_COLUMNS} FROM s3_objects WHERE bucket = $1 AND key = $2"),
                &[&bucket, &key],
            )
            .await
        })?;
        found.as_ref().map(object_from_row).transpose()
    }

    fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.as_bytes();
        self.run(async |c| {
            row(
                &*c,
                "DELETE FROM s3_objects WHERE bucket = $1 AND key = $2 RETURNING blob",
                &[&bucket, &key],
            )
            .await?
            .map(|r| r.try_get(0).map_err(StoreError::from))
            .transpose()
        })
    }

    fn list_objects(&self, query: ListQuery<'_>) -> Result<ListPage, StoreError> {
        let prefix = query.prefix.as_bytes();
        list_by_scan(&query, |cursor, batch| {
            let found = self.run(async |c| {
                rows(
                    &*c,
                    &format!(
                        "SELECT {OBJECT_COLUMNS} FROM s3_objects \
                         WHERE bucket = $1 AND key > $2 AND key >= $3 ORDER BY key LIMIT $4"
                    ),
                    &[&query.bucket, &cursor, &prefix, &batch],
                )
                .await
            })?;
            found.iter().map(object_from_row).collect()
        })
    }

    fn create_upload(&self, upload: &Upload) -> Result<bool, StoreError> {
        self.run(async |c| {
            let tx = c.transaction().await?;
            if !hold_bucket(&tx, &upload.bucket).await? {
                return Ok(false);
            }
            exec(
                &tx,
                "INSERT INTO s3_uploads (id, bucket, key, content_type, metadata, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &upload.id,
                    &upload.bucket,
                    &upload.key.as_bytes(),
                    &upload.content_type,
                    &metadata_json(&upload.metadata),
                    &upload.created_ms,
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn upload(&self, bucket: &str, id: &str) -> Result<Option<Upload>, StoreError> {
        let found = self.run(async |c| {
            row(
                &*c,
                &format!("SELECT {UPLOAD_COLUMNS} FROM s3_uploads WHERE bucket = $1 AND id = $2"),
                &[&bucket, &id],
            )
            .await
        })?;
        found.as_ref().map(upload_from_row).transpose()
    }

    fn uploads(&self, bucket: &str, prefix: &str, limit: usize) -> Result<Vec<Upload>, StoreError> {
        let start = prefix.as_bytes();
        let found = self.run(async |c| {
            rows(
                &*c,
                &format!(
                    "SELECT {UPLOAD_COLUMNS} FROM s3_uploads WHERE bucket = $1 AND key >= $2 \
                     ORDER BY key, created_ms"
                ),
                &[&bucket, &start],
            )
            .await
        })?;
        let mut out = Vec::new();
        for r in &found {
            let upload = upload_from_row(r)?;
            if !upload.key.starts_with(prefix) || out.len() == limit {
                break;
            }
            out.push(upload);
        }
        Ok(out)
    }

    fn put_part(&self, upload: &str, part: &Part) -> Result<Stored, StoreError> {
        self.run(async |c| {
            let tx = c.transaction().await?;
            if !hold_upload(&tx, upload, "FOR SHARE").await? {
                return Ok(Stored::Gone);
            }
            let replaced = row(
                &tx,
                "SELECT blob FROM s3_parts WHERE upload = $1 AND number = $2 FOR UPDATE",
                &[&upload, &part.number],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
            exec(
                &tx,
                "INSERT INTO s3_parts (upload, number, blob, size, etag, modified_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (upload, number) DO UPDATE SET blob = excluded.blob, size = excluded.size, \
                   etag = excluded.etag, modified_ms = excluded.modified_ms",
                &[
                    &upload,
                    &part.number,
                    &part.blob,
                    &stored_size(part.size),
                    &part.etag,
                    &part.modified_ms,
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(Stored::Stored { replaced })
        })
    }

    fn parts(&self, upload: &str) -> Result<Vec<Part>, StoreError> {
        let found = self.run(async |c| {
            rows(
                &*c,
                "SELECT number, blob, size, etag, modified_ms FROM s3_parts WHERE upload = $1 ORDER BY number",
                &[&upload],
            )
            .await
        })?;
        found
            .iter()
            .map(|r| {
                Ok(Part {
                    number: r.try_get(0)?,
                    blob: r.try_get(1)?,
                    size: size(r.try_get(2)?)?,
                    etag: r.try_get(3)?,
                    modified_ms: r.try_get(4)?,
                })
            })
            .collect()
    }

    fn complete_upload(
        &self,
        bucket: &str,
        upload: &str,
        object: &ObjectMeta,
    ) -> Result<Option<Vec<String>>, StoreError> {
        self.run(async |c| {
            let tx = c.transaction().await?;
            let Some(mut unused) = part_blobs(&tx, upload).await? else {
                return Ok(None);
            };
            if let Some(replaced) = upsert_object(&tx, bucket, object).await? {
                unused.push(replaced);
            }
            exec(&tx, "DELETE FROM s3_uploads WHERE id = $1", &[&upload]).await?;
            tx.commit().await?;
            Ok(Some(unused))
        })
    }

    fn abort_upload(&self, upload: &str) -> Result<Option<Vec<String>>, StoreError> {
        self.run(async |c| {
            let tx = c.transaction().await?;
            let blobs = part_blobs(&tx, upload).await?;
            exec(&tx, "DELETE FROM s3_uploads WHERE id = $1", &[&upload]).await?;
            tx.commit().await?;
            Ok(blobs)
        })
    }

    fn referenced_blobs(&self) -> Result<HashSet<String>, StoreError> {
        let found = self.run(async |c| {
            rows(
                &*c,
                "SELECT blob FROM s3_objects UNION SELECT blob FROM s3_parts",
                &[],
            )
            .await
        })?;
        found
            .iter()
            .map(|r| r.try_get(0).map_err(StoreError::from))
            .collect()
    }
}
