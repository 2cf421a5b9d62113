//! One driver process: `python -m epoxy_driver` hosting a SparkSession, spoken to with JSON lines
//! on its stdin/stdout. Its stderr (and the JVM's) is the session's log file. The process leads its
//! own process group, so stopping it takes its JVM too; dropping a handle kills the group.

use crate::metastore::DriverCredential;
use crate::sessions::model::Tenant;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Longest line accepted from a driver; its output text is capped at 1 MiB, so more is a fault.
const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// What a driver needs to build its SparkSession (sent as `EPOXY_DRIVER_CONFIG`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverConfig {
    pub app_name: String,
    pub master: String,
    pub conf: BTreeMap<String, String>,
    /// Extra environment of the driver process (the metastore credential).
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
}

/// Commands to a driver.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum DriverCommand<'a> {
    Run { id: i64, code: &'a str },
    Cancel { id: i64 },
    Shutdown,
}

/// Messages from a driver, validated on arrival; anything else is logged and dropped.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum DriverEvent {
    Ready {
        #[serde(default)]
        spark_version: String,
    },
    Failed {
        message: String,
    },
    Started {
        id: i64,
    },
    Progress {
        id: i64,
        progress: f64,
    },
    Result {
        id: i64,
        status: String,
        #[serde(default)]
        text: String,
        #[serde(default)]
        ename: Option<String>,
        #[serde(default)]
        evalue: Option<String>,
        #[serde(default)]
        traceback: Vec<String>,
    },
    /// The process is gone (synthesised by the reader, never sent by the driver).
    #[serde(skip)]
    Exited {
        reason: String,
    },
}

/// A running driver process.
pub struct DriverHandle {
    child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<DriverEvent>,
    pid: Option<u32>,
    /// In the environment of the driver and everything it starts, so that processes that left
    /// its process group (`setsid`) are still found and stopped with it.
    token: String,
    log_path: PathBuf,
    /// The driver's metastore credential, revoked when the handle goes.
    metastore: Option<DriverCredential>,
}

impl DriverHandle {
    /// Starts `python -m epoxy_driver` with `config`; stderr goes to `log_path`.
    pub fn spawn(
        python: &Path,
        driver_dir: &Path,
        config: &DriverConfig,
        log_path: &Path,
    ) -> std::io::Result<Self> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)?;
        let config_json = serde_json::to_string(config).map_err(std::io::Error::other)?;
        let token = uuid::Uuid::new_v4().to_string();
        let mut command = Command::new(python);
        command
            .args(["-u", "-m", "epoxy_driver"])
            .env("PYTHONPATH", driver_dir)
            .env("EPOXY_DRIVER_CONFIG", config_json)
            .env("PYTHONUNBUFFERED", "1")
            .env(TOKEN_VAR, &token)
            .envs(&config.env)
            // A SPARK_HOME would make PySpark use another Spark than the pinned one.
            .env_remove("SPARK_HOME")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .process_group(0);
        let mut child = command.spawn()?;
        let pid = child.id();
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("driver has no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("driver has no stdout"))?;
        let (tx, events) = mpsc::channel(256);
        tokio::spawn(read_events(stdout, tx, log_path.to_path_buf()));
        Ok(Self {
            child,
            stdin,
            events,
            pid,
            token,
            log_path: log_path.to_path_buf(),
            metastore: None,
        })
    }

    /// Keeps the metastore credential the driver was started with for as long as it lives.
    pub fn with_metastore(mut self, credential: Option<DriverCredential>) -> Self {
        self.metastore = credential;
        self
    }

    /// Binds the driver's metastore connection to the session's tenant (a session took it).
    pub fn bind_metastore(&self, tenant: &Tenant) {
        if let Some(credential) = &self.metastore {
            credential.bind(tenant);
        }
    }

    /// Waits for `ready`; on failure, the reason a user can act on.
    pub async fn wait_ready(&mut self, limit: Duration) -> Result<String, String> {
        let wait = async {
            loop {
                match self.events.recv().await {
                    Some(DriverEvent::Ready { spark_version }) => return Ok(spark_version),
                    Some(DriverEvent::Failed { message }) => return Err(message),
                    Some(DriverEvent::Exited { reason }) => return Err(reason),
                    Some(other) => tracing::debug!(?other, "driver event before ready ignored"),
                    None => return Err("driver output closed".to_string()),
                }
            }
        };
        match tokio::time::timeout(limit, wait).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "the Spark driver did not become ready within {} s; see {}",
                limit.as_secs(),
                self.log_path.display()
            )),
        }
    }

    pub async fn send(&mut self, command: &DriverCommand<'_>) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(command).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.stdin.write_all(&line).await?;
        self.stdin.flush().await
    }

    /// The next event; `Exited` once the process is gone (and forever after). The exit is
    /// watched as well as the pipe: a child the user's code forked keeps the pipe open.
    pub async fn next_event(&mut self) -> DriverEvent {
        tokio::select! {
            biased;
            event = self.events.recv() => match event {
                Some(event) => event,
                None => DriverEvent::Exited { reason: exit_reason(&self.log_path) },
            },
            status = self.child.wait() => {
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                tracing::warn!(pid = self.pid, %status, "driver process exited");
                DriverEvent::Exited { reason: exit_reason(&self.log_path) }
            }
        }
    }

    /// An event already waiting, without blocking (the pool uses it to spot dead idle drivers).
    pub fn try_event(&mut self) -> Option<DriverEvent> {
        self.events.try_recv().ok()
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Moves the log file (pool drivers are renamed to their session's log when taken).
    pub fn rename_log(&mut self, to: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.log_path, to)?;
        self.log_path = to.to_path_buf();
        Ok(())
    }

    /// Asks the driver to stop Spark and exit; after `grace`, kills its whole process group.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.send(&DriverCommand::Shutdown).await;
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                pid = self.pid,
                "driver did not exit in time; killing its process group"
            );
        }
        self.kill_group();
        let _ = self.child.wait().await;
    }

    fn kill_group(&self) {
        if let Some(pid) = self.pid.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: killpg only sends a signal; the group is the one this process created.
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
        for pid in processes_with_token(&self.token) {
            // SAFETY: kill only sends a signal, to a process that carries this driver's token.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for DriverHandle {
    fn drop(&mut self) {
        // The JVM is in the driver's process group: killing the group leaves no orphan behind.
        self.kill_group();
    }
}

/// Reads JSON lines until EOF, then reports why the process ended with the log's last lines.
async fn read_events(
    stdout: tokio::process::ChildStdout,
    tx: mpsc::Sender<DriverEvent>,
    log_path: PathBuf,
) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_MESSAGE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .await;
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) if line.len() > MAX_MESSAGE_BYTES => {
                tracing::error!(log = %log_path.display(), "driver sent an oversized message; treating it as dead");
                break;
            }
            Ok(_) => match serde_json::from_slice::<DriverEvent>(&line) {
                Ok(event) => {
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "ignoring malformed driver message"),
            },
        }
    }
    let reason = exit_reason(&log_path);
    let _ = tx.send(DriverEvent::Exited { reason }).await;
}

/// The environment variable that marks a driver's processes.
const TOKEN_VAR: &str = "EPOXY_DRIVER_TOKEN";

/// Pids whose environment has an entry for which `matches` holds (Linux `/proc`; elsewhere none).
fn processes_where(matches: impl Fn(&[u8]) -> bool) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(&matches))
        })
        .collect()
}

/// Pids carrying this driver's token.
fn processes_with_token(token: &str) -> Vec<i32> {
    let needle = format!("{TOKEN_VAR}={token}");
    processes_where(|var| var == needle.as_bytes())
}

/// Kills what drivers of an earlier run on this data dir left behind (after a kill -9 of the
/// server, a JVM whose stdin a forked child still holds never exits). Returns how many.
pub fn kill_leftovers(driver_dir: &Path) -> usize {
    let needle = format!("PYTHONPATH={}", driver_dir.display());
    let mine = std::process::id() as i32;
    let leftovers: Vec<i32> = processes_where(|var| var == needle.as_bytes())
        .into_iter()
        .filter(|pid| *pid != mine)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0)
                    .any(|var| var.starts_with(TOKEN_VAR.as_bytes()))
            })
        })
        .collect();
    for pid in &leftovers {
        // SAFETY: kill only sends a signal, to a driver process of this data dir.
        unsafe {
            libc::kill(*pid, libc::SIGKILL);
        }
    }
    leftovers.len()
}

/// What a session's ErrorMessage says when its driver is gone.
fn exit_reason(log_path: &Path) -> String {
    format!(
        "the Spark driver process exited unexpectedly. Last log lines:\n{}",
        log_tail(log_path, 8)
    )
}

/// The last `lines` lines of a log, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(16 * 1024);
    let text = String::from_utf8_lossy(&text[start..]);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
