//! Property tests of the metastore's wire: random bytes and mutations of real calls (flipped,
//! truncated, spliced, length fields set to extremes) sent to a live server never panic it,
//! never stop it from serving the next connection, and never change the catalog: read calls
//! go out on a bound connection, write calls on a warm-pool (read-only) one.

use epoxy::catalog::CatalogService;
use epoxy::metastore::{DriverCredential, Metastore, Registry, server};
use epoxy::sessions::model::Tenant;
use epoxy::store::SessionStore;
use epoxy::store::sqlite::SqliteStore;
use proptest::prelude::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

static PANICKED: AtomicBool = AtomicBool::new(false);

fn s(v: &str) -> Vec<u8> {
    [
        (v.len() as i32).to_be_bytes().to_vec(),
        v.as_bytes().to_vec(),
    ]
    .concat()
}

fn field(ty: u8, id: i16, value: Vec<u8>) -> Vec<u8> {
    [vec![ty], id.to_be_bytes().to_vec(), value].concat()
}

fn call(name: &str, args: &[Vec<u8>]) -> Vec<u8> {
    [
        vec![0x80, 0x01, 0x00, 0x01],
        s(name),
        7i32.to_be_bytes().to_vec(),
        args.concat(),
        vec![0],
    ]
    .concat()
}

fn strings(items: &[&str]) -> Vec<u8> {
    let mut out = vec![11];
    out.extend((items.len() as i32).to_be_bytes());
    items.iter().for_each(|i| out.extend(s(i)));
    out
}

fn table(db: &str, name: &str) -> Vec<u8> {
    let serde = [field(11, 2, s("LazySimpleSerDe")), vec![0]].concat();
    let sd = [field(12, 7, serde), field(11, 2, s("file:/tmp/x")), vec![0]].concat();
    [
        field(11, 1, s(name)),
        field(11, 2, s(db)),
        field(12, 7, sd),
        field(11, 12, s("EXTERNAL_TABLE")),
        vec![0],
    ]
    .concat()
}

/// Calls that only read (sent bound to the seeded tenant).
fn read_seeds() -> Vec<Vec<u8>> {
    let dt = || vec![field(11, 1, s("db")), field(11, 2, s("t"))];
    vec![
        call("get_database", &[field(11, 1, s("db"))]),
        call("get_databases", &[field(11, 1, s("*|d*"))]),
        call("get_all_databases", &[]),
        call("get_table", &dt()),
        call(
            "get_tables",
            &[field(11, 1, s("db")), field(11, 2, s("t*"))],
        ),
        call(
            "get_table_objects_by_name",
            &[field(11, 1, s("db")), field(15, 2, strings(&["t", "u"]))],
        ),
        call(
            "get_partitions",
            &[dt(), vec![field(6, 3, vec![0xff, 0xff])]].concat(),
        ),
        call(
            "get_partitions_by_filter",
            &[
                dt(),
                vec![field(11, 3, s("p = \"a\"")), field(6, 4, vec![0, 5])],
            ]
            .concat(),
        ),
        call(
            "get_partition_names",
            &[dt(), vec![field(6, 3, vec![0xff, 0xff])]].concat(),
        ),
        call(
            "get_function",
            &[field(11, 1, s("db")), field(11, 2, s("f"))],
        ),
        call(
            "set_ugi",
            &[field(11, 1, s("x")), field(15, 2, strings(&["g"]))],
        ),
    ]
}

/// Calls that would write (sent on an unbound, read-only connection).
fn write_seeds() -> Vec<Vec<u8>> {
    let db = [
        field(11, 1, s("newdb")),
        field(11, 3, s("file:/tmp/newdb")),
        vec![0],
    ]
    .concat();
    vec![
        call("create_database", &[field(12, 1, db)]),
        call(
            "drop_database",
            &[
                field(11, 1, s("db")),
                field(2, 2, vec![1]),
                field(2, 3, vec![1]),
            ],
        ),
        call("create_table", &[field(12, 1, table("db", "new"))]),
        call(
            "drop_table_with_environment_context",
            &[
                field(11, 1, s("db")),
                field(11, 2, s("t")),
                field(2, 3, vec![1]),
            ],
        ),
        call(
            "alter_table_with_environment_context",
            &[
                field(11, 1, s("db")),
                field(11, 2, s("t")),
                field(12, 3, table("db", "t")),
            ],
        ),
        call(
            "drop_function",
            &[field(11, 1, s("db")), field(11, 2, s("f"))],
        ),
    ]
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    db_path: std::path::PathBuf,
    bound: DriverCredential,
    unbound: DriverCredential,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::SeqCst);
            previous(info);
        }));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("epoxy.db");
        let store = Arc::new(SqliteStore::open(&db_path).unwrap());
        let catalog = Arc::new(CatalogService::new(
            Arc::clone(&store) as _,
            dir.path().join("warehouse"),
            store.secret().unwrap(),
        ));
        let tenant = Tenant {
            account: "111111111111".into(),
            region: "us-east-1".into(),
        };
        rt.block_on(async {
            use epoxy::catalog::model::{DatabaseInput, TableInput};
            // `default` too, which the metastore would otherwise create on first use.
            for name in ["db", "default"] {
                let db = DatabaseInput {
                    name: name.into(),
                    ..Default::default()
                };
                catalog.create_database(&tenant, db).await.unwrap();
            }
            let t = TableInput {
                name: "t".into(),
                ..Default::default()
            };
            catalog.create_table(&tenant, "db", t).await.unwrap();
        });
        // Shared over the store as `serve` has it: an unknown credential is looked up there.
        let registry = Registry::shared(Arc::clone(&store) as _).unwrap();
        let bound = registry.issue();
        bound.bind(&tenant);
        let unbound = registry.issue();
        let metastore = Metastore::new(catalog, Arc::clone(&registry));
        let addr = rt
            .block_on(server::start(
                "127.0.0.1:0".parse().unwrap(),
                Arc::new(metastore),
            ))
            .unwrap();
        Fixture {
            rt,
            addr,
            db_path,
            bound,
            unbound,
            _dir: dir,
        }
    })
}

/// Every row of every table of the store.
fn snapshot(path: &std::path::Path) -> Vec<String> {
    let db =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut rows = Vec::new();
    for t in tables {
        let mut stmt = db.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut q = stmt.query([]).unwrap();
        while let Some(row) = q.next().unwrap() {
            let cells: Vec<String> = (0..n)
                .map(|i| format!("{:?}", row.get::<_, rusqlite::types::Value>(i).unwrap()))
                .collect();
            rows.push(format!("{t}: {}", cells.join(",")));
        }
    }
    rows.sort();
    rows
}

/// Logs in as `user`, sends `bytes`, half-closes, and drains what comes back.
async fn exchange(addr: SocketAddr, user: &str, bytes: &[u8]) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(&call(
            "set_ugi",
            &[field(11, 1, s(user)), field(15, 2, strings(&[]))],
        ))
        .await
        .unwrap();
    // The peer may close early on garbage: write errors are expected then.
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut sink)).await;
}

/// The server still answers a fresh, well-formed call.
async fn still_serving(addr: SocketAddr, user: &str) -> bool {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let hello = call(
        "set_ugi",
        &[field(11, 1, s(user)), field(15, 2, strings(&[]))],
    );
    stream.write_all(&hello).await.unwrap();
    let mut head = [0u8; 4];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut head)).await,
        Ok(Ok(_))
    ) && head == [0x80, 0x01, 0x00, 0x02]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    /// Overwrite 4 bytes with an extreme length.
    Length(usize, i32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (
            any::<usize>(),
            prop_oneof![
                Just(i32::MAX),
                Just(-1),
                Just(1 << 24),
                Just(0),
                any::<i32>()
            ]
        )
            .prop_map(|(i, n)| Mutation::Length(i, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::Flip(i, b) => {
                let i = i % len;
                if let Some(x) = bytes.get_mut(i) {
                    *x ^= b | 1;
                }
            }
            Mutation::Truncate(i) => bytes.truncate(i % len),
            Mutation::Insert(i, b) => {
                let i = i % (bytes.len() + 1);
                bytes.splice(i..i, b.iter().copied());
            }
            Mutation::Length(i, n) => {
                let i = i % len;
                for (k, b) in n.to_be_bytes().into_iter().enumerate() {
                    if let Some(x) = bytes.get_mut(i + k) {
                        *x = b;
                    }
                }
            }
        }
    }
    bytes
}

fn check(bytes: &[u8], write: bool) -> Result<(), TestCaseError> {
    let fx = fixture();
    let user = if write { &fx.unbound } else { &fx.bound }.user_name();
    check_as(user, bytes)
}

/// Sends `bytes` as `user`: the server survives and the catalog is unchanged.
fn check_as(user: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let fx = fixture();
    let before = snapshot(&fx.db_path);
    fx.rt.block_on(exchange(fx.addr, user, bytes));
    prop_assert!(!PANICKED.load(Ordering::SeqCst), "the server panicked");
    prop_assert!(fx.rt.block_on(still_serving(fx.addr, fx.bound.user_name())));
    prop_assert_eq!(before, snapshot(&fx.db_path), "the catalog changed");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn mutated_read_calls(seed in 0..11usize, mutations in proptest::collection::vec(mutation(), 1..4), repeat in 1..3usize) {
        let bytes = apply(read_seeds()[seed].clone(), &mutations).repeat(repeat);
        check(&bytes, false)?;
    }

    #[test]
    fn mutated_write_calls_on_a_read_only_connection(seed in 0..6usize, mutations in proptest::collection::vec(mutation(), 0..4)) {
        let bytes = apply(write_seeds()[seed].clone(), &mutations);
        check(&bytes, true)?;
    }

    /// A credential near the bound one (a character changed, cut short, lengthened, another
    /// store's signature) is no credential: write calls made with it change nothing.
    #[test]
    fn forged_credentials_write_nothing(seed in 0..6usize, at in any::<prop::sample::Index>(), byte in 0x21u8..0x7f, how in 0..4u8) {
        let fx = fixture();
        let real = fx.bound.user_name();
        let i = at.index(real.len());
        let forged = match how {
            0 => format!("{}{}{}", &real[..i], byte as char, &real[i + 1..]),
            1 => real[..i].to_string(),
            2 => format!("{real}{}", byte as char),
            _ => Registry::new().issue().user_name().to_string(),
        };
        prop_assume!(forged != real);
        check_as(&forged, &write_seeds()[seed])?;
    }

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512), header in any::<bool>()) {
        let bytes = if header { [vec![0x80, 0x01, 0x00, 0x01], bytes].concat() } else { bytes };
        check(&bytes, false)?;
    }
}
