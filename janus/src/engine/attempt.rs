//! One run of a child, in a task of its own: wait out the backoff, enter
//! `Running`, call `run()` (panics caught), and tell the actor how it ended,
//! even if the task is aborted.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::slot::{Slot, StopWhy};
use super::{Core, Message, Outcome};
use crate::context::{self, ServiceContext};
use crate::lifecycle::{ServiceLifecycle, ServicePhase, TerminationReason};

/// Reports the attempt's end to the actor when dropped, whatever dropped it.
struct ExitReport {
    core: Arc<Core>,
    slot: Arc<Slot>,
    generation: u64,
    outcome: Outcome,
}

impl Drop for ExitReport {
    fn drop(&mut self) {
        let outcome = std::mem::replace(&mut self.outcome, Outcome::Dropped);
        if let Some(outcome) = self.finish_shutdown(outcome) {
            self.core.send(Message::Exited {
                slot: self.slot.clone(),
                generation: self.generation,
                outcome,
            });
        }
    }
}

impl ExitReport {
    /// A run that ends because the supervisor shuts down records its own
    /// termination: a mass shutdown then finishes in parallel on every
    /// worker instead of queueing one message per service behind the control
    /// loop, which only counts down. Hands the outcome back otherwise.
    fn finish_shutdown(&self, outcome: Outcome) -> Option<Outcome> {
        let mut outcome = Some(outcome);
        let finished = self.slot.with(|state, tx| {
            if state.generation != self.generation || state.stop != Some(StopWhy::Shutdown) {
                return None;
            }
            state.attempt = None;
            state.ended_generation = self.generation;
            state.ready = false;
            let reason = match outcome.take().unwrap_or(Outcome::Dropped) {
                Outcome::Clean | Outcome::NotStarted => TerminationReason::Cancelled,
                Outcome::Failed(error) => {
                    state.lifecycle.record_failure(&error);
                    TerminationReason::FailedDuringShutdown(error)
                }
                Outcome::Dropped => TerminationReason::Aborted,
            };
            let waited = state.stop_deadline.take().is_some();
            Some((state.terminate(tx, reason), waited))
        });
        let Some((uptime, waited)) = finished else {
            return outcome;
        };
        if let Some(uptime) = uptime {
            tracing::info!(service = &*self.slot.path, "service terminated");
            self.core.record_termination(uptime);
        }
        if waited {
            self.core.stop_done();
        }
        None
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload");
    format!("panicked: {message}")
}

pub(super) async fn run(
    core: Arc<Core>,
    slot: Arc<Slot>,
    generation: u64,
    token: CancellationToken,
    delay: Duration,
) {
    let mut report = ExitReport {
        core,
        slot,
        generation,
        outcome: Outcome::Dropped,
    };
    let slot = report.slot.clone();
    if !delay.is_zero() {
        tokio::select! {
            biased;
            () = token.cancelled() => {
                report.outcome = Outcome::NotStarted;
                return;
            }
            // Boxed: a timer is large, and most attempts have none.
            () = Box::pin(tokio::time::sleep(delay)) => {}
        }
    }
    let core = &report.core;
    let started = slot.with(|state, tx| {
        if token.is_cancelled() {
            return None;
        }
        let lc = &mut state.lifecycle;
        let restarted = match lc.phase() {
            ServicePhase::Starting => false,
            ServicePhase::BackingOff => {
                tx.apply(lc, None, ServiceLifecycle::transition_to_restarting);
                true
            }
            _ => return None,
        };
        tx.apply(lc, None, ServiceLifecycle::transition_to_running);
        let now = tokio::time::Instant::now();
        state.backoff.record_start_at(now);
        state.ready = !slot.reports_readiness;
        state.last_heartbeat = now;
        if restarted {
            core.record_restart(&slot.path, &mut state.restarts_counter);
        }
        Some(state.lifecycle.start_count())
    });
    let Some(attempt) = started else {
        report.outcome = Outcome::NotStarted;
        return;
    };
    tracing::info!(service = &*slot.path, attempt, "service running");
    let span = tracing::info_span!("service", service = &*slot.path, attempt);
    let context = ServiceContext {
        slot: slot.clone(),
        core: report.core.clone(),
    };
    let run = context::scope(
        context,
        AssertUnwindSafe(slot.service.run(token)).catch_unwind(),
    )
    .instrument(span);
    let outcome = match slot.heartbeat_timeout {
        None => run.await,
        // Boxed: most services have no deadline, and a timer is large.
        Some(timeout) => tokio::select! {
            biased;
            outcome = run => outcome,
            missed = Box::pin(watchdog(&slot, timeout)) => Ok(Err(anyhow::anyhow!(missed))),
        },
    };
    report.outcome = match outcome {
        Ok(Ok(())) => Outcome::Clean,
        Ok(Err(error)) => Outcome::Failed(format!("{error:#}")),
        Err(panic) => Outcome::Failed(panic_message(&*panic)),
    };
}

/// Resolves when the run misses its heartbeat deadline.
async fn watchdog(slot: &Slot, timeout: Duration) -> String {
    loop {
        let last = slot.with(|state, _| state.last_heartbeat);
        tokio::time::sleep_until(last + timeout).await;
        if slot.with(|state, _| state.last_heartbeat) == last {
            return format!("missed its heartbeat deadline ({timeout:?} without a heartbeat)");
        }
    }
}
