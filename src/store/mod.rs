//! Persistence behind a trait, so the embedded SQLite store can give way to a shared database
//! when several epoxy nodes serve one fleet. Calls are synchronous and short; the service runs
//! them off the async threads.

pub mod catalog;
pub mod nodes;
pub mod objects;
pub mod postgres;
pub mod sqlite;

use crate::sessions::model::{
    Session, SessionSpec, SessionStatus, Statement, StatementOutput, StatementState, Tenant,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Everything epoxy keeps, behind one handle: what `serve` wires into every layer.
pub trait Store: SessionStore + catalog::CatalogStore + objects::ObjectStore {}

impl<T: SessionStore + catalog::CatalogStore + objects::ObjectStore> Store for T {}

/// Opens the store `url` names (`--store`): PostgreSQL for `postgres://…` or
/// `postgresql://…`, or, without one, the embedded SQLite file in `data_dir`.
pub fn open(url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    match url {
        None => Ok(Arc::new(sqlite::SqliteStore::open(&data_dir.join("epoxy.db"))?)),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(postgres::PostgresStore::open(url)?))
        }
        Some(_) => Err(StoreError::Url(
            "--store takes a postgres:// or postgresql:// URL (leave it out for SQLite in the data dir)"
                .into(),
        )),
    }
}

/// The message a timed-out session carries: its Timeout ran out (`expired`), or it sat idle.
pub(crate) fn timeout_reason(expired: bool, timeout_min: i64, idle_timeout_min: i64) -> String {
    if expired {
        format!("Session timed out after its Timeout of {timeout_min} minutes")
    } else {
        format!(
            "Session timed out after {idle_timeout_min} minutes without a statement (IdleTimeout)"
        )
    }
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a session with this id already exists")]
    Duplicate,
    #[error("the session would have more than {0} tags")]
    TooManyTags(usize),
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("PostgreSQL error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("cannot reach PostgreSQL: {0}")]
    Unavailable(String),
    #[error("invalid store URL: {0}")]
    Url(String),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("this node no longer holds the session (another node took it over)")]
    Fenced,
}

/// A session to insert, with its tags, in one transaction.
pub struct NewSession<'a> {
    pub tenant: &'a Tenant,
    pub id: &'a str,
    pub spec: &'a SessionSpec,
    /// Minutes from READY until TIMEOUT.
    pub timeout: u32,
    pub tags: &'a BTreeMap<String, String>,
    pub created_ms: i64,
    /// The node that is to run its driver (its first hold has epoch 1); `None` for a record
    /// no driver will take (control plane only).
    pub owner: Option<&'a str>,
}

/// One page of ListSessions: the tenant's sessions carrying every tag in `tags`, after the
/// `(created_ms, id)` position `after`, in that order.
pub struct PageQuery<'a> {
    pub tenant: &'a Tenant,
    pub tags: &'a BTreeMap<String, String>,
    pub after: Option<(i64, &'a str)>,
    pub limit: usize,
}

/// How a statement moves on.
#[derive(Clone, Copy)]
pub enum StatementUpdate<'a> {
    Running {
        at_ms: i64,
    },
    Progress(f64),
    Cancelling,
    Finished {
        state: StatementState,
        output: &'a StatementOutput,
        at_ms: i64,
    },
}

/// Sessions of one account in one status, and their DPU-seconds so far (for metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub account: String,
    pub status: String,
    pub sessions: u64,
    pub dpu_seconds: f64,
}

/// The most tags one session may carry (Glue's limit per resource).
pub const MAX_TAGS: usize = 50;

/// What re-attaching to a session's detached driver needs after a restart of epoxy.
#[derive(Clone, PartialEq, Eq)]
pub struct DriverRecord {
    pub pid: u32,
    /// The process's start time (`/proc/<pid>/stat` field 22): a reused pid does not match.
    pub start_ticks: u64,
    /// The Unix socket the driver listens on.
    pub socket: std::path::PathBuf,
    /// The channel's HMAC key (hex).
    pub secret: String,
    /// `EPOXY_DRIVER_TOKEN` of the driver's processes.
    pub token: String,
    pub spark_ui_port: Option<u16>,
    /// The driver's metastore credential (its `HADOOP_USER_NAME`).
    pub metastore_user: Option<String>,
    /// `host:port` of the driver's TCP listener (`--driver-listen`), for nodes on other hosts.
    pub tcp: Option<String>,
    /// The machine the driver runs on (`runtime::driver::this_host`): pid and socket mean
    /// something only there. Empty in records from before hosts were recorded (this host's).
    pub host: String,
}

/// Never prints the secret.
impl std::fmt::Debug for DriverRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverRecord")
            .field("pid", &self.pid)
            .field("start_ticks", &self.start_ticks)
            .field("socket", &self.socket)
            .field("secret", &"<redacted>")
            .field("token", &self.token)
            .field("spark_ui_port", &self.spark_ui_port)
            .field("metastore_user", &self.metastore_user)
            .field("tcp", &self.tcp)
            .field("host", &self.host)
            .finish()
    }
}

/// A credential minted for a session's driver, to store.
pub struct NewSessionCredential<'a> {
    pub session_key: i64,
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub token_sha256: &'a [u8; 32],
    pub arn: &'a str,
    pub user_id: &'a str,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// A stored session credential with its session's tenancy: what the SigV4 verifier needs.
#[derive(Clone)]
pub struct SessionCredential {
    pub tenant: Tenant,
    pub session_id: String,
    pub secret: String,
    pub token_sha256: Vec<u8>,
    pub arn: String,
    pub user_id: String,
    pub expires_ms: i64,
    /// Set when the session stopped or failed; deleting the session deletes the row.
    pub revoked_ms: Option<i64>,
}

/// Never prints the secret, so no `{:?}` can leak it into a log.
impl std::fmt::Debug for SessionCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCredential")
            .field("tenant", &self.tenant)
            .field("session_id", &self.session_id)
            .field("secret", &"<redacted>")
            .field("arn", &self.arn)
            .field("user_id", &self.user_id)
            .field("expires_ms", &self.expires_ms)
            .field("revoked_ms", &self.revoked_ms)
            .finish()
    }
}

/// Credentials minted for sessions' drivers: the verifier's second source of keys, beside the
/// accounts file. A session's end revokes (or, at TIMEOUT, expires) them in the same write.
pub trait CredentialStore: Send + Sync + 'static {
    /// Stores `new` if its session is still live (PROVISIONING, READY, STOPPING), checked in the
    /// same statement; false, storing nothing, once the session has ended.
    fn insert_session_credential(&self, new: NewSessionCredential<'_>) -> Result<bool, StoreError>;
    fn session_credential(
        &self,
        access_key_id: &str,
    ) -> Result<Option<SessionCredential>, StoreError>;
    /// Revokes every credential not yet revoked (at start: no driver outlives the server that
    /// minted its key); how many.
    fn revoke_all_session_credentials(&self, at_ms: i64) -> Result<usize, StoreError>;
}

pub trait SessionStore: CredentialStore + nodes::NodeStore {
    fn insert_session(&self, new: NewSession<'_>) -> Result<Session, StoreError>;
    fn session(&self, tenant: &Tenant, id: &str) -> Result<Option<Session>, StoreError>;
    fn session_by_key(&self, key: i64) -> Result<Option<Session>, StoreError>;
    fn list_sessions(&self, query: PageQuery<'_>) -> Result<Vec<Session>, StoreError>;
    /// Moves the session to `to` if its current status may become `to`; `None` if it may not.
    /// READY stamps `ready_ms`; terminal states stamp `completed_ms`.
    fn transition(
        &self,
        key: i64,
        to: SessionStatus,
        error_message: Option<&str>,
        at_ms: i64,
    ) -> Result<Option<Session>, StoreError>;
    fn delete_session(&self, key: i64) -> Result<(), StoreError>;
    fn touch(&self, key: i64, at_ms: i64) -> Result<(), StoreError>;
    /// Records (`Some`) or forgets (`None`) how to re-attach to the session's driver; a record
    /// for a session that no longer exists is not stored.
    fn set_driver_record(
        &self,
        key: i64,
        record: Option<&DriverRecord>,
        at_ms: i64,
    ) -> Result<(), StoreError>;
    fn driver_record(&self, key: i64) -> Result<Option<DriverRecord>, StoreError>;
    /// PROVISIONING, READY and STOPPING sessions.
    fn live_sessions(&self) -> Result<Vec<Session>, StoreError>;
    /// READY sessions idle for `idle_timeout` minutes (no statement pending) or older than
    /// `timeout` minutes, with the reason.
    fn timed_out(&self, now_ms: i64, minute_ms: i64) -> Result<Vec<(i64, String)>, StoreError>;

    fn tags(&self, key: i64) -> Result<BTreeMap<String, String>, StoreError>;
    fn add_tags(&self, key: i64, tags: &BTreeMap<String, String>) -> Result<(), StoreError>;
    fn remove_tags(&self, key: i64, keys: &[String]) -> Result<(), StoreError>;

    /// Appends a WAITING statement and returns its id (0, 1, … per session), only while the
    /// session is READY (checked in the same transaction); `None` otherwise.
    fn insert_statement(&self, key: i64, code: &str) -> Result<Option<i64>, StoreError>;
    fn statement(&self, key: i64, id: i64) -> Result<Option<Statement>, StoreError>;
    fn statements(
        &self,
        key: i64,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Statement>, StoreError>;
    /// The oldest WAITING statement, which runs next.
    fn next_waiting(&self, key: i64) -> Result<Option<Statement>, StoreError>;
    /// Applies `update` if the statement is in one of `from`; false otherwise.
    fn update_statement(
        &self,
        key: i64,
        id: i64,
        from: &[StatementState],
        update: StatementUpdate<'_>,
    ) -> Result<bool, StoreError>;
    /// Ends every unfinished statement of a session that lost its driver.
    fn finish_pending_statements(
        &self,
        key: i64,
        state: StatementState,
        output: &StatementOutput,
        at_ms: i64,
    ) -> Result<(), StoreError>;

    /// Counts and DPU-seconds (as [`Session::dpu_seconds`] bills them) per account and status.
    fn usage(&self, now_ms: i64) -> Result<Vec<UsageRow>, StoreError>;

    /// A persistent random key for signing tokens, made on first use.
    fn secret(&self) -> Result<Vec<u8>, StoreError>;
}
