//! The Glue Data Catalog: databases, tables (with versions), partitions and user-defined
//! functions per (account, region). Two doors use it: the Glue JSON API and the loopback Hive
//! Metastore; neither sees the store, and this layer sees neither wire.

pub mod error;
pub mod expression;
pub mod model;
pub mod names;
pub mod service;
pub mod warehouse;

pub use error::{CatalogError, CatalogResult};
pub use service::{CatalogService, DropDatabase, Page, PageRequest, TableUpdate};
