//! One driver process: `python -m epoxy_driver` hosting a SparkSession, spoken to with JSON lines
//! on its stdin/stdout. Its stderr (and the JVM's) is the session's log file. The process leads its
//! own process group, so stopping it takes its JVM too; dropping a handle kills the group.

use crate::metastore::DriverCredential;
use crate::sessions::model::Tenant;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Longest line accepted from a driver, more is a fault: a result carries at most 1 MiB of output
/// (up to 6 MiB once JSON escapes control characters) and a picture of at most
/// [`MAX_PICTURE_BYTES`] (5.4 MiB as base64).
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Largest PNG a driver may send (the driver's `pictures.PNG_LIMIT` refuses bigger ones first).
pub const MAX_PICTURE_BYTES: usize = 4 * 1024 * 1024;

/// The one picture encoding drivers produce, spelled as the Glue kernel's `display_result` reads
/// it: base64-decode, then show as `image/png`.
pub const PNG_BASE64: &str = "image/png;base64";

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// What a driver needs to build its SparkSession (sent as `EPOXY_DRIVER_CONFIG`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverConfig {
    pub app_name: String,
    pub master: String,
    pub conf: BTreeMap<String, String>,
    /// Module layers, put on `PYTHONPATH` ahead of the base runtime (not part of the JSON).
    #[serde(skip)]
    pub python_path: Vec<PathBuf>,
    /// Extra environment of the driver process (the metastore credential).
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
}

/// What makes a started driver one session's: sent once, when the session takes the driver
/// (warm or cold) and before the session is READY; the driver answers with a `session` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionHandover {
    pub session_id: String,
    /// The GlueVersion asked for (the driver logs what actually runs).
    pub glue_version: String,
    /// `sys.argv` (see `arguments::SessionArguments::argv`).
    pub argv: Vec<String>,
    /// Set in the driver's `os.environ` (e.g. the session's AWS credentials and endpoint).
    pub env: BTreeMap<String, String>,
    /// The session's `--TempDir`.
    pub temp_dir: PathBuf,
    /// The driver's working directory from now on; `extra_files` are copied into it.
    pub work_dir: PathBuf,
    /// On `sys.path` and shipped to executors (`sc.addPyFile`).
    pub extra_py_files: Vec<PathBuf>,
    pub extra_files: Vec<PathBuf>,
    /// On a cluster master the SparkContext is created now, with the session's executors.
    pub spark: super::cluster::SessionSpark,
}

/// Commands to a driver.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum DriverCommand<'a> {
    Session(&'a SessionHandover),
    Run { id: i64, code: &'a str },
    Cancel { id: i64 },
    Shutdown,
}

/// The driver's answer to a [`SessionHandover`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandoverStatus {
    Ok,
    Failed,
}

/// Messages from a driver, validated on arrival; anything else is logged and dropped.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum DriverEvent {
    Ready {
        #[serde(default)]
        spark_version: String,
        /// The driver's Spark UI, `http://host:port` (absent when the UI is disabled).
        #[serde(default)]
        spark_ui: Option<String>,
    },
    Failed {
        message: String,
    },
    Session {
        status: HandoverStatus,
        #[serde(default)]
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
        /// For a statement ending in `%matplot`/`%plotly`; `text` is then its stdout only.
        #[serde(default)]
        picture: Option<Picture>,
    },
    /// The process is gone (synthesised by the reader, never sent by the driver).
    #[serde(skip)]
    Exited {
        reason: String,
    },
}

/// A statement's picture as the driver sends it, checked on arrival ([`Picture::check`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Picture {
    /// Always [`PNG_BASE64`].
    pub mime_type: String,
    /// The PNG, base64 (standard alphabet, padded).
    pub data: String,
    /// What the statement wrote to stderr.
    #[serde(default)]
    pub stderr: String,
}

impl Picture {
    /// Why the picture cannot be shown: a type the kernel does not decode, bytes that are not a
    /// base64 PNG, or more than [`MAX_PICTURE_BYTES`].
    fn check(&self) -> Result<(), String> {
        if self.mime_type != PNG_BASE64 {
            return Err(format!(
                "unsupported picture type {:?} (expected {PNG_BASE64:?})",
                self.mime_type
            ));
        }
        let too_large = || format!("the picture is over the limit of {MAX_PICTURE_BYTES} bytes");
        // Checked before decoding too, so a huge string is not decoded just to be refused.
        if self.data.len() > MAX_PICTURE_BYTES.div_ceil(3) * 4 {
            return Err(too_large());
        }
        let png = BASE64
            .decode(&self.data)
            .map_err(|e| format!("the picture is not valid base64: {e}"))?;
        if png.len() > MAX_PICTURE_BYTES {
            return Err(too_large());
        }
        if !png.starts_with(PNG_SIGNATURE) {
            return Err("the picture is not a PNG".to_string());
        }
        Ok(())
    }
}

impl DriverEvent {
    /// The event as the session may use it: a result whose picture fails [`Picture::check`]
    /// becomes an error result saying why, so that the statement still ends.
    fn checked(self) -> Self {
        let DriverEvent::Result {
            id,
            text,
            picture: Some(picture),
            ..
        } = &self
        else {
            return self;
        };
        match picture.check() {
            Ok(()) => self,
            Err(why) => {
                tracing::warn!(id, %why, "driver sent an unusable picture");
                DriverEvent::Result {
                    id: *id,
                    status: "error".to_string(),
                    text: text.clone(),
                    ename: Some("InvalidPicture".to_string()),
                    evalue: Some(why),
                    traceback: Vec::new(),
                    picture: None,
                }
            }
        }
    }
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
    /// The loopback port of the driver's Spark UI, once ready.
    spark_ui_port: Option<u16>,
}

/// The port of `http://host:port[/…]`.
fn url_port(url: &str) -> Option<u16> {
    let authority = url.split("://").nth(1)?.split('/').next()?;
    authority.rsplit_once(':')?.1.parse().ok()
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
        // Layers first, so a module the session pinned wins over the base runtime's.
        let python_path = std::env::join_paths(
            config
                .python_path
                .iter()
                .map(PathBuf::as_path)
                .chain([driver_dir]),
        )
        .map_err(std::io::Error::other)?;
        let mut command = Command::new(python);
        command
            .args(["-u", "-m", "epoxy_driver"])
            .env("PYTHONPATH", python_path)
            .env("EPOXY_DRIVER_CONFIG", config_json)
            .env("PYTHONUNBUFFERED", "1")
            // Non-interactive: no display to open windows on; `%matplot` renders with Agg anyway.
            .env("MPLBACKEND", "Agg")
            .env(TOKEN_VAR, &token)
            .envs(&config.env)
            // A SPARK_HOME would make PySpark use another Spark than the pinned one.
            .env_remove("SPARK_HOME")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .process_group(0);
        // The server's own AWS identity and settings (keys, profile, config files) are not the
        // session's: a session's credentials come only from its handover.
        for (name, _) in std::env::vars_os() {
            if name.as_encoded_bytes().starts_with(b"AWS_") {
                command.env_remove(name);
            }
        }
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
            spark_ui_port: None,
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

    /// The port of the driver's Spark UI, reachable on 127.0.0.1.
    pub fn spark_ui_port(&self) -> Option<u16> {
        self.spark_ui_port
    }

    /// Waits for `ready`; on failure, the reason a user can act on.
    pub async fn wait_ready(&mut self, limit: Duration) -> Result<String, String> {
        let wait = async {
            loop {
                match self.events.recv().await {
                    Some(DriverEvent::Ready {
                        spark_version,
                        spark_ui,
                    }) => {
                        self.spark_ui_port = spark_ui.as_deref().and_then(url_port);
                        return Ok(spark_version);
                    }
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

    /// Hands the driver over to a session and waits for its answer; on failure, the driver's
    /// message (the session goes FAILED with it).
    pub async fn hand_over(
        &mut self,
        handover: &SessionHandover,
        limit: Duration,
    ) -> Result<(), String> {
        self.send(&DriverCommand::Session(handover))
            .await
            .map_err(|e| format!("could not hand the driver over to the session: {e}"))?;
        let wait = async {
            loop {
                match self.next_event().await {
                    DriverEvent::Session {
                        status: HandoverStatus::Ok,
                        ..
                    } => return Ok(()),
                    DriverEvent::Session { message, .. } => return Err(message),
                    DriverEvent::Exited { reason } => return Err(reason),
                    other => tracing::debug!(?other, "driver event before the handover ignored"),
                }
            }
        };
        tokio::time::timeout(limit, wait).await.unwrap_or_else(|_| {
            Err(format!(
                "the driver did not take the session's settings within {} s; see {}",
                limit.as_secs(),
                self.log_path.display()
            ))
        })
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
                // The event reader knows the log's first path; a warm driver's has moved since.
                Some(DriverEvent::Exited { .. }) | None => DriverEvent::Exited { reason: exit_reason(&self.log_path) },
                Some(event) => event,
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
                    if tx.send(event.checked()).await.is_err() {
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
    // The driver dir is the last PYTHONPATH entry (module layers come before it).
    let suffix = driver_dir.display().to_string();
    let ours = |var: &[u8]| {
        var.strip_prefix(b"PYTHONPATH=")
            .is_some_and(|path| path.split(|b| *b == b':').any(|p| p == suffix.as_bytes()))
    };
    let mine = std::process::id() as i32;
    let leftovers: Vec<i32> = processes_where(ours)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn result_line(picture: serde_json::Value) -> DriverEvent {
        let line = serde_json::json!({
            "event": "result", "id": 3, "status": "ok", "text": "printed\n", "picture": picture,
        });
        serde_json::from_value::<DriverEvent>(line)
            .expect("a result event")
            .checked()
    }

    fn png_base64(len: usize) -> String {
        let mut png = PNG_SIGNATURE.to_vec();
        png.resize(len, 0);
        BASE64.encode(png)
    }

    fn error_of(event: &DriverEvent) -> Option<(&str, &str)> {
        match event {
            DriverEvent::Result {
                status,
                ename,
                evalue,
                picture: None,
                ..
            } if status == "error" => Some((ename.as_deref()?, evalue.as_deref()?)),
            _ => None,
        }
    }

    #[test]
    fn a_png_picture_passes_with_its_stderr() {
        let data = png_base64(64);
        let event = result_line(serde_json::json!({
            "mime_type": PNG_BASE64, "data": data, "stderr": "warned\n",
        }));
        let DriverEvent::Result {
            status,
            text,
            picture: Some(picture),
            ..
        } = event
        else {
            panic!("expected an ok result with its picture, got {event:?}");
        };
        assert_eq!((status.as_str(), text.as_str()), ("ok", "printed\n"));
        assert_eq!(picture.data, data);
        assert_eq!(picture.stderr, "warned\n");
    }

    #[test]
    fn results_without_a_picture_are_unchanged() {
        let line = br#"{"event":"result","id":1,"status":"ok","text":"42"}"#;
        let event = serde_json::from_slice::<DriverEvent>(line).unwrap();
        assert!(matches!(
            event.checked(),
            DriverEvent::Result { id: 1, ref text, picture: None, .. } if text == "42"
        ));
    }

    #[test]
    fn unusable_pictures_become_error_results() {
        let cases = [
            (
                serde_json::json!({"mime_type": "image/svg+xml", "data": png_base64(16)}),
                "unsupported picture type",
            ),
            (
                serde_json::json!({"mime_type": PNG_BASE64, "data": "not base64!"}),
                "not valid base64",
            ),
            (
                serde_json::json!({"mime_type": PNG_BASE64, "data": BASE64.encode(b"GIF89a...")}),
                "not a PNG",
            ),
            (
                serde_json::json!({"mime_type": PNG_BASE64, "data": png_base64(MAX_PICTURE_BYTES + 1)}),
                "over the limit",
            ),
        ];
        for (picture, why) in cases {
            let event = result_line(picture);
            let (ename, evalue) =
                error_of(&event).unwrap_or_else(|| panic!("a picture that is {why} got through"));
            assert_eq!(ename, "InvalidPicture");
            assert!(evalue.contains(why), "{evalue:?} should say {why:?}");
        }
    }

    #[test]
    fn handover_is_one_session_command() {
        let handover = SessionHandover {
            session_id: "s".into(),
            glue_version: "4.0".into(),
            argv: vec!["epoxy-session".into()],
            env: BTreeMap::from([("AWS_REGION".into(), "us-east-1".into())]),
            temp_dir: "/t".into(),
            work_dir: "/w".into(),
            extra_py_files: vec![],
            extra_files: vec!["/f.csv".into()],
            spark: Default::default(),
        };
        let json: serde_json::Value =
            serde_json::to_value(DriverCommand::Session(&handover)).unwrap();
        assert_eq!(json["op"], "session");
        assert_eq!(json["argv"][0], "epoxy-session");
        assert_eq!(json["env"]["AWS_REGION"], "us-east-1");
        assert_eq!(json["extra_files"][0], "/f.csv");
        assert_eq!(json["spark"]["executors"], 0);
    }

    #[test]
    fn handover_answers_are_validated() {
        let parse = |s: &str| serde_json::from_str::<DriverEvent>(s);
        assert!(matches!(
            parse(r#"{"event":"session","status":"ok"}"#),
            Ok(DriverEvent::Session {
                status: HandoverStatus::Ok,
                ..
            })
        ));
        match parse(r#"{"event":"session","status":"failed","message":"no file"}"#) {
            Ok(DriverEvent::Session { status, message }) => {
                assert_eq!(
                    (status, message.as_str()),
                    (HandoverStatus::Failed, "no file")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(r#"{"event":"session","status":"maybe"}"#).is_err());
        assert!(parse(r#"{"event":"session"}"#).is_err());
    }
}
