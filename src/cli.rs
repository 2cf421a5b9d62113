//! Command line: `epoxy serve` and `epoxy provision`.

use crate::catalog::warehouse::WarehouseRoot;
use crate::runtime::cluster::DpuPreset;
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "epoxy",
    version,
    about = "AWS Glue Interactive Sessions, self-hosted, on real PySpark drivers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Create (or check) the Python/PySpark runtime in the data dir, then exit.
    Provision(RuntimeArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// Where sessions, logs and the runtime live.
    #[arg(long, env = "EPOXY_DATA_DIR", default_value = "./epoxy-data")]
    pub data_dir: PathBuf,
    /// Use this Python (it must import pyspark 3.5) instead of provisioning a venv.
    #[arg(long, env = "EPOXY_PYTHON")]
    pub python: Option<PathBuf>,
    /// Where the pinned jars (S3A, Iceberg, Delta, Hudi) live [default: <data-dir>/runtime/jars];
    /// share one between data dirs to fetch them once.
    #[arg(long, env = "EPOXY_JARS_DIR")]
    pub jars_dir: Option<PathBuf>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// Accept any credentials as account 000000000000 (the default without --accounts).
    Open,
    /// Verify SigV4 signatures against --accounts.
    Sigv4,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// Every session runs on its own PySpark driver.
    Spark,
    /// Control plane only: sessions are records, statements are refused (like an emulator).
    None,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Address to listen on; port 0 picks a free one (printed on stdout).
    #[arg(long, env = "EPOXY_LISTEN", default_value = "127.0.0.1:4747")]
    pub listen: SocketAddr,
    /// Spark master for the drivers: local[*], spark://host:7077, k8s://…
    #[arg(long, env = "EPOXY_SPARK_MASTER", default_value = "local[*]")]
    pub spark_master: String,
    /// Executor size per DPU of a session's WorkerType on a cluster master: laptop (1 core,
    /// 1 GiB) or glue (4 cores, 16 GiB); --cores-per-dpu / --memory-per-dpu override it.
    #[arg(long, env = "EPOXY_DPU_PRESET", value_enum, default_value_t = DpuPreset::Laptop)]
    pub dpu_preset: DpuPreset,
    /// Executor cores per DPU on a cluster master [default: from --dpu-preset].
    #[arg(long, env = "EPOXY_CORES_PER_DPU")]
    pub cores_per_dpu: Option<u32>,
    /// Executor memory per DPU on a cluster master, e.g. 512m or 4g [default: from --dpu-preset].
    #[arg(long, env = "EPOXY_MEMORY_PER_DPU")]
    pub memory_per_dpu: Option<String>,
    /// Address drivers bind and advertise to executors (one the cluster's workers can reach)
    /// [default: Spark's choice; required for k8s://].
    #[arg(long, env = "EPOXY_DRIVER_HOST")]
    pub driver_host: Option<String>,
    /// The standalone master's web UI (http://host:8080): drivers waiting for executors quote
    /// its view (workers, free cores) in the session's log.
    #[arg(long, env = "EPOXY_SPARK_MASTER_UI")]
    pub spark_master_ui: Option<String>,
    /// Seconds a session on a cluster master waits for its executors (staying PROVISIONING)
    /// before it FAILS.
    #[arg(long, env = "EPOXY_EXECUTOR_WAIT", default_value_t = 90)]
    pub executor_wait: u64,
    /// Drivers kept started with the default configuration, for near-instant sessions.
    #[arg(long, env = "EPOXY_WARM_POOL", default_value_t = 1)]
    pub warm_pool: usize,
    /// Accounts file (TOML, one [[account]] per access key); enables SigV4 verification.
    #[arg(long, env = "EPOXY_ACCOUNTS")]
    pub accounts: Option<PathBuf>,
    /// Authentication: sigv4 needs --accounts; open serves anyone (loopback only unless given explicitly).
    #[arg(long, env = "EPOXY_AUTH", value_enum)]
    pub auth: Option<AuthMode>,
    /// Statement execution: spark (default) or none (control plane only).
    #[arg(long, env = "EPOXY_RUNTIME", value_enum, default_value_t = RuntimeKind::Spark)]
    #[arg(long = "runtime", id = "runtime_kind")]
    pub runtime_kind: RuntimeKind,
    /// Quota of PROVISIONING and READY sessions; CreateSession beyond it is refused
    /// (ResourceNumberLimitExceededException) [default: 4 × the capacity].
    #[arg(long, env = "EPOXY_MAX_LIVE_SESSIONS")]
    pub max_live_sessions: Option<usize>,
    /// Session drivers that may run at once on this host; further sessions wait in
    /// PROVISIONING, in order, until one stops. Warm-pool drivers come on top
    /// [default: from memory and cores, less the warm pool].
    #[arg(long, env = "EPOXY_CAPACITY")]
    pub capacity: Option<usize>,
    /// Seconds a driver may go without epoxy attached (epoxy down, not restarted) before it
    /// stops itself; epoxy re-attaches to its sessions' drivers when it starts again within it.
    #[arg(long, env = "EPOXY_DRIVER_ORPHAN_SECONDS", default_value_t = 600.0)]
    pub driver_orphan_seconds: f64,
    /// Drivers also listen on TCP on this IP (a port each picks; the local epoxy keeps using
    /// their Unix socket), so that an epoxy node on another host can adopt their sessions.
    /// Frames are authenticated (HMAC) but not encrypted: use a private network.
    #[arg(long, env = "EPOXY_DRIVER_LISTEN")]
    pub driver_listen: Option<std::net::IpAddr>,
    /// The host name or IP other nodes dial drivers at [default: the --driver-listen IP;
    /// required when that is unspecified, like 0.0.0.0].
    #[arg(long, env = "EPOXY_DRIVER_ADVERTISE_HOST")]
    pub driver_advertise_host: Option<String>,
    /// Root of managed table data, a directory or `s3://bucket[/prefix]`:
    /// `<warehouse>/<account>/<db>.db/<table>` [default: <data-dir>/warehouse].
    #[arg(long, env = "EPOXY_WAREHOUSE")]
    pub warehouse: Option<WarehouseRoot>,
    /// Seconds in a Timeout/IdleTimeout "minute" (shorten to test timeouts quickly).
    #[arg(long, env = "EPOXY_MINUTE_SECONDS", default_value_t = 60.0)]
    pub minute_seconds: f64,
    /// Keep sessions, statements, the catalog and S3 metadata in this PostgreSQL database
    /// (`postgres://user:password@host/db`, or `postgresql://user@/db?host=/socket/dir`) instead
    /// of the SQLite file in the data dir.
    #[arg(long, env = "EPOXY_STORE")]
    pub store: Option<String>,
    /// How the other nodes on the same --store reach this one (for what lives on its disk, such
    /// as driver logs) [default: http://<--listen>].
    #[arg(long, env = "EPOXY_ADVERTISE_URL", value_parser = advertise_url)]
    pub advertise_url: Option<String>,
    /// The URL drivers use for epoxy's AWS APIs and its S3 [default: http://<--listen>]. With
    /// several nodes, a load balancer in front of them: a driver another node took over then
    /// keeps reaching S3 and the Glue API when its first node is gone.
    #[arg(long, env = "EPOXY_DRIVERS_URL", value_parser = advertise_url)]
    pub drivers_url: Option<String>,
    /// How driver records name this machine [default: <machine id>/<hostname>]. Nodes with one
    /// host id reach each other's drivers through their Unix sockets and /proc; others adopt
    /// them over TCP (--driver-listen). Set it where machines share both (cloned images).
    #[arg(long, env = "EPOXY_HOST_ID", value_parser = host_id)]
    pub host_id: Option<String>,
    /// Seconds without a heartbeat (on the store's clock) after which this node counts as dead
    /// and other nodes on the same --store take its sessions over.
    #[arg(long, env = "EPOXY_NODE_LEASE_SECONDS", default_value_t = 15.0, value_parser = lease_seconds)]
    pub node_lease_seconds: f64,
    /// Hive Metastore (Thrift) address for the drivers' Spark catalog; port 0 picks a free one.
    /// Loopback unless several hosts' nodes share a --store (then one the others reach; an
    /// unspecified address is advertised with the --advertise-url's host).
    #[arg(long, env = "EPOXY_METASTORE_LISTEN", default_value = "127.0.0.1:0")]
    pub metastore_listen: SocketAddr,
    /// Use this external S3 (AWS, MinIO: http(s)://host[:port]) for sessions instead of the
    /// built-in one, which is then off.
    #[arg(long, env = "EPOXY_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
}

fn advertise_url(value: &str) -> Result<String, String> {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))
        .ok_or("an http:// or https:// URL")?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', '?', '#', ' ', '@']) {
        return Err("a URL of the form http://host:port, without a path".into());
    }
    Ok(value.trim_end_matches('/').to_string())
}

fn lease_seconds(value: &str) -> Result<f64, String> {
    let seconds: f64 = value.parse().map_err(|_| "a number of seconds")?;
    if !(1.0..=3600.0).contains(&seconds) {
        return Err("between 1 and 3600 seconds".into());
    }
    Ok(seconds)
}

fn host_id(value: &str) -> Result<String, String> {
    let ok = !value.is_empty() && value.len() <= 255 && value.bytes().all(|b| b.is_ascii_graphic());
    match ok {
        true => Ok(value.to_string()),
        false => Err("1 to 255 printable characters without spaces".into()),
    }
}
