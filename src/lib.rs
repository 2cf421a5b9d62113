//! epoxy: the AWS Glue Interactive Sessions API, self-hosted, with every session on a real PySpark
//! driver. Request flow, one layer knowing only the next: protocol → auth → api → sessions →
//! store / runtime.

pub mod api;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod console;
pub mod metastore;
pub mod metrics;
pub mod objects;
pub mod protocol;
pub mod runtime;
pub mod server;
pub mod sessions;
pub mod store;
