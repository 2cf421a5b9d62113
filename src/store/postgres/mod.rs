//! The shared store: PostgreSQL (`--store postgres://…`), for several epoxy nodes on one
//! database. Same tables, order keys and indexes as the SQLite store (migrations/postgres/), ids
//! in byte order (`COLLATE "C"`), so both answer every call, page and token alike.
//!
//! The store traits are synchronous and the service calls them on blocking threads; this store
//! keeps its own small tokio runtime that drives the pooled connections, and a call waits on its
//! query future with a plain executor. That is safe from any thread, inside an async context
//! or not (no runtime is ever nested), unlike `Handle::block_on`.

mod catalog;
mod nodes;
mod objects;

use nodes::{driver_record_on, finish_pending_on, touch_on, transition_on, update_statement_on};

use super::{
    CredentialStore, DriverRecord, MAX_TAGS, NewSession, NewSessionCredential, PageQuery,
    SessionCredential, SessionStore, StatementUpdate, StoreError, UsageRow,
};
use crate::sessions::model::{
    MIN_BILLED_SECONDS, Owner, Session, SessionStatus, Statement, StatementOutput, StatementState,
    Tenant,
};
use deadpool_postgres::{
    Client, GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime,
};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

/// Schema versions, applied in order; `epoxy_schema.version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_session_credentials.sql"),
    include_str!("../../../migrations/postgres/0003_catalog.sql"),
    include_str!("../../../migrations/postgres/0004_objects.sql"),
    include_str!("../../../migrations/postgres/0005_driver_records.sql"),
    include_str!("../../../migrations/postgres/0006_driver_endpoints.sql"),
    include_str!("../../../migrations/postgres/0007_nodes.sql"),
    include_str!("../../../migrations/postgres/0008_shared_metastore.sql"),
];

/// Held while migrating, so nodes starting together apply each migration once.
const MIGRATION_LOCK: i64 = 0x6570_6f78_7931;
/// Held by a CreateSession that checks the quota, so nodes admitting at once count in turn.
const ADMISSION_LOCK: i64 = 0x6570_6f78_7932;

const POOL_SIZE: usize = 16;
/// How long a call waits for a connection (a database that is down gives an error, not a hang).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const SESSION_COLUMNS: &str = "s.key, s.account, s.region, s.id, s.spec, s.status, s.error_message, s.timeout_min, \
     s.max_capacity, s.created_ms, s.ready_ms, s.completed_ms, s.last_activity_ms, s.owner_node, s.owner_epoch, \
     s.home_node";

const STATEMENT_COLUMNS: &str = "id, code, state, output, progress, started_ms, completed_ms";

const LIVE: &str = "('PROVISIONING', 'READY', 'STOPPING')";

type Params<'a> = [&'a (dyn ToSql + Sync)];

pub struct PostgresStore {
    pool: Pool,
    /// For connections outside the pool (the wake-up listener).
    config: tokio_postgres::Config,
    /// Drives the pool's connections; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host/db`, or `?host=/dir` for a Unix socket) and
    /// brings its schema up to date.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let mut config =
            tokio_postgres::Config::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("epoxy");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("epoxy-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot start its runtime: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _entered = runtime.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(CONNECT_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?
        };
        let store = Self {
            pool,
            config,
            runtime: Some(runtime),
        };
        store.run(async |c| migrate(c).await)?;
        Ok(store)
    }

    /// Runs `f` on a pooled connection and waits for it.
    fn run<T>(
        &self,
        f: impl AsyncFnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let runtime = self.runtime.as_ref().expect("runtime lives until drop");
        let _entered = runtime.enter();
        futures::executor::block_on(async {
            let mut client = self
                .pool
                .get()
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            f(&mut client).await
        })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which async code may not; this never does.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS epoxy_schema (version integer NOT NULL)")
        .await?;
    let applied = match tx
        .query_opt("SELECT version FROM epoxy_schema", &[])
        .await?
    {
        Some(row) => row.try_get::<_, i32>(0)? as usize,
        None => {
            tx.execute("INSERT INTO epoxy_schema (version) VALUES (0)", &[])
                .await?;
            0
        }
    };
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Migration(format!(
            "the database has schema version {applied}, newer than this epoxy knows ({}); use a newer epoxy",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Migration(format!("migration {}: {e}", i + 1)))?;
        tx.execute("UPDATE epoxy_schema SET version = $1", &[&(i as i32 + 1)])
            .await?;
        tracing::info!(version = i + 1, "applied PostgreSQL migration");
    }
    tx.commit().await?;
    Ok(())
}

/// Runs a (cached) prepared query.
async fn rows(
    c: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> Result<Vec<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query(&stmt, params).await?)
}

async fn row(
    c: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> Result<Option<Row>, StoreError> {
    Ok(rows(c, sql, params).await?.into_iter().next())
}

async fn exec(c: &impl GenericClient, sql: &str, params: &Params<'_>) -> Result<u64, StoreError> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.execute(&stmt, params).await?)
}

/// A unique violation becomes `Duplicate`, as SQLite's constraint errors do.
fn duplicate(e: StoreError) -> StoreError {
    match &e {
        StoreError::Postgres(pg) if pg.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            StoreError::Duplicate
        }
        _ => e,
    }
}

fn limit_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn session_from_row(row: &Row) -> Result<Session, StoreError> {
    let status: String = row.try_get(5)?;
    let timeout: i64 = row.try_get(7)?;
    Ok(Session {
        key: row.try_get(0)?,
        tenant: Tenant {
            account: row.try_get(1)?,
            region: row.try_get(2)?,
        },
        id: row.try_get(3)?,
        spec_json: row.try_get(4)?,
        status: status.parse().map_err(StoreError::Corrupt)?,
        error_message: row.try_get(6)?,
        timeout: u32::try_from(timeout)
            .map_err(|_| StoreError::Corrupt(format!("session timeout {timeout}")))?,
        max_capacity: row.try_get(8)?,
        created_ms: row.try_get(9)?,
        ready_ms: row.try_get(10)?,
        completed_ms: row.try_get(11)?,
        last_activity_ms: row.try_get(12)?,
        owner: Owner {
            node: row.try_get(13)?,
            epoch: row.try_get(14)?,
        },
        home_node: row.try_get(15)?,
    })
}

fn sessions_from(rows: Vec<Row>) -> Result<Vec<Session>, StoreError> {
    rows.iter().map(session_from_row).collect()
}

fn statement_from_row(row: &Row) -> Result<Statement, StoreError> {
    let state: String = row.try_get(2)?;
    let output: Option<String> = row.try_get(3)?;
    Ok(Statement {
        id: row.try_get(0)?,
        code: row.try_get(1)?,
        state: state.parse().map_err(StoreError::Corrupt)?,
        output: output
            .map(|o| serde_json::from_str::<StatementOutput>(&o))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("statement output: {e}")))?,
        progress: row.try_get(4)?,
        started_ms: row.try_get(5)?,
        completed_ms: row.try_get(6)?,
    })
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Locks the session's row for the rest of the transaction and returns its status, so
/// writes that depend on it (statement ids, the tag limit) are serialised per session.
async fn lock_session(c: &impl GenericClient, key: i64) -> Result<Option<String>, StoreError> {
    row(
        c,
        "SELECT status FROM sessions WHERE key = $1 FOR UPDATE",
        &[&key],
    )
    .await?
    .map(|r| r.try_get(0).map_err(StoreError::from))
    .transpose()
}

/// Upserts tags inside the caller's transaction and enforces the per-session limit.
async fn insert_tags(
    c: &impl GenericClient,
    key: i64,
    tags: &BTreeMap<String, String>,
) -> Result<(), StoreError> {
    for (k, v) in tags {
        exec(
            c,
            "INSERT INTO tags (session, key, value, account, region, created_ms, id)
             SELECT key, $2, $3, account, region, created_ms, id FROM sessions WHERE key = $1
             ON CONFLICT (session, key) DO UPDATE SET value = excluded.value",
            &[&key, k, v],
        )
        .await?;
    }
    let total: i64 = row(c, "SELECT COUNT(*) FROM tags WHERE session = $1", &[&key])
        .await?
        .map_or(Ok(0), |r| r.try_get(0))?;
    if total > MAX_TAGS as i64 {
        return Err(StoreError::TooManyTags(MAX_TAGS));
    }
    Ok(())
}

impl SessionStore for PostgresStore {
    fn insert_session(&self, new: NewSession<'_>) -> Result<Session, StoreError> {
        let spec = json(new.spec)?;
        let (timeout, idle) = (i64::from(new.timeout), i64::from(new.spec.idle_timeout));
        self.run(async |c| {
            let tx = c.transaction().await?;
            if let Some(limit) = new.live_limit {
                // Held to commit: the creates of every node count one after the other.
                exec(&tx, "SELECT pg_advisory_xact_lock($1)", &[&ADMISSION_LOCK]).await?;
                let live: i64 = row(
                    &tx,
                    "SELECT COUNT(*) FROM sessions WHERE status IN ('PROVISIONING', 'READY')",
                    &[],
                )
                .await?
                .map_or(Ok(0), |r| r.try_get(0))?;
                if live >= limit as i64 {
                    return Err(StoreError::LiveLimit(limit));
                }
            }
            let inserted = row(
                &tx,
                &format!(
                    "INSERT INTO sessions AS s (account, region, id, spec, timeout_min, idle_timeout_min,
                                                max_capacity, status, created_ms, last_activity_ms,
                                                owner_node, owner_epoch, home_node)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'PROVISIONING', $8, $8, $9, $10, $9)
                     RETURNING {SESSION_COLUMNS}"
                ),
                &[
                    &new.tenant.account,
                    &new.tenant.region,
                    &new.id,
                    &spec,
                    &timeout,
                    &idle,
                    &new.spec.max_capacity,
                    &new.created_ms,
                    &new.owner,
                    &i64::from(new.owner.is_some()),
                ],
            )
            .await
            .map_err(duplicate)?
            .ok_or_else(|| StoreError::Corrupt("inserted session vanished".into()))?;
            let session = session_from_row(&inserted)?;
            insert_tags(&tx, session.key, new.tags).await?;
            tx.commit().await?;
            Ok(session)
        })
    }

    fn session(&self, tenant: &Tenant, id: &str) -> Result<Option<Session>, StoreError> {
        self.run(async |c| {
            row(
                &*c,
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.account = $1 AND s.region = $2 AND s.id = $3"
                ),
                &[&tenant.account, &tenant.region, &id],
            )
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
        })
    }

    fn session_by_key(&self, key: i64) -> Result<Option<Session>, StoreError> {
        self.run(async |c| {
            row(
                &*c,
                &format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.key = $1"),
                &[&key],
            )
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
        })
    }

    fn list_sessions(&self, q: PageQuery<'_>) -> Result<Vec<Session>, StoreError> {
        // As in SQLite: with a filter, the first tag's index drives the scan in page order and
        // the other tags are probed per row; without one, the tenant's order index does.
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&q.tenant.account, &q.tenant.region];
        let mut tags = q.tags.iter();
        let (from, created, id) = match tags.next() {
            Some((k, v)) => {
                args.push(k);
                args.push(v);
                (
                    "tags d JOIN sessions s ON s.key = d.session \
                     WHERE d.account = $1 AND d.region = $2 AND d.key = $3 AND d.value = $4",
                    "d.created_ms",
                    "d.id",
                )
            }
            None => (
                "sessions s WHERE s.account = $1 AND s.region = $2",
                "s.created_ms",
                "s.id",
            ),
        };
        let mut sql = format!("SELECT {SESSION_COLUMNS} FROM {from}");
        for (k, v) in tags {
            args.push(k);
            args.push(v);
            let n = args.len();
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM tags t WHERE t.session = s.key AND t.key = ${} AND t.value = ${n})",
                n - 1
            ));
        }
        let after = q.after.map(|(c, i)| (c, i.to_owned()));
        if let Some((created_ms, after_id)) = &after {
            args.push(created_ms);
            args.push(after_id);
            let n = args.len();
            sql.push_str(&format!(" AND ({created}, {id}) > (${}, ${n})", n - 1));
        }
        let limit = limit_sql(q.limit);
        args.push(&limit);
        sql.push_str(&format!(" ORDER BY {created}, {id} LIMIT ${}", args.len()));
        self.run(async |c| sessions_from(rows(&*c, &sql, &args).await?))
    }

    fn transition(
        &self,
        key: i64,
        to: SessionStatus,
        error_message: Option<&str>,
        at_ms: i64,
    ) -> Result<Option<Session>, StoreError> {
        self.run(async |c| transition_on(&*c, key, to, error_message, at_ms).await)
    }

    fn delete_session(&self, key: i64) -> Result<(), StoreError> {
        self.run(async |c| {
            exec(&*c, "DELETE FROM sessions WHERE key = $1", &[&key]).await?;
            Ok(())
        })
    }

    fn touch(&self, key: i64, at_ms: i64) -> Result<(), StoreError> {
        self.run(async |c| touch_on(&*c, key, at_ms).await)
    }

    fn set_driver_record(
        &self,
        key: i64,
        record: Option<&DriverRecord>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.run(async |c| driver_record_on(&*c, key, record, at_ms).await)
    }

    fn driver_record(&self, key: i64) -> Result<Option<DriverRecord>, StoreError> {
        self.run(async |c| {
            let Some(row) = row(
                &*c,
                "SELECT pid, start_ticks, socket, secret, token, spark_ui_port, metastore_user, tcp, host FROM driver_records WHERE session = $1",
                &[&key],
            )
            .await?
            else {
                return Ok(None);
            };
            let corrupt =
                |what: &str| StoreError::Corrupt(format!("driver record of session {key}: {what}"));
            Ok(Some(DriverRecord {
                pid: u32::try_from(row.get::<_, i64>(0)).map_err(|_| corrupt("pid"))?,
                start_ticks: u64::try_from(row.get::<_, i64>(1)).map_err(|_| corrupt("start time"))?,
                socket: row.get::<_, String>(2).into(),
                secret: row.get(3),
                token: row.get(4),
                spark_ui_port: row
                    .get::<_, Option<i32>>(5)
                    .map(u16::try_from)
                    .transpose()
                    .map_err(|_| corrupt("Spark UI port"))?,
                metastore_user: row.get(6),
                tcp: row.get(7),
                host: row.get(8),
            }))
        })
    }

    fn live_sessions(&self) -> Result<Vec<Session>, StoreError> {
        self.run(async |c| {
            sessions_from(
                rows(
                    &*c,
                    &format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.status IN {LIVE}"),
                    &[],
                )
                .await?,
            )
        })
    }

    fn timed_out(&self, now_ms: i64, minute_ms: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let found = self.run(async |c| {
            rows(
                &*c,
                "SELECT s.key, $1 - COALESCE(s.ready_ms, s.created_ms) >= s.timeout_min * $2,
                        s.timeout_min, s.idle_timeout_min
                 FROM sessions s
                 WHERE s.status = 'READY'
                   AND ($1 - COALESCE(s.ready_ms, s.created_ms) >= s.timeout_min * $2
                        OR ($1 - s.last_activity_ms >= s.idle_timeout_min * $2
                            AND NOT EXISTS (SELECT 1 FROM statements t WHERE t.session = s.key
                                            AND t.state IN ('WAITING', 'RUNNING', 'CANCELLING'))))",
                &[&now_ms, &minute_ms],
            )
            .await
        })?;
        found
            .iter()
            .map(|r| {
                let (key, expired, timeout, idle): (i64, bool, i64, i64) =
                    (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
                Ok((key, super::timeout_reason(expired, timeout, idle)))
            })
            .collect()
    }

    fn usage(&self, now_ms: i64) -> Result<Vec<UsageRow>, StoreError> {
        let found = self.run(async |c| {
            rows(
                &*c,
                "SELECT account, status, COUNT(*),
                        COALESCE(SUM(CASE WHEN ready_ms IS NULL THEN 0
                              WHEN completed_ms IS NULL THEN GREATEST($1 - ready_ms, 0) / 1000.0::float8
                              ELSE GREATEST((completed_ms - ready_ms) / 1000.0::float8, $2) END
                              * max_capacity), 0)
                 FROM sessions GROUP BY account, status",
                &[&now_ms, &MIN_BILLED_SECONDS],
            )
            .await
        })?;
        found
            .iter()
            .map(|r| {
                Ok(UsageRow {
                    account: r.try_get(0)?,
                    status: r.try_get(1)?,
                    sessions: r.try_get::<_, i64>(2)?.max(0) as u64,
                    dpu_seconds: r.try_get(3)?,
                })
            })
            .collect()
    }

    fn tags(&self, key: i64) -> Result<BTreeMap<String, String>, StoreError> {
        let found = self.run(async |c| {
            rows(
                &*c,
                "SELECT key, value FROM tags WHERE session = $1",
                &[&key],
            )
            .await
        })?;
        found
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    fn add_tags(&self, key: i64, tags: &BTreeMap<String, String>) -> Result<(), StoreError> {
        self.run(async |c| {
            let tx = c.transaction().await?;
            lock_session(&tx, key).await?;
            insert_tags(&tx, key, tags).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn remove_tags(&self, key: i64, keys: &[String]) -> Result<(), StoreError> {
        self.run(async |c| {
            exec(
                &*c,
                "DELETE FROM tags WHERE session = $1 AND key = ANY($2)",
                &[&key, &keys],
            )
            .await?;
            Ok(())
        })
    }

    fn insert_statement(&self, key: i64, code: &str) -> Result<Option<i64>, StoreError> {
        self.run(async |c| {
            let tx = c.transaction().await?;
            if lock_session(&tx, key).await?.as_deref() != Some("READY") {
                return Ok(None);
            }
            let id: i64 = row(
                &tx,
                "INSERT INTO statements (session, id, code, state)
                 SELECT $1, COALESCE(MAX(id) + 1, 0), $2, 'WAITING' FROM statements WHERE session = $1
                 RETURNING id",
                &[&key, &code],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt("inserted statement vanished".into()))?
            .try_get(0)?;
            tx.commit().await?;
            Ok(Some(id))
        })
    }

    fn statement(&self, key: i64, id: i64) -> Result<Option<Statement>, StoreError> {
        self.run(async |c| {
            row(
                &*c,
                &format!(
                    "SELECT {STATEMENT_COLUMNS} FROM statements WHERE session = $1 AND id = $2"
                ),
                &[&key, &id],
            )
            .await?
            .as_ref()
            .map(statement_from_row)
            .transpose()
        })
    }

    fn statements(
        &self,
        key: i64,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Statement>, StoreError> {
        let (after, limit) = (after.unwrap_or(-1), limit_sql(limit));
        let found = self.run(async |c| {
            rows(
                &*c,
                &format!(
                    "SELECT {STATEMENT_COLUMNS} FROM statements WHERE session = $1 AND id > $2 ORDER BY id LIMIT $3"
                ),
                &[&key, &after, &limit],
            )
            .await
        })?;
        found.iter().map(statement_from_row).collect()
    }

    fn next_waiting(&self, key: i64) -> Result<Option<Statement>, StoreError> {
        self.run(async |c| {
            row(
                &*c,
                &format!(
                    "SELECT {STATEMENT_COLUMNS} FROM statements WHERE session = $1 AND state = 'WAITING' ORDER BY id LIMIT 1"
                ),
                &[&key],
            )
            .await?
            .as_ref()
            .map(statement_from_row)
            .transpose()
        })
    }

    fn update_statement(
        &self,
        key: i64,
        id: i64,
        from: &[StatementState],
        update: StatementUpdate<'_>,
    ) -> Result<bool, StoreError> {
        self.run(async |c| update_statement_on(&*c, key, id, from, update).await)
    }

    fn finish_pending_statements(
        &self,
        key: i64,
        state: StatementState,
        output: &StatementOutput,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.run(async |c| finish_pending_on(&*c, key, state, output, at_ms).await)
    }

    fn secret(&self) -> Result<Vec<u8>, StoreError> {
        // Insert-if-absent, then read: nodes starting together agree on one secret.
        let fresh: Vec<u8> = (0..2)
            .flat_map(|_| uuid::Uuid::new_v4().into_bytes())
            .collect();
        self.run(async |c| {
            exec(
                &*c,
                "INSERT INTO meta (key, value) VALUES ('secret', $1) ON CONFLICT (key) DO NOTHING",
                &[&fresh],
            )
            .await?;
            row(&*c, "SELECT value FROM meta WHERE key = 'secret'", &[])
                .await?
                .ok_or_else(|| StoreError::Corrupt("the secret vanished".into()))?
                .try_get(0)
                .map_err(StoreError::from)
        })
    }
}

impl CredentialStore for PostgresStore {
    fn insert_session_credential(&self, new: NewSessionCredential<'_>) -> Result<bool, StoreError> {
        let token = &new.token_sha256[..];
        self.run(async |c| {
            let n = exec(
                &*c,
                &format!(
                    "INSERT INTO session_credentials (access_key_id, session, secret, token_sha256, arn,
                                                      user_id, created_ms, expires_ms)
                     SELECT $2, key, $3, $4, $5, $6, $7, $8 FROM sessions
                     WHERE key = $1 AND status IN {LIVE}"
                ),
                &[
                    &new.session_key,
                    &new.access_key_id,
                    &new.secret,
                    &token,
                    &new.arn,
                    &new.user_id,
                    &new.created_ms,
                    &new.expires_ms,
                ],
            )
            .await
            .map_err(duplicate)?;
            Ok(n == 1)
        })
    }

    fn session_credential(
        &self,
        access_key_id: &str,
    ) -> Result<Option<SessionCredential>, StoreError> {
        let found = self.run(async |c| {
            row(
                &*c,
                "SELECT s.account, s.region, s.id, c.secret, c.token_sha256, c.arn, c.user_id,
                        c.expires_ms, c.revoked_ms
                 FROM session_credentials c JOIN sessions s ON s.key = c.session
                 WHERE c.access_key_id = $1",
                &[&access_key_id],
            )
            .await
        })?;
        found
            .map(|r| {
                Ok(SessionCredential {
                    tenant: Tenant {
                        account: r.try_get(0)?,
                        region: r.try_get(1)?,
                    },
                    session_id: r.try_get(2)?,
                    secret: r.try_get(3)?,
                    token_sha256: r.try_get(4)?,
                    arn: r.try_get(5)?,
                    user_id: r.try_get(6)?,
                    expires_ms: r.try_get(7)?,
                    revoked_ms: r.try_get(8)?,
                })
            })
            .transpose()
    }

    fn revoke_all_session_credentials(&self, at_ms: i64) -> Result<usize, StoreError> {
        self.run(async |c| {
            let n = exec(
                &*c,
                "UPDATE session_credentials SET revoked_ms = $1 WHERE revoked_ms IS NULL",
                &[&at_ms],
            )
            .await?;
            Ok(n as usize)
        })
    }
}
