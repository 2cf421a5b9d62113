//! A session's own directories under the data dir: its `--TempDir` and its working directory
//! (where `--extra-files` land and statements run). They live as long as the session.

use std::collections::HashSet;
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

    /// The directories of a session whose driver was re-attached after a restart, as they are.
    pub fn existing(sessions_dir: &Path, session_key: i64) -> Self {
        let root = sessions_dir.join(format!("session-{session_key}"));
        Self {
            temp_dir: root.join("temp"),
            work_dir: root.join("work"),
            root,
        }
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

/// Removes every session directory but those of `keep` (at start: the sessions of an earlier
/// run that were not re-attached have all ended).
pub fn clear_except(sessions_dir: &Path, keep: &HashSet<i64>) {
    let Ok(entries) = std::fs::read_dir(sessions_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let kept = name
            .to_str()
            .and_then(|n| n.strip_prefix("session-"))
            .and_then(|k| k.parse::<i64>().ok())
            .is_some_and(|k| keep.contains(&k));
        if kept {
            continue;
        }
        if let Err(e) = std::fs::remove_dir_all(entry.path()) {
            tracing::warn!(dir = %entry.path().display(), error = %e, "could not clear an old session directory");
        }
    }
}
