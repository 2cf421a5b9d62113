//! This node among several on one store: its heartbeat, the wake-ups other nodes send it, the
//! re-scan that makes a lost wake-up only a delay, the take-over of a dead node's sessions, and
//! where a new session runs. With SQLite there is one node and all of this is quiet: the
//! heartbeat is one row, there are no wake-ups and no other node's sessions.

use super::model::{Session, SessionStatus};
use super::now_ms;
use super::service::SessionService;
use super::supervisor::{Supervisor, SupervisorCommand};
use crate::store::nodes::{Fence, OwnedSession};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// How often the owner re-reads what its sessions need, wake-ups or not.
const RESCAN: Duration = Duration::from_secs(1);

/// Where a session's driver log is.
pub enum LogSource {
    Local(std::path::PathBuf),
    /// On the disk of another node: fetch it from `url` (its `/logs/<token>`) with `proof`.
    Node {
        url: String,
        proof: String,
    },
}

/// The scope of the proof one node shows another when it fetches a log or a Spark UI page on a
/// caller's behalf.
const PEER_SCOPE: &str = "peer-log";
/// How long such a proof is good for.
const PEER_PROOF_SECONDS: i64 = 60;

impl SessionService {
    /// The node's background work, for as long as the server runs.
    pub(super) async fn coordinate(self: Arc<Self>) {
        let me = self.config.node.id.clone();
        let mut wakeups = {
            let store = Arc::clone(&self.store);
            let me = me.clone();
            tokio::task::spawn_blocking(move || store.listen(&me))
                .await
                .ok()
                .flatten()
        };
        let beat =
            (self.config.node.lease / 5).clamp(Duration::from_millis(200), Duration::from_secs(3));
        let mut heartbeat = tokio::time::interval(beat);
        let mut rescan = tokio::time::interval(RESCAN);
        for timer in [&mut heartbeat, &mut rescan] {
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            tokio::select! {
                _ = heartbeat.tick() => {
                    self.heartbeat().await;
                    self.refresh_metastore_peers().await;
                    self.adopt_orphans().await;
                }
                _ = rescan.tick() => self.rescan().await,
                woken = recv(&mut wakeups) => match woken {
                    Some(_) => {
                        // Every wake-up pending now is served by one re-scan.
                        while let Some(w) = wakeups.as_mut() && w.try_recv().is_ok() {}
                        self.rescan().await;
                    }
                    None => wakeups = None,
                },
            }
        }
    }

    async fn heartbeat(&self) {
        let node = self.config.node.clone();
        let capacity = self.config.capacity;
        let renewed = self
            .db(move |s| {
                if s.heartbeat(&node.id)? {
                    return Ok(());
                }
                s.register_node(node.registration(capacity))
            })
            .await;
        if let Err(e) = renewed {
            // Other nodes may take this node's sessions over; its writes are then refused.
            tracing::warn!(error = %e, "could not renew this node's lease");
        }
    }

    /// Tells the runtime the other live nodes' metastores, which drivers it starts from now on
    /// list after this node's own.
    pub(super) async fn refresh_metastore_peers(&self) {
        if self.runtime.is_none() {
            return;
        }
        let lease_ms = self.config.node.lease_ms();
        match self.db(move |s| s.live_nodes(lease_ms)).await {
            Ok(nodes) => self.set_metastore_peers(&nodes),
            Err(e) => tracing::debug!(error = %e, "could not read the live nodes"),
        }
    }

    fn set_metastore_peers(&self, nodes: &[crate::store::nodes::NodeLoad]) {
        if let Some(runtime) = &self.runtime {
            runtime.set_metastore_peers(nodes.iter().filter_map(|n| n.metastore.clone()).collect());
        }
    }

    /// Takes over the live sessions of nodes whose lease ran out (each by compare-and-swap:
    /// of several nodes trying, one wins).
    async fn adopt_orphans(self: &Arc<Self>) {
        let Some(runtime) = self.runtime.clone() else {
            return;
        };
        let lease_ms = self.config.node.lease_ms();
        let Ok(orphans) = self.db(move |s| s.orphaned_sessions(lease_ms)).await else {
            return;
        };
        for session in orphans {
            self.claim_and_take_over(&runtime, session).await;
        }
    }

    /// Claims `session` as it was read (compare-and-swap on its hold) and takes it over in a
    /// task of its own; nothing if a take-over of it runs here already or another node (or a
    /// change of the session) came first.
    async fn claim_and_take_over(
        self: &Arc<Self>,
        runtime: &Arc<crate::runtime::DriverRuntime>,
        session: Session,
    ) {
        let key = session.key;
        if !self.taking().insert(key) {
            return;
        }
        let (held, me, lease_ms) = (
            session.owner.clone(),
            self.config.node.id.clone(),
            self.config.node.lease_ms(),
        );
        match self
            .db(move |s| s.claim_session(key, &held, &me, lease_ms))
            .await
        {
            Ok(Some(fence)) => {
                tracing::warn!(
                    id = %session.id,
                    from = session.owner.node.as_deref().unwrap_or("no node"),
                    epoch = fence.epoch,
                    "taking over a session"
                );
                let service = Arc::clone(self);
                let runtime = Arc::clone(runtime);
                tokio::spawn(async move {
                    service.take_over(&runtime, session, fence).await;
                    service.taking().remove(&key);
                });
            }
            Ok(None) => {
                self.taking().remove(&key);
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not claim a session to take it over");
                self.taking().remove(&key);
            }
        }
    }

    pub(super) fn taking(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.taking.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads what this node's sessions need from the store and hands it to their tasks: a
    /// statement queued or cancelled at another node, a stop, a session placed here; tasks
    /// of sessions another node holds now let them go.
    async fn rescan(self: &Arc<Self>) {
        let Some(runtime) = self.runtime.clone() else {
            return;
        };
        // Tasks registered before the read: a session created after it is not let go.
        let before: HashSet<i64> = self
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect();
        let me = self.config.node.id.clone();
        let Ok(owned) = self.db(move |s| s.owned_sessions(&me)).await else {
            return;
        };
        let held: HashSet<i64> = owned.iter().map(|o| o.session.key).collect();
        for key in before.difference(&held) {
            self.send(*key, SupervisorCommand::Release);
        }
        for o in owned {
            if self.send_needs(&o) || self.taking().contains(&o.session.key) {
                continue;
            }
            self.start_task(&runtime, o).await;
        }
    }

    /// Hands a session's needs to its task; false if it has none here.
    fn send_needs(&self, o: &OwnedSession) -> bool {
        let key = o.session.key;
        let needs = match o.session.status {
            SessionStatus::Provisioning => vec![],
            SessionStatus::Ready => {
                let mut needs = Vec::new();
                if let Some(id) = o.cancelling {
                    needs.push(SupervisorCommand::Cancel(id));
                }
                if o.waiting {
                    needs.push(SupervisorCommand::Wake);
                }
                needs
            }
            _ => vec![SupervisorCommand::Shutdown(None)],
        };
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = registry.get(&key) else {
            return false;
        };
        for need in needs {
            let _ = tx.send(need);
        }
        true
    }

    /// A session this node holds but runs no task for: placed here by another node, or left
    /// by a task that ended early. PROVISIONING ones start; others are claimed again and
    /// taken over.
    async fn start_task(
        self: &Arc<Self>,
        runtime: &Arc<crate::runtime::DriverRuntime>,
        o: OwnedSession,
    ) {
        let session = o.session;
        let key = session.key;
        if session.status == SessionStatus::Provisioning {
            // As CreateSession does: the insert and the task's start under one lock.
            let _admission = self.admission.lock().await;
            let registered = self
                .registry
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&key);
            if !registered {
                let fence = Fence {
                    key,
                    node: self.config.node.id.clone(),
                    epoch: session.owner.epoch,
                };
                Supervisor::spawn(
                    session,
                    fence,
                    self.task_context(runtime),
                    self.capacity.enqueue(),
                );
            }
            return;
        }
        self.claim_and_take_over(runtime, session).await;
    }

    /// The node a new session runs on: the live one with the most free driver slots, this
    /// one on a tie (or when no node's row can be read).
    pub(super) async fn placement(&self) -> Result<String, super::SessionError> {
        let me = self.config.node.id.clone();
        let lease_ms = self.config.node.lease_ms();
        let nodes = self.db(move |s| s.live_nodes(lease_ms)).await?;
        self.set_metastore_peers(&nodes);
        let mine = nodes
            .iter()
            .find(|n| n.node_id == me)
            .map_or(self.config.capacity as i64, |n| n.free());
        Ok(nodes
            .iter()
            .filter(|n| n.free() > mine)
            .max_by_key(|n| n.free())
            .map_or(me, |n| n.node_id.clone()))
    }

    /// Where the log a `/logs/<token>` URL names is: on this node's disk, or on the node that
    /// started its driver. `peer` is the proof of a node fetching it on a caller's behalf, which
    /// is always answered from this disk (never passed on again). `None` for a forged token.
    pub async fn log_source(&self, token: &str, peer: Option<&str>) -> Option<LogSource> {
        let key = self.tokens.verify("logs", token)?.c;
        let local = || Some(LogSource::Local(self.runtime.as_ref()?.log_path(key)));
        if let Some(proof) = peer {
            return self.is_peer(token, proof).then(local).flatten();
        }
        let session: Option<Session> = self.db(move |s| s.session_by_key(key)).await.ok()?;
        let home = session?.home_node.filter(|h| *h != self.config.node.id);
        let Some(home) = home else {
            return local();
        };
        let url = self.db(move |s| s.node_url(&home)).await.ok()??;
        Some(LogSource::Node {
            url,
            proof: self.peer_proof(token),
        })
    }

    /// Where a READY session's Spark UI is: the port of this node's driver, or the node that
    /// runs the driver (asked with a proof); `None` while the driver starts or after it ended.
    pub async fn spark_ui(
        &self,
        tenant: &super::model::Tenant,
        id: &str,
    ) -> Result<Option<SparkUiAt>, super::SessionError> {
        let session = self.session(tenant, id).await?;
        if let Some(port) = self.local_spark_ui_port(session.key).await {
            return Ok(Some(SparkUiAt::Local(port)));
        }
        let owner = match session.owner.node {
            Some(owner)
                if owner != self.config.node.id && session.status == SessionStatus::Ready =>
            {
                owner
            }
            _ => return Ok(None),
        };
        let Some(url) = self.db(move |s| s.node_url(&owner)).await? else {
            return Ok(None);
        };
        Ok(Some(SparkUiAt::Node {
            url,
            key: session.key,
            proof: self.peer_proof(&spark_ui_subject(session.key)),
        }))
    }

    /// The Spark UI port of session `key`'s driver on this node, for another node that shows
    /// a proof.
    pub async fn peer_spark_ui_port(&self, key: i64, proof: &str) -> Option<u16> {
        if !self.is_peer(&spark_ui_subject(key), proof) {
            return None;
        }
        self.local_spark_ui_port(key).await
    }

    /// A proof for another node that this one asks about `subject` on a caller's behalf.
    fn peer_proof(&self, subject: &str) -> String {
        self.tokens.issue(
            &peer_scope(subject),
            &super::token::Position {
                c: now_ms() / 1000,
                i: self.config.node.id.clone(),
            },
        )
    }

    /// Whether `proof` is a recent [`Self::peer_proof`] of a node of this store for `subject`.
    fn is_peer(&self, subject: &str, proof: &str) -> bool {
        self.tokens
            .verify(&peer_scope(subject), proof)
            .is_some_and(|p| (now_ms() / 1000 - p.c).abs() <= PEER_PROOF_SECONDS)
    }
}

/// Where the Spark UI of a session is served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SparkUiAt {
    /// This node's driver, on this loopback port.
    Local(u16),
    /// Another node's driver: ask that node (`url`) for session `key`'s UI with `proof`.
    Node {
        url: String,
        key: i64,
        proof: String,
    },
}

/// What a Spark UI proof is about (log tokens never hold a NUL, so the two never meet).
fn spark_ui_subject(key: i64) -> String {
    format!("sparkui\0{key}")
}

fn peer_scope(subject: &str) -> String {
    format!("{PEER_SCOPE}\0{subject}")
}

/// The next wake-up, or never without a listener.
async fn recv(wakeups: &mut Option<crate::store::nodes::Wakeups>) -> Option<Option<i64>> {
    match wakeups {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
