//! A real PostgreSQL for tests: Debian's `postgresql` package, one throw-away cluster per test
//! process (initdb + pg_ctl, as the `postgres` user when run as root, on a Unix socket in a temp
//! dir, so no port is taken), and a fresh database per test. Stopped when the process exits.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The newest installed server's bin dir (Debian keeps them off PATH).
fn server_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL is not installed: apt-get install postgresql (scripts/test does)")
}

fn is_root() -> bool {
    // SAFETY: geteuid only reads the process's credentials.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a server tool, as `postgres` when we are root (initdb refuses root).
fn run(bin: &Path, tool: &str, args: &[&str]) {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    };
    let out = cmd.args(args).output().expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

extern "C" fn stop_at_exit() {
    if let Some(c) = CLUSTER.get() {
        let data = c.dir.join("data");
        run(
            &c.bin,
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(&c.dir);
    }
}

fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        let bin = server_bin();
        let dir = tempfile::Builder::new()
            .prefix("epoxy-pg-")
            .tempdir()
            .expect("temp dir")
            .keep();
        if is_root() {
            let ok = Command::new("chown")
                .arg("postgres:")
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cannot chown {} to postgres", dir.display());
        }
        let data = dir.join("data");
        let (data, sock, log) = (
            data.to_str().unwrap().to_owned(),
            dir.to_str().unwrap().to_owned(),
            dir.join("log").to_str().unwrap().to_owned(),
        );
        run(
            &bin,
            "initdb",
            &["-D", &data, "-U", "epoxy", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
        );
        let options = format!(
            "-k {sock} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        );
        run(&bin, "pg_ctl", &["-D", &data, "-l", &log, "-w", "-o", &options, "start"]);
        // SAFETY: registers a plain function to run at exit.
        unsafe { libc::atexit(stop_at_exit) };
        Cluster { bin, dir }
    })
}

/// The URL of database `name` in the cluster.
pub fn url_of(name: &str) -> String {
    format!(
        "postgresql://epoxy@/{name}?host={}",
        cluster().dir.display()
    )
}

/// Runs `f` with a connection to database `name`.
fn with_client<T>(name: &str, f: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
    let url = url_of(name);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        tokio::spawn(conn);
        f(&client).await
    })
}

/// Runs SQL statements on database `name`.
pub fn execute(name: &str, sql: &str) {
    with_client(name, async |c| c.batch_execute(sql).await.expect("run SQL"));
}

/// The integer a one-row, one-column query on database `name` returns.
pub fn query_i64(name: &str, sql: &str) -> i64 {
    with_client(name, async |c| {
        let row = c.query_one(sql, &[]).await.expect("query");
        row.try_get::<_, i64>(0)
            .or_else(|_| row.try_get::<_, i32>(0).map(i64::from))
            .expect("an integer")
    })
}

/// A new empty database; its name. Its default collation is ICU's en-US, which orders ids
/// unlike bytes (`_x -x a b B`), so a column that forgets `COLLATE "C"` shows in the pages.
pub fn fresh_database() -> String {
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    execute(
        "postgres",
        &format!(
            "CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        ),
    );
    name
}
