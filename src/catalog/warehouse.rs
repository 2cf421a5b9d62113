//! Where managed data lives: `<warehouse>/<account>/<db>.db/<table>` (Hive's layout, which
//! Spark expects), and the directory work that goes with creating and dropping. Only
//! directories inside the account's own warehouse are ever removed, whatever a location says.

use std::path::{Path, PathBuf};

/// The warehouse root; every account has its own subdirectory.
#[derive(Debug, Clone)]
pub struct Warehouse {
    root: PathBuf,
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

impl Warehouse {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn account_dir(&self, account: &str) -> PathBuf {
        self.root.join(account)
    }

    /// The default `LocationUri` of a database created without one.
    pub fn database_location(&self, account: &str, db: &str) -> String {
        format!(
            "file:{}",
            self.account_dir(account).join(format!("{db}.db")).display()
        )
    }

    /// The default location of a managed table: under its database's location.
    pub fn table_location(db_location: &str, table: &str) -> String {
        format!("{}/{table}", db_location.trim_end_matches('/'))
    }

    /// Creates the directory of a managed `file:` location inside `account`'s warehouse (other
    /// places and schemes are the client's storage). A failure is logged, not returned: the
    /// catalog write stands, and Spark creates missing directories when it writes.
    pub fn create_dir(&self, account: &str, uri: &str) {
        let Some(path) = local_path(uri).filter(|p| self.owns(account, p)) else {
            return;
        };
        if let Err(e) = std::fs::create_dir_all(&path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot create a warehouse directory");
        }
    }

    /// Removes a managed object's directory if it lies inside `account`'s warehouse. A failure
    /// is logged, not returned: the catalog record is already gone.
    pub fn remove_dir(&self, account: &str, uri: &str) {
        let Some(path) = local_path(uri) else {
            return;
        };
        if !self.owns(account, &path) {
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

    /// Strictly below the account's directory, with no `..` steps out of it.
    fn owns(&self, account: &str, path: &Path) -> bool {
        let base = self.account_dir(account);
        path.starts_with(&base)
            && path != base
            && !path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_map_to_local_paths() {
        assert_eq!(local_path("file:/tmp/a"), Some(PathBuf::from("/tmp/a")));
        assert_eq!(local_path("file:///tmp/a"), Some(PathBuf::from("/tmp/a")));
        assert_eq!(local_path("file://host/tmp/a"), None);
        assert_eq!(local_path("s3://bucket/a"), None);
        assert_eq!(local_path("file:relative"), None);
    }

    #[test]
    fn only_the_accounts_own_directories_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::new(dir.path().to_path_buf());
        let mine = wh.database_location("111", "d");
        let theirs = wh.database_location("222", "d");
        wh.create_dir("111", &mine);
        wh.create_dir("111", &theirs);
        assert!(
            !local_path(&theirs).unwrap().exists(),
            "not in 111's warehouse"
        );
        wh.create_dir("222", &theirs);
        wh.remove_dir("111", &theirs);
        assert!(local_path(&theirs).unwrap().exists());
        let escape = format!("{mine}/../../222/d.db");
        wh.remove_dir("111", &escape);
        assert!(local_path(&theirs).unwrap().exists());
        wh.remove_dir("111", &mine);
        assert!(!local_path(&mine).unwrap().exists());
    }
}
