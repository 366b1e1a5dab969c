//! What a supervisor counts ([`SupervisorMetrics`], copied as a
//! [`MetricsSnapshot`]) and what its drain found ([`DrainReport`]); the
//! Prometheus series are in [`crate::metrics`]. Public at
//! `janus::supervisor::{SupervisorMetrics, MetricsSnapshot, DrainReport}`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
            restarts_total: self.restarts_total.load(Ordering::Relaxed),
            active_services: self.active_services.load(Ordering::Relaxed),
            spawned_total: self.spawned_total.load(Ordering::Relaxed),
            terminated_total: self.terminated_total.load(Ordering::Relaxed),
            circuit_breaker_trips: self.circuit_breaker_trips.load(Ordering::Relaxed),
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

/// What [`JanusSupervisor::wait_for_drain`](crate::supervisor::JanusSupervisor::wait_for_drain) (or a tree's
/// [`wait`](crate::tree::SupervisorHandle::wait)) found, over the whole
/// tree: nested supervisors' children included, named by their paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DrainReport {
    /// Services that stopped by themselves (or had already terminated).
    pub stopped: usize,
    /// Services the drain aborted because they outlived their shutdown
    /// timeout (or whose supervisor was aborted), by path. What a nested
    /// supervisor aborted before the drain reached it (restarting its own
    /// children, or stopping them as it gave up) is not the drain's. The
    /// decision is made at the deadline: a service whose code returned in
    /// that very instant, before its exit reached the supervisor, is named
    /// too. One whose task had not begun to run the service yet (a starved
    /// runtime) had nothing to abort: it is counted as stopped.
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
