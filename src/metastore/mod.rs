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
use std::path::Path;
use std::sync::Arc;

/// What the runtime needs to point a driver at the metastore.
#[derive(Debug, Clone)]
pub struct DriverAttachment {
    pub registry: Arc<Registry>,
    pub addr: SocketAddr,
    /// The warehouse URI drivers start with; the metastore replaces locations under it by the
    /// tenant's (see `Metastore::own_location`).
    pub unbound_warehouse: String,
}

/// The environment variable the Hive client takes its user name (our credential) from.
pub const USER_VAR: &str = "HADOOP_USER_NAME";

impl DriverAttachment {
    /// The placeholder warehouse for drivers whose tenant is not known when they start.
    pub fn unbound_warehouse(data_dir: &Path) -> String {
        format!(
            "file:{}",
            data_dir
                .join("metastore")
                .join("unbound-warehouse")
                .display()
        )
    }

    /// The Spark settings that make a driver's catalog this metastore (and never a local
    /// Derby one).
    pub fn spark_conf(&self) -> BTreeMap<String, String> {
        BTreeMap::from(
            [
                ("spark.sql.catalogImplementation", "hive".to_string()),
                (
                    "spark.hadoop.hive.metastore.uris",
                    format!("thrift://{}", self.addr),
                ),
                ("spark.sql.warehouse.dir", self.unbound_warehouse.clone()),
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
