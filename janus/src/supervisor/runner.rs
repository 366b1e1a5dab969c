//! The task that runs one service: start, watch the outcome, back off,
//! restart, until the policy, the circuit breaker or shutdown ends it.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt as _;
use prometheus::IntCounter;
use tracing::Instrument as _;

use super::Shared;
use super::slot::ServiceSlot;
use crate::backoff::{BackoffAction, BackoffConfig, BackoffState};
use crate::lifecycle::{ServicePhase, TerminationReason, TransitionError};
use crate::service::{JanusService, RestartPolicy};

/// An illegal transition is a supervisor bug: tests (debug builds) fail on
/// it loudly; a release build logs it and keeps supervising.
pub(crate) fn checked(result: Result<(), TransitionError>) {
    if let Err(error) = result {
        tracing::error!(%error, "janus: illegal lifecycle transition");
        debug_assert!(false, "{error}");
    }
}

/// How one run of `run()` ended.
enum Exit {
    Clean,
    Failed(String),
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload");
    format!("panicked: {message}")
}

pub(crate) struct Runner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) slot: Arc<ServiceSlot>,
    pub(crate) service: Box<dyn JanusService>,
    pub(crate) policy: RestartPolicy,
    pub(crate) backoff: BackoffConfig,
}

impl Runner {
    pub(crate) async fn run(self) {
        let Self {
            shared,
            slot,
            service,
            policy,
            backoff,
        } = self;
        let mut backoff = BackoffState::new(backoff);
        let mut restarts: Option<IntCounter> = None;
        let name = &*slot.name;
        loop {
            // Start (or restart) under the slot's lock, so that a shutdown
            // marking the service `Stopping` can never be overtaken.
            let start = slot.with(|lc| match lc.phase() {
                ServicePhase::Stopping | ServicePhase::Terminated => None,
                _ if slot.cancel.is_cancelled() => None,
                phase => {
                    let restarted = phase == ServicePhase::BackingOff;
                    if restarted {
                        checked(lc.transition_to_restarting());
                    }
                    checked(lc.transition_to_running());
                    Some((restarted, lc.start_count()))
                }
            });
            let Some((restarted, attempt)) = start else {
                shared.finish(&slot, TerminationReason::Cancelled);
                return;
            };
            if restarted {
                shared.record_restart(name, &mut restarts);
            }
            backoff.record_start();
            tracing::info!(service = name, attempt, "service running");

            let span = tracing::info_span!("service", service = name, attempt);
            let outcome = AssertUnwindSafe(service.run(slot.cancel.clone()))
                .catch_unwind()
                .instrument(span)
                .await;
            let exit = match outcome {
                Ok(Ok(())) => Exit::Clean,
                Ok(Err(error)) => Exit::Failed(format!("{error:#}")),
                Err(panic) => Exit::Failed(panic_message(&*panic)),
            };
            if let Exit::Failed(error) = &exit {
                tracing::warn!(service = name, attempt, error = %error, "service failed");
                slot.with(|lc| lc.record_failure(error));
            }

            if slot.cancel.is_cancelled() {
                let reason = match exit {
                    Exit::Clean => TerminationReason::Cancelled,
                    Exit::Failed(error) => TerminationReason::FailedDuringShutdown(error),
                };
                shared.finish(&slot, reason);
                return;
            }

            let failed = matches!(exit, Exit::Failed(_));
            if !policy.restarts_after(failed) {
                let reason = match exit {
                    Exit::Clean => TerminationReason::Completed,
                    Exit::Failed(error) => TerminationReason::Unrecoverable(error),
                };
                shared.finish(&slot, reason);
                return;
            }

            backoff.maybe_reset_on_cooldown();
            let delay = match backoff.next_backoff() {
                BackoffAction::Retry(delay) => delay,
                BackoffAction::CircuitOpen {
                    failures,
                    max_retries,
                } => {
                    tracing::error!(
                        service = name,
                        failures,
                        max_retries,
                        "circuit breaker open: giving up on the service"
                    );
                    shared.record_circuit_breaker_trip(name);
                    shared.finish(
                        &slot,
                        TerminationReason::CircuitBreakerOpen {
                            failures,
                            max_retries,
                        },
                    );
                    return;
                }
            };
            let reason = match &exit {
                Exit::Clean => "clean exit, policy=always",
                Exit::Failed(error) => error.as_str(),
            };
            let backing_off = slot.with(|lc| {
                if lc.phase() != ServicePhase::Running || slot.cancel.is_cancelled() {
                    return false;
                }
                checked(lc.transition_to_backing_off(reason, delay));
                true
            });
            if !backing_off {
                shared.finish(&slot, TerminationReason::Cancelled);
                return;
            }
            tracing::info!(service = name, attempt, ?delay, "restarting after backoff");
            if delay.is_zero() {
                // "Restart at once": no timer, but let the other tasks run.
                tokio::task::yield_now().await;
            } else {
                tokio::select! {
                    () = slot.cancel.cancelled() => {
                        shared.finish(&slot, TerminationReason::Cancelled);
                        return;
                    }
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}
