//! The catalog tables of the embedded store (migrations/0003_catalog.sql). Records are the
//! objects' wire JSON; every write is one transaction on the single writer connection.

use super::SqliteStore;
use crate::catalog::model::{Database, Partition, Table, UserDefinedFunction};
use crate::sessions::model::Tenant;
use crate::store::StoreError;
use crate::store::catalog::{
    CatalogStore, Insert, NameFilter, TableWrite, ValuesFilter, decode, encode, kept_by_name,
    kept_partitions, partition_key, partition_records, versioned,
};
use rusqlite::{Connection, OptionalExtension, params};

fn limit_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn database_key(conn: &Connection, tenant: &Tenant, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT rowid FROM catalog_databases WHERE account = ?1 AND region = ?2 AND name = ?3",
            params![tenant.account, tenant.region, name],
            |r| r.get(0),
        )
        .optional()?)
}

/// The table's row id and current version.
fn table_key(
    conn: &Connection,
    tenant: &Tenant,
    db: &str,
    name: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT t.rowid, t.version FROM catalog_tables t JOIN catalog_databases d ON t.database = d.rowid \
             WHERE d.account = ?1 AND d.region = ?2 AND d.name = ?3 AND t.name = ?4",
            params![tenant.account, tenant.region, db, name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// `(key, record)` rows as [`crate::store::catalog::kept_records`] takes them, read lazily.
fn key_records(
    rows: rusqlite::Rows<'_>,
) -> impl Iterator<Item = Result<(String, String), StoreError>> {
    rows.mapped(|r| Ok((r.get(0)?, r.get(1)?)))
        .map(|row| row.map_err(StoreError::from))
}

impl CatalogStore for SqliteStore {
    fn insert_database(&self, tenant: &Tenant, db: &Database) -> Result<Insert, StoreError> {
        let record = encode(db)?;
        self.write(|conn| {
            let n = conn.execute(
                "INSERT INTO catalog_databases (account, region, name, record) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT DO NOTHING",
                params![tenant.account, tenant.region, db.name, record],
            )?;
            Ok(if n == 1 { Insert::Done } else { Insert::Exists })
        })
    }

    fn database(&self, tenant: &Tenant, name: &str) -> Result<Option<Database>, StoreError> {
        let record: Option<String> = self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT record FROM catalog_databases WHERE account = ?1 AND region = ?2 AND name = ?3",
                    params![tenant.account, tenant.region, name],
                    |r| r.get(0),
                )
                .optional()?)
        })?;
        record.as_deref().map(decode).transpose()
    }

    fn databases(
        &self,
        tenant: &Tenant,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Database>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT record FROM catalog_databases WHERE account = ?1 AND region = ?2 AND name > ?3 \
                 ORDER BY name LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![tenant.account, tenant.region, after.unwrap_or(""), limit_sql(limit)],
                |r| r.get::<_, String>(0),
            )?;
            rows.map(|r| decode(&r?)).collect()
        })
    }

    fn replace_database(
        &self,
        tenant: &Tenant,
        name: &str,
        db: &Database,
    ) -> Result<bool, StoreError> {
        let record = encode(db)?;
        self.write(|conn| {
            let n = conn.execute(
                "UPDATE catalog_databases SET name = ?4, record = ?5 WHERE account = ?1 AND region = ?2 AND name = ?3",
                params![tenant.account, tenant.region, name, db.name, record],
            )?;
            Ok(n == 1)
        })
    }

    fn delete_database(&self, tenant: &Tenant, name: &str) -> Result<bool, StoreError> {
        self.write(|conn| {
            let n = conn.execute(
                "DELETE FROM catalog_databases WHERE account = ?1 AND region = ?2 AND name = ?3",
                params![tenant.account, tenant.region, name],
            )?;
            Ok(n == 1)
        })
    }

    fn database_contents(&self, tenant: &Tenant, name: &str) -> Result<usize, StoreError> {
        self.read(|conn| {
            let Some(key) = database_key(conn, tenant, name)? else {
                return Ok(0);
            };
            let n: i64 = conn.query_row(
                "SELECT (SELECT count(*) FROM catalog_tables WHERE database = ?1) + \
                        (SELECT count(*) FROM catalog_functions WHERE database = ?1)",
                [key],
                |r| r.get(0),
            )?;
            Ok(n as usize)
        })
    }

    fn insert_table(&self, tenant: &Tenant, db: &str, table: &Table) -> Result<Insert, StoreError> {
        let record = versioned(table, 1)?;
        self.write(|conn| {
            let tx = conn.transaction()?;
            let Some(dbkey) = database_key(&tx, tenant, db)? else {
                return Ok(Insert::NoParent);
            };
            let n = tx.execute(
                "INSERT INTO catalog_tables (database, name, table_type, version, record) VALUES (?1, ?2, ?3, 1, ?4) \
                 ON CONFLICT DO NOTHING",
                params![dbkey, table.name, table.table_type, record],
            )?;
            if n == 0 {
                return Ok(Insert::Exists);
            }
            tx.execute(
                "INSERT INTO catalog_table_versions (tbl, version, record) VALUES (?1, 1, ?2)",
                params![tx.last_insert_rowid(), record],
            )?;
            tx.commit()?;
            Ok(Insert::Done)
        })
    }

    fn table(&self, tenant: &Tenant, db: &str, name: &str) -> Result<Option<Table>, StoreError> {
        let record: Option<String> = self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT t.record FROM catalog_tables t JOIN catalog_databases d ON t.database = d.rowid \
                     WHERE d.account = ?1 AND d.region = ?2 AND d.name = ?3 AND t.name = ?4",
                    params![tenant.account, tenant.region, db, name],
                    |r| r.get(0),
                )
                .optional()?)
        })?;
        record.as_deref().map(decode).transpose()
    }

    fn tables(
        &self,
        tenant: &Tenant,
        db: &str,
        after: Option<&str>,
        limit: usize,
        keep: NameFilter<'_>,
    ) -> Result<Vec<Table>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT t.name, t.record FROM catalog_tables t JOIN catalog_databases d ON t.database = d.rowid \
                 WHERE d.account = ?1 AND d.region = ?2 AND d.name = ?3 AND t.name > ?4 ORDER BY t.name",
            )?;
            let rows = stmt.query(params![tenant.account, tenant.region, db, after.unwrap_or("")])?;
            kept_by_name(key_records(rows), limit, keep)
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
        self.write(|conn| {
            let tx = conn.transaction()?;
            let Some((key, current)) = table_key(&tx, tenant, db, &table.name)? else {
                return Ok(TableWrite::NotFound);
            };
            if expected.is_some_and(|e| e != current) {
                return Ok(TableWrite::Conflict(current));
            }
            let version = current + 1;
            let record = versioned(table, version)?;
            tx.execute(
                "UPDATE catalog_tables SET table_type = ?2, version = ?3, record = ?4 WHERE rowid = ?1",
                params![key, table.table_type, version, record],
            )?;
            if !archive {
                tx.execute(
                    "DELETE FROM catalog_table_versions WHERE tbl = ?1 AND version = ?2",
                    params![key, current],
                )?;
            }
            tx.execute(
                "INSERT INTO catalog_table_versions (tbl, version, record) VALUES (?1, ?2, ?3)",
                params![key, version, record],
            )?;
            tx.commit()?;
            Ok(TableWrite::Done(version))
        })
    }

    fn delete_table(
        &self,
        tenant: &Tenant,
        db: &str,
        name: &str,
    ) -> Result<Option<Table>, StoreError> {
        let record: Option<String> = self.write(|conn| {
            let tx = conn.transaction()?;
            let Some((key, _)) = table_key(&tx, tenant, db, name)? else {
                return Ok(None);
            };
            let record: String = tx.query_row(
                "SELECT record FROM catalog_tables WHERE rowid = ?1",
                [key],
                |r| r.get(0),
            )?;
            tx.execute("DELETE FROM catalog_tables WHERE rowid = ?1", [key])?;
            tx.commit()?;
            Ok(Some(record))
        })?;
        record.as_deref().map(decode).transpose()
    }

    fn table_versions(
        &self,
        tenant: &Tenant,
        db: &str,
        name: &str,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, Table)>, StoreError> {
        self.read(|conn| {
            let Some((key, _)) = table_key(conn, tenant, db, name)? else {
                return Ok(Vec::new());
            };
            let mut stmt = conn.prepare_cached(
                "SELECT version, record FROM catalog_table_versions WHERE tbl = ?1 AND version < ?2 \
                 ORDER BY version DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![key, before.unwrap_or(i64::MAX), limit_sql(limit)],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
            )?;
            rows.map(|r| {
                let (v, record) = r?;
                Ok((v, decode(&record)?))
            })
            .collect()
        })
    }

    fn insert_partitions(
        &self,
        tenant: &Tenant,
        db: &str,
        table: &str,
        partitions: &[Partition],
    ) -> Result<Vec<Insert>, StoreError> {
        let rows = partition_records(partitions)?;
        self.write(|conn| {
            let tx = conn.transaction()?;
            let Some((key, _)) = table_key(&tx, tenant, db, table)? else {
                return Ok(vec![Insert::NoParent; partitions.len()]);
            };
            let mut outcomes = Vec::with_capacity(rows.len());
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO catalog_partitions (tbl, key, record) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                )?;
                for (pkey, record) in &rows {
                    let n = stmt.execute(params![key, pkey, record])?;
                    outcomes.push(if n == 1 { Insert::Done } else { Insert::Exists });
                }
            }
            tx.commit()?;
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
        let record: Option<String> = self.read(|conn| {
            let Some((key, _)) = table_key(conn, tenant, db, table)? else {
                return Ok(None);
            };
            Ok(conn
                .query_row(
                    "SELECT record FROM catalog_partitions WHERE tbl = ?1 AND key = ?2",
                    params![key, partition_key(values)],
                    |r| r.get(0),
                )
                .optional()?)
        })?;
        record.as_deref().map(decode).transpose()
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
        self.read(|conn| {
            let Some((key, _)) = table_key(conn, tenant, db, table)? else {
                return Ok(Vec::new());
            };
            let mut stmt = conn.prepare_cached(
                "SELECT key, record FROM catalog_partitions WHERE tbl = ?1 AND key > ?2 ORDER BY key",
            )?;
            let rows = stmt.query(params![key, after.unwrap_or("")])?;
            kept_partitions(key_records(rows), limit, keep)
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
        self.write(|conn| {
            let tx = conn.transaction()?;
            let Some((key, _)) = table_key(&tx, tenant, db, table)? else {
                return Ok(false);
            };
            let old_key = partition_key(values);
            if new_key != old_key {
                let taken: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM catalog_partitions WHERE tbl = ?1 AND key = ?2)",
                    params![key, new_key],
                    |r| r.get(0),
                )?;
                if taken {
                    return Err(StoreError::Duplicate);
                }
            }
            let n = tx.execute(
                "UPDATE catalog_partitions SET key = ?3, record = ?4 WHERE tbl = ?1 AND key = ?2",
                params![key, old_key, new_key, record],
            )?;
            tx.commit()?;
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
        let records: Vec<Option<String>> = self.write(|conn| {
            let tx = conn.transaction()?;
            let Some((key, _)) = table_key(&tx, tenant, db, table)? else {
                return Ok(vec![None; values.len()]);
            };
            let mut out = Vec::with_capacity(values.len());
            {
                let mut stmt = tx.prepare_cached(
                    "DELETE FROM catalog_partitions WHERE tbl = ?1 AND key = ?2 RETURNING record",
                )?;
                for v in values {
                    out.push(
                        stmt.query_row(params![key, partition_key(v)], |r| r.get(0))
                            .optional()?,
                    );
                }
            }
            tx.commit()?;
            Ok(out)
        })?;
        records
            .into_iter()
            .map(|r| r.as_deref().map(decode).transpose())
            .collect()
    }

    fn insert_function(
        &self,
        tenant: &Tenant,
        db: &str,
        function: &UserDefinedFunction,
    ) -> Result<Insert, StoreError> {
        let record = encode(function)?;
        let name = function.function_name.clone().unwrap_or_default();
        self.write(|conn| {
            let tx = conn.transaction()?;
            let Some(dbkey) = database_key(&tx, tenant, db)? else {
                return Ok(Insert::NoParent);
            };
            let n = tx.execute(
                "INSERT INTO catalog_functions (database, name, record) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![dbkey, name, record],
            )?;
            tx.commit()?;
            Ok(if n == 1 { Insert::Done } else { Insert::Exists })
        })
    }

    fn function(
        &self,
        tenant: &Tenant,
        db: &str,
        name: &str,
    ) -> Result<Option<UserDefinedFunction>, StoreError> {
        let record: Option<String> = self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT f.record FROM catalog_functions f JOIN catalog_databases d ON f.database = d.rowid \
                     WHERE d.account = ?1 AND d.region = ?2 AND d.name = ?3 AND f.name = ?4",
                    params![tenant.account, tenant.region, db, name],
                    |r| r.get(0),
                )
                .optional()?)
        })?;
        record.as_deref().map(decode).transpose()
    }

    fn functions(
        &self,
        tenant: &Tenant,
        db: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
        keep: NameFilter<'_>,
    ) -> Result<Vec<UserDefinedFunction>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT f.name, f.record FROM catalog_functions f JOIN catalog_databases d ON f.database = d.rowid \
                 WHERE d.account = ?1 AND d.region = ?2 AND (?3 IS NULL OR d.name = ?3) \
                   AND (d.name, f.name) > (?4, ?5) ORDER BY d.name, f.name",
            )?;
            let (after_db, after_name) = after.unwrap_or(("", ""));
            let rows =
                stmt.query(params![tenant.account, tenant.region, db, after_db, after_name])?;
            kept_by_name(key_records(rows), limit, keep)
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
        self.write(|conn| {
            let Some(dbkey) = database_key(conn, tenant, db)? else {
                return Ok(false);
            };
            let n = conn.execute(
                "UPDATE catalog_functions SET record = ?3 WHERE database = ?1 AND name = ?2",
                params![dbkey, name, record],
            )?;
            Ok(n == 1)
        })
    }

    fn delete_function(&self, tenant: &Tenant, db: &str, name: &str) -> Result<bool, StoreError> {
        self.write(|conn| {
            let Some(dbkey) = database_key(conn, tenant, db)? else {
                return Ok(false);
            };
            let n = conn.execute(
                "DELETE FROM catalog_functions WHERE database = ?1 AND name = ?2",
                params![dbkey, name],
            )?;
            Ok(n == 1)
        })
    }
}
