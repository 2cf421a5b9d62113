//! `NodeStore` on PostgreSQL (migrations/postgres/0007_nodes.sql), and the session writes an
//! owner makes, on a pooled connection or inside a fenced transaction. Leases are compared with
//! the database's `now()`; wake-ups are `NOTIFY` on a channel per node, received on a connection
//! of their own that is re-made when it drops (the receiver is then told to look at everything).

use super::{
    LIVE, PostgresStore, SESSION_COLUMNS, exec, json, row, rows, session_from_row, sessions_from,
};
use crate::sessions::model::{
    Owner, Session, SessionStatus, StatementOutput, StatementState, Tenant,
};
use crate::store::nodes::{
    Fence, NodeLoad, NodeRegistration, NodeStore, OwnedSession, OwnerWrite, Wakeups, channel_name,
    parse_wakeup,
};
use crate::store::{DriverRecord, StatementUpdate, StoreError};
use deadpool_postgres::GenericClient;
use futures::StreamExt;
use std::time::Duration;
use tokio_postgres::{AsyncMessage, NoTls};

/// A session's owner is alive: registered, its heartbeat within the lease (`$1` ms).
const OWNER_ALIVE: &str = "EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = s.owner_node \
     AND n.heartbeat_at > now() - make_interval(secs => $1::bigint / 1000.0))";

/// How long the listener waits before connecting again after its connection dropped.
const RELISTEN_PAUSE: Duration = Duration::from_secs(1);

pub(super) async fn transition_on(
    c: &impl GenericClient,
    key: i64,
    to: SessionStatus,
    error_message: Option<&str>,
    at_ms: i64,
) -> Result<Option<Session>, StoreError> {
    let sources: Vec<&str> = SessionStatus::sources_of(to)
        .into_iter()
        .map(|s| s.as_str())
        .collect();
    let ends = !to.is_live();
    let sql = format!(
        "UPDATE sessions s SET status = $2,
                ready_ms = CASE WHEN $2 = 'READY' THEN $3 ELSE ready_ms END,
                last_activity_ms = CASE WHEN $2 = 'READY' THEN $3 ELSE last_activity_ms END,
                completed_ms = CASE WHEN $6 THEN $3 ELSE completed_ms END,
                error_message = COALESCE($4, error_message)
         WHERE key = $1 AND status = ANY($5) RETURNING {SESSION_COLUMNS}"
    );
    row(
        c,
        &sql,
        &[&key, &to.as_str(), &at_ms, &error_message, &sources, &ends],
    )
    .await?
    .as_ref()
    .map(session_from_row)
    .transpose()
}

pub(super) async fn touch_on(
    c: &impl GenericClient,
    key: i64,
    at_ms: i64,
) -> Result<(), StoreError> {
    exec(
        c,
        "UPDATE sessions SET last_activity_ms = GREATEST(last_activity_ms, $2) WHERE key = $1",
        &[&key, &at_ms],
    )
    .await?;
    Ok(())
}

pub(super) async fn driver_record_on(
    c: &impl GenericClient,
    key: i64,
    record: Option<&DriverRecord>,
    at_ms: i64,
) -> Result<(), StoreError> {
    let Some(r) = record else {
        exec(c, "DELETE FROM driver_records WHERE session = $1", &[&key]).await?;
        return Ok(());
    };
    let pid = i64::from(r.pid);
    let start_ticks = i64::try_from(r.start_ticks)
        .map_err(|_| StoreError::Corrupt("process start time out of range".into()))?;
    let socket = r.socket.to_string_lossy().into_owned();
    let port = r.spark_ui_port.map(i32::from);
    exec(
        c,
        "INSERT INTO driver_records (session, pid, start_ticks, socket, secret, token, spark_ui_port, metastore_user, recorded_ms, tcp, host) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 WHERE EXISTS (SELECT 1 FROM sessions WHERE key = $1) \
         ON CONFLICT (session) DO UPDATE SET pid = EXCLUDED.pid, start_ticks = EXCLUDED.start_ticks, \
         socket = EXCLUDED.socket, secret = EXCLUDED.secret, token = EXCLUDED.token, \
         spark_ui_port = EXCLUDED.spark_ui_port, metastore_user = EXCLUDED.metastore_user, \
         recorded_ms = EXCLUDED.recorded_ms, tcp = EXCLUDED.tcp, host = EXCLUDED.host",
        &[&key, &pid, &start_ticks, &socket, &r.secret, &r.token, &port, &r.metastore_user, &at_ms, &r.tcp, &r.host],
    )
    .await?;
    Ok(())
}

pub(super) async fn update_statement_on(
    c: &impl GenericClient,
    key: i64,
    id: i64,
    from: &[StatementState],
    update: StatementUpdate<'_>,
) -> Result<bool, StoreError> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let guard = "WHERE session = $1 AND id = $2 AND state = ANY($3)";
    let changed = match update {
        StatementUpdate::Running { at_ms } => {
            exec(
                c,
                &format!("UPDATE statements SET state = 'RUNNING', started_ms = $4 {guard}"),
                &[&key, &id, &from, &at_ms],
            )
            .await?
        }
        StatementUpdate::Progress(p) => {
            let p = p.clamp(0.0, 1.0);
            exec(
                c,
                &format!("UPDATE statements SET progress = $4 {guard}"),
                &[&key, &id, &from, &p],
            )
            .await?
        }
        StatementUpdate::Cancelling => {
            exec(
                c,
                &format!("UPDATE statements SET state = 'CANCELLING' {guard}"),
                &[&key, &id, &from],
            )
            .await?
        }
        StatementUpdate::Finished {
            state,
            output,
            at_ms,
        } => {
            let output = json(output)?;
            let progress = if state == StatementState::Available {
                1.0
            } else {
                0.0
            };
            exec(
                c,
                &format!(
                    "UPDATE statements SET state = $4, output = $5, completed_ms = $6,
                     started_ms = CASE started_ms WHEN 0 THEN $6 ELSE started_ms END,
                     progress = GREATEST(progress, $7) {guard}"
                ),
                &[
                    &key,
                    &id,
                    &from,
                    &state.as_str(),
                    &output,
                    &at_ms,
                    &progress,
                ],
            )
            .await?
        }
    };
    Ok(changed == 1)
}

pub(super) async fn finish_pending_on(
    c: &impl GenericClient,
    key: i64,
    state: StatementState,
    output: &StatementOutput,
    at_ms: i64,
) -> Result<(), StoreError> {
    let output = json(output)?;
    exec(
        c,
        "UPDATE statements SET state = $2, output = $3, completed_ms = $4,
         started_ms = CASE started_ms WHEN 0 THEN $4 ELSE started_ms END
         WHERE session = $1 AND state IN ('WAITING', 'RUNNING', 'CANCELLING')",
        &[&key, &state.as_str(), &output, &at_ms],
    )
    .await?;
    Ok(())
}

async fn owner_write_on(
    c: &impl GenericClient,
    key: i64,
    at_ms: i64,
    write: &OwnerWrite<'_>,
) -> Result<bool, StoreError> {
    Ok(match *write {
        OwnerWrite::Transition { to, message } => {
            transition_on(c, key, to, message, at_ms).await?.is_some()
        }
        OwnerWrite::Statement { id, from, update } => {
            update_statement_on(c, key, id, from, update).await?
        }
        OwnerWrite::Touch => {
            touch_on(c, key, at_ms).await?;
            true
        }
        OwnerWrite::DriverRecord(record) => {
            driver_record_on(c, key, record, at_ms).await?;
            true
        }
        OwnerWrite::FinishPending { state, output } => {
            finish_pending_on(c, key, state, output, at_ms).await?;
            true
        }
    })
}

impl NodeStore for PostgresStore {
    fn register_node(&self, node: NodeRegistration<'_>) -> Result<(), StoreError> {
        let capacity = i32::try_from(node.capacity).unwrap_or(i32::MAX);
        self.run(async |c| {
            exec(
                &*c,
                "INSERT INTO nodes (node_id, advertise_url, capacity, started_ms, heartbeat_at, metastore)
                 VALUES ($1, $2, $3, $4, now(), $5)
                 ON CONFLICT (node_id) DO UPDATE SET advertise_url = EXCLUDED.advertise_url,
                   capacity = EXCLUDED.capacity, started_ms = EXCLUDED.started_ms,
                   heartbeat_at = now(), metastore = EXCLUDED.metastore",
                &[
                    &node.node_id,
                    &node.advertise_url,
                    &capacity,
                    &node.started_ms,
                    &node.metastore,
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn heartbeat(&self, node_id: &str) -> Result<bool, StoreError> {
        self.run(async |c| {
            Ok(exec(
                &*c,
                "UPDATE nodes SET heartbeat_at = now() WHERE node_id = $1",
                &[&node_id],
            )
            .await?
                == 1)
        })
    }

    fn live_nodes(&self, lease_ms: i64) -> Result<Vec<NodeLoad>, StoreError> {
        let found = self.run(async |c| {
            rows(
                &*c,
                &format!(
                    "SELECT n.node_id, n.advertise_url, n.capacity::bigint,
                            (SELECT COUNT(*) FROM sessions s WHERE s.owner_node = n.node_id
                               AND s.status IN {LIVE}),
                            n.metastore
                     FROM nodes n
                     WHERE n.heartbeat_at > now() - make_interval(secs => $1::bigint / 1000.0)
                     ORDER BY n.node_id"
                ),
                &[&lease_ms],
            )
            .await
        })?;
        found
            .iter()
            .map(|r| {
                Ok(NodeLoad {
                    node_id: r.try_get(0)?,
                    advertise_url: r.try_get(1)?,
                    capacity: r.try_get(2)?,
                    live_sessions: r.try_get(3)?,
                    metastore: r.try_get(4)?,
                })
            })
            .collect()
    }

    fn driver_tenant(&self, metastore_user: &str) -> Result<Option<Tenant>, StoreError> {
        self.run(async |c| {
            row(
                &*c,
                &format!(
                    "SELECT s.account, s.region FROM driver_records d
                     JOIN sessions s ON s.key = d.session
                     WHERE d.metastore_user = $1 AND s.status IN {LIVE}"
                ),
                &[&metastore_user],
            )
            .await?
            .map(|r| {
                Ok(Tenant {
                    account: r.try_get(0)?,
                    region: r.try_get(1)?,
                })
            })
            .transpose()
        })
    }

    fn node_url(&self, node_id: &str) -> Result<Option<String>, StoreError> {
        self.run(async |c| {
            row(
                &*c,
                "SELECT advertise_url FROM nodes WHERE node_id = $1",
                &[&node_id],
            )
            .await?
            .map(|r| r.try_get(0).map_err(StoreError::from))
            .transpose()
        })
    }

    fn orphaned_sessions(&self, lease_ms: i64) -> Result<Vec<Session>, StoreError> {
        self.run(async |c| {
            sessions_from(
                rows(
                    &*c,
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions s
                         WHERE s.status IN {LIVE} AND NOT {OWNER_ALIVE}"
                    ),
                    &[&lease_ms],
                )
                .await?,
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
        // Row-locking UPDATE: of two nodes claiming at once, the second re-reads the row after
        // the first commits, finds the epoch moved, and updates nothing.
        let claimed = self.run(async |c| {
            row(
                &*c,
                &format!(
                    "UPDATE sessions s SET owner_node = $2, owner_epoch = owner_epoch + 1,
                       home_node = CASE WHEN status = 'PROVISIONING' THEN $2 ELSE home_node END
                     WHERE key = $3 AND owner_node IS NOT DISTINCT FROM $4 AND owner_epoch = $5
                       AND (owner_node IS NULL OR owner_node = $2 OR NOT {OWNER_ALIVE})
                     RETURNING owner_epoch"
                ),
                &[&lease_ms, &node, &key, &held.node, &held.epoch],
            )
            .await
        })?;
        claimed
            .map(|r| {
                Ok(Fence {
                    key,
                    node: node.to_string(),
                    epoch: r.try_get(0)?,
                })
            })
            .transpose()
    }

    fn owned_sessions(&self, node: &str) -> Result<Vec<OwnedSession>, StoreError> {
        let found = self.run(async |c| {
            rows(
                &*c,
                &format!(
                    "SELECT {SESSION_COLUMNS},
                       EXISTS (SELECT 1 FROM statements t WHERE t.session = s.key AND t.state = 'WAITING'),
                       (SELECT MIN(t.id) FROM statements t WHERE t.session = s.key AND t.state = 'CANCELLING'),
                       EXISTS (SELECT 1 FROM driver_records d WHERE d.session = s.key)
                     FROM sessions s WHERE s.owner_node = $1
                       AND (s.status IN {LIVE}
                            OR EXISTS (SELECT 1 FROM driver_records d WHERE d.session = s.key))"
                ),
                &[&node],
            )
            .await
        })?;
        let width = SESSION_COLUMNS.split(',').count();
        found
            .iter()
            .map(|r| {
                Ok(OwnedSession {
                    session: session_from_row(r)?,
                    waiting: r.try_get(width)?,
                    cancelling: r.try_get(width + 1)?,
                    has_driver: r.try_get(width + 2)?,
                })
            })
            .collect()
    }

    fn owner_writes(
        &self,
        fence: &Fence,
        at_ms: i64,
        writes: &[OwnerWrite<'_>],
    ) -> Result<Vec<bool>, StoreError> {
        self.run(async |c| {
            let tx = c.transaction().await?;
            // FOR SHARE holds off a take-over (its UPDATE waits for this transaction), and one
            // that committed first is seen: the hold is checked and kept for every write.
            let holds = row(
                &tx,
                "SELECT 1 FROM sessions WHERE key = $1 AND owner_node = $2 AND owner_epoch = $3 FOR SHARE",
                &[&fence.key, &fence.node, &fence.epoch],
            )
            .await?
            .is_some();
            if !holds {
                return Err(StoreError::Fenced);
            }
            let mut applied = Vec::with_capacity(writes.len());
            for write in writes {
                applied.push(owner_write_on(&tx, fence.key, at_ms, write).await?);
            }
            tx.commit().await?;
            Ok(applied)
        })
    }

    fn notify(&self, node: &str, key: i64) -> Result<(), StoreError> {
        let channel = channel_name(node);
        let payload = key.to_string();
        self.run(async |c| {
            exec(&*c, "SELECT pg_notify($1, $2)", &[&channel, &payload]).await?;
            Ok(())
        })
    }

    fn listen(&self, node: &str) -> Option<Wakeups> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let config = self.config.clone();
        let channel = channel_name(node);
        self.runtime
            .as_ref()
            .expect("runtime lives until drop")
            .spawn(async move {
                // Each (re)connection may have missed wake-ups: the receiver re-scans.
                while tx.send(None).is_ok() {
                    if let Err(e) = listen_once(&config, &channel, &tx).await {
                        tracing::warn!(error = %e, "PostgreSQL wake-up listener dropped; reconnecting");
                    }
                    tokio::time::sleep(RELISTEN_PAUSE).await;
                }
            });
        Some(rx)
    }
}

/// One listening connection: LISTEN, then every notification's session key to `tx` until the
/// connection ends (or nobody receives any more).
async fn listen_once(
    config: &tokio_postgres::Config,
    channel: &str,
    tx: &tokio::sync::mpsc::UnboundedSender<Option<i64>>,
) -> Result<(), StoreError> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    // The connection makes progress only while polled: LISTEN is sent while reading messages.
    let sql = format!("LISTEN {channel}");
    let listen = client.batch_execute(&sql);
    tokio::pin!(listen);
    let mut listening = false;
    loop {
        tokio::select! {
            done = &mut listen, if !listening => {
                done?;
                listening = true;
            }
            message = messages.next() => match message {
                Some(Ok(AsyncMessage::Notification(n))) => match parse_wakeup(n.payload()) {
                    Some(key) => {
                        if tx.send(Some(key)).is_err() {
                            return Ok(());
                        }
                    }
                    None => tracing::warn!(payload = n.payload(), "ignoring a malformed wake-up"),
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
        }
    }
}
