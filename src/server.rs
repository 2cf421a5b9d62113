//! `epoxy serve`: wires the layers together from the command line and runs until SIGTERM/SIGINT.

use crate::auth::accounts::Accounts;
use crate::auth::{Authenticator, Keys};
use crate::catalog::CatalogService;
use crate::catalog::warehouse::{Warehouse, WarehouseRoot};
use crate::cli::{AuthMode, RuntimeKind, ServeArgs};
use crate::metastore::{self, DriverAttachment, Metastore, Registry};
use crate::objects::{ObjectService, S3Config, Tenancy};
use crate::protocol::s3::S3Door;
use crate::protocol::{self, App};
use crate::runtime::cluster::ClusterSettings;
use crate::runtime::driver::{ChannelSettings, DriverListen};
use crate::runtime::{DriverRuntime, provision};
use crate::sessions::credentials::endpoint_url;
use crate::sessions::service::NodeConfig;
use crate::sessions::{ServiceConfig, SessionService};
use crate::store::{self, Store};
use anyhow::{Context, bail};
use std::sync::Arc;
use std::time::Duration;

/// How long in-flight requests get to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Session drivers the machine can run at once: each is a JVM of ~1 GiB heap plus Python
/// (~2 GiB resident), and more than two per core make every session slow. The warm pool's
/// drivers run beside them, so they are taken off.
fn default_capacity(warm_pool: usize) -> usize {
    // SAFETY: sysconf only reads system configuration values.
    let (pages, page_size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGE_SIZE),
        )
    };
    let gib = (pages.max(0) as u64 * page_size.max(0) as u64) >> 30;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    ((gib / 2) as usize)
        .min(cores * 2)
        .saturating_sub(warm_pool)
        .max(1)
}

fn keys(args: &ServeArgs) -> anyhow::Result<Keys> {
    match (&args.accounts, args.auth) {
        (Some(path), None | Some(AuthMode::Sigv4)) => Ok(Keys::Accounts(Accounts::load(path)?)),
        (Some(_), Some(AuthMode::Open)) => bail!("--auth open and --accounts exclude each other"),
        (None, Some(AuthMode::Sigv4)) => bail!("--auth sigv4 needs --accounts FILE"),
        (None, Some(AuthMode::Open)) => Ok(Keys::Open),
        (None, None) if args.listen.ip().is_loopback() => Ok(Keys::Open),
        (None, None) => bail!(
            "refusing to serve {} without authentication: give --accounts FILE, or --auth open to accept anyone",
            args.listen
        ),
    }
}

/// The Data Catalog on the same store, with its warehouse.
fn catalog_service(
    args: &ServeArgs,
    store: &Arc<dyn Store>,
    objects: Option<&ObjectService>,
) -> anyhow::Result<CatalogService> {
    Ok(CatalogService::new(
        Arc::clone(store) as _,
        warehouse(args, objects)?,
        store.secret()?,
    ))
}

/// `--warehouse` (default `<data-dir>/warehouse`). A directory is created and made absolute,
/// so locations stay valid whatever directory drivers run in; an `s3://` one lives in the
/// built-in S3 (`objects`), or is only a location prefix with `--s3-endpoint`.
fn warehouse(args: &ServeArgs, objects: Option<&ObjectService>) -> anyhow::Result<Warehouse> {
    let root = args
        .warehouse
        .clone()
        .unwrap_or_else(|| WarehouseRoot::Local(args.runtime.data_dir.join("warehouse")));
    match root {
        WarehouseRoot::Local(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the warehouse {}", dir.display()))?;
            Ok(Warehouse::from(std::path::absolute(&dir)?))
        }
        WarehouseRoot::S3 { bucket, prefix } => {
            tracing::info!(
                bucket,
                prefix,
                built_in_s3 = objects.is_some(),
                "warehouse on S3"
            );
            Ok(Warehouse::s3(
                bucket,
                prefix,
                objects.map(ObjectService::admin),
            ))
        }
    }
}

/// Where the metastore's address of the last start is kept: drivers that outlive a restart
/// keep the address they were started with, so a port-0 `--metastore-listen` binds it again.
const METASTORE_ADDR_FILE: &str = "metastore.addr";

/// The address to bind first: with port 0 asked for, the one the last start used on the same
/// IP (if the file says so); none otherwise (a fixed port is bound as given).
fn previous_metastore_addr(
    asked: std::net::SocketAddr,
    remembered: &std::path::Path,
) -> Option<std::net::SocketAddr> {
    if asked.port() != 0 {
        return None;
    }
    let previous: std::net::SocketAddr = std::fs::read_to_string(remembered)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (previous.ip() == asked.ip() && previous.port() != 0).then_some(previous)
}

/// Where other nodes' drivers reach this node's metastore: its address, or, bound to every
/// interface, the `--advertise-url`'s host with its port.
fn metastore_advertised(addr: std::net::SocketAddr, advertise_url: &str) -> String {
    let uri = advertise_url.parse::<http::Uri>();
    match uri.as_ref().ok().and_then(http::Uri::host) {
        Some(host) if addr.ip().is_unspecified() => format!("{host}:{}", addr.port()),
        _ => addr.to_string(),
    }
}

/// Starts the Hive Metastore door on the catalog; what drivers need to use it.
async fn start_metastore(
    args: &ServeArgs,
    store: &Arc<dyn Store>,
    catalog: &Arc<CatalogService>,
) -> anyhow::Result<DriverAttachment> {
    let registry = Registry::shared(Arc::clone(store)).context("cannot read the store's secret")?;
    let handler = Metastore::new(Arc::clone(catalog), Arc::clone(&registry));
    let handler = Arc::new(handler);
    let remembered = args.runtime.data_dir.join(METASTORE_ADDR_FILE);
    let addr = match previous_metastore_addr(args.metastore_listen, &remembered) {
        Some(previous) => match metastore::server::start(previous, Arc::clone(&handler)).await {
            Ok(addr) => Some(addr),
            Err(e) => {
                tracing::warn!(%previous, error = %e, "the metastore's earlier port is taken; re-attached drivers will lose their catalog");
                None
            }
        },
        None => None,
    };
    let addr = match addr {
        Some(addr) => addr,
        None => metastore::server::start(args.metastore_listen, handler)
            .await
            .with_context(|| format!("cannot serve the metastore on {}", args.metastore_listen))?,
    };
    if let Err(e) = std::fs::write(&remembered, addr.to_string()) {
        tracing::warn!(path = %remembered.display(), error = %e, "cannot remember the metastore's port");
    }
    tracing::info!(%addr, "hive metastore serving");
    Ok(DriverAttachment::new(registry, addr))
}

/// `--s3-endpoint` must be a plain http(s) base URL drivers can be pointed at.
fn external_s3(endpoint: &str) -> anyhow::Result<String> {
    let uri: http::Uri = endpoint
        .parse()
        .with_context(|| format!("--s3-endpoint {endpoint:?} is not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        bail!("--s3-endpoint must be an http:// or https:// URL with a host, not {endpoint:?}");
    }
    Ok(endpoint.trim_end_matches('/').to_owned())
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let keys = keys(&args)?;
    let external_s3 = args.s3_endpoint.as_deref().map(external_s3).transpose()?;
    if !(args.minute_seconds.is_finite() && args.minute_seconds > 0.0) {
        bail!("--minute-seconds must be a positive number");
    }
    if !(args.driver_orphan_seconds.is_finite() && args.driver_orphan_seconds > 0.0) {
        bail!("--driver-orphan-seconds must be a positive number");
    }
    let driver_listen = match (args.driver_listen, args.driver_advertise_host.clone()) {
        (Some(ip), advertise) => Some(DriverListen::new(ip, advertise)?),
        (None, Some(_)) => bail!("--driver-advertise-host needs --driver-listen"),
        (None, None) => None,
    };
    let data_dir = &args.runtime.data_dir;
    let logs_dir = data_dir.join("logs");
    std::fs::create_dir_all(&logs_dir)
        .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    let store = match &args.store {
        None => store::open(None, data_dir)
            .with_context(|| format!("cannot open the store in {}", data_dir.display()))?,
        // The URL may carry a password: never echo it.
        Some(url) => {
            store::open(Some(url), data_dir).context("cannot open the --store database")?
        }
    };

    // Bound before the drivers start: they are told the real address (after a port-0 bind),
    // as the Glue endpoint and as the built-in S3's.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let drivers_url = args
        .drivers_url
        .clone()
        .unwrap_or_else(|| endpoint_url(addr));
    let s3 = match &external_s3 {
        Some(endpoint) => S3Config::External {
            endpoint: endpoint.clone(),
        },
        None => S3Config::BuiltIn {
            endpoint: drivers_url.clone(),
        },
    };
    let tenancy = match &keys {
        Keys::Open => Tenancy::Open,
        Keys::Accounts(accounts) => Tenancy::Accounts {
            accounts: accounts.clone(),
            store: store.clone(),
        },
    };
    let objects = match external_s3 {
        None => Some(ObjectService::open(
            data_dir,
            store.clone(),
            tenancy.clone(),
        )?),
        Some(_) => None,
    };
    let catalog = Arc::new(catalog_service(&args, &store, objects.as_ref())?);
    let metastore = start_metastore(&args, &store, &catalog).await?;
    let metastore_addr = metastore.addr;
    let cluster = ClusterSettings::new(
        &args.spark_master,
        args.dpu_preset,
        args.cores_per_dpu,
        args.memory_per_dpu.as_deref(),
        args.driver_host.clone(),
        args.spark_master_ui.clone(),
        Duration::from_secs(args.executor_wait),
    )?;
    if let Some(id) = &args.host_id {
        crate::runtime::driver::name_this_host(id);
    }
    let runtime = match args.runtime_kind {
        RuntimeKind::None => None,
        RuntimeKind::Spark => {
            let runtime_args = args.runtime.clone();
            let ready =
                tokio::task::spawn_blocking(move || provision::provision(&runtime_args)).await??;
            Some(DriverRuntime::new(
                ready,
                cluster,
                logs_dir,
                args.warm_pool,
                Some(metastore),
                s3.clone(),
                ChannelSettings {
                    orphan_limit: Duration::from_secs_f64(args.driver_orphan_seconds),
                    listen: driver_listen,
                },
            ))
        }
    };
    let capacity = args
        .capacity
        .unwrap_or_else(|| default_capacity(args.warm_pool))
        .max(1);
    let advertise_url = args
        .advertise_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let config = ServiceConfig {
        minute: Duration::from_secs_f64(args.minute_seconds),
        max_live_sessions: args.max_live_sessions.unwrap_or(capacity * 4).max(1),
        capacity,
        endpoint_url: drivers_url,
        node: NodeConfig {
            id: node_id(data_dir)?,
            metastore: Some(metastore_advertised(metastore_addr, &advertise_url)),
            advertise_url,
            lease: Duration::from_secs_f64(args.node_lease_seconds),
        },
    };
    let metrics_public = args.listen.ip().is_loopback() || matches!(keys, Keys::Open);
    let auth = Authenticator::new(keys, store.clone());
    let service = SessionService::start(store, runtime.clone(), config).await?;
    let app = Arc::new(App::new(
        Arc::clone(&service),
        catalog,
        objects.clone(),
        auth,
        metrics_public,
    ));

    tracing::info!(%addr, data_dir = %data_dir.display(), "epoxy serving");
    println!("epoxy: listening on http://{addr}");
    tracing::info!(
        endpoint = s3.endpoint(),
        built_in = s3.is_built_in(),
        "S3 for sessions"
    );
    let door = match objects {
        Some(objects) => S3Door::serving(objects, &tenancy),
        None => S3Door::Disabled {
            endpoint: s3.endpoint().to_owned(),
        },
    };
    let router = protocol::s3::with_s3(protocol::router(app), Arc::new(door));
    println!("epoxy: console at http://{addr}/console");
    // On SIGTERM/SIGINT: stop accepting, let in-flight requests finish for up to
    // SHUTDOWN_GRACE, stop the warm pool's drivers and exit. Sessions' drivers keep running
    // (and keep running statements); the next start re-attaches to them.
    let signalled = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&signalled);
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
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
    tracing::info!(
        live = service.live_drivers(),
        "shutting down; sessions' drivers keep running for the next start to re-attach"
    );
    crate::runtime::driver::leave_drivers_running();
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

/// This node's id, made on first start and kept in the data dir: a node that restarts on its
/// data dir takes back the sessions it held (their drivers and logs are on its disk).
fn node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim();
            if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!(
                    "{} does not hold a node id (32 hex digits); remove it to make a new one",
                    path.display()
                );
            }
            Ok(id.to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let partial = data_dir.join("node-id.partial");
            std::fs::write(&partial, format!("{id}\n"))
                .and_then(|()| std::fs::rename(&partial, &path))
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::previous_metastore_addr;

    #[test]
    fn a_metastore_on_every_interface_is_advertised_at_the_nodes_host() {
        use super::metastore_advertised;
        let at = |a: &str, url: &str| metastore_advertised(a.parse().unwrap(), url);
        assert_eq!(at("127.0.0.1:9083", "http://node-a:4747"), "127.0.0.1:9083");
        assert_eq!(at("10.0.0.5:9083", "http://node-a:4747"), "10.0.0.5:9083");
        assert_eq!(at("0.0.0.0:9083", "http://node-a:4747"), "node-a:9083");
        assert_eq!(
            at("0.0.0.0:9083", "https://node-a.example"),
            "node-a.example:9083"
        );
        assert_eq!(at("[::]:9083", "http://[fd00::7]:4747"), "[fd00::7]:9083");
    }

    #[test]
    fn a_port_zero_metastore_binds_its_last_port_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("metastore.addr");
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert_eq!(
            previous_metastore_addr(any, &file),
            None,
            "no earlier start"
        );
        std::fs::write(&file, "127.0.0.1:40123\n").unwrap();
        assert_eq!(
            previous_metastore_addr(any, &file),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        let fixed = "127.0.0.1:9083".parse().unwrap();
        assert_eq!(
            previous_metastore_addr(fixed, &file),
            None,
            "a fixed port is bound as given"
        );
        let other_ip = "[::1]:0".parse().unwrap();
        assert_eq!(previous_metastore_addr(other_ip, &file), None);
        for junk in ["", "garbage", "127.0.0.1:0", "127.0.0.1:99999"] {
            std::fs::write(&file, junk).unwrap();
            assert_eq!(previous_metastore_addr(any, &file), None, "{junk:?}");
        }
    }
}
