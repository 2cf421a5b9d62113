//! The catalog's handle on the built-in S3, below the HTTP door: an `s3://` warehouse's bucket
//! is created in the name of the account that first needs it, and a dropped managed table's
//! objects are deleted. Same records and files as [`super::ObjectService`], same ownership rule:
//! nothing is done in a bucket of another account.

use super::blobs::BlobDir;
use crate::store::StoreError;
use crate::store::objects::{Bucket, CreatedBucket, ListQuery, Listed, ObjectStore};
use std::sync::Arc;

/// Why a warehouse bucket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "the warehouse bucket {bucket} belongs to another account: only its owner can keep managed data in it"
    )]
    OtherAccount { bucket: String },
    #[error("object store: {0}")]
    Store(#[from] StoreError),
    #[error("object store task failed: {0}")]
    Task(String),
}

/// How many keys one store call deletes while emptying a prefix.
const DELETE_BATCH: usize = 1000;

#[derive(Clone)]
pub struct ObjectAdmin {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) blobs: BlobDir,
}

impl ObjectAdmin {
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn ObjectStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, AdminError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| AdminError::Task(e.to_string()))?
            .map_err(AdminError::from)
    }

    /// The bucket exists and is `account`'s afterwards: created in `region` if it was missing.
    pub async fn ensure_bucket(
        &self,
        account: &str,
        region: &str,
        bucket: &str,
    ) -> Result<(), AdminError> {
        let record = Bucket {
            name: bucket.to_owned(),
            account: account.to_owned(),
            region: region.to_owned(),
            created_ms: crate::sessions::now_ms(),
        };
        match self.db(move |s| s.create_bucket(&record)).await? {
            CreatedBucket::Created => {
                tracing::info!(bucket, account, "created the warehouse bucket");
                Ok(())
            }
            CreatedBucket::AlreadyOwnedByYou => Ok(()),
            CreatedBucket::AlreadyExists => Err(AdminError::OtherAccount {
                bucket: bucket.to_owned(),
            }),
        }
    }

    /// Deletes the object `key` and every object under `key/`, if the bucket is `account`'s;
    /// how many were deleted. A missing bucket holds nothing to delete.
    pub async fn delete_tree(
        &self,
        account: &str,
        bucket: &str,
        key: &str,
    ) -> Result<usize, AdminError> {
        let name = bucket.to_owned();
        match self.db(move |s| s.bucket(&name)).await? {
            None => return Ok(0),
            Some(b) if b.account != account => {
                return Err(AdminError::OtherAccount {
                    bucket: bucket.to_owned(),
                });
            }
            Some(_) => {}
        }
        let mut deleted = 0;
        let (name, exact) = (bucket.to_owned(), key.to_owned());
        if let Some(blob) = self.db(move |s| s.delete_object(&name, &exact)).await? {
            self.blobs.remove([blob]).await;
            deleted += 1;
        }
        let prefix = format!("{key}/");
        loop {
            // Each batch starts from the prefix again: the previous one's keys are gone.
            let (name, prefix) = (bucket.to_owned(), prefix.clone());
            let blobs = self
                .db(move |s| {
                    let page = s.list_objects(ListQuery {
                        bucket: &name,
                        prefix: &prefix,
                        delimiter: None,
                        after: None,
                        limit: DELETE_BATCH,
                    })?;
                    let mut blobs = Vec::new();
                    for entry in page.entries {
                        if let Listed::Object(meta) = entry {
                            blobs.extend(s.delete_object(&name, &meta.key)?);
                        }
                    }
                    Ok(blobs)
                })
                .await?;
            if blobs.is_empty() {
                break;
            }
            deleted += blobs.len();
            self.blobs.remove(blobs).await;
        }
        self.abort_uploads_under(bucket, key).await?;
        Ok(deleted)
    }

    /// Aborts the multipart uploads in progress to `key` and under `key/` (their parts'
    /// files with them), so nothing of a dropped tree is left to complete or to take space.
    async fn abort_uploads_under(&self, bucket: &str, key: &str) -> Result<(), AdminError> {
        loop {
            let (name, key) = (bucket.to_owned(), key.to_owned());
            let blobs = self
                .db(move |s| {
                    // Uploads to `key` itself sort first among those with `key` as prefix.
                    let subtree = format!("{key}/");
                    let mut batch: Vec<_> = s
                        .uploads(&name, &key, DELETE_BATCH)?
                        .into_iter()
                        .take_while(|u| u.key == key)
                        .collect();
                    batch.extend(s.uploads(&name, &subtree, DELETE_BATCH)?);
                    let mut blobs = Vec::new();
                    for upload in &batch {
                        blobs.extend(s.abort_upload(&upload.id)?.into_iter().flatten());
                    }
                    Ok((!batch.is_empty()).then_some(blobs))
                })
                .await?;
            match blobs {
                Some(blobs) => self.blobs.remove(blobs).await,
                None => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::objects::ObjectMeta;
    use crate::store::sqlite::SqliteStore;

    fn put(admin: &ObjectAdmin, bucket: &str, key: &str) -> std::path::PathBuf {
        let blob = format!("blob-{}", key.replace('/', "-"));
        let path = admin.blobs.path(&blob);
        std::fs::write(&path, b"x").unwrap();
        let meta = ObjectMeta {
            key: key.into(),
            blob,
            size: 1,
            etag: "e".into(),
            content_type: None,
            metadata: Default::default(),
            modified_ms: 0,
        };
        admin.store.put_object(bucket, &meta).unwrap();
        path
    }

    fn admin_in(dir: &std::path::Path) -> ObjectAdmin {
        ObjectAdmin {
            store: Arc::new(SqliteStore::open(&dir.join("epoxy.db")).unwrap()),
            blobs: BlobDir::open(dir).unwrap(),
        }
    }

    fn keys(admin: &ObjectAdmin, bucket: &str) -> Vec<String> {
        let page = admin
            .store
            .list_objects(ListQuery {
                bucket,
                prefix: "",
                delimiter: None,
                after: None,
                limit: 10_000,
            })
            .unwrap();
        page.entries
            .into_iter()
            .filter_map(|e| match e {
                Listed::Object(m) => Some(m.key),
                Listed::CommonPrefix(_) => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn warehouse_bucket_is_the_first_accounts_and_drops_delete_only_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let admin = admin_in(dir.path());
        admin.ensure_bucket("111", "us-east-1", "wh").await.unwrap();
        admin.ensure_bucket("111", "us-east-1", "wh").await.unwrap();
        let other = admin.ensure_bucket("222", "us-east-1", "wh").await;
        assert!(
            matches!(other, Err(AdminError::OtherAccount { .. })),
            "{other:?}"
        );

        let mut dropped = Vec::new();
        for i in 0..(DELETE_BATCH + 5) {
            dropped.push(put(&admin, "wh", &format!("p/111/d.db/t/part-{i}")));
        }
        dropped.push(put(&admin, "wh", "p/111/d.db/t"));
        let kept = [
            "p/111/d.db/t2/part-0",
            "p/111/d.db/t_/x",
            "p/111/d.db/other",
        ];
        for key in kept {
            put(&admin, "wh", key);
        }
        let refused = admin.delete_tree("222", "wh", "p/111/d.db/t").await;
        assert!(matches!(refused, Err(AdminError::OtherAccount { .. })));
        assert_eq!(keys(&admin, "wh").len(), DELETE_BATCH + 6 + kept.len());

        let deleted = admin
            .delete_tree("111", "wh", "p/111/d.db/t")
            .await
            .unwrap();
        assert_eq!(deleted, DELETE_BATCH + 6);
        let mut left = keys(&admin, "wh");
        left.sort();
        let mut want: Vec<String> = kept.iter().map(|k| k.to_string()).collect();
        want.sort();
        assert_eq!(left, want);
        assert!(
            dropped.iter().all(|p| !p.exists()),
            "their files are gone too"
        );
        assert_eq!(admin.delete_tree("111", "missing", "k").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_dropped_tree_takes_its_uploads_in_progress_along() {
        use crate::store::objects::{Part, Upload};
        let dir = tempfile::tempdir().unwrap();
        let admin = admin_in(dir.path());
        admin.ensure_bucket("111", "us-east-1", "wh").await.unwrap();
        let start = |id: &str, key: &str| {
            let upload = Upload {
                id: id.into(),
                bucket: "wh".into(),
                key: key.into(),
                content_type: None,
                metadata: Default::default(),
                created_ms: 0,
            };
            assert!(admin.store.create_upload(&upload).unwrap());
            let blob = format!("part-{id}");
            let path = admin.blobs.path(&blob);
            std::fs::write(&path, b"x").unwrap();
            let part = Part {
                number: 1,
                blob,
                size: 1,
                etag: "e".into(),
                modified_ms: 0,
            };
            admin.store.put_part(id, &part).unwrap();
            path
        };
        let mut gone: Vec<_> = (0..DELETE_BATCH + 3)
            .map(|i| start(&format!("u{i}"), &format!("d.db/t/part-{i}")))
            .collect();
        gone.push(start("exact", "d.db/t"));
        let kept = [start("k1", "d.db/t2/x"), start("k2", "d.db/t_")];
        admin.delete_tree("111", "wh", "d.db/t").await.unwrap();
        let left: Vec<String> = admin
            .store
            .uploads("wh", "", 10_000)
            .unwrap()
            .into_iter()
            .map(|u| u.key)
            .collect();
        assert_eq!(left, ["d.db/t2/x", "d.db/t_"]);
        assert!(
            gone.iter().all(|p| !p.exists()),
            "the parts' files are gone"
        );
        assert!(kept.iter().all(|p| p.exists()));
    }
}
