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

mod runner;
mod signal;
mod slot;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::{PoisonError, RwLock};

use prometheus::IntCounter;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

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

use crate::metrics::JanusMetrics;
use slot::ServiceSlot;

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

/// What [`JanusSupervisor::wait_for_drain`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DrainReport {
    /// Services that stopped by themselves (or had already terminated).
    pub stopped: usize,
    /// Services aborted because they outlived their shutdown timeout.
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

#[derive(Debug, Default)]
struct Registry {
    slots: Vec<Arc<ServiceSlot>>,
    index: HashMap<Arc<str>, usize>,
}

/// State shared by the supervisor and its service tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    config: SupervisorConfig,
    cancel: CancellationToken,
    tracker: TaskTracker,
    metrics: Arc<SupervisorMetrics>,
    prometheus: JanusMetrics,
    registry: RwLock<Registry>,
}

impl Shared {
    fn slots(&self) -> Vec<Arc<ServiceSlot>> {
        self.registry
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .slots
            .clone()
    }

    fn slot(&self, name: &str) -> Option<Arc<ServiceSlot>> {
        let registry = self.registry.read().unwrap_or_else(PoisonError::into_inner);
        registry.index.get(name).map(|&i| registry.slots[i].clone())
    }

    fn record_spawn(&self) {
        self.metrics
            .spawned_total
            .fetch_add(1, AtomicOrdering::Relaxed);
        self.metrics
            .active_services
            .fetch_add(1, AtomicOrdering::Relaxed);
        self.prometheus.supervisor_spawned_total.inc();
        self.prometheus.supervisor_active_services.inc();
    }

    fn record_restart(&self, service: &str, counter: &mut Option<IntCounter>) {
        self.metrics
            .restarts_total
            .fetch_add(1, AtomicOrdering::Relaxed);
        counter
            .get_or_insert_with(|| {
                self.prometheus
                    .supervisor_restarts_total
                    .with_label_values(&[service])
            })
            .inc();
    }

    fn record_circuit_breaker_trip(&self, service: &str) {
        self.metrics
            .circuit_breaker_trips
            .fetch_add(1, AtomicOrdering::Relaxed);
        self.prometheus
            .supervisor_circuit_breaker_trips
            .with_label_values(&[service])
            .inc();
    }

    fn record_termination(&self, service: &str, uptime: Duration) {
        self.metrics
            .terminated_total
            .fetch_add(1, AtomicOrdering::Relaxed);
        // Never below zero, even if counters were reset by hand.
        let _ = self.metrics.active_services.fetch_update(
            AtomicOrdering::Relaxed,
            AtomicOrdering::Relaxed,
            |v| Some(v.saturating_sub(1)),
        );
        self.prometheus.supervisor_terminated_total.inc();
        self.prometheus.supervisor_active_services.dec();
        self.prometheus
            .supervisor_uptime_seconds
            .with_label_values(&[service])
            .observe(uptime.as_secs_f64());
    }

    /// Terminates a service and records it, exactly once.
    fn finish(&self, slot: &ServiceSlot, reason: TerminationReason) {
        let shown = reason.to_string();
        if let Some(uptime) = slot.terminate(reason) {
            tracing::info!(service = &*slot.name, reason = %shown, "service terminated");
            self.record_termination(&slot.name, uptime);
        }
    }

    fn abort(&self, slot: &ServiceSlot) -> bool {
        let Some(uptime) = slot.abort() else {
            return false;
        };
        tracing::warn!(
            service = &*slot.name,
            timeout = ?slot.shutdown_timeout,
            "service did not stop within its shutdown timeout: aborted"
        );
        self.record_termination(&slot.name, uptime);
        true
    }
}

/// The supervisor: spawns services, restarts them, and shuts them down.
///
/// Dropping the supervisor cancels its services (they stop as they would on
/// shutdown); call [`wait_for_drain`](Self::wait_for_drain) to wait for them.
#[derive(Debug)]
pub struct JanusSupervisor {
    shared: Arc<Shared>,
}

impl Drop for JanusSupervisor {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

impl JanusSupervisor {
    /// A supervisor with `config`, publishing to the process-wide
    /// [`metrics()`](crate::metrics::metrics).
    #[must_use]
    pub fn new(config: SupervisorConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                cancel: CancellationToken::new(),
                tracker: TaskTracker::new(),
                metrics: Arc::new(SupervisorMetrics::default()),
                prometheus: crate::metrics::metrics().clone(),
                registry: RwLock::new(Registry::default()),
            }),
        }
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
        match Arc::get_mut(&mut self.shared) {
            Some(shared) => shared.prometheus = metrics,
            // Services already share the state: keep what they publish to.
            None => tracing::warn!("JanusSupervisor::with_metrics called after spawning: ignored"),
        }
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SupervisorConfig {
        &self.shared.config
    }

    /// The token whose cancellation shuts the supervisor down; every service
    /// gets a child of it.
    #[must_use]
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.shared.cancel
    }

    /// The supervisor's counters.
    #[must_use]
    pub fn metrics(&self) -> &Arc<SupervisorMetrics> {
        &self.shared.metrics
    }

    /// The Prometheus metrics this supervisor publishes to.
    #[must_use]
    pub fn prometheus(&self) -> &JanusMetrics {
        &self.shared.prometheus
    }

    /// Snapshots of every service, in spawn order.
    pub async fn lifecycle_snapshots(&self) -> Vec<ServiceLifecycleSnapshot> {
        self.snapshots()
    }

    /// Snapshots of every service, in spawn order, without awaiting.
    #[must_use]
    pub fn snapshots(&self) -> Vec<ServiceLifecycleSnapshot> {
        self.shared.slots().iter().map(|s| s.snapshot()).collect()
    }

    /// The snapshot of the service named `name`.
    pub async fn service_lifecycle(&self, name: &str) -> Option<ServiceLifecycleSnapshot> {
        self.shared.slot(name).map(|s| s.snapshot())
    }

    /// How many services are registered (including terminated ones). Right
    /// as soon as [`spawn_service`](Self::spawn_service) returns.
    pub async fn service_count(&self) -> usize {
        self.shared
            .registry
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .slots
            .len()
    }

    /// Starts the shutdown: cancels every service, and marks each live one
    /// [`ServicePhase::Stopping`] at once.
    pub fn trigger_shutdown(&self) {
        if !self.shared.cancel.is_cancelled() {
            tracing::info!("supervisor: shutdown triggered");
        }
        self.shared.cancel.cancel();
        for slot in self.shared.slots() {
            slot.mark_stopping();
        }
    }

    /// Whether shutdown has started.
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.shared.cancel.is_cancelled()
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
    /// [`service_count`](Self::service_count) at once) and starts it in a
    /// tracked task.
    ///
    /// The backoff is the first of `options.backoff`,
    /// [`JanusService::backoff_config`] and the supervisor's default.
    ///
    /// # Errors
    ///
    /// - [`SpawnError::DuplicateName`] if a live service has the same name;
    /// - [`SpawnError::InvalidBackoff`] if the backoff is inconsistent;
    /// - [`SpawnError::ShuttingDown`] once shutdown has started.
    pub fn spawn_service_with_options(
        &self,
        service: Box<dyn JanusService>,
        options: SpawnOptions,
    ) -> Result<(), SpawnError> {
        let shared = &self.shared;
        let name: Arc<str> = Arc::from(service.name());
        let policy = service.restart_policy();
        let backoff = options
            .backoff
            .or_else(|| service.backoff_config())
            .unwrap_or_else(|| shared.config.default_backoff.clone());
        let result = backoff
            .validate()
            .map_err(|source| SpawnError::InvalidBackoff {
                service: name.to_string(),
                source,
            })
            .and_then(|()| self.register(&name, &*service));
        let slot = match result {
            Ok(slot) => slot,
            Err(error) => {
                tracing::error!(%error, "spawn rejected");
                return Err(error);
            }
        };
        shared.record_spawn();
        tracing::info!(service = &*name, %policy, "service spawned");
        let runner = runner::Runner {
            shared: shared.clone(),
            slot: slot.clone(),
            service,
            policy,
            backoff,
        };
        let task = shared.tracker.spawn(runner.run());
        slot.set_task(task.abort_handle());
        Ok(())
    }

    fn register(
        &self,
        name: &Arc<str>,
        service: &dyn JanusService,
    ) -> Result<Arc<ServiceSlot>, SpawnError> {
        let shared = &self.shared;
        let mut registry = shared
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Checked under the registry lock, so a shutdown cannot slip between
        // the check and the insertion unnoticed by `trigger_shutdown`.
        if shared.cancel.is_cancelled() || shared.tracker.is_closed() {
            return Err(SpawnError::ShuttingDown {
                service: name.to_string(),
            });
        }
        let slot = Arc::new(ServiceSlot::new(
            name.clone(),
            shared.cancel.child_token(),
            service
                .shutdown_timeout()
                .unwrap_or(shared.config.shutdown_timeout),
        ));
        let next = registry.slots.len();
        match registry.index.entry(name.clone()) {
            Entry::Vacant(entry) => {
                entry.insert(next);
                registry.slots.push(slot.clone());
            }
            Entry::Occupied(entry) => {
                let i = *entry.get();
                if !registry.slots[i].is_terminal() {
                    return Err(SpawnError::DuplicateName {
                        name: name.to_string(),
                    });
                }
                registry.slots[i] = slot.clone();
            }
        }
        Ok(slot)
    }

    /// Waits until every service has stopped, and says how it went.
    ///
    /// Starts the shutdown if it has not started. Each service gets its
    /// shutdown timeout (its own, or the supervisor's), counted from this
    /// call; one still running then is aborted: its task is dropped, it ends
    /// [`Terminated`](ServicePhase::Terminated) with reason
    /// `aborted after shutdown timeout`, and the report names it. When this
    /// returns, no service code is running (except code blocked in
    /// synchronous calls, which the report lists as unresponsive).
    pub async fn wait_for_drain(&self) -> DrainReport {
        let shared = &self.shared;
        let started = Instant::now();
        if !self.is_shutting_down() {
            self.trigger_shutdown();
        }
        shared.tracker.close();
        let slots = shared.slots();
        let mut report = DrainReport::default();
        let mut aborted = Vec::new();
        loop {
            let next_deadline = slots
                .iter()
                .filter(|s| !s.is_terminal())
                .map(|s| started + s.shutdown_timeout)
                .min();
            let Some(deadline) = next_deadline else { break };
            if tokio::time::timeout_at(deadline, shared.tracker.wait())
                .await
                .is_ok()
            {
                break;
            }
            let now = Instant::now();
            for slot in &slots {
                if started + slot.shutdown_timeout <= now && shared.abort(slot) {
                    aborted.push(slot.clone());
                }
            }
        }
        if tokio::time::timeout(ABORT_GRACE, shared.tracker.wait())
            .await
            .is_err()
        {
            report.unresponsive = aborted
                .iter()
                .filter(|s| !s.task_finished())
                .map(|s| s.name.to_string())
                .collect();
        }
        report.aborted = aborted.iter().map(|s| s.name.to_string()).collect();
        report.stopped = slots.len() - aborted.len();
        report.elapsed = started.elapsed();
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
    /// (code 130 for SIGINT, 143 for SIGTERM).
    ///
    /// # Errors
    ///
    /// If the signal handler cannot be installed, the services are still
    /// shut down and drained, then the error is returned.
    pub async fn run_until_shutdown(&self) -> anyhow::Result<()> {
        if !self.shared.config.install_signal_handler {
            self.shared.cancel.cancelled().await;
            tracing::info!("external shutdown signal received");
            self.drain_and_log().await;
            return Ok(());
        }
        let signals = signal::Signals::install();
        self.run_with_signals(signals).await
    }

    async fn run_with_signals(
        &self,
        signals: std::io::Result<signal::Signals>,
    ) -> anyhow::Result<()> {
        let mut signals = match signals {
            Ok(signals) => signals,
            Err(error) => {
                tracing::error!(%error, "cannot install the signal handler: shutting down");
                self.drain_and_log().await;
                return Err(anyhow::Error::new(error).context("installing the signal handler"));
            }
        };
        tokio::select! {
            received = signals.recv() => match received {
                Ok(signal) => tracing::info!(%signal, "received signal: shutting down"),
                Err(error) => tracing::error!(%error, "signal handler failed: shutting down"),
            },
            () = self.shared.cancel.cancelled() => {
                tracing::info!("shutdown triggered programmatically");
            }
        }
        tokio::select! {
            () = self.drain_and_log() => Ok(()),
            Ok(signal) = signals.recv() => {
                tracing::error!(%signal, "second signal during shutdown: forcing exit");
                std::process::exit(signal.exit_code());
            }
        }
    }

    async fn drain_and_log(&self) {
        self.trigger_shutdown();
        let report = self.wait_for_drain().await;
        let snap = self.shared.metrics.snapshot();
        tracing::info!(
            restarts = snap.restarts_total,
            spawned = snap.spawned_total,
            terminated = snap.terminated_total,
            circuit_trips = snap.circuit_breaker_trips,
            %report,
            "supervisor shutdown complete"
        );
    }
}

#[cfg(test)]
mod tests;
