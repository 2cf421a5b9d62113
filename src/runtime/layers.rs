//! `--additional-python-modules`: a session's own Python packages, installed with pip into a
//! layer over the base runtime and cached, so a second session with the same modules starts
//! without downloading anything.
//!
//! A layer is a small venv (no pip of its own) whose `site-packages` holds a `.pth` naming the
//! base runtime's `site-packages`. pip runs with the layer's interpreter, so it sees every base
//! package as installed (a requirement the base satisfies is not installed again) but installs
//! only into the layer, and never uninstalls a base package it upgrades ("outside
//! environment"). `pip install --target` would not do: it ignores installed packages and
//! reinstalls every dependency. The driver runs the base interpreter with the layer's
//! `site-packages` on `PYTHONPATH`, which comes before the base's: a module the user pinned
//! overrides the preinstalled version, in the driver and in the Python workers it starts.
//!
//! Layers are named by a hash of (specs, installer options, base lock, base interpreter, the
//! bytes of local wheels and requirements files). Each is built in a temporary directory and
//! renamed into place, so concurrent installs of the same spec never leave a half-built
//! layer: in one server they take turns (the second finds the first's layer); across
//! processes sharing the data dir, the first rename wins and the others are discarded.

use super::arguments::PythonModules;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Name prefix of layers being built (renamed to their hash when complete).
const BUILD_PREFIX: &str = ".build-";

/// Lines of pip's output kept for a failed install's message.
const ERROR_LINES: usize = 12;

/// Why a layer could not be built; the session goes FAILED with this message.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("--additional-python-modules: pip could not install {specs}:\n{output}")]
    Pip { specs: String, output: String },
    #[error("--additional-python-modules: could not prepare the layer in {path}: {message}")]
    Setup { path: PathBuf, message: String },
}

/// The cache of layers under `<data-dir>/runtime/layers`.
#[derive(Debug)]
pub struct Layers {
    root: PathBuf,
    python: PathBuf,
    base_lock: &'static str,
    /// One install per layer at a time in this server: a second session with the same modules
    /// waits for the first and takes its layer instead of downloading again.
    installing: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Layers {
    pub fn new(root: PathBuf, python: PathBuf, base_lock: &'static str) -> Self {
        Self {
            root,
            python,
            base_lock,
            installing: Default::default(),
        }
    }

    /// Removes builds an earlier run left unfinished (an install cut short by a stop or a
    /// crash); called at start, when no install of this server runs yet.
    pub fn remove_unfinished(&self) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(BUILD_PREFIX)
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// The layer for `modules`, from the cache or installed now (pip's progress in the log):
    /// its `site-packages`, which goes on the driver's `PYTHONPATH`.
    pub async fn ensure(
        &self,
        session: &str,
        modules: &PythonModules,
    ) -> Result<PathBuf, LayerError> {
        let name = self.layer_name(modules);
        let dir = self.root.join(&name);
        let lock = Arc::clone(
            self.installing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(name.clone())
                .or_default(),
        );
        let _installing = lock.lock().await;
        if let Some(site_packages) = site_packages(&dir) {
            tracing::info!(session, layer = %name, "python modules from the layer cache");
            return Ok(site_packages);
        }
        let setup = |message: String| LayerError::Setup {
            path: dir.clone(),
            message,
        };
        std::fs::create_dir_all(&self.root).map_err(|e| setup(e.to_string()))?;
        let building = self.root.join(format!(
            "{BUILD_PREFIX}{name}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let built = self.build(session, &building, modules).await;
        let result = match built {
            Ok(()) => match std::fs::rename(&building, &dir) {
                Ok(()) => Ok(()),
                // Another process's install of the same spec finished first: use its layer.
                Err(_) if site_packages(&dir).is_some() => Ok(()),
                Err(e) => Err(setup(e.to_string())),
            },
            Err(e) => Err(e),
        };
        if building.exists() {
            let _ = std::fs::remove_dir_all(&building);
        }
        result?;
        let site_packages = site_packages(&dir)
            .ok_or_else(|| setup("the built layer has no site-packages".into()))?;
        tracing::info!(session, layer = %name, "python modules installed");
        Ok(site_packages)
    }

    fn layer_name(&self, modules: &PythonModules) -> String {
        let mut hash = Sha256::new();
        for part in [self.base_lock, &self.python.display().to_string()] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        for spec in &modules.specs {
            hash.update(spec.as_bytes());
            hash.update([1]);
            // A local wheel or requirements file counts by its bytes, not its name.
            if let Ok(bytes) = std::fs::read(spec) {
                hash.update(Sha256::digest(&bytes));
            }
        }
        for option in &modules.installer_options {
            hash.update(option.as_bytes());
            hash.update([2]);
        }
        let digest = hash.finalize();
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    async fn build(
        &self,
        session: &str,
        dir: &Path,
        modules: &PythonModules,
    ) -> Result<(), LayerError> {
        let setup = |message: String| LayerError::Setup {
            path: dir.to_path_buf(),
            message,
        };
        let base = base_site_packages(&self.python).await.map_err(setup)?;
        run(
            session,
            Command::new(&self.python)
                .args(["-m", "venv", "--without-pip"])
                .arg(dir),
        )
        .await
        .map_err(|output| setup(format!("python -m venv failed: {output}")))?;
        let own =
            site_packages(dir).ok_or_else(|| setup("the new venv has no site-packages".into()))?;
        let pth = own.join("epoxy-base-runtime.pth");
        std::fs::write(&pth, format!("{}\n", base.display())).map_err(|e| setup(e.to_string()))?;
        let mut pip = Command::new(dir.join("bin").join("python"));
        pip.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
        ]);
        pip.args(&modules.installer_options);
        for spec in &modules.specs {
            if spec.to_ascii_lowercase().ends_with(".txt") {
                pip.arg("-r");
            }
            pip.arg(spec);
        }
        tracing::info!(session, specs = %modules.specs.join(","), "installing python modules");
        run(session, &mut pip)
            .await
            .map_err(|output| LayerError::Pip {
                specs: modules.specs.join(","),
                output,
            })
    }
}

/// `<venv>/lib/python3.X/site-packages`, if the venv exists.
fn site_packages(venv: &Path) -> Option<PathBuf> {
    std::fs::read_dir(venv.join("lib"))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
}

/// The base interpreter's own site-packages (where pyspark is).
async fn base_site_packages(python: &Path) -> Result<PathBuf, String> {
    let output = Command::new(python)
        .args([
            "-c",
            "import os, pyspark; print(os.path.dirname(os.path.dirname(pyspark.__file__)))",
        ])
        .output()
        .await
        .map_err(|e| format!("{} could not run: {e}", python.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} cannot locate its site-packages",
            python.display()
        ));
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// Runs a step with its output in the server log line by line (install progress); on failure,
/// the last meaningful lines of that output.
async fn run(session: &str, command: &mut Command) -> Result<(), String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("no output pipes".into());
    };
    let collect = |pipe: Box<dyn tokio::io::AsyncRead + Unpin + Send>, session: String| {
        tokio::spawn(async move {
            let mut lines = BufReader::new(pipe).lines();
            let mut kept = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim().is_empty() {
                    continue;
                }
                tracing::info!(session = %session, "pip: {line}");
                kept.push(line);
            }
            kept
        })
    };
    let out = collect(Box::new(stdout), session.to_string());
    let err = collect(Box::new(stderr), session.to_string());
    let status = child.wait().await.map_err(|e| e.to_string())?;
    let (out, err) = (out.await.unwrap_or_default(), err.await.unwrap_or_default());
    if status.success() {
        return Ok(());
    }
    Err(failure_lines(&err, &out, status))
}

/// pip's errors (stderr) are what matters; its notices about newer pips are not.
fn failure_lines(stderr: &[String], stdout: &[String], status: std::process::ExitStatus) -> String {
    let meaningful: Vec<&String> = stderr.iter().filter(|l| !l.contains("[notice]")).collect();
    let source: Vec<&String> = if meaningful.is_empty() {
        stdout.iter().collect()
    } else {
        meaningful
    };
    let tail = &source[source.len().saturating_sub(ERROR_LINES)..];
    if tail.is_empty() {
        return format!("the installer exited with {status}");
    }
    tail.iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn modules(specs: &[&str], options: &[&str]) -> PythonModules {
        PythonModules {
            specs: specs.iter().map(|s| s.to_string()).collect(),
            installer_options: options.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn layers_are_named_by_everything_that_changes_them() {
        let layers = Layers::new("/l".into(), "/py".into(), "lock-a");
        let name = |m: &PythonModules| layers.layer_name(m);
        let base = name(&modules(&["a==1"], &[]));
        assert_eq!(base, name(&modules(&["a==1"], &[])));
        assert_ne!(base, name(&modules(&["a==2"], &[])));
        assert_ne!(base, name(&modules(&["a==1"], &["--upgrade"])));
        assert_ne!(base, name(&modules(&["a==1", "b"], &[])));
        let other_lock = Layers::new("/l".into(), "/py".into(), "lock-b");
        assert_ne!(base, other_lock.layer_name(&modules(&["a==1"], &[])));
    }

    #[test]
    fn failures_keep_pips_errors_not_its_notices() {
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let status = std::process::ExitStatus::from_raw(1 << 8);
        let message = failure_lines(
            &lines(&[
                "ERROR: No matching distribution found for x==9",
                "[notice] A new release",
            ]),
            &lines(&["Collecting x==9"]),
            status,
        );
        assert_eq!(message, "ERROR: No matching distribution found for x==9");
        assert_eq!(failure_lines(&[], &lines(&["out"]), status), "out");
        assert!(failure_lines(&[], &[], status).contains("exited"));
    }
}
