//! The embedded store: one SQLite file in the data dir, WAL mode, versioned migrations. One
//! connection writes (SQLite allows one writer); a few read in parallel.

mod catalog;
mod objects;

use super::nodes::{
    Fence, NodeLoad, NodeRegistration, NodeStore, OwnedSession, OwnerWrite, Wakeups,
};
use super::{
    CredentialStore, DriverRecord, MAX_TAGS, NewSession, NewSessionCredential, PageQuery,
    SessionCredential, SessionStore, StatementUpdate, StoreError, UsageRow,
};
use crate::sessions::model::{
    MIN_BILLED_SECONDS, Owner, Session, SessionStatus, Statement, StatementOutput, StatementState,
    Tenant,
};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Row, params, params_from_iter, types::Value,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_session_credentials.sql"),
    include_str!("../../migrations/0003_catalog.sql"),
    include_str!("../../migrations/0004_objects.sql"),
    include_str!("../../migrations/0005_driver_records.sql"),
    include_str!("../../migrations/0006_driver_endpoints.sql"),
    include_str!("../../migrations/0007_nodes.sql"),
    include_str!("../../migrations/0008_shared_metastore.sql"),
];

const READERS: usize = 4;

const SESSION_COLUMNS: &str = "s.rowid, s.account, s.region, s.id, s.spec, s.status, s.error_message, s.timeout_min, s.max_capacity, \
     s.created_ms, s.ready_ms, s.completed_ms, s.last_activity_ms, s.owner_node, s.owner_epoch, s.home_node";

const STATEMENT_COLUMNS: &str = "id, code, state, output, progress, started_ms, completed_ms";

pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut writer = Connection::open(path)?;
        let mode: String =
            writer.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                mode,
                "SQLite refused WAL mode; concurrent reads will wait on writes"
            );
        }
        configure(&writer)?;
        migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&conn)?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let conn = self.readers[i].lock().unwrap_or_else(|e| e.into_inner());
        f(&conn)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Migration(format!(
            "the database has schema version {applied}, newer than this epoxy knows ({}); use a newer epoxy",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Migration(format!("migration {}: {e}", i + 1)))?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied database migration");
    }
    Ok(())
}

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Session, StoreError>> {
    let status: String = row.get(5)?;
    let status = match status.parse::<SessionStatus>() {
        Ok(s) => s,
        Err(e) => return Ok(Err(StoreError::Corrupt(e))),
    };
    Ok(Ok(Session {
        key: row.get(0)?,
        tenant: Tenant {
            account: row.get(1)?,
            region: row.get(2)?,
        },
        id: row.get(3)?,
        spec_json: row.get(4)?,
        status,
        error_message: row.get(6)?,
        timeout: row.get(7)?,
        max_capacity: row.get(8)?,
        created_ms: row.get(9)?,
        ready_ms: row.get(10)?,
        completed_ms: row.get(11)?,
        last_activity_ms: row.get(12)?,
        owner: Owner {
            node: row.get(13)?,
            epoch: row.get(14)?,
        },
        home_node: row.get(15)?,
    }))
}

fn statement_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Statement, StoreError>> {
    let state: String = row.get(2)?;
    let output: Option<String> = row.get(3)?;
    let state = match state.parse::<StatementState>() {
        Ok(s) => s,
        Err(e) => return Ok(Err(StoreError::Corrupt(e))),
    };
    let output = match output
        .map(|o| serde_json::from_str::<StatementOutput>(&o))
        .transpose()
    {
        Ok(o) => o,
        Err(e) => return Ok(Err(StoreError::Corrupt(format!("statement output: {e}")))),
    };
    Ok(Ok(Statement {
        id: row.get(0)?,
        code: row.get(1)?,
        state,
        output,
        progress: row.get(4)?,
        started_ms: row.get(5)?,
        completed_ms: row.get(6)?,
    }))
}

/// Runs a query whose rows decode to `Result<T, StoreError>` and collects them.
fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: fn(&Row<'_>) -> rusqlite::Result<Result<T, StoreError>>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, decode)?;
    rows.map(|r| r?).collect()
}

fn one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: fn(&Row<'_>) -> rusqlite::Result<Result<T, StoreError>>,
) -> Result<Option<T>, StoreError> {
    Ok(collect(conn, sql, params, decode)?.into_iter().next())
}

fn in_list(states: &[&str]) -> String {
    states
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SessionStore for SqliteStore {
    fn insert_session(&self, new: NewSession<'_>) -> Result<Session, StoreError> {
        let spec =
            serde_json::to_string(new.spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(|conn| {
            let tx = conn.transaction()?;
            // The writer connection is this process's only one: the count stands until commit.
            if let Some(limit) = new.live_limit {
                let live: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM sessions WHERE status IN ('PROVISIONING', 'READY')",
                    [],
                    |r| r.get(0),
                )?;
                if live >= limit as i64 {
                    return Err(StoreError::LiveLimit(limit));
                }
            }
            let inserted = tx.execute(
                "INSERT INTO sessions (account, region, id, spec, timeout_min, idle_timeout_min,
                                       max_capacity, status, created_ms, last_activity_ms,
                                       owner_node, owner_epoch, home_node)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'PROVISIONING', ?8, ?8, ?9, ?10, ?9)",
                params![
                    new.tenant.account,
                    new.tenant.region,
                    new.id,
                    spec,
                    new.timeout,
                    new.spec.idle_timeout,
                    new.spec.max_capacity,
                    new.created_ms,
                    new.owner,
                    i64::from(new.owner.is_some())
                ],
            );
            match inserted {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    return Err(StoreError::Duplicate);
                }
                other => other?,
            };
            let key = tx.last_insert_rowid();
            insert_tags(&tx, key, new.tags)?;
            let session = one(
                &tx,
                &format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.rowid = ?1"),
                [key],
                session_from_row,
            )?
            .ok_or_else(|| StoreError::Corrupt("inserted session vanished".into()))?;
            tx.commit()?;
            Ok(session)
        })
    }

    fn session(&self, tenant: &Tenant, id: &str) -> Result<Option<Session>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.account = ?1 AND s.region = ?2 AND s.id = ?3"
                ),
                params![tenant.account, tenant.region, id],
                session_from_row,
            )
        })
    }

    fn session_by_key(&self, key: i64) -> Result<Option<Session>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                &format!("SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.rowid = ?1"),
                [key],
                session_from_row,
            )
        })
    }

    fn list_sessions(&self, q: PageQuery<'_>) -> Result<Vec<Session>, StoreError> {
        // With a filter, the first tag's index drives the scan in page order; the other tags
        // are checked per row. Without one, the tenant's order index does.
        let mut args: Vec<Value> = vec![
            q.tenant.account.clone().into(),
            q.tenant.region.clone().into(),
        ];
        let mut tags = q.tags.iter();
        let (from, order_by) = match tags.next() {
            Some((k, v)) => {
                args.push(k.clone().into());
                args.push(v.clone().into());
                (
                    "tags d JOIN sessions s ON s.rowid = d.session \
                     WHERE d.account = ?1 AND d.region = ?2 AND d.key = ?3 AND d.value = ?4",
                    "d.created_ms, d.id",
                )
            }
            None => (
                "sessions s WHERE s.account = ?1 AND s.region = ?2",
                "s.created_ms, s.id",
            ),
        };
        let mut sql = format!("SELECT {SESSION_COLUMNS} FROM {from}");
        for (k, v) in tags {
            args.push(k.clone().into());
            args.push(v.clone().into());
            let n = args.len();
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM tags t WHERE t.session = s.rowid AND t.key = ?{} AND t.value = ?{n})",
                n - 1
            ));
        }
        if let Some((created_ms, id)) = q.after {
            args.push(created_ms.into());
            args.push(id.to_string().into());
            let n = args.len();
            let (c, i) = order_by.split_once(", ").unwrap_or((order_by, order_by));
            sql.push_str(&format!(" AND ({c}, {i}) > (?{}, ?{n})", n - 1));
        }
        args.push((q.limit as i64).into());
        sql.push_str(&format!(" ORDER BY {order_by} LIMIT ?{}", args.len()));
        self.read(|conn| collect(conn, &sql, params_from_iter(args), session_from_row))
    }

    fn transition(
        &self,
        key: i64,
        to: SessionStatus,
        error_message: Option<&str>,
        at_ms: i64,
    ) -> Result<Option<Session>, StoreError> {
        self.write(|conn| transition_on(conn, key, to, error_message, at_ms))
    }

    fn delete_session(&self, key: i64) -> Result<(), StoreError> {
        self.write(|conn| {
            conn.execute("DELETE FROM sessions WHERE rowid = ?1", [key])?;
            Ok(())
        })
    }

    fn touch(&self, key: i64, at_ms: i64) -> Result<(), StoreError> {
        self.write(|conn| touch_on(conn, key, at_ms))
    }

    fn set_driver_record(
        &self,
        key: i64,
        record: Option<&DriverRecord>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(|conn| driver_record_on(conn, key, record, at_ms))
    }

    fn driver_record(&self, key: i64) -> Result<Option<DriverRecord>, StoreError> {
        self.read(|conn| {
            let row = conn
                .query_row(
                    "SELECT pid, start_ticks, socket, secret, token, spark_ui_port, metastore_user, tcp, host FROM driver_records WHERE session = ?1",
                    [key],
                    |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, String>(4)?,
                            row.get::<_, Option<i64>>(5)?,
                            row.get::<_, Option<String>>(6)?,
                            row.get::<_, Option<String>>(7)?,
                            row.get::<_, String>(8)?,
                        ))
                    },
                )
                .optional()?;
            let Some((pid, start, socket, secret, token, port, user, tcp, host)) = row else {
                return Ok(None);
            };
            let corrupt = |what: &str| StoreError::Corrupt(format!("driver record of session {key}: {what}"));
            Ok(Some(DriverRecord {
                pid: u32::try_from(pid).map_err(|_| corrupt("pid"))?,
                start_ticks: u64::try_from(start).map_err(|_| corrupt("start time"))?,
                socket: socket.into(),
                secret,
                token,
                spark_ui_port: port.map(u16::try_from).transpose().map_err(|_| corrupt("Spark UI port"))?,
                metastore_user: user,
                tcp,
                host,
            }))
        })
    }

    fn live_sessions(&self) -> Result<Vec<Session>, StoreError> {
        self.read(|conn| {
            collect(
                conn,
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.status IN ('PROVISIONING', 'READY', 'STOPPING')"
                ),
                [],
                session_from_row,
            )
        })
    }

    fn timed_out(&self, now_ms: i64, minute_ms: i64) -> Result<Vec<(i64, String)>, StoreError> {
        // One pass over READY sessions (partial index on live states).
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT s.rowid, ?1 - COALESCE(s.ready_ms, s.created_ms) >= s.timeout_min * ?2,
                        s.timeout_min, s.idle_timeout_min
                 FROM sessions s
                 WHERE s.status = 'READY'
                   AND (?1 - COALESCE(s.ready_ms, s.created_ms) >= s.timeout_min * ?2
                        OR (?1 - s.last_activity_ms >= s.idle_timeout_min * ?2
                            AND NOT EXISTS (SELECT 1 FROM statements t WHERE t.session = s.rowid
                                            AND t.state IN ('WAITING', 'RUNNING', 'CANCELLING'))))",
            )?;
            let rows = stmt.query_map(params![now_ms, minute_ms], |r| {
                let (key, expired, timeout, idle): (i64, bool, i64, i64) =
                    (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                Ok((key, super::timeout_reason(expired, timeout, idle)))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn usage(&self, now_ms: i64) -> Result<Vec<UsageRow>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT account, status, COUNT(*),
                        TOTAL(CASE WHEN ready_ms IS NULL THEN 0
                              WHEN completed_ms IS NULL THEN MAX(?1 - ready_ms, 0) / 1000.0
                              ELSE MAX((completed_ms - ready_ms) / 1000.0, ?2) END * max_capacity)
                 FROM sessions GROUP BY account, status",
            )?;
            let rows = stmt.query_map(params![now_ms, MIN_BILLED_SECONDS], |row| {
                Ok(UsageRow {
                    account: row.get(0)?,
                    status: row.get(1)?,
                    sessions: row.get::<_, i64>(2)?.max(0) as u64,
                    dpu_seconds: row.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn tags(&self, key: i64) -> Result<BTreeMap<String, String>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT key, value FROM tags WHERE session = ?1")?;
            let rows = stmt.query_map([key], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn add_tags(&self, key: i64, tags: &BTreeMap<String, String>) -> Result<(), StoreError> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            insert_tags(&tx, key, tags)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn remove_tags(&self, key: i64, keys: &[String]) -> Result<(), StoreError> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            for k in keys {
                tx.execute(
                    "DELETE FROM tags WHERE session = ?1 AND key = ?2",
                    params![key, k],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn insert_statement(&self, key: i64, code: &str) -> Result<Option<i64>, StoreError> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            let status: Option<String> = tx
                .query_row("SELECT status FROM sessions WHERE rowid = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?;
            if status.as_deref() != Some("READY") {
                return Ok(None);
            }
            let id: i64 = tx.query_row(
                "SELECT COALESCE(MAX(id) + 1, 0) FROM statements WHERE session = ?1",
                [key],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO statements (session, id, code, state) VALUES (?1, ?2, ?3, 'WAITING')",
                params![key, id, code],
            )?;
            tx.commit()?;
            Ok(Some(id))
        })
    }

    fn statement(&self, key: i64, id: i64) -> Result<Option<Statement>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                &format!(
                    "SELECT {STATEMENT_COLUMNS} FROM statements WHERE session = ?1 AND id = ?2"
                ),
                params![key, id],
                statement_from_row,
            )
        })
    }

    fn statements(
        &self,
        key: i64,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Statement>, StoreError> {
        self.read(|conn| {
            collect(
                conn,
                &format!(
                    "SELECT {STATEMENT_COLUMNS} FROM statements WHERE session = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
                ),
                params![key, after.unwrap_or(-1), limit as i64],
                statement_from_row,
            )
        })
    }

    fn next_waiting(&self, key: i64) -> Result<Option<Statement>, StoreError> {
        self.read(|conn| {
            one(
                conn,
                &format!(
                    "SELECT {STATEMENT_COLUMNS} FROM statements WHERE session = ?1 AND state = 'WAITING' ORDER BY id LIMIT 1"
                ),
                [key],
                statement_from_row,
            )
        })
    }

    fn update_statement(
        &self,
        key: i64,
        id: i64,
        from: &[StatementState],
        update: StatementUpdate<'_>,
    ) -> Result<bool, StoreError> {
        self.write(|conn| update_statement_on(conn, key, id, from, update))
    }

    fn finish_pending_statements(
        &self,
        key: i64,
        state: StatementState,
        output: &StatementOutput,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(|conn| finish_pending_on(conn, key, state, output, at_ms))
    }

    fn secret(&self) -> Result<Vec<u8>, StoreError> {
        self.write(|conn| {
            let existing: Option<Vec<u8>> = conn
                .query_row("SELECT value FROM meta WHERE key = 'secret'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            if let Some(secret) = existing {
                return Ok(secret);
            }
            let secret: Vec<u8> = (0..2)
                .flat_map(|_| uuid::Uuid::new_v4().into_bytes())
                .collect();
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('secret', ?1)",
                [&secret],
            )?;
            Ok(secret)
        })
    }
}

impl CredentialStore for SqliteStore {
    fn insert_session_credential(&self, new: NewSessionCredential<'_>) -> Result<bool, StoreError> {
        self.write(|conn| {
            let inserted = conn.execute(
                "INSERT INTO session_credentials (access_key_id, session, secret, token_sha256, arn,
                                                  user_id, created_ms, expires_ms)
                 SELECT ?2, rowid, ?3, ?4, ?5, ?6, ?7, ?8 FROM sessions
                 WHERE rowid = ?1 AND status IN ('PROVISIONING', 'READY', 'STOPPING')",
                params![
                    new.session_key,
                    new.access_key_id,
                    new.secret,
                    &new.token_sha256[..],
                    new.arn,
                    new.user_id,
                    new.created_ms,
                    new.expires_ms
                ],
            );
            match inserted {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::Duplicate)
                }
                other => Ok(other? == 1),
            }
        })
    }

    fn session_credential(
        &self,
        access_key_id: &str,
    ) -> Result<Option<SessionCredential>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT s.account, s.region, s.id, c.secret, c.token_sha256, c.arn, c.user_id,
                        c.expires_ms, c.revoked_ms
                 FROM session_credentials c JOIN sessions s ON s.rowid = c.session
                 WHERE c.access_key_id = ?1",
            )?;
            let found = stmt
                .query_row([access_key_id], |r| {
                    Ok(SessionCredential {
                        tenant: Tenant {
                            account: r.get(0)?,
                            region: r.get(1)?,
                        },
                        session_id: r.get(2)?,
                        secret: r.get(3)?,
                        token_sha256: r.get(4)?,
                        arn: r.get(5)?,
                        user_id: r.get(6)?,
                        expires_ms: r.get(7)?,
                        revoked_ms: r.get(8)?,
                    })
                })
                .optional()?;
            Ok(found)
        })
    }

    fn revoke_all_session_credentials(&self, at_ms: i64) -> Result<usize, StoreError> {
        // Read first: a start with nothing to revoke must not need a write (a full disk).
        let live: bool = self.read(|conn| {
            Ok(conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM session_credentials WHERE revoked_ms IS NULL)",
                [],
                |r| r.get(0),
            )?)
        })?;
        if !live {
            return Ok(0);
        }
        self.write(|conn| {
            Ok(conn.execute(
                "UPDATE session_credentials SET revoked_ms = ?1 WHERE revoked_ms IS NULL",
                [at_ms],
            )?)
        })
    }
}

/// Upserts tags inside the caller's transaction and enforces the per-session limit.
fn insert_tags(
    tx: &rusqlite::Transaction<'_>,
    key: i64,
    tags: &BTreeMap<String, String>,
) -> Result<(), StoreError> {
    for (k, v) in tags {
        tx.execute(
            "INSERT INTO tags (session, key, value, account, region, created_ms, id)
             SELECT rowid, ?2, ?3, account, region, created_ms, id FROM sessions WHERE rowid = ?1
             ON CONFLICT (session, key) DO UPDATE SET value = excluded.value",
            params![key, k, v],
        )?;
    }
    let total: usize =
        tx.query_row("SELECT COUNT(*) FROM tags WHERE session = ?1", [key], |r| {
            r.get(0)
        })?;
    if total > MAX_TAGS {
        return Err(StoreError::TooManyTags(MAX_TAGS));
    }
    Ok(())
}

// The writes a session's owner makes, on a connection or inside a transaction (owner_writes).

fn transition_on(
    conn: &Connection,
    key: i64,
    to: SessionStatus,
    error_message: Option<&str>,
    at_ms: i64,
) -> Result<Option<Session>, StoreError> {
    let sources: Vec<&str> = SessionStatus::sources_of(to)
        .into_iter()
        .map(|s| s.as_str())
        .collect();
    let stamp = match to {
        SessionStatus::Ready => "ready_ms = ?3, last_activity_ms = ?3",
        s if !s.is_live() => "completed_ms = ?3",
        _ => "last_activity_ms = last_activity_ms",
    };
    let sql = format!(
        "UPDATE sessions SET status = ?2, {stamp}, error_message = COALESCE(?4, error_message)
         WHERE rowid = ?1 AND status IN ({}) RETURNING {}",
        in_list(&sources),
        // RETURNING cannot name a table alias.
        SESSION_COLUMNS.replace("s.", "")
    );
    one(
        conn,
        &sql,
        params![key, to.as_str(), at_ms, error_message],
        session_from_row,
    )
}

fn touch_on(conn: &Connection, key: i64, at_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sessions SET last_activity_ms = MAX(last_activity_ms, ?2) WHERE rowid = ?1",
        params![key, at_ms],
    )?;
    Ok(())
}

fn driver_record_on(
    conn: &Connection,
    key: i64,
    record: Option<&DriverRecord>,
    at_ms: i64,
) -> Result<(), StoreError> {
    match record {
        None => conn.execute("DELETE FROM driver_records WHERE session = ?1", [key])?,
        Some(r) => conn.execute(
            "INSERT OR REPLACE INTO driver_records (session, pid, start_ticks, socket, secret, token, spark_ui_port, metastore_user, recorded_ms, tcp, host) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 WHERE EXISTS (SELECT 1 FROM sessions WHERE rowid = ?1)",
            params![
                key,
                r.pid,
                i64::try_from(r.start_ticks)
                    .map_err(|_| StoreError::Corrupt("process start time out of range".into()))?,
                r.socket.to_string_lossy(),
                r.secret,
                r.token,
                r.spark_ui_port,
                r.metastore_user,
                at_ms,
                r.tcp,
                r.host
            ],
        )?,
    };
    Ok(())
}

fn update_statement_on(
    conn: &Connection,
    key: i64,
    id: i64,
    from: &[StatementState],
    update: StatementUpdate<'_>,
) -> Result<bool, StoreError> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let guard = format!(
        "WHERE session = ?1 AND id = ?2 AND state IN ({})",
        in_list(&from)
    );
    let changed = match update {
        StatementUpdate::Running { at_ms } => conn.execute(
            &format!("UPDATE statements SET state = 'RUNNING', started_ms = ?3 {guard}"),
            params![key, id, at_ms],
        )?,
        StatementUpdate::Progress(p) => conn.execute(
            &format!("UPDATE statements SET progress = ?3 {guard}"),
            params![key, id, p.clamp(0.0, 1.0)],
        )?,
        StatementUpdate::Cancelling => conn.execute(
            &format!("UPDATE statements SET state = 'CANCELLING' {guard}"),
            params![key, id],
        )?,
        StatementUpdate::Finished {
            state,
            output,
            at_ms,
        } => {
            let output =
                serde_json::to_string(output).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let progress = if state == StatementState::Available {
                1.0
            } else {
                0.0
            };
            conn.execute(
                &format!(
                    "UPDATE statements SET state = ?3, output = ?4, completed_ms = ?5,
                     started_ms = CASE started_ms WHEN 0 THEN ?5 ELSE started_ms END,
                     progress = MAX(progress, ?6) {guard}"
                ),
                params![key, id, state.as_str(), output, at_ms, progress],
            )?
        }
    };
    Ok(changed == 1)
}

fn finish_pending_on(
    conn: &Connection,
    key: i64,
    state: StatementState,
    output: &StatementOutput,
    at_ms: i64,
) -> Result<(), StoreError> {
    let output = serde_json::to_string(output).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    conn.execute(
        "UPDATE statements SET state = ?2, output = ?3, completed_ms = ?4,
         started_ms = CASE started_ms WHEN 0 THEN ?4 ELSE started_ms END
         WHERE session = ?1 AND state IN ('WAITING', 'RUNNING', 'CANCELLING')",
        params![key, state.as_str(), output, at_ms],
    )?;
    Ok(())
}

fn owner_write_on(
    conn: &Connection,
    key: i64,
    at_ms: i64,
    write: &OwnerWrite<'_>,
) -> Result<bool, StoreError> {
    Ok(match *write {
        OwnerWrite::Transition { to, message } => {
            transition_on(conn, key, to, message, at_ms)?.is_some()
        }
        OwnerWrite::Statement { id, from, update } => {
            update_statement_on(conn, key, id, from, update)?
        }
        OwnerWrite::Touch => {
            touch_on(conn, key, at_ms)?;
            true
        }
        OwnerWrite::DriverRecord(record) => {
            driver_record_on(conn, key, record, at_ms)?;
            true
        }
        OwnerWrite::FinishPending { state, output } => {
            finish_pending_on(conn, key, state, output, at_ms)?;
            true
        }
    })
}

/// The embedded store's clock, which is the one machine's.
fn clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A session's owner is alive: (re)registered with a heartbeat within the lease.
const OWNER_ALIVE: &str =
    "EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = s.owner_node AND n.heartbeat_ms > ?1 - ?2)";

impl NodeStore for SqliteStore {
    fn register_node(&self, node: NodeRegistration<'_>) -> Result<(), StoreError> {
        let capacity = i64::try_from(node.capacity).unwrap_or(i64::MAX);
        self.write(|conn| {
            conn.execute(
                "INSERT INTO nodes (node_id, advertise_url, capacity, started_ms, heartbeat_ms, metastore)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (node_id) DO UPDATE SET advertise_url = excluded.advertise_url,
                   capacity = excluded.capacity, started_ms = excluded.started_ms,
                   heartbeat_ms = excluded.heartbeat_ms, metastore = excluded.metastore",
                params![
                    node.node_id,
                    node.advertise_url,
                    capacity,
                    node.started_ms,
                    clock_ms(),
                    node.metastore
                ],
            )?;
            Ok(())
        })
    }

    fn heartbeat(&self, node_id: &str) -> Result<bool, StoreError> {
        self.write(|conn| {
            Ok(conn.execute(
                "UPDATE nodes SET heartbeat_ms = ?2 WHERE node_id = ?1",
                params![node_id, clock_ms()],
            )? == 1)
        })
    }

    fn live_nodes(&self, lease_ms: i64) -> Result<Vec<NodeLoad>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT n.node_id, n.advertise_url, n.capacity,
                        (SELECT COUNT(*) FROM sessions s WHERE s.owner_node = n.node_id
                           AND s.status IN ('PROVISIONING', 'READY', 'STOPPING')),
                        n.metastore
                 FROM nodes n WHERE n.heartbeat_ms > ?1 - ?2 ORDER BY n.node_id",
            )?;
            let rows = stmt.query_map(params![clock_ms(), lease_ms], |r| {
                Ok(NodeLoad {
                    node_id: r.get(0)?,
                    advertise_url: r.get(1)?,
                    capacity: r.get(2)?,
                    live_sessions: r.get(3)?,
                    metastore: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn driver_tenant(&self, metastore_user: &str) -> Result<Option<Tenant>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT s.account, s.region FROM driver_records d JOIN sessions s ON s.rowid = d.session
                     WHERE d.metastore_user = ?1 AND s.status IN ('PROVISIONING', 'READY', 'STOPPING')",
                    [metastore_user],
                    |r| {
                        Ok(Tenant {
                            account: r.get(0)?,
                            region: r.get(1)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    fn node_url(&self, node_id: &str) -> Result<Option<String>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT advertise_url FROM nodes WHERE node_id = ?1",
                    [node_id],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    fn orphaned_sessions(&self, lease_ms: i64) -> Result<Vec<Session>, StoreError> {
        self.read(|conn| {
            collect(
                conn,
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions s
                     WHERE s.status IN ('PROVISIONING', 'READY', 'STOPPING') AND NOT {OWNER_ALIVE}"
                ),
                params![clock_ms(), lease_ms],
                session_from_row,
            )
        })
    }

    fn claim_session(
        &self,
        key: i64,
        held: &Owner,
        node: &str,
        lease_ms: i64,
    ) -> Result<Option<Fence>, StoreError> {
        self.write(|conn| {
            let epoch: Option<i64> = conn
                .query_row(
                    &format!(
                        "UPDATE sessions AS s SET owner_node = ?3, owner_epoch = owner_epoch + 1,
                           home_node = CASE WHEN status = 'PROVISIONING' THEN ?3 ELSE home_node END
                         WHERE rowid = ?4 AND owner_node IS ?5 AND owner_epoch = ?6
                           AND (owner_node IS NULL OR owner_node = ?3 OR NOT {OWNER_ALIVE})
                         RETURNING owner_epoch"
                    ),
                    params![clock_ms(), lease_ms, node, key, held.node, held.epoch],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(epoch.map(|epoch| Fence {
                key,
                node: node.to_string(),
                epoch,
            }))
        })
    }

    fn owned_sessions(&self, node: &str) -> Result<Vec<OwnedSession>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS},
                   EXISTS (SELECT 1 FROM statements t WHERE t.session = s.rowid AND t.state = 'WAITING'),
                   (SELECT MIN(t.id) FROM statements t WHERE t.session = s.rowid AND t.state = 'CANCELLING'),
                   EXISTS (SELECT 1 FROM driver_records d WHERE d.session = s.rowid)
                 FROM sessions s WHERE s.owner_node = ?1
                   AND (s.status IN ('PROVISIONING', 'READY', 'STOPPING')
                        OR EXISTS (SELECT 1 FROM driver_records d WHERE d.session = s.rowid))"
            ))?;
            let width = SESSION_COLUMNS.split(',').count();
            let rows = stmt.query_map([node], |r| {
                Ok((
                    session_from_row(r)?,
                    r.get::<_, bool>(width)?,
                    r.get::<_, Option<i64>>(width + 1)?,
                    r.get::<_, bool>(width + 2)?,
                ))
            })?;
            let mut owned = Vec::new();
            for row in rows {
                let (session, waiting, cancelling, has_driver) = row?;
                owned.push(OwnedSession {
                    session: session?,
                    waiting,
                    cancelling,
                    has_driver,
                });
            }
            Ok(owned)
        })
    }

    fn owner_writes(
        &self,
        fence: &Fence,
        at_ms: i64,
        writes: &[OwnerWrite<'_>],
    ) -> Result<Vec<bool>, StoreError> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            let holds = tx
                .query_row(
                    "SELECT 1 FROM sessions WHERE rowid = ?1 AND owner_node = ?2 AND owner_epoch = ?3",
                    params![fence.key, fence.node, fence.epoch],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !holds {
                return Err(StoreError::Fenced);
            }
            let applied = writes
                .iter()
                .map(|w| owner_write_on(&tx, fence.key, at_ms, w))
                .collect::<Result<Vec<_>, _>>()?;
            tx.commit()?;
            Ok(applied)
        })
    }

    fn notify(&self, _node: &str, _key: i64) -> Result<(), StoreError> {
        // One process owns an SQLite file: the owner is this node, woken directly.
        Ok(())
    }

    fn listen(&self, _node: &str) -> Option<Wakeups> {
        None
    }
}
