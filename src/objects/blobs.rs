//! Object bytes on disk: one file per stored object or part under `<data-dir>/objects/blobs/`,
//! named by a random id the store's records point at. A write goes to `objects/tmp/`, is
//! fsynced and only then renamed into `blobs/`; the record is committed after that, so a crash
//! leaves at most an unreferenced file, which start-up deletes.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::Checksum;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Why a body could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the body is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the request body ended early: {0}")]
    Body(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The directory tree holding object bytes.
#[derive(Clone)]
pub struct BlobDir {
    blobs: PathBuf,
    tmp: PathBuf,
}

/// A fully written, fsynced file not yet visible under `blobs/`; dropped without [`keep`]
/// (a digest did not match, the client went away), it is deleted.
///
/// [`keep`]: PendingBlob::keep
pub struct PendingBlob {
    dir: BlobDir,
    id: String,
    pub size: u64,
    pub md5: [u8; 16],
    pub checksum: Checksum,
    kept: bool,
}

impl BlobDir {
    /// Creates `<data_dir>/objects/{blobs,tmp}` and empties `tmp/` (writes a crash cut short).
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let root = data_dir.join("objects");
        let dir = Self {
            blobs: root.join("blobs"),
            tmp: root.join("tmp"),
        };
        std::fs::create_dir_all(&dir.blobs)?;
        std::fs::create_dir_all(&dir.tmp)?;
        for entry in std::fs::read_dir(&dir.tmp)? {
            std::fs::remove_file(entry?.path())?;
        }
        Ok(dir)
    }

    pub fn path(&self, id: &str) -> PathBuf {
        self.blobs.join(id)
    }

    /// Deletes files under `blobs/` that no record points at (a crash between the rename and
    /// the commit, or before an old file's deletion). Returns how many went.
    pub fn collect_garbage(&self, referenced: &HashSet<String>) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.blobs)? {
            let entry = entry?;
            let name = entry.file_name();
            if !name.to_str().is_some_and(|n| referenced.contains(n)) {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Streams `body` into a temp file, at most `limit` bytes, hashing MD5 and the
    /// `checksums` algorithms on the way.
    pub async fn write<S, E>(
        &self,
        body: S,
        limit: u64,
        checksums: ChecksumHasher,
    ) -> Result<PendingBlob, WriteError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut pending = self.pending();
        let mut file = tokio::fs::File::create(self.tmp.join(&pending.id)).await?;
        let mut md5 = Md5::new();
        let mut checksums = checksums;
        let mut body = body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| WriteError::Body(e.to_string()))?;
            pending.size += chunk.len() as u64;
            if pending.size > limit {
                return Err(WriteError::TooLarge(limit));
            }
            md5.update(&chunk);
            checksums.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        file.sync_all().await?;
        pending.md5 = md5.finalize();
        pending.checksum = checksums.finalize();
        Ok(pending)
    }

    /// Concatenates stored blobs (a multipart upload's parts) into a new pending file.
    pub async fn concat(&self, parts: &[String]) -> Result<PendingBlob, WriteError> {
        let mut pending = self.pending();
        let mut file = tokio::fs::File::create(self.tmp.join(&pending.id)).await?;
        for part in parts {
            let mut source = tokio::fs::File::open(self.path(part)).await?;
            pending.size += tokio::io::copy(&mut source, &mut file).await?;
        }
        file.flush().await?;
        file.sync_all().await?;
        Ok(pending)
    }

    /// Copies a stored blob (CopyObject) into a new pending file.
    pub async fn duplicate(&self, blob: &str) -> Result<PendingBlob, WriteError> {
        self.concat(&[blob.to_owned()]).await
    }

    /// Deletes blobs whose records are gone; a failure only leaves garbage for the next start.
    pub async fn remove(&self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            if let Err(e) = tokio::fs::remove_file(self.path(&id)).await {
                tracing::warn!(blob = id, error = %e, "could not delete an unused object file");
            }
        }
    }

    fn pending(&self) -> PendingBlob {
        PendingBlob {
            dir: self.clone(),
            id: uuid::Uuid::new_v4().simple().to_string(),
            size: 0,
            md5: [0; 16],
            checksum: Checksum::default(),
            kept: false,
        }
    }
}

impl PendingBlob {
    /// Moves the file into `blobs/` (durably: the directory is fsynced) and returns its id,
    /// which a record may now point at.
    pub async fn keep(mut self) -> io::Result<String> {
        let from = self.dir.tmp.join(&self.id);
        let to = self.dir.path(&self.id);
        tokio::fs::rename(&from, &to).await?;
        let blobs = self.dir.blobs.clone();
        tokio::task::spawn_blocking(move || std::fs::File::open(blobs)?.sync_all())
            .await
            .map_err(io::Error::other)??;
        self.kept = true;
        Ok(std::mem::take(&mut self.id))
    }
}

impl Drop for PendingBlob {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(self.dir.tmp.join(&self.id));
        }
    }
}
