//! The supervisor: runs services in tracked tasks, restarts them by policy
//! and backoff, and shuts them down within a bounded time.
//!
//! This module keeps the public API of the `janus_core::supervisor` module
//! Janus grew from: code written against it compiles against
//! `janus::supervisor` by renaming the crate. Where the seed was wrong, Janus
//! differs on purpose (see the crate docs): timeouts abort, panics are
//! failures, `Always` obeys backoff, duplicate names are rejected…
//!
//! A `JanusSupervisor` is a flat supervisor of the engine that also runs
//! supervision trees ([`crate::tree`]): one control loop decides every
//! restart and stop; each run of a service is a task of its own; each
//! service's state sits behind a lock of its own; shutdown cancels every
//! service at once and aborts what outlives its timeout.
//!
//! # Usage
//!
//! ```no_run
//! use janus::supervisor::{JanusSupervisor, SupervisorConfig};
//! # use janus::CancellationToken;
//! # use janus::supervisor::JanusService;
//! # struct Feed;
//! # #[janus::async_trait]
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

// The seed's paths, kept so that code written for `janus_core::supervisor`
// compiles after the crate rename; each item's home (and its documentation)
// is its own module.
#[doc(no_inline)]
pub use crate::adapters::{self, ApiModuleAdapter, ModuleAdapter};
#[doc(no_inline)]
pub use crate::backoff::{
    self, BackoffAction, BackoffConfig, BackoffConfigError, BackoffState, CircuitBreakerConfig,
};
#[doc(no_inline)]
pub use crate::lifecycle::{
    self, ServiceLifecycle, ServiceLifecycleSnapshot, ServicePhase, TerminationReason,
    TransitionError,
};
#[doc(no_inline)]
pub use crate::service::{self, JanusService, RestartPolicy};

use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::backoff::Jitter;
use crate::engine::Settings;
use crate::engine::drain::{Signals, drain, install_signals};
pub use crate::error::SpawnError;
use crate::events::DEFAULT_EVENT_CAPACITY;
use crate::metrics::JanusMetrics;
pub use crate::report::{DrainReport, MetricsSnapshot, SupervisorMetrics};
use crate::tree::{ChildOptions, ShutdownOrder, StartOrder, Strategy, SupervisorHandle};

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

/// The supervisor: spawns services, restarts them, and shuts them down.
///
/// A flat, `one_for_one` supervisor without a restart intensity limit whose
/// services stop all at once on shutdown: the seed's model. For strategies,
/// intensity, ordered shutdown and nesting, see [`crate::tree`].
///
/// It is a thin front over a [`SupervisorHandle`], the handle of the
/// trees: every method reads or asks the one engine behind it, so what it
/// says (shutting down, counts, snapshots, metrics) is what
/// [`handle`](Self::handle) says. Where it differs from a tree's root, it
/// is by settings, not by code: a service given up on by its circuit
/// breaker is let go (the tree reports itself
/// [degraded](crate::tree::Health::Degraded)) instead of taking the
/// supervisor down, and no restart intensity applies. A
/// [critical](JanusService::is_critical) service that terminates for good
/// after a failure does take it down: it shuts down, and
/// [`run_until_shutdown`](Self::run_until_shutdown) returns the error.
///
/// Dropping the supervisor cancels its services (they stop as they would on
/// shutdown); call [`wait_for_drain`](Self::wait_for_drain) to wait for them.
pub struct JanusSupervisor {
    handle: SupervisorHandle,
    config: SupervisorConfig,
}

/// The configuration, the number of services and whether it is shutting
/// down; not every service.
impl std::fmt::Debug for JanusSupervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JanusSupervisor")
            .field("services", &self.handle.core.len())
            .field("shutting_down", &self.is_shutting_down())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Drop for JanusSupervisor {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

impl JanusSupervisor {
    /// A supervisor with `config`, publishing to the process-wide
    /// [`metrics()`](crate::metrics::metrics).
    #[must_use]
    pub fn new(config: SupervisorConfig) -> Self {
        Self::new_with_metrics(config, crate::metrics::metrics().clone())
    }

    /// [`new`](Self::new), publishing Prometheus series to `metrics`
    /// instead of the process-wide registry (as a tree's
    /// [`start_with_metrics`](crate::tree::SupervisorSpec::start_with_metrics)).
    ///
    /// ```
    /// use janus::metrics::JanusMetrics;
    /// use janus::supervisor::{JanusSupervisor, SupervisorConfig};
    ///
    /// let metrics = JanusMetrics::new();
    /// let supervisor = JanusSupervisor::new_with_metrics(SupervisorConfig::default(), metrics.clone());
    /// assert_eq!(metrics.spawned_total(), 0);
    /// # drop(supervisor);
    /// ```
    #[must_use]
    pub fn new_with_metrics(config: SupervisorConfig, metrics: JanusMetrics) -> Self {
        let settings = Settings {
            path: Arc::from(""),
            strategy: Strategy::OneForOne,
            intensity: None,
            order: ShutdownOrder::Concurrent,
            default_backoff: config.default_backoff.clone(),
            shutdown_timeout: config.shutdown_timeout,
            escalate_given_up: false,
            jitter: Jitter::random(),
            // No children declared up front: each starts as it is spawned.
            start_order: StartOrder::Concurrent,
            start_timeout: Duration::MAX,
            dynamic: None,
            auto_shutdown: crate::strategy::AutoShutdown::Never,
            readiness_grace: Duration::ZERO,
        };
        Self {
            handle: SupervisorHandle::root(settings, metrics, DEFAULT_EVENT_CAPACITY),
            config,
        }
    }

    /// A supervisor with [`SupervisorConfig::default()`].
    #[must_use]
    pub fn with_defaults() -> Self {
        Self::new(SupervisorConfig::default())
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
        self.handle.set_forced_exit(forced_exit);
        self
    }

    /// How many unread lifecycle events the supervisor keeps for the
    /// subscribers of its [`handle`](Self::handle) (default
    /// [`DEFAULT_EVENT_CAPACITY`]).
    /// Call before the first subscription.
    #[must_use]
    pub fn with_event_capacity(self, capacity: usize) -> Self {
        self.handle.core.events.set_capacity(capacity);
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SupervisorConfig {
        &self.config
    }

    /// A cloneable handle with the tree controls: add, stop and restart
    /// services by name, snapshots, health, lifecycle events. It is the
    /// handle this supervisor delegates to: both always agree.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn` (it starts the
    /// supervisor's control loop if no service did).
    #[must_use]
    pub fn handle(&self) -> SupervisorHandle {
        self.handle.core.spawn_actor();
        self.handle.clone()
    }

    /// The token whose cancellation shuts the supervisor down. It is
    /// cancelled by [`trigger_shutdown`](Self::trigger_shutdown), and when
    /// the supervisor shuts itself down (a critical service failed).
    #[must_use]
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.handle.core.cancel
    }

    /// The supervisor's counters.
    #[must_use]
    pub fn metrics(&self) -> &Arc<SupervisorMetrics> {
        self.handle.metrics()
    }

    /// The Prometheus metrics this supervisor publishes to.
    #[must_use]
    pub fn prometheus(&self) -> &JanusMetrics {
        self.handle.prometheus()
    }

    /// Snapshots of every service, in spawn order.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it completes without waiting.
    pub async fn lifecycle_snapshots(&self) -> Vec<ServiceLifecycleSnapshot> {
        self.snapshots()
    }

    /// Snapshots of every service, in spawn order, without awaiting (a
    /// service that is itself a supervisor is followed by its children's).
    #[must_use]
    pub fn snapshots(&self) -> Vec<ServiceLifecycleSnapshot> {
        self.handle.snapshots()
    }

    /// The snapshot of the service named `name` (or, for a service that is
    /// itself a supervisor, of a child at `name/child`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it completes without waiting.
    pub async fn service_lifecycle(&self, name: &str) -> Option<ServiceLifecycleSnapshot> {
        self.handle.snapshot(name)
    }

    /// How many services are registered (including terminated ones). Right
    /// as soon as [`spawn_service`](Self::spawn_service) returns.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it completes without waiting.
    pub async fn service_count(&self) -> usize {
        self.handle.core.len()
    }

    /// Starts the shutdown: cancels every service, and marks each live one
    /// [`ServicePhase::Stopping`] at once.
    pub fn trigger_shutdown(&self) {
        self.handle.shutdown();
    }

    /// Whether shutdown has started, or the supervisor has stopped: after
    /// [`trigger_shutdown`](Self::trigger_shutdown), a cancelled
    /// [`cancel_token`](Self::cancel_token), a signal, or a critical service
    /// that failed for good. From then on
    /// [`spawn_service`](Self::spawn_service) returns
    /// [`SpawnError::ShuttingDown`]. The same answer as the
    /// [`handle`](Self::handle)'s.
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.handle.is_shutting_down()
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
    /// - [`SpawnError::InvalidName`] for an empty name or one with a `/`;
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
        let mut child = ChildOptions::new();
        if let Some(backoff) = options.backoff {
            child = child.with_backoff(backoff);
        }
        self.handle.add_boxed(service, child)?;
        self.handle.core.spawn_actor();
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
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the shutdown it asked for goes on; waiting again
    /// returns the report.
    pub async fn wait_for_drain(&self) -> DrainReport {
        let report = drain(&self.handle.core).await.report;
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
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops watching the signals, nothing else: before
    /// a signal the services keep running; after one, they go on stopping
    /// ([`wait_for_drain`](Self::wait_for_drain) for them).
    pub async fn run_until_shutdown(&self) -> anyhow::Result<()> {
        let signals = self.config.install_signal_handler.then(install_signals);
        self.run_with_signals(signals).await
    }

    async fn run_with_signals(
        &self,
        signals: Option<std::io::Result<Signals>>,
    ) -> anyhow::Result<()> {
        Ok(self.handle.run_with_signals(signals).await?)
    }
}

#[cfg(test)]
mod tests;
