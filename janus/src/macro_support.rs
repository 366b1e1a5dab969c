//! The runtime half of `#[janus::service]`: what the generated `run()` calls.
//!
//! Keeping the loop here rather than in the expansion means one tested
//! implementation, less generated code, and faster builds.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::backoff::BackoffConfig;
use crate::service::{IntoServiceResult, IntoState, RestartPolicy};

/// What `#[janus::service]` on a struct declares; the impl attribute's
/// generated `JanusService` reads it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is missing `#[janus::service]` on its definition",
    label = "this impl is `#[janus::service]`, but the type is not",
    note = "add `#[janus::service]` (with any configuration) to the struct `{Self}`"
)]
pub trait ServiceDefinition {
    /// The service's name.
    fn __janus_name(&self) -> &str;
    /// Its restart policy.
    fn __janus_restart_policy(&self) -> RestartPolicy;
    /// Its own backoff, if configured.
    fn __janus_backoff(&self) -> Option<BackoffConfig>;
    /// Its own shutdown timeout, if configured.
    fn __janus_shutdown_timeout(&self) -> Option<Duration>;
    /// Whether it is critical.
    fn __janus_critical(&self) -> bool;
    /// Its heartbeat deadline, if configured.
    fn __janus_heartbeat_timeout(&self) -> Option<Duration>;
}

/// A run with state: `on_start` (raced against cancellation) makes it,
/// `body` borrows it, `on_stop` gets it back (if `on_start` succeeded)
/// with why the run ends. Returns the first error of `on_start` or
/// `body`; a panic in `on_stop` is a failure too.
///
/// # Errors
///
/// The first error of `on_start` or `body`.
pub async fn drive_with_state<S, Start, Body, Stop>(
    cancel: &CancellationToken,
    on_start: Start,
    body: Body,
    on_stop: Stop,
) -> anyhow::Result<()>
where
    Start: Future,
    Start::Output: IntoState<S>,
    Body: AsyncFnOnce(&mut S) -> anyhow::Result<()>,
    Stop: AsyncFnOnce(Option<S>, crate::service::StopReason),
{
    let (result, state) = async {
        if cancel.is_cancelled() {
            return (Ok(()), None);
        }
        // Cancellation wins ties. A start that is ready at once (most are)
        // is taken without making a waiter on the token.
        let mut on_start = std::pin::pin!(on_start);
        let started = match futures_util::poll!(on_start.as_mut()) {
            std::task::Poll::Ready(started) => started,
            std::task::Poll::Pending => tokio::select! {
                biased;
                () = cancel.cancelled() => return (Ok(()), None),
                started = on_start => started,
            },
        };
        let mut state = match started.into_state() {
            Ok(state) => state,
            Err(error) => return (Err(error), None),
        };
        crate::engine::context::started();
        let result = body(&mut state).await;
        (result, Some(state))
    }
    .await;
    let why = crate::context::run_ended(cancel.is_cancelled(), result.is_err());
    match AssertUnwindSafe(on_stop(state, why)).catch_unwind().await {
        Ok(()) => result,
        Err(panic) => {
            let panic = crate::engine::panic_message(&*panic);
            Err(match result {
                Ok(()) => anyhow::anyhow!("on_stop {panic}"),
                Err(error) => anyhow::anyhow!("{error:#} (then on_stop {panic})"),
            })
        }
    }
}

/// One step, raced against cancellation (which wins ties): its result,
/// and a heartbeat when it succeeded. `Ok` if cancelled first.
///
/// # Errors
///
/// The step's error.
pub async fn step_once<Fut>(cancel: &CancellationToken, step: Fut) -> anyhow::Result<()>
where
    Fut: Future,
    Fut::Output: IntoServiceResult,
{
    tokio::select! {
        biased;
        () = cancel.cancelled() => Ok(()),
        done = step => {
            done.into_service_result()?;
            crate::context::heartbeat();
            Ok(())
        }
    }
}

/// The interval of a `#[step(every = …)]`: its first tick at once, and no
/// burst after a stall ([`MissedTickBehavior::Delay`]).
#[must_use]
pub fn interval(period: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// Lets others run between back-to-back steps that never wait.
pub async fn yield_budget() {
    tokio::task::coop::consume_budget().await;
}

/// When a service's one step runs: on an interval of `every` that does
/// not burst after a stall ([`MissedTickBehavior::Delay`]), its first tick
/// at once; or back to back. A service with one step (by far the most
/// common) loops on this rather than on a `select!` of its own: less
/// generated code, faster builds.
#[derive(Debug)]
pub struct Ticker {
    interval: Option<tokio::time::Interval>,
}

impl Ticker {
    /// A ticker for `every` (`None`: back to back).
    #[must_use]
    pub fn new(every: Option<Duration>) -> Self {
        Self {
            interval: every.map(interval),
        }
    }

    /// Waits for the next step's turn: `false` once `cancel` has fired,
    /// which wins ties.
    pub async fn next(&mut self, cancel: &CancellationToken) -> bool {
        match &mut self.interval {
            Some(interval) => tokio::select! {
                biased;
                () = cancel.cancelled() => false,
                _ = interval.tick() => true,
            },
            None => {
                // Back-to-back steps that never wait must still let others run.
                tokio::task::coop::consume_budget().await;
                !cancel.is_cancelled()
            }
        }
    }
}

/// Calls `step` until it fails or `cancel` fires, as a [`Ticker`] says:
/// the loop of a step-style function service.
///
/// # Errors
///
/// The first error a step returns.
pub async fn step_loop<Step, Fut>(
    cancel: &CancellationToken,
    every: Option<Duration>,
    mut step: Step,
) -> anyhow::Result<()>
where
    Step: FnMut() -> Fut,
    Fut: Future,
    Fut::Output: IntoServiceResult,
{
    let mut ticker = Ticker::new(every);
    while ticker.next(cancel).await {
        step_once(cancel, step()).await?;
    }
    Ok(())
}
