//! Glue sizing (WorkerType × NumberOfWorkers) as Spark executor settings on a cluster master.
//!
//! Glue keeps one worker for the driver, so a session gets NumberOfWorkers − 1 executors, each
//! as big as one worker; epoxy scales a worker's DPU by two server settings (cores and memory
//! per DPU) so that the same sessions fit a laptop-sized cluster or a Glue-sized one. Local
//! masters keep running everything inside the driver.

use super::dpu_per_worker;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Spark's smallest executor heap (it refuses less than 450 MiB of system memory).
const MIN_EXECUTOR_MIB: u64 = 512;
/// Kubernetes pod names are DNS labels (63 characters); Spark appends `-exec-<n>`.
const POD_PREFIX_LIMIT: usize = 47;

/// What kind of master `--spark-master` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKind {
    /// `local`, `local[n]`, `local[*]`: executors live in the driver's JVM.
    Local,
    /// `spark://host:port`: Spark's standalone master.
    Standalone,
    /// `k8s://https://apiserver:port`: executor pods, driver in client mode on this host.
    Kubernetes,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClusterError {
    #[error("--spark-master {0:?} is not local[…], spark://host:port or k8s://https://host:port")]
    UnknownMaster(String),
    #[error(
        "--spark-master k8s://… needs --driver-host: executor pods must reach the driver on an address they can route to"
    )]
    KubernetesNeedsDriverHost,
    #[error("--memory-per-dpu {0:?} is not a size such as 512m or 4g")]
    BadMemory(String),
    #[error("--cores-per-dpu must be at least 1")]
    NoCores,
    #[error("--spark-master-ui must be an http:// or https:// URL, not {0:?}")]
    BadMasterUi(String),
}

impl MasterKind {
    pub fn of(master: &str) -> Result<Self, ClusterError> {
        let unknown = || ClusterError::UnknownMaster(master.to_string());
        if master == "local" || master.starts_with("local[") {
            Ok(Self::Local)
        } else if let Some(rest) = master.strip_prefix("spark://") {
            (!rest.is_empty())
                .then_some(Self::Standalone)
                .ok_or_else(unknown)
        } else if let Some(rest) = master.strip_prefix("k8s://") {
            (!rest.is_empty())
                .then_some(Self::Kubernetes)
                .ok_or_else(unknown)
        } else {
            Err(unknown())
        }
    }
}

/// Named cores/memory-per-DPU pairs (`--dpu-preset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DpuPreset {
    /// 1 core and 1 GiB per DPU: a G.1X session of 3 workers fits a laptop's 2-worker cluster.
    Laptop,
    /// Glue's own: 4 vCPU and 16 GiB per DPU.
    Glue,
}

impl DpuPreset {
    fn scale(self) -> (u32, u64) {
        match self {
            Self::Laptop => (1, 1024),
            Self::Glue => (4, 16 * 1024),
        }
    }
}

/// A size in MiB from `512m`, `4g`, `1024` (MiB when there is no unit), as Spark writes them.
pub fn parse_mib(text: &str) -> Result<u64, ClusterError> {
    let bad = || ClusterError::BadMemory(text.to_string());
    let lower = text.trim().to_ascii_lowercase();
    let (digits, factor) = match lower.strip_suffix(['g', 'm']) {
        Some(d) if lower.ends_with('g') => (d, 1024),
        Some(d) => (d, 1),
        None => (lower.as_str(), 1),
    };
    match digits.parse::<u64>() {
        Ok(n) if n > 0 => n.checked_mul(factor).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// The server's cluster settings, fixed at start.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// The drivers' Spark master (`local[*]`, `spark://…`, `k8s://…`).
    master: String,
    kind: MasterKind,
    cores_per_dpu: u32,
    mib_per_dpu: u64,
    driver_host: Option<String>,
    master_ui: Option<String>,
    executor_wait: Duration,
}

impl ClusterSettings {
    /// From the flags; explicit cores/memory per DPU win over the preset's.
    pub fn new(
        master: &str,
        preset: DpuPreset,
        cores_per_dpu: Option<u32>,
        memory_per_dpu: Option<&str>,
        driver_host: Option<String>,
        master_ui: Option<String>,
        executor_wait: Duration,
    ) -> Result<Self, ClusterError> {
        let kind = MasterKind::of(master)?;
        let (preset_cores, preset_mib) = preset.scale();
        let cores_per_dpu = cores_per_dpu.unwrap_or(preset_cores);
        if cores_per_dpu == 0 {
            return Err(ClusterError::NoCores);
        }
        let mib_per_dpu = memory_per_dpu
            .map(parse_mib)
            .transpose()?
            .unwrap_or(preset_mib);
        if kind == MasterKind::Kubernetes && driver_host.is_none() {
            return Err(ClusterError::KubernetesNeedsDriverHost);
        }
        if let Some(url) = &master_ui
            && !url.starts_with("http://")
            && !url.starts_with("https://")
        {
            return Err(ClusterError::BadMasterUi(url.clone()));
        }
        Ok(Self {
            master: master.to_string(),
            kind,
            cores_per_dpu,
            mib_per_dpu,
            driver_host,
            master_ui: master_ui.map(|u| u.trim_end_matches('/').to_string()),
            executor_wait,
        })
    }

    pub fn master(&self) -> &str {
        &self.master
    }

    /// How long a driver may wait for its executors before the session FAILS.
    pub fn executor_wait(&self) -> Duration {
        self.executor_wait
    }

    /// The settings a session's SparkContext is created with at the handover.
    pub fn session_spark(&self, session_id: &str, sizing: &GlueSizing) -> SessionSpark {
        let dpu = sizing.worker_dpu();
        let executors = sizing.workers().saturating_sub(1).max(1);
        let cores = ((dpu * f64::from(self.cores_per_dpu)).round() as u32).max(1);
        let mib = ((dpu * self.mib_per_dpu as f64).round() as u64).max(MIN_EXECUTOR_MIB);
        let placement: Vec<(String, String)> = match self.kind {
            MasterKind::Local => return SessionSpark::default(),
            // Standalone ignores spark.executor.instances: the cores cap makes the count.
            MasterKind::Standalone => {
                vec![("spark.cores.max".into(), (executors * cores).to_string())]
            }
            MasterKind::Kubernetes => vec![
                ("spark.submit.deployMode".into(), "client".into()),
                ("spark.executor.instances".into(), executors.to_string()),
                (
                    "spark.kubernetes.executor.request.cores".into(),
                    cores.to_string(),
                ),
                (
                    "spark.kubernetes.executor.podNamePrefix".into(),
                    pod_name_prefix(session_id),
                ),
            ],
        };
        let mut conf = BTreeMap::from([
            ("spark.executor.cores".to_string(), cores.to_string()),
            ("spark.executor.memory".to_string(), format!("{mib}m")),
            (
                "spark.dynamicAllocation.enabled".to_string(),
                "false".to_string(),
            ),
        ]);
        conf.extend(placement);
        if let Some(host) = &self.driver_host {
            conf.insert("spark.driver.host".into(), host.clone());
        }
        SessionSpark {
            conf,
            executors,
            executor_wait_seconds: self.executor_wait.as_secs(),
            master_ui: self.master_ui.clone(),
        }
    }
}

/// A session's Glue sizing, as CreateSession gave it.
#[derive(Debug, Clone, Copy)]
pub struct GlueSizing<'a> {
    pub worker_type: Option<&'a str>,
    pub number_of_workers: Option<u32>,
    /// MaxCapacity (DPU): the worker count when no WorkerType was given (1 DPU per worker).
    pub max_capacity: f64,
}

impl GlueSizing<'_> {
    fn worker_dpu(&self) -> f64 {
        self.worker_type.and_then(dpu_per_worker).unwrap_or(1.0)
    }

    fn workers(&self) -> u32 {
        match (self.worker_type, self.number_of_workers) {
            (Some(_), Some(n)) => n,
            _ => self.max_capacity.ceil().max(1.0) as u32,
        }
    }
}

/// What the driver creates its SparkContext with when a session takes it, and how many
/// executors must have registered before the session is READY.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SessionSpark {
    pub conf: BTreeMap<String, String>,
    /// 0: a local master, nothing to wait for.
    pub executors: u32,
    pub executor_wait_seconds: u64,
    /// The standalone master's web UI, whose JSON the driver quotes while it waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_ui: Option<String>,
}

/// `epoxy-<session id>` as a DNS label: lower case, `[a-z0-9-]`, short enough for Spark's suffix.
fn pod_name_prefix(session_id: &str) -> String {
    let mut prefix: String = format!("epoxy-{session_id}")
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(POD_PREFIX_LIMIT)
        .collect();
    while prefix.ends_with('-') {
        prefix.pop();
    }
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(90);

    fn settings(master: &str, preset: DpuPreset) -> ClusterSettings {
        ClusterSettings::new(
            master,
            preset,
            None,
            None,
            Some("10.0.0.5".into()),
            Some("http://m:8080/".into()),
            WAIT,
        )
        .unwrap()
    }

    fn g(worker_type: &'static str, workers: u32) -> GlueSizing<'static> {
        GlueSizing {
            worker_type: Some(worker_type),
            number_of_workers: Some(workers),
            max_capacity: 0.0,
        }
    }

    #[test]
    fn masters_are_recognised() {
        assert_eq!(MasterKind::of("local[*]"), Ok(MasterKind::Local));
        assert_eq!(MasterKind::of("local"), Ok(MasterKind::Local));
        assert_eq!(MasterKind::of("spark://h:7077"), Ok(MasterKind::Standalone));
        assert_eq!(
            MasterKind::of("k8s://https://api:6443"),
            Ok(MasterKind::Kubernetes)
        );
        for bad in ["yarn", "spark://", "", "mesos://x"] {
            assert!(MasterKind::of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_parse_like_spark_writes_them() {
        assert_eq!(parse_mib("512m"), Ok(512));
        assert_eq!(parse_mib("4g"), Ok(4096));
        assert_eq!(parse_mib("2G"), Ok(2048));
        assert_eq!(parse_mib("700"), Ok(700));
        for bad in ["", "0m", "g", "1.5g", "-1g", "1t", "99999999999999999999g"] {
            assert!(parse_mib(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn standalone_gets_workers_minus_one_executors_capped_by_cores() {
        let laptop = settings("spark://m:7077", DpuPreset::Laptop);
        let spark = laptop.session_spark("s1", &g("G.1X", 3));
        assert_eq!(spark.executors, 2);
        assert_eq!(spark.executor_wait_seconds, 90);
        assert_eq!(spark.conf["spark.executor.cores"], "1");
        assert_eq!(spark.conf["spark.executor.memory"], "1024m");
        assert_eq!(spark.conf["spark.cores.max"], "2");
        assert_eq!(spark.conf["spark.dynamicAllocation.enabled"], "false");
        assert_eq!(spark.conf["spark.driver.host"], "10.0.0.5");
        assert!(!spark.conf.contains_key("spark.executor.instances"));
        assert_eq!(spark.master_ui.as_deref(), Some("http://m:8080"));

        let glue = settings("spark://m:7077", DpuPreset::Glue);
        let spark = glue.session_spark("s1", &g("G.2X", 10));
        assert_eq!(spark.executors, 9);
        assert_eq!(spark.conf["spark.executor.cores"], "8");
        assert_eq!(spark.conf["spark.executor.memory"], "32768m");
        assert_eq!(spark.conf["spark.cores.max"], "72");
    }

    #[test]
    fn small_workers_keep_one_core_and_sparks_minimum_heap() {
        let laptop = settings("spark://m:7077", DpuPreset::Laptop);
        let spark = laptop.session_spark("s1", &g("G.025X", 2));
        assert_eq!(spark.executors, 1);
        assert_eq!(spark.conf["spark.executor.cores"], "1");
        assert_eq!(spark.conf["spark.executor.memory"], "512m");
    }

    #[test]
    fn max_capacity_alone_counts_one_dpu_workers() {
        let laptop = settings("spark://m:7077", DpuPreset::Laptop);
        let default = GlueSizing {
            worker_type: None,
            number_of_workers: None,
            max_capacity: 5.0,
        };
        let spark = laptop.session_spark("s1", &default);
        assert_eq!(spark.executors, 4);
        assert_eq!(spark.conf["spark.cores.max"], "4");
    }

    #[test]
    fn explicit_scale_overrides_the_preset() {
        let s = ClusterSettings::new(
            "spark://m:7077",
            DpuPreset::Glue,
            Some(2),
            Some("768m"),
            None,
            None,
            WAIT,
        )
        .unwrap();
        let spark = s.session_spark("s1", &g("G.2X", 2));
        assert_eq!(spark.conf["spark.executor.cores"], "4");
        assert_eq!(spark.conf["spark.executor.memory"], "1536m");
        assert!(!spark.conf.contains_key("spark.driver.host"));
        let zero = ClusterSettings::new(
            "spark://m",
            DpuPreset::Laptop,
            Some(0),
            None,
            None,
            None,
            WAIT,
        );
        assert_eq!(zero.unwrap_err(), ClusterError::NoCores);
        let ui = Some("m:8080".to_string());
        let bad_ui =
            ClusterSettings::new("spark://m", DpuPreset::Laptop, None, None, None, ui, WAIT);
        assert!(matches!(bad_ui, Err(ClusterError::BadMasterUi(_))));
    }

    #[test]
    fn kubernetes_client_mode_settings() {
        let k8s = settings("k8s://https://api:6443", DpuPreset::Glue);
        let spark = k8s.session_spark("My_Session.42", &g("G.1X", 4));
        assert_eq!(spark.executors, 3);
        let conf = &spark.conf;
        assert_eq!(conf["spark.submit.deployMode"], "client");
        assert_eq!(conf["spark.executor.instances"], "3");
        assert_eq!(conf["spark.executor.cores"], "4");
        assert_eq!(conf["spark.kubernetes.executor.request.cores"], "4");
        assert_eq!(conf["spark.executor.memory"], "16384m");
        assert_eq!(
            conf["spark.kubernetes.executor.podNamePrefix"],
            "epoxy-my-session-42"
        );
        assert_eq!(conf["spark.driver.host"], "10.0.0.5");
        assert_eq!(conf["spark.dynamicAllocation.enabled"], "false");
        assert!(!conf.contains_key("spark.cores.max"));
        let long = k8s.session_spark(&"x".repeat(200), &g("G.1X", 2));
        let prefix = &long.conf["spark.kubernetes.executor.podNamePrefix"];
        assert_eq!(prefix.len(), POD_PREFIX_LIMIT);
        assert!(pod_name_prefix("a--").ends_with('a'));
        let no_host = ClusterSettings::new(
            "k8s://https://a",
            DpuPreset::Laptop,
            None,
            None,
            None,
            None,
            WAIT,
        );
        assert_eq!(
            no_host.unwrap_err(),
            ClusterError::KubernetesNeedsDriverHost
        );
    }

    #[test]
    fn local_masters_get_no_executor_settings() {
        let local = ClusterSettings::new("local[*]", DpuPreset::Glue, None, None, None, None, WAIT);
        let spark = local.unwrap().session_spark("s1", &g("G.8X", 10));
        assert_eq!(spark, SessionSpark::default());
    }
}
