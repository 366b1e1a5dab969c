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

use super::slot::Slot;
use super::{Core, Message, Outcome};
use crate::context::{self, ServiceContext};
use crate::lifecycle::{ServiceLifecycle, ServicePhase};

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
        self.core.send(Message::Exited {
            slot: self.slot.clone(),
            generation: self.generation,
            outcome,
        });
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
        state.backoff.record_start();
        state.ready = !slot.reports_readiness;
        state.last_heartbeat = tokio::time::Instant::now();
        Some((restarted, state.lifecycle.start_count()))
    });
    let Some((restarted, attempt)) = started else {
        report.outcome = Outcome::NotStarted;
        return;
    };
    if restarted {
        report.core.record_restart(&slot);
    }
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
