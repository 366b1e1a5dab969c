//! What a running service can learn about where it runs: the task-local
//! context each attempt of a supervised service is polled in.

use std::future::Future;
use std::sync::Arc;

use crate::engine::Core;
use crate::engine::slot::Slot;

tokio::task_local! {
    static CONTEXT: ServiceContext;
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
    CONTEXT
        .try_with(|c| c.core.root_weak().upgrade())
        .ok()
        .flatten()
        .map(|core| crate::tree::SupervisorHandle { core })
}

/// Runs `future` with `context` as the current service context.
pub(crate) async fn scope<F: Future>(context: ServiceContext, future: F) -> F::Output {
    CONTEXT.scope(context, future).await
}

/// The context of the service whose attempt is running on this task, if any.
pub(crate) fn current() -> Option<ServiceContext> {
    CONTEXT.try_with(Clone::clone).ok()
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
    let _ = CONTEXT.try_with(|c| c.slot.with(|state, _| state.ready = ready));
}

/// Tells the supervisor the current service is alive. A service with a
/// [`heartbeat_timeout`](crate::service::JanusService::heartbeat_timeout)
/// that goes longer than that without one fails. Each completed `#[step]`
/// of a `#[janus::service]` is a heartbeat. Does nothing outside a
/// supervised service.
pub fn heartbeat() {
    let _ = CONTEXT.try_with(|c| {
        c.slot
            .with(|state, _| state.last_heartbeat = tokio::time::Instant::now());
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
    CONTEXT.try_with(|c| c.slot.path.to_string()).ok()
}
