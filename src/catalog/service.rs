//! The catalog service: Glue's Data Catalog semantics over a `CatalogStore`, for one tenant per
//! call. Both doors call exactly these methods, so a table made through one is the same record
//! through the other. Names are lower-cased here; defaults Glue (or Hive) fills in are filled in
//! here; managed directories are created and removed here.

use super::error::{CatalogError, CatalogResult};
use super::expression::Predicate;
use super::model::{
    Column, DataLakePrincipal, Database, DatabaseInput, ErrorDetail, Partition, PartitionError,
    PartitionInput, PrincipalPermissions, StorageDescriptor, Table, TableError, TableInput,
    TableVersion, UserDefinedFunction, UserDefinedFunctionInput,
};
use super::names::{NamePattern, canonical};
use super::warehouse::Warehouse;
use crate::sessions::model::Tenant;
use crate::sessions::now_ms;
use crate::sessions::token::{Position, TokenSigner};
use crate::store::StoreError;
use crate::store::catalog::{CatalogStore, Insert, TableWrite};
use std::sync::Arc;

/// Where a listing starts and how much it returns. Tokens come from a previous `Page` of the
/// same call with the same filter and caller; anything else is refused.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub token: Option<String>,
    /// At most this many items (callers without paging pass `usize::MAX`).
    pub limit: usize,
}

impl PageRequest {
    /// Everything at once (the Hive Metastore has no paging).
    pub fn all() -> Self {
        Self {
            token: None,
            limit: usize::MAX,
        }
    }
}

/// One page of a listing; `next_token` is set when more may follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// How a database drop treats what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropDatabase {
    /// Drop its tables and functions too (Glue always does); otherwise refuse a non-empty one.
    pub cascade: bool,
    /// Remove the managed directories (the database's and its managed tables').
    pub delete_data: bool,
}

/// The optimistic-concurrency and history options of UpdateTable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableUpdate {
    /// The `VersionId` the caller read; the update fails if the table moved on since.
    pub version_id: Option<String>,
    /// Glue's `SkipArchive`: replace the current version instead of archiving it.
    pub skip_archive: bool,
}

/// Glue's table types; a table without one is treated by its `EXTERNAL` parameter as Hive does.
pub const MANAGED_TABLE: &str = "MANAGED_TABLE";
pub const EXTERNAL_TABLE: &str = "EXTERNAL_TABLE";
pub const VIRTUAL_VIEW: &str = "VIRTUAL_VIEW";

/// FNV-1a's offset basis, for splitting partitions into GetPartitions segments.
const PARTITION_SEGMENT_SEED: u64 = 0xcbf2_9ce4_8422_2325;

pub struct CatalogService {
    store: Arc<dyn CatalogStore>,
    warehouse: Warehouse,
    tokens: TokenSigner,
}

fn now_seconds() -> f64 {
    now_ms() as f64 / 1000.0
}

fn not_found(what: &str, name: &str) -> CatalogError {
    CatalogError::EntityNotFound(format!("{what} {name} not found."))
}

impl CatalogService {
    /// `warehouse` is the root of managed data; `secret` signs page tokens (the store's).
    pub fn new(
        store: Arc<dyn CatalogStore>,
        warehouse: impl Into<Warehouse>,
        secret: Vec<u8>,
    ) -> Self {
        Self {
            store,
            warehouse: warehouse.into(),
            tokens: TokenSigner::new(secret),
        }
    }

    /// Where managed data goes (the metastore computes default locations from it too).
    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// A database's location: its own, else the warehouse's default for it. Glue keeps a
    /// database created without `LocationUri` without one (GetDatabase shows none, as AWS's),
    /// so Iceberg's GlueCatalog falls back to its `warehouse`; Hive and the catalog's own
    /// managed tables use this.
    pub fn database_location(&self, tenant: &Tenant, db: &Database) -> String {
        db.location_uri
            .clone()
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| self.warehouse.database_location(&tenant.account, &db.name))
    }

    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn CatalogStore) -> Result<T, StoreError> + Send + 'static,
    ) -> CatalogResult<T> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .map_err(|e| CatalogError::Warehouse(format!("catalog task failed: {e}")))?
            .map_err(CatalogError::from)
    }

    fn issue(&self, scope: &str, c: i64, i: String) -> String {
        self.tokens.issue(scope, &Position { c, i })
    }

    fn resume(&self, scope: &str, token: Option<&str>) -> CatalogResult<Option<Position>> {
        match token {
            None | Some("") => Ok(None),
            Some(t) => self.tokens.verify(scope, t).map(Some).ok_or_else(|| {
                CatalogError::InvalidInput(
                    "NextToken is not a token this call issued for this request".into(),
                )
            }),
        }
    }

    // ---- databases ----

    pub async fn create_database(
        &self,
        tenant: &Tenant,
        input: DatabaseInput,
    ) -> CatalogResult<Database> {
        let name = canonical(&input.name);
        let location_uri = input.location_uri.filter(|l| !l.is_empty());
        let location = location_uri
            .clone()
            .unwrap_or_else(|| self.warehouse.database_location(&tenant.account, &name));
        // Before the record: a warehouse that cannot be used fails the call and changes nothing.
        self.warehouse.prepare(tenant, &location).await?;
        let db = Database {
            name: name.clone(),
            description: input.description,
            location_uri,
            parameters: Some(input.parameters.unwrap_or_default()),
            create_time: Some(now_seconds()),
            create_table_default_permissions: Some(
                input
                    .create_table_default_permissions
                    .unwrap_or_else(default_permissions),
            ),
            target_database: input.target_database,
            catalog_id: Some(tenant.account.clone()),
            federated_database: input.federated_database,
        };
        let (t, record) = (tenant.clone(), db.clone());
        match self.db(move |s| s.insert_database(&t, &record)).await? {
            Insert::Done => {}
            _ => {
                return Err(CatalogError::AlreadyExists(format!(
                    "Database {name} already exists."
                )));
            }
        }
        Ok(db)
    }

    pub async fn get_database(&self, tenant: &Tenant, name: &str) -> CatalogResult<Database> {
        let (t, n) = (tenant.clone(), canonical(name));
        self.db(move |s| s.database(&t, &n))
            .await?
            .ok_or_else(|| not_found("Database", name))
    }

    pub async fn get_databases(
        &self,
        tenant: &Tenant,
        page: PageRequest,
    ) -> CatalogResult<Page<Database>> {
        let scope = format!("{}/{}/GetDatabases", tenant.account, tenant.region);
        let after = self.resume(&scope, page.token.as_deref())?.map(|p| p.i);
        let (t, limit) = (tenant.clone(), page.limit);
        let mut items = self
            .db(move |s| s.databases(&t, after.as_deref(), limit.saturating_add(1)))
            .await?;
        let next_token =
            more(&mut items, limit).map(|last| self.issue(&scope, 0, last.name.clone()));
        Ok(Page { items, next_token })
    }

    /// Replaces the database's definition (Glue keeps CreateTime and the catalog id).
    pub async fn update_database(
        &self,
        tenant: &Tenant,
        name: &str,
        input: DatabaseInput,
    ) -> CatalogResult<Database> {
        let old = self.get_database(tenant, name).await?;
        let new_name = canonical(&input.name);
        if new_name != old.name {
            return Err(CatalogError::InvalidInput(
                "Database rename is not supported: DatabaseInput.Name must equal Name".into(),
            ));
        }
        let db = Database {
            name: new_name,
            description: input.description,
            location_uri: input
                .location_uri
                .filter(|l| !l.is_empty())
                .or(old.location_uri),
            parameters: Some(input.parameters.unwrap_or_default()),
            create_time: old.create_time,
            create_table_default_permissions: input
                .create_table_default_permissions
                .or(old.create_table_default_permissions),
            target_database: input.target_database,
            catalog_id: old.catalog_id,
            federated_database: input.federated_database.or(old.federated_database),
        };
        let (t, n, record) = (tenant.clone(), old.name.clone(), db.clone());
        if !self
            .db(move |s| s.replace_database(&t, &n, &record))
            .await?
        {
            return Err(not_found("Database", name));
        }
        Ok(db)
    }

    pub async fn delete_database(
        &self,
        tenant: &Tenant,
        name: &str,
        mode: DropDatabase,
    ) -> CatalogResult<()> {
        let db = self.get_database(tenant, name).await?;
        if !mode.cascade {
            let (t, n) = (tenant.clone(), db.name.clone());
            if self.db(move |s| s.database_contents(&t, &n)).await? > 0 {
                return Err(CatalogError::DatabaseNotEmpty(format!(
                    "Database {} is not empty. One or more tables exist.",
                    db.name
                )));
            }
        }
        let managed = if mode.delete_data {
            let (t, n) = (tenant.clone(), db.name.clone());
            self.db(move |s| s.tables(&t, &n, None, usize::MAX, &|_| true))
                .await?
                .into_iter()
                .filter(is_managed)
                .filter_map(|t| table_location(&t))
                .collect()
        } else {
            Vec::new()
        };
        let (t, n) = (tenant.clone(), db.name.clone());
        if !self.db(move |s| s.delete_database(&t, &n)).await? {
            return Err(not_found("Database", name));
        }
        for location in managed {
            self.warehouse.remove(&tenant.account, &location).await;
        }
        if mode.delete_data {
            let location = self.database_location(tenant, &db);
            self.warehouse.remove(&tenant.account, &location).await;
        }
        Ok(())
    }

    // ---- tables ----

    /// Creates version 1 of a table. A managed table without a location gets
    /// `<database location>/<table>`, and its directory is created.
    pub async fn create_table(
        &self,
        tenant: &Tenant,
        database: &str,
        input: TableInput,
    ) -> CatalogResult<Table> {
        let db = self.get_database(tenant, database).await?;
        let now = now_seconds();
        let mut table = table_from_input(tenant, &db.name, input, now, now);
        if is_managed(&table) && table_location(&table).is_none() {
            let location =
                Warehouse::table_location(&self.database_location(tenant, &db), &table.name);
            table
                .storage_descriptor
                .get_or_insert_with(StorageDescriptor::default)
                .location = Some(location);
        }
        if is_managed(&table)
            && let Some(location) = table_location(&table)
        {
            self.warehouse.prepare(tenant, &location).await?;
        }
        let (t, d, record) = (tenant.clone(), db.name.clone(), table.clone());
        match self.db(move |s| s.insert_table(&t, &d, &record)).await? {
            Insert::Done => {}
            Insert::Exists => {
                return Err(CatalogError::AlreadyExists(format!(
                    "Table {} already exists.",
                    table.name
                )));
            }
            Insert::NoParent => return Err(not_found("Database", database)),
        }
        table.version_id = Some("1".into());
        Ok(table)
    }

    pub async fn get_table(
        &self,
        tenant: &Tenant,
        database: &str,
        name: &str,
    ) -> CatalogResult<Table> {
        let (t, d, n) = (tenant.clone(), canonical(database), canonical(name));
        if let Some(table) = self.db(move |s| s.table(&t, &d, &n)).await? {
            return Ok(table);
        }
        self.get_database(tenant, database).await?;
        Err(not_found("Table", name))
    }

    /// Tables of a database in name order; `expression` is Glue's name regex.
    pub async fn get_tables(
        &self,
        tenant: &Tenant,
        database: &str,
        expression: Option<&str>,
        page: PageRequest,
    ) -> CatalogResult<Page<Table>> {
        let pattern = NamePattern::new("Expression", expression)?;
        let db = self.get_database(tenant, database).await?;
        let scope = format!(
            "{}/{}/GetTables/{}/{}",
            tenant.account,
            tenant.region,
            db.name,
            pattern.as_str()
        );
        let after = self.resume(&scope, page.token.as_deref())?.map(|p| p.i);
        let (t, limit) = (tenant.clone(), page.limit);
        let dbname = db.name.clone();
        let mut items = self
            .db(move |s| {
                s.tables(
                    &t,
                    &dbname,
                    after.as_deref(),
                    limit.saturating_add(1),
                    &|n| pattern.matches(n),
                )
            })
            .await?;
        let next_token =
            more(&mut items, limit).map(|last| self.issue(&scope, 0, last.name.clone()));
        Ok(Page { items, next_token })
    }

    /// Writes a new version of a table. With `version_id`, only if that is still the current
    /// version (Iceberg commits this way). Renames are refused, as Glue refuses them.
    pub async fn update_table(
        &self,
        tenant: &Tenant,
        database: &str,
        input: TableInput,
        update: TableUpdate,
    ) -> CatalogResult<Table> {
        let old = self.get_table(tenant, database, &input.name).await?;
        let expected = match update.version_id.as_deref() {
            None | Some("") => None,
            Some(v) => Some(v.parse::<i64>().map_err(|_| {
                CatalogError::ConcurrentModification(format!(
                    "VersionId {v} is not the current version of table {}",
                    old.name
                ))
            })?),
        };
        let db = canonical(database);
        let mut table = table_from_input(
            tenant,
            &db,
            input,
            old.create_time.unwrap_or_else(now_seconds),
            now_seconds(),
        );
        if table_location(&table).is_none()
            && is_managed(&table)
            && let Some(location) = table_location(&old)
        {
            table
                .storage_descriptor
                .get_or_insert_with(StorageDescriptor::default)
                .location = Some(location);
        }
        let (t, record, archive) = (tenant.clone(), table.clone(), !update.skip_archive);
        match self
            .db(move |s| s.update_table(&t, &db, &record, expected, archive))
            .await?
        {
            TableWrite::Done(version) => {
                table.version_id = Some(version.to_string());
                Ok(table)
            }
            TableWrite::NotFound => Err(not_found("Table", &table.name)),
            TableWrite::Conflict(current) => Err(CatalogError::ConcurrentModification(format!(
                "Table {} was modified: its current VersionId is {current}, not {}",
                table.name,
                update.version_id.unwrap_or_default()
            ))),
        }
    }

    /// Drops a table with its versions and partitions; `delete_data` also removes a managed
    /// table's directory (Hive's drop; Spark re-creating the table needs it gone).
    pub async fn delete_table(
        &self,
        tenant: &Tenant,
        database: &str,
        name: &str,
        delete_data: bool,
    ) -> CatalogResult<Table> {
        let (t, d, n) = (tenant.clone(), canonical(database), canonical(name));
        let Some(table) = self.db(move |s| s.delete_table(&t, &d, &n)).await? else {
            self.get_database(tenant, database).await?;
            return Err(not_found("Table", name));
        };
        if delete_data
            && is_managed(&table)
            && let Some(location) = table_location(&table)
        {
            self.warehouse.remove(&tenant.account, &location).await;
        }
        Ok(table)
    }

    /// Drops several tables; a missing one is reported, the others still go.
    pub async fn batch_delete_table(
        &self,
        tenant: &Tenant,
        database: &str,
        names: &[String],
    ) -> CatalogResult<Vec<TableError>> {
        self.get_database(tenant, database).await?;
        let mut errors = Vec::new();
        for name in names {
            match self.delete_table(tenant, database, name, true).await {
                Ok(_) => {}
                Err(e @ CatalogError::EntityNotFound(_)) => errors.push(TableError {
                    table_name: Some(name.clone()),
                    error_detail: Some(detail("EntityNotFoundException", &e)),
                }),
                Err(e) => return Err(e),
            }
        }
        Ok(errors)
    }

    /// The table's stored versions, newest first.
    pub async fn get_table_versions(
        &self,
        tenant: &Tenant,
        database: &str,
        name: &str,
        page: PageRequest,
    ) -> CatalogResult<Page<TableVersion>> {
        let table = self.get_table(tenant, database, name).await?;
        let db = canonical(database);
        let scope = format!(
            "{}/{}/GetTableVersions/{db}/{}",
            tenant.account, tenant.region, table.name
        );
        let before = self.resume(&scope, page.token.as_deref())?.map(|p| p.c);
        let (t, n, limit) = (tenant.clone(), table.name.clone(), page.limit);
        let mut rows = self
            .db(move |s| s.table_versions(&t, &db, &n, before, limit.saturating_add(1)))
            .await?;
        let next_token = more(&mut rows, limit).map(|(v, _)| self.issue(&scope, *v, String::new()));
        let items = rows
            .into_iter()
            .map(|(v, table)| TableVersion {
                table: Some(table),
                version_id: Some(v.to_string()),
            })
            .collect();
        Ok(Page { items, next_token })
    }

    // ---- partitions ----

    async fn partition_keys(
        &self,
        tenant: &Tenant,
        database: &str,
        table: &str,
    ) -> CatalogResult<(Table, Vec<Column>)> {
        let table = self.get_table(tenant, database, table).await?;
        let keys = table.partition_keys.clone().unwrap_or_default();
        Ok((table, keys))
    }

    fn partition_from_input(
        tenant: &Tenant,
        table: &Table,
        keys: &[Column],
        input: PartitionInput,
        created: f64,
    ) -> CatalogResult<Partition> {
        let values = input.values.unwrap_or_default();
        check_arity(&values, keys)?;
        Ok(Partition {
            values: Some(values),
            database_name: table.database_name.clone(),
            table_name: Some(table.name.clone()),
            creation_time: Some(created),
            last_access_time: input.last_access_time,
            storage_descriptor: input.storage_descriptor,
            parameters: Some(input.parameters.unwrap_or_default()),
            last_analyzed_time: input.last_analyzed_time,
            catalog_id: Some(tenant.account.clone()),
        })
    }

    pub async fn create_partition(
        &self,
        tenant: &Tenant,
        database: &str,
        table: &str,
        input: PartitionInput,
    ) -> CatalogResult<Partition> {
        let errors = self
            .batch_create_partition(tenant, database, table, vec![input])
            .await?;
        let (partitions, failures) = errors;
        if let Some(e) = failures.into_iter().next() {
            let detail = e.error_detail.unwrap_or_default();
            let message = detail.error_message.unwrap_or_default();
            return Err(match detail.error_code.as_deref() {
                Some("AlreadyExistsException") => CatalogError::AlreadyExists(message),
                _ => CatalogError::InvalidInput(message),
            });
        }
        Ok(partitions.into_iter().next().unwrap_or_default())
    }

    /// Adds partitions; those whose values already exist (or are given twice) are reported
    /// and the rest are added, in one transaction. Returns the added ones and the failures.
    pub async fn batch_create_partition(
        &self,
        tenant: &Tenant,
        database: &str,
        table: &str,
        inputs: Vec<PartitionInput>,
    ) -> CatalogResult<(Vec<Partition>, Vec<PartitionError>)> {
        let (table, keys) = self.partition_keys(tenant, database, table).await?;
        let now = now_seconds();
        let partitions = inputs
            .into_iter()
            .map(|i| Self::partition_from_input(tenant, &table, &keys, i, now))
            .collect::<CatalogResult<Vec<_>>>()?;
        let (t, d, n, records) = (
            tenant.clone(),
            canonical(database),
            table.name.clone(),
            partitions.clone(),
        );
        let outcomes = self
            .db(move |s| s.insert_partitions(&t, &d, &n, &records))
            .await?;
        let mut added = Vec::new();
        let mut errors = Vec::new();
        for (partition, outcome) in partitions.into_iter().zip(outcomes) {
            match outcome {
                Insert::Done => added.push(partition),
                Insert::Exists => errors.push(PartitionError {
                    partition_values: partition.values.clone(),
                    error_detail: Some(ErrorDetail {
                        error_code: Some("AlreadyExistsException".into()),
                        error_message: Some("Partition already exists.".into()),
                    }),
                }),
                Insert::NoParent => return Err(not_found("Table", &table.name)),
            }
        }
        Ok((added, errors))
    }

    pub async fn get_partition(
        &self,
        tenant: &Tenant,
        database: &str,
        table: &str,
        values: &[String],
    ) -> CatalogResult<Partition> {
        let (table, keys) = self.partition_keys(tenant, database, table).await?;
        check_arity(values, &keys)?;
        let (t, d, n, v) = (
            tenant.clone(),
            canonical(database),
            table.name.clone(),
            values.to_vec(),
        );
        self.db(move |s| s.partition(&t, &d, &n, &v))
            .await?
            .ok_or_else(|| CatalogError::EntityNotFound("Cannot find partition.".into()))
    }

    /// Partitions in a stable order, filtered by Glue's predicate `expression` and by the
    /// segment (`number`, `total`) when given.
    pub async fn get_partitions(
        &self,
        tenant: &Tenant,
        database: &str,
        table: &str,
        expression: Option<&str>,
        segment: Option<(u32, u32)>,
        page: PageRequest,
    ) -> CatalogResult<Page<Partition>> {
        let (table, keys) = self.partition_keys(tenant, database, table).await?;
        let predicate = match expression.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => Some(Predicate::parse(e, &keys)?),
            None => None,
        };
        let db = canonical(database);
        let scope = format!(
            "{}/{}/GetPartitions/{db}/{}/{:?}/{}",
            tenant.account,
            tenant.region,
            table.name,
            segment,
            expression.unwrap_or("")
        );
        let after = self.resume(&scope, page.token.as_deref())?.map(|p| p.i);
        let (t, n, limit) = (tenant.clone(), table.name.clone(), page.limit);
        let mut rows = self
            .db(move |s| {
                s.partitions(
                    &t,
                    &db,
                    &n,
                    after.as_deref(),
                    limit.saturating_add(1),
                    &|v| {
                        segment.is_none_or(|(number, total)| in_segment(v, number, total))
                            && predicate.as_ref().is_none_or(|p| p.matches(v))
                    },
                )
            })
            .await?;
        let next_token = more(&mut rows, limit).map(|(key, _)| self.issue(&scope, 0, key.clone()));
        Ok(Page {
            items: rows.into_iter().map(|(_, p)| p).collect(),
            next_token,
        })
    }

    /// The partitions with these values that exist, in the order asked.
    pub async fn batch_get_partition(
        &self,
        tenant: &Tenant,
        database: &str,
        table: &str,
        values: Vec<Vec<String>>,
    ) -> CatalogResult<Vec<Partition>> {
        let (table, keys) = self.partition_keys(tenant, database, table).await?;
        for v in &values {
            check_arity(v, &keys)?;
        }
        let (t, d, n) = (tenant.clone(), canonical(database), table.name.clone());
        self.db(move |s| {
            let mut found = Vec::new();
            for v in &values {
                if let Some(p) = s.partition(&t, &d, &n, v)? {
                    found.push(p);
                }
            }
            Ok(found)
        })
        .await
    }

    /// Replaces a partition's definition; its values may change (to ones not taken).
    pub async fn update_partition(
        &self,
        tenant: &Tenant,
        database: &str,
        table: &str,
        values: &[String],
        input: PartitionInput,
    ) -> CatalogResult<Partition> {
        let old = self.get_partition(tenant, database, table, values).await?;
        let (table, keys) = self.partition_keys(tenant, database, table).await?;
        let mut input = input;
        if input.values.as_ref().is_none_or(Vec::is_empty) {
            input.values = Some(values.to_vec());
        }
        let created = old.creation_time.unwrap_or_else(now_seconds);
        let partition = Self::partition_from_input(tenant, &table, &keys, input, created)?;
        let (t, d, n, v, record) = (
            tenant.clone(),
            canonical(database),
            table.name.clone(),
            values.to_vec(),
            partition.clone(),
        );
        match self
            .db(move |s| s.replace_partition(&t, &d, &n, &v, &record))
            .await
        {
            Ok(true) => Ok(partition),
            Ok(false) => Err(CatalogError::EntityNotFound(
                "Cannot find partition.".into(),
            )),
            Err(CatalogError::Store(StoreError::Duplicate)) => Err(CatalogError::AlreadyExists(
                "A partition with the new values already exists.".into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// Drops one partition; `delete_data` removes its directory if it is in the warehouse.
    pub async fn delete_partition(
        &self,
        tenant: &Tenant,
        database: &str,
        table: &str,
        values: &[String],
        delete_data: bool,
    ) -> CatalogResult<Partition> {
        let (table, keys) = self.partition_keys(tenant, database, table).await?;
        check_arity(values, &keys)?;
        let (t, d, n, v) = (
            tenant.clone(),
            canonical(database),
            table.name.clone(),
            vec![values.to_vec()],
        );
        let removed = self
            .db(move |s| s.delete_partitions(&t, &d, &n, &v))
            .await?
            .pop()
            .flatten()
            .ok_or_else(|| CatalogError::EntityNotFound("Cannot find partition.".into()))?;
        if delete_data
            && is_managed(&table)
            && let Some(location) = removed
                .storage_descriptor
                .as_ref()
                .and_then(|sd| sd.location.as_deref())
        {
            self.warehouse.remove(&tenant.account, location).await;
        }
        Ok(removed)
    }

    /// Drops several partitions; missing ones are reported, the others still go.
    pub async fn batch_delete_partition(
        &self,
        tenant: &Tenant,
        database: &str,
        table: &str,
        values: Vec<Vec<String>>,
    ) -> CatalogResult<Vec<PartitionError>> {
        let (table, keys) = self.partition_keys(tenant, database, table).await?;
        for v in &values {
            check_arity(v, &keys)?;
        }
        let (t, d, n, v) = (
            tenant.clone(),
            canonical(database),
            table.name.clone(),
            values.clone(),
        );
        let removed = self
            .db(move |s| s.delete_partitions(&t, &d, &n, &v))
            .await?;
        Ok(values
            .into_iter()
            .zip(removed)
            .filter(|(_, r)| r.is_none())
            .map(|(v, _)| PartitionError {
                partition_values: Some(v),
                error_detail: Some(ErrorDetail {
                    error_code: Some("EntityNotFoundException".into()),
                    error_message: Some("Cannot find partition.".into()),
                }),
            })
            .collect())
    }

    // ---- functions ----

    pub async fn create_function(
        &self,
        tenant: &Tenant,
        database: &str,
        input: UserDefinedFunctionInput,
    ) -> CatalogResult<UserDefinedFunction> {
        let db = self.get_database(tenant, database).await?;
        let function = function_from_input(tenant, &db.name, input, now_seconds());
        let (t, d, record) = (tenant.clone(), db.name.clone(), function.clone());
        match self.db(move |s| s.insert_function(&t, &d, &record)).await? {
            Insert::Done => Ok(function),
            Insert::Exists => Err(CatalogError::AlreadyExists(format!(
                "Function {} already exists.",
                function.function_name.unwrap_or_default()
            ))),
            Insert::NoParent => Err(not_found("Database", database)),
        }
    }

    pub async fn get_function(
        &self,
        tenant: &Tenant,
        database: &str,
        name: &str,
    ) -> CatalogResult<UserDefinedFunction> {
        let (t, d, n) = (tenant.clone(), canonical(database), canonical(name));
        if let Some(f) = self.db(move |s| s.function(&t, &d, &n)).await? {
            return Ok(f);
        }
        self.get_database(tenant, database).await?;
        Err(CatalogError::EntityNotFound(format!(
            "Function {}.{} does not exist",
            canonical(database),
            canonical(name)
        )))
    }

    /// Functions whose names match `pattern` (a regex), in one database or, without one, in
    /// all of the caller's databases.
    pub async fn get_functions(
        &self,
        tenant: &Tenant,
        database: Option<&str>,
        pattern: Option<&str>,
        page: PageRequest,
    ) -> CatalogResult<Page<UserDefinedFunction>> {
        let pattern = NamePattern::new("Pattern", pattern)?;
        let db = match database {
            Some(d) => Some(self.get_database(tenant, d).await?.name),
            None => None,
        };
        let scope = format!(
            "{}/{}/GetUserDefinedFunctions/{}/{}",
            tenant.account,
            tenant.region,
            db.as_deref().unwrap_or("*"),
            pattern.as_str()
        );
        let after = self.resume(&scope, page.token.as_deref())?;
        let (t, limit) = (tenant.clone(), page.limit);
        let mut items = self
            .db(move |s| {
                let after = after.as_ref().map(|p| {
                    let (d, n) = p.i.split_once('/').unwrap_or(("", ""));
                    (d.to_string(), n.to_string())
                });
                s.functions(
                    &t,
                    db.as_deref(),
                    after.as_ref().map(|(d, n)| (d.as_str(), n.as_str())),
                    limit.saturating_add(1),
                    &|n| pattern.matches(n),
                )
            })
            .await?;
        let next_token = more(&mut items, limit).map(|last| {
            let key = format!(
                "{}/{}",
                last.database_name.as_deref().unwrap_or(""),
                last.function_name.as_deref().unwrap_or("")
            );
            self.issue(&scope, 0, key)
        });
        Ok(Page { items, next_token })
    }

    pub async fn update_function(
        &self,
        tenant: &Tenant,
        database: &str,
        name: &str,
        input: UserDefinedFunctionInput,
    ) -> CatalogResult<UserDefinedFunction> {
        let old = self.get_function(tenant, database, name).await?;
        let created = old.create_time.unwrap_or_else(now_seconds);
        let function = function_from_input(tenant, &canonical(database), input, created);
        if function.function_name != old.function_name {
            return Err(CatalogError::InvalidInput(
                "Function rename is not supported: FunctionInput.FunctionName must equal FunctionName"
                    .into(),
            ));
        }
        let (t, d, n, record) = (
            tenant.clone(),
            canonical(database),
            canonical(name),
            function.clone(),
        );
        if !self
            .db(move |s| s.replace_function(&t, &d, &n, &record))
            .await?
        {
            return Err(not_found("Function", name));
        }
        Ok(function)
    }

    pub async fn delete_function(
        &self,
        tenant: &Tenant,
        database: &str,
        name: &str,
    ) -> CatalogResult<()> {
        self.get_function(tenant, database, name).await?;
        let (t, d, n) = (tenant.clone(), canonical(database), canonical(name));
        if !self.db(move |s| s.delete_function(&t, &d, &n)).await? {
            return Err(not_found("Function", name));
        }
        Ok(())
    }
}

/// Trims a `limit + 1` fetch to `limit`; the last kept item, if more followed.
fn more<T>(items: &mut Vec<T>, limit: usize) -> Option<&T> {
    if items.len() > limit {
        items.truncate(limit);
        items.last()
    } else {
        None
    }
}

/// What Glue grants on new tables when a database is created without saying.
fn default_permissions() -> Vec<PrincipalPermissions> {
    vec![PrincipalPermissions {
        principal: Some(DataLakePrincipal {
            data_lake_principal_identifier: Some("IAM_ALLOWED_PRINCIPALS".into()),
        }),
        permissions: Some(vec!["ALL".into()]),
    }]
}

fn table_from_input(
    tenant: &Tenant,
    database: &str,
    input: TableInput,
    created: f64,
    updated: f64,
) -> Table {
    Table {
        name: canonical(&input.name),
        database_name: Some(database.to_string()),
        description: input.description,
        owner: input.owner,
        create_time: Some(created),
        update_time: Some(updated),
        last_access_time: input.last_access_time,
        last_analyzed_time: input.last_analyzed_time,
        retention: input.retention,
        storage_descriptor: input.storage_descriptor,
        partition_keys: input.partition_keys,
        view_original_text: input.view_original_text,
        view_expanded_text: input.view_expanded_text,
        table_type: input.table_type,
        parameters: input.parameters,
        created_by: None,
        is_registered_with_lake_formation: Some(false),
        target_table: input.target_table,
        catalog_id: Some(tenant.account.clone()),
        version_id: None,
        federated_table: input.federated_table,
        view_definition: None,
        is_multi_dialect_view: None,
        is_materialized_view: None,
        iceberg_table_metadata: None,
        status: None,
        rls_properties: None,
    }
}

fn function_from_input(
    tenant: &Tenant,
    database: &str,
    input: UserDefinedFunctionInput,
    created: f64,
) -> UserDefinedFunction {
    UserDefinedFunction {
        function_name: input.function_name.as_deref().map(canonical),
        database_name: Some(database.to_string()),
        class_name: input.class_name,
        owner_name: input.owner_name,
        function_type: input.function_type,
        owner_type: input.owner_type,
        create_time: Some(created),
        resource_uris: input.resource_uris,
        artifact_location: input.artifact_location,
        governance_mode: input.governance_mode,
        catalog_id: Some(tenant.account.clone()),
    }
}

/// Managed: `MANAGED_TABLE`, or no type and no `EXTERNAL=TRUE` parameter (Hive's reading).
pub fn is_managed(table: &Table) -> bool {
    match table.table_type.as_deref() {
        Some(t) => t.eq_ignore_ascii_case(MANAGED_TABLE),
        None => !table
            .parameters
            .as_ref()
            .and_then(|p| p.get("EXTERNAL"))
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
    }
}

fn table_location(table: &Table) -> Option<String> {
    table
        .storage_descriptor
        .as_ref()?
        .location
        .clone()
        .filter(|l| !l.is_empty())
}

fn check_arity(values: &[String], keys: &[Column]) -> CatalogResult<()> {
    if values.len() != keys.len() {
        return Err(CatalogError::InvalidInput(format!(
            "The number of partition values ({}) does not match the number of partition keys ({})",
            values.len(),
            keys.len()
        )));
    }
    Ok(())
}

/// A stable split of partitions into `total` segments by a hash of their values.
fn in_segment(values: &[String], number: u32, total: u32) -> bool {
    let mut hash = PARTITION_SEGMENT_SEED;
    for v in values {
        for b in v.bytes().chain([0]) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    total == 0 || hash % u64::from(total) == u64::from(number)
}

fn detail(code: &str, e: &CatalogError) -> ErrorDetail {
    ErrorDetail {
        error_code: Some(code.into()),
        error_message: Some(e.to_string()),
    }
}
