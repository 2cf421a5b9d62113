//! The Hive Metastore door over a real socket: requests are built byte by byte from the Thrift
//! binary protocol spec (not with epoxy's codec), replies are checked byte for byte or through
//! an independent decoder below. Covers exception slots, tenancy, unknown methods and malformed
//! frames on live connections, many idle connections, and the Hive semantics Spark relies on.

use epoxy::catalog::model as glue;
use epoxy::catalog::{CatalogService, PageRequest};
use epoxy::metastore::{DriverCredential, Metastore, Registry, server};
use epoxy::sessions::model::Tenant;
use epoxy::store::SessionStore;
use epoxy::store::sqlite::SqliteStore;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---- the wire, by hand ----

const T_BOOL: u8 = 2;
const T_I16: u8 = 6;
const T_I32: u8 = 8;
const T_STRING: u8 = 11;
const T_STRUCT: u8 = 12;
const T_MAP: u8 = 13;
const T_LIST: u8 = 15;

fn be32(v: i32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

fn s(v: &str) -> Vec<u8> {
    [be32(v.len() as i32), v.as_bytes().to_vec()].concat()
}

/// A field header and its value bytes.
fn f(ty: u8, id: i16, value: Vec<u8>) -> Vec<u8> {
    [vec![ty], id.to_be_bytes().to_vec(), value].concat()
}

/// A struct from its fields.
fn st(fields: &[Vec<u8>]) -> Vec<u8> {
    [fields.concat(), vec![0]].concat()
}

fn strings(items: &[&str]) -> Vec<u8> {
    let mut out = vec![T_STRING];
    out.extend(be32(items.len() as i32));
    for i in items {
        out.extend(s(i));
    }
    out
}

fn list_of(ty: u8, items: &[Vec<u8>]) -> Vec<u8> {
    [vec![ty], be32(items.len() as i32), items.concat()].concat()
}

fn string_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = vec![T_STRING, T_STRING];
    out.extend(be32(pairs.len() as i32));
    for (k, v) in pairs {
        out.extend(s(k));
        out.extend(s(v));
    }
    out
}

/// A strict CALL message: version|type, name, seqid, args struct.
fn call(name: &str, seqid: i32, args: &[Vec<u8>]) -> Vec<u8> {
    [vec![0x80, 0x01, 0x00, 0x01], s(name), be32(seqid), st(args)].concat()
}

// ---- an independent decoder for replies ----

#[derive(Debug, Clone, PartialEq)]
enum V {
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    Str(String),
    Struct(BTreeMap<i16, V>),
    List(Vec<V>),
    Map(Vec<(V, V)>),
}

impl V {
    fn get(&self, id: i16) -> Option<&V> {
        match self {
            V::Struct(m) => m.get(&id),
            _ => None,
        }
    }
    fn at(&self, path: &[i16]) -> &V {
        path.iter().fold(self, |v, id| {
            v.get(*id)
                .unwrap_or_else(|| panic!("no field {id} in {v:?}"))
        })
    }
    fn str(&self) -> &str {
        match self {
            V::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
    fn list(&self) -> &[V] {
        match self {
            V::List(l) => l,
            other => panic!("not a list: {other:?}"),
        }
    }
    fn strs(&self) -> Vec<String> {
        self.list().iter().map(|v| v.str().to_string()).collect()
    }
    fn map(&self) -> BTreeMap<String, String> {
        match self {
            V::Map(pairs) => pairs
                .iter()
                .map(|(k, v)| (k.str().to_string(), v.str().to_string()))
                .collect(),
            other => panic!("not a map: {other:?}"),
        }
    }
}

struct Dec<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Dec<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let out = self.b.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(out)
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn value(&mut self, ty: u8) -> Option<V> {
        Some(match ty {
            2 => V::Bool(self.take(1)?[0] != 0),
            6 => V::I16(i16::from_be_bytes(self.take(2)?.try_into().ok()?)),
            8 => V::I32(self.i32()?),
            10 => V::I64(i64::from_be_bytes(self.take(8)?.try_into().ok()?)),
            11 => {
                let n = self.i32()? as usize;
                V::Str(String::from_utf8(self.take(n)?.to_vec()).ok()?)
            }
            12 => {
                let mut m = BTreeMap::new();
                loop {
                    let t = self.take(1)?[0];
                    if t == 0 {
                        break V::Struct(m);
                    }
                    let id = i16::from_be_bytes(self.take(2)?.try_into().ok()?);
                    m.insert(id, self.value(t)?);
                }
            }
            13 => {
                let (kt, vt) = (self.take(1)?[0], self.take(1)?[0]);
                let n = self.i32()?;
                let mut pairs = Vec::new();
                for _ in 0..n {
                    let k = self.value(kt)?;
                    pairs.push((k, self.value(vt)?));
                }
                V::Map(pairs)
            }
            14 | 15 => {
                let t = self.take(1)?[0];
                let n = self.i32()?;
                V::List((0..n).map(|_| self.value(t)).collect::<Option<_>>()?)
            }
            other => panic!("unexpected type {other}"),
        })
    }
}

#[derive(Debug)]
struct Reply {
    name: String,
    kind: u8,
    seqid: i32,
    body: V,
}

impl Reply {
    /// The one field set in a result struct: (slot, value).
    fn slot(&self) -> (i16, &V) {
        match &self.body {
            V::Struct(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().unwrap();
                (*k, v)
            }
            V::Struct(m) if m.is_empty() => (-1, &self.body),
            other => panic!("not a result struct: {other:?}"),
        }
    }
    fn ok(&self) -> &V {
        assert_eq!(self.kind, 2, "not a REPLY: {self:?}");
        let (slot, v) = self.slot();
        assert_eq!(slot, 0, "not a success: {self:?}");
        v
    }
    /// Asserts a Hive exception in `slot` and returns its message.
    fn exception(&self, slot: i16) -> String {
        assert_eq!(self.kind, 2, "not a REPLY: {self:?}");
        let (got, v) = self.slot();
        assert_eq!(got, slot, "exception in the wrong slot: {self:?}");
        v.at(&[1]).str().to_string()
    }
}

fn decode_reply(b: &[u8]) -> Option<(Reply, usize)> {
    let mut d = Dec { b, pos: 0 };
    let version = d.i32()? as u32;
    assert_eq!(version & 0xffff_0000, 0x8001_0000, "strict header");
    let n = d.i32()? as usize;
    let name = String::from_utf8(d.take(n)?.to_vec()).ok()?;
    let seqid = d.i32()?;
    let body = d.value(T_STRUCT)?;
    Some((
        Reply {
            name,
            kind: (version & 0xff) as u8,
            seqid,
            body,
        },
        d.pos,
    ))
}

struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    seqid: i32,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
            seqid: 0,
        }
    }

    async fn raw(&mut self, bytes: &[u8]) -> Reply {
        self.stream.write_all(bytes).await.expect("write");
        self.read().await
    }

    async fn read(&mut self) -> Reply {
        loop {
            if let Some((reply, used)) = decode_reply(&self.buf) {
                self.buf.drain(..used);
                return reply;
            }
            self.buf.reserve(64 * 1024);
            let n =
                tokio::time::timeout(Duration::from_secs(10), self.stream.read_buf(&mut self.buf))
                    .await
                    .expect("reply in time")
                    .expect("read");
            assert!(n > 0, "connection closed; buffered {:?}", self.buf);
        }
    }

    async fn call(&mut self, name: &str, args: &[Vec<u8>]) -> Reply {
        self.seqid += 1;
        let reply = self.raw(&call(name, self.seqid, args)).await;
        assert_eq!(reply.seqid, self.seqid);
        assert_eq!(reply.name, name);
        reply
    }

    /// True once the server has closed the connection (reads EOF or reset).
    async fn closed(&mut self) -> bool {
        let mut b = vec![0u8; 1024];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    async fn login(addr: SocketAddr, user: &str) -> Self {
        let mut c = Self::connect(addr).await;
        let r = c
            .call(
                "set_ugi",
                &[f(T_STRING, 1, s(user)), f(T_LIST, 2, strings(&[]))],
            )
            .await;
        assert_eq!(r.ok().strs(), vec![user.to_string()]);
        c
    }
}

// ---- the server under test ----

struct Fixture {
    addr: SocketAddr,
    store: Arc<SqliteStore>,
    catalog: Arc<CatalogService>,
    registry: Arc<Registry>,
    warehouse: std::path::PathBuf,
    dir: tempfile::TempDir,
}

fn tenant(account: &str) -> Tenant {
    Tenant {
        account: account.into(),
        region: "us-east-1".into(),
    }
}

impl Fixture {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("epoxy.db")).unwrap());
        let warehouse = dir.path().join("warehouse");
        let catalog = Arc::new(CatalogService::new(
            Arc::clone(&store) as _,
            warehouse.clone(),
            store.secret().unwrap(),
        ));
        let registry = Registry::new();
        let addr = serve(&catalog, &registry).await;
        Self {
            addr,
            store,
            catalog,
            registry,
            warehouse,
            dir,
        }
    }

    fn driver(&self, account: Option<&str>) -> DriverCredential {
        let credential = self.registry.issue();
        if let Some(a) = account {
            credential.bind(&tenant(a));
        }
        credential
    }

    /// A bound driver's connection, after the handshake.
    async fn client(&self, credential: &DriverCredential) -> Client {
        Client::login(self.addr, credential.user_name()).await
    }
}

/// A metastore on `catalog` answering for `registry`'s drivers (one node's).
async fn serve(catalog: &Arc<CatalogService>, registry: &Arc<Registry>) -> SocketAddr {
    let metastore = Metastore::new(Arc::clone(catalog), Arc::clone(registry));
    server::start("127.0.0.1:0".parse().unwrap(), Arc::new(metastore))
        .await
        .unwrap()
}

/// (database, name) args: get_table, get_function, drop_function…
fn object(db: &str, name: &str) -> Vec<Vec<u8>> {
    vec![f(T_STRING, 1, s(db)), f(T_STRING, 2, s(name))]
}

/// (database, table, max_parts = -1: all) args: get_partitions, get_partition_names.
fn all_parts(db: &str, table: &str) -> Vec<Vec<u8>> {
    [
        object(db, table),
        vec![f(T_I16, 3, (-1i16).to_be_bytes().to_vec())],
    ]
    .concat()
}

fn db_args(name: &str) -> Vec<Vec<u8>> {
    vec![f(T_STRING, 1, s(name))]
}

fn create_db(name: &str, location: Option<&str>) -> Vec<Vec<u8>> {
    let mut fields = vec![f(T_STRING, 1, s(name)), f(T_STRING, 2, s("d"))];
    if let Some(l) = location {
        fields.push(f(T_STRING, 3, s(l)));
    }
    fields.push(f(T_MAP, 4, string_map(&[])));
    vec![f(T_STRUCT, 1, st(&fields))]
}

/// A Spark-like data-source table: no location (managed), parquet serde, partitioned by `p`.
fn spark_table(db: &str, name: &str, partitioned: bool) -> Vec<u8> {
    let cols = list_of(T_STRUCT, &[st(&object("id", "bigint"))]);
    let serde = st(&[
        f(
            T_STRING,
            2,
            s("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"),
        ),
        f(T_MAP, 3, string_map(&[("serialization.format", "1")])),
    ]);
    let sd = st(&[
        f(T_LIST, 1, cols),
        f(
            T_STRING,
            3,
            s("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"),
        ),
        f(T_BOOL, 5, vec![0]),
        f(T_I32, 6, be32(-1)),
        f(T_STRUCT, 7, serde),
    ]);
    let keys: Vec<Vec<u8>> = if partitioned {
        vec![st(&object("p", "string"))]
    } else {
        vec![]
    };
    st(&[
        f(T_STRING, 1, s(name)),
        f(T_STRING, 2, s(db)),
        f(T_STRING, 3, s("someone")),
        f(T_I32, 4, be32(1_700_000_000)),
        f(T_STRUCT, 7, sd),
        f(T_LIST, 8, list_of(T_STRUCT, &keys)),
        f(
            T_MAP,
            9,
            string_map(&[("spark.sql.sources.provider", "parquet")]),
        ),
        f(T_STRING, 12, s("MANAGED_TABLE")),
    ])
}

fn partition(db: &str, table: &str, value: &str, location: &str) -> Vec<u8> {
    st(&[
        f(T_LIST, 1, strings(&[value])),
        f(T_STRING, 2, s(db)),
        f(T_STRING, 3, s(table)),
        f(
            T_STRUCT,
            6,
            st(&[
                f(T_STRING, 2, s(location)),
                f(T_STRUCT, 7, st(&[f(T_MAP, 3, string_map(&[]))])),
            ]),
        ),
        f(T_MAP, 7, string_map(&[])),
    ])
}

fn local(uri: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(uri.strip_prefix("file:").expect("file: uri"))
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread")]
async fn recorded_bytes_of_the_handshake_and_errors() {
    let fx = Fixture::start().await;
    let driver = fx.driver(Some("111111111111"));
    let user = driver.user_name().to_string();
    let mut c = Client::connect(fx.addr).await;

    // set_ugi(user, ["g1"]) → REPLY { 0: list<string> [user, "g1"] }
    let request = [
        &[0x80, 0x01, 0x00, 0x01][..],
        &[0, 0, 0, 7],
        b"set_ugi",
        &[0, 0, 0, 1],
        &[T_STRING, 0, 1],
        &s(&user),
        &[T_LIST, 0, 2, T_STRING, 0, 0, 0, 1, 0, 0, 0, 2],
        b"g1",
        &[0],
    ]
    .concat();
    c.stream.write_all(&request).await.unwrap();
    let expected = [
        &[0x80, 0x01, 0x00, 0x02][..],
        &[0, 0, 0, 7],
        b"set_ugi",
        &[0, 0, 0, 1],
        &[T_LIST, 0, 0, T_STRING, 0, 0, 0, 2],
        &s(&user),
        &[0, 0, 0, 2],
        b"g1",
        &[0],
    ]
    .concat();
    let mut got = vec![0u8; expected.len()];
    c.stream.read_exact(&mut got).await.unwrap();
    assert_eq!(got, expected);

    // get_database("nope") → REPLY { 1: NoSuchObjectException { 1: message } }
    let request = [
        &[0x80, 0x01, 0x00, 0x01][..],
        &[0, 0, 0, 12],
        b"get_database",
        &[0, 0, 0, 2],
        &[T_STRING, 0, 1, 0, 0, 0, 4],
        b"nope",
        &[0],
    ]
    .concat();
    let reply = c.raw(&request).await;
    assert_eq!((reply.kind, reply.seqid), (2, 2));
    assert_eq!(reply.exception(1), "Database nope not found.");

    // get_database("default") exists for every bound tenant, under its own warehouse.
    let reply = c.call("get_database", &db_args("DEFAULT")).await;
    let db = reply.ok();
    assert_eq!(db.at(&[1]).str(), "default");
    let location = db.at(&[3]).str();
    assert!(
        local(location).starts_with(fx.warehouse.join("111111111111")),
        "{location}"
    );
    assert!(db.at(&[4]).map().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn exceptions_go_in_each_methods_declared_slot() {
    let fx = Fixture::start().await;
    let driver = fx.driver(Some("111111111111"));
    let mut c = fx.client(&driver).await;
    assert_eq!(
        c.call("create_database", &create_db("d1", None))
            .await
            .slot()
            .0,
        -1
    );

    // get_table: {1 Meta, 2 NoSuchObject}
    let r = c.call("get_table", &object("d1", "missing")).await;
    assert!(r.exception(2).contains("missing"));
    // create_database: {1 AlreadyExists, 2 InvalidObject, 3 Meta}
    let r = c.call("create_database", &create_db("D1", None)).await;
    assert!(r.exception(1).contains("already exists"));
    // create_table_with_environment_context: {1 AlreadyExists, 2 InvalidObject, 3 Meta, 4 NoSuchObject}
    let r = c
        .call(
            "create_table_with_environment_context",
            &[f(T_STRUCT, 1, spark_table("nodb", "t", false))],
        )
        .await;
    r.exception(4);
    let create = [f(T_STRUCT, 1, spark_table("d1", "t", false))];
    assert_eq!(c.call("create_table", &create).await.slot().0, -1);
    c.call("create_table", &create).await.exception(1);
    // drop_database non-empty: {1 NoSuchObject, 2 InvalidOperation, 3 Meta}
    let r = c
        .call(
            "drop_database",
            &[
                f(T_STRING, 1, s("d1")),
                f(T_BOOL, 2, vec![1]),
                f(T_BOOL, 3, vec![0]),
            ],
        )
        .await;
    assert!(r.exception(2).contains("Database d1 is not empty"));
    // drop_table_with_environment_context missing: {1 NoSuchObject, 2 Meta}
    let r = c
        .call(
            "drop_table_with_environment_context",
            &[
                f(T_STRING, 1, s("d1")),
                f(T_STRING, 2, s("gone")),
                f(T_BOOL, 3, vec![1]),
            ],
        )
        .await;
    r.exception(1);
    // alter_table_with_environment_context rename: {1 InvalidOperation, 2 Meta}
    let r = c
        .call(
            "alter_table_with_environment_context",
            &[
                f(T_STRING, 1, s("d1")),
                f(T_STRING, 2, s("t")),
                f(T_STRUCT, 3, spark_table("d1", "t2", false)),
            ],
        )
        .await;
    assert_eq!(r.exception(1), "Table rename is not supported");
    // get_function missing: {1 Meta, 2 NoSuchObject} with Hive's text, which Spark matches.
    let r = c.call("get_function", &object("d1", "myUdf")).await;
    assert_eq!(r.exception(2), "Function d1.myudf does not exist");
    // get_partitions of a missing table: {1 NoSuchObject, 2 Meta}
    let r = c.call("get_partitions", &all_parts("d1", "nope")).await;
    r.exception(1);
    // get_partition_names of a missing table: {1 Meta}
    let r = c
        .call("get_partition_names", &all_parts("d1", "nope"))
        .await;
    r.exception(1);
    // add_partitions_req on a missing table: {1 InvalidObject, 2 AlreadyExists, 3 Meta}
    let req = st(&[
        f(T_STRING, 1, s("d1")),
        f(T_STRING, 2, s("nope")),
        f(T_LIST, 3, list_of(T_STRUCT, &[])),
        f(T_BOOL, 4, vec![1]),
        f(T_BOOL, 5, vec![1]),
    ]);
    c.call("add_partitions_req", &[f(T_STRUCT, 1, req)])
        .await
        .exception(1);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_methods_and_oneway_shutdown_leave_the_connection_usable() {
    let fx = Fixture::start().await;
    let driver = fx.driver(Some("111111111111"));
    let mut c = fx.client(&driver).await;
    // An unknown method with nested args: TApplicationException UNKNOWN_METHOD (type 1).
    let r = c
        .call(
            "get_not_a_method",
            &[
                f(T_STRING, 1, s("x")),
                f(T_STRUCT, 2, st(&[f(T_LIST, 1, strings(&["a", "b"]))])),
            ],
        )
        .await;
    assert_eq!(r.kind, 3);
    assert_eq!(r.body.at(&[2]), &V::I32(1));
    assert!(r.body.at(&[1]).str().contains("get_not_a_method"));
    // shutdown is oneway (message type 4): no reply, the connection goes on.
    c.stream
        .write_all(
            &[
                &[0x80, 0x01, 0x00, 0x04][..],
                &s("shutdown"),
                &be32(99),
                &[0],
            ]
            .concat(),
        )
        .await
        .unwrap();
    let r = c.call("get_all_databases", &[]).await;
    assert_eq!(r.ok().strs(), vec!["default".to_string()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_frames_close_only_their_connection() {
    let fx = Fixture::start().await;
    let driver = fx.driver(Some("111111111111"));
    let mut good = fx.client(&driver).await;
    good.call("create_database", &create_db("keep", None)).await;

    let header = |name: &str| [vec![0x80, 0x01, 0x00, 0x01], s(name), be32(1)].concat();
    let hostile: Vec<Vec<u8>> = vec![
        // A 2 GiB string.
        [
            header("create_database"),
            vec![T_STRING, 0, 1, 0x7f, 0xff, 0xff, 0xff],
        ]
        .concat(),
        // A list claiming 2^31-1 elements.
        [
            header("get_partitions_by_names"),
            vec![T_LIST, 0, 3, T_STRING, 0x7f, 0xff, 0xff, 0xff],
        ]
        .concat(),
        // Negative map size.
        [
            header("create_database"),
            vec![T_MAP, 0, 4, T_STRING, T_STRING, 0xff, 0xff, 0xff, 0xfe],
        ]
        .concat(),
        // Nesting 1000 structs deep.
        [header("create_database"), [T_STRUCT, 0, 1].repeat(1000)].concat(),
        // An unknown field type.
        [header("create_database"), vec![0x42, 0, 1]].concat(),
        // Not Thrift at all.
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        // A method name longer than any method.
        [vec![0x80, 0x01, 0x00, 0x01], be32(1 << 20)].concat(),
    ];
    for bytes in hostile {
        let mut bad = Client::login(fx.addr, driver.user_name()).await;
        bad.stream.write_all(&bytes).await.unwrap();
        assert!(
            bad.closed().await,
            "server kept a connection after {bytes:?}"
        );
    }
    // Truncated: half a message, then the peer goes away.
    let mut bad = Client::login(fx.addr, driver.user_name()).await;
    let full = call("create_database", 5, &create_db("half", None));
    bad.stream.write_all(&full[..full.len() / 2]).await.unwrap();
    drop(bad);

    // Arguments of the wrong shape inside a sound frame: a protocol error reply, and the
    // connection goes on.
    let r = good
        .call(
            "get_database",
            &[f(T_STRING, 1, vec![0, 0, 0, 2, 0xff, 0xfe])],
        )
        .await;
    assert_eq!((r.kind, r.body.at(&[2])), (3, &V::I32(7)));
    let names = good.call("get_all_databases", &[]).await.ok().strs();
    assert_eq!(names, vec!["default".to_string(), "keep".to_string()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn five_hundred_idle_connections_at_once() {
    let fx = Fixture::start().await;
    let driver = fx.driver(Some("111111111111"));
    let mut clients = Vec::new();
    for _ in 0..500 {
        clients.push(fx.client(&driver).await);
    }
    // All idle; a new connection is served at once.
    let started = std::time::Instant::now();
    let mut fresh = fx.client(&driver).await;
    fresh.call("get_all_databases", &[]).await.ok();
    assert!(started.elapsed() < Duration::from_secs(2));
    // And every idle one still answers.
    for c in &mut clients {
        assert_eq!(
            c.call("get_databases", &[f(T_STRING, 1, s("*"))])
                .await
                .ok()
                .strs(),
            vec!["default".to_string()]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_see_only_their_sessions_catalog() {
    let fx = Fixture::start().await;
    let a = fx.driver(Some("111111111111"));
    let b = fx.driver(Some("222222222222"));
    let mut ca = fx.client(&a).await;
    let mut cb = fx.client(&b).await;
    ca.call("create_database", &create_db("only_a", None)).await;
    assert_eq!(
        ca.call("get_all_databases", &[]).await.ok().strs(),
        vec!["default", "only_a"]
    );
    assert_eq!(
        cb.call("get_all_databases", &[]).await.ok().strs(),
        vec!["default"]
    );
    cb.call("get_database", &db_args("only_a"))
        .await
        .exception(1);

    // A warm-pool driver not yet taken: an empty catalog with `default`, read-only.
    let pool = fx.driver(None);
    let mut cp = fx.client(&pool).await;
    assert_eq!(
        cp.call("get_all_databases", &[]).await.ok().strs(),
        vec!["default"]
    );
    let db = cp.call("get_database", &db_args("default")).await;
    assert!(db.ok().at(&[3]).str().contains("unbound-warehouse"));
    assert!(
        cp.call("create_database", &create_db("x", None))
            .await
            .exception(3)
            .contains("not bound")
    );
    // Once a session takes it, the same open connection is that session's.
    pool.bind(&tenant("111111111111"));
    assert_eq!(
        cp.call("get_all_databases", &[]).await.ok().strs(),
        vec!["default", "only_a"]
    );
    // Revoked credentials (the driver is gone) and made-up ones get nothing.
    drop(pool);
    cp.call("get_all_databases", &[]).await.exception(1);
    let mut guess = Client::login(fx.addr, "epoxy-00000000000000000000000000000000").await;
    assert!(
        guess
            .call("get_all_databases", &[])
            .await
            .exception(1)
            .contains("not an epoxy driver")
    );
    let mut anonymous = Client::connect(fx.addr).await;
    anonymous
        .call("get_table", &object("only_a", "t"))
        .await
        .exception(1);
    // Through the Glue side too: account B's catalog holds only its own `default`.
    let page = fx
        .catalog
        .get_databases(&tenant("222222222222"), PageRequest::all())
        .await
        .unwrap();
    let names: Vec<String> = page.items.into_iter().map(|d| d.name).collect();
    assert_eq!(names, vec!["default"]);
}

/// Two nodes' metastores on one store: B serves a driver A started. Its unbound credential is
/// known by the store's signature (read-only, empty catalog); once the driver's session is live
/// in the store B binds it to that session's tenant; once the session ended, it is unbound again
/// (after B's few seconds of trust).
#[tokio::test(flavor = "multi_thread")]
async fn another_nodes_driver_is_served_as_the_store_has_it() {
    use epoxy::sessions::model::{SessionSpec, SessionStatus};
    use epoxy::store::{DriverRecord, NewSession};
    let fx = Fixture::start().await;
    let (store, catalog) = (&fx.store, &fx.catalog);
    let a = Registry::shared(Arc::clone(store) as _).unwrap();
    let b = Registry::shared(Arc::clone(store) as _).unwrap();
    let (_at_a, at_b) = (serve(catalog, &a).await, serve(catalog, &b).await);
    let alice = tenant("111111111111");
    catalog
        .create_database(
            &alice,
            glue::DatabaseInput {
                name: "sales".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let driver = a.issue();
    driver.bind(&alice);
    let mut c = Client::login(at_b, driver.user_name()).await;
    let dbs = || async { Client::login(at_b, driver.user_name()).await };
    assert_eq!(
        c.call("get_all_databases", &[]).await.ok().strs(),
        vec!["default"],
        "not yet in the store: a signed pool credential, unbound"
    );
    assert!(
        c.call("create_database", &create_db("x", None))
            .await
            .exception(3)
            .contains("not bound")
    );

    let spec: SessionSpec = serde_json::from_str(
        r#"{"Role": "arn:aws:iam::123456789012:role/Glue", "Command": {"Name": "glueetl"},
            "IdleTimeout": 5, "MaxCapacity": 5.0, "GlueVersion": "5.0", "SessionType": "LIVY"}"#,
    )
    .unwrap();
    let session = store
        .insert_session(NewSession {
            tenant: &alice,
            id: "s1",
            spec: &spec,
            timeout: 10,
            tags: &BTreeMap::new(),
            created_ms: 1,
            owner: Some("a"),
            live_limit: None,
        })
        .unwrap();
    store
        .transition(session.key, SessionStatus::Ready, None, 2)
        .unwrap();
    let record = DriverRecord {
        pid: 7,
        start_ticks: 7,
        socket: fx.dir.path().join("7.sock"),
        secret: "ab".repeat(32),
        token: "t".into(),
        spark_ui_port: None,
        metastore_user: Some(driver.user_name().into()),
        tcp: None,
        host: "h/a".into(),
    };
    store
        .set_driver_record(session.key, Some(&record), 3)
        .unwrap();
    assert_eq!(
        c.call("get_all_databases", &[]).await.ok().strs(),
        vec!["default", "sales"],
        "the same open connection, now the session's"
    );
    let spark_default = "file:/epoxy-unbound-warehouse/made_at_b.db";
    let made = c
        .call(
            "create_database",
            &create_db("made_at_b", Some(spark_default)),
        )
        .await;
    assert_eq!(made.kind, 2, "{made:?}");
    let made = catalog.get_database(&alice, "made_at_b").await.unwrap();
    let location = made.location_uri.unwrap_or_default();
    assert!(
        location.ends_with("/warehouse/111111111111/made_at_b.db"),
        "Spark's unbound default became the tenant's: {location}"
    );

    store
        .transition(session.key, SessionStatus::Stopping, None, 4)
        .unwrap();
    store
        .transition(session.key, SessionStatus::Stopped, None, 5)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5_300)).await;
    assert_eq!(
        dbs().await.call("get_all_databases", &[]).await.ok().strs(),
        vec!["default"],
        "an ended session's driver keeps no catalog at another node"
    );
    // A made-up credential gets nothing at either node.
    let mut guess = Client::login(at_b, "epoxy-0123abcd-00-00").await;
    guess.call("get_all_databases", &[]).await.exception(1);
}

#[tokio::test(flavor = "multi_thread")]
async fn hive_semantics_spark_relies_on() {
    let fx = Fixture::start().await;
    let driver = fx.driver(Some("111111111111"));
    let user = driver.user_name().to_string();
    let mut c = fx.client(&driver).await;
    c.call("create_database", &create_db("Sales", None)).await;
    let db = c.call("get_database", &db_args("sales")).await;
    let db_location = db.ok().at(&[3]).str().to_string();
    assert!(local(&db_location).is_dir(), "database directory made");

    // A managed table without a location lands at <db location>/<table>, lower-cased.
    let mut table = spark_table("sales", "Orders", true);
    // The owner Spark sends is the driver's credential: it must not be stored.
    let owner = s("someone");
    let pos = table.windows(owner.len()).position(|w| w == owner).unwrap();
    table.splice(pos..pos + owner.len(), s(&user));
    c.call(
        "create_table_with_environment_context",
        &[f(T_STRUCT, 1, table)],
    )
    .await;
    let t = c.call("get_table", &object("SALES", "orders")).await;
    let t = t.ok().clone();
    assert_eq!(t.at(&[1]).str(), "orders");
    let location = t.at(&[7, 2]).str().to_string();
    assert_eq!(location, format!("{db_location}/orders"));
    assert!(local(&location).is_dir());
    assert_eq!(t.at(&[3]).str(), "", "credential not kept as owner");
    let params = t.at(&[9]).map();
    assert_eq!(params["spark.sql.sources.provider"], "parquet");
    assert!(params.contains_key("transient_lastDdlTime"));
    assert!(!params.contains_key("numFiles") && !params.contains_key("totalSize"));

    // Partitions: names escaped like Hive, null values as __HIVE_DEFAULT_PARTITION__.
    let parts = [
        partition("sales", "orders", "a/b", &format!("{location}/p=a%2Fb")),
        partition("sales", "orders", "x", &format!("{location}/p=x")),
        partition(
            "sales",
            "orders",
            "",
            &format!("{location}/p=__HIVE_DEFAULT_PARTITION__"),
        ),
    ];
    let req = st(&[
        f(T_STRING, 1, s("sales")),
        f(T_STRING, 2, s("orders")),
        f(T_LIST, 3, list_of(T_STRUCT, &parts)),
        f(T_BOOL, 4, vec![0]),
        f(T_BOOL, 5, vec![1]),
    ]);
    let added = c
        .call("add_partitions_req", &[f(T_STRUCT, 1, req.clone())])
        .await;
    assert_eq!(added.ok().at(&[1]).list().len(), 3);
    // All or nothing: adding them again without ifNotExists is AlreadyExists, slot 2.
    c.call("add_partitions_req", &[f(T_STRUCT, 1, req)])
        .await
        .exception(2);
    let names = c
        .call("get_partition_names", &all_parts("sales", "orders"))
        .await;
    let mut names = names.ok().strs();
    names.sort();
    assert_eq!(
        names,
        vec!["p=__HIVE_DEFAULT_PARTITION__", "p=a%2Fb", "p=x"]
    );
    let by_name = c
        .call(
            "get_partitions_by_names",
            &[
                f(T_STRING, 1, s("sales")),
                f(T_STRING, 2, s("orders")),
                f(T_LIST, 3, strings(&["p=a%2Fb"])),
            ],
        )
        .await;
    assert_eq!(by_name.ok().list()[0].at(&[1]).strs(), vec!["a/b"]);
    // Spark's pushed-down filter.
    let filtered = c
        .call(
            "get_partitions_by_filter",
            &[
                f(T_STRING, 1, s("sales")),
                f(T_STRING, 2, s("orders")),
                f(T_STRING, 3, s("p = \"x\"")),
                f(T_I16, 3 + 1, vec![0xff, 0xff]),
            ],
        )
        .await;
    let filtered = filtered.ok().list().to_vec();
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0].at(&[6, 2]).str(), format!("{location}/p=x"));
    // Partial spec with the "" wildcard.
    let ps = c
        .call(
            "get_partitions_ps_with_auth",
            &[
                f(T_STRING, 1, s("sales")),
                f(T_STRING, 2, s("orders")),
                f(T_LIST, 3, strings(&[""])),
                f(T_I16, 4, vec![0xff, 0xff]),
                f(T_STRING, 5, s(&user)),
                f(T_LIST, 6, strings(&[])),
            ],
        )
        .await;
    assert_eq!(ps.ok().list().len(), 3);

    // HMS patterns: `*` and `|`, case-insensitive.
    for name in ["alpha", "beta", "gamma"] {
        c.call(
            "create_table",
            &[f(T_STRUCT, 1, spark_table("sales", name, false))],
        )
        .await;
    }
    let tables = c.call("get_tables", &object("sales", "AL*|b*")).await;
    assert_eq!(tables.ok().strs(), vec!["alpha", "beta"]);
    let all = c.call("get_tables", &object("sales", ".*")).await;
    assert_eq!(all.ok().strs().len(), 4);
    let dbs = c.call("get_databases", &[f(T_STRING, 1, s("s*"))]).await;
    assert_eq!(dbs.ok().strs(), vec!["sales"]);

    // A table made through the Glue API with no storage descriptor, type or parameters still
    // reads with everything Spark dereferences.
    fx.catalog
        .create_table(
            &tenant("111111111111"),
            "sales",
            glue::TableInput {
                name: "bare".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let bare = c.call("get_table", &object("sales", "bare")).await;
    let bare = bare.ok();
    assert_eq!(bare.at(&[12]).str(), "MANAGED_TABLE");
    assert!(bare.at(&[9]).map().is_empty());
    assert!(bare.at(&[7, 7, 3]).map().is_empty());
    assert!(bare.at(&[7, 10]).map().is_empty());

    // Drop removes the managed directory, so the table can be made again.
    let drop = [
        f(T_STRING, 1, s("sales")),
        f(T_STRING, 2, s("orders")),
        f(T_BOOL, 3, vec![1]),
    ];
    assert_eq!(
        c.call("drop_table_with_environment_context", &drop)
            .await
            .slot()
            .0,
        -1
    );
    assert!(!local(&location).exists(), "table directory removed");
    c.call(
        "create_table",
        &[f(T_STRUCT, 1, spark_table("sales", "orders", true))],
    )
    .await;
    let names = c
        .call("get_partition_names", &all_parts("sales", "orders"))
        .await;
    assert!(
        names.ok().strs().is_empty(),
        "partitions went with the table"
    );
}
