//! The [`JanusService`] trait: the contract every supervised service implements.
//!
//! A service is a value with a name and an async `run` method that works until
//! it is cancelled, finishes, or fails. The supervisor starts it in a tracked
//! task, watches how it ends, and restarts it according to its
//! [`RestartPolicy`] and backoff.
//!
//! # Design
//!
//! - **`async_trait`** keeps the trait dyn-compatible (`Box<dyn JanusService>`);
//!   the one boxed future per attempt is negligible for long-lived services.
//! - **`CancellationToken`** is passed into `run()` so that shutdown is an
//!   explicit, cooperative signal rather than an unpredictable `Drop`.
//! - **`&self`**, not `&mut self`: the same value runs again after a restart,
//!   so state that must survive an attempt lives behind interior mutability.
//! - **Provided methods** ([`backoff_config`](JanusService::backoff_config),
//!   [`shutdown_timeout`](JanusService::shutdown_timeout)) let a service carry
//!   its own supervision settings; every one has a default, so implementations
//!   written for the seed API compile unchanged.

use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::backoff::BackoffConfig;

/// What the supervisor does when a service's `run()` returns.
///
/// | policy | `Ok(())` (clean exit) | `Err(_)` or panic |
/// |---|---|---|
/// | `Always` | restart after backoff | restart after backoff |
/// | `OnFailure` (default) | terminated, `completed` | restart after backoff |
/// | `Never` | terminated, `completed` | terminated, `unrecoverable: …` |
///
/// Every restart goes through the service's backoff and circuit breaker,
/// including `Always` restarts after a clean exit: a service that returns at
/// once cannot turn into a hot loop.
///
/// ```
/// use janus::supervisor::RestartPolicy;
///
/// assert_eq!(RestartPolicy::default(), RestartPolicy::OnFailure);
/// assert_eq!(RestartPolicy::Always.to_string(), "always");
/// ```
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RestartPolicy {
    /// Restart whenever the service exits, cleanly or not, after backoff.
    Always,
    /// Restart only after an error or a panic; a clean `Ok(())` exit is
    /// treated as intentional completion.
    #[default]
    OnFailure,
    /// Never restart: the service runs once (useful for one-shot tasks).
    Never,
}

impl RestartPolicy {
    /// The policy's name as written in configuration: `always`,
    /// `on_failure` or `never`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::OnFailure => "on_failure",
            Self::Never => "never",
        }
    }

    /// Whether a run that ended this way should be started again.
    #[must_use]
    pub const fn restarts_after(self, failed: bool) -> bool {
        match self {
            Self::Always => true,
            Self::OnFailure => failed,
            Self::Never => false,
        }
    }
}

impl std::fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The core trait every supervised service implements.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use janus::supervisor::{JanusService, RestartPolicy};
/// use tokio_util::sync::CancellationToken;
///
/// pub struct MarketDataFeed {
///     exchange: String,
///     polls: AtomicU64,
/// }
///
/// #[async_trait::async_trait]
/// impl JanusService for MarketDataFeed {
///     fn name(&self) -> &str {
///         "market-data-feed"
///     }
///
///     fn restart_policy(&self) -> RestartPolicy {
///         RestartPolicy::OnFailure
///     }
///
///     async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
///         loop {
///             tokio::select! {
///                 _ = cancel.cancelled() => break,
///                 _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
///                     self.polls.fetch_add(1, Ordering::Relaxed);
///                 }
///             }
///         }
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Janus service",
    label = "not a `JanusService`",
    note = "implement `JanusService` by hand, or put `#[janus::service]` on the struct and on an impl block with a `#[step]` or `#[run]` method"
)]
pub trait JanusService: Send + Sync + 'static {
    /// The service's name, unique within its supervisor.
    ///
    /// It names the service in `tracing` spans (`service = name`), in
    /// Prometheus labels (`janus_supervisor_restarts_total{service="…"}`), in
    /// lifecycle snapshots and in the supervisor's registry. A second service
    /// with a name already in use is rejected by
    /// [`JanusSupervisor::spawn_service`](crate::supervisor::JanusSupervisor::spawn_service).
    fn name(&self) -> &str;

    /// What to do when `run()` returns; defaults to [`RestartPolicy::OnFailure`].
    fn restart_policy(&self) -> RestartPolicy {
        RestartPolicy::OnFailure
    }

    /// This service's own backoff and circuit breaker, if it has one.
    ///
    /// `None` (the default) uses the supervisor's
    /// [`default_backoff`](crate::supervisor::SupervisorConfig::default_backoff).
    /// A backoff given in [`SpawnOptions`](crate::supervisor::SpawnOptions)
    /// takes precedence over both.
    fn backoff_config(&self) -> Option<BackoffConfig> {
        None
    }

    /// How long this service may take to stop after cancellation before it is
    /// aborted. `None` (the default) uses the supervisor's
    /// [`shutdown_timeout`](crate::supervisor::SupervisorConfig::shutdown_timeout).
    fn shutdown_timeout(&self) -> Option<Duration> {
        None
    }

    /// Whether the service is critical: in a supervision tree, a critical
    /// service that terminates for good (breaker open, `Never` after a
    /// failure) shuts its supervisor down with an error. Defaults to `false`.
    fn is_critical(&self) -> bool {
        false
    }

    /// Whether the service says itself when it is ready, by calling
    /// [`janus::context::mark_ready`](crate::context::mark_ready) from
    /// `run()`. Defaults to `false`: the service counts as ready as soon as it
    /// is running. (Services made with `#[janus::service]` that have an
    /// `#[on_start]` are ready once it has returned.)
    fn reports_readiness(&self) -> bool {
        false
    }

    /// How long the service may take, in a supervisor that starts its
    /// children in order ([`StartOrder::Ordered`](crate::tree::StartOrder::Ordered)),
    /// to be ready before its start counts as failed. `None` (the default)
    /// uses the supervisor's
    /// ([`SupervisorSpec::with_start_timeout`](crate::tree::SupervisorSpec::with_start_timeout));
    /// a nested supervisor asks for the time its own children may take.
    fn start_timeout(&self) -> Option<Duration> {
        None
    }

    /// How long the service may go without a heartbeat
    /// ([`janus::context::heartbeat`](crate::context::heartbeat), or a
    /// completed `#[step]`) before its run counts as failed: the run is
    /// dropped and the failure handled by its policy. `None` (the default):
    /// no deadline.
    fn heartbeat_timeout(&self) -> Option<Duration> {
        None
    }

    /// Whether the service is a supervisor (OTP's child `type`:
    /// `supervisor` rather than `worker`), as [`SupervisorSpec`](crate::tree::SupervisorSpec)
    /// and [`DynamicSupervisorSpec`](crate::tree::DynamicSupervisorSpec)
    /// are; shown in snapshots and `/status`. Defaults to `false`.
    fn is_supervisor(&self) -> bool {
        false
    }

    /// The service's work: runs until it completes (`Ok(())`), fails
    /// (`Err(_)`), or `cancel` is cancelled.
    ///
    /// # Cancellation contract
    ///
    /// Implementations must watch `cancel.cancelled()` (typically in a
    /// `tokio::select!`) and return promptly once it fires. A service that
    /// does not is aborted when its shutdown timeout runs out, and is reported
    /// as `aborted after shutdown timeout`.
    ///
    /// # Errors
    ///
    /// An `Err` (or a panic) is a failure: the supervisor records it and
    /// applies the service's [`RestartPolicy`], backoff and circuit breaker.
    async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()>;
}

/// What a method of a `#[janus::service]` may return: `()` (where
/// allowed) or `Result<(), E>` whose error converts into `anyhow::Error`
/// (`janus::Result<()>`, `std::io::Result<()>`…). A `Result<(), String>`
/// does not: `String` is not an error type.
#[diagnostic::on_unimplemented(
    message = "a service method must return `anyhow::Result<()>` (or `()` where allowed), not `{Self}`",
    label = "its error must convert into `anyhow::Error` (a type implementing `std::error::Error + Send + Sync + 'static`)"
)]
pub trait IntoServiceResult {
    /// The result as `anyhow::Result<()>`.
    ///
    /// # Errors
    ///
    /// The method's error.
    fn into_service_result(self) -> anyhow::Result<()>;
}

#[diagnostic::do_not_recommend]
impl IntoServiceResult for () {
    fn into_service_result(self) -> anyhow::Result<()> {
        Ok(())
    }
}

#[diagnostic::do_not_recommend]
impl<E: Into<anyhow::Error>> IntoServiceResult for Result<(), E> {
    fn into_service_result(self) -> anyhow::Result<()> {
        self.map_err(Into::into)
    }
}

/// What an `#[on_start]` of a `#[janus::service]` may return: nothing,
/// `Result<(), E>` (no state), or `Result<S, E>`, whose `Ok` value is the
/// run's state, handed to the steps as `&mut S`.
#[diagnostic::on_unimplemented(
    message = "an #[on_start] method must return `janus::Result<S>` (its `Ok` value is the run's state, `()` for none) or nothing, not `{Self}`"
)]
pub trait IntoState<S> {
    /// The state, or the error that failed the start.
    ///
    /// # Errors
    ///
    /// The start's error.
    fn into_state(self) -> anyhow::Result<S>;
}

#[diagnostic::do_not_recommend]
impl IntoState<()> for () {
    fn into_state(self) -> anyhow::Result<()> {
        Ok(())
    }
}

#[diagnostic::do_not_recommend]
impl<S, E: Into<anyhow::Error>> IntoState<S> for Result<S, E> {
    fn into_state(self) -> anyhow::Result<S> {
        self.map_err(Into::into)
    }
}

/// Why a run of a service ends: what an `#[on_stop]` of
/// `#[janus::service]` is told, and what
/// [`context::stop_requested`](crate::context::stop_requested) answers
/// while the supervisor waits for a run to stop. A service drains its work
/// on a shutdown, and may skip that before a restart or after its own
/// failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// Its supervisor (or the whole tree) is shutting down.
    Shutdown,
    /// Stopped to restart together with a sibling that failed
    /// (`one_for_all`, `rest_for_one`).
    GroupRestart,
    /// An operator's `stop_child`, `restart_child` or `remove_child`.
    Command,
    /// The run failed: `on_start` or a step returned an error (or, started
    /// in order, it was not ready within its start timeout).
    Failed,
    /// The run ended by itself: its inbox closed, or its `#[run]` returned.
    Completed,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Shutdown => "shutdown",
            Self::GroupRestart => "group restart",
            Self::Command => "command",
            Self::Failed => "failed",
            Self::Completed => "completed",
        })
    }
}

/// Smart pointers to a service are services: `Box<dyn JanusService>`,
/// `Arc<MyService>` (to keep a handle on the service while it is supervised)…
macro_rules! forward_through_pointer {
    ($($pointer:ident)::+) => {
        #[async_trait]
        impl<S: JanusService + ?Sized> JanusService for $($pointer)::+<S> {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn restart_policy(&self) -> RestartPolicy {
                (**self).restart_policy()
            }
            fn backoff_config(&self) -> Option<BackoffConfig> {
                (**self).backoff_config()
            }
            fn shutdown_timeout(&self) -> Option<Duration> {
                (**self).shutdown_timeout()
            }
            fn is_critical(&self) -> bool {
                (**self).is_critical()
            }
            fn reports_readiness(&self) -> bool {
                (**self).reports_readiness()
            }
            fn start_timeout(&self) -> Option<Duration> {
                (**self).start_timeout()
            }
            fn heartbeat_timeout(&self) -> Option<Duration> {
                (**self).heartbeat_timeout()
            }
            fn is_supervisor(&self) -> bool {
                (**self).is_supervisor()
            }
            async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
                (**self).run(cancel).await
            }
        }
    };
}

forward_through_pointer!(Box);
forward_through_pointer!(std::sync::Arc);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_decides_restart_by_outcome() {
        assert!(RestartPolicy::Always.restarts_after(false));
        assert!(RestartPolicy::Always.restarts_after(true));
        assert!(!RestartPolicy::OnFailure.restarts_after(false));
        assert!(RestartPolicy::OnFailure.restarts_after(true));
        assert!(!RestartPolicy::Never.restarts_after(false));
        assert!(!RestartPolicy::Never.restarts_after(true));
    }

    #[test]
    fn policy_display_matches_config_spelling() {
        for p in [
            RestartPolicy::Always,
            RestartPolicy::OnFailure,
            RestartPolicy::Never,
        ] {
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(RestartPolicy::OnFailure.to_string(), "on_failure");
    }
}
