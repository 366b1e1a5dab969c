//! One supervised child: what it is, and its state behind a lock of its own.
//!
//! The registry is written only when children are added or deleted; every
//! lifecycle transition locks just the slot of the child it concerns, so
//! children never contend with each other, and a snapshot reads each slot
//! briefly.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use prometheus::IntCounter;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Core;
use crate::backoff::{BackoffConfig, BackoffState};
use crate::events::{EventHub, LifecycleEvent};
use crate::lifecycle::{
    ChildKind, ServiceLifecycle, ServiceLifecycleSnapshot, ServicePhase, TerminationReason,
    TransitionError,
};
use crate::service::{JanusService, RestartPolicy};

/// An illegal transition is a supervisor bug: tests (debug builds) fail on it
/// loudly; a release build logs it and keeps supervising.
pub(crate) fn checked(result: Result<(), TransitionError>) -> bool {
    match result {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, "janus: illegal lifecycle transition");
            debug_assert!(false, "{error}");
            false
        }
    }
}

/// Why the supervisor asked a child to stop. A later request for a
/// stronger reason takes over one under way: a shutdown over a command, a
/// command over a group restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum StopWhy {
    /// A sibling's failure restarts this child with it.
    Group,
    /// It was not ready within its start timeout, as its group started
    /// again in order: its run fails.
    StartTimeout,
    /// `stop_child`, `restart_child`, `remove_child`.
    Command,
    /// The supervisor shuts down.
    Shutdown,
}

/// How a run of a child ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Clean,
    Failed(Box<str>),
    /// Stopped before `run()` was called.
    NotStarted,
    /// The task was dropped before it could say (a runtime shutting down).
    Dropped,
}

impl Outcome {
    /// The failure, if the run failed.
    pub(crate) fn error(&self) -> Option<&str> {
        match self {
            Self::Failed(error) => Some(error),
            Self::Dropped => Some(DROPPED),
            Self::Clean | Self::NotStarted => None,
        }
    }

    /// Why a run that was asked to stop (by a shutdown or a command)
    /// terminated.
    pub(crate) fn stop_reason(&self) -> TerminationReason {
        match self {
            Self::Clean | Self::NotStarted => TerminationReason::Cancelled,
            Self::Failed(error) => TerminationReason::FailedDuringShutdown(error.to_string()),
            Self::Dropped => TerminationReason::Aborted,
        }
    }

    /// Why a run that ended on its own terminated because its supervisor
    /// shuts down.
    pub(crate) fn shutdown_reason(&self) -> TerminationReason {
        match self.error() {
            Some(error) => TerminationReason::FailedDuringShutdown(error.to_owned()),
            None => TerminationReason::Cancelled,
        }
    }
}

/// The failure recorded for a run whose task was dropped.
const DROPPED: &str = "the service's task was dropped";

/// How the last run ended, kept for the control loop: an [`Outcome`] and
/// whether the run was asked to stop, packed in three words (it waits in
/// the slot of every child whose run ended).
#[derive(Debug)]
pub(crate) struct Exit {
    error: Option<Box<str>>,
    ending: Ending,
    /// Whether the supervisor had asked the run to stop before it ended:
    /// if not, it ended on its own, and its restart policy decides what
    /// follows.
    pub(crate) asked: bool,
}

#[derive(Debug, Clone, Copy)]
enum Ending {
    Clean,
    Failed,
    NotStarted,
    Dropped,
}

impl Exit {
    fn new(outcome: Outcome, asked: bool) -> Self {
        let (ending, error) = match outcome {
            Outcome::Clean => (Ending::Clean, None),
            Outcome::Failed(error) => (Ending::Failed, Some(error)),
            Outcome::NotStarted => (Ending::NotStarted, None),
            Outcome::Dropped => (Ending::Dropped, None),
        };
        Self {
            error,
            ending,
            asked,
        }
    }

    /// How the run ended.
    pub(crate) fn outcome(self) -> Outcome {
        match (self.ending, self.error) {
            (Ending::Failed, Some(error)) => Outcome::Failed(error),
            (Ending::Failed | Ending::Clean, _) => Outcome::Clean,
            (Ending::NotStarted, _) => Outcome::NotStarted,
            (Ending::Dropped, _) => Outcome::Dropped,
        }
    }
}

/// What a child's current generation is doing.
#[derive(Debug, Default)]
pub(crate) enum Run {
    /// Nothing: terminated, or parked for a group restart.
    #[default]
    Idle,
    /// An attempt's task exists: waiting out a backoff, about to start, or
    /// running.
    Live {
        /// Kept as spawned (taking an abort handle from it would cost a
        /// reference count per launch); set just after the spawn.
        task: Option<JoinHandle<()>>,
        /// The run's cancellation. Made by the attempt as it starts (at
        /// launch for one that first waits out a backoff): spawning a
        /// service allocates no token on the caller's thread.
        token: Option<CancellationToken>,
    },
    /// The attempt ended; the control loop has not taken its exit yet.
    Ended(Exit),
    /// The attempt ended on its own and decided what follows (see
    /// `attempt`), something other than a restart in place: for the
    /// control loop to take in and carry out, as an exit. Boxed: rare.
    Decided(Box<Pending>),
}

/// A decision an attempt left for the control loop.
pub(crate) struct Pending {
    pub(crate) decision: super::actor::Decision,
    /// How the run ended.
    pub(crate) outcome: Outcome,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

/// What the control loop takes in from a child whose run ended.
pub(crate) enum Taken {
    /// The exit, and why the run was asked to stop, if it was.
    Exit(Exit, Option<StopWhy>),
    /// What its attempt decided.
    Decided(Box<Pending>),
}

/// What [`SlotState::abort_run`] aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aborted {
    /// No run: nothing to abort.
    Nothing,
    /// An attempt whose task had not started the service yet (it was not
    /// scheduled within the shutdown timeout: a starved runtime): it saw
    /// the stop too late, but interrupted no code of the service. Reported
    /// as stopped, not aborted.
    Unstarted,
    /// A run of the service, interrupted wherever it was.
    Run,
}

/// What [`SlotState::stop_for_shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShutdownStop {
    /// Nothing new to wait for: the child had terminated, or its run was
    /// already waited for.
    Nothing,
    /// It had no run (or its run had ended): terminated here, after `uptime`
    /// running; `true` if it had been waited for.
    Terminated(Option<Duration>, bool),
    /// Its run was cancelled, and is waited for until this deadline (to be counted).
    Waited(Instant),
}

#[derive(Debug)]
pub(crate) struct SlotState {
    pub(crate) lifecycle: ServiceLifecycle,
    pub(crate) backoff: BackoffState,
    /// Bumped at each launch and abort: an attempt of another generation is
    /// stale, and what it reports is ignored.
    pub(crate) generation: u64,
    pub(crate) run: Run,
    /// Why the supervisor asked the current run to stop, until it has.
    pub(crate) stop: Option<StopWhy>,
    /// When the supervisor stops waiting for the run to stop. Set exactly
    /// while the core counts the child as pending (`Core::stops_pending`):
    /// whoever clears it counts down.
    pub(crate) stop_deadline: Option<Instant>,
    /// Ready, during the current run (see `JanusService::reports_readiness`).
    pub(crate) ready: bool,
    /// The control loop waits for this run to be ready before it starts
    /// the next sibling (ordered start): whoever makes it ready tells it.
    pub(crate) awaited: bool,
    /// The current attempt has begun to run the service (it entered
    /// `Running`): an abort interrupts its code. Here rather than in
    /// [`Run::Live`], where it would cost every child 8 bytes.
    pub(crate) began: bool,
    /// How long a stop waits before it aborts: the child's own, or its
    /// supervisor's default, which a reconfiguration may change.
    pub(crate) shutdown_timeout: Duration,
    /// What few children use; see [`SlotState::rare`].
    rare: Option<Box<Rare>>,
}

/// The state few children use, in a box made when first needed: a
/// supervisor keeps a slot per child, and most never restart, nest a
/// supervisor, get aborted or send heartbeats.
#[derive(Debug, Default)]
pub(crate) struct Rare {
    /// The running subtree, when this child is a supervisor.
    pub(crate) subtree: Option<Arc<Core>>,
    /// The child's series of the restart counter, from its first restart.
    pub(crate) restarts_counter: Option<IntCounter>,
    /// An aborted task, kept to tell whether it really ended.
    pub(crate) aborted: Option<JoinHandle<()>>,
    /// The last sign of life of the current run (services with a heartbeat
    /// deadline).
    pub(crate) last_heartbeat: Option<Instant>,
    /// Its own start timeout, if it has one (others use their
    /// supervisor's).
    pub(crate) start_timeout: Option<Duration>,
    /// When its current outage began (see [`SlotState::unready_for`]).
    pub(crate) outage_since: Option<Instant>,
    /// How long the outage had lasted when it was last ready again.
    pub(crate) outage_len: Duration,
}

/// A child's service: owned (spawned once), or shared (a tree's spec runs
/// its children again at each of its own restarts).
pub(crate) enum ServiceRef {
    Owned(Box<dyn JanusService>),
    Shared(Arc<dyn JanusService>),
}

impl std::ops::Deref for ServiceRef {
    type Target = dyn JanusService;

    fn deref(&self) -> &Self::Target {
        match self {
            Self::Owned(service) => &**service,
            Self::Shared(service) => &**service,
        }
    }
}

/// A supervised child.
///
/// A supervisor keeps one per child, idle or not, so what most children
/// never use (an error, a termination reason, the breaker's window: `Rare`)
/// is boxed when first needed; a slot is about 300 bytes on 64-bit
/// targets. The memory benchmark (W4, `bench/`) measures what a service
/// costs in all.
pub(crate) struct Slot {
    pub(crate) path: Arc<str>,
    pub(crate) service: ServiceRef,
    pub(crate) policy: RestartPolicy,
    pub(crate) critical: bool,
    /// May be given up on (its breaker opens) without its supervisor
    /// escalating; the tree then reports itself degraded.
    pub(crate) expendable: bool,
    /// Its end may end its supervisor (auto-shutdown).
    pub(crate) significant: bool,
    /// The tree is ready only while this child is (beyond the grace).
    pub(crate) gates_readiness: bool,
    /// Which of its settings are its supervisor's defaults, and follow a
    /// reconfiguration of them.
    pub(crate) follows: Follows,
    pub(crate) reports_readiness: bool,
    pub(crate) heartbeat_timeout: Option<Duration>,
    events: Arc<EventHub>,
    state: Mutex<SlotState>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("path", &self.path)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Applies transitions to a locked slot and publishes them as events.
pub(crate) struct Transitions<'a> {
    path: &'a Arc<str>,
    events: &'a EventHub,
}

impl Transitions<'_> {
    /// Applies `change` to `lifecycle`; publishes the event if it happened.
    pub(crate) fn apply(
        &self,
        lifecycle: &mut ServiceLifecycle,
        reason: Option<&str>,
        change: impl FnOnce(&mut ServiceLifecycle) -> Result<(), TransitionError>,
    ) -> bool {
        let from = lifecycle.phase();
        if !checked(change(lifecycle)) {
            return false;
        }
        if self.events.is_observed() {
            let to = lifecycle.phase();
            let reason = match to {
                ServicePhase::Terminated => lifecycle.termination_reason().map(ToString::to_string),
                _ => reason.map(str::to_owned),
            };
            self.events.publish(LifecycleEvent {
                path: self.path.to_string(),
                from,
                to,
                reason,
            });
        }
        true
    }
}

pub(crate) struct SlotConfig {
    pub(crate) name: Arc<str>,
    pub(crate) path: Arc<str>,
    pub(crate) service: ServiceRef,
    pub(crate) policy: RestartPolicy,
    pub(crate) critical: bool,
    pub(crate) gates_readiness: bool,
    pub(crate) expendable: bool,
    pub(crate) significant: bool,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) backoff: Arc<BackoffConfig>,
    pub(crate) follows: Follows,
}

/// Which of a child's settings are its supervisor's defaults.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Follows {
    pub(crate) backoff: bool,
    pub(crate) shutdown_timeout: bool,
}

impl Slot {
    /// A child about to be launched for the first time: with `launched`,
    /// its first attempt (generation 1) is live from the start, so that
    /// nothing can find it registered and neither running nor stopped;
    /// without, it waits (`Starting`, generation 0) for the control loop to
    /// launch it in its turn (ordered start).
    pub(crate) fn new(config: SlotConfig, events: Arc<EventHub>, launched: bool) -> Self {
        let reports_readiness = config.service.reports_readiness();
        let heartbeat_timeout = config.service.heartbeat_timeout();
        let SlotConfig {
            name,
            path,
            service,
            policy,
            critical,
            gates_readiness,
            expendable,
            significant,
            shutdown_timeout,
            backoff,
            follows,
        } = config;
        Self {
            state: Mutex::new(SlotState {
                lifecycle: ServiceLifecycle::with_shared_name(name),
                backoff: BackoffState::shared(backoff),
                generation: u64::from(launched),
                run: if launched {
                    Run::Live {
                        task: None,
                        token: None,
                    }
                } else {
                    Run::Idle
                },
                stop_deadline: None,
                stop: None,
                ready: false,
                awaited: false,
                began: false,
                shutdown_timeout,
                rare: None,
            }),
            reports_readiness,
            heartbeat_timeout,
            path,
            service,
            policy,
            critical,
            expendable,
            significant,
            gates_readiness,
            follows,
            events,
        }
    }

    /// The child's name: its path from `offset` (its supervisor's path and a `/`).
    pub(crate) fn name(&self, offset: usize) -> &str {
        self.path.get(offset..).unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // Nothing panics while holding this lock; were it poisoned anyway,
        // the state is still a consistent value worth reading.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the locked state, with a way to apply transitions.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut SlotState, &Transitions<'_>) -> R) -> R {
        let mut state = self.lock();
        f(
            &mut state,
            &Transitions {
                path: &self.path,
                events: &self.events,
            },
        )
    }

    pub(crate) fn phase(&self) -> ServicePhase {
        self.lock().lifecycle.phase()
    }

    /// This child's snapshot, from its locked state.
    pub(crate) fn snapshot(&self, state: &SlotState) -> ServiceLifecycleSnapshot {
        let mut snapshot = ServiceLifecycleSnapshot::from(&state.lifecycle);
        snapshot.path = self.path.to_string();
        snapshot.ready = state.ready && snapshot.phase == ServicePhase::Running;
        snapshot.critical = self.critical;
        snapshot.expendable = self.expendable;
        snapshot.significant = self.significant;
        snapshot.kind = if self.service.is_supervisor() {
            ChildKind::Supervisor
        } else {
            ChildKind::Worker
        };
        snapshot.restart_policy = self.policy;
        snapshot.shutdown_timeout_ms = (state.shutdown_timeout != Duration::MAX)
            .then(|| u64::try_from(state.shutdown_timeout.as_millis()).unwrap_or(u64::MAX));
        snapshot
    }

    /// Terminates the child for `reason`, exactly once: the time it spent
    /// running if this call did it, `None` if it had already terminated.
    pub(crate) fn terminate(&self, reason: TerminationReason) -> Option<Duration> {
        self.with(|state, tx| state.terminate(tx, reason))
    }
}

impl SlotState {
    /// Not ready any more, if it was: an outage begins, unless the run
    /// that ends was shorter than the outage before it (see
    /// [`unready_for`](Self::unready_for)).
    pub(crate) fn unready(&mut self) {
        let was_ready = std::mem::take(&mut self.ready);
        // A child stopped for a shutdown or by an operator is not coming
        // back: no outage to time (and no box to make for each child of a
        // tree that shuts down).
        let coming_back = !matches!(self.stop, Some(StopWhy::Shutdown | StopWhy::Command));
        if !(was_ready && coming_back) {
            return;
        }
        let now = Instant::now();
        let ran = self.backoff.run_time_at(now).unwrap_or_default();
        let rare = self.rare();
        let goes_on = rare.outage_since.is_some() && ran < rare.outage_len;
        if !goes_on {
            rare.outage_since = Some(now);
        }
    }

    /// Ready, or not, as its run says.
    pub(crate) fn set_ready(&mut self, ready: bool) {
        if !ready {
            self.unready();
            return;
        }
        if !self.ready
            && let Some(rare) = &mut self.rare
            && let Some(since) = rare.outage_since
        {
            rare.outage_len = since.elapsed();
        }
        self.ready = true;
    }

    /// How long the child has been out (not ready), for the readiness
    /// grace: since its current outage began, or since it entered its
    /// current phase if it was never ready. An outage goes on through runs
    /// shorter than itself: a child that crash loops, ready for an instant
    /// after each short backoff, is out since it first failed; one that
    /// runs for minutes and restarts in a second has outages of a second.
    pub(crate) fn unready_for(&self) -> Duration {
        match self.rare.as_ref().and_then(|rare| rare.outage_since) {
            Some(since) => since.elapsed(),
            None => self.lifecycle.time_in_phase(),
        }
    }

    /// The state few children use, made on first use.
    pub(crate) fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_default()
    }

    /// The running subtree, when this child is a supervisor.
    pub(crate) fn subtree(&self) -> Option<&Arc<Core>> {
        self.rare.as_ref()?.subtree.as_ref()
    }

    /// Marks the running subtree, if this child is a supervisor, as stopped
    /// by its parent's shutdown.
    pub(crate) fn drain_subtree(&self) {
        if let Some(subtree) = self.subtree() {
            subtree.mark_drained();
        }
    }

    /// [`drain_subtree`](Self::drain_subtree), if the child is being
    /// stopped for a shutdown.
    pub(crate) fn drain_subtree_if_shutting_down(&self) {
        if self.stop == Some(StopWhy::Shutdown) {
            self.drain_subtree();
        }
    }

    /// The child's own start timeout, if it has one.
    pub(crate) fn start_timeout(&self) -> Option<Duration> {
        self.rare.as_ref()?.start_timeout
    }

    /// The last sign of life of the current run, if it has a heartbeat deadline.
    pub(crate) fn last_heartbeat(&self) -> Option<Instant> {
        self.rare.as_ref()?.last_heartbeat
    }

    /// An aborted task that has not finished (it does not unwind: blocked
    /// in synchronous code).
    pub(crate) fn unresponsive(&self) -> bool {
        self.rare
            .as_ref()
            .and_then(|rare| rare.aborted.as_ref())
            .is_some_and(|task| !task.is_finished())
    }

    /// Whether the child was given up on: terminated by its circuit breaker.
    pub(crate) fn given_up(&self) -> bool {
        matches!(
            self.lifecycle.termination_reason(),
            Some(TerminationReason::CircuitBreakerOpen { .. })
        )
    }

    /// Cancels the current run, if it has started (one that has not sees
    /// `stop` as it starts, and does not).
    pub(crate) fn cancel_run(&self) {
        if let Run::Live {
            token: Some(token), ..
        } = &self.run
        {
            token.cancel();
        }
    }

    /// Aborts the run under way, if there is one: its task is aborted (and
    /// kept, to tell whether it unwinds), and what it reports later is
    /// stale.
    pub(crate) fn abort_run(&mut self) -> Aborted {
        let began = std::mem::take(&mut self.began);
        let Run::Live { task, .. } = std::mem::take(&mut self.run) else {
            return Aborted::Nothing;
        };
        self.generation += 1;
        self.unready();
        self.awaited = false;
        if let Some(task) = task {
            task.abort();
            self.rare().aborted = Some(task);
        }
        if began {
            Aborted::Run
        } else {
            Aborted::Unstarted
        }
    }

    /// The exit of the run that ended, for the control loop to handle once,
    /// and why it was asked to stop, if it was.
    pub(crate) fn take_exit(&mut self) -> Option<Taken> {
        match std::mem::take(&mut self.run) {
            Run::Ended(exit) => Some(Taken::Exit(exit, self.stop)),
            Run::Decided(pending) => Some(Taken::Decided(pending)),
            other => {
                self.run = other;
                None
            }
        }
    }

    /// Records how the run of `generation` ended, as its attempt finishes:
    /// the failure is counted here, once, whoever handles the exit. A run
    /// stopped for a shutdown terminates here too, so that a mass shutdown
    /// finishes in parallel on every worker instead of queueing a message
    /// per service behind the control loop.
    ///
    /// A run that ended on its own (not asked to stop) is first offered to
    /// `on_its_own`, which may handle its end then and there (the attempt
    /// restarting its child in place): `RunEnd::InPlace` with what it
    /// returned, and the outcome.
    pub(crate) fn end_run<T>(
        &mut self,
        tx: &Transitions<'_>,
        generation: u64,
        outcome: Outcome,
        on_its_own: impl FnOnce(&mut Self, &Transitions<'_>, &Outcome) -> Option<T>,
    ) -> RunEnd<T> {
        if self.generation != generation || !matches!(self.run, Run::Live { .. }) {
            return RunEnd::Stale;
        }
        // `awaited` stays: the control loop tells from it that the run
        // ended before it was ready.
        self.unready();
        if let Some(error) = outcome.error() {
            self.lifecycle.record_failure(error);
        }
        if self.stop.is_none()
            && let Some(handled) = on_its_own(self, tx, &outcome)
        {
            return RunEnd::InPlace(handled, outcome);
        }
        if self.stop == Some(StopWhy::Shutdown) {
            self.run = Run::Idle;
            let waited = self.stop_deadline.take().is_some();
            return RunEnd::Terminated(self.terminate(tx, outcome.stop_reason()), waited);
        }
        self.run = Run::Ended(Exit::new(outcome, self.stop.is_some()));
        RunEnd::Reported
    }

    /// Asks the child to stop for a shutdown that stops everyone at once:
    /// `Stopping`, its run cancelled and waited for until `now` plus its
    /// timeout (unless already waited for, by a group restart or a command).
    /// A child without a run, or whose run has ended, terminates here.
    pub(crate) fn stop_for_shutdown(&mut self, tx: &Transitions<'_>, now: Instant) -> ShutdownStop {
        let phase = self.lifecycle.phase();
        if phase.is_terminal() {
            return ShutdownStop::Nothing;
        }
        self.stop = Some(StopWhy::Shutdown);
        if phase.is_alive() {
            tx.apply(
                &mut self.lifecycle,
                None,
                ServiceLifecycle::transition_to_stopping,
            );
        }
        let reason = match std::mem::take(&mut self.run) {
            live @ Run::Live { .. } => {
                self.run = live;
                self.drain_subtree();
                self.cancel_run();
                if self.stop_deadline.is_some() {
                    return ShutdownStop::Nothing;
                }
                let deadline = deadline_after(now, self.shutdown_timeout);
                self.stop_deadline = Some(deadline);
                return ShutdownStop::Waited(deadline);
            }
            Run::Ended(exit) => {
                if exit.asked {
                    exit.outcome().stop_reason()
                } else {
                    exit.outcome().shutdown_reason()
                }
            }
            // What it decided is moot: the shutdown stops it.
            Run::Decided(pending) => pending.outcome.shutdown_reason(),
            Run::Idle => TerminationReason::Cancelled,
        };
        let waited = self.stop_deadline.take().is_some();
        ShutdownStop::Terminated(self.terminate(tx, reason), waited)
    }

    /// [`Slot::terminate`], on an already locked slot.
    pub(crate) fn terminate(
        &mut self,
        tx: &Transitions<'_>,
        reason: TerminationReason,
    ) -> Option<Duration> {
        let lc = &mut self.lifecycle;
        if lc.phase().is_terminal() {
            return None;
        }
        let by_shutdown = matches!(
            reason,
            TerminationReason::Cancelled
                | TerminationReason::Aborted
                | TerminationReason::FailedDuringShutdown(_)
        );
        if by_shutdown && lc.phase().is_alive() {
            tx.apply(lc, None, ServiceLifecycle::transition_to_stopping);
        }
        tx.apply(lc, None, |lc| lc.transition_to_terminated(reason));
        self.stop = None;
        self.ready = false;
        self.awaited = false;
        Some(self.lifecycle.cumulative_running_time())
    }
}

/// What [`SlotState::end_run`] did.
#[derive(Debug)]
pub(crate) enum RunEnd<T> {
    /// The run was replaced or aborted: nothing to report.
    Stale,
    /// Kept for the control loop, which must be told.
    Reported,
    /// Stopped for a shutdown: terminated (after `uptime` running, if this
    /// call did it); `true` if it had been waited for.
    Terminated(Option<Duration>, bool),
    /// Ended on its own, and handled by the caller's `on_its_own`.
    InPlace(T, Outcome),
}

/// `now + timeout`, or, for a timeout too long to be added (an "infinite"
/// `Duration::MAX`), a time so far ahead that it never comes: as long as it
/// takes.
pub(crate) fn deadline_after(now: Instant, timeout: Duration) -> Instant {
    /// About a century: beyond any uptime, and within every clock's range.
    const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);
    now.checked_add(timeout.min(FOREVER))
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}
