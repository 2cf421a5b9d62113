//! The served RPCs: one function each, args struct → catalog service → result struct. Every
//! failure goes into the result slot its method declares (a wrong slot, or an undeclared error,
//! makes the Hive client retry with sleeps and then fail), so each route lists its exception
//! slots in the order of the Hive 2.3 service definition.

use super::codec::{self, Header, ProtocolError, Reader, Value, Writer};
use super::convert;
use super::messages::*;
use super::registry::{Access, Registry};
use crate::catalog::model as glue;
use crate::catalog::names::NamePattern;
use crate::catalog::{CatalogError, CatalogService, DropDatabase, PageRequest, TableUpdate};
use crate::sessions::model::Tenant;
use std::sync::Arc;

/// The Hive exceptions, by what they mean; a method's slots are a list of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NoSuchObject,
    AlreadyExists,
    InvalidObject,
    InvalidOperation,
    UnknownDb,
    Meta,
}

/// Why an RPC did not succeed.
#[derive(Debug)]
pub enum RpcError {
    /// A Hive exception, sent in the method's slot for `Kind` (or the nearest declared one).
    Hive(Kind, String),
    /// The arguments did not decode: a Thrift protocol error reply.
    Decode(ProtocolError),
}

impl RpcError {
    /// The failure as `/metrics` counts it: the exception kind, never its message.
    fn kind_name(&self) -> String {
        match self {
            Self::Hive(kind, _) => format!("{kind:?}"),
            Self::Decode(_) => "Protocol".to_owned(),
        }
    }
}

impl From<ProtocolError> for RpcError {
    fn from(e: ProtocolError) -> Self {
        Self::Decode(e)
    }
}

impl From<CatalogError> for RpcError {
    fn from(e: CatalogError) -> Self {
        let kind = match &e {
            CatalogError::EntityNotFound(_) => Kind::NoSuchObject,
            CatalogError::AlreadyExists(_) => Kind::AlreadyExists,
            CatalogError::InvalidInput(_) => Kind::InvalidObject,
            CatalogError::ConcurrentModification(_) | CatalogError::DatabaseNotEmpty(_) => {
                Kind::InvalidOperation
            }
            CatalogError::AccessDenied(_) => Kind::Meta,
            CatalogError::Store(_) | CatalogError::Warehouse(_) => {
                tracing::error!(error = %e, "metastore call failed in the catalog");
                Kind::Meta
            }
        };
        Self::Hive(kind, e.to_string())
    }
}

fn meta(message: impl Into<String>) -> RpcError {
    RpcError::Hive(Kind::Meta, message.into())
}

fn invalid(message: impl Into<String>) -> RpcError {
    RpcError::Hive(Kind::InvalidObject, message.into())
}

type Outcome = Result<Vec<u8>, RpcError>;

/// The encoded success field (slot 0) of a result.
fn ok<T: Value>(value: &T) -> Outcome {
    let mut w = Writer::new();
    w.field(T::TYPE, 0);
    value.write(&mut w);
    Ok(w.buf)
}

/// A void result: no success field.
fn done() -> Outcome {
    Ok(Vec::new())
}

/// The slot an error of `kind` goes to among `slots` (1-based), trying near kinds when the
/// method does not declare it, as Hive's server narrows its errors per method.
fn slot_for(slots: &[Kind], kind: Kind) -> Option<i16> {
    use Kind::*;
    let nearest: &[Kind] = match kind {
        NoSuchObject => &[
            NoSuchObject,
            UnknownDb,
            InvalidObject,
            InvalidOperation,
            Meta,
        ],
        AlreadyExists => &[AlreadyExists, InvalidObject, InvalidOperation, Meta],
        InvalidObject => &[InvalidObject, InvalidOperation, Meta],
        InvalidOperation => &[InvalidOperation, InvalidObject, Meta],
        UnknownDb => &[UnknownDb, NoSuchObject, Meta],
        Meta => &[Meta],
    };
    nearest
        .iter()
        .find_map(|k| slots.iter().position(|s| s == k))
        .map(|i| i as i16 + 1)
}

/// A whole reply message for `header` from an outcome.
pub fn reply(header: &Header, slots: &[Kind], outcome: Outcome) -> Vec<u8> {
    let mut w = Writer::new();
    match outcome {
        Ok(success) => {
            w.header(&header.name, codec::REPLY, header.seqid);
            w.buf.extend_from_slice(&success);
            w.stop();
        }
        Err(RpcError::Hive(kind, message)) => match slot_for(slots, kind) {
            Some(slot) => {
                w.header(&header.name, codec::REPLY, header.seqid);
                w.field(codec::STRUCT, slot);
                HiveException {
                    message: Some(message),
                }
                .write(&mut w);
                w.stop();
            }
            None => return application_error(header, 6, &message),
        },
        Err(RpcError::Decode(e)) => {
            return application_error(header, PROTOCOL_ERROR, &e.to_string());
        }
    }
    w.buf
}

/// A Thrift-level error reply (`TApplicationException`).
pub fn application_error(header: &Header, kind: i32, message: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.header(&header.name, codec::EXCEPTION, header.seqid);
    ApplicationException {
        message: Some(message.to_string()),
        kind: Some(kind),
    }
    .write(&mut w);
    w.buf
}

/// Per-connection state: who the peer said it is, and for which tenant `default` is known
/// to exist.
#[derive(Debug, Default)]
pub struct Connection {
    user: Option<String>,
    default_checked: Option<Tenant>,
}

/// Whose catalog a call reads and whether it may write.
struct Caller {
    tenant: Tenant,
    bound: bool,
}

impl Caller {
    fn writable(&self) -> Result<&Tenant, RpcError> {
        if self.bound {
            Ok(&self.tenant)
        } else {
            Err(meta(
                "this Spark driver is not bound to a session yet; its catalog is read-only",
            ))
        }
    }
}

const DEFAULT_DB: &str = "default";

/// The metastore's request handler, shared by all connections.
pub struct Metastore {
    catalog: Arc<CatalogService>,
    registry: Arc<Registry>,
}

fn required(value: Option<String>, what: &str) -> Result<String, RpcError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid(format!("{what} is required")))
}

/// Hive's name patterns: alternatives split by `|`, `*` any run of characters, matched
/// case-insensitively against the whole name. None matches everything.
fn hms_pattern(pattern: Option<&str>) -> Option<String> {
    let p = pattern
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "*")?;
    Some(
        p.split('|')
            .map(|alt| alt.trim().replace('*', ".*"))
            .collect::<Vec<_>>()
            .join("|"),
    )
}

fn limit<T>(mut items: Vec<T>, max: Option<i16>) -> Vec<T> {
    if let Some(n) = max.filter(|n| *n >= 0) {
        items.truncate(n as usize);
    }
    items
}

fn now_seconds() -> i64 {
    crate::sessions::now_ms() / 1000
}

impl Metastore {
    pub fn new(catalog: Arc<CatalogService>, registry: Arc<Registry>) -> Self {
        Self { catalog, registry }
    }

    async fn caller(&self, conn: &mut Connection) -> Result<Caller, RpcError> {
        match self.registry.access(conn.user.as_deref()).await {
            Access::Refused => Err(meta(
                "not an epoxy driver: this metastore serves only the Spark drivers of live sessions",
            )),
            Access::Unbound => Ok(Caller {
                tenant: Tenant {
                    account: String::new(),
                    region: String::new(),
                },
                bound: false,
            }),
            Access::Bound(tenant) => {
                if conn.default_checked.as_ref() != Some(&tenant) {
                    self.ensure_default(&tenant).await?;
                    conn.default_checked = Some(tenant.clone());
                }
                Ok(Caller {
                    tenant,
                    bound: true,
                })
            }
        }
    }

    /// Spark needs a `default` database; each tenant gets one on first use.
    async fn ensure_default(&self, tenant: &Tenant) -> Result<(), RpcError> {
        match self.catalog.get_database(tenant, DEFAULT_DB).await {
            Ok(_) => Ok(()),
            Err(CatalogError::EntityNotFound(_)) => {
                let input = glue::DatabaseInput {
                    name: DEFAULT_DB.into(),
                    description: Some("Default Hive database".into()),
                    ..Default::default()
                };
                match self.catalog.create_database(tenant, input).await {
                    Ok(_) | Err(CatalogError::AlreadyExists(_)) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The `default` a driver sees before a session takes it.
    fn unbound_default(&self) -> Database {
        Database {
            name: Some(DEFAULT_DB.into()),
            description: Some("Default Hive database".into()),
            location_uri: Some(super::UNBOUND_WAREHOUSE.to_string()),
            parameters: Some(Params::new()),
            ..Default::default()
        }
    }

    fn database_out(&self, tenant: &Tenant, db: &glue::Database) -> Database {
        convert::database_out(db, || self.catalog.database_location(tenant, db))
    }

    /// Spark defaults a location to its own warehouse dir, which for a pool driver is not the
    /// tenant's: such a location is dropped so the catalog service fills the tenant's.
    fn own_location(&self, location: Option<String>) -> Option<String> {
        let base = super::UNBOUND_WAREHOUSE;
        location.filter(|l| !(l == base || l.starts_with(&format!("{base}/"))))
    }

    /// Dispatches one call; None for a oneway call (no reply is sent).
    pub async fn call(
        &self,
        conn: &mut Connection,
        header: &Header,
        r: &mut Reader<'_>,
    ) -> Option<Vec<u8>> {
        use Kind::*;
        macro_rules! routes {
            ($($name:literal => $method:ident($args:ty), [$($slot:ident),*];)*) => {
                match header.name.as_str() {
                    $($name => {
                        let outcome = crate::metrics::catalog_call("metastore", $name, RpcError::kind_name, async {
                            match <$args as Value>::read(r) {
                                // Boxed: the handlers' futures would otherwise all live in this one.
                                Ok(args) => Box::pin(self.$method(conn, args)).await,
                                Err(e) => Err(RpcError::Decode(e)),
                            }
                        }).await;
                        reply(header, &[$($slot),*], outcome)
                    })*
                    "shutdown" => return None,
                    other => {
                        tracing::warn!(method = other, "metastore: unknown method");
                        if let Err(e) = r.skip(codec::STRUCT) {
                            return Some(application_error(header, PROTOCOL_ERROR, &e.to_string()));
                        }
                        application_error(header, UNKNOWN_METHOD, &format!("Invalid method name: '{other}'"))
                    }
                }
            };
        }
        let bytes = routes! {
            "set_ugi" => set_ugi(SetUgiArgs), [Meta];
            "get_config_value" => get_config_value(ConfigValueArgs), [Meta];
            "get_database" => get_database(NameArgs), [NoSuchObject, Meta];
            "get_databases" => get_databases(PatternArgs), [Meta];
            "get_all_databases" => get_all_databases(NoArgs), [Meta];
            "create_database" => create_database(CreateDatabaseArgs), [AlreadyExists, InvalidObject, Meta];
            "drop_database" => drop_database(DropDatabaseArgs), [NoSuchObject, InvalidOperation, Meta];
            "alter_database" => alter_database(AlterDatabaseArgs), [Meta, NoSuchObject];
            "get_table" => get_table(ObjectArgs), [Meta, NoSuchObject];
            "get_table_req" => get_table_req(TableRequestArgs), [Meta, NoSuchObject];
            "get_tables" => get_tables(DbPatternArgs), [Meta];
            "get_tables_by_type" => get_tables_by_type(TablesByTypeArgs), [Meta];
            "get_all_tables" => get_all_tables(NameArgs), [Meta];
            "get_table_objects_by_name" => get_table_objects_by_name(TableObjectsArgs), [];
            "get_table_objects_by_name_req" => get_table_objects_by_name_req(TablesRequestArgs), [Meta, InvalidOperation, UnknownDb];
            "create_table" => create_table(CreateTableArgs), [AlreadyExists, InvalidObject, Meta, NoSuchObject];
            "create_table_with_environment_context" => create_table(CreateTableArgs), [AlreadyExists, InvalidObject, Meta, NoSuchObject];
            "drop_table" => drop_table(DropTableArgs), [NoSuchObject, Meta];
            "drop_table_with_environment_context" => drop_table(DropTableArgs), [NoSuchObject, Meta];
            "alter_table" => alter_table(AlterTableArgs), [InvalidOperation, Meta];
            "alter_table_with_environment_context" => alter_table(AlterTableArgs), [InvalidOperation, Meta];
            "alter_table_with_cascade" => alter_table(AlterTableArgs), [InvalidOperation, Meta];
            "get_function" => get_function(ObjectArgs), [Meta, NoSuchObject];
            "get_functions" => get_functions(DbPatternArgs), [Meta];
            "get_all_functions" => get_all_functions(NoArgs), [Meta];
            "create_function" => create_function(CreateFunctionArgs), [AlreadyExists, InvalidObject, Meta, NoSuchObject];
            "drop_function" => drop_function(ObjectArgs), [NoSuchObject, Meta];
            "alter_function" => alter_function(AlterFunctionArgs), [InvalidOperation, Meta];
            "add_partitions_req" => add_partitions_req(AddPartitionsReqArgs), [InvalidObject, AlreadyExists, Meta];
            "add_partition" => add_partition(AddPartitionArgs), [InvalidObject, AlreadyExists, Meta];
            "add_partition_with_environment_context" => add_partition(AddPartitionArgs), [InvalidObject, AlreadyExists, Meta];
            "add_partitions" => add_partitions(AddPartitionListArgs), [InvalidObject, AlreadyExists, Meta];
            "get_partitions" => get_partitions(TablePartsArgs), [NoSuchObject, Meta];
            "get_partitions_ps" => get_partitions_ps(PartialSpecArgs), [Meta, NoSuchObject];
            "get_partitions_ps_with_auth" => get_partitions_ps(PartialSpecArgs), [NoSuchObject, Meta];
            "get_partitions_by_filter" => get_partitions_by_filter(FilterArgs), [Meta, NoSuchObject];
            "get_partitions_by_names" => get_partitions_by_names(NamesArgs), [Meta, NoSuchObject];
            "get_partition_names" => get_partition_names(TablePartsArgs), [Meta];
            "get_partition_names_ps" => get_partition_names_ps(PartialSpecArgs), [Meta, NoSuchObject];
            "get_partition" => get_partition(PartitionValuesArgs), [Meta, NoSuchObject];
            "get_partition_with_auth" => get_partition(PartitionValuesArgs), [Meta, NoSuchObject];
            "get_partition_by_name" => get_partition_by_name(PartitionByNameArgs), [Meta, NoSuchObject];
            "drop_partition" => drop_partition(DropPartitionArgs), [NoSuchObject, Meta];
            "drop_partition_with_environment_context" => drop_partition(DropPartitionArgs), [NoSuchObject, Meta];
            "drop_partition_by_name" => drop_partition_by_name(PartitionByNameArgs), [NoSuchObject, Meta];
            "alter_partition" => alter_partition(AlterPartitionArgs), [InvalidOperation, Meta];
            "alter_partition_with_environment_context" => alter_partition(AlterPartitionArgs), [InvalidOperation, Meta];
            "alter_partitions" => alter_partitions(AlterPartitionsArgs), [InvalidOperation, Meta];
            "alter_partitions_with_environment_context" => alter_partitions(AlterPartitionsArgs), [InvalidOperation, Meta];
            "rename_partition" => rename_partition(RenamePartitionArgs), [InvalidOperation, Meta];
        };
        Some(bytes)
    }

    // ---- connection ----

    /// The Hive client's handshake: its user name is the driver's credential.
    async fn set_ugi(&self, conn: &mut Connection, a: SetUgiArgs) -> Outcome {
        let user = required(a.user_name, "user_name")?;
        conn.user = Some(user.clone());
        conn.default_checked = None;
        if self.registry.access(Some(&user)).await == Access::Refused {
            tracing::warn!("metastore: a connection presented an unknown credential");
        }
        let mut groups = vec![user];
        groups.extend(a.group_names.unwrap_or_default());
        ok(&groups)
    }

    /// Hive asks for server settings it may need; epoxy has none beyond the defaults.
    async fn get_config_value(&self, conn: &mut Connection, a: ConfigValueArgs) -> Outcome {
        self.caller(conn).await?;
        ok(&a.default_value.unwrap_or_default())
    }

    // ---- databases ----

    async fn get_database(&self, conn: &mut Connection, a: NameArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let name = required(a.name, "name")?.to_lowercase();
        if !caller.bound {
            return if name == DEFAULT_DB {
                ok(&self.unbound_default())
            } else {
                Err(RpcError::Hive(
                    Kind::NoSuchObject,
                    format!("Database {name} not found."),
                ))
            };
        }
        let db = self.catalog.get_database(&caller.tenant, &name).await?;
        ok(&self.database_out(&caller.tenant, &db))
    }

    async fn database_names(&self, conn: &mut Connection, pattern: Option<&str>) -> Outcome {
        let caller = self.caller(conn).await?;
        let filter = NamePattern::new("pattern", hms_pattern(pattern).as_deref())
            .map_err(|e| meta(e.to_string()))?;
        let names: Vec<String> = if caller.bound {
            self.catalog
                .get_databases(&caller.tenant, PageRequest::all())
                .await?
                .items
                .into_iter()
                .map(|d| d.name)
                .collect()
        } else {
            vec![DEFAULT_DB.to_string()]
        };
        ok(&names
            .into_iter()
            .filter(|n| filter.matches(n))
            .collect::<Vec<_>>())
    }

    async fn get_databases(&self, conn: &mut Connection, a: PatternArgs) -> Outcome {
        self.database_names(conn, a.pattern.as_deref()).await
    }

    async fn get_all_databases(&self, conn: &mut Connection, _: NoArgs) -> Outcome {
        self.database_names(conn, None).await
    }

    async fn create_database(&self, conn: &mut Connection, a: CreateDatabaseArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let db = a.database.ok_or_else(|| invalid("database is required"))?;
        let mut input = convert::database_in(db);
        required(Some(input.name.clone()), "Database.name")?;
        // Hive's metastore gives a database created without a location its warehouse path and
        // records it, as Glue records the location Spark sends on AWS.
        input.location_uri = Some(self.own_location(input.location_uri).unwrap_or_else(|| {
            self.catalog.warehouse().database_location(
                &tenant.account,
                &crate::catalog::names::canonical(&input.name),
            )
        }));
        self.catalog.create_database(tenant, input).await?;
        done()
    }

    async fn drop_database(&self, conn: &mut Connection, a: DropDatabaseArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let name = required(a.name, "name")?;
        if name.eq_ignore_ascii_case(DEFAULT_DB) {
            return Err(RpcError::Hive(
                Kind::InvalidOperation,
                "Can not drop default database".into(),
            ));
        }
        let mode = DropDatabase {
            cascade: a.cascade.unwrap_or(false),
            delete_data: a.delete_data.unwrap_or(true),
        };
        self.catalog.delete_database(tenant, &name, mode).await?;
        done()
    }

    async fn alter_database(&self, conn: &mut Connection, a: AlterDatabaseArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let name = required(a.dbname, "dbname")?;
        let db = a.db.ok_or_else(|| invalid("db is required"))?;
        let mut input = convert::database_in(db);
        if input.name.is_empty() {
            input.name = name.clone();
        }
        input.location_uri = self.own_location(input.location_uri);
        self.catalog.update_database(tenant, &name, input).await?;
        done()
    }

    // ---- tables ----

    async fn table(
        &self,
        caller: &Caller,
        db: Option<String>,
        name: Option<String>,
    ) -> Result<glue::Table, RpcError> {
        let (db, name) = (required(db, "db_name")?, required(name, "tbl_name")?);
        match self.catalog.get_table(&caller.tenant, &db, &name).await {
            Ok(t) => Ok(t),
            // Hive says "table not found" whether or not the database exists.
            Err(CatalogError::EntityNotFound(_)) => Err(RpcError::Hive(
                Kind::NoSuchObject,
                format!(
                    "{}.{} table not found",
                    db.to_lowercase(),
                    name.to_lowercase()
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn get_table(&self, conn: &mut Connection, a: ObjectArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        ok(&convert::table_out(
            &self.table(&caller, a.db, a.name).await?,
        ))
    }

    async fn get_table_req(&self, conn: &mut Connection, a: TableRequestArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let req = a.req.unwrap_or_default();
        let table = self.table(&caller, req.db_name, req.tbl_name).await?;
        ok(&GetTableResult {
            table: Some(convert::table_out(&table)),
        })
    }

    /// A database's tables whose names match; an unknown database has none (as in Hive).
    async fn tables(
        &self,
        caller: &Caller,
        db: Option<String>,
        pattern: Option<&str>,
    ) -> Result<Vec<glue::Table>, RpcError> {
        let db = required(db, "db_name")?;
        let expression = hms_pattern(pattern);
        match self
            .catalog
            .get_tables(
                &caller.tenant,
                &db,
                expression.as_deref(),
                PageRequest::all(),
            )
            .await
        {
            Ok(page) => Ok(page.items),
            Err(CatalogError::EntityNotFound(_)) => Ok(Vec::new()),
            Err(CatalogError::InvalidInput(m)) => Err(meta(m)),
            Err(e) => Err(e.into()),
        }
    }

    fn names(tables: Vec<glue::Table>) -> Vec<String> {
        tables.into_iter().map(|t| t.name).collect()
    }

    async fn get_tables(&self, conn: &mut Connection, a: DbPatternArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        ok(&Self::names(
            self.tables(&caller, a.db, a.pattern.as_deref()).await?,
        ))
    }

    async fn get_all_tables(&self, conn: &mut Connection, a: NameArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        ok(&Self::names(self.tables(&caller, a.name, None).await?))
    }

    async fn get_tables_by_type(&self, conn: &mut Connection, a: TablesByTypeArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let wanted = a.table_type.filter(|t| !t.is_empty());
        let tables = self.tables(&caller, a.db, a.pattern.as_deref()).await?;
        let names: Vec<String> = tables
            .into_iter()
            .filter(|t| {
                wanted.as_deref().is_none_or(|w| {
                    convert::table_out(t)
                        .table_type
                        .is_some_and(|ty| ty.eq_ignore_ascii_case(w))
                })
            })
            .map(|t| t.name)
            .collect();
        ok(&names)
    }

    /// The named tables that exist, in the order asked.
    async fn table_objects(
        &self,
        caller: &Caller,
        db: Option<String>,
        names: Vec<String>,
    ) -> Result<Vec<Table>, RpcError> {
        let db = required(db, "dbname")?;
        let mut tables = Vec::new();
        for name in names {
            match self.catalog.get_table(&caller.tenant, &db, &name).await {
                Ok(t) => tables.push(convert::table_out(&t)),
                Err(CatalogError::EntityNotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(tables)
    }

    async fn get_table_objects_by_name(
        &self,
        conn: &mut Connection,
        a: TableObjectsArgs,
    ) -> Outcome {
        let caller = self.caller(conn).await?;
        ok(&self
            .table_objects(&caller, a.db, a.names.unwrap_or_default())
            .await?)
    }

    async fn get_table_objects_by_name_req(
        &self,
        conn: &mut Connection,
        a: TablesRequestArgs,
    ) -> Outcome {
        let caller = self.caller(conn).await?;
        let req = a.req.unwrap_or_default();
        let tables = self
            .table_objects(&caller, req.db_name, req.tbl_names.unwrap_or_default())
            .await?;
        ok(&GetTablesResult {
            tables: Some(tables),
        })
    }

    async fn create_table(&self, conn: &mut Connection, a: CreateTableArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let table = a.tbl.ok_or_else(|| invalid("tbl is required"))?;
        let db = required(table.db_name.clone(), "Table.dbName")?;
        let mut input = convert::table_in(table, now_seconds(), conn.user.as_deref());
        required(Some(input.name.clone()), "Table.tableName")?;
        if let Some(sd) = input.storage_descriptor.as_mut() {
            sd.location = self.own_location(sd.location.take());
        }
        self.catalog.create_table(tenant, &db, input).await?;
        done()
    }

    async fn drop_table(&self, conn: &mut Connection, a: DropTableArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let (db, name) = (required(a.db, "dbname")?, required(a.name, "name")?);
        self.catalog
            .delete_table(tenant, &db, &name, a.delete_data.unwrap_or(true))
            .await?;
        done()
    }

    async fn alter_table(&self, conn: &mut Connection, a: AlterTableArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let (db, name) = (required(a.db, "dbname")?, required(a.name, "tbl_name")?);
        let table = a.new_tbl.ok_or_else(|| invalid("new_tbl is required"))?;
        let moved = table
            .db_name
            .as_deref()
            .is_some_and(|d| !d.is_empty() && !d.eq_ignore_ascii_case(&db));
        let mut input = convert::table_in(table, now_seconds(), conn.user.as_deref());
        if input.name.is_empty() {
            input.name = name.clone();
        }
        // Glue has no rename, and refuses it the same way through its Hive client.
        if moved || !input.name.eq_ignore_ascii_case(&name) {
            return Err(RpcError::Hive(
                Kind::InvalidOperation,
                "Table rename is not supported".into(),
            ));
        }
        if let Some(sd) = input.storage_descriptor.as_mut() {
            sd.location = self.own_location(sd.location.take());
        }
        match self
            .catalog
            .update_table(tenant, &db, input, TableUpdate::default())
            .await
        {
            Ok(_) => done(),
            Err(CatalogError::EntityNotFound(m)) => Err(RpcError::Hive(
                Kind::InvalidOperation,
                format!("alter is not possible: {m}"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    // ---- functions ----

    async fn get_function(&self, conn: &mut Connection, a: ObjectArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let (db, name) = (required(a.db, "dbName")?, required(a.name, "funcName")?);
        match self.catalog.get_function(&caller.tenant, &db, &name).await {
            Ok(f) => ok(&convert::function_out(&f)),
            // Spark only treats a missing function as missing if the text says so.
            Err(CatalogError::EntityNotFound(_)) => Err(RpcError::Hive(
                Kind::NoSuchObject,
                format!(
                    "Function {}.{} does not exist",
                    db.to_lowercase(),
                    name.to_lowercase()
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn functions(
        &self,
        caller: &Caller,
        db: Option<&str>,
        pattern: Option<&str>,
    ) -> Result<Vec<glue::UserDefinedFunction>, RpcError> {
        let pattern = hms_pattern(pattern);
        match self
            .catalog
            .get_functions(&caller.tenant, db, pattern.as_deref(), PageRequest::all())
            .await
        {
            Ok(page) => Ok(page.items),
            Err(CatalogError::EntityNotFound(_)) => Ok(Vec::new()),
            Err(CatalogError::InvalidInput(m)) => Err(meta(m)),
            Err(e) => Err(e.into()),
        }
    }

    async fn get_functions(&self, conn: &mut Connection, a: DbPatternArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let db = required(a.db, "dbName")?;
        let names: Vec<String> = self
            .functions(&caller, Some(&db), a.pattern.as_deref())
            .await?
            .into_iter()
            .filter_map(|f| f.function_name)
            .collect();
        ok(&names)
    }

    async fn get_all_functions(&self, conn: &mut Connection, _: NoArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let functions = self.functions(&caller, None, None).await?;
        ok(&GetAllFunctionsResponse {
            functions: Some(functions.iter().map(convert::function_out).collect()),
        })
    }

    async fn create_function(&self, conn: &mut Connection, a: CreateFunctionArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let f = a.func.ok_or_else(|| invalid("func is required"))?;
        let db = required(f.db_name.clone(), "Function.dbName")?;
        required(f.function_name.clone(), "Function.functionName")?;
        let input = convert::function_in(f, conn.user.as_deref());
        self.catalog.create_function(tenant, &db, input).await?;
        done()
    }

    async fn drop_function(&self, conn: &mut Connection, a: ObjectArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let (db, name) = (required(a.db, "dbName")?, required(a.name, "funcName")?);
        self.catalog.delete_function(tenant, &db, &name).await?;
        done()
    }

    async fn alter_function(&self, conn: &mut Connection, a: AlterFunctionArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let (db, name) = (required(a.db, "dbName")?, required(a.name, "funcName")?);
        let f = a.new_func.ok_or_else(|| invalid("newFunc is required"))?;
        let mut input = convert::function_in(f, conn.user.as_deref());
        input.function_name.get_or_insert_with(|| name.clone());
        self.catalog
            .update_function(tenant, &db, &name, input)
            .await?;
        done()
    }

    // ---- partitions ----

    /// Partitions to add, each with a location (`<table>/<partition name>` if none given).
    fn partition_inputs(table: &glue::Table, parts: Vec<Partition>) -> Vec<glue::PartitionInput> {
        let keys = convert::partition_keys(table);
        parts
            .into_iter()
            .map(|p| {
                let mut input = convert::partition_in(p);
                let values = input.values.clone().unwrap_or_default();
                let sd = input
                    .storage_descriptor
                    .get_or_insert_with(|| table.storage_descriptor.clone().unwrap_or_default());
                if sd.location.is_none()
                    && let Some(base) = convert::table_location(table)
                {
                    sd.location = Some(format!(
                        "{}/{}",
                        base.trim_end_matches('/'),
                        convert::partition_name(&keys, &values)
                    ));
                }
                input
            })
            .collect()
    }

    /// Adds partitions all or nothing: an existing one fails the call unless `if_not_exists`.
    async fn add(
        &self,
        tenant: &Tenant,
        db: &str,
        table_name: &str,
        parts: Vec<Partition>,
        if_not_exists: bool,
    ) -> Result<(glue::Table, Vec<glue::Partition>), RpcError> {
        let table = match self.catalog.get_table(tenant, db, table_name).await {
            Ok(t) => t,
            Err(CatalogError::EntityNotFound(_)) => {
                return Err(invalid(format!(
                    "Unable to add partitions because database or table {db}.{table_name} does not exist"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let inputs = Self::partition_inputs(&table, parts);
        let values: Vec<Vec<String>> = inputs
            .iter()
            .map(|i| i.values.clone().unwrap_or_default())
            .collect();
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = values.iter().find(|v| !seen.insert(*v)) {
            return Err(meta(format!("Duplicate partitions in the list: {dup:?}")));
        }
        if !if_not_exists {
            let existing = self
                .catalog
                .batch_get_partition(tenant, db, table_name, values)
                .await?;
            if let Some(p) = existing.first() {
                return Err(RpcError::Hive(
                    Kind::AlreadyExists,
                    format!(
                        "Partition already exists: {:?}",
                        p.values.clone().unwrap_or_default()
                    ),
                ));
            }
        }
        let (added, _existing) = self
            .catalog
            .batch_create_partition(tenant, db, table_name, inputs)
            .await?;
        Ok((table, added))
    }

    async fn add_partitions_req(&self, conn: &mut Connection, a: AddPartitionsReqArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let req = a.request.ok_or_else(|| invalid("request is required"))?;
        let (db, tbl) = (
            required(req.db_name, "dbName")?,
            required(req.tbl_name, "tblName")?,
        );
        let (table, added) = self
            .add(
                tenant,
                &db,
                &tbl,
                req.parts.unwrap_or_default(),
                req.if_not_exists.unwrap_or(false),
            )
            .await?;
        let partitions = req.need_result.unwrap_or(true).then(|| {
            added
                .iter()
                .map(|p| convert::partition_out(p, &table))
                .collect()
        });
        ok(&AddPartitionsResult { partitions })
    }

    async fn add_partition(&self, conn: &mut Connection, a: AddPartitionArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let part = a.new_part.ok_or_else(|| invalid("new_part is required"))?;
        let db = required(part.db_name.clone(), "Partition.dbName")?;
        let tbl = required(part.table_name.clone(), "Partition.tableName")?;
        let (table, added) = self.add(tenant, &db, &tbl, vec![part], false).await?;
        let added = added.first().ok_or_else(|| {
            RpcError::Hive(Kind::AlreadyExists, "Partition already exists".into())
        })?;
        ok(&convert::partition_out(added, &table))
    }

    async fn add_partitions(&self, conn: &mut Connection, a: AddPartitionListArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let parts = a.new_parts.unwrap_or_default();
        let Some(first) = parts.first() else {
            return ok(&0i32);
        };
        let db = required(first.db_name.clone(), "Partition.dbName")?;
        let tbl = required(first.table_name.clone(), "Partition.tableName")?;
        let (_, added) = self.add(tenant, &db, &tbl, parts, false).await?;
        ok(&(added.len() as i32))
    }

    /// All partitions of a table, with the table (for defaults and names).
    async fn all_partitions(
        &self,
        caller: &Caller,
        db: Option<String>,
        tbl: Option<String>,
        expression: Option<&str>,
    ) -> Result<(glue::Table, Vec<glue::Partition>), RpcError> {
        let table = self.table(caller, db, tbl).await?;
        let db = table.database_name.clone().unwrap_or_default();
        let page = self
            .catalog
            .get_partitions(
                &caller.tenant,
                &db,
                &table.name,
                expression,
                None,
                PageRequest::all(),
            )
            .await?;
        Ok((table, page.items))
    }

    fn partitions_out(
        table: &glue::Table,
        parts: Vec<glue::Partition>,
        max: Option<i16>,
    ) -> Vec<Partition> {
        limit(parts, max)
            .iter()
            .map(|p| convert::partition_out(p, table))
            .collect()
    }

    async fn get_partitions(&self, conn: &mut Connection, a: TablePartsArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let (table, parts) = self.all_partitions(&caller, a.db, a.table, None).await?;
        ok(&Self::partitions_out(&table, parts, a.max_parts))
    }

    /// Partitions matching a partial spec: a prefix of the values, `""` matching any.
    async fn partial_spec(
        &self,
        caller: &Caller,
        a: PartialSpecArgs,
    ) -> Result<(glue::Table, Vec<glue::Partition>), RpcError> {
        let spec = a.part_vals.unwrap_or_default();
        let (table, parts) = self.all_partitions(caller, a.db, a.table, None).await?;
        if spec.len() > convert::partition_keys(&table).len() {
            return Err(meta("Incorrect number of partition values"));
        }
        let parts = parts
            .into_iter()
            .filter(|p| {
                let values = p.values.as_deref().unwrap_or_default();
                spec.iter()
                    .zip(values)
                    .all(|(want, have)| want.is_empty() || want == have)
            })
            .collect();
        Ok((table, limit(parts, a.max_parts)))
    }

    async fn get_partitions_ps(&self, conn: &mut Connection, a: PartialSpecArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let (table, parts) = self.partial_spec(&caller, a).await?;
        ok(&Self::partitions_out(&table, parts, None))
    }

    /// Hive's filter dialect is the one the catalog's partition predicates parse; a filter it
    /// cannot read returns every partition (Spark prunes again on its side, so more is safe).
    async fn get_partitions_by_filter(&self, conn: &mut Connection, a: FilterArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let filter = a.filter.filter(|f| !f.trim().is_empty());
        let (db, tbl) = (a.db, a.table);
        let (table, parts) = match self
            .all_partitions(&caller, db.clone(), tbl.clone(), filter.as_deref())
            .await
        {
            Err(RpcError::Hive(Kind::InvalidObject, reason)) if filter.is_some() => {
                tracing::debug!(%reason, "partition filter not understood; returning all partitions");
                self.all_partitions(&caller, db, tbl, None).await?
            }
            other => other?,
        };
        ok(&Self::partitions_out(&table, parts, a.max_parts))
    }

    async fn get_partitions_by_names(&self, conn: &mut Connection, a: NamesArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let table = self.table(&caller, a.db, a.table).await?;
        let keys = convert::partition_keys(&table);
        let values: Vec<Vec<String>> = a
            .names
            .unwrap_or_default()
            .iter()
            .filter_map(|name| values_from_name(&keys, name))
            .collect();
        let db = table.database_name.clone().unwrap_or_default();
        let parts = self
            .catalog
            .batch_get_partition(&caller.tenant, &db, &table.name, values)
            .await?;
        ok(&Self::partitions_out(&table, parts, None))
    }

    fn partition_names(table: &glue::Table, parts: &[glue::Partition]) -> Vec<String> {
        let keys = convert::partition_keys(table);
        parts
            .iter()
            .map(|p| convert::partition_name(&keys, p.values.as_deref().unwrap_or_default()))
            .collect()
    }

    async fn get_partition_names(&self, conn: &mut Connection, a: TablePartsArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let (table, parts) = self.all_partitions(&caller, a.db, a.table, None).await?;
        ok(&Self::partition_names(&table, &limit(parts, a.max_parts)))
    }

    async fn get_partition_names_ps(&self, conn: &mut Connection, a: PartialSpecArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let (table, parts) = self.partial_spec(&caller, a).await?;
        ok(&Self::partition_names(&table, &parts))
    }

    async fn one_partition(
        &self,
        caller: &Caller,
        db: Option<String>,
        tbl: Option<String>,
        values: Vec<String>,
    ) -> Outcome {
        let table = self.table(caller, db, tbl).await?;
        let db = table.database_name.clone().unwrap_or_default();
        match self
            .catalog
            .get_partition(&caller.tenant, &db, &table.name, &values)
            .await
        {
            Ok(p) => ok(&convert::partition_out(&p, &table)),
            Err(CatalogError::EntityNotFound(_) | CatalogError::InvalidInput(_)) => {
                Err(RpcError::Hive(
                    Kind::NoSuchObject,
                    format!("partition values={values:?} not found"),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn get_partition(&self, conn: &mut Connection, a: PartitionValuesArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        self.one_partition(&caller, a.db, a.table, a.part_vals.unwrap_or_default())
            .await
    }

    async fn get_partition_by_name(
        &self,
        conn: &mut Connection,
        a: PartitionByNameArgs,
    ) -> Outcome {
        let caller = self.caller(conn).await?;
        let table = self.table(&caller, a.db, a.table).await?;
        let name = required(a.part_name, "part_name")?;
        let values = values_from_name(&convert::partition_keys(&table), &name)
            .ok_or_else(|| meta(format!("Invalid partition name {name}")))?;
        self.one_partition(
            &caller,
            table.database_name.clone(),
            Some(table.name.clone()),
            values,
        )
        .await
    }

    async fn drop_values(
        &self,
        tenant: &Tenant,
        db: Option<String>,
        tbl: Option<String>,
        values: Vec<String>,
        delete_data: bool,
    ) -> Outcome {
        let (db, tbl) = (required(db, "db_name")?, required(tbl, "tbl_name")?);
        match self
            .catalog
            .delete_partition(tenant, &db, &tbl, &values, delete_data)
            .await
        {
            Ok(_) => ok(&true),
            Err(CatalogError::EntityNotFound(_) | CatalogError::InvalidInput(_)) => {
                Err(RpcError::Hive(
                    Kind::NoSuchObject,
                    format!("Partition {values:?} of {db}.{tbl} not found"),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn drop_partition(&self, conn: &mut Connection, a: DropPartitionArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        self.drop_values(
            tenant,
            a.db,
            a.table,
            a.part_vals.unwrap_or_default(),
            a.delete_data.unwrap_or(true),
        )
        .await
    }

    async fn drop_partition_by_name(
        &self,
        conn: &mut Connection,
        a: PartitionByNameArgs,
    ) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let table = self.table(&caller, a.db, a.table).await?;
        let name = required(a.part_name, "part_name")?;
        let values = values_from_name(&convert::partition_keys(&table), &name)
            .ok_or_else(|| meta(format!("Invalid partition name {name}")))?;
        self.drop_values(
            tenant,
            table.database_name.clone(),
            Some(table.name.clone()),
            values,
            a.delete_data.unwrap_or(true),
        )
        .await
    }

    /// Replaces partitions in place; `from` names the one to replace (else each one's values).
    async fn replace_partitions(
        &self,
        tenant: &Tenant,
        db: Option<String>,
        tbl: Option<String>,
        parts: Vec<(Option<Vec<String>>, Partition)>,
    ) -> Outcome {
        let (db, tbl) = (required(db, "db_name")?, required(tbl, "tbl_name")?);
        for (from, part) in parts {
            let input = convert::partition_in(part);
            let values = from.or_else(|| input.values.clone()).unwrap_or_default();
            match self
                .catalog
                .update_partition(tenant, &db, &tbl, &values, input)
                .await
            {
                Ok(_) => {}
                Err(CatalogError::EntityNotFound(m)) => {
                    return Err(RpcError::Hive(
                        Kind::InvalidOperation,
                        format!("alter is not possible: {m}"),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        done()
    }

    async fn alter_partition(&self, conn: &mut Connection, a: AlterPartitionArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let part = a.new_part.ok_or_else(|| invalid("new_part is required"))?;
        self.replace_partitions(tenant, a.db, a.table, vec![(None, part)])
            .await
    }

    async fn alter_partitions(&self, conn: &mut Connection, a: AlterPartitionsArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let parts = a.new_parts.unwrap_or_default();
        self.replace_partitions(
            tenant,
            a.db,
            a.table,
            parts.into_iter().map(|p| (None, p)).collect(),
        )
        .await
    }

    async fn rename_partition(&self, conn: &mut Connection, a: RenamePartitionArgs) -> Outcome {
        let caller = self.caller(conn).await?;
        let tenant = caller.writable()?;
        let part = a.new_part.ok_or_else(|| invalid("new_part is required"))?;
        self.replace_partitions(tenant, a.db, a.table, vec![(a.part_vals, part)])
            .await
    }
}

/// A partition name's values in key order; None if its keys are not the table's.
fn values_from_name(keys: &[String], name: &str) -> Option<Vec<String>> {
    let pairs = convert::parse_partition_name(name)?;
    if pairs.len() != keys.len() {
        return None;
    }
    keys.iter()
        .zip(pairs)
        .map(|(k, (pk, v))| pk.eq_ignore_ascii_case(k).then_some(v))
        .collect()
}
