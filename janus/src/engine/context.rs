//! The context of a supervised run: which child it is, and which
//! supervisor it runs under. Each attempt moves its context into a
//! thread-local for the duration of each poll of its run (see [`enter`]);
//! `janus::context` reads it for the service.
//!
//! A thread-local swapped per poll rather than `tokio::task_local!`: the
//! attempt is a future written by hand that keeps its context in its own
//! state, and a task-local scope would wrap the run in a second future,
//! making every idle service's task larger (see `attempt.rs`).

use std::cell::RefCell;
use std::sync::Arc;

use super::Core;
use super::slot::Slot;

thread_local! {
    /// The context of the attempt being polled on this thread: each attempt
    /// moves its context in for the duration of a poll (see [`enter`]).
    static CONTEXT: RefCell<Option<ServiceContext>> = const { RefCell::new(None) };
}

/// The supervised child an attempt belongs to, and what its tree shares.
#[derive(Clone)]
pub(crate) struct ServiceContext {
    pub(crate) slot: Arc<Slot>,
    /// The supervisor the service is a child of.
    pub(crate) core: Arc<Core>,
}

/// Runs `f` (a poll of the service's run, or its drop) with `context` as the
/// current service context: moved in, and back out afterwards, even if `f`
/// unwinds. The attempt keeps its context in its own state between polls,
/// so entering costs no reference counting.
pub(crate) fn enter<R>(context: &mut Option<ServiceContext>, f: impl FnOnce() -> R) -> R {
    struct Restore<'a> {
        context: &'a mut Option<ServiceContext>,
        previous: Option<ServiceContext>,
    }
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let previous = self.previous.take();
            if let Ok(context) = CONTEXT.try_with(|current| current.replace(previous)) {
                *self.context = context;
            }
        }
    }
    // A thread being torn down (its thread-locals gone) may still drop an
    // attempt: it runs without a context then.
    let Ok(previous) = CONTEXT.try_with(|current| current.replace(context.take())) else {
        return f();
    };
    let _restore = Restore { context, previous };
    f()
}

/// `f` on the current service context, if there is one.
fn with_current<R>(f: impl FnOnce(&ServiceContext) -> R) -> Option<R> {
    CONTEXT
        .try_with(|current| current.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// The context of the service whose attempt is running on this task, if any.
pub(crate) fn current() -> Option<ServiceContext> {
    with_current(Clone::clone)
}

/// Marks the current run ready, or not; tells the control loop if it
/// waits for this run to be ready (ordered start).
pub(crate) fn set_ready(ready: bool) {
    with_current(|c| {
        let announce = c.slot.with(|state, _| {
            state.set_ready(ready);
            ready && std::mem::take(&mut state.awaited)
        });
        if announce {
            c.core.send(super::Message::Ready);
        }
    });
}

/// The current run's `#[on_start]` succeeded: a child that reports its
/// readiness is ready now (the others were ready as they started, and
/// take no lock here).
pub(crate) fn started() {
    with_current(|c| {
        if c.slot.reports_readiness {
            set_ready(true);
        }
    });
}

/// Records a heartbeat of the current run, if it has a deadline.
pub(crate) fn heartbeat() {
    with_current(|c| {
        // The deadline is fixed for the child: no lock without one.
        if c.slot.heartbeat_timeout.is_some() {
            c.slot.with(|state, _| {
                state.rare().last_heartbeat = Some(tokio::time::Instant::now());
            });
        }
    });
}

/// The path of the current run's child.
pub(crate) fn current_path() -> Option<String> {
    with_current(|c| c.slot.path.to_string())
}

/// Why the supervisor asked the current run to stop, if it did.
pub(crate) fn stop_requested() -> Option<super::slot::StopWhy> {
    with_current(|c| c.slot.with(|state, _| state.stop)).flatten()
}

/// The root of the tree the current run belongs to.
pub(crate) fn current_root() -> Option<Arc<Core>> {
    with_current(|c| c.core.root_weak().upgrade()).flatten()
}
