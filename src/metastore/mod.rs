//! The Hive Metastore door to the catalog: a Thrift server on a loopback port that every
//! session's Spark driver uses as its metastore (Hive 2.3.9's client, as pyspark ships it:
//! unframed binary protocol, no SASL). It serves the RPCs Spark calls, in Hive's semantics,
//! over the same `CatalogService` the Glue API uses, and binds each driver's connection to its
//! session's tenant.

pub mod codec;
pub mod convert;
pub mod messages;
pub mod registry;
pub mod rpc;
pub mod server;

pub use registry::{DriverCredential, Registry};
pub use rpc::Metastore;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The warehouse drivers start with, the same on every node: the metastore replaces locations
/// under it by the tenant's (see `Metastore::own_location`), whichever node's driver sent them.
/// Nothing is ever written there.
pub const UNBOUND_WAREHOUSE: &str = "file:/epoxy-unbound-warehouse";

/// What the runtime needs to point a driver at the metastore.
#[derive(Debug, Clone)]
pub struct DriverAttachment {
    pub registry: Arc<Registry>,
    pub addr: SocketAddr,
    /// The other live nodes' metastores (`host:port`), kept current by the node's heartbeat:
    /// a driver lists them after this node's, so its catalog outlives this node.
    pub peers: Arc<Mutex<Vec<String>>>,
}

/// The environment variable the Hive client takes its user name (our credential) from.
pub const USER_VAR: &str = "HADOOP_USER_NAME";

impl DriverAttachment {
    pub fn new(registry: Arc<Registry>, addr: SocketAddr) -> Self {
        Self {
            registry,
            addr,
            peers: Arc::default(),
        }
    }

    /// This node's metastore and the others' (Hive picks one at random and moves on when it
    /// dies; every node's metastore serves every node's drivers).
    pub fn uris(&self) -> String {
        let own = self.addr.to_string();
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        std::iter::once(&own)
            .chain(peers.iter().filter(|p| **p != own))
            .map(|a| format!("thrift://{a}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The Spark settings that make a driver's catalog this metastore (and never a local
    /// Derby one).
    pub fn spark_conf(&self) -> BTreeMap<String, String> {
        BTreeMap::from(
            [
                ("spark.sql.catalogImplementation", "hive".to_string()),
                ("spark.hadoop.hive.metastore.uris", self.uris()),
                ("spark.sql.warehouse.dir", UNBOUND_WAREHOUSE.to_string()),
                // The credential is a random user name: there are no groups to look up.
                (
                    "spark.hadoop.hadoop.security.group.mapping",
                    "org.apache.hadoop.security.NullGroupsMapping".to_string(),
                ),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        )
    }
}
