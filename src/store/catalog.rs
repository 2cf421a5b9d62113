//! The catalog's part of the store: Glue objects kept as their wire JSON with the few columns
//! lookups and paging need. Names arrive lower-cased; every call is scoped to one tenant.

use super::StoreError;
use crate::catalog::model::{Database, Partition, Table, UserDefinedFunction};
use crate::sessions::model::Tenant;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What an insert found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    Done,
    /// The name (or partition values) is taken.
    Exists,
    /// The database (or table) to insert into does not exist.
    NoParent,
}

/// What a versioned table update found.
#[derive(Debug, Clone, PartialEq)]
pub enum TableWrite {
    /// Written as this version.
    Done(i64),
    NotFound,
    /// The stored version is not the one the caller expected; it is this one.
    Conflict(i64),
}

/// A table page row filter: keeps a table by its (lower-case) name.
pub type NameFilter<'a> = &'a (dyn Fn(&str) -> bool + Sync);
/// A partition page row filter: keeps a partition by its values.
pub type ValuesFilter<'a> = &'a (dyn Fn(&[String]) -> bool + Sync);

pub trait CatalogStore: Send + Sync + 'static {
    fn insert_database(&self, tenant: &Tenant, db: &Database) -> Result<Insert, StoreError>;
    fn database(&self, tenant: &Tenant, name: &str) -> Result<Option<Database>, StoreError>;
    /// Databases by name after `after`, at most `limit`.
    fn databases(
        &self,
        tenant: &Tenant,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Database>, StoreError>;
    /// Replaces the record of database `name` (which may be renamed to `db.name`); false if absent.
    fn replace_database(
        &self,
        tenant: &Tenant,
        name: &str,
        db: &Database,
    ) -> Result<bool, StoreError>;
    /// Removes the database with its tables, versions, partitions and functions; false if absent.
    fn delete_database(&self, tenant: &Tenant, name: &str) -> Result<bool, StoreError>;
    /// How many tables and functions the database holds.
    fn database_contents(&self, tenant: &Tenant, name: &str) -> Result<usize, StoreError>;

    /// Inserts version 1 of a table (its `VersionId` is set by the store).
    fn insert_table(&self, tenant: &Tenant, db: &str, table: &Table) -> Result<Insert, StoreError>;
    fn table(&self, tenant: &Tenant, db: &str, name: &str) -> Result<Option<Table>, StoreError>;
    /// Tables by name after `after` whose names `keep` accepts, at most `limit`.
    fn tables(
        &self,
        tenant: &Tenant,
        db: &str,
        after: Option<&str>,
        limit: usize,
        keep: NameFilter<'_>,
    ) -> Result<Vec<Table>, StoreError>;
    /// Writes the next version of a table if its current version is `expected` (when given).
    /// `archive` false replaces the current version in the history instead of adding one.
    fn update_table(
        &self,
        tenant: &Tenant,
        db: &str,
        table: &Table,
        expected: Option<i64>,
        archive: bool,
    ) -> Result<TableWrite, StoreError>;
    /// Removes a table with its versions and partitions, returning what it was.
    fn delete_table(
        &self,
        tenant: &Tenant,
        db: &str,
        name: &str,
    ) -> Result<Option<Table>, StoreError>;
    /// Stored versions, newest first, older than `before` (a version number), at most `limit`.
    fn table_versions(
        &self,
        tenant: &Tenant,
        db: &str,
        name: &str,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, Table)>, StoreError>;

    /// Inserts partitions in one transaction; per partition Done or Exists (NoParent for all if
    /// the table is missing).
    fn insert_partitions(
        &self,
        tenant: &Tenant,
        db: &str,
        table: &str,
        partitions: &[Partition],
    ) -> Result<Vec<Insert>, StoreError>;
    fn partition(
        &self,
        tenant: &Tenant,
        db: &str,
        table: &str,
        values: &[String],
    ) -> Result<Option<Partition>, StoreError>;
    /// Partitions in key order after the key `after`, those `keep` accepts, at most `limit`;
    /// with the key each was found under (for the next page).
    fn partitions(
        &self,
        tenant: &Tenant,
        db: &str,
        table: &str,
        after: Option<&str>,
        limit: usize,
        keep: ValuesFilter<'_>,
    ) -> Result<Vec<(String, Partition)>, StoreError>;
    /// Replaces the partition with `values` by `partition` (whose values may differ); false if
    /// absent. A clash with another partition's new values is `Err(Duplicate)`.
    fn replace_partition(
        &self,
        tenant: &Tenant,
        db: &str,
        table: &str,
        values: &[String],
        partition: &Partition,
    ) -> Result<bool, StoreError>;
    /// Removes partitions in one transaction, returning each one removed (None: absent).
    fn delete_partitions(
        &self,
        tenant: &Tenant,
        db: &str,
        table: &str,
        values: &[Vec<String>],
    ) -> Result<Vec<Option<Partition>>, StoreError>;

    fn insert_function(
        &self,
        tenant: &Tenant,
        db: &str,
        function: &UserDefinedFunction,
    ) -> Result<Insert, StoreError>;
    fn function(
        &self,
        tenant: &Tenant,
        db: &str,
        name: &str,
    ) -> Result<Option<UserDefinedFunction>, StoreError>;
    /// Functions of one database (or all, when `db` is None) in (database, name) order after
    /// `after`, whose names `keep` accepts.
    fn functions(
        &self,
        tenant: &Tenant,
        db: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
        keep: NameFilter<'_>,
    ) -> Result<Vec<UserDefinedFunction>, StoreError>;
    fn replace_function(
        &self,
        tenant: &Tenant,
        db: &str,
        name: &str,
        function: &UserDefinedFunction,
    ) -> Result<bool, StoreError>;
    fn delete_function(&self, tenant: &Tenant, db: &str, name: &str) -> Result<bool, StoreError>;
}

/// Records are the objects' wire JSON in every store.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn decode<T: DeserializeOwned>(record: &str) -> Result<T, StoreError> {
    serde_json::from_str(record).map_err(|e| StoreError::Corrupt(format!("catalog record: {e}")))
}

/// The stored key of a partition: its values as a JSON array.
/// The first `limit` of `(key, record)` rows (in key order) whose key `keep` accepts, each with
/// its decoded record. Filtering before decoding keeps a selective listing cheap; both stores
/// list tables, functions and partitions this way.
pub(crate) fn kept_records<T: DeserializeOwned>(
    rows: impl IntoIterator<Item = Result<(String, String), StoreError>>,
    limit: usize,
    keep: impl Fn(&str) -> Result<bool, StoreError>,
) -> Result<Vec<(String, T)>, StoreError> {
    let mut out = Vec::new();
    for row in rows {
        if out.len() == limit {
            break;
        }
        let (key, record) = row?;
        if keep(&key)? {
            let record = decode(&record)?;
            out.push((key, record));
        }
    }
    Ok(out)
}

/// [`kept_records`] for a [`NameFilter`] on names, without the names.
pub(crate) fn kept_by_name<T: DeserializeOwned>(
    rows: impl IntoIterator<Item = Result<(String, String), StoreError>>,
    limit: usize,
    keep: NameFilter<'_>,
) -> Result<Vec<T>, StoreError> {
    Ok(kept_records(rows, limit, |name| Ok(keep(name)))?
        .into_iter()
        .map(|(_, record)| record)
        .collect())
}

/// [`kept_records`] for a [`ValuesFilter`] on partition keys (see [`partition_key`]).
pub(crate) fn kept_partitions(
    rows: impl IntoIterator<Item = Result<(String, String), StoreError>>,
    limit: usize,
    keep: ValuesFilter<'_>,
) -> Result<Vec<(String, Partition)>, StoreError> {
    kept_records(rows, limit, |pkey| Ok(keep(&decode::<Vec<String>>(pkey)?)))
}

pub(crate) fn partition_key(values: &[String]) -> String {
    serde_json::to_string(values).unwrap_or_default()
}

/// Each partition's (key, record) as stored.
pub(crate) fn partition_records(
    partitions: &[Partition],
) -> Result<Vec<(String, String)>, StoreError> {
    partitions
        .iter()
        .map(|p| {
            Ok((
                partition_key(p.values.as_deref().unwrap_or_default()),
                encode(p)?,
            ))
        })
        .collect()
}

/// A table's record as stored: with its version as `VersionId`.
pub(crate) fn versioned(table: &Table, version: i64) -> Result<String, StoreError> {
    let mut table = table.clone();
    table.version_id = Some(version.to_string());
    encode(&table)
}
