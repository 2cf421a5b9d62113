//! `ObjectStore` on the embedded SQLite database (tables from migration `0004_objects.sql`).

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::objects::{
    Bucket, CreatedBucket, DeletedBucket, ListPage, ListQuery, ObjectMeta, ObjectStore, Part,
    Stored, Upload, list_by_scan, metadata_from, metadata_json, text_key,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::{BTreeMap, HashSet};

const OBJECT_COLUMNS: &str = "key, blob, size, etag, content_type, metadata, modified_ms";
const UPLOAD_COLUMNS: &str = "id, bucket, key, content_type, metadata, created_ms";

fn object_from_row(row: &Row<'_>) -> rusqlite::Result<(Vec<u8>, ObjectRow)> {
    Ok((
        row.get(0)?,
        ObjectRow {
            blob: row.get(1)?,
            size: row.get(2)?,
            etag: row.get(3)?,
            content_type: row.get(4)?,
            metadata: row.get(5)?,
            modified_ms: row.get(6)?,
        },
    ))
}

/// A row as read, before its key and metadata are checked.
struct ObjectRow {
    blob: String,
    size: i64,
    etag: String,
    content_type: Option<String>,
    metadata: String,
    modified_ms: i64,
}

impl ObjectRow {
    fn into_meta(self, key: String) -> Result<ObjectMeta, StoreError> {
        Ok(ObjectMeta {
            key,
            blob: self.blob,
            size: u64::try_from(self.size)
                .map_err(|_| StoreError::Corrupt("negative object size".into()))?,
            etag: self.etag,
            content_type: self.content_type,
            metadata: metadata_from(&self.metadata)?,
            modified_ms: self.modified_ms,
        })
    }
}

fn upload_from_row(row: &Row<'_>) -> rusqlite::Result<(Upload, Vec<u8>, String)> {
    Ok((
        Upload {
            id: row.get(0)?,
            bucket: row.get(1)?,
            key: String::new(),
            content_type: row.get(3)?,
            metadata: BTreeMap::new(),
            created_ms: row.get(5)?,
        },
        row.get(2)?,
        row.get(4)?,
    ))
}

fn finish_upload(
    (mut upload, key, metadata): (Upload, Vec<u8>, String),
) -> Result<Upload, StoreError> {
    upload.key = text_key(key)?;
    upload.metadata = metadata_from(&metadata)?;
    Ok(upload)
}

fn bucket_exists(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row("SELECT 1 FROM s3_buckets WHERE name = ?1", [name], |_| {
            Ok(())
        })
        .optional()?
        .is_some())
}

/// Inserts or replaces `object`, returning the blob of the record it replaced.
fn upsert_object(
    conn: &Connection,
    bucket: &str,
    object: &ObjectMeta,
) -> Result<Option<String>, StoreError> {
    let replaced: Option<String> = conn
        .query_row(
            "SELECT blob FROM s3_objects WHERE bucket = ?1 AND key = ?2",
            params![bucket, object.key.as_bytes()],
            |r| r.get(0),
        )
        .optional()?;
    conn.execute(
        "INSERT OR REPLACE INTO s3_objects (bucket, key, blob, size, etag, content_type, metadata, modified_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            bucket,
            object.key.as_bytes(),
            object.blob,
            i64::try_from(object.size).unwrap_or(i64::MAX),
            object.etag,
            object.content_type,
            metadata_json(&object.metadata),
            object.modified_ms
        ],
    )?;
    Ok(replaced)
}

impl ObjectStore for SqliteStore {
    fn create_bucket(&self, bucket: &Bucket) -> Result<CreatedBucket, StoreError> {
        self.write(|conn| {
            let owner: Option<String> = conn
                .query_row(
                    "SELECT account FROM s3_buckets WHERE name = ?1",
                    [&bucket.name],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(match owner {
                Some(owner) if owner == bucket.account => CreatedBucket::AlreadyOwnedByYou,
                Some(_) => CreatedBucket::AlreadyExists,
                None => {
                    conn.execute(
                        "INSERT INTO s3_buckets (name, account, region, created_ms) VALUES (?1, ?2, ?3, ?4)",
                        params![bucket.name, bucket.account, bucket.region, bucket.created_ms],
                    )?;
                    CreatedBucket::Created
                }
            })
        })
    }

    fn bucket(&self, name: &str) -> Result<Option<Bucket>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT name, account, region, created_ms FROM s3_buckets WHERE name = ?1",
                    [name],
                    |r| {
                        Ok(Bucket {
                            name: r.get(0)?,
                            account: r.get(1)?,
                            region: r.get(2)?,
                            created_ms: r.get(3)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    fn buckets(&self, account: &str) -> Result<Vec<Bucket>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT name, account, region, created_ms FROM s3_buckets WHERE account = ?1 ORDER BY name",
            )?;
            let rows = stmt.query_map([account], |r| {
                Ok(Bucket {
                    name: r.get(0)?,
                    account: r.get(1)?,
                    region: r.get(2)?,
                    created_ms: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn delete_bucket(&self, name: &str) -> Result<DeletedBucket, StoreError> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            if !bucket_exists(&tx, name)? {
                return Ok(DeletedBucket::Missing);
            }
            let used: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM s3_objects WHERE bucket = ?1) \
                     OR EXISTS (SELECT 1 FROM s3_uploads WHERE bucket = ?1)",
                [name],
                |r| r.get(0),
            )?;
            if used {
                return Ok(DeletedBucket::NotEmpty);
            }
            tx.execute("DELETE FROM s3_buckets WHERE name = ?1", [name])?;
            tx.commit()?;
            Ok(DeletedBucket::Deleted)
        })
    }

    fn put_object(&self, bucket: &str, object: &ObjectMeta) -> Result<Stored, StoreError> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            if !bucket_exists(&tx, bucket)? {
                return Ok(Stored::Gone);
            }
            let replaced = upsert_object(&tx, bucket, object)?;
            tx.commit()?;
            Ok(Stored::Stored { replaced })
        })
    }

    fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        self.read(|conn| {
            let row = conn
                .query_row(
                    &format!(
                        "SELECT {OBJECT_COLUMNS} FROM s3_objects WHERE bucket = ?1 AND key = ?2"
                    ),
                    params![bucket, key.as_bytes()],
                    object_from_row,
                )
                .optional()?;
            row.map(|(_, row)| row.into_meta(key.to_owned()))
                .transpose()
        })
    }

    fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.write(|conn| {
            Ok(conn
                .query_row(
                    "DELETE FROM s3_objects WHERE bucket = ?1 AND key = ?2 RETURNING blob",
                    params![bucket, key.as_bytes()],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    fn list_objects(&self, query: ListQuery<'_>) -> Result<ListPage, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {OBJECT_COLUMNS} FROM s3_objects \
                 WHERE bucket = ?1 AND key > ?2 AND key >= ?3 ORDER BY key LIMIT ?4"
            ))?;
            list_by_scan(&query, |cursor, batch| {
                let rows = stmt
                    .query_map(
                        params![query.bucket, cursor, query.prefix.as_bytes(), batch],
                        object_from_row,
                    )?
                    .collect::<Result<Vec<_>, _>>()?;
                rows.into_iter()
                    .map(|(key, row)| row.into_meta(text_key(key)?))
                    .collect()
            })
        })
    }

    fn create_upload(&self, upload: &Upload) -> Result<bool, StoreError> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            if !bucket_exists(&tx, &upload.bucket)? {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO s3_uploads (id, bucket, key, content_type, metadata, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    upload.id,
                    upload.bucket,
                    upload.key.as_bytes(),
                    upload.content_type,
                    metadata_json(&upload.metadata),
                    upload.created_ms
                ],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn upload(&self, bucket: &str, id: &str) -> Result<Option<Upload>, StoreError> {
        self.read(|conn| {
            conn.query_row(
                &format!("SELECT {UPLOAD_COLUMNS} FROM s3_uploads WHERE bucket = ?1 AND id = ?2"),
                params![bucket, id],
                upload_from_row,
            )
            .optional()?
            .map(finish_upload)
            .transpose()
        })
    }

    fn uploads(&self, bucket: &str, prefix: &str, limit: usize) -> Result<Vec<Upload>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {UPLOAD_COLUMNS} FROM s3_uploads WHERE bucket = ?1 AND key >= ?2 \
                 ORDER BY key, created_ms"
            ))?;
            let mut found = Vec::new();
            for row in stmt.query_map(params![bucket, prefix.as_bytes()], upload_from_row)? {
                let upload = finish_upload(row?)?;
                if !upload.key.starts_with(prefix) || found.len() == limit {
                    break;
                }
                found.push(upload);
            }
            Ok(found)
        })
    }

    fn put_part(&self, upload: &str, part: &Part) -> Result<Stored, StoreError> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            let live = tx
                .query_row("SELECT 1 FROM s3_uploads WHERE id = ?1", [upload], |_| {
                    Ok(())
                })
                .optional()?
                .is_some();
            if !live {
                return Ok(Stored::Gone);
            }
            let replaced: Option<String> = tx
                .query_row(
                    "SELECT blob FROM s3_parts WHERE upload = ?1 AND number = ?2",
                    params![upload, part.number],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT OR REPLACE INTO s3_parts (upload, number, blob, size, etag, modified_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    upload,
                    part.number,
                    part.blob,
                    i64::try_from(part.size).unwrap_or(i64::MAX),
                    part.etag,
                    part.modified_ms
                ],
            )?;
            tx.commit()?;
            Ok(Stored::Stored { replaced })
        })
    }

    fn parts(&self, upload: &str) -> Result<Vec<Part>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT number, blob, size, etag, modified_ms FROM s3_parts WHERE upload = ?1 ORDER BY number",
            )?;
            let rows = stmt.query_map([upload], |r| {
                Ok(Part {
                    number: r.get(0)?,
                    blob: r.get(1)?,
                    size: r.get::<_, i64>(2)?.max(0) as u64,
                    etag: r.get(3)?,
                    modified_ms: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn complete_upload(
        &self,
        bucket: &str,
        upload: &str,
        object: &ObjectMeta,
    ) -> Result<Option<Vec<String>>, StoreError> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            let Some(mut unused) = part_blobs(&tx, upload)? else {
                return Ok(None);
            };
            if let Some(replaced) = upsert_object(&tx, bucket, object)? {
                unused.push(replaced);
            }
            tx.execute("DELETE FROM s3_uploads WHERE id = ?1", [upload])?;
            tx.commit()?;
            Ok(Some(unused))
        })
    }

    fn abort_upload(&self, upload: &str) -> Result<Option<Vec<String>>, StoreError> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            let blobs = part_blobs(&tx, upload)?;
            tx.execute("DELETE FROM s3_uploads WHERE id = ?1", [upload])?;
            tx.commit()?;
            Ok(blobs)
        })
    }

    fn referenced_blobs(&self) -> Result<HashSet<String>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare("SELECT blob FROM s3_objects UNION SELECT blob FROM s3_parts")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

/// The blobs of an upload's parts, or `None` if the upload does not exist.
fn part_blobs(conn: &Connection, upload: &str) -> Result<Option<Vec<String>>, StoreError> {
    let live = conn
        .query_row("SELECT 1 FROM s3_uploads WHERE id = ?1", [upload], |_| {
            Ok(())
        })
        .optional()?
        .is_some();
    if !live {
        return Ok(None);
    }
    let mut stmt = conn.prepare("SELECT blob FROM s3_parts WHERE upload = ?1")?;
    let blobs = stmt.query_map([upload], |r| r.get(0))?;
    Ok(Some(blobs.collect::<Result<_, _>>()?))
}
