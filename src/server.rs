//! `epoxy serve`: wires the layers together from the command line and runs until SIGTERM/SIGINT.

use crate::auth::Authenticator;
use crate::auth::accounts::Accounts;
use crate::cli::{AuthMode, RuntimeKind, ServeArgs};
use crate::protocol::{self, App};
use crate::runtime::{DriverRuntime, provision};
use crate::sessions::{ServiceConfig, SessionService};
use crate::store::sqlite::SqliteStore;
use anyhow::{Context, bail};
use std::sync::Arc;
use std::time::Duration;

/// Live sessions the machine can hold: each driver is a JVM of ~1 GiB heap plus Python, and
/// more than a few per core make every session slow.
/// How long in-flight requests get to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn default_max_live_sessions() -> usize {
    // SAFETY: sysconf only reads system configuration values.
    let (pages, page_size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGE_SIZE),
        )
    };
    let gib = (pages.max(0) as u64 * page_size.max(0) as u64) >> 30;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    ((gib / 2) as usize).min(cores * 4).max(1)
}

fn authenticator(args: &ServeArgs) -> anyhow::Result<Authenticator> {
    match (&args.accounts, args.auth) {
        (Some(path), None | Some(AuthMode::Sigv4)) => {
            Ok(Authenticator::SigV4(Accounts::load(path)?))
        }
        (Some(_), Some(AuthMode::Open)) => bail!("--auth open and --accounts exclude each other"),
        (None, Some(AuthMode::Sigv4)) => bail!("--auth sigv4 needs --accounts FILE"),
        (None, Some(AuthMode::Open)) => Ok(Authenticator::Open),
        (None, None) if args.listen.ip().is_loopback() => Ok(Authenticator::Open),
        (None, None) => bail!(
            "refusing to serve {} without authentication: give --accounts FILE, or --auth open to accept anyone",
            args.listen
        ),
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let auth = authenticator(&args)?;
    if !(args.minute_seconds.is_finite() && args.minute_seconds > 0.0) {
        bail!("--minute-seconds must be a positive number");
    }
    let data_dir = &args.runtime.data_dir;
    let logs_dir = data_dir.join("logs");
    std::fs::create_dir_all(&logs_dir)
        .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    let db = data_dir.join("epoxy.db");
    let store =
        Arc::new(SqliteStore::open(&db).with_context(|| format!("cannot open {}", db.display()))?);

    let runtime = match args.runtime_kind {
        RuntimeKind::None => None,
        RuntimeKind::Spark => {
            let runtime_args = args.runtime.clone();
            let ready =
                tokio::task::spawn_blocking(move || provision::provision(&runtime_args)).await??;
            Some(DriverRuntime::new(
                ready,
                args.spark_master.clone(),
                logs_dir,
                args.warm_pool,
            ))
        }
    };
    let config = ServiceConfig {
        minute: Duration::from_secs_f64(args.minute_seconds),
        max_live_sessions: args
            .max_live_sessions
            .unwrap_or_else(default_max_live_sessions)
            .max(1),
    };
    let service = SessionService::start(store, runtime.clone(), config).await?;
    let metrics_public = args.listen.ip().is_loopback() || matches!(auth, Authenticator::Open);
    let app = Arc::new(App::new(Arc::clone(&service), auth, metrics_public));

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %data_dir.display(), "epoxy serving");
    println!("epoxy: listening on http://{addr}");
    println!("epoxy: console at http://{addr}/console");
    // On SIGTERM/SIGINT: stop accepting, let in-flight requests finish for up to
    // SHUTDOWN_GRACE, then end the live sessions and exit.
    let signalled = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&signalled);
    let server = axum::serve(listener, protocol::router(app)).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested: no new connections; finishing in-flight requests");
        notify.notify_waiters();
    });
    tokio::select! {
        served = server => served?,
        _ = async { signalled.notified().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!("in-flight requests still running after {} s; exiting anyway", SHUTDOWN_GRACE.as_secs());
        }
    }
    tracing::info!("shutting down: ending live sessions");
    service
        .end_live_sessions(
            "The epoxy server shut down while this session was live; its driver was stopped.",
        )
        .await;
    if let Some(runtime) = runtime {
        runtime.drain().await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
