//! One run of a child, in a task of its own: wait out the backoff, enter
//! `Running`, call `run()` (panics caught), and tell the actor how it ended,
//! even if the task is aborted.
//!
//! **Restarts in place.** A run that ends on its own, in a `one_for_one`
//! supervisor that is not closing nor waiting for this child to start, and
//! that its policy restarts, concerns no one but its child: the attempt
//! decides what follows itself, under the child's lock, by the control
//! loop's own code ([`actor::decide`]: backoff, breaker, the supervisor's
//! intensity, which lives in the core under a lock of its own), and when
//! that is a restart, the next attempt runs in this same task, after one
//! yield to the scheduler. That saves a message to the control loop, a
//! wake-up of it, and a task, per restart (W3 in `BENCHMARKS.md`). Anything
//! else it decides (the breaker gives up, the intensity is exceeded) is
//! left in the child's slot, where the control loop takes it in like an
//! exit, before it acts on the child, and carries it out. The ends of runs
//! asked to stop, and every end while the supervisor starts its children
//! or shuts down, go to the control loop as before.
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

use super::actor::{self, Decision, Trip};
use super::context::{self, ServiceContext};
use super::slot::{Outcome, Pending, Run, RunEnd, Slot, SlotState, Transitions};
use super::{Core, Launch, Message, panic_message};
use crate::lifecycle::{ServiceLifecycle, ServicePhase};
use crate::strategy::Strategy;

/// A service's `run()` future, polled in its span, panics caught.
type RunFuture = Instrumented<BoxFuture<'static, std::thread::Result<anyhow::Result<()>>>>;

/// Who to tell how the attempt ended.
struct Report {
    core: Arc<Core>,
    slot: Arc<Slot>,
    generation: u64,
}

/// What an attempt did itself with the end of its run.
enum InPlace {
    /// It restarts its child: the next attempt, prepared, runs in this task.
    Restarted(Launch, Option<Trip>),
    /// Something else, left in the slot for the control loop to carry out.
    Decided,
}

impl Report {
    /// Records how the run ended, and tells the control loop unless there is
    /// nothing for it to decide, or the attempt restarts its child in place:
    /// then the next attempt, to run in this task.
    fn send(&self, outcome: Outcome) -> Option<Launch> {
        let Self {
            core,
            slot,
            generation,
        } = self;
        let end = slot.with(|state, tx| {
            state.end_run(tx, *generation, outcome, |state, tx, outcome| {
                restart_in_place(core, slot, state, tx, outcome)
            })
        });
        let (handled, outcome) = match end {
            RunEnd::Stale => return None,
            RunEnd::Reported => {
                core.send(Message::Exited(slot.clone()));
                return None;
            }
            RunEnd::Terminated(uptime, waited) => {
                if let Some(uptime) = uptime {
                    tracing::info!(service = &*slot.path, "service terminated");
                    core.record_termination(uptime);
                }
                if waited {
                    core.stop_done();
                }
                return None;
            }
            RunEnd::InPlace(handled, outcome) => (handled, outcome),
        };
        if let Some(error) = outcome.error() {
            tracing::warn!(service = &*slot.path, error = %error, "service failed");
        }
        match handled {
            InPlace::Restarted(launch, trip) => {
                if let Some(trip) = trip {
                    trip.log(core, slot);
                }
                let delay = launch.delay;
                tracing::info!(service = &*slot.path, ?delay, "restarting after backoff");
                Some(launch)
            }
            // Left in the slot, where the control loop takes it in as an
            // exit (before it acts on the child).
            InPlace::Decided => {
                core.send(Message::Exited(slot.clone()));
                None
            }
        }
    }
}

/// Decides, under the child's lock, what follows a run that ended on its
/// own, when nothing but the child is concerned (see the module's docs);
/// `None` leaves it to the control loop.
fn restart_in_place(
    core: &Core,
    slot: &Slot,
    state: &mut SlotState,
    tx: &Transitions<'_>,
    outcome: &Outcome,
) -> Option<InPlace> {
    let error = match outcome {
        Outcome::Clean => None,
        Outcome::Failed(error) => Some(&**error),
        Outcome::NotStarted | Outcome::Dropped => return None,
    };
    // The control loop's own conditions for a restart by itself alone: no
    // group, no start waiting for this child (whose failure would be the
    // supervisor's), no shutdown, a policy that restarts.
    if core.settings.strategy != Strategy::OneForOne
        || state.awaited
        || core.is_closing()
        || core.cancel.is_cancelled()
        || !slot.policy.restarts_after(error.is_some())
    {
        return None;
    }
    // The next attempt runs in this task: it must be the task the slot
    // knows (which it is, once its launcher has recorded it), to be
    // aborted as this one would be.
    let Run::Live {
        task: task @ Some(_),
        ..
    } = &mut state.run
    else {
        return None;
    };
    let task = task.take();
    // Its exit is taken in, as the control loop would.
    state.run = Run::Idle;
    let (decision, trip) = actor::decide(core, slot, state, tx, error, true);
    match decision {
        Decision::Restart(_, Some(launch)) => {
            if let Run::Live { task: kept, .. } = &mut state.run {
                *kept = task;
            }
            Some(InPlace::Restarted(launch, trip))
        }
        decision => {
            state.run = Run::Decided(Box::new(Pending {
                decision,
                outcome: outcome.clone(),
            }));
            Some(InPlace::Decided)
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
    Attempt {
        report: Report {
            core,
            slot,
            generation,
        },
        phase: first_phase(token, delay),
    }
}

/// How an attempt begins: waiting out `delay` (cancelled by `token`, made
/// at launch for such an attempt), or starting at once.
fn first_phase(token: Option<CancellationToken>, delay: Duration) -> Phase {
    match token {
        Some(cancelled) if !delay.is_zero() => Phase::Delayed(Box::pin(async move {
            tokio::select! {
                biased;
                () = cancelled.cancelled() => false,
                () = tokio::time::sleep(delay) => true,
            }
        })),
        _ => Phase::Starting,
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
    /// Whether the child restarts in place: then the attempt is the next
    /// one, ready to be polled.
    fn end(&mut self, mut outcome: Outcome) -> bool {
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
        let Some(Launch {
            generation,
            token,
            delay,
        }) = self.report.send(outcome)
        else {
            return false;
        };
        self.report.generation = generation;
        self.phase = first_phase(token, delay);
        true
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
                if !this.end(outcome) {
                    return Poll::Ready(());
                }
                // Restarted in place: the next attempt runs after a yield,
                // as a new task would (a run that fails at once must not
                // keep the worker).
                cx.waker().wake_by_ref();
                return Poll::Pending;
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
