//! The catalog tables on PostgreSQL (migrations/postgres/0003_catalog.sql). Records are the
//! objects' wire JSON, as in SQLite; a write that reads before it writes locks what it read
//! (`FOR UPDATE`), since other nodes write the same rows.

use super::{Params, PostgresStore, exec, limit_sql, row, rows};
use crate::catalog::model::{Database, Partition, Table, UserDefinedFunction};
use crate::sessions::model::Tenant;
use crate::store::StoreError;
use crate::store::catalog::{
    CatalogStore, Insert, NameFilter, TableWrite, ValuesFilter, decode, encode, kept_by_name,
    kept_partitions, partition_key, partition_records, versioned,
};
use deadpool_postgres::GenericClient;
use serde::de::DeserializeOwned;
use tokio_postgres::Row;

async fn database_key(
    c: &impl GenericClient,
    tenant: &Tenant,
    name: &str,
    lock: &str,
) -> Result<Option<i64>, StoreError> {
    row(
        c,
        &format!(
            "SELECT key FROM catalog_databases WHERE account = $1 AND region = $2 AND name = $3 {lock}"
        ),
        &[&tenant.account, &tenant.region, &name],
    )
    .await?
    .map(|r| r.try_get(0).map_err(StoreError::from))
    .transpose()
}

/// The table's key and current version; `lock` is "" or a locking clause.
async fn table_key(
    c: &impl GenericClient,
    tenant: &Tenant,
    db: &str,
    name: &str,
    lock: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    row(
        c,
        &format!(
            "SELECT t.key, t.version FROM catalog_tables t JOIN catalog_databases d ON t.database = d.key \
             WHERE d.account = $1 AND d.region = $2 AND d.name = $3 AND t.name = $4 {lock}"
        ),
        &[&tenant.account, &tenant.region, &db, &name],
    )
    .await?
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .transpose()
}

const FOR_UPDATE_OF_T: &str = "FOR UPDATE OF t";
const FOR_SHARE: &str = "FOR SHARE";
const FOR_SHARE_OF_T: &str = "FOR SHARE OF t";

fn record<T: DeserializeOwned>(found: Option<Row>) -> Result<Option<T>, StoreError> {
    found
        .map(|r| decode(&r.try_get::<_, String>(0)?))
        .transpose()
}

/// Rows a listing reads from its cursor at first; each further read takes twice as many (a
/// selective filter reads on through many rows), up to [`MAX_BATCH`].
const BATCH: i32 = 256;
const MAX_BATCH: i32 = 16_384;

/// What `take` keeps of the `(key, record)` rows of `sql` (in its order), up to `limit` items:
/// the rows are read through a portal in growing batches, so a page stops reading where it is
/// full instead of reading everything after its cursor. `take` is one of the stores' shared
/// listings ([`kept_by_name`], [`kept_partitions`]) over a batch, with the room left.
async fn kept_rows<T>(
    c: &mut deadpool_postgres::Client,
    sql: &str,
    params: &Params<'_>,
    limit: usize,
    take: impl Fn(&[Row], usize) -> Result<Vec<T>, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let tx = c.transaction().await?;
    let stmt = tx.prepare_cached(sql).await?;
    let portal = tx.bind(&stmt, params).await?;
    let (mut out, mut size) = (Vec::new(), BATCH);
    while out.len() < limit {
        let batch = tx.query_portal(&portal, size).await?;
        out.extend(take(&batch, limit - out.len())?);
        if batch.len() < size as usize {
            break;
        }
        size = (size * 2).min(MAX_BATCH);
    }
    Ok(out)
}

/// `(key, record)` rows as [`crate::store::catalog::kept_records`] takes them.
fn key_records(found: &[Row]) -> impl Iterator<Item = Result<(String, String), StoreError>> + '_ {
    found.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
}

impl CatalogStore for PostgresStore {
    fn insert_database(&self, tenant: &Tenant, db: &Database) -> Result<Insert, StoreError> {
        let record = encode(db)?;
        self.run(async |c| {
            let n = exec(
                &*c,
                "INSERT INTO catalog_databases (account, region, name, record) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
                &[&tenant.account, &tenant.region, &db.name, &record],
            )
            .await?;
            Ok(if n == 1 { Insert::Done } else { Insert::Exists })
        })
    }

    fn database(&self, tenant: &Tenant, name: &str) -> Result<Option<Database>, StoreError> {
        record(self.run(async |c| {
            row(
                &*c,
                "SELECT record FROM catalog_databases WHERE account = $1 AND region = $2 AND name = $3",
                &[&tenant.account, &tenant.region, &name],
            )
            .await
        })?)
    }

    fn databases(
        &self,
        tenant: &Tenant,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Database>, StoreError> {
        let (after, limit) = (after.unwrap_or(""), limit_sql(limit));
        let found = self.run(async |c| {
            rows(
                &*c,
                "SELECT record FROM catalog_databases WHERE account = $1 AND region = $2 AND name > $3 \
                 ORDER BY name LIMIT $4",
                &[&tenant.account, &tenant.region, &after, &limit],
            )
            .await
        })?;
        found
            .iter()
            .map(|r| decode(&r.try_get::<_, String>(0)?))
            .collect()
    }

    fn replace_database(
        &self,
        tenant: &Tenant,
        name: &str,
        db: &Database,
    ) -> Result<bool, StoreError> {
        let record = encode(db)?;
        self.run(async |c| {
            let n = exec(
                &*c,
                "UPDATE catalog_databases SET name = $4, record = $5 WHERE account = $1 AND region = $2 AND name = $3",
                &[&tenant.account, &tenant.region, &name, &db.name, &record],
            )
            .await?;
            Ok(n == 1)
        })
    }

    fn delete_database(&self, tenant: &Tenant, name: &str) -> Result<bool, StoreError> {
        self.run(async |c| {
            let n = exec(
                &*c,
                "DELETE FROM catalog_databases WHERE account = $1 AND region = $2 AND name = $3",
                &[&tenant.account, &tenant.region, &name],
            )
            .await?;
            Ok(n == 1)
        })
    }

    fn database_contents(&self, tenant: &Tenant, name: &str) -> Result<usize, StoreError> {
        self.run(async |c| {
            let Some(key) = database_key(&*c, tenant, name, "").await? else {
                return Ok(0);
            };
            let n: i64 = row(
                &*c,
                "SELECT (SELECT count(*) FROM catalog_tables WHERE database = $1) + \
                        (SELECT count(*) FROM catalog_functions WHERE database = $1)",
                &[&key],
            )
            .await?
            .map_or(Ok(0), |r| r.try_get(0))?;
            Ok(n as usize)
        })
    }

    fn insert_table(&self, tenant: &Tenant, db: &str, table: &Table) -> Result<Insert, StoreError> {
        let record = versioned(table, 1)?;
        self.run(async |c| {
            let tx = c.transaction().await?;
            let Some(dbkey) = database_key(&tx, tenant, db, FOR_SHARE).await? else {
                return Ok(Insert::NoParent);
            };
            let Some(inserted) = row(
                &tx,
                "INSERT INTO catalog_tables (database, name, table_type, version, record) VALUES ($1, $2, $3, 1, $4) \
                 ON CONFLICT DO NOTHING RETURNING key",
                &[&dbkey, &table.name, &table.table_type, &record],
            )
            .await?
            else {
                return Ok(Insert::Exists);
            };
            let key: i64 = inserted.try_get(0)?;
            exec(
                &tx,
                "INSERT INTO catalog_table_versions (tbl, version, record) VALUES ($1, 1, $2)",
                &[&key, &record],
            )
            .await?;
            tx.commit().await?;
            Ok(Insert::Done)
        })
    }

    fn table(&self, tenant: &Tenant, db: &str, name: &str) -> Result<Option<Table>, StoreError> {
        record(self.run(async |c| {
            row(
                &*c,
                "SELECT t.record FROM catalog_tables t JOIN catalog_databases d ON t.database = d.key \
                 WHERE d.account = $1 AND d.region = $2 AND d.name = $3 AND t.name = $4",
                &[&tenant.account, &tenant.region, &db, &name],
            )
            .await
        })?)
    }

    fn tables(
        &self,
        tenant: &Tenant,
        db: &str,
        after: Option<&str>,
        limit: usize,
        keep: NameFilter<'_>,
    ) -> Result<Vec<Table>, StoreError> {
        let after = after.unwrap_or("");
        self.run(async |c| {
            kept_rows(
                c,
                "SELECT t.name, t.record FROM catalog_tables t JOIN catalog_databases d ON t.database = d.key \
                 WHERE d.account = $1 AND d.region = $2 AND d.name = $3 AND t.name > $4 ORDER BY t.name",
                &[&tenant.account, &tenant.region, &db, &after],
                limit,
                |rows, room| kept_by_name(key_records(rows), room, keep),
            )
            .await
        })
    }

    fn update_table(
        &self,
        tenant: &Tenant,
        db: &str,
        table: &Table,
        expected: Option<i64>,
        archive: bool,
    ) -> Result<TableWrite, StoreError> {
        self.run(async |c| {
            let tx = c.transaction().await?;
            let Some((key, current)) =
                table_key(&tx, tenant, db, &table.name, FOR_UPDATE_OF_T).await?
            else {
                return Ok(TableWrite::NotFound);
            };
            if expected.is_some_and(|e| e != current) {
                return Ok(TableWrite::Conflict(current));
            }
            let version = current + 1;
            let record = versioned(table, version)?;
            exec(
                &tx,
                "UPDATE catalog_tables SET table_type = $2, version = $3, record = $4 WHERE key = $1",
                &[&key, &table.table_type, &version, &record],
            )
            .await?;
            if !archive {
                exec(
                    &tx,
                    "DELETE FROM catalog_table_versions WHERE tbl = $1 AND version = $2",
                    &[&key, &current],
                )
                .await?;
            }
            exec(
                &tx,
                "INSERT INTO catalog_table_versions (tbl, version, record) VALUES ($1, $2, $3)",
                &[&key, &version, &record],
            )
            .await?;
            tx.commit().await?;
            Ok(TableWrite::Done(version))
        })
    }

    fn delete_table(
        &self,
        tenant: &Tenant,
        db: &str,
        name: &str,
    ) -> Result<Option<Table>, StoreError> {
        record(self.run(async |c| {
            row(
                &*c,
                "DELETE FROM catalog_tables t USING catalog_databases d \
                 WHERE t.database = d.key AND d.account = $1 AND d.region = $2 AND d.name = $3 AND t.name = $4 \
                 RETURNING t.record",
                &[&tenant.account, &tenant.region, &db, &name],
            )
            .await
        })?)
    }

    fn table_versions(
        &self,
        tenant: &Tenant,
        db: &str,
        name: &str,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, Table)>, StoreError> {
        let (before, limit) = (before.unwrap_or(i64::MAX), limit_sql(limit));
        let found = self.run(async |c| {
            let Some((key, _)) = table_key(&*c, tenant, db, name, "").await? else {
                return Ok(Vec::new());
            };
            rows(
                &*c,
                "SELECT version, record FROM catalog_table_versions WHERE tbl = $1 AND version < $2 \
                 ORDER BY version DESC LIMIT $3",
                &[&key, &before, &limit],
            )
            .await
        })?;
        found
            .iter()
            .map(|r| Ok((r.try_get(0)?, decode(&r.try_get::<_, String>(1)?)?)))
            .collect()
    }

    fn insert_partitions(
        &self,
        tenant: &Tenant,
        db: &str,
        table: &str,
        partitions: &[Partition],
    ) -> Result<Vec<Insert>, StoreError> {
        let records = partition_records(partitions)?;
        self.run(async |c| {
            let tx = c.transaction().await?;
            let Some((key, _)) = table_key(&tx, tenant, db, table, FOR_SHARE_OF_T).await? else {
                return Ok(vec![Insert::NoParent; partitions.len()]);
            };
            let mut outcomes = Vec::with_capacity(records.len());
            for (pkey, record) in &records {
                let n = exec(
                    &tx,
                    "INSERT INTO catalog_partitions (tbl, key, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&key, pkey, record],
                )
                .await?;
                outcomes.push(if n == 1 { Insert::Done } else { Insert::Exists });
            }
            tx.commit().await?;
            Ok(outcomes)
        })
    }

    fn partition(
        &self,
        tenant: &Tenant,
        db: &str,
        table: &str,
        values: &[String],
    ) -> Result<Option<Partition>, StoreError> {
        let pkey = partition_key(values);
        record(self.run(async |c| {
            let Some((key, _)) = table_key(&*c, tenant, db, table, "").await? else {
                return Ok(None);
            };
            row(
                &*c,
                "SELECT record FROM catalog_partitions WHERE tbl = $1 AND key = $2",
                &[&key, &pkey],
            )
            .await
        })?)
    }

    fn partitions(
        &self,
        tenant: &Tenant,
        db: &str,
        table: &str,
        after: Option<&str>,
        limit: usize,
        keep: ValuesFilter<'_>,
    ) -> Result<Vec<(String, Partition)>, StoreError> {
        let after = after.unwrap_or("");
        self.run(async |c| {
            let Some((key, _)) = table_key(&*c, tenant, db, table, "").await? else {
                return Ok(Vec::new());
            };
            kept_rows(
                c,
                "SELECT key, record FROM catalog_partitions WHERE tbl = $1 AND key > $2 ORDER BY key",
                &[&key, &after],
                limit,
                |rows, room| kept_partitions(key_records(rows), room, keep),
            )
            .await
        })
    }

    fn replace_partition(
        &self,
        tenant: &Tenant,
        db: &str,
        table: &str,
        values: &[String],
        partition: &Partition,
    ) -> Result<bool, StoreError> {
        let record = encode(partition)?;
        let new_key = partition_key(partition.values.as_deref().unwrap_or_default());
        let old_key = partition_key(values);
        self.run(async |c| {
            let Some((key, _)) = table_key(&*c, tenant, db, table, "").await? else {
                return Ok(false);
            };
            if new_key != old_key {
                let taken = row(
                    &*c,
                    "SELECT 1 FROM catalog_partitions WHERE tbl = $1 AND key = $2",
                    &[&key, &new_key],
                )
                .await?;
                if taken.is_some() {
                    return Err(StoreError::Duplicate);
                }
            }
            // A clash with a partition written meanwhile is refused by the primary key.
            let n = exec(
                &*c,
                "UPDATE catalog_partitions SET key = $3, record = $4 WHERE tbl = $1 AND key = $2",
                &[&key, &old_key, &new_key, &record],
            )
            .await
            .map_err(super::duplicate)?;
            Ok(n == 1)
        })
    }

    fn delete_partitions(
        &self,
        tenant: &Tenant,
        db: &str,
        table: &str,
        values: &[Vec<String>],
    ) -> Result<Vec<Option<Partition>>, StoreError> {
        let keys: Vec<String> = values.iter().map(|v| partition_key(v)).collect();
        let found = self.run(async |c| {
            let tx = c.transaction().await?;
            let Some((key, _)) = table_key(&tx, tenant, db, table, FOR_SHARE_OF_T).await? else {
                return Ok(vec![None; keys.len()]);
            };
            let mut out = Vec::with_capacity(keys.len());
            for pkey in &keys {
                out.push(
                    row(
                        &tx,
                        "DELETE FROM catalog_partitions WHERE tbl = $1 AND key = $2 RETURNING record",
                        &[&key, pkey],
                    )
                    .await?,
                );
            }
            tx.commit().await?;
            Ok(out)
        })?;
        found.into_iter().map(record).collect()
    }

    fn insert_function(
        &self,
        tenant: &Tenant,
        db: &str,
        function: &UserDefinedFunction,
    ) -> Result<Insert, StoreError> {
        let record = encode(function)?;
        let name = function.function_name.clone().unwrap_or_default();
        self.run(async |c| {
            let tx = c.transaction().await?;
            let Some(dbkey) = database_key(&tx, tenant, db, FOR_SHARE).await? else {
                return Ok(Insert::NoParent);
            };
            let n = exec(
                &tx,
                "INSERT INTO catalog_functions (database, name, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&dbkey, &name, &record],
            )
            .await?;
            tx.commit().await?;
            Ok(if n == 1 { Insert::Done } else { Insert::Exists })
        })
    }

    fn function(
        &self,
        tenant: &Tenant,
        db: &str,
        name: &str,
    ) -> Result<Option<UserDefinedFunction>, StoreError> {
        record(self.run(async |c| {
            row(
                &*c,
                "SELECT f.record FROM catalog_functions f JOIN catalog_databases d ON f.database = d.key \
                 WHERE d.account = $1 AND d.region = $2 AND d.name = $3 AND f.name = $4",
                &[&tenant.account, &tenant.region, &db, &name],
            )
            .await
        })?)
    }

    fn functions(
        &self,
        tenant: &Tenant,
        db: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
        keep: NameFilter<'_>,
    ) -> Result<Vec<UserDefinedFunction>, StoreError> {
        let (after_db, after_name) = after.unwrap_or(("", ""));
        self.run(async |c| {
            kept_rows(
                c,
                "SELECT f.name, f.record FROM catalog_functions f JOIN catalog_databases d ON f.database = d.key \
                 WHERE d.account = $1 AND d.region = $2 AND ($3::text IS NULL OR d.name = $3) \
                   AND (d.name, f.name) > ($4, $5) ORDER BY d.name, f.name",
                &[&tenant.account, &tenant.region, &db, &after_db, &after_name],
                limit,
                |rows, room| kept_by_name(key_records(rows), room, keep),
            )
            .await
        })
    }

    fn replace_function(
        &self,
        tenant: &Tenant,
        db: &str,
        name: &str,
        function: &UserDefinedFunction,
    ) -> Result<bool, StoreError> {
        let record = encode(function)?;
        self.run(async |c| {
            let n = exec(
                &*c,
                "UPDATE catalog_functions f SET record = $5 FROM catalog_databases d \
                 WHERE f.database = d.key AND d.account = $1 AND d.region = $2 AND d.name = $3 AND f.name = $4",
                &[&tenant.account, &tenant.region, &db, &name, &record],
            )
            .await?;
            Ok(n == 1)
        })
    }

    fn delete_function(&self, tenant: &Tenant, db: &str, name: &str) -> Result<bool, StoreError> {
        self.run(async |c| {
            let n = exec(
                &*c,
                "DELETE FROM catalog_functions f USING catalog_databases d \
                 WHERE f.database = d.key AND d.account = $1 AND d.region = $2 AND d.name = $3 AND f.name = $4",
                &[&tenant.account, &tenant.region, &db, &name],
            )
            .await?;
            Ok(n == 1)
        })
    }
}
