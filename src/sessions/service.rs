//! Glue's session and statement operations, tenancy, paging, admission and timeouts.

use super::capacity::Capacity;
use super::credentials::{self, DriverAccess};
use super::error::SessionError;
use super::model::{
    Session, SessionSpec, SessionStatus, Statement, StatementOutput, StatementState, Tenant,
};
use super::now_ms;
use super::supervisor::{Registry, Supervisor, SupervisorCommand, TaskContext, end_writes};
use super::token::{Position, TokenSigner};
use crate::runtime::DriverRuntime;
use crate::runtime::driver::AdoptError;
use crate::store::nodes::{Fence, NodeRegistration};
use crate::store::{NewSession, PageQuery, SessionStore, StatementUpdate, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// ListStatements has no MaxResults; pages are this long.
const STATEMENTS_PER_PAGE: usize = 100;
/// How long DeleteSession waits for a live driver to stop before deleting anyway.
const DELETE_WAIT: Duration = Duration::from_secs(20);

/// Settings of the service that come from the command line.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Length of one "minute" of Timeout/IdleTimeout; shortened in tests.
    pub minute: Duration,
    /// The quota: PROVISIONING and READY sessions allowed at once (more are refused).
    pub max_live_sessions: usize,
    /// Session drivers that may run at once on this host (more sessions wait in PROVISIONING).
    pub capacity: usize,
    /// This server's URL as its drivers call it (`credentials::endpoint_url`).
    pub endpoint_url: String,
    pub node: NodeConfig,
}

/// This node among the nodes that share the store.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Stable across restarts (kept in the data dir): a restarted node takes its sessions back.
    pub id: String,
    /// How other nodes reach this one.
    pub advertise_url: String,
    /// A node whose heartbeat is older than this (on the store's clock) is dead.
    pub lease: Duration,
    /// Where drivers reach this node's metastore (`host:port`).
    pub metastore: Option<String>,
}

impl NodeConfig {
    pub fn lease_ms(&self) -> i64 {
        self.lease.as_millis() as i64
    }

    /// This node as it registers, with `capacity` driver slots.
    pub fn registration(&self, capacity: usize) -> NodeRegistration<'_> {
        NodeRegistration {
            node_id: &self.id,
            advertise_url: &self.advertise_url,
            capacity,
            started_ms: now_ms(),
            metastore: self.metastore.as_deref(),
        }
    }
}

/// A validated CreateSession.
pub struct NewSessionRequest {
    pub id: String,
    pub spec: SessionSpec,
    /// Minutes from READY until TIMEOUT (not echoed by GetSession, so not in the spec).
    pub timeout: u32,
    pub tags: BTreeMap<String, String>,
}

pub struct SessionService {
    pub(super) store: Arc<dyn SessionStore>,
    pub(super) runtime: Option<Arc<DriverRuntime>>,
    pub(super) registry: Registry,
    pub(super) capacity: Arc<Capacity>,
    /// Serialises the live-count check with the insert (so the limit holds under concurrency),
    /// and a session's insert with the start of its task (the owner's re-scan takes it too).
    pub(super) admission: tokio::sync::Mutex<()>,
    /// Sessions being taken over right now (their task is not registered yet).
    pub(super) taking: std::sync::Mutex<std::collections::HashSet<i64>>,
    pub(super) tokens: TokenSigner,
    pub(super) config: ServiceConfig,
}

impl SessionService {
    /// Opens the service over `store`. With a runtime, the sessions an earlier run left live
    /// are recovered (see [`SessionService::recover`]); without, a create or stop that run
    /// left half done is finished, and the keys minted for its drivers are revoked.
    pub async fn start(
        store: Arc<dyn SessionStore>,
        runtime: Option<Arc<DriverRuntime>>,
        config: ServiceConfig,
    ) -> Result<Arc<Self>, StoreError> {
        let secret = store.secret()?;
        let service = Arc::new(Self {
            store,
            runtime,
            registry: Registry::default(),
            capacity: Capacity::new(config.capacity),
            admission: tokio::sync::Mutex::new(()),
            taking: Default::default(),
            tokens: TokenSigner::new(secret),
            config,
        });
        let registered = service
            .store
            .register_node(service.config.node.registration(service.config.capacity));
        if let Err(e) = registered {
            // Not fatal (a full or read-only disk must not keep the server from serving
            // reads); the heartbeat registers the node once it can write.
            tracing::warn!(error = %e, "could not register this node");
        }
        // Before any driver starts, so that the first ones list the other nodes' metastores.
        service.refresh_metastore_peers().await;
        match &service.runtime {
            Some(runtime) => service.recover(runtime).await?,
            None => service.finish_interrupted(),
        }
        tokio::spawn(Arc::clone(&service).enforce_timeouts());
        tokio::spawn(Arc::clone(&service).coordinate());
        Ok(service)
    }

    /// Control plane only: a create or stop interrupted between its two writes is finished
    /// here (there is no driver to wait for), and no earlier key stays valid.
    fn finish_interrupted(&self) {
        if let Err(e) = credentials::revoke_earlier_runs(&*self.store, now_ms()) {
            // Not fatal (a full disk must not keep the server from starting): every key also
            // expires by itself, with its session's Timeout.
            tracing::warn!(error = %e, "could not revoke the session keys of an earlier run");
        }
        let live = match self.store.live_sessions() {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the live sessions at start");
                return;
            }
        };
        for session in live {
            let next = match session.status {
                SessionStatus::Provisioning => SessionStatus::Ready,
                SessionStatus::Stopping => SessionStatus::Stopped,
                _ => continue,
            };
            // Not fatal: on a full disk the server still starts and serves reads.
            if let Err(e) = self.store.transition(session.key, next, None, now_ms()) {
                tracing::warn!(error = %e, id = %session.id, "could not finish an interrupted create or stop at start");
            }
        }
    }

    /// The sessions this node (or no node) held when an earlier run of it stopped, now that
    /// drivers outlive the server: each is claimed again (a new epoch) and taken over (see
    /// [`SessionService::take_over`]) — all at once. Then every other driver process of that
    /// run (the warm pool's, ended sessions') is killed; those of sessions other nodes hold
    /// now (adopted while this node was down) are left alone.
    async fn recover(&self, runtime: &Arc<DriverRuntime>) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let me = self.config.node.id.clone();
        let mut kept_drivers = std::collections::HashSet::new();
        let mut kept_sessions = std::collections::HashSet::new();
        let mut attempts = Vec::new();
        let mut provisioning = Vec::new();
        for session in self.store.live_sessions()? {
            let ours = session.owner.node.as_deref().is_none_or(|n| n == me);
            let fence = match ours {
                true => self
                    .store
                    .claim_session(session.key, &session.owner, &me, self.config.node.lease_ms())
                    .unwrap_or_else(|e| {
                        // Its driver is kept; the re-scan claims it once the store takes writes.
                        tracing::warn!(error = %e, id = %session.id, "could not claim a session at start");
                        None
                    }),
                false => None,
            };
            match fence {
                // Provisioning starts new drivers: after the leftovers are killed, below.
                Some(fence) if session.status == SessionStatus::Provisioning => {
                    kept_sessions.insert(session.key);
                    provisioning.push((session, fence));
                }
                Some(fence) => attempts.push(self.take_over(runtime, session, fence)),
                None => {
                    if let Some(record) = self.store.driver_record(session.key)? {
                        kept_drivers.insert(record.token);
                    }
                    kept_sessions.insert(session.key);
                }
            }
        }
        let mut reattached = 0;
        for (key, token) in futures::future::join_all(attempts).await {
            kept_sessions.insert(key);
            if let Some(token) = token {
                kept_drivers.insert(token);
                reattached += 1;
            }
        }
        runtime.recovered(&kept_drivers, &kept_sessions);
        for (session, fence) in provisioning {
            self.take_over(runtime, session, fence).await;
        }
        if reattached > 0 {
            tracing::info!(
                reattached,
                millis = started.elapsed().as_millis() as u64,
                "re-attached the drivers of an earlier run's sessions"
            );
        }
        Ok(())
    }

    /// Runs a session this node has just claimed (`fence`): a READY one's driver is re-attached
    /// and served (FAILED saying why if it is gone), a PROVISIONING one provisions here (again),
    /// a STOPPING or timed-out one has its driver stopped. The session's key and the token of a
    /// re-attached driver.
    pub(super) async fn take_over(
        &self,
        runtime: &Arc<DriverRuntime>,
        session: Session,
        fence: Fence,
    ) -> (i64, Option<String>) {
        let key = session.key;
        if session.status == SessionStatus::Provisioning {
            Supervisor::spawn(
                session,
                fence,
                self.task_context(runtime),
                self.capacity.enqueue(),
            );
            return (key, None);
        }
        let record = match self.db(move |s| s.driver_record(key)).await {
            Ok(record) => record,
            Err(e) => {
                tracing::warn!(error = %e, id = %session.id, "could not read a driver record to take a session over");
                return (key, None);
            }
        };
        let adopted = match &record {
            Some(record) => match runtime
                .adopt(key, &session.tenant, record, fence.epoch as u64)
                .await
            {
                Err(AdoptError::Superseded { epoch }) => {
                    // A newer hold than the one just claimed: the store moved on meanwhile
                    // (this node's lease ran out). Its owner runs it; nothing to write or kill.
                    tracing::warn!(id = %session.id, epoch, "a session's driver has a newer owner");
                    return (key, Some(record.token.clone()));
                }
                other => other.map_err(|e| e.to_string()),
            },
            None => Err("no record of its driver was stored".to_string()),
        };
        let previous = session.owner.node.clone();
        match (session.status, adopted) {
            (SessionStatus::Ready, Ok((driver, last_run))) => {
                let token = driver.token().to_string();
                let slot = self.capacity.adopt();
                Supervisor::spawn_attached(
                    session,
                    fence,
                    self.task_context(runtime),
                    driver,
                    slot,
                    last_run,
                );
                (key, Some(token))
            }
            (SessionStatus::Ready, Err(why)) => {
                tracing::warn!(id = %session.id, %why, "could not re-attach a session's driver");
                let message = match previous.as_deref() == Some(self.config.node.id.as_str()) {
                    true => format!(
                        "The epoxy server restarted and this session's driver is gone ({why}). Create a new session."
                    ),
                    false => format!(
                        "The epoxy node that ran this session stopped and its driver is gone ({why}). Create a new session."
                    ),
                };
                let output = StatementOutput::error(
                    String::new(),
                    "DriverLost",
                    message.clone(),
                    Vec::new(),
                );
                self.end_taken(fence, SessionStatus::Failed, Some(message), output)
                    .await;
                (key, None)
            }
            (_, adopted) => {
                // STOPPING (or ended with its driver still recorded): stop what is left.
                if let Ok((driver, _)) = adopted {
                    driver.shutdown(Duration::from_secs(10)).await;
                }
                let output = StatementOutput::error(
                    String::new(),
                    "StatementCancelled",
                    "The session was stopped".into(),
                    Vec::new(),
                );
                self.end_taken(fence, SessionStatus::Stopped, None, output)
                    .await;
                (key, None)
            }
        }
    }

    /// Ends a session this node took over without a driver. Not fatal on failure (a full disk
    /// must not keep the server from starting; the next start or re-scan tries again).
    async fn end_taken(
        &self,
        fence: Fence,
        to: SessionStatus,
        message: Option<String>,
        output: StatementOutput,
    ) {
        let key = fence.key;
        let ended = self
            .db(move |s| {
                s.owner_writes(
                    &fence,
                    now_ms(),
                    &end_writes(to, message.as_deref(), &output),
                )
            })
            .await;
        if let Err(e) = ended {
            tracing::warn!(error = %e, session_key = key, "could not record the end of a session taken over");
        }
    }

    pub(super) fn task_context(&self, runtime: &Arc<DriverRuntime>) -> TaskContext {
        TaskContext {
            store: Arc::clone(&self.store),
            runtime: Arc::clone(runtime),
            registry: Arc::clone(&self.registry),
            access: DriverAccess::new(self.config.endpoint_url.clone(), self.config.minute),
        }
    }

    /// Runs a store call off the async threads.
    pub(super) async fn db<T: Send + 'static, E: Into<SessionError> + Send + 'static>(
        &self,
        f: impl FnOnce(&dyn SessionStore) -> Result<T, E> + Send + 'static,
    ) -> Result<T, SessionError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || crate::metrics::timed_store(|| f(&*store)))
            .await
            .map_err(|e| SessionError::Task(e.to_string()))?
            .map_err(Into::into)
    }

    /// Looks a session up in the caller's tenancy; another tenant's session does not exist.
    pub async fn session(&self, tenant: &Tenant, id: &str) -> Result<Session, SessionError> {
        let (t, i) = (tenant.clone(), id.to_string());
        self.db(move |s| s.session(&t, &i))
            .await?
            .ok_or_else(|| SessionError::NotFound(format!("Session {id} not found")))
    }

    pub async fn create_session(
        &self,
        tenant: &Tenant,
        request: NewSessionRequest,
    ) -> Result<Session, SessionError> {
        let _admission = match &self.runtime {
            Some(_) => Some(self.admission.lock().await),
            None => None,
        };
        // Only sessions that are really live count (checked with the insert, across nodes): a
        // STOPPING one is on its way out (its driver still holds a slot, which the capacity
        // queue accounts for).
        let live_limit = self.runtime.as_ref().map(|_| self.config.max_live_sessions);
        let tenant_c = tenant.clone();
        let id = request.id.clone();
        let owner = match &self.runtime {
            Some(_) => Some(self.placement().await?),
            None => None,
        };
        let owner_c = owner.clone();
        let session = self
            .db(move |s| {
                s.insert_session(NewSession {
                    tenant: &tenant_c,
                    id: &request.id,
                    spec: &request.spec,
                    timeout: request.timeout,
                    tags: &request.tags,
                    created_ms: now_ms(),
                    owner: owner_c.as_deref(),
                    live_limit,
                })
                .map_err(|e| match e {
                    StoreError::Duplicate => SessionError::AlreadyExists(id),
                    StoreError::LiveLimit(limit) => SessionError::LimitExceeded(limit),
                    other => other.into(),
                })
            })
            .await?;
        match (&self.runtime, owner) {
            // Queued while the admission lock is held: queue order is creation order.
            (Some(runtime), Some(node)) if node == self.config.node.id => Supervisor::spawn(
                session.clone(),
                Fence {
                    key: session.key,
                    node,
                    epoch: session.owner.epoch,
                },
                self.task_context(runtime),
                self.capacity.enqueue(),
            ),
            // Another node runs it: woken now (and its re-scan finds it anyway).
            (Some(_), Some(_)) => self.tell(&session, SupervisorCommand::Wake).await,
            (_, _) => {
                // Control plane only: the committed record is the whole session.
                let key = session.key;
                self.db(move |s| s.transition(key, SessionStatus::Ready, None, now_ms()))
                    .await?;
            }
        }
        Ok(session)
    }

    pub async fn list_sessions(
        &self,
        tenant: &Tenant,
        tags: BTreeMap<String, String>,
        max_results: usize,
        next_token: Option<&str>,
    ) -> Result<(Vec<Session>, Option<String>), SessionError> {
        let scope = format!(
            "ListSessions\0{}\0{}\0{}",
            tenant.account,
            tenant.region,
            serde_json::to_string(&tags).unwrap_or_default()
        );
        let after = match next_token.filter(|t| !t.is_empty()) {
            Some(token) => Some(self.tokens.verify(&scope, token).ok_or_else(|| {
                SessionError::InvalidInput(
                    "Invalid NextToken: it was not issued for this caller and filter".into(),
                )
            })?),
            None => None,
        };
        let t = tenant.clone();
        let mut page = self
            .db(move |s| {
                s.list_sessions(PageQuery {
                    tenant: &t,
                    tags: &tags,
                    after: after.as_ref().map(|p| (p.c, p.i.as_str())),
                    limit: max_results + 1,
                })
            })
            .await?;
        let next = if page.len() > max_results {
            page.truncate(max_results);
            page.last().map(|last| {
                self.tokens.issue(
                    &scope,
                    &Position {
                        c: last.created_ms,
                        i: last.id.clone(),
                    },
                )
            })
        } else {
            None
        };
        Ok((page, next))
    }

    pub async fn stop_session(&self, tenant: &Tenant, id: &str) -> Result<(), SessionError> {
        let session = self.session(tenant, id).await?;
        if !session.status.can_become(SessionStatus::Stopping) {
            return Err(SessionError::IllegalState(format!(
                "Session {id} is {}; only PROVISIONING or READY sessions can be stopped",
                session.status
            )));
        }
        self.begin_stop(&session, None).await
    }

    /// STOPPING in the store, then the session's task stops the driver and records STOPPED.
    async fn begin_stop(
        &self,
        session: &Session,
        reply: Option<oneshot::Sender<()>>,
    ) -> Result<(), SessionError> {
        let key = session.key;
        let moved = self
            .db(move |s| s.transition(key, SessionStatus::Stopping, None, now_ms()))
            .await?;
        if moved.is_none() {
            return Err(SessionError::IllegalState(format!(
                "Session {} changed state; try again",
                session.id
            )));
        }
        if self.owned_elsewhere(session) {
            // Its node reads the stop from the store.
            self.tell(session, SupervisorCommand::Wake).await;
        } else if !self.send(key, SupervisorCommand::Shutdown(reply)) {
            // No task (control-plane mode, or it just ended): nothing to wait for.
            self.db(move |s| s.transition(key, SessionStatus::Stopped, None, now_ms()))
                .await?;
        }
        Ok(())
    }

    /// True if another node runs the session's driver.
    fn owned_elsewhere(&self, session: &Session) -> bool {
        self.runtime.is_some()
            && session
                .owner
                .node
                .as_deref()
                .is_some_and(|n| n != self.config.node.id)
    }

    /// Hands `command` to the session's task here, or wakes the node that runs it (which
    /// reads what to do from the store: the queued statement, the cancel, the stop).
    pub(super) async fn tell(&self, session: &Session, command: SupervisorCommand) {
        if !self.owned_elsewhere(session) {
            self.send(session.key, command);
            return;
        }
        let (node, key) = (session.owner.node.clone().unwrap_or_default(), session.key);
        if let Err(e) = self.db(move |s| s.notify(&node, key)).await {
            // Not lost: the owner's re-scan finds it within a second.
            tracing::warn!(error = %e, session_key = key, "could not wake the session's node");
        }
    }

    pub(super) fn send(&self, key: i64, command: SupervisorCommand) -> bool {
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        registry
            .get(&key)
            .is_some_and(|tx| tx.send(command).is_ok())
    }

    pub async fn delete_session(&self, tenant: &Tenant, id: &str) -> Result<(), SessionError> {
        let session = self.session(tenant, id).await?;
        if session.status.can_become(SessionStatus::Stopping) {
            let (tx, rx) = oneshot::channel();
            self.begin_stop(&session, Some(tx)).await?;
            let stopped = async {
                if rx.await.is_err() {
                    // Another node (or nobody) stops it: wait for the store to say so.
                    self.stopped(session.key).await;
                }
            };
            if tokio::time::timeout(DELETE_WAIT, stopped).await.is_err() {
                tracing::warn!(
                    session = id,
                    "driver still stopping at delete; deleting the record anyway"
                );
            }
        } else if session.status == SessionStatus::Stopping {
            return Err(SessionError::IllegalState(format!(
                "Session {id} is STOPPING; delete it once it is STOPPED"
            )));
        }
        let key = session.key;
        self.db(move |s| s.delete_session(key)).await
    }

    /// Returns once the session has left STOPPING (polling the store).
    async fn stopped(&self, key: i64) {
        loop {
            match self.db(move |s| s.session_by_key(key)).await {
                Ok(Some(s)) if s.status == SessionStatus::Stopping => {}
                _ => return,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The session a Glue ARN names, in the caller's tenancy.
    async fn session_by_arn(&self, tenant: &Tenant, arn: &str) -> Result<Session, SessionError> {
        let prefix = format!("arn:aws:glue:{}:{}:session/", tenant.region, tenant.account);
        let not_found = || SessionError::NotFound(format!("Resource {arn} not found"));
        let id = arn.strip_prefix(&prefix).ok_or_else(not_found)?;
        self.session(tenant, id).await.map_err(|e| match e {
            SessionError::NotFound(_) => not_found(),
            other => other,
        })
    }

    pub async fn get_tags(
        &self,
        tenant: &Tenant,
        arn: &str,
    ) -> Result<BTreeMap<String, String>, SessionError> {
        let key = self.session_by_arn(tenant, arn).await?.key;
        self.db(move |s| s.tags(key)).await
    }

    pub async fn tag_resource(
        &self,
        tenant: &Tenant,
        arn: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<(), SessionError> {
        let key = self.session_by_arn(tenant, arn).await?.key;
        self.db(move |s| s.add_tags(key, &tags)).await
    }

    pub async fn untag_resource(
        &self,
        tenant: &Tenant,
        arn: &str,
        keys: Vec<String>,
    ) -> Result<(), SessionError> {
        let key = self.session_by_arn(tenant, arn).await?.key;
        self.db(move |s| s.remove_tags(key, &keys)).await
    }

    pub async fn run_statement(
        &self,
        tenant: &Tenant,
        session_id: &str,
        code: String,
    ) -> Result<i64, SessionError> {
        let session = self.session(tenant, session_id).await?;
        if self.runtime.is_none() {
            return Err(SessionError::NoRuntime);
        }
        self.ensure_ready(&session)?;
        let key = session.key;
        let id = self.db(move |s| s.insert_statement(key, &code)).await?;
        let Some(id) = id else {
            // The session left READY between the check and the insert.
            let now = self.session(tenant, session_id).await?;
            self.ensure_ready(&now)?;
            return Err(SessionError::IllegalState(format!(
                "Session {session_id} is not READY"
            )));
        };
        self.tell(&session, SupervisorCommand::Wake).await;
        Ok(id)
    }

    fn ensure_ready(&self, session: &Session) -> Result<(), SessionError> {
        match session.status {
            SessionStatus::Ready => Ok(()),
            // The Glue kernel offers to restart the session on exactly this error.
            SessionStatus::Timeout => Err(SessionError::TimedOut(session.id.clone())),
            other => Err(SessionError::IllegalState(format!(
                "Session {} is {other}; statements run only on READY sessions",
                session.id
            ))),
        }
    }

    pub async fn get_statement(
        &self,
        tenant: &Tenant,
        session_id: &str,
        id: i64,
    ) -> Result<Statement, SessionError> {
        let key = self.session(tenant, session_id).await?.key;
        self.statement_of(key, session_id, id).await
    }

    /// Statement `id` of the session stored under `key` (named `session_id` in errors).
    async fn statement_of(
        &self,
        key: i64,
        session_id: &str,
        id: i64,
    ) -> Result<Statement, SessionError> {
        self.db(move |s| s.statement(key, id))
            .await?
            .ok_or_else(|| {
                SessionError::NotFound(format!("Statement {id} not found in session {session_id}"))
            })
    }

    pub async fn list_statements(
        &self,
        tenant: &Tenant,
        session_id: &str,
        next_token: Option<&str>,
    ) -> Result<(Vec<Statement>, Option<String>), SessionError> {
        let key = self.session(tenant, session_id).await?.key;
        let scope = format!(
            "ListStatements\0{}\0{}\0{key}",
            tenant.account, tenant.region
        );
        let after = match next_token.filter(|t| !t.is_empty()) {
            Some(token) => Some(
                self.tokens
                    .verify(&scope, token)
                    .ok_or_else(|| {
                        SessionError::InvalidInput(
                            "Invalid NextToken: it was not issued for this session".into(),
                        )
                    })?
                    .c,
            ),
            None => None,
        };
        let mut page = self
            .db(move |s| s.statements(key, after, STATEMENTS_PER_PAGE + 1))
            .await?;
        let next = if page.len() > STATEMENTS_PER_PAGE {
            page.truncate(STATEMENTS_PER_PAGE);
            page.last().map(|last| {
                self.tokens.issue(
                    &scope,
                    &Position {
                        c: last.id,
                        i: String::new(),
                    },
                )
            })
        } else {
            None
        };
        Ok((page, next))
    }

    pub async fn cancel_statement(
        &self,
        tenant: &Tenant,
        session_id: &str,
        id: i64,
    ) -> Result<(), SessionError> {
        let session = self.session(tenant, session_id).await?;
        let key = session.key;
        let statement = self.statement_of(key, session_id, id).await?;
        match statement.state {
            StatementState::Waiting => {
                let cancelled = self
                    .db(move |s| {
                        let output = StatementOutput::error(
                            String::new(),
                            "StatementCancelled",
                            "The statement was cancelled before it started".into(),
                            Vec::new(),
                        );
                        s.update_statement(
                            key,
                            id,
                            &[StatementState::Waiting],
                            StatementUpdate::Finished {
                                state: StatementState::Cancelled,
                                output: &output,
                                at_ms: now_ms(),
                            },
                        )
                    })
                    .await?;
                if !cancelled {
                    // It started meanwhile: cancel it as a running statement.
                    return Box::pin(self.cancel_statement(tenant, session_id, id)).await;
                }
                crate::metrics::statement_finished(StatementState::Cancelled.as_str(), None);
                Ok(())
            }
            StatementState::Running => {
                self.db(move |s| {
                    s.update_statement(
                        key,
                        id,
                        &[StatementState::Running],
                        StatementUpdate::Cancelling,
                    )
                })
                .await?;
                self.tell(&session, SupervisorCommand::Cancel(id)).await;
                Ok(())
            }
            StatementState::Cancelling => Ok(()),
            done => Err(SessionError::IllegalState(format!(
                "Statement {id} is already {done}; only WAITING or RUNNING statements can be cancelled"
            ))),
        }
    }

    /// A token for the session's driver log, served at `/logs/<token>`.
    pub async fn log_token(&self, tenant: &Tenant, id: &str) -> Result<String, SessionError> {
        let session = self.session(tenant, id).await?;
        Ok(self.tokens.issue(
            "logs",
            &Position {
                c: session.key,
                i: String::new(),
            },
        ))
    }

    /// Moves READY sessions past their Timeout or IdleTimeout to TIMEOUT and frees their drivers.
    async fn enforce_timeouts(self: Arc<Self>) {
        let minute_ms = (self.config.minute.as_millis() as i64).max(1);
        let tick = Duration::from_millis((minute_ms as u64 / 10).clamp(100, 5_000));
        loop {
            tokio::time::sleep(tick).await;
            let due = match self.db(move |s| s.timed_out(now_ms(), minute_ms)).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(error = %e, "timeout check failed");
                    continue;
                }
            };
            for (key, reason) in due {
                let moved = self
                    .db(move |s| s.transition(key, SessionStatus::Timeout, Some(&reason), now_ms()))
                    .await;
                if let Ok(Some(session)) = moved {
                    tracing::info!(session_key = key, "session timed out");
                    self.tell(&session, SupervisorCommand::Shutdown(None)).await;
                }
            }
        }
    }

    /// The loopback port of the Spark UI of session `key`'s driver if this node runs it; `None`
    /// while the driver starts, after it ended, or without a runtime.
    pub(super) async fn local_spark_ui_port(&self, key: i64) -> Option<u16> {
        let (tx, rx) = oneshot::channel();
        if !self.send(key, SupervisorCommand::SparkUi(tx)) {
            return None;
        }
        // A driver still starting never answers: its task only listens for a stop then.
        tokio::time::timeout(Duration::from_secs(2), rx)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
    }

    /// What a `/metrics` scrape reports from the store (one grouped query) and the registry.
    pub async fn metrics_snapshot(&self) -> Result<crate::metrics::Snapshot, SessionError> {
        let usage = self.db(|s| s.usage(now_ms())).await?;
        let mut snapshot = crate::metrics::Snapshot {
            live_drivers: self.live_drivers(),
            driver_dir: self.runtime.as_ref().map(|r| r.driver_dir().to_path_buf()),
            ..Default::default()
        };
        let mut by_status = BTreeMap::<String, u64>::new();
        let mut by_account = BTreeMap::<String, f64>::new();
        for row in usage {
            *by_status.entry(row.status).or_default() += row.sessions;
            *by_account.entry(row.account).or_default() += row.dpu_seconds;
        }
        snapshot.sessions_by_status = by_status.into_iter().collect();
        snapshot.dpu_seconds_by_account = by_account.into_iter().collect();
        Ok(snapshot)
    }

    /// This node's id among the nodes that share the store.
    pub fn node_id(&self) -> &str {
        &self.config.node.id
    }

    /// Live drivers (for status output).
    pub fn live_drivers(&self) -> usize {
        self.registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}
