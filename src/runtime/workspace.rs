//! A session's own directories under the data dir: its `--TempDir` and its working directory
//! (where `--extra-files` land and statements run). They live as long as the session.

use std::path::{Path, PathBuf};

/// `<data-dir>/runtime/sessions/session-<key>/{temp,work}`.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    pub temp_dir: PathBuf,
    pub work_dir: PathBuf,
}

impl Workspace {
    /// Creates the session's directories, empty (a leftover of an earlier run is cleared).
    pub fn create(sessions_dir: &Path, session_key: i64) -> std::io::Result<Self> {
        let root = sessions_dir.join(format!("session-{session_key}"));
        if root.exists() {
            std::fs::remove_dir_all(&root)?;
        }
        let workspace = Self {
            temp_dir: root.join("temp"),
            work_dir: root.join("work"),
            root,
        };
        std::fs::create_dir_all(&workspace.temp_dir)?;
        std::fs::create_dir_all(&workspace.work_dir)?;
        Ok(workspace)
    }

    /// Removes the directories; the session has ended and its driver is gone.
    pub fn remove(&self) {
        if let Err(e) = std::fs::remove_dir_all(&self.root)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.root.display(), error = %e, "could not remove a session's directories");
        }
    }
}

/// Removes every session directory (at start: the sessions of an earlier run have all ended).
pub fn clear(sessions_dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(sessions_dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %sessions_dir.display(), error = %e, "could not clear old session directories");
    }
}
