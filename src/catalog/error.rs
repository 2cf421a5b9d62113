//! What a catalog call can fail with, in the catalog's own terms; each door (Glue JSON, Hive
//! Metastore Thrift) maps these to its wire errors.

use crate::store::StoreError;

/// Why a catalog operation did nothing.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The database, table, partition or function is not in the caller's catalog.
    #[error("{0}")]
    EntityNotFound(String),
    /// An object with this name (or these partition values) already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is well-formed but not acceptable (bad expression, rename, wrong arity…).
    #[error("{0}")]
    InvalidInput(String),
    /// An optimistic-concurrency check failed: the table changed since the caller read it.
    #[error("{0}")]
    ConcurrentModification(String),
    /// A non-cascading drop of a database that still holds tables or functions.
    #[error("{0}")]
    DatabaseNotEmpty(String),
    /// The caller may not use a storage place the operation needs (another account's
    /// warehouse bucket).
    #[error("{0}")]
    AccessDenied(String),
    /// The store failed (disk, database); a server fault, logged where it is mapped.
    #[error("catalog store: {0}")]
    Store(#[from] StoreError),
    /// A server fault outside the store (a catalog task that could not run).
    #[error("catalog: {0}")]
    Warehouse(String),
}

pub type CatalogResult<T> = Result<T, CatalogError>;
