//! The console's read-only view of the built-in S3: an account's buckets and one page of a
//! bucket's listing, with the same ownership check, listing order and continuation tokens as
//! the S3 operations (the console never reads the object store itself).

use super::{ObjectService, decode_token, encode_token};
use crate::store::objects::{Bucket, Listed, ObjectMeta};
use s3s::S3Result;

/// One page of a bucket, as the console shows it.
pub struct Browsed {
    pub prefixes: Vec<String>,
    pub objects: Vec<ObjectMeta>,
    /// The token of the next page, if this one is truncated.
    pub next: Option<String>,
}

impl ObjectService {
    /// The buckets `account` owns, by name.
    pub async fn account_buckets(&self, account: &str) -> S3Result<Vec<Bucket>> {
        let account = account.to_owned();
        self.db(move |s| s.buckets(&account)).await
    }

    /// Up to `limit` entries of `bucket` (which `account` must own) under `prefix`, rolled up
    /// at `delimiter`, after the page `token` points at.
    pub async fn browse(
        &self,
        account: &str,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        token: Option<&str>,
        limit: usize,
    ) -> S3Result<Browsed> {
        self.owned_bucket(bucket, account).await?;
        let after = token.map(decode_token).transpose()?;
        let page = self
            .list_page(
                bucket,
                &Some(prefix.to_owned()),
                &delimiter.map(str::to_owned),
                after,
                limit,
            )
            .await?;
        let mut browsed = Browsed {
            prefixes: Vec::new(),
            objects: Vec::new(),
            next: page.next.as_deref().map(encode_token),
        };
        for entry in page.entries {
            match entry {
                Listed::Object(meta) => browsed.objects.push(meta),
                Listed::CommonPrefix(p) => browsed.prefixes.push(p),
            }
        }
        Ok(browsed)
    }
}
