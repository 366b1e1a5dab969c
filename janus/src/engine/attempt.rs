//! One run of a child, in a task of its own: wait out the backoff, enter
//! `Running`, call `run()` (panics caught), and tell the actor how it ended,
//! even if the task is aborted.
//!
//! The attempt is a future written by hand rather than an `async fn`: it is
//! the state of every idle service, and its size decides the size of the
//! task's allocation (tokio rounds a task up to 128 bytes on x86-64). An
//! `async fn` keeps its arguments and every awaited future side by side and
//! took a 512-byte task; this one fits in 256 (`attempt_fits_a_small_task`).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use tracing::instrument::Instrumented;

use super::context::{self, ServiceContext};
use super::slot::{Outcome, Run, RunEnd, Slot};
use super::{Core, Message, panic_message};
use crate::lifecycle::{ServiceLifecycle, ServicePhase};

/// A service's `run()` future, polled in its span, panics caught.
type RunFuture = Instrumented<BoxFuture<'static, std::thread::Result<anyhow::Result<()>>>>;

/// Who to tell how the attempt ended.
struct Report {
    core: Arc<Core>,
    slot: Arc<Slot>,
    generation: u64,
}

impl Report {
    /// Records how the run ended, and tells the control loop unless there is
    /// nothing for it to decide.
    fn send(&self, outcome: Outcome) {
        match self
            .slot
            .with(|state, tx| state.end_run(tx, self.generation, outcome))
        {
            RunEnd::Stale => {}
            RunEnd::Reported => self.core.send(Message::Exited(self.slot.clone())),
            RunEnd::Terminated(uptime, waited) => {
                if let Some(uptime) = uptime {
                    tracing::info!(service = &*self.slot.path, "service terminated");
                    self.core.record_termination(uptime);
                }
                if waited {
                    self.core.stop_done();
                }
            }
        }
    }
}

enum Phase {
    /// Waiting out the backoff: `true` once it has passed, `false` if
    /// cancelled first. Boxed: a timer is large, and most attempts have none.
    Delayed(BoxFuture<'static, bool>),
    /// About to enter `Running` and call `run()`.
    Starting,
    Running {
        run: RunFuture,
        /// Moved in for each poll of `run` (see [`context::enter`]).
        context: Option<ServiceContext>,
        /// Resolves when the run misses its heartbeat deadline. Boxed: most
        /// services have no deadline, and a timer is large.
        watchdog: Option<BoxFuture<'static, String>>,
    },
    /// Reported.
    Ended,
}

/// One attempt of a child: a future that reports how it ended exactly once,
/// when it completes or, if dropped before (an abort), as `Dropped`.
///
/// Every idle service keeps one in its task: with tokio's header, scheduler
/// handle, task id and trailer (about 100 bytes), the task tracker's token
/// and the stage tag, it should stay within 136 bytes, so that the task fits
/// 256 (tokio aligns tasks to 128 bytes on x86-64). The memory benchmark
/// (W4, `bench/`) measures what a service costs in all.
pub(super) struct Attempt {
    report: Report,
    phase: Phase,
}

/// The attempt of `generation` of `slot`: `token` (made at launch, kept in
/// the slot) when it must first wait out `delay`, none when it starts at once.
pub(super) fn run(
    core: Arc<Core>,
    slot: Arc<Slot>,
    generation: u64,
    token: Option<CancellationToken>,
    delay: Duration,
) -> Attempt {
    let phase = match token {
        Some(cancelled) if !delay.is_zero() => Phase::Delayed(Box::pin(async move {
            tokio::select! {
                biased;
                () = cancelled.cancelled() => false,
                () = tokio::time::sleep(delay) => true,
            }
        })),
        _ => Phase::Starting,
    };
    Attempt {
        report: Report {
            core,
            slot,
            generation,
        },
        phase,
    }
}

impl Attempt {
    /// Enters `Running` and calls `run()`, unless the attempt was stopped
    /// in the meantime.
    fn start(&self) -> Option<Phase> {
        let Report {
            core,
            slot,
            generation,
        } = &self.report;
        let (attempt, token, announce) = slot.with(|state, tx| {
            // Asked to stop, replaced, or its supervisor closing, before it
            // could start.
            if state.generation != *generation || state.stop.is_some() || core.is_closing() {
                return None;
            }
            let Run::Live { token, .. } = &mut state.run else {
                return None;
            };
            state.began = true;
            let token = token.get_or_insert_with(CancellationToken::new).clone();
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
            state.set_ready(!slot.reports_readiness);
            // Ready as it runs: the control loop waiting for it can go on.
            let announce = state.ready && std::mem::take(&mut state.awaited);
            if slot.heartbeat_timeout.is_some() {
                state.rare().last_heartbeat = Some(now);
            }
            if restarted {
                core.record_restart(&slot.path, &mut state.rare().restarts_counter);
            }
            Some((state.lifecycle.start_count(), token, announce))
        })?;
        if announce {
            core.send(Message::Ready);
        }
        tracing::info!(service = &*slot.path, attempt, "service running");
        let span = tracing::info_span!("service", service = &*slot.path, attempt);
        let context = ServiceContext {
            slot: slot.clone(),
            core: core.clone(),
        };
        // The run borrows the service, which this task keeps alive.
        let service = slot.clone();
        // Panics are caught right around the service's future: nothing but
        // its own frames to unwind.
        let run: BoxFuture<'static, _> = Box::pin(async move {
            AssertUnwindSafe(service.service.run(token))
                .catch_unwind()
                .await
        });
        Some(Phase::Running {
            run: run.instrument(span),
            context: Some(context),
            watchdog: slot
                .heartbeat_timeout
                .map(|timeout| watchdog(slot.clone(), timeout).boxed()),
        })
    }

    /// Drops what the attempt still holds (the run first, in its context),
    /// then reports. A run whose state panics as it is dropped failed.
    fn end(&mut self, mut outcome: Outcome) {
        if let Phase::Running {
            run, mut context, ..
        } = std::mem::replace(&mut self.phase, Phase::Ended)
        {
            let dropped = context::enter(&mut context, || {
                std::panic::catch_unwind(AssertUnwindSafe(|| drop(run)))
            });
            if let (Err(panic), Outcome::Clean | Outcome::NotStarted) = (dropped, &outcome) {
                outcome = Outcome::Failed(panic_message(&*panic).into());
            }
        }
        self.report.send(outcome);
    }
}

impl Future for Attempt {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if let Phase::Running {
                run,
                context,
                watchdog,
            } = &mut this.phase
            {
                // The run first: a run that ends as its deadline passes ended.
                let outcome = match context::enter(context, || run.poll_unpin(cx)) {
                    Poll::Ready(Ok(Ok(()))) => Outcome::Clean,
                    Poll::Ready(Ok(Err(error))) => Outcome::Failed(format!("{error:#}").into()),
                    Poll::Ready(Err(panic)) => Outcome::Failed(panic_message(&*panic).into()),
                    Poll::Pending => match watchdog {
                        Some(watchdog) => Outcome::Failed(ready!(watchdog.poll_unpin(cx)).into()),
                        None => return Poll::Pending,
                    },
                };
                this.end(outcome);
                return Poll::Ready(());
            }
            match std::mem::replace(&mut this.phase, Phase::Ended) {
                Phase::Delayed(mut wait) => match wait.poll_unpin(cx) {
                    Poll::Pending => {
                        this.phase = Phase::Delayed(wait);
                        return Poll::Pending;
                    }
                    Poll::Ready(true) => this.phase = Phase::Starting,
                    Poll::Ready(false) => {
                        this.end(Outcome::NotStarted);
                        return Poll::Ready(());
                    }
                },
                Phase::Starting => match this.start() {
                    Some(running) => this.phase = running,
                    None => {
                        this.end(Outcome::NotStarted);
                        return Poll::Ready(());
                    }
                },
                running @ Phase::Running { .. } => this.phase = running,
                Phase::Ended => return Poll::Ready(()),
            }
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !matches!(self.phase, Phase::Ended) {
            self.end(Outcome::Dropped);
        }
    }
}

/// Resolves when the run misses its heartbeat deadline.
async fn watchdog(slot: Arc<Slot>, timeout: Duration) -> String {
    loop {
        let last = slot
            .with(|state, _| state.last_heartbeat())
            .unwrap_or_else(tokio::time::Instant::now);
        tokio::time::sleep_until(super::slot::deadline_after(last, timeout)).await;
        if slot.with(|state, _| state.last_heartbeat()) == Some(last) {
            return format!("missed its heartbeat deadline ({timeout:?} without a heartbeat)");
        }
    }
}
