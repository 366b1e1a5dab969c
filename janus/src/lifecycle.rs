//! The lifecycle state machine of a supervised service.
//!
//! ```text
//!             ┌──────────────────────────────┐
//!             ▼                              │ restart
//!  Starting ──► Running ──► BackingOff ──────┘
//!     │ │          │            ▲  │
//!     │ └──────────┼────────────┘  │   (stopped before it ran, by a
//!     │            ▼               │    sibling's group restart)
//!     └──────► Stopping ◄──────────┘
//!     │            │
//!     ▼            ▼
//!  Terminated ◄────┘   (also straight from Running / BackingOff)
//! ```
//!
//! | from \ to | Starting | Running | BackingOff | Stopping | Terminated |
//! |---|---|---|---|---|---|
//! | Starting | | ✓ | ✓ | ✓ | ✓ |
//! | Running | | | ✓ | ✓ | ✓ |
//! | BackingOff | ✓ | | | ✓ | ✓ |
//! | Stopping | | | | | ✓ |
//! | Terminated | | | | | |
//!
//! Every transition is checked: an illegal one returns a [`TransitionError`]
//! and leaves the lifecycle unchanged. `Terminated` is final, except that an
//! operator's explicit restart of a terminated child
//! ([`SupervisorHandle::restart_child`](crate::tree::SupervisorHandle::restart_child))
//! starts it again as `Starting`, keeping its counters.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::service::RestartPolicy;

/// The phase a service is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServicePhase {
    /// Registered, about to run (first start or restart).
    Starting,
    /// Inside `run()`.
    Running,
    /// `run()` returned; waiting out the backoff delay before a restart.
    BackingOff,
    /// Cancellation was requested; waiting for `run()` to return.
    Stopping,
    /// Done for good; the snapshot's `termination_reason` says why.
    Terminated,
}

impl ServicePhase {
    /// The phase's snake_case name, as `Display` prints it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::BackingOff => "backing_off",
            Self::Stopping => "stopping",
            Self::Terminated => "terminated",
        }
    }

    /// In service and not shutting down: `Starting`, `Running` or `BackingOff`.
    #[must_use]
    pub const fn is_alive(self) -> bool {
        matches!(self, Self::Starting | Self::Running | Self::BackingOff)
    }

    /// `Terminated`: nothing will run again.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Terminated)
    }

    /// Whether the transition table allows `self → to`.
    #[must_use]
    pub const fn can_transition_to(self, to: Self) -> bool {
        use ServicePhase::{BackingOff, Running, Starting, Stopping, Terminated};
        matches!(
            (self, to),
            (Starting, Running | BackingOff | Stopping | Terminated)
                | (Running, BackingOff | Stopping | Terminated)
                | (BackingOff, Starting | Stopping | Terminated)
                | (Stopping, Terminated)
        )
    }
}

impl std::fmt::Display for ServicePhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a service reached [`ServicePhase::Terminated`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TerminationReason {
    /// `run()` returned `Ok(())` and the policy does not restart it.
    Completed,
    /// Stopped by shutdown (or by its supervisor) and returned cleanly.
    Cancelled,
    /// Failed (error or panic) under a policy that does not restart.
    Unrecoverable(String),
    /// Too many restarts within the circuit breaker's window.
    CircuitBreakerOpen {
        /// Restarts counted in the window.
        failures: u32,
        /// The breaker's limit.
        max_retries: u32,
    },
    /// Did not stop within its shutdown timeout and was aborted.
    Aborted,
    /// Returned an error (or panicked) while shutting down.
    FailedDuringShutdown(String),
}

impl TerminationReason {
    /// Whether this ending is a failure of the service (everything but
    /// `Completed` and `Cancelled`).
    #[must_use]
    pub fn is_failure(&self) -> bool {
        !matches!(self, Self::Completed | Self::Cancelled)
    }
}

impl std::fmt::Display for TerminationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Completed => f.write_str("completed"),
            Self::Cancelled => f.write_str("cancelled"),
            Self::Unrecoverable(error) => write!(f, "unrecoverable: {error}"),
            Self::CircuitBreakerOpen {
                failures,
                max_retries,
            } => write!(
                f,
                "circuit breaker open ({failures}/{max_retries} failures)"
            ),
            Self::Aborted => f.write_str("aborted after shutdown timeout"),
            Self::FailedDuringShutdown(error) => write!(f, "failed during shutdown: {error}"),
        }
    }
}

/// A transition the table does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal lifecycle transition for service '{service}': {from} -> {to}")]
pub struct TransitionError {
    /// The service whose lifecycle refused the transition.
    pub service: String,
    /// The phase it was in.
    pub from: ServicePhase,
    /// The phase that was asked for.
    pub to: ServicePhase,
}

/// The lifecycle of one service: its phase and history.
///
/// ```
/// use janus::supervisor::{ServiceLifecycle, ServicePhase, TerminationReason};
///
/// let mut lc = ServiceLifecycle::new("feed");
/// lc.transition_to_running()?;
/// lc.transition_to_stopping()?;
/// lc.transition_to_terminated(TerminationReason::Cancelled)?;
/// assert_eq!(lc.phase(), ServicePhase::Terminated);
/// assert!(lc.transition_to_running().is_err());
/// # Ok::<(), janus::supervisor::TransitionError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServiceLifecycle {
    name: Arc<str>,
    phase: ServicePhase,
    start_count: u64,
    total_failures: u64,
    /// Boxed, like the reason: most lifecycles never hold either, and a
    /// supervisor keeps one per child.
    last_error: Option<Box<str>>,
    termination_reason: Option<Box<TerminationReason>>,
    backoff_delay: Option<Duration>,
    /// When the current phase began (while `Running`, when the run began).
    phase_since: Instant,
    /// Time spent `Running` in runs that have ended.
    cumulative_running: Duration,
}

impl ServiceLifecycle {
    /// A lifecycle in [`ServicePhase::Starting`].
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self::with_shared_name(Arc::from(name))
    }

    pub(crate) fn with_shared_name(name: Arc<str>) -> Self {
        Self {
            name,
            phase: ServicePhase::Starting,
            start_count: 0,
            total_failures: 0,
            last_error: None,
            termination_reason: None,
            backoff_delay: None,
            phase_since: Instant::now(),
            cumulative_running: Duration::ZERO,
        }
    }

    /// The service's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current phase.
    #[must_use]
    pub fn phase(&self) -> ServicePhase {
        self.phase
    }

    /// How many times the service entered `Running`.
    #[must_use]
    pub fn start_count(&self) -> u64 {
        self.start_count
    }

    /// Failures recorded so far (errors and panics; clean exits are not failures).
    #[must_use]
    pub fn total_failures(&self) -> u64 {
        self.total_failures
    }

    /// The most recent failure's message.
    #[must_use]
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Why the service terminated, once it has.
    #[must_use]
    pub fn termination_reason(&self) -> Option<&TerminationReason> {
        self.termination_reason.as_deref()
    }

    /// The delay of the current backoff, while `BackingOff`.
    #[must_use]
    pub fn backoff_delay(&self) -> Option<Duration> {
        self.backoff_delay
    }

    /// How long the service has been in its current phase.
    #[must_use]
    pub fn time_in_phase(&self) -> Duration {
        self.phase_since.elapsed()
    }

    /// Total time spent `Running`, over every run, including the current one.
    #[must_use]
    pub fn cumulative_running_time(&self) -> Duration {
        match self.phase {
            ServicePhase::Running => self.cumulative_running + self.phase_since.elapsed(),
            _ => self.cumulative_running,
        }
    }

    /// `Terminated → Starting`, for an explicit restart of a terminated
    /// service; counters are kept, the termination reason is cleared.
    pub(crate) fn revive(&mut self) -> Result<(), TransitionError> {
        if self.phase != ServicePhase::Terminated {
            return Err(TransitionError {
                service: self.name.to_string(),
                from: self.phase,
                to: ServicePhase::Starting,
            });
        }
        self.phase = ServicePhase::Starting;
        self.phase_since = Instant::now();
        self.termination_reason = None;
        Ok(())
    }

    /// Records a failure: counts it and keeps its message as `last_error`.
    pub fn record_failure(&mut self, error: &str) {
        self.total_failures += 1;
        self.last_error = Some(error.into());
    }

    /// `Starting → Running`: a run begins (counted in `start_count`).
    ///
    /// # Errors
    ///
    /// [`TransitionError`] from any other phase.
    pub fn transition_to_running(&mut self) -> Result<(), TransitionError> {
        self.enter(ServicePhase::Running)?;
        self.start_count += 1;
        Ok(())
    }

    /// `Running → BackingOff`: the run ended and a restart waits `delay`;
    /// or `Starting → BackingOff`: a sibling's group restart stopped the
    /// service before its run began, and it waits to start with the group.
    ///
    /// `reason` says why it restarts; it is kept as `last_error` only if it
    /// was recorded as a failure with [`record_failure`](Self::record_failure).
    ///
    /// # Errors
    ///
    /// [`TransitionError`] from any phase but `Running` and `Starting`.
    pub fn transition_to_backing_off(
        &mut self,
        reason: &str,
        delay: Duration,
    ) -> Result<(), TransitionError> {
        self.enter(ServicePhase::BackingOff)?;
        self.backoff_delay = Some(delay);
        tracing::trace!(service = %self.name, reason, ?delay, "backing off");
        Ok(())
    }

    /// `BackingOff → Starting`: the backoff is over, a restart begins.
    ///
    /// # Errors
    ///
    /// [`TransitionError`] from any phase but `BackingOff`.
    pub fn transition_to_restarting(&mut self) -> Result<(), TransitionError> {
        self.enter(ServicePhase::Starting)?;
        self.backoff_delay = None;
        Ok(())
    }

    /// `Starting | Running | BackingOff → Stopping`: cancellation requested.
    ///
    /// # Errors
    ///
    /// [`TransitionError`] from `Stopping` or `Terminated`.
    pub fn transition_to_stopping(&mut self) -> Result<(), TransitionError> {
        self.enter(ServicePhase::Stopping)?;
        self.backoff_delay = None;
        Ok(())
    }

    /// Any phase but `Terminated` → `Terminated`, for `reason`.
    ///
    /// # Errors
    ///
    /// [`TransitionError`] if already terminated.
    pub fn transition_to_terminated(
        &mut self,
        reason: TerminationReason,
    ) -> Result<(), TransitionError> {
        self.enter(ServicePhase::Terminated)?;
        self.backoff_delay = None;
        self.termination_reason = Some(Box::new(reason));
        Ok(())
    }

    fn enter(&mut self, to: ServicePhase) -> Result<(), TransitionError> {
        if !self.phase.can_transition_to(to) {
            return Err(TransitionError {
                service: self.name.to_string(),
                from: self.phase,
                to,
            });
        }
        let now = Instant::now();
        if self.phase == ServicePhase::Running {
            self.cumulative_running += now.saturating_duration_since(self.phase_since);
        }
        self.phase = to;
        self.phase_since = now;
        Ok(())
    }
}

/// A plain-data copy of a [`ServiceLifecycle`], for status pages and logs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServiceLifecycleSnapshot {
    /// The service's name.
    pub service_name: String,
    /// The service's path in its supervision tree, e.g.
    /// `trading-desk/risk/limits` (the name, under a flat supervisor).
    #[serde(default)]
    pub path: String,
    /// The phase at the time of the snapshot.
    pub phase: ServicePhase,
    /// Runs started so far.
    pub start_count: u64,
    /// Restarts so far (`start_count - 1`, or 0).
    pub restart_count: u64,
    /// Failures so far (errors and panics).
    pub total_failures: u64,
    /// The most recent failure's message.
    pub last_error: Option<String>,
    /// Why the service terminated (the `Display` of [`TerminationReason`]).
    pub termination_reason: Option<String>,
    /// The current backoff delay in milliseconds, while backing off.
    pub backoff_delay_ms: Option<u64>,
    /// Milliseconds spent in the current phase.
    pub time_in_phase_ms: u64,
    /// Running, and ready (see [`JanusService::reports_readiness`](crate::service::JanusService::reports_readiness)).
    #[serde(default)]
    pub ready: bool,
    /// Critical to its supervisor.
    #[serde(default)]
    pub critical: bool,
    /// May be given up on without its supervisor escalating.
    #[serde(default)]
    pub expendable: bool,
    /// Its end may end its supervisor ([`AutoShutdown`](crate::tree::AutoShutdown)).
    #[serde(default)]
    pub significant: bool,
    /// A worker or a supervisor (OTP's child `type`).
    #[serde(default)]
    pub kind: ChildKind,
    /// Its restart policy, as its supervisor applies it (its own, or the
    /// one its supervisor gave it).
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// How long it is given to stop before it is aborted, in
    /// milliseconds; `None`: as long as it takes (`infinity`).
    #[serde(default)]
    pub shutdown_timeout_ms: Option<u64>,
    /// Seconds spent running, over every run.
    pub cumulative_running_secs: f64,
}

/// Whether a child is a worker or a supervisor (OTP's child `type`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ChildKind {
    /// A service.
    #[default]
    Worker,
    /// A supervisor: a tree's spec, or a dynamic supervisor.
    Supervisor,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<&ServiceLifecycle> for ServiceLifecycleSnapshot {
    fn from(lc: &ServiceLifecycle) -> Self {
        Self {
            service_name: lc.name.to_string(),
            path: lc.name.to_string(),
            phase: lc.phase,
            start_count: lc.start_count,
            restart_count: lc.start_count.saturating_sub(1),
            total_failures: lc.total_failures,
            last_error: lc.last_error.as_deref().map(str::to_owned),
            termination_reason: lc.termination_reason.as_ref().map(ToString::to_string),
            backoff_delay_ms: lc.backoff_delay.map(millis),
            time_in_phase_ms: millis(lc.time_in_phase()),
            ready: lc.phase == ServicePhase::Running,
            critical: false,
            expendable: false,
            significant: false,
            kind: ChildKind::Worker,
            restart_policy: RestartPolicy::default(),
            shutdown_timeout_ms: None,
            cumulative_running_secs: lc.cumulative_running_time().as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ServicePhase; 5] = [
        ServicePhase::Starting,
        ServicePhase::Running,
        ServicePhase::BackingOff,
        ServicePhase::Stopping,
        ServicePhase::Terminated,
    ];

    #[test]
    fn display_strings() {
        let shown: Vec<String> = ALL.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "starting",
                "running",
                "backing_off",
                "stopping",
                "terminated"
            ]
        );
        assert_eq!(TerminationReason::Completed.to_string(), "completed");
        assert_eq!(TerminationReason::Cancelled.to_string(), "cancelled");
        assert_eq!(
            TerminationReason::Unrecoverable("boom".into()).to_string(),
            "unrecoverable: boom"
        );
        assert_eq!(
            TerminationReason::CircuitBreakerOpen {
                failures: 3,
                max_retries: 3
            }
            .to_string(),
            "circuit breaker open (3/3 failures)"
        );
        assert_eq!(
            TerminationReason::Aborted.to_string(),
            "aborted after shutdown timeout"
        );
    }

    #[test]
    fn phase_predicates() {
        let alive: Vec<_> = ALL.iter().filter(|p| p.is_alive()).collect();
        assert_eq!(
            alive,
            [
                &ServicePhase::Starting,
                &ServicePhase::Running,
                &ServicePhase::BackingOff
            ]
        );
        assert!(ServicePhase::Terminated.is_terminal());
        assert!(!ServicePhase::Stopping.is_terminal());
        assert_eq!(
            serde_json::to_string(&ServicePhase::BackingOff)
                .ok()
                .as_deref(),
            Some("\"backing_off\"")
        );
    }

    #[test]
    fn terminated_is_absorbing_and_errors_leave_state_unchanged() {
        let mut lc = ServiceLifecycle::new("svc");
        lc.transition_to_terminated(TerminationReason::Completed)
            .expect("starting -> terminated");
        for to in ALL {
            assert!(!ServicePhase::Terminated.can_transition_to(to));
        }
        let err = lc.transition_to_running().expect_err("terminated is final");
        assert_eq!(
            err.to_string(),
            "illegal lifecycle transition for service 'svc': terminated -> running"
        );
        assert_eq!(lc.phase(), ServicePhase::Terminated);
        assert_eq!(lc.start_count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn running_time_accumulates_over_runs() {
        let mut lc = ServiceLifecycle::new("svc");
        lc.transition_to_running().expect("start");
        tokio::time::advance(Duration::from_secs(2)).await;
        lc.record_failure("boom");
        lc.transition_to_backing_off("boom", Duration::from_secs(1))
            .expect("back off");
        tokio::time::advance(Duration::from_secs(1)).await;
        lc.transition_to_restarting().expect("restart");
        lc.transition_to_running().expect("run again");
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(lc.cumulative_running_time(), Duration::from_secs(5));
        let snap = ServiceLifecycleSnapshot::from(&lc);
        assert_eq!(snap.start_count, 2);
        assert_eq!(snap.restart_count, 1);
        assert_eq!(snap.total_failures, 1);
        assert_eq!(snap.last_error.as_deref(), Some("boom"));
        assert_eq!(snap.time_in_phase_ms, 3000);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone, Copy)]
        enum Op {
            Run,
            BackOff,
            Restart,
            Stop,
            Terminate,
            Fail,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                Just(Op::Run),
                Just(Op::BackOff),
                Just(Op::Restart),
                Just(Op::Stop),
                Just(Op::Terminate),
                Just(Op::Fail),
            ]
        }

        fn apply(lc: &mut ServiceLifecycle, op: Op) -> Option<Result<(), TransitionError>> {
            Some(match op {
                Op::Run => lc.transition_to_running(),
                Op::BackOff => lc.transition_to_backing_off("x", Duration::from_millis(1)),
                Op::Restart => lc.transition_to_restarting(),
                Op::Stop => lc.transition_to_stopping(),
                Op::Terminate => lc.transition_to_terminated(TerminationReason::Completed),
                Op::Fail => {
                    lc.record_failure("x");
                    return None;
                }
            })
        }

        proptest! {
            /// Random sequences never reach an illegal state: a refused
            /// transition changes nothing, an accepted one follows the
            /// table; counters follow the accepted transitions; and a
            /// shutdown from wherever the service is ends in `Terminated`.
            #[test]
            fn random_sequences_stay_legal_and_shut_down(ops in proptest::collection::vec(op(), 0..64)) {
                let mut lc = ServiceLifecycle::new("svc");
                let (mut runs, mut failures) = (0, 0);
                for op in ops {
                    let before = (lc.phase(), lc.start_count(), lc.termination_reason().cloned());
                    match apply(&mut lc, op) {
                        None => failures += 1,
                        Some(Ok(())) => {
                            prop_assert!(before.0.can_transition_to(lc.phase()), "{:?} -> {:?}", before.0, lc.phase());
                            if matches!(op, Op::Run) {
                                runs += 1;
                            }
                        }
                        Some(Err(error)) => {
                            prop_assert_eq!(error.from, before.0);
                            prop_assert_eq!((lc.phase(), lc.start_count(), lc.termination_reason().cloned()), before);
                        }
                    }
                    prop_assert_eq!(lc.start_count(), runs);
                    prop_assert_eq!(lc.total_failures(), failures);
                    prop_assert_eq!(lc.phase().is_terminal(), lc.termination_reason().is_some());
                }
                if lc.phase().is_alive() {
                    prop_assert!(lc.transition_to_stopping().is_ok());
                }
                if !lc.phase().is_terminal() {
                    prop_assert!(lc.transition_to_terminated(TerminationReason::Cancelled).is_ok());
                }
                prop_assert_eq!(lc.phase(), ServicePhase::Terminated);
            }
        }
    }
}
