//! What can go wrong in the session service, in its own words; the api layer maps each variant
//! to a Glue wire error (`api::error`), so the service never knows about HTTP or error codes.

use crate::store::StoreError;

/// Why a session or statement operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The session, statement or resource does not exist in the caller's tenancy.
    #[error("{0}")]
    NotFound(String),
    /// A session with this id already exists in the caller's tenancy.
    #[error("Session {0} already exists")]
    AlreadyExists(String),
    /// The session or statement is in a state that does not allow the operation.
    #[error("{0}")]
    IllegalState(String),
    /// The session timed out; the Glue kernel offers a restart on exactly this error.
    #[error("Session {0} has timed out (TIMEOUT); create a new session")]
    TimedOut(String),
    /// The server already runs its maximum of live sessions.
    #[error(
        "This server runs at most {0} live sessions (--max-live-sessions); stop or delete one first"
    )]
    LimitExceeded(usize),
    /// A request the service itself refuses (forged paging token, too many tags).
    #[error("{0}")]
    InvalidInput(String),
    /// The server runs without a driver runtime, so nothing executes.
    #[error(
        "This epoxy server runs with --runtime none (control plane only) and executes no statements"
    )]
    NoRuntime,
    /// The store failed (disk, database, a corrupt record): a server fault.
    #[error("The request could not be completed: {0}")]
    Store(StoreError),
    /// A store call's worker task died.
    #[error("The request could not be completed: store task failed: {0}")]
    Task(String),
}

/// Store failures the caller caused become their own variants; the rest are server faults.
/// (`Duplicate` comes only from inserting a session, which names the id itself.)
impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TooManyTags(n) => {
                Self::InvalidInput(format!("A resource may carry at most {n} tags"))
            }
            other => {
                tracing::error!(error = %other, "store failure");
                Self::Store(other)
            }
        }
    }
}
