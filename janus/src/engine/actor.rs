//! The control loop of one supervisor.
//!
//! It owns every decision: when a child exits it applies the child's policy,
//! backoff and breaker, counts the restart against the supervisor's
//! intensity, and restarts the child alone (`one_for_one`) or with its
//! siblings (`one_for_all`, `rest_for_one`: stop them in reverse order, wait
//! the backoff, start them all in declaration order). It stops children in
//! reverse (or all at once) on shutdown, each within its own timeout and
//! aborted after it, and carries out `stop_child` / `restart_child`.
//!
//! While a multi-step operation (a group restart, a command) is under way,
//! messages it does not consume wait in `deferred`, and are handled in
//! order once it is over; shutdown interrupts anything.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::slot::{Slot, StopWhy};
use super::{Core, Finished, Message, Outcome, Reply, shutdown_reason};
use crate::backoff::BackoffAction;
use crate::lifecycle::{ServiceLifecycle, ServicePhase, TerminationReason};
use crate::supervisor::DrainReport;
use crate::tree::{ControlError, Intensity, ShutdownOrder, Strategy, SupervisorError};

/// The stops under way. A child waited for holds its deadline in its slot
/// (`stop_deadline`) and is counted by the core; here are only the times to
/// wake up at, rounded up to the millisecond (the timer's resolution), so
/// that children asked to stop together share one. At such a time the
/// children past their deadline are found by a scan: a rare event (a child
/// that outlives its shutdown timeout), where an entry per child cost every
/// shutdown an allocation and two reference counts per child.
struct Waiting {
    deadlines: BTreeSet<Instant>,
    /// Where the millisecond ticks are counted from.
    base: Instant,
    /// Keeps the count, which attempts that stop by themselves decrement.
    core: Arc<Core>,
}

impl Waiting {
    fn new(core: Arc<Core>) -> Self {
        Self {
            deadlines: BTreeSet::new(),
            base: Instant::now(),
            core,
        }
    }

    /// Wakes up at `deadline`, which the slot of a child waited for holds.
    fn push(&mut self, deadline: Instant) {
        let since = deadline.saturating_duration_since(self.base);
        let ticks = u64::try_from(since.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        self.deadlines
            .insert(self.base + Duration::from_millis(ticks));
    }

    fn is_empty(&self) -> bool {
        self.core.stops_pending() == 0
    }

    fn len(&self) -> usize {
        self.core.stops_pending()
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        if self.is_empty() {
            self.deadlines.clear();
        }
        self.deadlines.first().copied()
    }

    /// The children waited for whose deadline has passed.
    fn overdue(&mut self, now: Instant) -> Vec<Arc<Slot>> {
        if self.deadlines.first().is_none_or(|d| *d > now) {
            return Vec::new();
        }
        self.deadlines.retain(|d| *d > now);
        let mut overdue = self.core.slots();
        overdue.retain(|slot| slot.with(|state, _| state.stop_deadline.is_some_and(|d| d <= now)));
        overdue
    }
}

/// Children to stop, one by one or all at once, and those being waited for.
struct Plan {
    why: StopWhy,
    queue: VecDeque<Arc<Slot>>,
    waiting: Waiting,
    concurrent: bool,
}

impl Plan {
    fn new(
        why: StopWhy,
        queue: VecDeque<Arc<Slot>>,
        waiting: Waiting,
        order: ShutdownOrder,
    ) -> Self {
        Self {
            why,
            queue,
            waiting,
            concurrent: order == ShutdownOrder::Concurrent,
        }
    }

    fn is_complete(&self) -> bool {
        self.queue.is_empty() && self.waiting.is_empty()
    }
}

enum Mode {
    Running,
    /// Restarting `members` because `trigger` exited: stop the others, wait
    /// `delay`, start them all.
    Group {
        plan: Plan,
        members: Vec<Arc<Slot>>,
        delay: Duration,
        trigger: Arc<str>,
        resume_at: Option<Instant>,
    },
    /// `stop_child` or `restart_child`.
    Command {
        plan: Plan,
        slot: Arc<Slot>,
        restart: bool,
        reply: Option<Reply>,
    },
    ShuttingDown {
        plan: Plan,
    },
    Done,
}

struct Actor {
    core: Arc<Core>,
    mode: Mode,
    deferred: VecDeque<Message>,
    restarts: VecDeque<Instant>,
    failure: Option<SupervisorError>,
    aborted: Vec<String>,
}

/// Messages handled per wake-up, at most, before timers and cancellation
/// are looked at again.
const BATCH: usize = 256;

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        // No timer is created without a deadline: supervisors also run on
        // runtimes without a time driver when nothing needs one.
        None => std::future::pending().await,
    }
}

/// Runs the supervisor until it has stopped every child.
pub(crate) async fn run(core: Arc<Core>, mut inbox: mpsc::UnboundedReceiver<Message>) -> Finished {
    let mut actor = Actor {
        core: core.clone(),
        mode: Mode::Running,
        deferred: VecDeque::new(),
        restarts: VecDeque::new(),
        failure: None,
        aborted: Vec::new(),
    };
    loop {
        if core.cancel.is_cancelled() {
            actor.begin_shutdown();
        }
        actor.advance();
        if matches!(actor.mode, Mode::Done) {
            break;
        }
        let deadline = actor.deadline();
        tokio::select! {
            biased;
            message = inbox.recv() => match message {
                Some(message) => {
                    actor.handle(message);
                    // Handle what else is waiting before going back to the
                    // select (and its timer): exits arrive in bursts.
                    for _ in 0..BATCH {
                        let Ok(message) = inbox.try_recv() else { break };
                        actor.handle(message);
                    }
                }
                // The core holds a sender for as long as this loop runs.
                None => break,
            },
            () = core.cancel.cancelled(), if !actor.shutting_down() => actor.begin_shutdown(),
            () = sleep_until(deadline) => actor.on_deadline(),
            // Children stopping by themselves during a shutdown count down.
            () = core.stops_done.notified() => {}
        }
    }
    while let Ok(message) = inbox.try_recv() {
        actor.handle(message);
    }
    let finished = Finished {
        report: DrainReport {
            stopped: core.len().saturating_sub(actor.aborted.len()),
            aborted: actor.aborted,
            unresponsive: Vec::new(),
            elapsed: Duration::ZERO,
        },
        error: actor.failure,
    };
    core.set_finished(finished.clone());
    finished
}

impl Actor {
    fn shutting_down(&self) -> bool {
        matches!(self.mode, Mode::ShuttingDown { .. } | Mode::Done)
    }

    /// The plan whose stops are under way, if any.
    fn plan_mut(&mut self) -> Option<&mut Plan> {
        match &mut self.mode {
            Mode::Group {
                plan,
                resume_at: None,
                ..
            }
            | Mode::Command { plan, .. }
            | Mode::ShuttingDown { plan } => Some(plan),
            _ => None,
        }
    }

    fn deadline(&mut self) -> Option<Instant> {
        match &mut self.mode {
            Mode::Group {
                resume_at: Some(at),
                ..
            } => Some(*at),
            Mode::Group { plan, .. } | Mode::Command { plan, .. } | Mode::ShuttingDown { plan } => {
                plan.waiting.next_deadline()
            }
            Mode::Running | Mode::Done => None,
        }
    }

    /// Moves the current operation forward as far as it goes without waiting.
    fn advance(&mut self) {
        loop {
            if let Some(plan) = self.plan_mut() {
                let next = if plan.concurrent || plan.waiting.is_empty() {
                    plan.queue.pop_front()
                } else {
                    None
                };
                let why = plan.why;
                if let Some(slot) = next {
                    self.request_stop(slot, why);
                    continue;
                }
                if plan.is_complete() {
                    self.plan_complete();
                    continue;
                }
                return;
            }
            if !matches!(self.mode, Mode::Running) {
                return;
            }
            let Some(message) = self.deferred.pop_front() else {
                return;
            };
            self.handle(message);
        }
    }

    fn plan_complete(&mut self) {
        match std::mem::replace(&mut self.mode, Mode::Running) {
            Mode::ShuttingDown { .. } => self.mode = Mode::Done,
            Mode::Group {
                plan,
                members,
                delay,
                trigger,
                ..
            } => {
                if delay.is_zero() {
                    self.relaunch(members);
                } else {
                    self.mode = Mode::Group {
                        plan,
                        members,
                        delay,
                        trigger,
                        resume_at: Some(Instant::now() + delay),
                    };
                }
            }
            Mode::Command {
                slot,
                restart,
                reply,
                ..
            } => {
                if restart {
                    self.revive(&slot);
                }
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(()));
                }
            }
            other @ (Mode::Running | Mode::Done) => self.mode = other,
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Exited {
                slot,
                generation,
                outcome,
            } => self.on_exit(slot, generation, outcome),
            Message::Stop(name, reply) => self.command(name, false, reply),
            Message::Restart(name, reply) => self.command(name, true, reply),
        }
    }

    fn on_exit(&mut self, slot: Arc<Slot>, generation: u64, outcome: Outcome) {
        let (current, stopping) =
            slot.with(|state, _| (state.generation == generation, state.stop.is_some()));
        if !current {
            return;
        }
        // A child still queued to be stopped that ended by itself is stopped.
        let stopping = stopping || self.take_from_queue(&slot);
        let decides_now =
            stopping || matches!(self.mode, Mode::Running | Mode::ShuttingDown { .. });
        if !decides_now {
            self.deferred.push_back(Message::Exited {
                slot,
                generation,
                outcome,
            });
            return;
        }
        let error = match &outcome {
            Outcome::Failed(error) => Some(error.clone()),
            Outcome::Dropped => Some("the service's task was dropped".to_owned()),
            Outcome::Clean | Outcome::NotStarted => None,
        };
        slot.with(|state, _| {
            state.end_attempt();
            state.ended_generation = generation;
            state.ready = false;
            if let Some(error) = &error {
                state.lifecycle.record_failure(error);
            }
        });
        if let Some(error) = &error {
            tracing::warn!(service = &*slot.path, error = %error, "service failed");
        }
        if stopping {
            self.stopped(&slot, outcome);
        } else if self.shutting_down() || self.core.cancel.is_cancelled() {
            // (Cancelled: the shutdown begins at this loop's next turn.)
            self.terminate(&slot, shutdown_reason(error));
        } else if matches!(outcome, Outcome::NotStarted) {
            // Only a stop makes an attempt give up before starting.
            self.terminate(&slot, TerminationReason::Cancelled);
        } else {
            self.exited(&slot, error);
        }
    }

    /// Removes `slot` from the current plan's queue, marking it as asked to
    /// stop; whether it was there.
    fn take_from_queue(&mut self, slot: &Arc<Slot>) -> bool {
        let Some(plan) = self.plan_mut() else {
            return false;
        };
        let Some(index) = plan.queue.iter().position(|s| Arc::ptr_eq(s, slot)) else {
            return false;
        };
        plan.queue.remove(index);
        let why = plan.why;
        slot.with(|state, _| state.stop = Some(why));
        true
    }

    /// A child's run ended on its own: restart it, or not.
    fn exited(&mut self, slot: &Arc<Slot>, error: Option<String>) {
        if !slot.policy.restarts_after(error.is_some()) {
            let reason = match error {
                Some(error) => TerminationReason::Unrecoverable(error),
                None => TerminationReason::Completed,
            };
            self.terminate_child(slot, reason);
            return;
        }
        let action = slot.with(|state, _| {
            state.backoff.maybe_reset_on_cooldown();
            state.backoff.next_backoff()
        });
        let delay = match action {
            BackoffAction::Retry(delay) => delay,
            BackoffAction::CircuitOpen {
                failures,
                max_retries,
            } => {
                tracing::error!(
                    service = &*slot.path,
                    failures,
                    max_retries,
                    "circuit breaker open: giving up on the service"
                );
                self.core.record_circuit_breaker_trip(slot);
                self.terminate_child(
                    slot,
                    TerminationReason::CircuitBreakerOpen {
                        failures,
                        max_retries,
                    },
                );
                return;
            }
        };
        if !self.count_restart(slot) {
            return;
        }
        let reason = error.as_deref().unwrap_or("clean exit, policy=always");
        let backing_off = slot.with(|state, tx| {
            // A shutdown requested since this loop last looked has already
            // marked the child `Stopping` (under this lock): it stops here.
            if state.lifecycle.phase() == ServicePhase::Stopping {
                return false;
            }
            tx.apply(&mut state.lifecycle, Some(reason), |lc| {
                lc.transition_to_backing_off(reason, delay)
            })
        });
        if !backing_off {
            self.terminate(slot, shutdown_reason(error));
            return;
        }
        match self.core.settings.strategy {
            Strategy::OneForOne => {
                tracing::info!(service = &*slot.path, ?delay, "restarting after backoff");
                self.launch(slot, delay);
            }
            Strategy::OneForAll | Strategy::RestForOne => self.begin_group(slot, delay),
        }
    }

    /// Counts a restart against the intensity; escalates past it.
    fn count_restart(&mut self, slot: &Slot) -> bool {
        let Some(Intensity { restarts, within }) = self.core.settings.intensity else {
            return true;
        };
        let now = Instant::now();
        self.restarts.push_back(now);
        while self
            .restarts
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= within)
        {
            self.restarts.pop_front();
        }
        let count = u32::try_from(self.restarts.len()).unwrap_or(u32::MAX);
        if count <= restarts {
            return true;
        }
        self.escalate(SupervisorError::IntensityExceeded {
            supervisor: self.core.settings.path.to_string(),
            child: slot.path.to_string(),
            restarts: count,
            within,
        });
        false
    }

    fn begin_group(&mut self, trigger: &Arc<Slot>, delay: Duration) {
        let slots = self.core.slots();
        let from = match self.core.settings.strategy {
            Strategy::RestForOne => slots
                .iter()
                .position(|s| Arc::ptr_eq(s, trigger))
                .unwrap_or(0),
            _ => 0,
        };
        let members: Vec<Arc<Slot>> = slots[from..]
            .iter()
            .filter(|s| !s.phase().is_terminal())
            .cloned()
            .collect();
        let mut queue: VecDeque<Arc<Slot>> = members
            .iter()
            .filter(|s| !Arc::ptr_eq(s, trigger))
            .cloned()
            .collect();
        if self.core.settings.order == ShutdownOrder::Reverse {
            queue = queue.into_iter().rev().collect();
        }
        tracing::info!(
            service = &*trigger.path,
            strategy = %self.core.settings.strategy,
            siblings = queue.len(),
            ?delay,
            "restarting the child with its siblings"
        );
        self.mode = Mode::Group {
            plan: Plan::new(
                StopWhy::Group,
                queue,
                Waiting::new(self.core.clone()),
                self.core.settings.order,
            ),
            members,
            delay,
            trigger: trigger.path.clone(),
            resume_at: None,
        };
    }

    /// Starts the members of a group restart again, in declaration order.
    fn relaunch(&mut self, members: Vec<Arc<Slot>>) {
        self.mode = Mode::Running;
        for member in members {
            if member.phase() == ServicePhase::BackingOff {
                self.launch(&member, Duration::ZERO);
            }
        }
    }

    fn command(&mut self, name: String, restart: bool, reply: Reply) {
        match self.mode {
            Mode::Running => {}
            Mode::ShuttingDown { .. } | Mode::Done => {
                let _ = reply.send(Err(ControlError::ShuttingDown));
                return;
            }
            Mode::Group { .. } | Mode::Command { .. } => {
                let message = if restart {
                    Message::Restart(name, reply)
                } else {
                    Message::Stop(name, reply)
                };
                self.deferred.push_back(message);
                return;
            }
        }
        let Some(slot) = self.core.slot(&name) else {
            let _ = reply.send(Err(ControlError::NoSuchChild { name }));
            return;
        };
        if slot.phase().is_terminal() {
            if restart {
                self.revive(&slot);
            }
            let _ = reply.send(Ok(()));
            return;
        }
        tracing::info!(
            service = &*slot.path,
            restart,
            "stopping the child by request"
        );
        self.mode = Mode::Command {
            plan: Plan::new(
                StopWhy::Command,
                VecDeque::from([slot.clone()]),
                Waiting::new(self.core.clone()),
                ShutdownOrder::Reverse,
            ),
            slot,
            restart,
            reply: Some(reply),
        };
    }

    fn revive(&mut self, slot: &Arc<Slot>) {
        slot.with(|state, tx| {
            tx.apply(
                &mut state.lifecycle,
                Some("restarted by request"),
                ServiceLifecycle::revive,
            );
            state.backoff.reset();
        });
        self.core.record_spawn();
        self.launch(slot, Duration::ZERO);
    }

    fn launch(&mut self, slot: &Arc<Slot>, delay: Duration) {
        self.core.launch(slot, delay);
    }

    /// Asks `slot` to stop; it is waited for if it has a task running.
    fn request_stop(&mut self, slot: Arc<Slot>, why: StopWhy) {
        let deadline = Instant::now() + slot.shutdown_timeout;
        let core = &self.core;
        let running = slot.with(|state, tx| {
            if state.lifecycle.phase().is_terminal() {
                return None;
            }
            state.stop = Some(why);
            if why != StopWhy::Group && state.lifecycle.phase().is_alive() {
                tx.apply(
                    &mut state.lifecycle,
                    None,
                    ServiceLifecycle::transition_to_stopping,
                );
            }
            if state.attempt.is_none() {
                return Some(false);
            }
            // Counted before the deadline is set: whoever clears the
            // deadline (this loop, or the attempt itself) counts down.
            if state.stop_deadline.is_none() {
                core.stop_pending();
            }
            state.stop_deadline = Some(deadline);
            state.cancel_run();
            Some(true)
        });
        match running {
            Some(true) => {
                if let Some(plan) = self.plan_mut() {
                    plan.waiting.push(deadline);
                }
            }
            Some(false) => self.stopped(&slot, Outcome::NotStarted),
            None => {}
        }
    }

    /// A child asked to stop has stopped (or had nothing running).
    fn stopped(&mut self, slot: &Arc<Slot>, outcome: Outcome) {
        // Whatever the plan: a shutdown may have asked it to stop before
        // this loop saw the shutdown.
        self.core.unwait(slot);
        let why = slot.with(|state, _| state.stop);
        match why {
            Some(StopWhy::Group) => self.parked_for_group(slot, "stopped"),
            Some(StopWhy::Shutdown | StopWhy::Command) | None => {
                self.terminate(slot, outcome.stop_reason());
            }
        }
    }

    /// A sibling stopped for a group restart waits, backing off, to be started again.
    fn parked_for_group(&self, slot: &Slot, how: &str) {
        let Mode::Group { trigger, delay, .. } = &self.mode else {
            return;
        };
        let reason = format!("{how} to restart with {trigger}");
        slot.with(|state, tx| {
            state.stop = None;
            if state.lifecycle.phase() == ServicePhase::Running {
                tx.apply(&mut state.lifecycle, Some(&reason), |lc| {
                    lc.transition_to_backing_off(&reason, *delay)
                });
            }
        });
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        if let Mode::Group {
            resume_at: Some(at),
            ..
        } = &self.mode
        {
            if *at <= now
                && let Mode::Group { members, .. } =
                    std::mem::replace(&mut self.mode, Mode::Running)
            {
                self.relaunch(members);
            }
            return;
        }
        let overdue: Vec<Arc<Slot>> = self
            .plan_mut()
            .map(|plan| plan.waiting.overdue(now))
            .unwrap_or_default();
        for slot in overdue {
            self.abort(&slot);
        }
    }

    /// Aborts a child that outlived its shutdown timeout.
    fn abort(&mut self, slot: &Arc<Slot>) {
        self.core.unwait(slot);
        let why = slot.with(|state, _| {
            state.generation += 1;
            if let Some(attempt) = state.end_attempt() {
                attempt.task.abort();
                state.rare().aborted = Some(attempt.task);
            }
            state.stop
        });
        tracing::warn!(
            service = &*slot.path,
            timeout = ?slot.shutdown_timeout,
            "service did not stop within its shutdown timeout: aborted"
        );
        if why == Some(StopWhy::Group) {
            self.parked_for_group(slot, "aborted after shutdown timeout");
        } else {
            if matches!(self.mode, Mode::ShuttingDown { .. }) {
                self.aborted.push(slot.path.to_string());
            }
            self.terminate(slot, TerminationReason::Aborted);
        }
    }

    fn terminate(&self, slot: &Slot, reason: TerminationReason) {
        // Formatted only for a subscriber that wants it.
        let shown = tracing::enabled!(tracing::Level::INFO).then(|| reason.to_string());
        if let Some(uptime) = slot.terminate(reason) {
            if let Some(reason) = shown {
                tracing::info!(service = &*slot.path, %reason, "service terminated");
            }
            self.core.record_termination(uptime);
        }
    }

    /// Terminates a child that ended on its own; a critical one that ended
    /// in failure takes the supervisor down.
    fn terminate_child(&mut self, slot: &Slot, reason: TerminationReason) {
        let failure = reason.is_failure().then(|| reason.to_string());
        self.terminate(slot, reason);
        if slot.critical
            && let Some(reason) = failure
        {
            self.escalate(SupervisorError::CriticalChildTerminated {
                supervisor: self.core.settings.path.to_string(),
                child: slot.path.to_string(),
                reason,
            });
        }
    }

    fn escalate(&mut self, error: SupervisorError) {
        if self.failure.is_none() {
            tracing::error!(%error, "supervisor gives up");
            self.failure = Some(error);
        }
        self.begin_shutdown();
    }

    fn begin_shutdown(&mut self) {
        if self.shutting_down() {
            return;
        }
        self.core.close();
        let mut waiting = Waiting::new(self.core.clone());
        let mut interrupted = true;
        match std::mem::replace(&mut self.mode, Mode::Running) {
            Mode::Group { plan, .. } => waiting = plan.waiting,
            Mode::Command { plan, reply, .. } => {
                waiting = plan.waiting;
                if let Some(reply) = reply {
                    let _ = reply.send(Err(ControlError::ShuttingDown));
                }
            }
            _ => interrupted = false,
        }
        let order = self.core.settings.order;
        let pass = self.core.take_shutdown_pass();
        let mut queue = VecDeque::new();
        if let (Some(pass), false) = (pass, interrupted) {
            // `request_shutdown` asked everyone; what is left is to watch the
            // deadlines, and stop those it found without a run.
            for deadline in pass.deadlines {
                waiting.push(deadline);
            }
            queue.extend(pass.no_run);
            self.start_shutdown(waiting, queue, order);
            return;
        }
        // Otherwise one pass here: children already waited for (by the
        // interrupted operation, or by `request_shutdown`) now stop for the
        // shutdown, and their deadlines are watched; the others are queued.
        for slot in self.core.slots() {
            let waited = slot.with(|state, tx| {
                if state.lifecycle.phase().is_terminal() {
                    return None;
                }
                let Some(deadline) = state.stop_deadline else {
                    return Some(None);
                };
                state.stop = Some(StopWhy::Shutdown);
                if state.lifecycle.phase().is_alive() {
                    tx.apply(
                        &mut state.lifecycle,
                        None,
                        ServiceLifecycle::transition_to_stopping,
                    );
                }
                Some(Some(deadline))
            });
            match waited {
                Some(Some(deadline)) => waiting.push(deadline),
                Some(None) => queue.push_back(slot),
                // Nothing to stop (which a terminated child's lifecycle keeps).
                None => {}
            }
        }
        if order == ShutdownOrder::Reverse {
            queue = queue.into_iter().rev().collect();
        }
        self.start_shutdown(waiting, queue, order);
    }

    fn start_shutdown(
        &mut self,
        waiting: Waiting,
        queue: VecDeque<Arc<Slot>>,
        order: ShutdownOrder,
    ) {
        tracing::info!(
            supervisor = &*self.core.settings.path,
            children = queue.len() + waiting.len(),
            order = %order,
            "stopping children"
        );
        self.mode = Mode::ShuttingDown {
            plan: Plan::new(StopWhy::Shutdown, queue, waiting, order),
        };
        for message in std::mem::take(&mut self.deferred) {
            self.handle(message);
        }
    }
}
