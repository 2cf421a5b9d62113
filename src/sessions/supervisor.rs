//! One task per live session: acquires its driver, feeds it the queued statements one at a time,
//! records results and progress, and turns the driver's death or a stop into the right states.
//! The store is the only state; the task just moves it on.

use super::capacity::{Slot, Ticket};
use super::credentials::DriverAccess;
use super::model::{Session, SessionSpec, SessionStatus, StatementOutput, StatementState};
use super::now_ms;
use crate::runtime::arguments::SessionArguments;
use crate::runtime::cluster::GlueSizing;
use crate::runtime::driver::{DriverCommand, DriverEvent, DriverHandle, SessionHandover};
use crate::runtime::workspace::Workspace;
use crate::runtime::{DriverProfile, DriverRuntime};
use crate::store::nodes::{Fence, OwnerWrite};
use crate::store::{SessionStore, StatementUpdate, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long a driver gets to stop Spark before its process group is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long a driver may take to apply a session's settings (copying its extra files).
const HANDOVER_LIMIT: Duration = Duration::from_secs(120);

/// How long a cancelled statement may take to stop before its driver is killed.
const CANCEL_GRACE: Duration = Duration::from_secs(30);

/// Waits until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What the service asks of a session's task.
#[derive(Debug)]
pub enum SupervisorCommand {
    /// A statement was queued.
    Wake,
    /// Interrupt this statement if it is the running one.
    Cancel(i64),
    /// Stop the driver; the store already says STOPPING or TIMEOUT. Replies when done.
    Shutdown(Option<oneshot::Sender<()>>),
    /// The loopback port of the driver's Spark UI (no reply before the driver is ready).
    SparkUi(oneshot::Sender<Option<u16>>),
    /// Another node holds the session now: let go of it (and of its driver, which that node
    /// uses) without writing anything.
    Release,
}

/// The live sessions' task inboxes, by session key.
pub type Registry = Arc<Mutex<HashMap<i64, mpsc::UnboundedSender<SupervisorCommand>>>>;

pub struct Supervisor {
    store: Arc<dyn SessionStore>,
    runtime: Arc<DriverRuntime>,
    commands: mpsc::UnboundedReceiver<SupervisorCommand>,
    registry: Registry,
    access: DriverAccess,
    /// This node's hold on the session: every write names it.
    fence: Fence,
    /// Set once a write found the hold gone (another node took the session over).
    lost: bool,
    /// When the running statement was sent to the driver (for its duration metric).
    statement_started: std::time::Instant,
}

/// Everything a session task needs besides its session.
pub struct TaskContext {
    pub store: Arc<dyn SessionStore>,
    pub runtime: Arc<DriverRuntime>,
    pub registry: Registry,
    pub access: DriverAccess,
}

/// Runs a store call off the async threads; failures are logged (the task has no caller to tell).
async fn db<T: Send + 'static>(
    store: &Arc<dyn SessionStore>,
    f: impl FnOnce(&dyn SessionStore) -> Result<T, StoreError> + Send + 'static,
) -> Option<T> {
    let store = Arc::clone(store);
    match tokio::task::spawn_blocking(move || crate::metrics::timed_store(|| f(&*store))).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "store call failed in a session task");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "store call panicked in a session task");
            None
        }
    }
}

fn cancelled_output(text: String, why: &str) -> StatementOutput {
    StatementOutput::error(text, "StatementCancelled", why.to_string(), Vec::new())
}

impl Supervisor {
    /// A task for the session `fence` holds, its inbox in the registry.
    fn registered(fence: Fence, context: TaskContext) -> Self {
        let (tx, commands) = mpsc::unbounded_channel();
        context
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(fence.key, tx);
        Supervisor {
            store: context.store,
            runtime: context.runtime,
            commands,
            registry: context.registry,
            access: context.access,
            fence,
            lost: false,
            statement_started: std::time::Instant::now(),
        }
    }

    /// Registers the session's inbox and starts its task, which waits for `ticket`'s driver
    /// slot before it starts a driver.
    pub fn spawn(session: Session, fence: Fence, context: TaskContext, ticket: Ticket) {
        let supervisor = Self::registered(fence, context);
        tokio::spawn(supervisor.run(session, ticket));
    }

    /// Starts the task of a READY session whose driver was re-attached after a restart: the
    /// statement it was running (as the store says) is still its, resent if the driver never
    /// received it (`last_run`, from its welcome).
    pub fn spawn_attached(
        session: Session,
        fence: Fence,
        context: TaskContext,
        driver: DriverHandle,
        slot: Slot,
        last_run: Option<i64>,
    ) {
        let workspace = context.runtime.existing_workspace(session.key);
        let mut supervisor = Self::registered(fence, context);
        tokio::spawn(async move {
            supervisor.resume(driver, slot, last_run).await;
            supervisor.end(Some(workspace));
        });
    }

    /// Applies this owner's writes (built by `writes` for the store, the hold and the time),
    /// each call one transaction; `None` when the store failed (logged) or the hold is gone,
    /// which also marks the task lost: it lets the session go.
    async fn write<T: Send + 'static>(
        &mut self,
        writes: impl FnOnce(&dyn SessionStore, &Fence, i64) -> Result<T, StoreError> + Send + 'static,
    ) -> Option<T> {
        let fence = self.fence.clone();
        let done = db(&self.store, move |s| match writes(s, &fence, now_ms()) {
            Err(StoreError::Fenced) => Ok(None),
            other => other.map(Some),
        })
        .await;
        if let Some(None) = done {
            tracing::warn!(
                session_key = self.fence.key,
                epoch = self.fence.epoch,
                "another node took this session over; letting it go"
            );
            self.lost = true;
        }
        done.flatten()
    }

    async fn resume(&mut self, mut driver: DriverHandle, _slot: Slot, last_run: Option<i64>) {
        driver.set_epoch(self.fence.epoch as u64);
        let key = self.fence.key;
        let Some(unfinished) = db(&self.store, move |s| unfinished_statement(s, key)).await else {
            self.driver_died("could not read the session's statements after a restart".into())
                .await;
            return;
        };
        let mut cancel_deadline = None;
        let running = match unfinished {
            Some(statement) => {
                let id = statement.id;
                if last_run.is_none_or(|last| last < id) {
                    // Claimed by the earlier run, which went before it reached the driver.
                    if let Err(e) = driver
                        .send(&DriverCommand::Run {
                            id,
                            code: &statement.code,
                        })
                        .await
                    {
                        tracing::warn!(error = %e, "could not resend a statement to the driver");
                    }
                }
                if statement.state == StatementState::Cancelling {
                    cancel_deadline = Some(tokio::time::Instant::now() + CANCEL_GRACE);
                    let _ = driver.send(&DriverCommand::Cancel { id }).await;
                }
                Some(id)
            }
            None => self.start_next(&mut driver).await,
        };
        self.serve(driver, running, cancel_deadline).await;
    }

    /// The session's end here: its driver is gone (or never started), or another node holds
    /// it now and uses its directories.
    fn end(&self, workspace: Option<Workspace>) {
        if let Some(workspace) = workspace.filter(|_| !self.lost) {
            workspace.remove();
        }
        self.registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.fence.key);
    }

    async fn run(mut self, session: Session, ticket: Ticket) {
        let workspace = match self.settings(&session) {
            Ok((spec, arguments, workspace)) => {
                let (runtime, store, access) = (&self.runtime, &self.store, &self.access);
                // Stopping while queued or starting drops this future: the ticket leaves the
                // queue, and a driver being started is killed with its handle.
                let prepared = tokio::select! {
                    prepared = async {
                        let slot = ticket.slot().await;
                        let driver = prepare(runtime, store, access, &session, &spec, &arguments, &workspace).await;
                        driver.map(|driver| (slot, driver))
                    } => Ok(prepared),
                    reply = until_shutdown(&mut self.commands) => Err(reply),
                };
                match prepared {
                    Err(Some(reply)) => self.finish_stop(reply).await,
                    Err(None) => self.lost = true,
                    Ok(Err(message)) => self.fail(message).await,
                    Ok(Ok((slot, driver))) => self.go_ready(driver, slot).await,
                }
                Some(workspace)
            }
            Err(message) => {
                self.fail(message).await;
                None
            }
        };
        self.end(workspace);
    }

    /// The session's stored settings, its DefaultArguments interpreted, and its fresh
    /// directories; a message for ErrorMessage when any of them is unusable.
    fn settings(
        &self,
        session: &Session,
    ) -> Result<(SessionSpec, SessionArguments, Workspace), String> {
        let spec = session
            .spec()
            .map_err(|e| format!("the session's stored settings are unreadable: {e}"))?;
        let arguments =
            SessionArguments::parse(&spec.default_arguments).map_err(|e| e.to_string())?;
        let workspace = self
            .runtime
            .workspace(self.fence.key)
            .map_err(|e| format!("could not create the session's directories: {e}"))?;
        Ok((spec, arguments, workspace))
    }

    async fn fail(&mut self, message: String) {
        self.write(move |s, fence, at_ms| {
            s.owner_writes(
                fence,
                at_ms,
                &[OwnerWrite::Transition {
                    to: SessionStatus::Failed,
                    message: Some(&message),
                }],
            )
        })
        .await;
    }

    /// READY, then statements until the session ends; the slot is freed once the driver is gone.
    /// The driver's record goes to the store first, so that a READY session can always be
    /// re-attached after a restart.
    async fn go_ready(&mut self, mut driver: DriverHandle, _slot: Slot) {
        driver.set_epoch(self.fence.epoch as u64);
        let record = driver.record();
        let ready = self
            .write(move |s, fence, at_ms| {
                s.owner_writes(
                    fence,
                    at_ms,
                    &[
                        OwnerWrite::DriverRecord(Some(&record)),
                        OwnerWrite::Transition {
                            to: SessionStatus::Ready,
                            message: None,
                        },
                    ],
                )
            })
            .await;
        if self.lost {
            // Another node provisions it again: this driver is nobody's.
            driver.shutdown(STOP_GRACE).await;
        } else if matches!(ready.as_deref(), Some([_, true])) {
            driver.mark_recorded();
            let running = self.start_next(&mut driver).await;
            self.serve(driver, running, None).await;
        } else {
            // Stopped (or deleted) while the driver was starting.
            driver.shutdown(STOP_GRACE).await;
            let reply = until_shutdown_now(&mut self.commands);
            self.finish_stop(reply).await;
        }
    }

    /// Statements until the session ends, `running` the one the driver runs now.
    async fn serve(
        &mut self,
        mut driver: DriverHandle,
        mut running: Option<i64>,
        // Set while a cancel is outstanding: user code that swallows the interrupt gets this long.
        mut cancel_deadline: Option<tokio::time::Instant>,
    ) {
        loop {
            if self.lost {
                driver.release();
                return;
            }
            tokio::select! {
                _ = sleep_until(cancel_deadline) => {
                    drop(driver);
                    self.driver_died(format!(
                        "Statement {} ignored the cancel request for {} s (it caught the interrupt or is stuck in native code); the driver was stopped",
                        running.unwrap_or_default(),
                        CANCEL_GRACE.as_secs()
                    )).await;
                    return;
                }
                command = self.commands.recv() => match command {
                    Some(SupervisorCommand::Wake) if running.is_none() => running = self.start_next(&mut driver).await,
                    Some(SupervisorCommand::Wake) => {}
                    // Once: the owner's re-scan repeats the request while the statement is CANCELLING.
                    Some(SupervisorCommand::Cancel(id)) if running == Some(id) && cancel_deadline.is_none() => {
                        cancel_deadline = Some(tokio::time::Instant::now() + CANCEL_GRACE);
                        if let Err(e) = driver.send(&DriverCommand::Cancel { id }).await {
                            tracing::warn!(error = %e, "could not send cancel; the driver is likely gone");
                        }
                    }
                    Some(SupervisorCommand::Cancel(_)) => {}
                    Some(SupervisorCommand::SparkUi(reply)) => { let _ = reply.send(driver.spark_ui_port()); }
                    Some(SupervisorCommand::Release) => self.lost = true,
                    Some(SupervisorCommand::Shutdown(reply)) => {
                        driver.shutdown(STOP_GRACE).await;
                        self.finish_stop(reply).await;
                        return;
                    }
                    // The server is going away: the driver stays for the next start.
                    None => return,
                },
                event = driver.next_event() => match event {
                    DriverEvent::Progress { id, progress } if running == Some(id) && progress.is_finite() => {
                        self.write(move |s, fence, at_ms| {
                            s.owner_writes(fence, at_ms, &[OwnerWrite::Statement {
                                id,
                                from: &[StatementState::Running, StatementState::Cancelling],
                                update: StatementUpdate::Progress(progress),
                            }])
                        }).await;
                    }
                    DriverEvent::Result { id, status, text, ename, evalue, traceback, picture } if running == Some(id) => {
                        let (state, output) = match status.as_str() {
                            "ok" => (StatementState::Available, match picture {
                                Some(picture) => StatementOutput::picture(text, picture.into()),
                                None => StatementOutput::ok(text),
                            }),
                            "cancelled" => (StatementState::Cancelled, cancelled_output(text, "The statement was cancelled")),
                            _ => (
                                StatementState::Available,
                                StatementOutput::error(
                                    text,
                                    ename.as_deref().unwrap_or("Error"),
                                    evalue.unwrap_or_default(),
                                    traceback,
                                ),
                            ),
                        };
                        crate::metrics::statement_finished(state.as_str(), Some(self.statement_started.elapsed()));
                        self.write(move |s, fence, at_ms| {
                            s.owner_writes(fence, at_ms, &[
                                OwnerWrite::Statement {
                                    id,
                                    from: &[StatementState::Running, StatementState::Cancelling],
                                    update: StatementUpdate::Finished { state, output: &output, at_ms },
                                },
                                OwnerWrite::Touch,
                            ])
                        }).await;
                        if self.lost {
                            continue;
                        }
                        cancel_deadline = None;
                        running = self.start_next(&mut driver).await;
                    }
                    DriverEvent::Exited { .. } if driver.superseded() => {
                        // Another node attached to the driver with a newer hold.
                        self.lost = true;
                    }
                    DriverEvent::Exited { reason } => {
                        self.driver_died(reason).await;
                        return;
                    }
                    other => tracing::debug!(?other, "driver event ignored"),
                },
            }
        }
    }

    /// Sends the oldest WAITING statement to the driver; its id, or None when the queue is empty.
    async fn start_next(&mut self, driver: &mut DriverHandle) -> Option<i64> {
        loop {
            let key = self.fence.key;
            let statement = db(&self.store, move |s| s.next_waiting(key)).await??;
            let id = statement.id;
            let claimed = self
                .write(move |s, fence, at_ms| {
                    s.owner_writes(
                        fence,
                        at_ms,
                        &[OwnerWrite::Statement {
                            id,
                            from: &[StatementState::Waiting],
                            update: StatementUpdate::Running { at_ms },
                        }],
                    )
                })
                .await?;
            if claimed != [true] {
                continue; // cancelled between the read and the claim
            }
            if let Err(e) = driver
                .send(&DriverCommand::Run {
                    id: statement.id,
                    code: &statement.code,
                })
                .await
            {
                // The driver is gone; its Exited event follows and fails the session.
                tracing::warn!(error = %e, "could not send a statement to the driver");
            }
            self.statement_started = std::time::Instant::now();
            return Some(statement.id);
        }
    }

    async fn driver_died(&mut self, reason: String) {
        let output =
            StatementOutput::error(String::new(), "DriverLost", reason.clone(), Vec::new());
        self.write(move |s, fence, at_ms| {
            s.owner_writes(
                fence,
                at_ms,
                &end_writes(SessionStatus::Failed, Some(&reason), &output),
            )
        })
        .await;
    }

    /// After the driver is gone on request: pending statements are cancelled, STOPPING → STOPPED.
    async fn finish_stop(&mut self, reply: Option<oneshot::Sender<()>>) {
        let output = cancelled_output(String::new(), "The session was stopped");
        self.write(move |s, fence, at_ms| {
            s.owner_writes(
                fence,
                at_ms,
                &end_writes(SessionStatus::Stopped, None, &output),
            )
        })
        .await;
        if let Some(reply) = reply {
            let _ = reply.send(());
        }
    }
}

/// The writes that end a session whose driver is gone: its record goes, its unfinished
/// statements get `output` (cancelled for a stop, an error otherwise), and it moves to `to`.
pub fn end_writes<'a>(
    to: SessionStatus,
    message: Option<&'a str>,
    output: &'a StatementOutput,
) -> [OwnerWrite<'a>; 3] {
    let state = match to {
        SessionStatus::Stopped => StatementState::Cancelled,
        _ => StatementState::Error,
    };
    [
        OwnerWrite::DriverRecord(None),
        OwnerWrite::FinishPending { state, output },
        OwnerWrite::Transition { to, message },
    ]
}

/// Everything before READY: the module layer (pip), a driver (warm when the profile allows),
/// and the handover that makes the driver this session's. A message for ErrorMessage if any
/// step fails; a driver that took part is dropped, which kills it.
async fn prepare(
    runtime: &DriverRuntime,
    store: &Arc<dyn SessionStore>,
    access: &DriverAccess,
    session: &Session,
    spec: &SessionSpec,
    arguments: &SessionArguments,
    workspace: &Workspace,
) -> Result<DriverHandle, String> {
    let layer = match &arguments.python_modules {
        Some(modules) => Some(
            runtime
                .layer(&session.id, modules)
                .await
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let profile =
        DriverProfile::for_session(spec.worker_type.as_deref(), arguments, layer.as_deref());
    let mut driver = runtime.acquire(session.key, &session.id, &profile).await?;
    // From here on the driver's metastore connection answers with the session's catalog.
    driver.bind_metastore(&session.tenant);
    let handover = SessionHandover {
        session_id: session.id.clone(),
        glue_version: spec.glue_version.clone(),
        argv: arguments.argv(&workspace.temp_dir),
        env: access.handover_env(store, session).await?,
        temp_dir: workspace.temp_dir.clone(),
        work_dir: workspace.work_dir.clone(),
        extra_py_files: arguments.extra_py_files.clone(),
        extra_files: arguments.extra_files.clone(),
        spark: runtime.session_spark(
            &session.id,
            &GlueSizing {
                worker_type: spec.worker_type.as_deref(),
                number_of_workers: spec.number_of_workers,
                max_capacity: spec.max_capacity,
            },
        ),
    };
    // On a cluster the handover includes waiting for the executors.
    let limit = HANDOVER_LIMIT + runtime.executor_wait();
    driver.hand_over(&handover, limit).await?;
    Ok(driver)
}

/// The session's RUNNING or CANCELLING statement, if any (statements run one at a time, oldest
/// first, so it is the first unfinished one).
fn unfinished_statement(
    store: &dyn SessionStore,
    key: i64,
) -> Result<Option<crate::sessions::model::Statement>, StoreError> {
    const PAGE: usize = 200;
    let mut after = None;
    loop {
        let page = store.statements(key, after, PAGE)?;
        if let Some(found) = page.iter().find(|s| {
            matches!(
                s.state,
                StatementState::Running | StatementState::Cancelling
            )
        }) {
            return Ok(Some(found.clone()));
        }
        if page.len() < PAGE {
            return Ok(None);
        }
        after = page.last().map(|s| s.id);
    }
}

/// Waits for a Shutdown (`Some`, with its reply) or a Release (`None`); other commands mean
/// nothing before the driver is ready. A server going away ends the task as a Release does.
async fn until_shutdown(
    commands: &mut mpsc::UnboundedReceiver<SupervisorCommand>,
) -> Option<Option<oneshot::Sender<()>>> {
    loop {
        match commands.recv().await {
            Some(SupervisorCommand::Shutdown(reply)) => return Some(reply),
            Some(SupervisorCommand::Release) | None => return None,
            Some(_) => {}
        }
    }
}

/// A Shutdown already queued, if any.
fn until_shutdown_now(
    commands: &mut mpsc::UnboundedReceiver<SupervisorCommand>,
) -> Option<oneshot::Sender<()>> {
    while let Ok(command) = commands.try_recv() {
        if let SupervisorCommand::Shutdown(reply) = command {
            return reply;
        }
    }
    None
}
