//! The control loop of one supervisor.
//!
//! It owns every decision but the commonest: when a child's run ends it
//! applies the child's policy, backoff and breaker, counts the restart
//! against the supervisor's intensity, and restarts the child alone
//! (`one_for_one`) or with its siblings (`one_for_all`, `rest_for_one`:
//! stop them in reverse order, wait the backoff, start them all in
//! declaration order). A `one_for_one` child whose run ended on its own,
//! outside a start or a shutdown, is restarted by its own attempt instead,
//! through the same [`decide`] (see [`super::attempt`]); what it decides
//! other than a restart is left in the child's slot (`Run::Decided`),
//! taken in here like an exit and carried out. It carries out
//! `stop_child`, `restart_child` and `remove_child`, and stops the children
//! in reverse order (or all at once) on shutdown, each within its own
//! timeout and aborted after it.
//!
//! Like an OTP supervisor, it handles every message in every state, and
//! sets nothing aside for later: an exit during a group restart is taken in
//! at once (and merges its own restart into the group's), a command during
//! a group restart takes its child out of the group, a shutdown takes over
//! whatever is under way. Operations are concurrent: a group restart, any
//! number of commands (one at a time per child) and their stops proceed
//! side by side, each bounded by the shutdown timeouts of what it stops.
//!
//! Before it acts on a child, the loop takes in any exit that child has
//! already reported (as OTP's `shutdown/2` picks up an `'EXIT'` already in
//! the mailbox): a child is never waited for after it has stopped.
//!
//! With ordered start (the default for trees), the loop starts the
//! children of the spec one at a time, each once the one before is ready,
//! and so again for each group restart. A child of the spec that fails, or
//! is not ready within its start timeout, as the supervisor starts, makes
//! the supervisor fail to start (it stops what it started, last first); in
//! a group's restart, it is a failure of that child like any other.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::slot::{
    Aborted, Outcome, Run, Slot, SlotState, StopWhy, Taken, Transitions, deadline_after,
};
use super::{CommandKind, Core, Finished, Message, Reply};
use crate::backoff::BackoffAction;
use crate::error::{ControlError, SupervisorError};
use crate::lifecycle::{ServiceLifecycle, ServicePhase, TerminationReason};
use crate::service::RestartPolicy;
use crate::strategy::{AutoShutdown, Intensity, ShutdownOrder, StartOrder, Strategy};

/// The times to wake up at for the stops under way. A child waited for
/// holds its deadline in its slot (`stop_deadline`) and is counted by the
/// core; here are only the times, rounded up to the millisecond (the
/// timer's resolution), so that children asked to stop together share one.
/// At such a time the children past their deadline are found by a scan: a
/// rare event (a child that outlives its shutdown timeout), where an entry
/// per child cost every shutdown an allocation and two reference counts per
/// child.
struct Waiting {
    deadlines: BTreeSet<Instant>,
    /// Where the millisecond ticks are counted from.
    base: Instant,
}

impl Waiting {
    fn new() -> Self {
        Self {
            deadlines: BTreeSet::new(),
            base: Instant::now(),
        }
    }

    /// Wakes up at `deadline` (or just after: the next millisecond).
    fn push(&mut self, deadline: Instant) {
        let since = deadline.saturating_duration_since(self.base);
        let ticks = u64::try_from(since.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        self.deadlines
            .insert(deadline_after(self.base, Duration::from_millis(ticks)).max(deadline));
    }

    fn next(&mut self, pending: usize) -> Option<Instant> {
        if pending == 0 {
            self.deadlines.clear();
        }
        self.deadlines.first().copied()
    }

    /// Forgets the times up to `now`; whether there were any.
    fn pop_due(&mut self, now: Instant) -> bool {
        if self.deadlines.first().is_none_or(|d| *d > now) {
            return false;
        }
        self.deadlines.retain(|d| *d > now);
        true
    }
}

/// Where a member of a group restart is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    /// Still running: to be asked to stop.
    Running,
    /// Asked to stop; waited for.
    Stopping,
    /// Stopped: waits to be started again.
    Parked,
    /// Out of the group: terminated, or taken by a command.
    Gone,
}

/// A group restart (`one_for_all`, `rest_for_one`): stop the members
/// (reverse order, one at a time, or all at once), wait the backoff, start
/// them again in declaration order. A member that fails on its own while
/// the group stops joins with its own restart: its siblings join the group
/// (per the strategy) and its backoff extends the wait.
struct Group {
    /// In declaration order.
    members: Vec<(Arc<Slot>, Member)>,
    /// The longest backoff of the failures that restart the group.
    delay: Duration,
    /// The child whose failure began it, for reasons and logs.
    trigger: Arc<str>,
    /// Once every member has stopped: when they start again.
    resume_at: Option<Instant>,
}

impl Group {
    fn member(&mut self, slot: &Arc<Slot>) -> Option<&mut Member> {
        self.members
            .iter_mut()
            .find(|(s, _)| Arc::ptr_eq(s, slot))
            .map(|(_, m)| m)
    }

    fn stopping(&self) -> bool {
        self.members.iter().any(|(_, m)| *m == Member::Stopping)
    }

    /// The next members to ask to stop: the last one still running, or
    /// (concurrent order) every one.
    fn next_to_stop(&self, concurrent: bool) -> Vec<Arc<Slot>> {
        let running = self
            .members
            .iter()
            .rev()
            .filter(|(_, m)| *m == Member::Running)
            .map(|(s, _)| s.clone());
        if concurrent {
            running.collect()
        } else {
            running.take(1).collect()
        }
    }
}

/// A command under way for one child, and those that came after it for the
/// same child (carried out in order when it completes).
struct Command {
    slot: Arc<Slot>,
    kind: CommandKind,
    replies: Vec<Reply>,
    then: VecDeque<(CommandKind, Reply)>,
}

/// Children started one at a time (ordered start): the one waited for,
/// and those after it, in declaration order.
struct Starting {
    queue: VecDeque<Arc<Slot>>,
    current: Option<Awaited>,
}

/// The child an ordered start waits for.
struct Awaited {
    slot: Arc<Slot>,
    /// Its run's generation: another one means that run has ended.
    generation: u64,
    timeout: Duration,
    deadline: Instant,
}

/// The children still to be asked to stop, last declared first (empty for
/// a concurrent shutdown, whose pass asked everyone at once).
struct Shutdown {
    queue: Vec<Arc<Slot>>,
}

struct Actor {
    core: Arc<Core>,
    failure: Option<SupervisorError>,
    waiting: Waiting,
    group: Option<Group>,
    /// By the address of the child's slot.
    commands: HashMap<usize, Command>,
    shutdown: Option<Shutdown>,
    /// The ordered start under way: the spec's children, or a group's.
    starting: Option<Starting>,
    /// Until the children of the spec have started: their failure to
    /// start is then the supervisor's.
    initial: bool,
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

fn key(slot: &Arc<Slot>) -> usize {
    Arc::as_ptr(slot) as usize
}

/// Runs the supervisor until it has stopped every child. Should the loop
/// itself panic (a bug in Janus), its children are aborted and the
/// supervisor fails with [`SupervisorError::Internal`]: it never hangs
/// half-stopped while reporting itself healthy.
pub(crate) async fn run(core: Arc<Core>, inbox: mpsc::UnboundedReceiver<Message>) -> Finished {
    use futures_util::FutureExt as _;
    let outcome = std::panic::AssertUnwindSafe(control_loop(core.clone(), inbox))
        .catch_unwind()
        .await;
    match outcome {
        Ok(finished) => finished,
        Err(panic) => {
            let problem = super::panic_message(&*panic);
            tracing::error!(supervisor = &*core.settings.path, %problem, "the supervisor's control loop failed");
            core.request_shutdown();
            core.abort_all();
            let finished = Finished {
                report: core.finished_now().map(|f| f.report).unwrap_or_default(),
                error: Some(SupervisorError::Internal {
                    supervisor: core.settings.path.to_string(),
                    problem,
                }),
            };
            core.set_finished(finished.clone());
            finished
        }
    }
}

async fn control_loop(core: Arc<Core>, mut inbox: mpsc::UnboundedReceiver<Message>) -> Finished {
    let mut actor = Actor {
        core: core.clone(),
        failure: None,
        waiting: Waiting::new(),
        group: None,
        commands: HashMap::new(),
        shutdown: None,
        starting: None,
        initial: true,
    };
    // The children of the spec, registered and waiting for their turn.
    let queue: VecDeque<Arc<Slot>> = core
        .slots()
        .into_iter()
        .filter(|slot| slot.with(|state, _| state.generation == 0))
        .collect();
    actor.starting = Some(Starting {
        queue,
        current: None,
    });
    // Made once, not at every turn: each registers a waiter (a lock and a
    // list entry) when first polled, and a restart is one turn.
    let mut cancelled = std::pin::pin!(core.cancel.cancelled());
    let mut stops_done = std::pin::pin!(core.stops_done.notified());
    loop {
        if actor.shutdown.is_none() && core.cancel.is_cancelled() {
            actor.begin_shutdown();
        }
        actor.advance();
        if actor.is_done() {
            break;
        }
        let deadline = actor.next_wakeup();
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
            () = cancelled.as_mut(), if actor.shutdown.is_none() => actor.begin_shutdown(),
            () = sleep_until(deadline) => actor.on_wakeup(),
            // Children stopping by themselves during a shutdown count down.
            () = stops_done.as_mut() => stops_done.set(core.stops_done.notified()),
        }
    }
    inbox.close();
    while let Ok(message) = inbox.try_recv() {
        actor.handle(message);
    }
    // What the drain did, in the whole tree: this supervisor's children and,
    // through the reports of the supervisors among them, theirs.
    let finished = Finished {
        report: core.report_since(0),
        error: actor.failure.take(),
    };
    core.set_finished(finished.clone());
    finished
}

impl Actor {
    fn is_done(&self) -> bool {
        self.shutdown
            .as_ref()
            .is_some_and(|s| s.queue.is_empty() && self.core.stops_pending() == 0)
    }

    fn next_wakeup(&mut self) -> Option<Instant> {
        let stop = self.waiting.next(self.core.stops_pending());
        let resume = self.group.as_ref().and_then(|g| g.resume_at);
        let start = self
            .starting
            .as_ref()
            .and_then(|s| s.current.as_ref())
            .map(|awaited| awaited.deadline);
        [stop, resume, start].into_iter().flatten().min()
    }

    /// Moves the operations under way forward as far as they go without
    /// waiting.
    fn advance(&mut self) {
        self.advance_stops();
        if self.shutdown.is_none() {
            self.advance_start();
        }
    }

    /// The ordered start: once the child waited for is ready (or its run
    /// has ended, and been taken in), the next one is launched; once none
    /// is left, the spec's children have started.
    fn advance_start(&mut self) {
        let Some(mut starting) = self.starting.take() else {
            return;
        };
        loop {
            if let Some(awaited) = &starting.current {
                let started = awaited.slot.with(|state, _| {
                    if state.generation != awaited.generation {
                        return true;
                    }
                    match state.run {
                        Run::Live { .. } => state.ready,
                        // Its exit is yet to be taken in.
                        Run::Ended(_) | Run::Decided(_) => false,
                        Run::Idle => true,
                    }
                });
                if !started {
                    self.starting = Some(starting);
                    return;
                }
                starting.current = None;
            }
            let Some(slot) = starting.queue.pop_front() else {
                if std::mem::take(&mut self.initial) {
                    self.started();
                }
                return;
            };
            let now = Instant::now();
            let default = self.core.settings.start_timeout;
            let core = &self.core;
            let launch = slot.with(|state, tx| {
                let timeout = state.start_timeout().unwrap_or(default);
                let launch = core.prepare_launch(state, tx, Duration::ZERO, false)?;
                state.awaited = true;
                Some((launch, state.generation, timeout))
            });
            // Stopped, or restarting by itself, before its turn: not waited for.
            let Some((launch, generation, timeout)) = launch else {
                continue;
            };
            self.core.spawn_launch(&slot, launch);
            starting.current = Some(Awaited {
                slot,
                generation,
                timeout,
                deadline: deadline_after(now, timeout),
            });
        }
    }

    /// The children of the spec have started.
    fn started(&self) {
        tracing::debug!(supervisor = &*self.core.settings.path, "children started");
        self.core.set_started();
        // A nested supervisor is ready once its children are: its parent's
        // ordered start goes on (nothing outside a supervised run).
        crate::context::mark_ready();
    }

    /// Whether `slot` is the child the supervisor's own start waits for,
    /// and its run ended before it was ready.
    fn starting_now(&self, slot: &Arc<Slot>) -> bool {
        let awaited = self
            .starting
            .as_ref()
            .and_then(|s| s.current.as_ref())
            .is_some_and(|awaited| Arc::ptr_eq(&awaited.slot, slot));
        awaited && slot.with(|state, _| std::mem::take(&mut state.awaited)) && self.initial
    }

    /// A child of the spec failed to start, as the supervisor started: the
    /// supervisor fails, stopping what it started, last first.
    fn failed_to_start(&mut self, slot: &Arc<Slot>, reason: String) {
        self.terminate(slot, TerminationReason::Unrecoverable(reason.clone()));
        self.escalate(SupervisorError::FailedToStart {
            supervisor: self.core.settings.path.to_string(),
            child: slot.path.to_string(),
            reason,
        });
    }

    /// Moves the stops under way (a shutdown's, a group restart's) forward.
    fn advance_stops(&mut self) {
        loop {
            if let Some(shutdown) = &mut self.shutdown {
                let concurrent = self.core.settings.order == ShutdownOrder::Concurrent;
                if !concurrent && self.core.stops_pending() > 0 {
                    return;
                }
                let Some(slot) = shutdown.queue.pop() else {
                    return;
                };
                self.request_stop(&slot, StopWhy::Shutdown);
                continue;
            }
            let Some(group) = &mut self.group else {
                return;
            };
            let concurrent = self.core.settings.order == ShutdownOrder::Concurrent;
            if !concurrent && group.stopping() {
                return;
            }
            let next = group.next_to_stop(concurrent);
            if !next.is_empty() {
                for slot in next {
                    self.stop_member(&slot);
                }
                continue;
            }
            if group.stopping() {
                return;
            }
            // Every member has stopped: the backoff, then everyone again.
            let now = Instant::now();
            let resume_at = deadline_after(now, group.delay);
            let resume_at = *group.resume_at.get_or_insert(resume_at);
            if resume_at > now {
                return;
            }
            self.relaunch();
        }
    }

    fn handle(&mut self, message: Message) {
        #[cfg(test)]
        if let Message::Command { name, .. } = &message
            && name == super::FAULT
        {
            panic!("fault injected by a test");
        }
        match message {
            Message::Exited(slot) => self.on_exit(&slot),
            Message::Command { kind, name, reply } => self.command(kind, &name, reply),
            // The ordered start looks at the child it waits for next.
            Message::Ready => {}
            Message::Reconfigure { changes, reply } => self.reconfigure(changes, reply),
        }
    }

    /// New settings, checked, from the next decision on: the restarts
    /// already counted stay in the window of the new intensity.
    fn reconfigure(&mut self, changes: super::Changes, reply: Reply) {
        if self.shutdown.is_some() || self.core.is_closing() {
            let _ = reply.send(Err(ControlError::ShuttingDown));
            return;
        }
        if let Some(Some(Intensity { within, .. })) = changes.intensity
            && within.is_zero()
        {
            let _ = reply.send(Err(ControlError::InvalidConfig {
                problem: "intensity window must not be zero".into(),
            }));
            return;
        }
        if let Some(Err(e)) = changes
            .backoff
            .as_ref()
            .map(crate::backoff::BackoffConfig::validate)
        {
            let _ = reply.send(Err(ControlError::InvalidConfig {
                problem: format!("default backoff: {e}"),
            }));
            return;
        }
        let intensity = {
            let mut window = self.core.restart_window();
            if let Some(intensity) = changes.intensity {
                window.limit = intensity;
            }
            window.limit
        };
        self.core
            .set_defaults(changes.backoff, changes.shutdown_timeout);
        tracing::info!(
            supervisor = &*self.core.settings.path,
            ?intensity,
            "reconfigured"
        );
        let _ = reply.send(Ok(()));
    }

    /// Takes in the exit `slot` has reported, if it has one waiting.
    fn on_exit(&mut self, slot: &Arc<Slot>) {
        let (exit, why) = match slot.with(|state, _| state.take_exit()) {
            None => return,
            Some(Taken::Exit(exit, why)) => (exit, why),
            Some(Taken::Decided(pending)) => {
                if self.shutdown.is_some() || self.core.cancel.is_cancelled() {
                    // As for any exit during a shutdown: not restarted,
                    // not escalated; the shutdown stops it.
                    self.terminate(slot, pending.outcome.shutdown_reason());
                } else {
                    self.carry_out(slot, pending.decision, pending.outcome.error());
                }
                return;
            }
        };
        let asked = exit.asked;
        let outcome = exit.outcome();
        match why {
            Some(why) if asked => self.stopped(slot, &outcome, why),
            _ => self.exited(slot, &outcome),
        }
    }

    /// A child asked to stop has stopped (or had nothing running).
    fn stopped(&mut self, slot: &Arc<Slot>, outcome: &Outcome, why: StopWhy) {
        self.core.unwait(slot);
        match why {
            StopWhy::Group => self.parked(slot, outcome.stop_reason(), "stopped"),
            StopWhy::Command => {
                self.terminate(slot, outcome.stop_reason());
                self.command_done(slot);
            }
            StopWhy::Shutdown => self.terminate(slot, outcome.stop_reason()),
            StopWhy::StartTimeout => self.not_ready_in_time(slot, outcome),
        }
    }

    /// A child stopped because it was not ready within its start timeout
    /// (a group's ordered restart): that run failed, and its policy decides
    /// what follows, as for any failure. A run that failed by itself
    /// meanwhile failed with its own error.
    fn not_ready_in_time(&mut self, slot: &Arc<Slot>, outcome: &Outcome) {
        let timeout = self.start_timeout_of(slot);
        let failure = match outcome {
            Outcome::Failed(error) => Outcome::Failed(error.clone()),
            _ => {
                let error = format!("not ready within its start timeout ({timeout:?})");
                slot.with(|state, _| state.lifecycle.record_failure(&error));
                Outcome::Failed(error.into())
            }
        };
        slot.with(|state, _| state.stop = None);
        self.exited(slot, &failure);
    }

    fn start_timeout_of(&self, slot: &Slot) -> Duration {
        slot.with(|state, _| state.start_timeout())
            .unwrap_or(self.core.settings.start_timeout)
    }

    /// A member of the group restart has stopped: it waits, backing off, to
    /// be started again; a `Never` child terminates (it runs once).
    fn parked(&mut self, slot: &Arc<Slot>, reason: TerminationReason, how: &str) {
        let temporary = slot.policy == RestartPolicy::Never;
        let member = self.group.as_mut().and_then(|g| g.member(slot));
        let Some(member) = member.filter(|m| **m != Member::Gone && !temporary) else {
            // A temporary child, or one no group restart waits for any
            // more (a shutdown took over): it stops here.
            self.leave_group(slot);
            self.terminate(slot, reason);
            return;
        };
        *member = Member::Parked;
        let Some(group) = &self.group else {
            return;
        };
        let reason = format!("{how} to restart with {}", group.trigger);
        let delay = group.delay;
        slot.with(|state, tx| {
            state.stop = None;
            if matches!(
                state.lifecycle.phase(),
                ServicePhase::Running | ServicePhase::Starting
            ) {
                tx.apply(&mut state.lifecycle, Some(&reason), |lc| {
                    lc.transition_to_backing_off(&reason, delay)
                });
            }
        });
    }

    /// A child's run ended on its own: its policy, backoff, breaker and the
    /// supervisor's intensity decide what follows.
    fn exited(&mut self, slot: &Arc<Slot>, outcome: &Outcome) {
        let error = outcome.error();
        if let Some(error) = error {
            tracing::warn!(service = &*slot.path, error = %error, "service failed");
            if self.starting_now(slot) && self.shutdown.is_none() {
                self.failed_to_start(slot, error.to_owned());
                return;
            }
        }
        if self.shutdown.is_some() || self.core.cancel.is_cancelled() {
            // Not restarted: the shutdown stops it (at this loop's next
            // turn, if it has only been requested).
            self.terminate(slot, outcome.shutdown_reason());
            return;
        }
        if matches!(outcome, Outcome::NotStarted) {
            // Only a stop (or a shutdown) makes a run give up before it starts.
            self.terminate(slot, TerminationReason::Cancelled);
            self.forget_if_dynamic(slot);
            return;
        }
        if !slot.policy.restarts_after(error.is_some()) {
            let reason = match error {
                Some(error) => TerminationReason::Unrecoverable(error.to_owned()),
                None => TerminationReason::Completed,
            };
            self.terminate_child(slot, reason);
            return;
        }
        let alone = self.core.settings.strategy == Strategy::OneForOne;
        let (decision, trip) =
            slot.with(|state, tx| decide(&self.core, slot, state, tx, error, alone));
        if let (Some(trip), Decision::Restart(..)) = (trip, &decision) {
            trip.log(&self.core, slot);
        }
        self.carry_out(slot, decision, error);
    }

    /// Carries out what [`decide`] decided for `slot`, whose run failed
    /// with `error` (or completed).
    fn carry_out(&mut self, slot: &Arc<Slot>, decision: Decision, error: Option<&str>) {
        match decision {
            Decision::Restart(delay, Some(launch)) => {
                tracing::info!(service = &*slot.path, ?delay, "restarting after backoff");
                self.core.spawn_launch(slot, launch);
            }
            Decision::Restart(delay, None)
                if self.core.settings.strategy != Strategy::OneForOne =>
            {
                self.group_restart(slot, delay);
            }
            Decision::Restart(..) | Decision::Stopped => {}
            Decision::BreakerOpen {
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
            }
            Decision::TooMany { restarts, within } => {
                self.escalate(SupervisorError::IntensityExceeded {
                    supervisor: self.core.settings.path.to_string(),
                    child: slot.path.to_string(),
                    restarts,
                    within,
                });
                // One restart too many: its supervisor gives up rather than
                // restart it.
                self.terminate(
                    slot,
                    TerminationReason::Unrecoverable(error.unwrap_or("clean exit").to_owned()),
                );
            }
        }
    }

    /// `trigger` failed and backs off: it restarts with its siblings (all of
    /// them, or those declared after it), joining a group restart already
    /// under way.
    fn group_restart(&mut self, trigger: &Arc<Slot>, delay: Duration) {
        // Those still to start join the group, which starts them again.
        self.starting = None;
        let slots = self.core.slots();
        let from = match self.core.settings.strategy {
            Strategy::RestForOne => slots
                .iter()
                .position(|s| Arc::ptr_eq(s, trigger))
                .unwrap_or(0),
            _ => 0,
        };
        let group = self.group.get_or_insert_with(|| Group {
            members: Vec::new(),
            delay,
            trigger: trigger.path.clone(),
            resume_at: None,
        });
        group.delay = group.delay.max(delay);
        let mut joined = 0;
        let mut members = Vec::with_capacity(slots.len() - from);
        for slot in &slots[from..] {
            let known = group
                .members
                .iter()
                .find(|(s, _)| Arc::ptr_eq(s, slot))
                .map(|(_, m)| *m);
            let member = if Arc::ptr_eq(slot, trigger) {
                Member::Parked
            } else if let Some(member) = known {
                member
            } else if self.commands.contains_key(&key(slot)) || slot.phase().is_terminal() {
                // A command has it, or it has ended: not in this restart.
                continue;
            } else {
                joined += 1;
                Member::Running
            };
            members.push((slot.clone(), member));
        }
        // Members before `from` (rest_for_one, joined earlier) stay.
        for (slot, member) in &group.members {
            if !members.iter().any(|(s, _)| Arc::ptr_eq(s, slot)) {
                members.push((slot.clone(), *member));
            }
        }
        let position = |slot: &Arc<Slot>| slots.iter().position(|s| Arc::ptr_eq(s, slot));
        members.sort_by_key(|(slot, _)| position(slot));
        group.members = members;
        if joined > 0 {
            // New members to stop first: the wait starts again after them.
            group.resume_at = None;
        } else if let Some(at) = &mut group.resume_at {
            *at = (*at).max(deadline_after(Instant::now(), delay));
        }
        tracing::info!(
            service = &*trigger.path,
            strategy = %self.core.settings.strategy,
            siblings = joined,
            ?delay,
            "restarting the child with its siblings"
        );
    }

    /// Asks a member of the group restart to stop.
    fn stop_member(&mut self, slot: &Arc<Slot>) {
        let state = match self.request_stop(slot, StopWhy::Group) {
            Requested::Waiting => Member::Stopping,
            Requested::NoRun => Member::Parked,
            Requested::Terminated => Member::Gone,
        };
        if let Some(member) = self.group.as_mut().and_then(|g| g.member(slot)) {
            // Unless taking in its exit already placed it.
            if *member == Member::Running {
                *member = state;
            }
        }
    }

    /// Starts the members of a group restart again, in declaration order:
    /// one at a time, each once the one before is ready (ordered start), or
    /// all at once.
    fn relaunch(&mut self) {
        let Some(group) = self.group.take() else {
            return;
        };
        let parked = group
            .members
            .into_iter()
            .filter(|(_, member)| *member == Member::Parked)
            .map(|(slot, _)| slot);
        if self.core.settings.start_order == StartOrder::Ordered {
            self.starting = Some(Starting {
                queue: parked.collect(),
                current: None,
            });
        } else {
            for slot in parked {
                self.core.launch(&slot, Duration::ZERO);
            }
        }
    }

    /// Takes `slot` out of the group restart, if it is in it.
    fn leave_group(&mut self, slot: &Arc<Slot>) {
        if let Some(member) = self.group.as_mut().and_then(|g| g.member(slot)) {
            *member = Member::Gone;
        }
    }

    fn command(&mut self, kind: CommandKind, name: &str, reply: Reply) {
        if self.shutdown.is_some() || self.core.is_closing() {
            let _ = reply.send(Err(ControlError::ShuttingDown));
            return;
        }
        let Some(slot) = self.core.slot(name) else {
            let _ = reply.send(Err(ControlError::NoSuchChild {
                name: name.to_owned(),
            }));
            return;
        };
        if let Some(under_way) = self.commands.get_mut(&key(&slot)) {
            if under_way.kind == kind && under_way.then.is_empty() {
                under_way.replies.push(reply);
            } else {
                under_way.then.push_back((kind, reply));
            }
            return;
        }
        self.start_command(slot, kind, vec![reply], VecDeque::new());
    }

    fn start_command(
        &mut self,
        slot: Arc<Slot>,
        kind: CommandKind,
        replies: Vec<Reply>,
        then: VecDeque<(CommandKind, Reply)>,
    ) {
        if kind == CommandKind::Delete {
            // Only a terminated child is forgotten.
            self.on_exit(&slot);
            let result = if slot.phase().is_terminal() {
                self.core.remove(&slot);
                Ok(())
            } else {
                Err(ControlError::Running {
                    name: slot.name(self.core.name_offset()).to_owned(),
                })
            };
            self.finish_command(&slot, replies, then, result);
            return;
        }
        if !slot.phase().is_terminal() {
            tracing::info!(service = &*slot.path, command = ?kind, "stopping the child by request");
        }
        self.leave_group(&slot);
        self.commands.insert(
            key(&slot),
            Command {
                slot: slot.clone(),
                kind,
                replies,
                then,
            },
        );
        if self.request_stop(&slot, StopWhy::Command) != Requested::Waiting {
            self.command_done(&slot);
        }
    }

    /// The child of a command under way has stopped (or had): carry out the
    /// rest of the command, and answer.
    fn command_done(&mut self, slot: &Arc<Slot>) {
        let Some(Command {
            slot,
            kind,
            replies,
            then,
        }) = self.commands.remove(&key(slot))
        else {
            return;
        };
        let result = match kind {
            CommandKind::Stop => {
                if self.core.settings.forgets_terminated() {
                    self.core.remove(&slot);
                }
                Ok(())
            }
            CommandKind::Restart => {
                if self.core.revive(&slot) {
                    Ok(())
                } else {
                    Err(ControlError::ShuttingDown)
                }
            }
            CommandKind::Remove | CommandKind::Delete => {
                self.core.remove(&slot);
                Ok(())
            }
        };
        self.finish_command(&slot, replies, then, result);
    }

    /// Answers a command, then takes up those that came after it for the
    /// same child, by name: the child may be gone (removed), or another
    /// by that name (added since).
    fn finish_command(
        &mut self,
        slot: &Arc<Slot>,
        replies: Vec<Reply>,
        then: VecDeque<(CommandKind, Reply)>,
        result: Result<(), ControlError>,
    ) {
        for reply in replies {
            let _ = reply.send(result.clone());
        }
        let name = slot.name(self.core.name_offset()).to_owned();
        for (kind, reply) in then {
            self.command(kind, &name, reply);
        }
    }

    /// Asks `slot` to stop, for `why`. An exit it already reported is taken
    /// in first; then a run under way is cancelled and waited for (within
    /// the child's shutdown timeout), and a child without a run stops at
    /// once (a group member stays parked).
    fn request_stop(&mut self, slot: &Arc<Slot>, why: StopWhy) -> Requested {
        loop {
            let now = Instant::now();
            let requested = slot.with(|state, tx| {
                if state.lifecycle.phase().is_terminal() {
                    return Some(Requested::Terminated);
                }
                // A stronger reason takes over a stop under way.
                if let Some(under_way) = state.stop {
                    state.stop = Some(under_way.max(why));
                }
                if matches!(state.run, Run::Ended(_) | Run::Decided(_)) {
                    return None;
                }
                // A group's member, or a child late to be ready, restarts:
                // it is not `Stopping`.
                if !matches!(why, StopWhy::Group | StopWhy::StartTimeout)
                    && state.lifecycle.phase().is_alive()
                {
                    tx.apply(
                        &mut state.lifecycle,
                        None,
                        ServiceLifecycle::transition_to_stopping,
                    );
                }
                if !matches!(state.run, Run::Live { .. }) {
                    return Some(Requested::NoRun);
                }
                state.stop = Some(state.stop.map_or(why, |s| s.max(why)));
                if state.stop == Some(StopWhy::Shutdown) {
                    state.drain_subtree();
                }
                if state.stop_deadline.is_none() {
                    // Counted before the deadline is set: whoever clears
                    // it (this loop, or the attempt itself) counts down.
                    self.core.stop_pending();
                    let deadline = deadline_after(now, state.shutdown_timeout);
                    state.stop_deadline = Some(deadline);
                    self.waiting.push(deadline);
                }
                state.cancel_run();
                Some(Requested::Waiting)
            });
            match requested {
                // It ended before it could be asked: as if it had been.
                None => self.on_exit(slot),
                Some(Requested::NoRun) => {
                    return match why {
                        StopWhy::Group | StopWhy::StartTimeout => Requested::NoRun,
                        StopWhy::Command | StopWhy::Shutdown => {
                            self.terminate(slot, TerminationReason::Cancelled);
                            Requested::Terminated
                        }
                    };
                }
                Some(requested) => return requested,
            }
        }
    }

    fn on_wakeup(&mut self) {
        let now = Instant::now();
        self.start_overdue(now);
        if self.waiting.pop_due(now) {
            let overdue: Vec<Arc<Slot>> = self
                .core
                .slots()
                .into_iter()
                .filter(|slot| slot.with(|state, _| state.stop_deadline.is_some_and(|d| d <= now)))
                .collect();
            for slot in overdue {
                self.abort(&slot);
            }
        }
    }

    /// The child the ordered start waits for, past its start timeout and
    /// not ready: as the supervisor starts, the supervisor fails to start;
    /// in a group's restart, the child is stopped, and its run failed.
    fn start_overdue(&mut self, now: Instant) {
        let Some(starting) = &mut self.starting else {
            return;
        };
        let Some(awaited) = starting.current.take_if(|a| a.deadline <= now) else {
            return;
        };
        let slot = awaited.slot;
        let late = slot.with(|state, _| {
            state.generation == awaited.generation
                && matches!(state.run, Run::Live { .. })
                && !state.ready
        });
        if !late {
            // Ready, or ended, just in time.
            return;
        }
        let reason = format!("not ready within its start timeout ({:?})", awaited.timeout);
        tracing::warn!(service = &*slot.path, %reason, "service did not start in time");
        if self.initial {
            self.escalate(SupervisorError::FailedToStart {
                supervisor: self.core.settings.path.to_string(),
                child: slot.path.to_string(),
                reason,
            });
            return;
        }
        // The ordered restart goes on with the next; this child's failure
        // (its exit, once stopped) is decided as any other.
        if self.request_stop(&slot, StopWhy::StartTimeout) == Requested::NoRun {
            self.not_ready_in_time(&slot, &Outcome::NotStarted);
        }
    }

    /// Aborts a child that outlived its shutdown timeout, unless it ended
    /// just in time.
    fn abort(&mut self, slot: &Arc<Slot>) {
        self.on_exit(slot);
        let (aborted, why, subtree, timeout) = slot.with(|state, _| {
            (
                state.abort_run(),
                state.stop,
                state.subtree().cloned(),
                state.shutdown_timeout,
            )
        });
        let Some(why) = why.filter(|_| aborted != Aborted::Nothing) else {
            return;
        };
        if let Some(subtree) = subtree {
            // Its children go with it, now: the report names them.
            subtree.abort_all();
        }
        if aborted == Aborted::Unstarted {
            // Its task never got to run the service: stopped, not aborted.
            self.stopped(slot, &Outcome::NotStarted, why);
            return;
        }
        self.core.unwait(slot);
        tracing::warn!(
            service = &*slot.path,
            ?timeout,
            "service did not stop within its shutdown timeout: aborted"
        );
        match why {
            StopWhy::Group => self.parked(
                slot,
                TerminationReason::Aborted,
                "aborted after shutdown timeout",
            ),
            StopWhy::Command => {
                self.terminate(slot, TerminationReason::Aborted);
                self.command_done(slot);
            }
            StopWhy::Shutdown => {
                self.core.record_abort(&slot.path);
                self.terminate(slot, TerminationReason::Aborted);
            }
            StopWhy::StartTimeout => self.not_ready_in_time(slot, &Outcome::NotStarted),
        }
    }

    fn terminate(&self, slot: &Arc<Slot>, reason: TerminationReason) {
        // Formatted only for a subscriber that wants it.
        let shown = tracing::enabled!(tracing::Level::INFO).then(|| reason.to_string());
        if let Some(uptime) = slot.terminate(reason) {
            if let Some(reason) = shown {
                tracing::info!(service = &*slot.path, %reason, "service terminated");
            }
            self.core.record_termination(uptime);
        }
    }

    /// A dynamic supervisor forgets a child that ended for good on its own
    /// (a stop by command is forgotten as the command completes); a
    /// shutdown keeps them all, for its report.
    fn forget_if_dynamic(&self, slot: &Arc<Slot>) {
        if self.core.settings.forgets_terminated()
            && self.shutdown.is_none()
            && !self.core.cancel.is_cancelled()
            && !self.commands.contains_key(&key(slot))
        {
            self.core.remove(slot);
        }
    }

    /// Terminates a child that ended on its own for good. A critical one
    /// that failed takes the supervisor down; so, in a tree, does one given
    /// up on by its breaker, unless it is expendable: a child whose policy
    /// says restart is never dropped while its supervisor looks healthy.
    fn terminate_child(&mut self, slot: &Arc<Slot>, reason: TerminationReason) {
        let by_itself = matches!(
            reason,
            TerminationReason::Completed | TerminationReason::Unrecoverable(_)
        );
        self.terminate_for_good(slot, reason);
        self.forget_if_dynamic(slot);
        if by_itself && slot.significant {
            self.auto_shutdown();
        }
    }

    /// A significant child ended by itself: the supervisor ends, normally,
    /// if that was the one (`any_significant`) or the last
    /// (`all_significant`) it waited for. Unless it already stops (a
    /// critical child's failure escalated, say).
    fn auto_shutdown(&mut self) {
        if self.shutdown.is_some() || self.core.cancel.is_cancelled() {
            return;
        }
        let done = match self.core.settings.auto_shutdown {
            AutoShutdown::Never => false,
            AutoShutdown::AnySignificant => true,
            AutoShutdown::AllSignificant => self
                .core
                .slots()
                .iter()
                .all(|s| !s.significant || s.phase().is_terminal()),
        };
        if done {
            tracing::info!(
                supervisor = &*self.core.settings.path,
                auto_shutdown = %self.core.settings.auto_shutdown,
                "significant children ended: shutting down"
            );
            self.begin_shutdown();
        }
    }

    fn terminate_for_good(&mut self, slot: &Arc<Slot>, reason: TerminationReason) {
        self.leave_group(slot);
        let given_up = matches!(reason, TerminationReason::CircuitBreakerOpen { .. });
        let failure = reason.is_failure().then(|| reason.to_string());
        self.terminate(slot, reason);
        let Some(reason) = failure else {
            return;
        };
        let supervisor = self.core.settings.path.to_string();
        let child = slot.path.to_string();
        if slot.critical {
            self.escalate(SupervisorError::CriticalChildTerminated {
                supervisor,
                child,
                reason,
            });
        } else if given_up && self.core.settings.escalate_given_up && !slot.expendable {
            self.escalate(SupervisorError::ChildGivenUp {
                supervisor,
                child,
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

    /// Stops everything: the commands under way are answered, the group
    /// restart is dropped, the stops under way become the shutdown's, and
    /// the children are asked in reverse order (or were all at once, by the
    /// pass of a concurrent shutdown).
    fn begin_shutdown(&mut self) {
        if self.shutdown.is_some() {
            return;
        }
        self.core.request_shutdown();
        for command in std::mem::take(&mut self.commands).into_values() {
            let replies = command.replies.into_iter();
            for reply in replies.chain(command.then.into_iter().map(|(_, r)| r)) {
                let _ = reply.send(Err(ControlError::ShuttingDown));
            }
        }
        self.group = None;
        self.starting = None;
        let concurrent = self.core.settings.order == ShutdownOrder::Concurrent;
        for deadline in self.core.take_shutdown_pass() {
            self.waiting.push(deadline);
        }
        tracing::info!(
            supervisor = &*self.core.settings.path,
            children = self.core.len(),
            order = %self.core.settings.order,
            "stopping children"
        );
        // Concurrent: the pass asked everyone; only its deadlines are left.
        let queue = if concurrent {
            Vec::new()
        } else {
            let slots = self.core.slots();
            // Stops under way (a group's, a command's) become the
            // shutdown's, within the deadlines they were given.
            for slot in &slots {
                slot.with(|state, tx| {
                    if state.stop.is_some() {
                        state.stop = Some(StopWhy::Shutdown);
                        if matches!(state.run, Run::Live { .. }) {
                            state.drain_subtree();
                        }
                        if state.lifecycle.phase().is_alive() {
                            tx.apply(
                                &mut state.lifecycle,
                                None,
                                ServiceLifecycle::transition_to_stopping,
                            );
                        }
                    }
                });
            }
            slots
        };
        self.shutdown = Some(Shutdown { queue });
    }
}

/// What follows the end of a run that ended on its own, and that its
/// policy would restart: decided by [`decide`].
pub(crate) enum Decision {
    /// Back off for this long; restarted alone (`one_for_one`), with its
    /// next attempt prepared, unless the supervisor is closing.
    Restart(Duration, Option<super::Launch>),
    /// Its breaker opened: given up on.
    BreakerOpen { failures: u32, max_retries: u32 },
    /// One restart more than the intensity allows: this many in its window.
    TooMany { restarts: u32, within: Duration },
    /// A concurrent shutdown stopped it meanwhile.
    Stopped,
}

/// A supervisor's restart intensity, as last configured, and the restarts
/// in its window. In the core, under a lock of its own: whoever decides a
/// restart (the control loop, or an attempt restarting its own child)
/// counts it, under the child's lock.
#[derive(Debug)]
pub(crate) struct RestartWindow {
    pub(crate) limit: Option<Intensity>,
    restarts: VecDeque<Instant>,
}

impl RestartWindow {
    pub(crate) fn new(limit: Option<Intensity>) -> Self {
        Self {
            limit,
            restarts: VecDeque::new(),
        }
    }

    /// Counts a restart: how many there are in the window now, if more
    /// than the intensity allows.
    fn count(&mut self) -> Option<(u32, Duration)> {
        let intensity = self.limit?;
        let now = Instant::now();
        self.restarts.push_back(now);
        while self
            .restarts
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= intensity.within)
        {
            self.restarts.pop_front();
        }
        let count = u32::try_from(self.restarts.len()).unwrap_or(u32::MAX);
        (count > intensity.restarts).then_some((count, intensity.within))
    }
}

/// A breaker that opened (or opened again) with a trial run to come.
#[derive(Debug, Clone, Copy)]
pub(super) struct Trip {
    /// When the trial runs.
    after: Duration,
    /// `(failures, max_retries)` when it opened now, none when a trial
    /// failed and it opened again.
    opened: Option<(u32, u32)>,
}

impl Trip {
    /// Logs and counts it, once the child restarts after it.
    pub(super) fn log(self, core: &Core, slot: &Slot) {
        match self.opened {
            Some((failures, max_retries)) => {
                tracing::error!(
                    service = &*slot.path,
                    failures,
                    max_retries,
                    trial_in = ?self.after,
                    "circuit breaker open"
                );
                core.record_circuit_breaker_trip(slot);
            }
            None => tracing::warn!(
                service = &*slot.path,
                trial_in = ?self.after,
                "the trial run failed: circuit breaker open again"
            ),
        }
    }
}

/// Decides, under the child's lock, what follows the end of a run that
/// ended on its own (failed with `error`, or completed) and that its
/// policy restarts: its backoff and breaker, the supervisor's intensity,
/// its move to `BackingOff` and, restarted `alone`, its next attempt,
/// prepared. One look at the child, by one code path, whoever decides:
/// the control loop, or the attempt itself when it restarts its own child
/// (see [`super::attempt`]).
pub(super) fn decide(
    core: &Core,
    slot: &Slot,
    state: &mut SlotState,
    tx: &Transitions<'_>,
    error: Option<&str>,
    alone: bool,
) -> (Decision, Option<Trip>) {
    let mut reason = std::borrow::Cow::Borrowed(error.unwrap_or("clean exit, policy=always"));
    let mut trip = None;
    let healthy = state.backoff.maybe_reset_on_cooldown();
    let random = core.settings.jitter.draw(&slot.path, state.generation);
    let reset_after = state.backoff.reset_after();
    let delay = match reset_after {
        // The trial of a healing breaker failed early: open again.
        Some(after) if state.backoff.is_half_open() && error.is_some() && !healthy => {
            trip = Some(Trip {
                after,
                opened: None,
            });
            after
        }
        _ => {
            if state.backoff.is_half_open() {
                // It completed, or lasted its cooldown: healed.
                state.backoff.close_circuit();
            }
            match state.backoff.next_backoff_from(random) {
                BackoffAction::Retry(delay) => delay,
                BackoffAction::CircuitOpen {
                    failures,
                    max_retries,
                } => {
                    let Some(after) = reset_after else {
                        return (
                            Decision::BreakerOpen {
                                failures,
                                max_retries,
                            },
                            None,
                        );
                    };
                    // Open, and heals: a trial run after `after`.
                    trip = Some(Trip {
                        after,
                        opened: Some((failures, max_retries)),
                    });
                    after
                }
            }
        }
    };
    if let Some((restarts, within)) = core.restart_window().count() {
        return (Decision::TooMany { restarts, within }, None);
    }
    if let Some(Trip { after, .. }) = trip {
        state.backoff.open_half();
        reason = format!("circuit breaker open: a trial run in {after:?} ({reason})").into();
    }
    let reason = &*reason;
    // A concurrent shutdown's pass may have stopped it meanwhile.
    if state.lifecycle.phase() != ServicePhase::Running
        || !tx.apply(&mut state.lifecycle, Some(reason), |lc| {
            lc.transition_to_backing_off(reason, delay)
        })
    {
        return (Decision::Stopped, None);
    }
    // Refused only once shutdown began, which then stops it.
    let launch = alone
        .then(|| core.prepare_launch(state, tx, delay, false))
        .flatten();
    (Decision::Restart(delay, launch), trip)
}

/// What [`Actor::request_stop`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Requested {
    /// Its run was cancelled; it is waited for.
    Waiting,
    /// It had no run: a group member stays parked.
    NoRun,
    /// It has terminated (now, or before).
    Terminated,
}
