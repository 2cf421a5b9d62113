//! Drivers for sessions: provisioning, process handles and the warm pool of pre-started
//! drivers with the default configuration.

pub mod arguments;
pub mod channel;
pub mod cluster;
pub mod driver;
pub mod jars;
pub mod layers;
pub mod provision;
pub mod workspace;

use crate::metastore::{self, DriverAttachment, DriverCredential};
use crate::objects::S3Config;
use arguments::PythonModules;
use arguments::SessionArguments;
use cluster::{ClusterSettings, GlueSizing, SessionSpark};
use driver::{ChannelSettings, DriverConfig, DriverHandle, Launch};
use layers::{LayerError, Layers};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};
use workspace::Workspace;

/// How long a driver may take to create its SparkSession before the session FAILS.
const START_LIMIT: Duration = Duration::from_secs(300);

/// What a session's driver is started with, fixed once its JVM runs: Spark settings and the
/// Python layers ahead of the base runtime. Drivers are interchangeable when their profiles are
/// equal, which is what lets the warm pool serve a session; what can change after start-up
/// (argv, environment, files) is the session handover's, not the profile's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverProfile {
    pub conf: BTreeMap<String, String>,
    /// `--additional-python-modules` layers, on `PYTHONPATH` before the base runtime.
    pub python_path: Vec<PathBuf>,
    /// `--datalake-formats`: their jar sets join the classpath (so such drivers are not warm).
    pub datalake_formats: BTreeSet<String>,
}

impl DriverProfile {
    /// epoxy gives a local driver 1 GiB of heap per DPU of the worker type (Glue gives 16 GB):
    /// enough to be realistic on a laptop, scaled so that bigger workers get more.
    pub fn for_session(
        worker_type: Option<&str>,
        arguments: &SessionArguments,
        layer: Option<&Path>,
    ) -> Self {
        let memory = match worker_type {
            Some("G.025X") => "512m".to_string(),
            Some(w) => match dpu_per_worker(w) {
                Some(dpu) if dpu >= 1.0 => format!("{}g", dpu as u32),
                _ => "1g".to_string(),
            },
            None => "1g".to_string(),
        };
        let mut conf = BTreeMap::from([("spark.driver.memory".to_string(), memory)]);
        conf.extend(arguments.conf.iter().cloned());
        conf.extend(arguments.jvm_conf());
        Self {
            conf,
            python_path: layer.into_iter().map(Path::to_path_buf).collect(),
            datalake_formats: arguments.datalake_formats.clone(),
        }
    }

    /// The profile of a session created with no worker settings, `--conf`, jars or modules.
    pub fn default_profile() -> Self {
        Self::for_session(None, &SessionArguments::default(), None)
    }
}

/// The S3 settings every driver starts with: Hadoop's S3A for `s3://`, `s3a://` and `s3n://`,
/// at `s3`'s endpoint with path-style addressing. No keys: a driver gets its session's at the
/// handover (`TemporaryAWSCredentialsProvider` finds none before, so nothing reaches S3
/// as anyone). The handover sets them in the Hadoop configuration and as JVM system
/// properties; the second provider reads those, for the copies of the configuration Spark
/// took before the handover (its session catalog's, which checks and qualifies managed table
/// locations: a CTAS into an `s3://` warehouse). The jars go on the JVM's own class path, not `spark.jars`: nothing is copied or
/// served at start, and classes named in `spark.sql.extensions` load from it.
fn platform_conf(s3: &S3Config, jars: &[&Path]) -> Vec<(String, String)> {
    const S3A: &str = "org.apache.hadoop.fs.s3a.S3AFileSystem";
    let endpoint = s3.endpoint();
    let class_path = jars
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let mut conf: Vec<(String, String)> = [
        ("fs.s3.impl", S3A),
        ("fs.s3n.impl", S3A),
        ("fs.s3a.impl", S3A),
        (
            "fs.AbstractFileSystem.s3.impl",
            "org.apache.hadoop.fs.s3a.S3A",
        ),
        (
            "fs.AbstractFileSystem.s3n.impl",
            "org.apache.hadoop.fs.s3a.S3A",
        ),
        (
            "fs.AbstractFileSystem.s3a.impl",
            "org.apache.hadoop.fs.s3a.S3A",
        ),
        ("fs.s3a.endpoint", endpoint),
        ("fs.s3a.path.style.access", "true"),
        (
            "fs.s3a.connection.ssl.enabled",
            if endpoint.starts_with("https://") {
                "true"
            } else {
                "false"
            },
        ),
        (
            "fs.s3a.aws.credentials.provider",
            "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider,\
             com.amazonaws.auth.SystemPropertiesCredentialsProvider",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (format!("spark.hadoop.{k}"), v.to_string()))
    .collect();
    if !class_path.is_empty() {
        for side in ["driver", "executor"] {
            conf.push((format!("spark.{side}.extraClassPath"), class_path.clone()));
        }
    }
    conf
}

/// DPU of one worker of a type (G.nX = n DPU, R.nX = n M-DPU, Standard and Z.2X as Glue bills them).
pub fn dpu_per_worker(worker_type: &str) -> Option<f64> {
    Some(match worker_type {
        "G.025X" => 0.25,
        "Standard" => 1.0,
        "Z.2X" => 2.0,
        w => w
            .strip_prefix("G.")
            .or_else(|| w.strip_prefix("R."))?
            .strip_suffix('X')?
            .parse::<u32>()
            .ok()? as f64,
    })
}

/// Glue's `--conf` argument value: `spark.a=1 --conf spark.b=2`.
pub fn parse_conf_argument(value: &str) -> Vec<(String, String)> {
    value
        .split("--conf")
        .filter_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Starts drivers and keeps `warm` of them ready with the default profile.
pub struct DriverRuntime {
    runtime: provision::Runtime,
    /// The master, and executor sizing and readiness for cluster masters.
    cluster: ClusterSettings,
    logs_dir: PathBuf,
    layers: Layers,
    sessions_dir: PathBuf,
    /// Where drivers' channel sockets live.
    sockets_dir: PathBuf,
    /// The orphan timer and TCP listener every driver starts with.
    channel: ChannelSettings,
    warm: usize,
    pool: Mutex<Vec<DriverHandle>>,
    refill: Notify,
    /// Points every driver's Spark catalog at epoxy's Hive Metastore.
    metastore: Option<DriverAttachment>,
    /// The S3 every driver's S3A talks to.
    s3: S3Config,
}

impl DriverRuntime {
    /// The runtime; no driver starts before [`DriverRuntime::recovered`] (an earlier run's
    /// drivers are re-attached or killed first).
    pub fn new(
        runtime: provision::Runtime,
        cluster: ClusterSettings,
        logs_dir: PathBuf,
        warm: usize,
        metastore: Option<DriverAttachment>,
        s3: S3Config,
        channel: ChannelSettings,
    ) -> Arc<Self> {
        let sessions_dir = runtime.runtime_dir.join("sessions");
        let sockets_dir = runtime.runtime_dir.join("sockets");
        let layers = Layers::new(
            runtime.runtime_dir.join("layers"),
            runtime.python.clone(),
            provision::REQUIREMENTS,
        );
        layers.remove_unfinished();
        Arc::new(Self {
            runtime,
            cluster,
            logs_dir,
            layers,
            sessions_dir,
            sockets_dir,
            channel,
            warm,
            pool: Mutex::new(Vec::new()),
            refill: Notify::new(),
            metastore,
            s3,
        })
    }

    /// After the sessions of an earlier run were re-attached (their drivers' tokens in
    /// `drivers`, their keys in `sessions`): kills every other driver process of that run
    /// (warm-pool drivers, ended sessions'), removes the other session directories, and fills
    /// the warm pool.
    pub fn recovered(self: &Arc<Self>, drivers: &HashSet<String>, sessions: &HashSet<i64>) {
        let killed = driver::kill_leftovers(&self.runtime.driver_dir, drivers);
        if killed > 0 {
            tracing::warn!(
                killed,
                "stopped driver processes an earlier run left behind"
            );
        }
        workspace::clear_except(&self.sessions_dir, sessions);
        if self.warm > 0 {
            tokio::spawn(Arc::clone(self).keep_pool_filled());
        }
    }

    /// Re-attaches, as a controller of `epoch`, to the driver of a session an earlier run (or
    /// another node) started (see [`DriverHandle::adopt`]), its metastore credential bound to
    /// the session's tenant again.
    pub async fn adopt(
        &self,
        session_key: i64,
        tenant: &crate::sessions::model::Tenant,
        record: &crate::store::DriverRecord,
        epoch: u64,
    ) -> Result<(DriverHandle, Option<i64>), driver::AdoptError> {
        let credential = match (&self.metastore, &record.metastore_user) {
            (Some(m), Some(user)) => Some(m.registry.adopt(user, tenant)),
            _ => None,
        };
        DriverHandle::adopt(record, self.log_path(session_key), credential, epoch).await
    }

    /// The metastores (`host:port`) of the live nodes, this one's included or not: the drivers
    /// started from now on list them after this node's.
    pub fn set_metastore_peers(&self, peers: Vec<String>) {
        if let Some(m) = &self.metastore {
            *m.peers.lock().unwrap_or_else(|e| e.into_inner()) = peers;
        }
    }

    /// A re-attached session's directories (they survived the restart).
    pub fn existing_workspace(&self, session_key: i64) -> Workspace {
        Workspace::existing(&self.sessions_dir, session_key)
    }

    /// The embedded driver package's directory (on every driver's `PYTHONPATH`).
    pub fn driver_dir(&self) -> &Path {
        &self.runtime.driver_dir
    }

    /// Where a session's driver log lives.
    pub fn log_path(&self, session_key: i64) -> PathBuf {
        self.logs_dir.join(format!("session-{session_key}.log"))
    }

    /// The `--additional-python-modules` layer for a session, from the cache or installed now.
    pub async fn layer(
        &self,
        session_id: &str,
        modules: &PythonModules,
    ) -> Result<PathBuf, LayerError> {
        self.layers.ensure(session_id, modules).await
    }

    /// The Spark settings a session's driver creates its SparkContext with at the handover
    /// (on a cluster master: the executors its Glue sizing asks for).
    pub fn session_spark(&self, session_id: &str, sizing: &GlueSizing) -> SessionSpark {
        self.cluster.session_spark(session_id, sizing)
    }

    /// How long a handover may wait for a cluster to grant the session's executors.
    pub fn executor_wait(&self) -> Duration {
        self.cluster.executor_wait()
    }

    /// A session's fresh TempDir and working directory.
    pub fn workspace(&self, session_key: i64) -> std::io::Result<Workspace> {
        Workspace::create(&self.sessions_dir, session_key)
    }

    /// A ready driver for `profile`: from the warm pool when it matches, else started now.
    pub async fn acquire(
        &self,
        session_key: i64,
        app_name: &str,
        profile: &DriverProfile,
    ) -> Result<DriverHandle, String> {
        let log_path = self.log_path(session_key);
        let asked = std::time::Instant::now();
        if *profile == DriverProfile::default_profile()
            && let Some(mut driver) = self.take_warm().await
        {
            if let Err(e) = driver.rename_log(&log_path) {
                tracing::warn!(error = %e, "could not move the warm driver's log");
            }
            tracing::info!(
                session_key,
                pid = driver.pid(),
                "session took a warm driver"
            );
            crate::metrics::session_started(true, asked.elapsed());
            return Ok(driver);
        }
        let driver = self.start(app_name, profile, &log_path).await?;
        crate::metrics::session_started(false, asked.elapsed());
        Ok(driver)
    }

    async fn start(
        &self,
        app_name: &str,
        profile: &DriverProfile,
        log_path: &std::path::Path,
    ) -> Result<DriverHandle, String> {
        let (config, credential) = self.driver_config(app_name, profile);
        let launch = Launch {
            python: &self.runtime.python,
            driver_dir: &self.runtime.driver_dir,
            sockets_dir: &self.sockets_dir,
            config: &config,
            log_path,
            orphan_limit: self.channel.orphan_limit,
            tcp: self.channel.listen.as_ref(),
        };
        let started = std::time::Instant::now();
        let mut driver = DriverHandle::start(&launch, START_LIMIT)
            .await?
            .with_metastore(credential);
        driver.wait_ready(START_LIMIT).await?;
        tracing::info!(
            pid = driver.pid(),
            seconds = started.elapsed().as_secs_f64(),
            "driver ready"
        );
        Ok(driver)
    }

    /// A driver's start settings; with the metastore, its catalog settings (a session's own
    /// `--conf` wins) and a fresh credential in the driver's environment.
    fn driver_config(
        &self,
        app_name: &str,
        profile: &DriverProfile,
    ) -> (DriverConfig, Option<DriverCredential>) {
        let mut config = DriverConfig {
            app_name: app_name.to_string(),
            master: self.cluster.master().to_string(),
            conf: profile.conf.clone(),
            python_path: profile.python_path.clone(),
            env: BTreeMap::new(),
        };
        let mut jars: Vec<&Path> = self
            .runtime
            .jars
            .set("s3a")
            .iter()
            .map(PathBuf::as_path)
            .collect();
        for format in &profile.datalake_formats {
            jars.extend(self.runtime.jars.set(format).iter().map(PathBuf::as_path));
        }
        for (key, value) in platform_conf(&self.s3, &jars) {
            match config.conf.get_mut(&key) {
                // A user's own class path (`--conf spark.driver.extraClassPath=…`) comes first.
                Some(user) if key.ends_with(".extraClassPath") => *user = format!("{user}:{value}"),
                Some(_) => {}
                None => {
                    config.conf.insert(key, value);
                }
            }
        }
        let credential = self.metastore.as_ref().map(|m| {
            for (key, value) in m.spark_conf() {
                config.conf.entry(key).or_insert(value);
            }
            let credential = m.registry.issue();
            config
                .env
                .insert(metastore::USER_VAR.into(), credential.user_name().into());
            credential
        });
        (config, credential)
    }

    async fn take_warm(&self) -> Option<DriverHandle> {
        let mut pool = self.pool.lock().await;
        let taken = loop {
            let driver = pool.pop()?;
            // A pool driver may have died while idle.
            if driver.is_alive() {
                break driver;
            }
        };
        crate::metrics::warm_pool_size(pool.len());
        self.refill.notify_one();
        Some(taken)
    }

    async fn keep_pool_filled(self: Arc<Self>) {
        let profile = DriverProfile::default_profile();
        loop {
            if self.pool.lock().await.len() < self.warm {
                let log = self
                    .logs_dir
                    .join(format!("warm-{}.log", uuid::Uuid::new_v4()));
                match self.start("epoxy-warm", &profile, &log).await {
                    Ok(driver) => {
                        let mut pool = self.pool.lock().await;
                        pool.push(driver);
                        crate::metrics::warm_pool_size(pool.len());
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not start a warm driver; retrying in 30 s");
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                }
                continue;
            }
            self.refill.notified().await;
        }
    }

    /// Stops the idle warm drivers (graceful server shutdown).
    pub async fn drain(&self) {
        let drivers: Vec<_> = self.pool.lock().await.drain(..).collect();
        crate::metrics::warm_pool_size(0);
        for driver in drivers {
            driver.shutdown(Duration::from_secs(5)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_types_map_to_dpu() {
        assert_eq!(dpu_per_worker("G.025X"), Some(0.25));
        assert_eq!(dpu_per_worker("G.1X"), Some(1.0));
        assert_eq!(dpu_per_worker("G.16X"), Some(16.0));
        assert_eq!(dpu_per_worker("R.8X"), Some(8.0));
        assert_eq!(dpu_per_worker("Z.2X"), Some(2.0));
        assert_eq!(dpu_per_worker("Q.1X"), None);
    }

    #[test]
    fn conf_arguments_become_spark_conf() {
        let args = BTreeMap::from([(
            "--conf".to_string(),
            "spark.sql.shuffle.partitions=4 --conf spark.x.y = a=b".to_string(),
        )]);
        let args = SessionArguments::parse(&args).unwrap();
        let profile = DriverProfile::for_session(Some("G.2X"), &args, None);
        assert_eq!(profile.conf["spark.driver.memory"], "2g");
        assert_eq!(profile.conf["spark.sql.shuffle.partitions"], "4");
        assert_eq!(profile.conf["spark.x.y"], "a=b");
        assert_eq!(
            DriverProfile::for_session(Some("G.1X"), &SessionArguments::default(), None),
            DriverProfile::default_profile()
        );
    }

    #[test]
    fn drivers_get_s3a_at_the_endpoint_with_no_keys() {
        let jars = [Path::new("/j/hadoop-aws.jar"), Path::new("/j/sdk.jar")];
        let built_in = S3Config::BuiltIn {
            endpoint: "http://127.0.0.1:4747".into(),
        };
        let conf: BTreeMap<_, _> = platform_conf(&built_in, &jars).into_iter().collect();
        for scheme in ["s3", "s3n", "s3a"] {
            assert_eq!(
                conf[&format!("spark.hadoop.fs.{scheme}.impl")],
                "org.apache.hadoop.fs.s3a.S3AFileSystem"
            );
        }
        assert_eq!(
            conf["spark.hadoop.fs.s3a.endpoint"],
            "http://127.0.0.1:4747"
        );
        assert_eq!(conf["spark.hadoop.fs.s3a.path.style.access"], "true");
        assert_eq!(conf["spark.hadoop.fs.s3a.connection.ssl.enabled"], "false");
        assert_eq!(
            conf["spark.driver.extraClassPath"],
            "/j/hadoop-aws.jar:/j/sdk.jar"
        );
        assert!(
            !conf
                .keys()
                .any(|k| k.contains("access.key") || k.contains("secret"))
        );
        let external = S3Config::External {
            endpoint: "https://s3.example.com".into(),
        };
        let conf: BTreeMap<_, _> = platform_conf(&external, &jars).into_iter().collect();
        assert_eq!(conf["spark.hadoop.fs.s3a.connection.ssl.enabled"], "true");
    }

    #[test]
    fn datalake_sessions_are_not_warm_eligible() {
        let args = BTreeMap::from([("--datalake-formats".to_string(), "delta".to_string())]);
        let args = SessionArguments::parse(&args).unwrap();
        let profile = DriverProfile::for_session(Some("G.1X"), &args, None);
        assert_eq!(
            profile.datalake_formats,
            BTreeSet::from(["delta".to_string()])
        );
        assert_ne!(profile, DriverProfile::default_profile());
    }

    #[test]
    fn kernel_sessions_are_warm_eligible_and_layers_are_not() {
        let kernel = BTreeMap::from([
            ("--glue_kernel_version".to_string(), "1.0.9".to_string()),
            ("--enable-glue-datacatalog".to_string(), "true".to_string()),
            ("--JOB_NAME".to_string(), "nb".to_string()),
        ]);
        let args = SessionArguments::parse(&kernel).unwrap();
        let default = DriverProfile::default_profile();
        assert_eq!(
            DriverProfile::for_session(Some("G.1X"), &args, None),
            default
        );
        assert_ne!(
            DriverProfile::for_session(Some("G.1X"), &args, Some(Path::new("/layer"))),
            default
        );
    }
}
