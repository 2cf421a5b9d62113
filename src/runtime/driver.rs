//! One driver process: `python -m epoxy_driver` hosting a SparkSession, started detached (its
//! own session; stdout and stderr are the session's log) so that it outlives the server, and
//! spoken to over its channel socket (`channel.rs`). It leads its own process group, so
//! stopping it takes its JVM too. A driver adopted from a record of another host is remote:
//! reached over TCP, alive as long as its channel is, stopped by the Shutdown command only.

use super::channel;
use crate::metastore::DriverCredential;
use crate::sessions::model::Tenant;
use crate::store::DriverRecord;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::mpsc;

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
    Run {
        id: i64,
        code: &'a str,
    },
    Cancel {
        id: i64,
    },
    Shutdown,
    /// The event with this sequence number (and every earlier one) is processed.
    Ack {
        seq: u64,
    },
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
    pub(crate) fn checked(self) -> Self {
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

/// How often a driver's process is checked while no event comes (a fork of user code can keep
/// the socket open after the driver died).
const LIVENESS_POLL: Duration = Duration::from_secs(1);

/// How long a handshake may take (the driver answers in milliseconds when it is alive).
pub const ATTACH_LIMIT: Duration = Duration::from_secs(5);

/// Set when the server leaves on purpose: from then on dropping the handle of a recorded
/// driver (a READY session's) leaves it running, to be re-attached by the next start; a driver
/// still starting is killed, as nothing could re-attach to it (kill -9 of the server drops
/// nothing at all: every driver lives on, and the next start sorts them out).
static LEAVING: AtomicBool = AtomicBool::new(false);

/// The server is shutting down: drivers whose handles go with it keep running.
pub fn leave_drivers_running() {
    LEAVING.store(true, Ordering::SeqCst);
}

/// A process named by pid and start time, so that a reused pid is never taken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    pub pid: u32,
    pub start_ticks: u64,
}

impl ProcessId {
    /// The live process `pid` (not a zombie), with its start time.
    pub fn of(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let start_ticks = parse_stat(&stat)?;
        Some(Self { pid, start_ticks })
    }

    pub fn alive(&self) -> bool {
        Self::of(self.pid) == Some(*self)
    }
}

/// The start time (field 22) of a `/proc/<pid>/stat` line, `None` for a zombie or a dead
/// process (state Z or X). The command name (field 2) may hold spaces and parentheses, so
/// fields are counted from its last `)`.
fn parse_stat(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if matches!(state, "Z" | "X" | "x") {
        return None;
    }
    // After the state (field 3) come fields 4…; the start time is field 22.
    fields.nth(18)?.parse().ok()
}

/// What the channel's reader task passes on.
enum Incoming {
    Event(u64, DriverEvent),
    Closed(String),
}

/// A driver process: started detached (its own session, no pipes), spoken to over its channel
/// socket. Dropping a handle kills the driver, unless the server is leaving.
pub struct DriverHandle {
    process: ProcessId,
    /// In the environment of the driver and everything it starts, so that processes that left
    /// its process group (`setsid`) are still found and stopped with it.
    token: String,
    socket: PathBuf,
    /// `host:port` of the driver's TCP listener, if it has one.
    tcp: Option<String>,
    /// The machine the driver runs on ([`this_host`] unless remote).
    host: String,
    /// The driver runs on another host: reached over `tcp`; its pid means nothing here.
    remote: bool,
    secret: String,
    writer: Option<channel::Writer>,
    events: mpsc::Receiver<Incoming>,
    /// The newest event handed out (and so processed once the next is asked for).
    received: u64,
    /// An event handed out but not acknowledged yet.
    to_ack: Option<u64>,
    /// Set once the process is known to be gone: every later event is `Exited` with it.
    gone: Option<String>,
    /// Its session's store has the driver's record: it outlives a leaving server.
    recorded: bool,
    log_path: PathBuf,
    /// The driver's metastore credential, revoked when the handle goes.
    metastore: Option<DriverCredential>,
    /// The loopback port of the driver's Spark UI, once ready.
    spark_ui_port: Option<u16>,
    /// The ownership epoch this handle attaches with (see `channel.rs`).
    epoch: u64,
    /// The driver refused our epoch: another controller (epoxy node) owns it now, so this
    /// handle neither kills it nor sends it anything again.
    superseded: bool,
}

/// Why a recorded driver could not be re-attached.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// The driver is gone or unusable (its processes were killed).
    #[error("{0}")]
    Gone(String),
    /// The driver lives but refused our epoch: another epoxy node took it over (left running).
    #[error("the Spark driver is owned by another epoxy node now (epoch {epoch})")]
    Superseded { epoch: u64 },
}

/// `--driver-listen`: drivers also listen on TCP on `ip` (a port the kernel picks), and other
/// nodes dial them at `advertise`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverListen {
    pub ip: std::net::IpAddr,
    pub advertise: String,
}

/// Why `--driver-listen`/`--driver-advertise-host` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "--driver-listen {0} is not an address other hosts can dial; give --driver-advertise-host"
    )]
    Unspecified(std::net::IpAddr),
    #[error("--driver-advertise-host {0:?} is not a host name or IP address")]
    BadHost(String),
    #[error("drivers cannot listen on --driver-listen {ip}: {error}")]
    Bind {
        ip: std::net::IpAddr,
        error: std::io::Error,
    },
}

impl DriverListen {
    /// Checked: `ip` can be listened on here, and `advertise` (default: `ip`) names a host.
    pub fn new(ip: std::net::IpAddr, advertise: Option<String>) -> Result<Self, ListenError> {
        // Bound once now so that a wrong IP is a start-up error, not every driver's.
        std::net::TcpListener::bind((ip, 0)).map_err(|error| ListenError::Bind { ip, error })?;
        let advertise = match advertise {
            Some(host) if valid_host(&host) => host,
            Some(host) => return Err(ListenError::BadHost(host)),
            None if ip.is_unspecified() => return Err(ListenError::Unspecified(ip)),
            None => ip.to_string(),
        };
        Ok(Self { ip, advertise })
    }
}

/// A DNS name (letters, digits, hyphens in dot-separated labels) or an IP address.
fn valid_host(host: &str) -> bool {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return !ip.is_unspecified();
    }
    host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// How drivers' channels are set up.
#[derive(Debug, Clone)]
pub struct ChannelSettings {
    /// How long a driver may go without a controller before it stops itself.
    pub orphan_limit: Duration,
    pub listen: Option<DriverListen>,
}

/// `host:port`, an IPv6 literal in brackets.
fn tcp_address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// This machine as driver records name it: `<machine id>/<hostname>`, the id from
/// `/etc/machine-id`, else the kernel's boot id (a container without a machine id). The
/// hostname tells apart containers of one machine, whose pids are not each other's. A record
/// of another host is adopted over TCP; one with no host (written before hosts were recorded)
/// is this host's.
pub fn this_host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let id = read("/etc/machine-id")
            .or_else(|| read("/proc/sys/kernel/random/boot_id"))
            .unwrap_or_default();
        let name = read("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{id}/{name}")
    })
}

/// The port of `http://host:port[/…]`.
fn url_port(url: &str) -> Option<u16> {
    let authority = url.split("://").nth(1)?.split('/').next()?;
    authority.rsplit_once(':')?.1.parse().ok()
}

/// Where a driver started now listens: short, since a Unix socket path has at most 107 bytes.
fn socket_path(sockets_dir: &Path, token: &str) -> std::io::Result<PathBuf> {
    let path = sockets_dir.join(format!("{}.sock", &token[..16]));
    if path.as_os_str().len() > 100 {
        return Err(std::io::Error::other(format!(
            "the driver socket path {} is too long for a Unix socket; use a shorter --data-dir",
            path.display()
        )));
    }
    Ok(path)
}

/// Where and how a driver is started.
pub struct Launch<'a> {
    pub python: &'a Path,
    pub driver_dir: &'a Path,
    pub sockets_dir: &'a Path,
    pub config: &'a DriverConfig,
    pub log_path: &'a Path,
    /// How long the driver may go without a controller before it stops itself.
    pub orphan_limit: Duration,
    /// Also listen on TCP (`--driver-listen`).
    pub tcp: Option<&'a DriverListen>,
}

impl DriverHandle {
    /// Starts `python -m epoxy_driver` detached, with stdout and stderr on the log, and
    /// attaches to its channel; on failure, the reason a user can act on.
    pub async fn start(launch: &Launch<'_>, limit: Duration) -> Result<Self, String> {
        let spawned = Self::spawn(launch).map_err(|e| {
            format!(
                "could not start the driver process {}: {e}",
                launch.python.display()
            )
        })?;
        let (process, token, socket, secret) = spawned;
        // Owned by a handle from the start: a stop while the driver starts drops it, killing it.
        let mut handle = Self::attached(
            process,
            token,
            socket,
            secret,
            launch.log_path.to_path_buf(),
        );
        let started = tokio::time::Instant::now();
        // The driver binds its socket a moment after it starts; until then connects fail.
        loop {
            match channel::attach(&handle.endpoint(), &handle.secret, 0, 0, ATTACH_LIMIT).await {
                Ok((connection, welcome)) => {
                    if let Some(listen) = launch.tcp {
                        let port = welcome.tcp.ok_or_else(|| {
                            format!(
                                "the driver opened no TCP listener on {}; see {}",
                                listen.ip,
                                launch.log_path.display()
                            )
                        })?;
                        handle.tcp = Some(tcp_address(&listen.advertise, port));
                    }
                    handle.connect(connection);
                    return Ok(handle);
                }
                Err(e) if !process.alive() => {
                    tracing::warn!(error = %e, "driver exited before its channel opened");
                    return Err(exit_reason(launch.log_path));
                }
                Err(e) if started.elapsed() > limit => {
                    return Err(format!(
                        "the driver's channel did not open within {} s ({e}); see {}",
                        limit.as_secs(),
                        launch.log_path.display()
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn spawn(launch: &Launch<'_>) -> std::io::Result<(ProcessId, String, PathBuf, String)> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(launch.log_path)?;
        let config_json = serde_json::to_string(launch.config).map_err(std::io::Error::other)?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        std::fs::create_dir_all(launch.sockets_dir)?;
        let socket = socket_path(launch.sockets_dir, &token)?;
        let secret = channel::new_secret();
        // Layers first, so a module the session pinned wins over the base runtime's.
        let python_path = std::env::join_paths(
            launch
                .config
                .python_path
                .iter()
                .map(PathBuf::as_path)
                .chain([launch.driver_dir]),
        )
        .map_err(std::io::Error::other)?;
        let mut command = Command::new(launch.python);
        command
            .args(["-u", "-m", "epoxy_driver"])
            .env("PYTHONPATH", python_path)
            .env("EPOXY_DRIVER_CONFIG", config_json)
            .env("EPOXY_DRIVER_SOCKET", &socket)
            .env("EPOXY_DRIVER_SECRET", &secret)
            .env(
                "EPOXY_DRIVER_ORPHAN_SECONDS",
                launch.orphan_limit.as_secs_f64().to_string(),
            )
            .env("PYTHONUNBUFFERED", "1")
            // Non-interactive: no display to open windows on; `%matplot` renders with Agg anyway.
            .env("MPLBACKEND", "Agg")
            .env(TOKEN_VAR, &token)
            // Empty: no TCP (nor one set in the server's own environment).
            .env(
                "EPOXY_DRIVER_TCP",
                launch.tcp.map(|l| l.ip.to_string()).unwrap_or_default(),
            )
            .envs(&launch.config.env)
            // A SPARK_HOME would make PySpark use another Spark than the pinned one.
            .env_remove("SPARK_HOME")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        // The server's own AWS identity and settings (keys, profile, config files) are not the
        // session's: a session's credentials come only from its handover.
        for (name, _) in std::env::vars_os() {
            if name.as_encoded_bytes().starts_with(b"AWS_") {
                command.env_remove(name);
            }
        }
        // SAFETY: setsid is async-signal-safe; the closure touches nothing else. Its own
        // session detaches the driver from the server's terminal, process group and signals.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        // Not kill_on_drop: the driver outlives the server. Dropping the Child leaves tokio to
        // reap it when it exits.
        let child = command.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| std::io::Error::other("the driver exited at once"))?;
        drop(child);
        let process =
            ProcessId::of(pid).ok_or_else(|| std::io::Error::other("the driver exited at once"))?;
        Ok((process, token, socket, secret))
    }

    fn attached(
        process: ProcessId,
        token: String,
        socket: PathBuf,
        secret: String,
        log_path: PathBuf,
    ) -> Self {
        Self {
            process,
            token,
            socket,
            tcp: None,
            host: this_host().to_string(),
            remote: false,
            secret,
            writer: None,
            events: mpsc::channel(1).1,
            received: 0,
            to_ack: None,
            gone: None,
            recorded: false,
            log_path,
            metastore: None,
            spark_ui_port: None,
            epoch: 0,
            superseded: false,
        }
    }

    /// Takes over a connection: its reader feeds `events`.
    fn connect(&mut self, connection: channel::Connection) {
        let (tx, events) = mpsc::channel(256);
        tokio::spawn(read_events(connection.reader, tx));
        self.writer = Some(connection.writer);
        self.events = events;
    }

    /// Re-attaches, as a controller of `epoch`, to a driver an earlier run of the server (or
    /// another node) started (see `record`); the driver's welcome says which statement it
    /// received last. On failure, why: the driver is gone (its processes killed), or it
    /// refused the epoch as superseded (left running: its owner is another node).
    pub async fn adopt(
        record: &DriverRecord,
        log_path: PathBuf,
        metastore: Option<DriverCredential>,
        epoch: u64,
    ) -> Result<(Self, Option<i64>), AdoptError> {
        let process = ProcessId {
            pid: record.pid,
            start_ticks: record.start_ticks,
        };
        // Another host's driver: its pid and socket mean nothing here, only its TCP port does.
        let remote = !record.host.is_empty() && record.host != this_host();
        let gone = |why: String| {
            if !remote {
                kill_group(process, &record.token);
            }
            Err(AdoptError::Gone(why))
        };
        let endpoint = match (remote, &record.tcp) {
            (false, _) => channel::Endpoint::Unix(record.socket.clone()),
            (true, Some(address)) => channel::Endpoint::Tcp(address.clone()),
            (true, None) => {
                return gone(format!(
                    "the Spark driver runs on another host ({}) and listens on no TCP port \
                     (its node was started without --driver-listen)",
                    record.host
                ));
            }
        };
        if !remote && !process.alive() {
            return gone(format!(
                "the Spark driver process (pid {}) is gone",
                record.pid
            ));
        }
        let (connection, welcome) =
            match channel::attach(&endpoint, &record.secret, epoch, 0, ATTACH_LIMIT).await {
                Ok(attached) => attached,
                Err(channel::ChannelError::Superseded { epoch }) => {
                    return Err(AdoptError::Superseded { epoch });
                }
                Err(e) => return gone(format!("the Spark driver does not answer: {e}")),
            };
        if welcome.pid != record.pid {
            return gone(format!(
                "the process at the driver's socket is pid {}, not the driver's {}",
                welcome.pid, record.pid
            ));
        }
        let mut handle = Self::attached(
            process,
            record.token.clone(),
            record.socket.clone(),
            record.secret.clone(),
            log_path,
        );
        handle.connect(connection);
        handle.metastore = metastore;
        handle.spark_ui_port = record.spark_ui_port;
        handle.recorded = true;
        handle.epoch = epoch;
        handle.tcp = record.tcp.clone();
        if remote {
            handle.remote = true;
            handle.host = record.host.clone();
        }
        Ok((handle, welcome.last_run))
    }

    /// Raises the epoch this handle attaches with (the session's owner epoch, at handover or
    /// adoption); a lower one is ignored. The driver learns it at the next handshake: it takes
    /// effect against any controller that attaches after.
    pub fn set_epoch(&mut self, epoch: u64) {
        self.epoch = self.epoch.max(epoch);
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// True once the driver refused this handle's epoch: another epoxy node owns the session
    /// now, and `next_event` says `Exited` forever. The driver is left running.
    pub fn superseded(&self) -> bool {
        self.superseded
    }

    /// The store now has [`DriverHandle::record`]: the driver outlives a leaving server.
    pub fn mark_recorded(&mut self) {
        self.recorded = true;
    }

    /// What re-attaching to this driver after a restart needs.
    pub fn record(&self) -> DriverRecord {
        DriverRecord {
            pid: self.process.pid,
            start_ticks: self.process.start_ticks,
            socket: self.socket.clone(),
            secret: self.secret.clone(),
            token: self.token.clone(),
            spark_ui_port: self.spark_ui_port,
            metastore_user: self.metastore.as_ref().map(|m| m.user_name().to_string()),
            tcp: self.tcp.clone(),
            host: self.host.clone(),
        }
    }

    /// Where this handle attaches: the Unix socket, or TCP for a remote driver.
    fn endpoint(&self) -> channel::Endpoint {
        match (&self.tcp, self.remote) {
            (Some(address), true) => channel::Endpoint::Tcp(address.clone()),
            _ => channel::Endpoint::Unix(self.socket.clone()),
        }
    }

    /// Whether the process may live: checked in `/proc` here; a remote one's only sign of life
    /// is its channel.
    fn may_live(&self) -> bool {
        self.remote || self.process.alive()
    }

    /// True if the driver runs on another host (adopted over TCP).
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    pub fn token(&self) -> &str {
        &self.token
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

    /// The port of the driver's Spark UI, reachable on 127.0.0.1; none for a remote driver
    /// (its UI is on its own host's loopback; the record keeps the port).
    pub fn spark_ui_port(&self) -> Option<u16> {
        self.spark_ui_port.filter(|_| !self.remote)
    }

    /// Waits for `ready`; on failure, the reason a user can act on.
    pub async fn wait_ready(&mut self, limit: Duration) -> Result<String, String> {
        let wait = async {
            loop {
                match self.next_event().await {
                    DriverEvent::Ready {
                        spark_version,
                        spark_ui,
                    } => {
                        self.spark_ui_port = spark_ui.as_deref().and_then(url_port);
                        return Ok(spark_version);
                    }
                    DriverEvent::Failed { message } => return Err(message),
                    DriverEvent::Exited { reason } => return Err(reason),
                    other => tracing::debug!(?other, "driver event before ready ignored"),
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
        let line = command_line(command)?;
        let writer = self.writer.as_mut().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "the driver's channel is closed",
            )
        })?;
        writer.write_all(&line).await?;
        writer.flush().await
    }

    /// The next event; `Exited` once the process is gone (and forever after). Asking for it
    /// acknowledges the previous one, which the caller has processed by then. A channel that
    /// closes while the process lives is re-attached (the driver replays what was not
    /// acknowledged).
    pub async fn next_event(&mut self) -> DriverEvent {
        loop {
            if let Some(reason) = &self.gone {
                return DriverEvent::Exited {
                    reason: reason.clone(),
                };
            }
            if let Some(seq) = self.to_ack.take()
                && let Err(e) = self.send(&DriverCommand::Ack { seq }).await
            {
                tracing::debug!(error = %e, "could not acknowledge a driver event");
            }
            let incoming = tokio::select! {
                incoming = self.events.recv() => incoming,
                _ = tokio::time::sleep(LIVENESS_POLL) => {
                    if !self.may_live() {
                        self.lost();
                    }
                    continue;
                }
            };
            match incoming {
                Some(Incoming::Event(seq, _)) if seq <= self.received => {
                    // Replayed after a re-attach and processed before: acknowledge it again.
                    self.to_ack = Some(seq);
                }
                Some(Incoming::Event(seq, event)) => {
                    self.received = seq;
                    self.to_ack = Some(seq);
                    return event;
                }
                Some(Incoming::Closed(why)) => self.reattach(&why).await,
                None => self.reattach("the channel reader ended").await,
            }
        }
    }

    /// After the channel closed: attached again if the driver lives, else marked gone (or
    /// superseded, if it refused our epoch).
    async fn reattach(&mut self, why: &str) {
        self.writer = None;
        for _ in 0..3 {
            if !self.may_live() {
                break;
            }
            let attached = channel::attach(
                &self.endpoint(),
                &self.secret,
                self.epoch,
                self.received,
                ATTACH_LIMIT,
            )
            .await;
            match attached {
                Ok((connection, _)) => {
                    tracing::warn!(pid = self.process.pid, %why, "driver channel closed; re-attached");
                    self.connect(connection);
                    return;
                }
                Err(channel::ChannelError::Superseded { epoch }) => {
                    tracing::warn!(
                        pid = self.process.pid,
                        ours = self.epoch,
                        theirs = epoch,
                        "driver taken over by a controller of a higher epoch; giving it up"
                    );
                    self.superseded = true;
                    self.gone = Some(format!(
                        "the Spark driver was taken over by another epoxy node (epoch {epoch}, \
                         ours {})",
                        self.epoch
                    ));
                    return;
                }
                Err(e) => {
                    tracing::warn!(pid = self.process.pid, error = %e, "could not re-attach to the driver");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
        self.lost();
    }

    fn lost(&mut self) {
        if self.remote {
            tracing::warn!(host = %self.host, "remote driver's channel closed for good");
            self.gone = Some(format!(
                "the Spark driver on another host ({}) stopped answering on its channel {}",
                self.host,
                self.tcp.as_deref().unwrap_or_default()
            ));
            return;
        }
        tracing::warn!(pid = self.process.pid, "driver process exited");
        kill_group(self.process, &self.token);
        self.gone = Some(exit_reason(&self.log_path));
    }

    /// True while the process runs and is ours (the pool uses it to spot dead idle drivers).
    pub fn is_alive(&self) -> bool {
        self.gone.is_none() && self.may_live()
    }

    pub fn pid(&self) -> u32 {
        self.process.pid
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

    /// Lets go of a driver another node now controls: this side's channel closes, the process
    /// and its metastore credential stay (its catalog calls may still come to this node).
    pub fn release(mut self) {
        std::mem::forget(self.metastore.take());
        self.superseded = true;
    }

    /// Asks the driver to stop Spark and exit; after `grace`, kills its whole process group
    /// (a remote driver is only waited for: it must exit by itself).
    pub async fn shutdown(mut self, grace: Duration) {
        if self.superseded {
            return; // another node's driver now: Drop leaves it alone too
        }
        let _ = self.send(&DriverCommand::Shutdown).await;
        if self.remote {
            // Exiting closes its channel: drain events until then.
            let closed =
                async { while let Some(Incoming::Event(..)) = self.events.recv().await {} };
            if tokio::time::timeout(grace, closed).await.is_err() {
                tracing::warn!(host = %self.host, "remote driver did not exit in time");
            }
            self.gone = Some(String::new());
            return;
        }
        let deadline = tokio::time::Instant::now() + grace;
        while self.process.alive() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if self.process.alive() {
            tracing::warn!(
                pid = self.process.pid,
                "driver did not exit in time; killing its process group"
            );
        }
        self.gone = Some(String::new());
        kill_group(self.process, &self.token);
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for DriverHandle {
    fn drop(&mut self) {
        if self.superseded {
            return; // another node owns the driver
        }
        if LEAVING.load(Ordering::SeqCst) && self.recorded && self.gone.is_none() {
            return; // the next start re-attaches to it (or kills it)
        }
        if self.remote {
            // Nothing here can signal it: ask it to stop, if its channel is still open.
            if let (Some(mut writer), Ok(runtime), Ok(line)) = (
                self.writer.take(),
                tokio::runtime::Handle::try_current(),
                command_line(&DriverCommand::Shutdown),
            ) {
                runtime.spawn(async move {
                    let _ = writer.write_all(&line).await;
                    let _ = writer.flush().await;
                });
            }
            return;
        }
        // The JVM is in the driver's process group: killing the group leaves no orphan behind.
        kill_group(self.process, &self.token);
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// A command as one JSON line.
fn command_line(command: &DriverCommand<'_>) -> std::io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(command).map_err(std::io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}

/// Kills a driver's process group (if the process is still the driver) and every process that
/// carries its token.
pub fn kill_group(process: ProcessId, token: &str) {
    if process.alive()
        && let Ok(pid) = i32::try_from(process.pid)
    {
        // SAFETY: killpg only sends a signal; the driver leads its own session and group.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    for pid in processes_with_token(token) {
        // SAFETY: kill only sends a signal, to a process that carries this driver's token.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Reads event frames until the channel closes; malformed frames are logged and dropped.
async fn read_events(mut reader: channel::Reader, tx: mpsc::Sender<Incoming>) {
    let why = loop {
        let line = match channel::read_line(&mut reader, channel::MAX_FRAME_BYTES).await {
            Ok(line) => line,
            Err(e) => break e.to_string(),
        };
        match channel::parse_event(&line) {
            Ok((seq, event)) => {
                if tx.send(Incoming::Event(seq, event)).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "ignoring malformed driver message"),
        }
    };
    let _ = tx.send(Incoming::Closed(why)).await;
}

/// The environment variable that marks a driver's processes.
const TOKEN_VAR: &str = "EPOXY_DRIVER_TOKEN";

/// Every pid in `/proc` (none elsewhere than Linux).
pub fn pids() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
}

/// The driver token in a process's environment (`/proc/<pid>/environ`) if the process is a
/// driver of the data dir whose driver package is `driver_dir`: the runtime puts that on every
/// driver's `PYTHONPATH` (after any module layers), and the driver's children inherit both.
pub fn driver_token<'a>(environ: &'a [u8], driver_dir: &[u8]) -> Option<&'a [u8]> {
    let mut vars = environ.split(|b| *b == 0);
    let ours = vars.clone().any(|var| {
        var.strip_prefix(b"PYTHONPATH=")
            .is_some_and(|path| path.split(|b| *b == b':').any(|p| p == driver_dir))
    });
    let prefix = format!("{TOKEN_VAR}=");
    ours.then(|| vars.find_map(|var| var.strip_prefix(prefix.as_bytes())))
        .flatten()
}

/// Pids whose environment has an entry for which `matches` holds (Linux `/proc`; elsewhere none).
fn processes_where(matches: impl Fn(&[u8]) -> bool) -> Vec<i32> {
    pids()
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

/// Kills the processes of drivers of an earlier run on this data dir that were not adopted
/// (`keep`: tokens of re-attached drivers): warm-pool drivers, and drivers of sessions that
/// ended or could not be re-attached. Returns how many processes.
pub fn kill_leftovers(driver_dir: &Path, keep: &HashSet<String>) -> usize {
    let driver_dir = driver_dir.as_os_str().as_encoded_bytes();
    let mine = std::process::id() as i32;
    let leftovers: Vec<i32> = pids()
        .filter(|pid| *pid != mine)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                driver_token(&env, driver_dir).is_some_and(|token| {
                    !keep.contains(std::str::from_utf8(token).unwrap_or_default())
                })
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
    fn tokens_come_only_from_the_exact_entry_of_this_data_dir() {
        let dir = b"/data/runtime/driver";
        let env = b"PATH=/bin\0EPOXY_DRIVER_TOKEN=abc\0PYTHONPATH=/layer:/data/runtime/driver\0";
        assert_eq!(driver_token(env, dir), Some(&b"abc"[..]));
        let other = b"EPOXY_DRIVER_TOKEN=abc\0PYTHONPATH=/other/runtime/driver\0";
        assert_eq!(driver_token(other, dir), None, "another data dir's driver");
        let prefix = b"EPOXY_DRIVER_TOKEN=abc\0PYTHONPATH=/data/runtime/driver2\0";
        assert_eq!(driver_token(prefix, dir), None, "whole path entries only");
        assert_eq!(
            driver_token(
                b"NOT_EPOXY_DRIVER_TOKEN=abc\0PYTHONPATH=/data/runtime/driver\0",
                dir
            ),
            None
        );
        assert_eq!(driver_token(b"", dir), None);
    }

    #[test]
    fn driver_listen_is_checked_at_start() {
        let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let listen = DriverListen::new(loopback, None).unwrap();
        assert_eq!(listen.advertise, "127.0.0.1");
        let any: std::net::IpAddr = "0.0.0.0".parse().unwrap();
        assert!(matches!(
            DriverListen::new(any, None),
            Err(ListenError::Unspecified(_))
        ));
        let named = DriverListen::new(any, Some("node-7.internal".into())).unwrap();
        assert_eq!(
            (named.ip, named.advertise.as_str()),
            (any, "node-7.internal")
        );
        for bad in [
            "",
            "a b",
            "-x",
            "x-",
            "a..b",
            "host:80",
            "0.0.0.0",
            "::",
            "ünï",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(
                    DriverListen::new(loopback, Some(bad.to_string())),
                    Err(ListenError::BadHost(_))
                ),
                "{bad:?}"
            );
        }
        assert!(DriverListen::new(loopback, Some("::1".into())).is_ok());
        // An address of no interface here cannot be listened on.
        let foreign: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        assert!(matches!(
            DriverListen::new(foreign, None),
            Err(ListenError::Bind { .. })
        ));
    }

    #[test]
    fn tcp_addresses_bracket_ipv6() {
        assert_eq!(tcp_address("10.0.0.1", 7), "10.0.0.1:7");
        assert_eq!(tcp_address("node.internal", 7), "node.internal:7");
        assert_eq!(tcp_address("fd00::1", 7), "[fd00::1]:7");
    }

    #[test]
    fn this_host_names_the_machine_and_the_hostname() {
        let host = this_host();
        let (id, name) = host.split_once('/').expect("id/hostname");
        assert!(!id.is_empty() && !name.is_empty(), "{host}");
        assert_eq!(host, this_host());
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
