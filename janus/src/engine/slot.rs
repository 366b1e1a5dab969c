//! One supervised child: what it is, and its state behind a lock of its own.
//!
//! The registry is written only when children are added; every lifecycle
//! transition locks just the slot of the child it concerns, so children never
//! contend with each other, and a snapshot reads each slot briefly.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use prometheus::IntCounter;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Core;
use crate::backoff::BackoffState;
use crate::events::{EventHub, LifecycleEvent};
use crate::lifecycle::{
    ServiceLifecycle, ServiceLifecycleSnapshot, ServicePhase, TerminationReason, TransitionError,
};
use crate::service::{JanusService, RestartPolicy};

/// An illegal transition is a supervisor bug: tests (debug builds) fail on it
/// loudly; a release build logs it and keeps supervising.
pub(crate) fn checked(result: Result<(), TransitionError>) -> bool {
    match result {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, "janus: illegal lifecycle transition");
            debug_assert!(false, "{error}");
            false
        }
    }
}

/// Why the supervisor asked a child to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopWhy {
    /// The supervisor shuts down.
    Shutdown,
    /// `stop_child` / `restart_child`.
    Command,
    /// A sibling's failure restarts this child with it.
    Group,
}

/// What [`SlotState::stop_for_shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShutdownStop {
    /// Nothing new to wait for: the child has terminated, or its run was
    /// cancelled and was already waited for.
    Nothing,
    /// Marked `Stopping`; it has no run to cancel (the control loop stops it).
    NoRun,
    /// Its run was cancelled, and is waited for until this deadline (to be counted).
    Waited(Instant),
}

/// The task running (or about to run) one attempt of a child.
#[derive(Debug)]
pub(crate) struct Attempt {
    /// Kept as spawned: taking an abort handle from it would cost a
    /// reference count per launch.
    pub(crate) task: JoinHandle<()>,
}

#[derive(Debug)]
pub(crate) struct SlotState {
    pub(crate) lifecycle: ServiceLifecycle,
    pub(crate) backoff: BackoffState,
    /// Bumped at each launch and abort; exits of older attempts are ignored.
    pub(crate) generation: u64,
    /// When the supervisor stops waiting for this child to stop.
    pub(crate) stop_deadline: Option<tokio::time::Instant>,
    /// The last generation whose end the actor has handled.
    pub(crate) ended_generation: u64,
    pub(crate) attempt: Option<Attempt>,
    /// The current run's cancellation. Created by the attempt as it starts
    /// (at launch for one that first waits out a backoff): spawning a
    /// service allocates no token on the caller's thread.
    pub(crate) run_token: Option<CancellationToken>,
    pub(crate) stop: Option<StopWhy>,
    /// Ready, during the current run (see `JanusService::reports_readiness`).
    pub(crate) ready: bool,
    /// What few children use; see [`SlotState::rare`].
    rare: Option<Box<Rare>>,
}

/// The state few children use, in a box made when first needed: a
/// supervisor keeps a slot per child, and most never restart, nest a
/// supervisor, get aborted or send heartbeats.
#[derive(Debug, Default)]
pub(crate) struct Rare {
    /// The running subtree, when this child is a supervisor.
    pub(crate) subtree: Option<Arc<Core>>,
    /// The child's series of the restart counter, from its first restart.
    pub(crate) restarts_counter: Option<IntCounter>,
    /// An aborted task, kept to tell whether it really ended.
    pub(crate) aborted: Option<JoinHandle<()>>,
    /// The last sign of life of the current run (services with a heartbeat
    /// deadline).
    pub(crate) last_heartbeat: Option<Instant>,
}

/// A child's service: owned (spawned once), or shared (a tree's spec runs
/// its children again at each of its own restarts).
pub(crate) enum ServiceRef {
    Owned(Box<dyn JanusService>),
    Shared(Arc<dyn JanusService>),
}

impl std::ops::Deref for ServiceRef {
    type Target = dyn JanusService;

    fn deref(&self) -> &Self::Target {
        match self {
            Self::Owned(service) => &**service,
            Self::Shared(service) => &**service,
        }
    }
}

/// A supervised child.
pub(crate) struct Slot {
    pub(crate) path: Arc<str>,
    pub(crate) service: ServiceRef,
    pub(crate) policy: RestartPolicy,
    pub(crate) critical: bool,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) reports_readiness: bool,
    pub(crate) heartbeat_timeout: Option<Duration>,
    events: Arc<EventHub>,
    state: Mutex<SlotState>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("path", &self.path)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Applies transitions to a locked slot and publishes them as events.
pub(crate) struct Transitions<'a> {
    path: &'a Arc<str>,
    events: &'a EventHub,
}

impl Transitions<'_> {
    /// Applies `change` to `lifecycle`; publishes the event if it happened.
    pub(crate) fn apply(
        &self,
        lifecycle: &mut ServiceLifecycle,
        reason: Option<&str>,
        change: impl FnOnce(&mut ServiceLifecycle) -> Result<(), TransitionError>,
    ) -> bool {
        let from = lifecycle.phase();
        if !checked(change(lifecycle)) {
            return false;
        }
        if self.events.is_observed() {
            let to = lifecycle.phase();
            let reason = match to {
                ServicePhase::Terminated => lifecycle.termination_reason().map(ToString::to_string),
                _ => reason.map(str::to_owned),
            };
            self.events.publish(LifecycleEvent {
                path: self.path.to_string(),
                from,
                to,
                reason,
            });
        }
        true
    }
}

pub(crate) struct SlotConfig {
    pub(crate) name: Arc<str>,
    pub(crate) path: Arc<str>,
    pub(crate) service: ServiceRef,
    pub(crate) policy: RestartPolicy,
    pub(crate) critical: bool,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) backoff: Arc<crate::backoff::BackoffConfig>,
}

impl Slot {
    pub(crate) fn new(config: SlotConfig, events: Arc<EventHub>) -> Self {
        let reports_readiness = config.service.reports_readiness();
        let heartbeat_timeout = config.service.heartbeat_timeout();
        let SlotConfig {
            name,
            path,
            service,
            policy,
            critical,
            shutdown_timeout,
            backoff,
        } = config;
        Self {
            state: Mutex::new(SlotState {
                lifecycle: ServiceLifecycle::with_shared_name(name),
                backoff: BackoffState::shared(backoff),
                generation: 0,
                ended_generation: 0,
                stop_deadline: None,
                attempt: None,
                run_token: None,
                stop: None,
                ready: false,
                rare: None,
            }),
            reports_readiness,
            heartbeat_timeout,
            path,
            service,
            policy,
            critical,
            shutdown_timeout,
            events,
        }
    }

    /// The child's name: its path from `offset` (its supervisor's path and a `/`).
    pub(crate) fn name(&self, offset: usize) -> &str {
        self.path.get(offset..).unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // Nothing panics while holding this lock; were it poisoned anyway,
        // the state is still a consistent value worth reading.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the locked state, with a way to apply transitions.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut SlotState, &Transitions<'_>) -> R) -> R {
        let mut state = self.lock();
        f(
            &mut state,
            &Transitions {
                path: &self.path,
                events: &self.events,
            },
        )
    }

    pub(crate) fn phase(&self) -> ServicePhase {
        self.lock().lifecycle.phase()
    }

    /// This child's snapshot, then its subtree's, depth first.
    pub(crate) fn collect(&self, out: &mut Vec<ServiceLifecycleSnapshot>) {
        let subtree = {
            let state = self.lock();
            let mut snapshot = ServiceLifecycleSnapshot::from(&state.lifecycle);
            snapshot.path = self.path.to_string();
            snapshot.ready = state.ready && snapshot.phase == ServicePhase::Running;
            snapshot.critical = self.critical;
            out.push(snapshot);
            state.subtree().cloned()
        };
        if let Some(subtree) = subtree {
            subtree.collect(out);
        }
    }

    /// Terminates the child for `reason`, exactly once: the time it spent
    /// running if this call did it, `None` if it had already terminated.
    pub(crate) fn terminate(&self, reason: TerminationReason) -> Option<Duration> {
        self.with(|state, tx| state.terminate(tx, reason))
    }
}

impl SlotState {
    /// The state few children use, made on first use.
    pub(crate) fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_default()
    }

    /// The running subtree, when this child is a supervisor.
    pub(crate) fn subtree(&self) -> Option<&Arc<Core>> {
        self.rare.as_ref()?.subtree.as_ref()
    }

    /// The last sign of life of the current run, if it has a heartbeat deadline.
    pub(crate) fn last_heartbeat(&self) -> Option<Instant> {
        self.rare.as_ref()?.last_heartbeat
    }

    /// An aborted task that has not finished (it does not unwind: blocked
    /// in synchronous code).
    pub(crate) fn unresponsive(&self) -> bool {
        self.rare
            .as_ref()
            .and_then(|rare| rare.aborted.as_ref())
            .is_some_and(|task| !task.is_finished())
    }

    /// Cancels the current run, if it has started (one that has not sees
    /// `stop` as it starts, and does not).
    pub(crate) fn cancel_run(&self) {
        if let Some(token) = &self.run_token {
            token.cancel();
        }
    }

    /// Forgets the attempt that ended (or is aborted): its task, and its
    /// run's cancellation.
    pub(crate) fn end_attempt(&mut self) -> Option<Attempt> {
        self.run_token = None;
        self.attempt.take()
    }

    /// Asks the child to stop for a shutdown that stops everyone at once:
    /// `Stopping`, and its run cancelled and waited for until `now` plus its
    /// timeout (unless already waited for, by a group restart or a command).
    /// A child without a run under way is left to the control loop.
    pub(crate) fn stop_for_shutdown(
        &mut self,
        tx: &Transitions<'_>,
        slot: &Slot,
        now: Instant,
    ) -> ShutdownStop {
        let phase = self.lifecycle.phase();
        if phase.is_terminal() {
            return ShutdownStop::Nothing;
        }
        self.stop = Some(StopWhy::Shutdown);
        if phase.is_alive() {
            tx.apply(
                &mut self.lifecycle,
                None,
                ServiceLifecycle::transition_to_stopping,
            );
        }
        if self.attempt.is_none() {
            return ShutdownStop::NoRun;
        }
        self.cancel_run();
        if self.stop_deadline.is_some() {
            return ShutdownStop::Nothing;
        }
        let deadline = now + slot.shutdown_timeout;
        self.stop_deadline = Some(deadline);
        ShutdownStop::Waited(deadline)
    }

    /// [`Slot::terminate`], on an already locked slot.
    pub(crate) fn terminate(
        &mut self,
        tx: &Transitions<'_>,
        reason: TerminationReason,
    ) -> Option<Duration> {
        let lc = &mut self.lifecycle;
        if lc.phase().is_terminal() {
            return None;
        }
        let by_shutdown = matches!(
            reason,
            TerminationReason::Cancelled
                | TerminationReason::Aborted
                | TerminationReason::FailedDuringShutdown(_)
        );
        if by_shutdown && lc.phase().is_alive() {
            tx.apply(lc, None, ServiceLifecycle::transition_to_stopping);
        }
        tx.apply(lc, None, |lc| lc.transition_to_terminated(reason));
        self.stop = None;
        Some(self.lifecycle.cumulative_running_time())
    }
}
#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    /// A supervisor keeps a slot per child, idle or not: what most children
    /// never use (an error, a termination reason, the breaker's window, the
    /// state in `Rare`) is boxed when first needed.
    #[test]
    fn a_slot_stays_small() {
        let size = size_of::<super::Slot>();
        assert!(size <= 312, "a slot takes {size} bytes");
    }
}
