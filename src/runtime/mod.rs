//! Drivers for sessions: provisioning, process handles and the warm pool of pre-started
//! drivers with the default configuration.

pub mod driver;
pub mod jars;
pub mod provision;

use driver::{DriverConfig, DriverHandle};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};

/// How long a driver may take to create its SparkSession before the session FAILS.
const START_LIMIT: Duration = Duration::from_secs(300);

/// The Spark settings a session's driver is started with; drivers are interchangeable when
/// their profiles are equal, which is what lets the warm pool serve a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverProfile {
    pub conf: BTreeMap<String, String>,
}

impl DriverProfile {
    /// epoxy gives a local driver 1 GiB of heap per DPU of the worker type (Glue gives 16 GB):
    /// enough to be realistic on a laptop, scaled so that bigger workers get more.
    pub fn for_session(
        worker_type: Option<&str>,
        default_arguments: &BTreeMap<String, String>,
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
        if let Some(pairs) = default_arguments.get("--conf") {
            conf.extend(parse_conf_argument(pairs));
        }
        Self { conf }
    }

    /// The profile of a session created with no worker settings and no `--conf`.
    pub fn default_profile() -> Self {
        Self::for_session(None, &BTreeMap::new())
    }
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
    master: String,
    logs_dir: PathBuf,
    warm: usize,
    pool: Mutex<Vec<DriverHandle>>,
    refill: Notify,
}

impl DriverRuntime {
    pub fn new(
        runtime: provision::Runtime,
        master: String,
        logs_dir: PathBuf,
        warm: usize,
    ) -> Arc<Self> {
        let killed = driver::kill_leftovers(&runtime.driver_dir);
        if killed > 0 {
            tracing::warn!(
                killed,
                "stopped driver processes an earlier run left behind"
            );
        }
        let this = Arc::new(Self {
            runtime,
            master,
            logs_dir,
            warm,
            pool: Mutex::new(Vec::new()),
            refill: Notify::new(),
        });
        if warm > 0 {
            tokio::spawn(Arc::clone(&this).keep_pool_filled());
        }
        this
    }

    /// Where a session's driver log lives.
    pub fn log_path(&self, session_key: i64) -> PathBuf {
        self.logs_dir.join(format!("session-{session_key}.log"))
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
        let config = DriverConfig {
            app_name: app_name.to_string(),
            master: self.master.clone(),
            conf: profile.conf.clone(),
        };
        let mut driver = DriverHandle::spawn(
            &self.runtime.python,
            &self.runtime.driver_dir,
            &config,
            log_path,
        )
        .map_err(|e| {
            format!(
                "could not start the driver process {}: {e}",
                self.runtime.python.display()
            )
        })?;
        let started = std::time::Instant::now();
        driver.wait_ready(START_LIMIT).await?;
        tracing::info!(
            pid = driver.pid(),
            seconds = started.elapsed().as_secs_f64(),
            "driver ready"
        );
        Ok(driver)
    }

    async fn take_warm(&self) -> Option<DriverHandle> {
        let mut pool = self.pool.lock().await;
        let taken = loop {
            let mut driver = pool.pop()?;
            // A pool driver that died while idle has an Exited event waiting.
            if driver.try_event().is_none() {
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
        let profile = DriverProfile::for_session(Some("G.2X"), &args);
        assert_eq!(profile.conf["spark.driver.memory"], "2g");
        assert_eq!(profile.conf["spark.sql.shuffle.partitions"], "4");
        assert_eq!(profile.conf["spark.x.y"], "a=b");
        assert_eq!(
            DriverProfile::for_session(Some("G.1X"), &BTreeMap::new()),
            DriverProfile::default_profile()
        );
    }
}
