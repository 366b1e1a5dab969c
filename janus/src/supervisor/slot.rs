//! One service's shared state: its lifecycle behind a lock of its own.
//!
//! The supervisor's registry maps names to slots and is written only when a
//! service is spawned; every lifecycle transition locks just the slot of the
//! service it concerns, so services never contend with each other.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::lifecycle::{ServiceLifecycle, ServiceLifecycleSnapshot, TerminationReason};

#[derive(Debug)]
pub(crate) struct ServiceSlot {
    pub(crate) name: Arc<str>,
    pub(crate) cancel: CancellationToken,
    pub(crate) shutdown_timeout: Duration,
    state: Mutex<SlotState>,
}

#[derive(Debug)]
struct SlotState {
    lifecycle: ServiceLifecycle,
    task: Option<AbortHandle>,
}

impl ServiceSlot {
    pub(crate) fn new(
        name: Arc<str>,
        cancel: CancellationToken,
        shutdown_timeout: Duration,
    ) -> Self {
        Self {
            state: Mutex::new(SlotState {
                lifecycle: ServiceLifecycle::with_shared_name(name.clone()),
                task: None,
            }),
            name,
            cancel,
            shutdown_timeout,
        }
    }

    fn state(&self) -> MutexGuard<'_, SlotState> {
        // Nothing panics while holding this lock; if something ever did, the
        // lifecycle is still a consistent value worth reading.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the lifecycle under the slot's lock.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut ServiceLifecycle) -> R) -> R {
        f(&mut self.state().lifecycle)
    }

    pub(crate) fn snapshot(&self) -> ServiceLifecycleSnapshot {
        ServiceLifecycleSnapshot::from(&self.state().lifecycle)
    }

    pub(crate) fn is_terminal(&self) -> bool {
        self.state().lifecycle.phase().is_terminal()
    }

    pub(crate) fn set_task(&self, task: AbortHandle) {
        self.state().task = Some(task);
    }

    /// Whether the slot's task has finished (or never started).
    pub(crate) fn task_finished(&self) -> bool {
        self.state()
            .task
            .as_ref()
            .is_none_or(AbortHandle::is_finished)
    }

    /// `Starting | Running | BackingOff → Stopping`, if the service is alive.
    pub(crate) fn mark_stopping(&self) {
        self.with(|lc| {
            if lc.phase().is_alive() {
                super::runner::checked(lc.transition_to_stopping());
            }
        });
    }

    /// Terminates the service for `reason`, exactly once: returns the time it
    /// spent running if this call did it, `None` if it was already terminated.
    pub(crate) fn terminate(&self, reason: TerminationReason) -> Option<Duration> {
        let mut state = self.state();
        Self::terminate_locked(&mut state.lifecycle, reason)
    }

    /// Aborts the service's task and terminates it as
    /// [`TerminationReason::Aborted`], unless it already terminated.
    pub(crate) fn abort(&self) -> Option<Duration> {
        let mut state = self.state();
        let uptime = Self::terminate_locked(&mut state.lifecycle, TerminationReason::Aborted)?;
        if let Some(task) = &state.task {
            task.abort();
        }
        Some(uptime)
    }

    fn terminate_locked(lc: &mut ServiceLifecycle, reason: TerminationReason) -> Option<Duration> {
        if lc.phase().is_terminal() {
            return None;
        }
        let shutdown = matches!(
            reason,
            TerminationReason::Cancelled
                | TerminationReason::Aborted
                | TerminationReason::FailedDuringShutdown(_)
        );
        if shutdown && lc.phase().is_alive() {
            super::runner::checked(lc.transition_to_stopping());
        }
        super::runner::checked(lc.transition_to_terminated(reason));
        Some(lc.cumulative_running_time())
    }
}
