//! What a running service can learn about where it runs: the task-local
//! context each attempt of a supervised service is polled in.

use std::cell::RefCell;
use std::sync::Arc;

use crate::engine::Core;
use crate::engine::slot::Slot;

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

/// A handle to the root of the tree the current service runs in (what the
/// status endpoint and the systemd notifier report on), or `None` outside a
/// supervised service.
///
/// ```
/// assert!(janus::context::root().is_none());
/// ```
#[must_use]
pub fn root() -> Option<crate::tree::SupervisorHandle> {
    with_current(|c| c.core.root_weak().upgrade())
        .flatten()
        .map(|core| crate::tree::SupervisorHandle { core })
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

/// Marks the current service ready: it now counts for `/readyz` and
/// systemd's `READY=1`. For services whose
/// [`reports_readiness`](crate::service::JanusService::reports_readiness) is
/// `true`; others are ready whenever they run. Does nothing outside a
/// supervised service.
///
/// ```
/// janus::context::mark_ready(); // outside a service: nothing happens
/// ```
pub fn mark_ready() {
    set_ready(true);
}

/// Marks the current service not ready (it lost its upstream, say), until
/// [`mark_ready`] again.
pub fn mark_not_ready() {
    set_ready(false);
}

fn set_ready(ready: bool) {
    with_current(|c| c.slot.with(|state, _| state.ready = ready));
}

/// Tells the supervisor the current service is alive. A service with a
/// [`heartbeat_timeout`](crate::service::JanusService::heartbeat_timeout)
/// that goes longer than that without one fails. Each completed `#[step]`
/// of a `#[janus::service]` is a heartbeat. Does nothing outside a
/// supervised service.
pub fn heartbeat() {
    with_current(|c| {
        c.slot.with(|state, _| {
            if c.slot.heartbeat_timeout.is_some() {
                state.rare().last_heartbeat = Some(tokio::time::Instant::now());
            }
        });
    });
}

/// The tree path of the supervised service running on this task (e.g.
/// `trading-desk/risk/limits`), or `None` outside a supervised service.
///
/// ```
/// assert_eq!(janus::context::current_path(), None);
/// ```
#[must_use]
pub fn current_path() -> Option<String> {
    with_current(|c| c.slot.path.to_string())
}
