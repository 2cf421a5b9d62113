//! Prometheus metrics: one process-wide registry and small typed recording functions that the
//! layers call where things happen (protocol: requests; sessions: lifecycle, statements, store
//! calls; runtime: warm pool, driver starts; the catalog's two doors: calls; objects: S3 body
//! bytes). Values that live in the store or the service (sessions by status, DPU-seconds, live
//! drivers) are read once per scrape into a [`Snapshot`] by whoever serves `/metrics`, so
//! recording never reaches across layers; drivers' memory is read from `/proc` at scrape time.
//!
//! Labels carry only bounded, non-secret values: operation names from the served list, error
//! codes, states, account ids, live drivers' pids. Never code, keys, session ids or tags.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

mod procfs;

/// The media type of [`render`]'s output (Prometheus scrapes OpenMetrics natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StartLabels {
    /// "true" when the session took a pre-started warm-pool driver.
    warm: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    /// The wire error code, or "ok".
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CatalogCallLabels {
    /// "glue" (the Glue API's catalog operations) or "metastore" (Hive Thrift RPCs).
    door: String,
    /// The Glue operation or the Thrift method: always one of the served names.
    operation: String,
    /// The wire error code or Hive exception kind, or "ok".
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CatalogOperationLabels {
    door: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    /// "in" (request bodies stored) or "out" (object bytes served).
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DriverLabels {
    /// The driver's top process (a live driver's pid says nothing about its session).
    pid: String,
}

/// Which way S3 object bytes went.
#[derive(Clone, Copy, Debug)]
pub enum S3Direction {
    In,
    Out,
}

/// A histogram family whose buckets come from a plain function.
type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    session_start: Histograms<StartLabels>,
    statements: Family<StateLabels, Counter>,
    statement_seconds: Histograms<StateLabels>,
    warm_pool: Gauge,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<OperationLabels>,
    store_seconds: Histogram,
    sessions: Family<StatusLabels, Gauge>,
    dpu_seconds: Family<AccountLabels, Gauge<f64, AtomicU64>>,
    live_drivers: Gauge,
    catalog_calls: Family<CatalogCallLabels, Counter>,
    catalog_call_seconds: Histograms<CatalogOperationLabels>,
    s3_bytes: Family<DirectionLabels, Counter>,
    driver_rss: Family<DriverLabels, Gauge>,
    drivers_running: Gauge,
}

fn start_buckets() -> Histogram {
    // 10 ms (warm) … ~82 s (a cold JVM on a loaded machine).
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

fn statement_buckets() -> Histogram {
    // 10 ms … ~5.5 min.
    Histogram::new(exponential_buckets(0.01, 2.0, 16))
}

fn request_buckets() -> Histogram {
    // 0.1 ms … ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("epoxy");
        let session_start = Family::new_with_constructor(start_buckets as fn() -> Histogram);
        registry.register(
            "session_start_seconds",
            "Time from a session's driver request to a ready driver, by whether it came from the warm pool",
            session_start.clone(),
        );
        let statements = Family::default();
        registry.register(
            "statements",
            "Statements that reached a final state, by state",
            statements.clone(),
        );
        let statement_seconds =
            Family::new_with_constructor(statement_buckets as fn() -> Histogram);
        registry.register(
            "statement_seconds",
            "Run time of statements (from start on the driver to the result), by final state",
            statement_seconds.clone(),
        );
        let warm_pool = Gauge::default();
        registry.register(
            "warm_pool_drivers",
            "Pre-started drivers idle in the warm pool",
            warm_pool.clone(),
        );
        let requests = Family::default();
        registry.register(
            "requests",
            "Glue API requests, by operation and error code (ok for success)",
            requests.clone(),
        );
        let request_seconds = Family::new_with_constructor(request_buckets as fn() -> Histogram);
        registry.register(
            "request_seconds",
            "Glue API request latency, by operation",
            request_seconds.clone(),
        );
        // 50 µs … ~1.6 s.
        let store_seconds = Histogram::new(exponential_buckets(0.00005, 2.0, 16));
        registry.register(
            "store_seconds",
            "Latency of session store calls",
            store_seconds.clone(),
        );
        let sessions = Family::default();
        registry.register("sessions", "Stored sessions, by status", sessions.clone());
        let dpu_seconds = Family::default();
        registry.register(
            "dpu_seconds",
            "DPU-seconds of the stored sessions (live ones so far), by account",
            dpu_seconds.clone(),
        );
        let live_drivers = Gauge::default();
        registry.register(
            "live_drivers",
            "Sessions holding a driver (starting, ready or stopping)",
            live_drivers.clone(),
        );
        let catalog_calls = Family::default();
        registry.register(
            "catalog_calls",
            "Data Catalog calls, by door (glue or metastore), operation and error code (ok for success)",
            catalog_calls.clone(),
        );
        let catalog_call_seconds =
            Family::new_with_constructor(request_buckets as fn() -> Histogram);
        registry.register(
            "catalog_call_seconds",
            "Data Catalog call latency, by door and operation",
            catalog_call_seconds.clone(),
        );
        let s3_bytes = Family::default();
        registry.register(
            "s3_bytes",
            "Object bytes through the built-in S3, by direction (in: stored bodies, out: served bodies)",
            s3_bytes.clone(),
        );
        let driver_rss = Family::default();
        registry.register_with_unit(
            "driver_rss",
            "Resident memory of each live driver, summed over its processes (Python and JVM), by the driver's pid",
            prometheus_client::registry::Unit::Bytes,
            driver_rss.clone(),
        );
        let drivers_running = Gauge::default();
        registry.register(
            "drivers_running",
            "Driver processes of this server found running (sessions' and the warm pool's)",
            drivers_running.clone(),
        );
        Self {
            registry,
            session_start,
            statements,
            statement_seconds,
            warm_pool,
            requests,
            request_seconds,
            store_seconds,
            sessions,
            dpu_seconds,
            live_drivers,
            catalog_calls,
            catalog_call_seconds,
            s3_bytes,
            driver_rss,
            drivers_running,
        }
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
/// Scrapes reset and refill the snapshot gauges; one at a time keeps each output consistent.
static SCRAPE: Mutex<()> = Mutex::new(());

/// A session got a ready driver after `took`.
pub fn session_started(warm: bool, took: Duration) {
    METRICS
        .session_start
        .get_or_create(&StartLabels {
            warm: warm.to_string(),
        })
        .observe(took.as_secs_f64());
}

/// A statement reached a final state (`AVAILABLE`, `CANCELLED`, `ERROR`) after running `ran`
/// (`None` when it never started).
pub fn statement_finished(state: &str, ran: Option<Duration>) {
    let labels = StateLabels {
        state: state.to_string(),
    };
    METRICS.statements.get_or_create(&labels).inc();
    if let Some(ran) = ran {
        METRICS
            .statement_seconds
            .get_or_create(&labels)
            .observe(ran.as_secs_f64());
    }
}

/// The warm pool now holds `size` idle drivers.
pub fn warm_pool_size(size: usize) {
    METRICS.warm_pool.set(size as i64);
}

/// A Glue request ended: `operation` must come from a bounded list (the caller maps unknown
/// targets to "unknown"), `error` is the wire error code.
pub fn request(operation: &str, error: Option<&str>, took: Duration) {
    METRICS
        .requests
        .get_or_create(&RequestLabels {
            operation: operation.to_string(),
            code: error.unwrap_or("ok").to_string(),
        })
        .inc();
    METRICS
        .request_seconds
        .get_or_create(&OperationLabels {
            operation: operation.to_string(),
        })
        .observe(took.as_secs_f64());
}

/// Runs one store call and records its latency.
pub fn timed_store<T>(call: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = call();
    METRICS
        .store_seconds
        .observe(started.elapsed().as_secs_f64());
    result
}

/// Runs one Data Catalog call through `door` and records its outcome (`code` names an error
/// by kind, never by message) and latency.
pub async fn catalog_call<T, E>(
    door: &'static str,
    operation: &'static str,
    code: fn(&E) -> String,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let result = call.await;
    METRICS
        .catalog_calls
        .get_or_create(&CatalogCallLabels {
            door: door.to_owned(),
            operation: operation.to_owned(),
            code: result.as_ref().err().map_or_else(|| "ok".to_owned(), code),
        })
        .inc();
    METRICS
        .catalog_call_seconds
        .get_or_create(&CatalogOperationLabels {
            door: door.to_owned(),
            operation: operation.to_owned(),
        })
        .observe(started.elapsed().as_secs_f64());
    result
}

fn s3_bytes(direction: S3Direction, n: usize) {
    let direction = match direction {
        S3Direction::In => "in",
        S3Direction::Out => "out",
    };
    METRICS
        .s3_bytes
        .get_or_create(&DirectionLabels {
            direction: direction.to_owned(),
        })
        .inc_by(n as u64);
}

/// `body` with every chunk that passes through counted as S3 bytes going `direction` (bytes
/// count as they stream, so an aborted transfer counts what was moved).
pub fn s3_counted<S, E>(
    direction: S3Direction,
    body: S,
) -> impl futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
{
    use futures::StreamExt as _;
    body.inspect(move |chunk| {
        if let Ok(bytes) = chunk {
            s3_bytes(direction, bytes.len());
        }
    })
}

/// What a scrape reads from the service and the store.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub sessions_by_status: Vec<(String, u64)>,
    pub dpu_seconds_by_account: Vec<(String, f64)>,
    pub live_drivers: usize,
    /// The runtime's driver package directory (finds its drivers' processes); none without
    /// a runtime.
    pub driver_dir: Option<std::path::PathBuf>,
}

/// The metrics in OpenMetrics text, with `snapshot`'s values.
pub fn render(snapshot: &Snapshot) -> String {
    let _one = SCRAPE.lock().unwrap_or_else(|e| e.into_inner());
    let metrics = &*METRICS;
    metrics.sessions.clear();
    for (status, count) in &snapshot.sessions_by_status {
        metrics
            .sessions
            .get_or_create(&StatusLabels {
                status: status.clone(),
            })
            .set(*count as i64);
    }
    metrics.dpu_seconds.clear();
    for (account, dpu) in &snapshot.dpu_seconds_by_account {
        metrics
            .dpu_seconds
            .get_or_create(&AccountLabels {
                account: account.clone(),
            })
            .set(*dpu);
    }
    metrics.live_drivers.set(snapshot.live_drivers as i64);
    let drivers = snapshot
        .driver_dir
        .as_deref()
        .map(procfs::driver_memory)
        .unwrap_or_default();
    metrics.driver_rss.clear();
    for driver in &drivers {
        metrics
            .driver_rss
            .get_or_create(&DriverLabels {
                pid: driver.pid.to_string(),
            })
            .set(driver.rss_bytes.min(i64::MAX as u64) as i64);
    }
    metrics.drivers_running.set(drivers.len() as i64);
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &metrics.registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_carries_recorded_values_and_the_snapshot() {
        request(
            "GetSession",
            Some("EntityNotFoundException"),
            Duration::from_millis(2),
        );
        statement_finished("AVAILABLE", Some(Duration::from_millis(300)));
        let text = render(&Snapshot {
            sessions_by_status: vec![("READY".into(), 3)],
            dpu_seconds_by_account: vec![("123456789012".into(), 42.5)],
            live_drivers: 2,
            driver_dir: None,
        });
        assert!(text.contains(
            "epoxy_requests_total{operation=\"GetSession\",code=\"EntityNotFoundException\"}"
        ));
        assert!(text.contains("epoxy_sessions{status=\"READY\"} 3"));
        assert!(text.contains("epoxy_dpu_seconds{account=\"123456789012\"} 42.5"));
        assert!(text.contains("epoxy_live_drivers 2"));
        assert!(text.contains("epoxy_statement_seconds_count{state=\"AVAILABLE\"}"));
        assert!(text.ends_with("# EOF\n"));
        assert!(text.contains("epoxy_drivers_running 0"));
        // The next scrape forgets statuses that have no sessions any more.
        let text = render(&Snapshot::default());
        assert!(!text.contains("epoxy_sessions{status=\"READY\"}"));
    }

    #[tokio::test]
    async fn catalog_calls_and_s3_bytes_are_counted() {
        use futures::StreamExt as _;
        let failed: Result<(), String> = catalog_call(
            "metastore",
            "get_table",
            |_| "NoSuchObject".to_owned(),
            async { Err("table x.y is secret".to_owned()) },
        )
        .await;
        assert!(failed.is_err());
        let ok: Result<u8, String> =
            catalog_call("glue", "GetTable", |e: &String| e.clone(), async { Ok(1) }).await;
        assert_eq!(ok, Ok(1));
        let chunks = (0..3).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"hello")));
        let body = s3_counted(S3Direction::Out, futures::stream::iter(chunks));
        assert_eq!(body.count().await, 3);
        // Other tests in this process may count too: at least ours are there.
        let text = render(&Snapshot::default());
        let sample = |series: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
                .unwrap_or(0.0)
        };
        assert!(
            sample(
                r#"epoxy_catalog_calls_total{door="metastore",operation="get_table",code="NoSuchObject"}"#
            ) >= 1.0
        );
        assert!(
            sample(r#"epoxy_catalog_calls_total{door="glue",operation="GetTable",code="ok"}"#)
                >= 1.0
        );
        assert!(
            sample(r#"epoxy_catalog_call_seconds_count{door="glue",operation="GetTable"}"#) >= 1.0
        );
        assert!(sample(r#"epoxy_s3_bytes_total{direction="out"}"#) >= 15.0);
        assert!(!text.contains("secret"));
    }
}
