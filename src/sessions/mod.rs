//! The service: sessions and statements with Glue's semantics, over a store and (optionally) a
//! driver runtime. It never sees HTTP; the api layer hands it validated, typed requests.

pub mod capacity;
pub mod credentials;
pub mod error;
pub mod model;
pub mod nodes;
pub mod service;
pub mod supervisor;
pub mod token;

pub use error::SessionError;
pub use service::{NewSessionRequest, ServiceConfig, SessionService};

/// Wall-clock milliseconds since the epoch: Glue's timestamps are all epoch based.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
