//! What a running service can tell its supervisor (it is ready, it is
//! alive) and learn about where it runs (its path, the root of its tree).
//! Each function works on the run it is called from, and does nothing
//! outside a supervised service.

use crate::engine::context as run;
use crate::service::StopReason;

/// A handle to the root of the tree the current service runs in (what the
/// status endpoint and the systemd notifier report on), or `None` outside a
/// supervised service.
///
/// ```
/// assert!(janus::context::root().is_none());
/// ```
#[must_use]
pub fn root() -> Option<crate::tree::SupervisorHandle> {
    run::current_root().map(|core| crate::tree::SupervisorHandle { core })
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
    run::set_ready(true);
}

/// Marks the current service not ready (it lost its upstream, say), until
/// [`mark_ready`] again.
pub fn mark_not_ready() {
    run::set_ready(false);
}

/// Tells the supervisor the current service is alive. A service with a
/// [`heartbeat_timeout`](crate::service::JanusService::heartbeat_timeout)
/// that goes longer than that without one fails. Each completed `#[step]`
/// of a `#[janus::service]` is a heartbeat. Does nothing outside a
/// supervised service.
pub fn heartbeat() {
    run::heartbeat();
}

/// Why the supervisor asked the current run to stop, if it has: for a
/// service that drains its work on a shutdown but not before a restart,
/// say. `None` while it is not asked, and outside a supervised service.
/// (`#[on_stop]` methods of `#[janus::service]` get the whole answer, a
/// [`StopReason`].)
///
/// ```
/// assert_eq!(janus::context::stop_requested(), None);
/// ```
#[must_use]
pub fn stop_requested() -> Option<StopReason> {
    use crate::engine::slot::StopWhy;
    run::stop_requested().map(|why| match why {
        StopWhy::Shutdown => StopReason::Shutdown,
        StopWhy::Group => StopReason::GroupRestart,
        StopWhy::Command => StopReason::Command,
        StopWhy::StartTimeout => StopReason::Failed,
    })
}

/// Why a run ended, once it has: what the supervisor asked
/// ([`stop_requested`]), or else whether it failed or completed.
pub(crate) fn run_ended(cancelled: bool, failed: bool) -> StopReason {
    // A run asked to stop has its token cancelled (under the same lock):
    // one that was not, was not asked.
    if !cancelled {
        return if failed {
            StopReason::Failed
        } else {
            StopReason::Completed
        };
    }
    match stop_requested() {
        Some(StopReason::Failed) | None if failed => StopReason::Failed,
        Some(reason) => reason,
        // Cancelled by whoever called `run()` directly (a test, a wrapper).
        None if cancelled => StopReason::Shutdown,
        None => StopReason::Completed,
    }
}

/// The tree path of the supervised service running on this task (e.g.
/// `trading-desk/risk/limits`), or `None` outside a supervised service.
///
/// ```
/// assert_eq!(janus::context::current_path(), None);
/// ```
#[must_use]
pub fn current_path() -> Option<String> {
    run::current_path()
}
