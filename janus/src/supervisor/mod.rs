//! The supervisor: runs services in tracked tasks, restarts them by policy
//! and backoff, and shuts them down within a bounded time.
//!
//! This module keeps the public API of the `janus_core::supervisor` module
//! Janus grew from: code written against it compiles against
//! `janus::supervisor` by renaming the crate. Where the seed was wrong, Janus
//! differs on purpose (see the crate docs): timeouts abort, panics are
//! failures, `Always` obeys backoff, duplicate names are rejected…
//!
//! ```text
//! ┌────────────────────────── JanusSupervisor ───────────────────────────┐
//! │ registry: name → slot (written at spawn only)                        │
//! │ slot: lifecycle behind its own lock · child CancellationToken · task │
//! │ TaskTracker ◄── one task per service: run → outcome → backoff → run  │
//! │ CancellationToken ◄── shutdown; timeouts abort what did not stop     │
//! └──────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! # Usage
//!
//! ```no_run
//! use janus::supervisor::{JanusSupervisor, SupervisorConfig};
//! # use janus::supervisor::{JanusService, CancellationToken};
//! # struct Feed;
//! # #[janus::supervisor::async_trait]
//! # impl JanusService for Feed {
//! #     fn name(&self) -> &str { "feed" }
//! #     async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> { cancel.cancelled().await; Ok(()) }
//! # }
//!
//! # #[tokio::main] async fn main() -> anyhow::Result<()> {
//! let supervisor = JanusSupervisor::new(SupervisorConfig::default());
//! supervisor.spawn_service(Box::new(Feed))?;
//! // Runs until SIGTERM / Ctrl-C, then shuts down gracefully (a second
//! // Ctrl-C forces the exit).
//! supervisor.run_until_shutdown().await?;
//! # Ok(()) }
//! ```

mod signal;

use std::sync::atomic::Ordering as AtomicOrdering;

use tokio::time::Instant;

pub use crate::adapters::{self, ApiModuleAdapter, ModuleAdapter};
pub use crate::backoff::{
    self, BackoffAction, BackoffConfig, BackoffConfigError, BackoffState, CircuitBreakerConfig,
};
pub use crate::lifecycle::{
    self, ServiceLifecycle, ServiceLifecycleSnapshot, ServicePhase, TerminationReason,
    TransitionError,
};
pub use crate::service::{self, JanusService, RestartPolicy, async_trait};
pub use tokio_util::sync::CancellationToken;

// The seed's tests lived inside this module and reached these through
// `use super::*`; re-exporting them keeps such code compiling after the
// crate rename. Not part of the documented API.
#[doc(hidden)]
pub use std::sync::Arc;
#[doc(hidden)]
pub use std::sync::atomic::{AtomicU64, Ordering};
#[doc(hidden)]
pub use std::time::Duration;

use crate::engine::slot::SlotState;
use crate::engine::{Core, Finished, Overrides, ServiceRef, Settings};
use crate::events::EventHub;
use crate::metrics::JanusMetrics;
use crate::tree::{ShutdownOrder, Strategy, SupervisorHandle};

/// How long aborted tasks get to unwind before the drain report calls them
/// unresponsive (a task blocked in synchronous code cannot be aborted).
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// Configuration of a [`JanusSupervisor`].
///
/// Defaults: [`BackoffConfig::default()`], shutdown timeout 30 s, signal
/// handler installed.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    /// Backoff for services that bring none of their own.
    pub default_backoff: BackoffConfig,
    /// How long a service may take to stop after cancellation before it is
    /// aborted, unless it sets its own
    /// ([`JanusService::shutdown_timeout`]).
    pub shutdown_timeout: Duration,
    /// Whether [`JanusSupervisor::run_until_shutdown`] listens for SIGTERM and
    /// SIGINT (Ctrl-C).
    pub install_signal_handler: bool,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            default_backoff: BackoffConfig::default(),
            shutdown_timeout: Duration::from_secs(30),
            install_signal_handler: true,
        }
    }
}

impl SupervisorConfig {
    /// Sets the default shutdown timeout.
    #[must_use]
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets the backoff of services that bring none of their own.
    #[must_use]
    pub fn with_default_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.default_backoff = backoff;
        self
    }

    /// Does not listen for signals: shut down with
    /// [`JanusSupervisor::trigger_shutdown`] or the cancel token.
    #[must_use]
    pub fn without_signal_handler(mut self) -> Self {
        self.install_signal_handler = false;
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// The [`BackoffConfigError`] of an inconsistent default backoff.
    pub fn validate(&self) -> Result<(), BackoffConfigError> {
        self.default_backoff.validate()
    }
}

/// Per-service settings given at spawn time; they override the service's
/// own settings and the supervisor's defaults.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    /// The backoff to use instead of the service's or the supervisor's.
    pub backoff: Option<BackoffConfig>,
}

impl SpawnOptions {
    /// Options that set the backoff.
    #[must_use]
    pub fn with_backoff(backoff: BackoffConfig) -> Self {
        Self {
            backoff: Some(backoff),
        }
    }
}

/// Why a service could not be spawned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The name cannot be a segment of a path: empty, or holding a `/`.
    #[error("invalid service name '{name}': {problem}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A live service already has this name.
    #[error(
        "a service named '{name}' is already supervised; names must be unique \
         (a name is free again once its service has terminated)"
    )]
    DuplicateName {
        /// The name in use.
        name: String,
    },
    /// The service's effective backoff configuration is inconsistent.
    #[error("invalid backoff for service '{service}': {source}")]
    InvalidBackoff {
        /// The service.
        service: String,
        /// What is wrong with the configuration.
        source: BackoffConfigError,
    },
    /// The supervisor is shutting down and accepts no new services.
    #[error("cannot spawn service '{service}': the supervisor is shutting down")]
    ShuttingDown {
        /// The service.
        service: String,
    },
    /// The supervisor already holds as many services as it can index
    /// (`u32::MAX`, some terabytes of them).
    #[error("cannot spawn service '{service}': the supervisor holds {limit} services already")]
    TooManyServices {
        /// The service.
        service: String,
        /// How many services a supervisor holds at most.
        limit: usize,
    },
}

/// Counters of one supervisor (the Prometheus series are in
/// [`crate::metrics`]).
#[derive(Debug, Default)]
pub struct SupervisorMetrics {
    /// Restarts (a run that began after a backoff).
    pub restarts_total: AtomicU64,
    /// Services spawned and not yet terminated.
    pub active_services: AtomicU64,
    /// Services spawned.
    pub spawned_total: AtomicU64,
    /// Services terminated for good.
    pub terminated_total: AtomicU64,
    /// Circuit breakers opened.
    pub circuit_breaker_trips: AtomicU64,
}

impl SupervisorMetrics {
    /// A copy of the counters.
    ///
    /// Each counter is read atomically; the set is not one atomic
    /// snapshot of a moving supervisor.
    #[must_use]
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            restarts_total: self.restarts_total.load(AtomicOrdering::Relaxed),
            active_services: self.active_services.load(AtomicOrdering::Relaxed),
            spawned_total: self.spawned_total.load(AtomicOrdering::Relaxed),
            terminated_total: self.terminated_total.load(AtomicOrdering::Relaxed),
            circuit_breaker_trips: self.circuit_breaker_trips.load(AtomicOrdering::Relaxed),
        }
    }
}

/// Plain-data copy of [`SupervisorMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MetricsSnapshot {
    /// Restarts.
    pub restarts_total: u64,
    /// Services spawned and not yet terminated.
    pub active_services: u64,
    /// Services spawned.
    pub spawned_total: u64,
    /// Services terminated for good.
    pub terminated_total: u64,
    /// Circuit breakers opened.
    pub circuit_breaker_trips: u64,
}

/// What [`JanusSupervisor::wait_for_drain`] (or a tree's
/// [`wait`](crate::tree::SupervisorHandle::wait)) found, over the whole
/// tree: nested supervisors' children included, named by their paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DrainReport {
    /// Services that stopped by themselves (or had already terminated).
    pub stopped: usize,
    /// Services the drain aborted because they outlived their shutdown
    /// timeout (or whose supervisor was aborted), by path. What a nested
    /// supervisor aborted before the drain reached it (restarting its own
    /// children, or stopping them as it gave up) is not the drain's.
    pub aborted: Vec<String>,
    /// Aborted services whose task still had not finished after a grace
    /// period: they are blocked in synchronous code that cannot be aborted.
    pub unresponsive: Vec<String>,
    /// How long the drain took.
    pub elapsed: Duration,
}

impl DrainReport {
    /// Whether every service stopped within its timeout.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.aborted.is_empty() && self.unresponsive.is_empty()
    }

    /// Adds what a nested supervisor's drain found.
    pub(crate) fn absorb(&mut self, nested: &Self) {
        self.stopped += nested.stopped;
        self.aborted.extend(nested.aborted.iter().cloned());
        self.unresponsive
            .extend(nested.unresponsive.iter().cloned());
    }
}

impl std::fmt::Display for DrainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} stopped", self.stopped)?;
        if !self.aborted.is_empty() {
            write!(
                f,
                ", aborted after shutdown timeout: {}",
                self.aborted.join(", ")
            )?;
        }
        if !self.unresponsive.is_empty() {
            write!(f, ", still blocked: {}", self.unresponsive.join(", "))?;
        }
        write!(f, " (in {:?})", self.elapsed)
    }
}

/// The engine's half of draining: ask for shutdown, wait for the actor, then
/// give aborted tasks a moment to unwind and name those that do not.
pub(crate) async fn drain(core: &Arc<Core>) -> Finished {
    core.request_shutdown();
    settle(core).await
}

/// Waits for the supervisor to end (shutdown or giving up), then for its
/// tasks, naming the aborted ones that do not unwind.
pub(crate) async fn settle(core: &Arc<Core>) -> Finished {
    let started = Instant::now();
    core.spawn_actor();
    let mut finished = core.finished().await;
    core.tracker.close();
    if tokio::time::timeout(ABORT_GRACE, core.tracker.wait())
        .await
        .is_err()
    {
        // Aborted, and still not finished: blocked in synchronous code.
        finished.report.unresponsive = core.paths_where(SlotState::unresponsive);
    }
    finished.report.elapsed = started.elapsed();
    finished
}

pub(crate) fn install_signals() -> std::io::Result<signal::Signals> {
    signal::Signals::install()
}

/// Runs until a signal (when `signals` is given), a requested shutdown, or the
/// supervisor giving up; then drains. With `forced_exit`, a second signal
/// while draining (a deliberate one, see [`signal::REPEAT_WINDOW`]) exits
/// the process at once. Fails if the supervisor gave up, or if the signal
/// handler could not be installed (the supervisor is drained all the same).
pub(crate) async fn run_with_signals(
    core: &Arc<Core>,
    signals: Option<std::io::Result<signal::Signals>>,
    forced_exit: bool,
) -> Result<(), crate::tree::SupervisorError> {
    let (finished, signal_error) = wait_and_drain(core, signals, forced_exit).await;
    if let Some(error) = finished.error {
        return Err(error);
    }
    match signal_error {
        Some(error) => Err(crate::tree::SupervisorError::Signals {
            problem: error.to_string(),
        }),
        None => Ok(()),
    }
}

async fn wait_and_drain(
    core: &Arc<Core>,
    signals: Option<std::io::Result<signal::Signals>>,
    forced_exit: bool,
) -> (Finished, Option<std::io::Error>) {
    core.spawn_actor();
    let mut signals = match signals {
        Some(Ok(signals)) => Some(signals),
        Some(Err(error)) => {
            tracing::error!(%error, "cannot install the signal handler: shutting down");
            return (drain_and_log(core).await, Some(error));
        }
        None => None,
    };
    let mut first_signal = None;
    let finished = core.finished();
    tokio::select! {
        received = async {
            match signals.as_mut() {
                Some(signals) => signals.recv().await,
                None => std::future::pending().await,
            }
        } => match received {
            Ok(signal) => {
                tracing::info!(%signal, "received signal: shutting down");
                first_signal = Some(Instant::now());
            }
            Err(error) => tracing::error!(%error, "signal handler failed: shutting down"),
        },
        () = core.cancel.cancelled() => tracing::info!("shutdown requested"),
        finished = finished => {
            if let Some(error) = &finished.error {
                tracing::error!(%error, "the root supervisor gave up");
            }
        }
    }
    let second_signal = async {
        let Some(signals) = signals.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            let Ok(signal) = signals.recv().await else {
                return std::future::pending().await;
            };
            let now = Instant::now();
            match first_signal {
                None => {
                    tracing::info!(%signal, "received signal: already shutting down");
                    first_signal = Some(now);
                }
                Some(first) if now.saturating_duration_since(first) < signal::REPEAT_WINDOW => {
                    tracing::debug!(%signal, "the same request delivered again: ignored");
                }
                Some(_) if forced_exit => return signal,
                Some(_) => {
                    tracing::warn!(%signal, "second signal during shutdown: still draining (forced exit is off)");
                }
            }
        }
    };
    tokio::select! {
        finished = drain_and_log(core) => (finished, None),
        signal = second_signal => {
            tracing::error!(%signal, "second signal during shutdown: forcing exit");
            std::process::exit(signal.exit_code());
        }
    }
}

async fn drain_and_log(core: &Arc<Core>) -> Finished {
    let finished = drain(core).await;
    let snap = core.metrics.snapshot();
    tracing::info!(
        restarts = snap.restarts_total,
        spawned = snap.spawned_total,
        terminated = snap.terminated_total,
        circuit_trips = snap.circuit_breaker_trips,
        report = %finished.report,
        "supervisor shutdown complete"
    );
    finished
}

/// The supervisor: spawns services, restarts them, and shuts them down.
///
/// A flat, `one_for_one` supervisor without a restart intensity limit whose
/// services stop all at once on shutdown: the seed's model. For strategies,
/// intensity, ordered shutdown and nesting, see [`crate::tree`];
/// [`handle`](Self::handle) gives this supervisor the same controls.
///
/// Dropping the supervisor cancels its services (they stop as they would on
/// shutdown); call [`wait_for_drain`](Self::wait_for_drain) to wait for them.
pub struct JanusSupervisor {
    core: Arc<Core>,
    install_signal_handler: bool,
    config: SupervisorConfig,
}

/// The configuration, the number of services and whether it is shutting
/// down; not every service.
impl std::fmt::Debug for JanusSupervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JanusSupervisor")
            .field("services", &self.core.len())
            .field("shutting_down", &self.is_shutting_down())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Drop for JanusSupervisor {
    fn drop(&mut self) {
        self.core.request_shutdown();
    }
}

impl JanusSupervisor {
    /// A supervisor with `config`, publishing to the process-wide
    /// [`metrics()`](crate::metrics::metrics).
    #[must_use]
    pub fn new(config: SupervisorConfig) -> Self {
        Self {
            core: Self::core(
                &config,
                crate::metrics::metrics().clone(),
                Arc::new(EventHub::default()),
            ),
            install_signal_handler: config.install_signal_handler,
            config,
        }
    }

    /// Whether a second SIGTERM or SIGINT during the drain of
    /// [`run_until_shutdown`](Self::run_until_shutdown) exits the process
    /// at once, skipping what the drain has not done (default: `true`).
    /// Turn it off when something else (a process manager's kill timeout)
    /// bounds the shutdown, or when the code after the drain must run. A
    /// signal within a second of the first is the same request delivered
    /// twice (a shell signals the process, then its group), never a
    /// second one.
    #[must_use]
    pub fn with_forced_exit(self, forced_exit: bool) -> Self {
        self.core
            .forced_exit
            .store(forced_exit, AtomicOrdering::Relaxed);
        self
    }

    /// A supervisor with [`SupervisorConfig::default()`].
    #[must_use]
    pub fn with_defaults() -> Self {
        Self::new(SupervisorConfig::default())
    }

    /// Publishes Prometheus series to `metrics` instead of the process-wide
    /// registry. Call before spawning services.
    #[must_use]
    pub fn with_metrics(mut self, metrics: JanusMetrics) -> Self {
        if self.core.len() > 0 {
            // Services already share the state: keep what they publish to.
            tracing::warn!("JanusSupervisor::with_metrics called after spawning: ignored");
            return self;
        }
        let forced_exit = self.core.forced_exit.load(AtomicOrdering::Relaxed);
        self.core = Self::core(&self.config, metrics, self.core.events.clone());
        self.core
            .forced_exit
            .store(forced_exit, AtomicOrdering::Relaxed);
        self
    }

    /// How many unread lifecycle events the supervisor keeps for the
    /// subscribers of its [`handle`](Self::handle) (default
    /// [`DEFAULT_EVENT_CAPACITY`](crate::events::DEFAULT_EVENT_CAPACITY)).
    /// Call before the first subscription.
    #[must_use]
    pub fn with_event_capacity(self, capacity: usize) -> Self {
        self.core.events.set_capacity(capacity);
        self
    }

    fn core(config: &SupervisorConfig, metrics: JanusMetrics, events: Arc<EventHub>) -> Arc<Core> {
        let settings = Settings {
            path: Arc::from(""),
            strategy: Strategy::OneForOne,
            intensity: None,
            order: ShutdownOrder::Concurrent,
            default_backoff: config.default_backoff.clone(),
            shutdown_timeout: config.shutdown_timeout,
            escalate_given_up: false,
        };
        let core = Arc::new(Core::new(
            settings,
            CancellationToken::new(),
            metrics,
            events,
            tokio_util::task::TaskTracker::new(),
        ));
        core.set_root(Arc::downgrade(&core));
        core
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SupervisorConfig {
        &self.config
    }

    /// A cloneable handle with the tree controls: add, stop and restart
    /// services by name, snapshots, lifecycle events.
    #[must_use]
    pub fn handle(&self) -> SupervisorHandle {
        self.core.spawn_actor();
        SupervisorHandle {
            core: self.core.clone(),
        }
    }

    /// The token whose cancellation shuts the supervisor down.
    #[must_use]
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.core.cancel
    }

    /// The supervisor's counters.
    #[must_use]
    pub fn metrics(&self) -> &Arc<SupervisorMetrics> {
        &self.core.metrics
    }

    /// The Prometheus metrics this supervisor publishes to.
    #[must_use]
    pub fn prometheus(&self) -> &JanusMetrics {
        &self.core.prometheus
    }

    /// Snapshots of every service, in spawn order.
    pub async fn lifecycle_snapshots(&self) -> Vec<ServiceLifecycleSnapshot> {
        self.snapshots()
    }

    /// Snapshots of every service, in spawn order, without awaiting.
    #[must_use]
    pub fn snapshots(&self) -> Vec<ServiceLifecycleSnapshot> {
        self.core.snapshots()
    }

    /// The snapshot of the service named `name`.
    pub async fn service_lifecycle(&self, name: &str) -> Option<ServiceLifecycleSnapshot> {
        self.core
            .slot(name)
            .map(|slot| slot.with(|state, _| slot.snapshot(state)))
    }

    /// How many services are registered (including terminated ones). Right
    /// as soon as [`spawn_service`](Self::spawn_service) returns.
    pub async fn service_count(&self) -> usize {
        self.core.len()
    }

    /// Starts the shutdown: cancels every service, and marks each live one
    /// [`ServicePhase::Stopping`] at once.
    pub fn trigger_shutdown(&self) {
        self.core.request_shutdown();
    }

    /// Whether shutdown has started.
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.core.cancel.is_cancelled()
    }

    /// Supervises `service` with the default options.
    ///
    /// # Errors
    ///
    /// See [`spawn_service_with_options`](Self::spawn_service_with_options).
    pub fn spawn_service(&self, service: Box<dyn JanusService>) -> Result<(), SpawnError> {
        self.spawn_service_with_options(service, SpawnOptions::default())
    }

    /// Supervises `service`: registers it (visible in snapshots and
    /// [`service_count`](Self::service_count) at once) and starts it.
    ///
    /// The backoff is the first of `options.backoff`,
    /// [`JanusService::backoff_config`] and the supervisor's default.
    ///
    /// # Errors
    ///
    /// - [`SpawnError::DuplicateName`] if a live service has the same name;
    /// - [`SpawnError::InvalidBackoff`] if the backoff is inconsistent;
    /// - [`SpawnError::ShuttingDown`] once shutdown has started;
    /// - [`SpawnError::TooManyServices`] past `u32::MAX` services.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn_service_with_options(
        &self,
        service: Box<dyn JanusService>,
        options: SpawnOptions,
    ) -> Result<(), SpawnError> {
        let overrides = Overrides {
            backoff: options.backoff,
            ..Overrides::default()
        };
        self.core.add(ServiceRef::Owned(service), overrides)?;
        self.core.spawn_actor();
        Ok(())
    }

    /// Waits until every service has stopped, and says how it went.
    ///
    /// Starts the shutdown if it has not started. Each service gets its
    /// shutdown timeout (its own, or the supervisor's), counted from the
    /// moment it was asked to stop; one still running then is aborted: its
    /// task is dropped, it ends [`Terminated`](ServicePhase::Terminated) with
    /// reason `aborted after shutdown timeout`, and the report names it. When
    /// this returns, no service code is running (except code blocked in
    /// synchronous calls, which the report lists as unresponsive).
    pub async fn wait_for_drain(&self) -> DrainReport {
        let report = drain(&self.core).await.report;
        if report.is_clean() {
            tracing::info!(%report, "all services drained");
        } else {
            tracing::warn!(%report, "drain finished with aborted services");
        }
        report
    }

    /// Runs until SIGTERM or SIGINT (or, without the signal handler, until
    /// the cancel token is cancelled), then shuts down and drains.
    ///
    /// While draining, a second signal forces the process to exit at once
    /// (code 130 for SIGINT, 143 for SIGTERM), unless it comes within a
    /// second of the first (the same request, delivered twice) or
    /// [`with_forced_exit(false)`](Self::with_forced_exit) turned it off.
    ///
    /// # Errors
    ///
    /// - a critical service terminated for good
    ///   ([`SupervisorError`](crate::tree::SupervisorError), after draining);
    /// - the signal handler could not be installed (the services are still
    ///   shut down and drained first).
    pub async fn run_until_shutdown(&self) -> anyhow::Result<()> {
        let signals = self.install_signal_handler.then(install_signals);
        self.run_with_signals(signals).await
    }

    async fn run_with_signals(
        &self,
        signals: Option<std::io::Result<signal::Signals>>,
    ) -> anyhow::Result<()> {
        let forced_exit = self.core.forced_exit.load(AtomicOrdering::Relaxed);
        Ok(run_with_signals(&self.core, signals, forced_exit).await?)
    }
}

#[cfg(test)]
mod tests;
