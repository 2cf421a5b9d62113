//! Where managed data lives: `<warehouse>/<account>/<db>.db/<table>` (Hive's layout, which
//! Spark expects), and the storage work that goes with creating and dropping. The warehouse is
//! a local directory (`file:` locations) or an S3 prefix (`--warehouse s3://bucket/prefix`:
//! `s3://bucket/prefix/<account>/<db>.db/<table>`). Only data inside the account's own part of
//! the warehouse is ever removed, whatever a location says.

use super::error::{CatalogError, CatalogResult};
use crate::objects::{AdminError, ObjectAdmin};
use crate::sessions::model::Tenant;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

/// `--warehouse`: a local directory (a path or `file:/path`) or `s3://bucket[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarehouseRoot {
    Local(PathBuf),
    /// `prefix` has no leading or trailing `/` and may be empty.
    S3 {
        bucket: String,
        prefix: String,
    },
}

/// Why a `--warehouse` value is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarehouseRootError {
    #[error("the warehouse is empty: give a directory, file:/path or s3://bucket[/prefix]")]
    Empty,
    #[error("an s3:// warehouse needs a bucket: s3://bucket[/prefix]")]
    NoBucket,
    #[error(
        "{0:?} is not an S3 bucket name (3-63 characters: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)"
    )]
    BadBucket(String),
    #[error("the warehouse prefix {0:?} has an empty, '.' or '..' segment")]
    BadPrefix(String),
    #[error(
        "unsupported warehouse scheme {0:?}: give a directory, file:/path or s3://bucket[/prefix]"
    )]
    Scheme(String),
    #[error("{0:?} is not a local file: URI (file:/path or file:///path)")]
    BadFileUri(String),
}

/// S3's bucket naming rules (as CreateBucket checks them; no IP-address-like names).
fn valid_bucket(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'))
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

/// Segments of an object key with no empty, `.` or `..` step.
fn plain_segments(key: &str) -> bool {
    key.split('/')
        .all(|s| !s.is_empty() && s != "." && s != "..")
}

impl FromStr for WarehouseRoot {
    type Err = WarehouseRootError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value.is_empty() {
            return Err(WarehouseRootError::Empty);
        }
        if let Some(rest) = value.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(WarehouseRootError::NoBucket);
            }
            if !valid_bucket(bucket) {
                return Err(WarehouseRootError::BadBucket(bucket.to_owned()));
            }
            let prefix = prefix.trim_matches('/');
            if !prefix.is_empty() && !plain_segments(prefix) {
                return Err(WarehouseRootError::BadPrefix(prefix.to_owned()));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            });
        }
        if value.starts_with("file:") {
            return local_path(value)
                .map(Self::Local)
                .ok_or_else(|| WarehouseRootError::BadFileUri(value.to_owned()));
        }
        if let Some((scheme, _)) = value.split_once("://") {
            return Err(WarehouseRootError::Scheme(scheme.to_owned()));
        }
        Ok(Self::Local(PathBuf::from(value)))
    }
}

/// `file:` URIs name local paths; `file:/p` and `file:///p` are the same (Hadoop writes the
/// first, other clients the second).
pub fn local_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file:")?;
    let path = rest.strip_prefix("//").map_or(rest, |r| {
        // `file://host/p` has an authority; only the empty one (local) is ours.
        r.strip_prefix('/').map_or("", |_| r)
    });
    path.starts_with('/').then(|| PathBuf::from(path))
}

/// The bucket and key of an `s3://`, `s3a://` or `s3n://` URI (S3A maps all three to S3).
fn s3_location(uri: &str) -> Option<(&str, &str)> {
    let rest = ["s3://", "s3a://", "s3n://"]
        .iter()
        .find_map(|scheme| uri.strip_prefix(scheme))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    Some((bucket, key.trim_end_matches('/')))
}

/// The warehouse root; every account has its own part of it.
#[derive(Clone)]
pub struct Warehouse {
    root: Root,
}

#[derive(Clone)]
enum Root {
    Local(PathBuf),
    S3 {
        bucket: String,
        prefix: String,
        /// The built-in S3 (bucket created on demand, dropped data deleted); `None` with
        /// `--s3-endpoint`, where the warehouse is only a location prefix.
        objects: Option<ObjectAdmin>,
    },
}

impl From<PathBuf> for Warehouse {
    fn from(root: PathBuf) -> Self {
        Self {
            root: Root::Local(root),
        }
    }
}

impl Warehouse {
    /// An S3 warehouse; `objects` is the built-in S3, `None` for an external one.
    pub fn s3(bucket: String, prefix: String, objects: Option<ObjectAdmin>) -> Self {
        Self {
            root: Root::S3 {
                bucket,
                prefix,
                objects,
            },
        }
    }

    /// The key prefix of an account's part of an S3 warehouse (no trailing `/`).
    fn account_key(prefix: &str, account: &str) -> String {
        if prefix.is_empty() {
            account.to_owned()
        } else {
            format!("{prefix}/{account}")
        }
    }

    /// The default location of a database that has none of its own.
    pub fn database_location(&self, account: &str, db: &str) -> String {
        match &self.root {
            Root::Local(root) => format!(
                "file:{}",
                root.join(account).join(format!("{db}.db")).display()
            ),
            Root::S3 { bucket, prefix, .. } => format!(
                "s3://{bucket}/{}/{db}.db",
                Self::account_key(prefix, account)
            ),
        }
    }

    /// The default location of a managed table: under its database's location.
    pub fn table_location(db_location: &str, table: &str) -> String {
        format!("{}/{table}", db_location.trim_end_matches('/'))
    }

    /// Makes a managed location inside `tenant`'s warehouse usable before data is written to
    /// it: a local directory is created (a failure is logged: Spark creates missing
    /// directories as it writes); the built-in S3's warehouse bucket is created in the
    /// tenant's name if missing, and one of another account is an error. Other places and
    /// schemes are the client's storage.
    pub async fn prepare(&self, tenant: &Tenant, uri: &str) -> CatalogResult<()> {
        match &self.root {
            Root::Local(root) => {
                let Some(path) = local_path(uri).filter(|p| owns_path(root, &tenant.account, p))
                else {
                    return Ok(());
                };
                if let Err(e) = std::fs::create_dir_all(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot create a warehouse directory");
                }
                Ok(())
            }
            Root::S3 {
                bucket,
                prefix,
                objects: Some(objects),
            } => {
                if owned_key(bucket, prefix, &tenant.account, uri).is_none() {
                    return Ok(());
                }
                objects
                    .ensure_bucket(&tenant.account, &tenant.region, bucket)
                    .await
                    .map_err(catalog_error)
            }
            Root::S3 { objects: None, .. } => Ok(()),
        }
    }

    /// Removes a managed object's data if it lies inside `account`'s part of the warehouse. A
    /// failure is logged, not returned: the catalog record is already gone.
    pub async fn remove(&self, account: &str, uri: &str) {
        match &self.root {
            Root::Local(root) => remove_dir(root, account, uri),
            Root::S3 {
                bucket,
                prefix,
                objects,
            } => {
                let Some(key) = owned_key(bucket, prefix, account, uri) else {
                    tracing::info!(location = uri, "not removing data outside the warehouse");
                    return;
                };
                let Some(objects) = objects else {
                    tracing::info!(
                        location = uri,
                        "external S3: a dropped table's objects are left for their owner to delete"
                    );
                    return;
                };
                match objects.delete_tree(account, bucket, key).await {
                    Ok(deleted) => {
                        tracing::debug!(location = uri, deleted, "removed warehouse objects")
                    }
                    Err(e) => {
                        tracing::warn!(location = uri, error = %e, "cannot remove warehouse objects")
                    }
                }
            }
        }
    }
}

fn catalog_error(e: AdminError) -> CatalogError {
    match e {
        AdminError::OtherAccount { .. } => CatalogError::AccessDenied(e.to_string()),
        AdminError::Store(e) => CatalogError::Store(e),
        AdminError::Task(_) => CatalogError::Warehouse(e.to_string()),
    }
}

/// The key of `uri` if it is strictly inside `account`'s part of the S3 warehouse, with no
/// `.`, `..` or empty step.
fn owned_key<'u>(bucket: &str, prefix: &str, account: &str, uri: &'u str) -> Option<&'u str> {
    let (b, key) = s3_location(uri)?;
    let base = Warehouse::account_key(prefix, account);
    let below = key.strip_prefix(&base)?.strip_prefix('/')?;
    (b == bucket && plain_segments(key) && !below.is_empty()).then_some(key)
}

/// Strictly below the account's directory, with no `..` steps out of it.
fn owns_path(root: &Path, account: &str, path: &Path) -> bool {
    let base = root.join(account);
    path.starts_with(&base)
        && path != base
        && !path.components().any(|c| matches!(c, Component::ParentDir))
}

fn remove_dir(root: &Path, account: &str, uri: &str) {
    let Some(path) = local_path(uri) else {
        return;
    };
    if !owns_path(root, account, &path) {
        tracing::info!(path = %path.display(), "not removing a directory outside the warehouse");
        return;
    }
    match std::fs::remove_dir_all(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a warehouse directory")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(account: &str) -> Tenant {
        Tenant {
            account: account.into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn file_uris_map_to_local_paths() {
        assert_eq!(local_path("file:/tmp/a"), Some(PathBuf::from("/tmp/a")));
        assert_eq!(local_path("file:///tmp/a"), Some(PathBuf::from("/tmp/a")));
        assert_eq!(local_path("file://host/tmp/a"), None);
        assert_eq!(local_path("s3://bucket/a"), None);
        assert_eq!(local_path("file:relative"), None);
    }

    #[test]
    fn warehouse_values_parse_or_say_why_not() {
        use WarehouseRootError as E;
        let s3 = |bucket: &str, prefix: &str| {
            Ok(WarehouseRoot::S3 {
                bucket: bucket.into(),
                prefix: prefix.into(),
            })
        };
        let table: &[(&str, Result<WarehouseRoot, E>)] = &[
            ("s3://lake", s3("lake", "")),
            ("s3://lake/", s3("lake", "")),
            ("s3://my.wh-1/a/b/", s3("my.wh-1", "a/b")),
            ("/srv/wh", Ok(WarehouseRoot::Local("/srv/wh".into()))),
            ("rel/wh", Ok(WarehouseRoot::Local("rel/wh".into()))),
            ("file:///srv/wh", Ok(WarehouseRoot::Local("/srv/wh".into()))),
            ("", Err(E::Empty)),
            ("s3://", Err(E::NoBucket)),
            ("s3:///prefix", Err(E::NoBucket)),
            ("s3://Upper/x", Err(E::BadBucket("Upper".into()))),
            ("s3://ab", Err(E::BadBucket("ab".into()))),
            ("s3://-ab/x", Err(E::BadBucket("-ab".into()))),
            ("s3://a..b", Err(E::BadBucket("a..b".into()))),
            ("s3://10.0.0.1", Err(E::BadBucket("10.0.0.1".into()))),
            ("s3://lake/a//b", Err(E::BadPrefix("a//b".into()))),
            ("s3://lake/a/../b", Err(E::BadPrefix("a/../b".into()))),
            ("ftp://x", Err(E::Scheme("ftp".into()))),
            ("s3a://lake/p", Err(E::Scheme("s3a".into()))),
            (
                "file://host/wh",
                Err(E::BadFileUri("file://host/wh".into())),
            ),
        ];
        for (value, want) in table {
            assert_eq!(&value.parse::<WarehouseRoot>(), want, "{value:?}");
        }
    }

    #[test]
    fn s3_layout_is_bucket_prefix_account_db_table() {
        let wh = Warehouse::s3("wh".into(), "lake".into(), None);
        let db = wh.database_location("111", "sales");
        assert_eq!(db, "s3://wh/lake/111/sales.db");
        assert_eq!(
            Warehouse::table_location(&db, "t"),
            "s3://wh/lake/111/sales.db/t"
        );
        let bare = Warehouse::s3("wh".into(), String::new(), None);
        assert_eq!(bare.database_location("111", "d"), "s3://wh/111/d.db");
    }

    #[test]
    fn only_keys_inside_the_accounts_s3_part_are_owned() {
        let owned = |uri| owned_key("wh", "lake", "111", uri);
        assert_eq!(owned("s3://wh/lake/111/d.db/t"), Some("lake/111/d.db/t"));
        assert_eq!(owned("s3a://wh/lake/111/d.db/t/"), Some("lake/111/d.db/t"));
        assert_eq!(owned("s3://wh/lake/111"), None, "the account's root itself");
        assert_eq!(owned("s3://wh/lake/111/"), None);
        assert_eq!(owned("s3://wh/lake/1112/d.db"), None);
        assert_eq!(owned("s3://wh/lake/222/d.db"), None);
        assert_eq!(owned("s3://other/lake/111/d.db"), None);
        assert_eq!(owned("s3://wh/lake/111/../222/d.db"), None);
        assert_eq!(owned("s3://wh/lake/111//d.db"), None);
        assert_eq!(owned("file:/wh/lake/111/d.db"), None);
    }

    #[tokio::test]
    async fn only_the_accounts_own_directories_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::from(dir.path().to_path_buf());
        let mine = wh.database_location("111", "d");
        let theirs = wh.database_location("222", "d");
        wh.prepare(&tenant("111"), &mine).await.unwrap();
        wh.prepare(&tenant("111"), &theirs).await.unwrap();
        assert!(
            !local_path(&theirs).unwrap().exists(),
            "not in 111's warehouse"
        );
        wh.prepare(&tenant("222"), &theirs).await.unwrap();
        wh.remove("111", &theirs).await;
        assert!(local_path(&theirs).unwrap().exists());
        let escape = format!("{mine}/../../222/d.db");
        wh.remove("111", &escape).await;
        assert!(local_path(&theirs).unwrap().exists());
        wh.remove("111", &mine).await;
        assert!(!local_path(&mine).unwrap().exists());
    }
}
