//! Makes sure a Python with the pinned PySpark and a Java 17+ exist before any driver starts:
//! a venv under the data dir, created on first start with pip's own progress shown, reused after.

use super::jars;
use crate::cli::RuntimeArgs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned runtime (Glue 5.0 parity: Spark 3.5).
pub const REQUIREMENTS: &str = include_str!("../../python/requirements.lock");

// The Python packages drivers import (`epoxy_driver`, `awsglue`, `awsgluedq`), embedded by
// build.rs and written next to the venv on every start so they always match the binary.
include!(concat!(env!("OUT_DIR"), "/python_files.rs"));

/// Top-level packages in `PYTHON_FILES`, replaced whole so a removed module does not linger.
const PACKAGES: &[&str] = &["epoxy_driver", "awsglue", "awsgluedq"];

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(
        "Java 17 or newer is required to run Spark, but {0}. Install a JDK 17+ (e.g. `apt-get install openjdk-17-jre-headless`) and put it on PATH or set JAVA_HOME"
    )]
    Java(String),
    #[error("Python runtime: {0}")]
    Python(String),
    #[error("jars: {0}")]
    Jars(String),
    #[error("I/O error in {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A ready runtime: the interpreter with pyspark, the folder holding the driver-side packages
/// and the pinned jars.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub python: PathBuf,
    pub driver_dir: PathBuf,
    pub java_major: u32,
    /// The pinned jars by set (`s3a`, `iceberg`, `delta`, `hudi`).
    pub jars: jars::Jars,
    /// `<data-dir>/runtime`: also home of the module layers and the sessions' directories.
    pub runtime_dir: PathBuf,
}

/// Names the path an I/O step failed on (provisioning's one error shape for the file system).
pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ProvisionError + '_ {
    move |source| ProvisionError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks Java, then uses `--python` if given (it must import pyspark) or provisions the venv,
/// then the pinned jars.
pub fn provision(args: &RuntimeArgs) -> Result<Runtime, ProvisionError> {
    let java_major = check_java()?;
    // Absolute, so the paths stay valid whatever directory a driver or a caller runs in.
    let data_dir = std::path::absolute(&args.data_dir).map_err(io_err(&args.data_dir))?;
    let runtime_dir = data_dir.join("runtime");
    std::fs::create_dir_all(&runtime_dir).map_err(io_err(&runtime_dir))?;
    let python = match &args.python {
        Some(p) => p.clone(),
        None => ensure_venv(&runtime_dir.join("venv"))?,
    };
    let jars_dir = match &args.jars_dir {
        Some(dir) => std::path::absolute(dir).map_err(io_err(dir))?,
        None => runtime_dir.join("jars"),
    };
    let jars = jars::ensure_jars(&jars_dir)?;
    let version = pyspark_version(&python).map_err(ProvisionError::Python)?;
    tracing::info!(python = %python.display(), pyspark = %version, java = java_major, "runtime ready");
    let driver_dir = runtime_dir.join("driver");
    write_packages(&driver_dir)?;
    Ok(Runtime {
        python,
        driver_dir,
        java_major,
        jars,
        runtime_dir,
    })
}

/// Writes the embedded packages under `driver_dir`, replacing what an older binary left there.
fn write_packages(driver_dir: &Path) -> Result<(), ProvisionError> {
    for package in PACKAGES {
        let dir = driver_dir.join(package);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        }
    }
    for (relative, source) in PYTHON_FILES {
        let path = driver_dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        std::fs::write(&path, source).map_err(io_err(&path))?;
    }
    Ok(())
}

fn java_binary() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) if !home.is_empty() => Path::new(&home).join("bin").join("java"),
        _ => PathBuf::from("java"),
    }
}

fn check_java() -> Result<u32, ProvisionError> {
    let java = java_binary();
    let output = Command::new(&java).arg("-version").output().map_err(|e| {
        ProvisionError::Java(format!("`{} -version` could not run ({e})", java.display()))
    })?;
    let text = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    let major = parse_java_major(&text).ok_or_else(|| {
        ProvisionError::Java(format!(
            "`{} -version` printed no version I understand: {text}",
            java.display()
        ))
    })?;
    if major < 17 {
        return Err(ProvisionError::Java(format!(
            "{} is Java {major}",
            java.display()
        )));
    }
    Ok(major)
}

/// `openjdk version "17.0.15" …` → 17; `"1.8.0_392"` → 8.
fn parse_java_major(text: &str) -> Option<u32> {
    let quoted = text.split('"').nth(1)?;
    let mut parts = quoted.split(['.', '_', '-', '+']);
    let first: u32 = parts.next()?.parse().ok()?;
    if first == 1 {
        parts.next()?.parse().ok()
    } else {
        Some(first)
    }
}

fn pyspark_version(python: &Path) -> Result<String, String> {
    let output = Command::new(python)
        .args(["-c", "import pyspark, sys; print(pyspark.__version__); sys.exit(0 if sys.version_info >= (3, 9) else 3)"])
        .output()
        .map_err(|e| format!("{} could not run: {e}", python.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} cannot import pyspark (Python 3.9+ with pyspark 3.5 is needed): {}",
            python.display(),
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Creates the venv and installs the pinned requirements unless a previous run completed that.
/// A venv provisioned from an older lock is upgraded in place: pip installs only what changed.
fn ensure_venv(venv: &Path) -> Result<PathBuf, ProvisionError> {
    let python = venv.join("bin").join("python");
    let marker = venv.join("epoxy-requirements.lock");
    let installed = std::fs::read_to_string(&marker).ok();
    if installed.as_deref() == Some(REQUIREMENTS) && python.exists() {
        return Ok(python);
    }
    if installed.is_some() && python.exists() {
        eprintln!(
            "epoxy: upgrading the runtime in {} to the new pinned environment…",
            venv.display()
        );
    } else {
        eprintln!(
            "epoxy: provisioning the Glue 5.0 Python runtime in {} (first start; downloads ~450 MB)…",
            venv.display()
        );
        let base = std::env::var("EPOXY_BASE_PYTHON").unwrap_or_else(|_| "python3".into());
        run(
            Command::new(&base)
                .args(["-m", "venv", "--clear"])
                .arg(venv),
            "create the venv",
        )?;
    }
    // An upgrade cut short leaves a marker that matches no lock: the next start resumes it.
    if installed.is_some() {
        std::fs::write(&marker, "incomplete\n").map_err(io_err(&marker))?;
    }
    let requirements = venv.join("requirements.lock");
    std::fs::write(&requirements, REQUIREMENTS).map_err(io_err(&requirements))?;
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--progress-bar",
                "on",
                "-r",
            ])
            .arg(&requirements),
        "install the pinned runtime",
    )?;
    std::fs::write(&marker, REQUIREMENTS).map_err(io_err(&marker))?;
    eprintln!("epoxy: runtime ready");
    Ok(python)
}

/// Runs a set-up step with its output on the terminal, so progress is visible.
/// Their stdout goes to our stderr: `epoxy provision` prints only the interpreter's path on stdout.
fn run(command: &mut Command, what: &str) -> Result<(), ProvisionError> {
    let status = command.stdout(std::io::stderr()).status().map_err(|e| {
        ProvisionError::Python(format!(
            "could not {what}: {e} (is python3 with the venv module installed?)"
        ))
    })?;
    if !status.success() {
        return Err(ProvisionError::Python(format!(
            "could not {what}: the command failed with {status}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_java_major;

    #[test]
    fn java_versions() {
        assert_eq!(
            parse_java_major("openjdk version \"17.0.15\" 2025-04-15"),
            Some(17)
        );
        assert_eq!(parse_java_major("java version \"1.8.0_392\""), Some(8));
        assert_eq!(
            parse_java_major("openjdk version \"21\" 2023-09-19"),
            Some(21)
        );
        assert_eq!(parse_java_major("garbage"), None);
    }
}
