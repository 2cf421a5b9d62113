//! Prometheus metrics: one process-wide registry and small typed recording functions that the
//! layers call where things happen (protocol: requests; sessions: lifecycle, statements, store
//! calls; runtime: warm pool, driver starts). Values that live in the store or the service
//! (sessions by status, DPU-seconds, live drivers) are read once per scrape into a [`Snapshot`]
//! by whoever serves `/metrics`, so recording never reaches across layers.
//!
//! Labels carry only bounded, non-secret values: operation names from the served list, error
//! codes, states, account ids. Never code, keys, session ids or tags.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

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

/// What a scrape reads from the service and the store.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub sessions_by_status: Vec<(String, u64)>,
    pub dpu_seconds_by_account: Vec<(String, f64)>,
    pub live_drivers: usize,
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
        });
        assert!(text.contains(
            "epoxy_requests_total{operation=\"GetSession\",code=\"EntityNotFoundException\"}"
        ));
        assert!(text.contains("epoxy_sessions{status=\"READY\"} 3"));
        assert!(text.contains("epoxy_dpu_seconds{account=\"123456789012\"} 42.5"));
        assert!(text.contains("epoxy_live_drivers 2"));
        assert!(text.contains("epoxy_statement_seconds_count{state=\"AVAILABLE\"}"));
        assert!(text.ends_with("# EOF\n"));
        // The next scrape forgets statuses that have no sessions any more.
        let text = render(&Snapshot::default());
        assert!(!text.contains("epoxy_sessions{status=\"READY\"}"));
    }
}
