//! Hive Metastore RPC latency on a catalog of 10,000 tables: `get_table` p50/p99 measured
//! server-side (decode → catalog service → SQLite → encode, through `Metastore::call`) and
//! client-side (a round trip over the loopback Thrift port, one connection as a driver uses
//! it, then 8 at once). Run: `cargo bench --bench metastore` (EPOXY_BENCH_TABLES to resize).

use epoxy::catalog::CatalogService;
use epoxy::catalog::model::{Column, DatabaseInput, SerDeInfo, StorageDescriptor, TableInput};
use epoxy::metastore::codec::{LIMITS, Reader, Scan, Scanner, Writer};
use epoxy::metastore::rpc::Connection;
use epoxy::metastore::{Metastore, Registry, server};
use epoxy::sessions::model::Tenant;
use epoxy::store::SessionStore;
use epoxy::store::sqlite::SqliteStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CALLS: usize = 20_000;

/// A table shaped like one Spark writes: columns, parquet serde, the schema parameters.
fn table(i: usize) -> TableInput {
    let columns = (0..8)
        .map(|c| Column {
            name: format!("col_{c}"),
            r#type: Some(if c % 2 == 0 { "bigint" } else { "string" }.into()),
            ..Default::default()
        })
        .collect();
    TableInput {
        name: format!("table_{i:05}"),
        table_type: Some("EXTERNAL_TABLE".into()),
        parameters: Some(BTreeMap::from([
            ("EXTERNAL".into(), "TRUE".into()),
            ("spark.sql.sources.provider".into(), "parquet".into()),
            (
                "spark.sql.sources.schema".into(),
                "{\"type\":\"struct\",\"fields\":[]}".repeat(8),
            ),
        ])),
        storage_descriptor: Some(StorageDescriptor {
            columns: Some(columns),
            location: Some(format!("file:/data/bench/table_{i:05}")),
            input_format: Some(
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat".into(),
            ),
            output_format: Some(
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat".into(),
            ),
            serde_info: Some(SerDeInfo {
                serialization_library: Some(
                    "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe".into(),
                ),
                parameters: Some(BTreeMap::from([(
                    "path".into(),
                    format!("file:/data/bench/table_{i:05}"),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn request(name: &str, seqid: i32, strings: &[(i16, &str)]) -> Vec<u8> {
    let mut w = Writer::new();
    w.header(name, 1, seqid);
    for (id, v) in strings {
        w.field(11, *id);
        w.string(v);
    }
    w.stop();
    w.buf
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    format!(
        "p50 {:>7.1} µs   p99 {:>7.1} µs   max {:>8.1} µs   (n={})",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        samples.last().unwrap().as_secs_f64() * 1e6,
        samples.len()
    )
}

/// Sends `requests` one after another on a fresh connection; the round trip of each.
async fn client(addr: std::net::SocketAddr, user: String, requests: Vec<Vec<u8>>) -> Vec<Duration> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let hello = request("set_ugi", 0, &[(1, &user)]);
    stream.write_all(&hello).await.unwrap();
    let _ = stream.read(&mut buf).await.unwrap();
    let mut times = Vec::with_capacity(requests.len());
    for r in requests {
        let started = Instant::now();
        stream.write_all(&r).await.unwrap();
        let mut got = Vec::new();
        let mut scanner = Scanner::new();
        while scanner.scan(&got, &LIMITS).unwrap() == Scan::Incomplete {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed");
            got.extend_from_slice(&buf[..n]);
        }
        times.push(started.elapsed());
    }
    times
}

fn main() {
    let tables: usize = std::env::var("EPOXY_BENCH_TABLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("epoxy.db")).unwrap());
    let catalog = Arc::new(CatalogService::new(
        Arc::clone(&store) as _,
        dir.path().join("warehouse"),
        store.secret().unwrap(),
    ));
    let tenant = Tenant {
        account: "111111111111".into(),
        region: "us-east-1".into(),
    };
    let started = Instant::now();
    rt.block_on(async {
        for db in ["default", "bench"] {
            let input = DatabaseInput {
                name: db.into(),
                ..Default::default()
            };
            catalog.create_database(&tenant, input).await.unwrap();
        }
        for i in 0..tables {
            catalog
                .create_table(&tenant, "bench", table(i))
                .await
                .unwrap();
        }
    });
    println!(
        "store: {tables} tables created in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let registry = Registry::new();
    let credential = registry.issue();
    credential.bind(&tenant);
    let user = credential.user_name().to_string();
    let metastore = Arc::new(Metastore::new(Arc::clone(&catalog), Arc::clone(&registry)));
    let names: Vec<String> = (0..CALLS)
        .map(|i| format!("table_{:05}", (i * 7919) % tables))
        .collect();
    let requests = |base: i32| -> Vec<Vec<u8>> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| request("get_table", base + i as i32, &[(1, "bench"), (2, n)]))
            .collect()
    };

    // Server-side: the handler alone, as the accept loop calls it.
    let server_side = rt.block_on(async {
        let mut conn = Connection::default();
        let hello = request("set_ugi", 0, &[(1, &user)]);
        let mut r = Reader::new(&hello);
        let header = r.header().unwrap();
        metastore.call(&mut conn, &header, &mut r).await;
        let mut times = Vec::with_capacity(CALLS);
        let mut bytes = 0;
        for req in requests(1) {
            let started = Instant::now();
            let mut r = Reader::new(&req);
            let header = r.header().unwrap();
            let reply = metastore.call(&mut conn, &header, &mut r).await.unwrap();
            times.push(started.elapsed());
            bytes = reply.len();
        }
        println!("get_table reply: {bytes} bytes");
        times
    });
    println!(
        "get_table server-side          {}",
        percentiles(server_side)
    );

    let addr = rt
        .block_on(server::start(
            "127.0.0.1:0".parse().unwrap(),
            Arc::clone(&metastore),
        ))
        .unwrap();
    let one = rt.block_on(client(addr, user.clone(), requests(1)));
    println!("get_table client, 1 connection {}", percentiles(one));
    let eight = rt.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|k| {
                tokio::spawn(client(
                    addr,
                    user.clone(),
                    requests(k * CALLS as i32)[..CALLS / 8].to_vec(),
                ))
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    println!("get_table client, 8 at once    {}", percentiles(eight));
}
