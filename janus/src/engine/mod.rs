//! The supervision engine behind [`JanusSupervisor`](crate::supervisor::JanusSupervisor)
//! and supervision trees.
//!
//! A supervisor is a [`Core`] (its children, their shared state, its
//! settings) driven by one control loop, the actor (`actor.rs`). Each run of
//! a child is a task of its own (`attempt.rs`) that reports how it ended to the
//! actor; the actor alone decides what happens next: restart (alone or with
//! siblings, after backoff), give up, escalate, stop in order. One decider
//! means no races between restarts, group restarts, shutdown and commands.

pub(crate) mod actor;
mod attempt;
pub(crate) mod slot;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backoff::BackoffConfig;
use crate::events::EventHub;
use crate::lifecycle::{ServiceLifecycleSnapshot, TerminationReason};
use crate::metrics::JanusMetrics;
use crate::service::RestartPolicy;
use crate::supervisor::{DrainReport, SpawnError, SupervisorMetrics};
use crate::tree::{ControlError, Intensity, ShutdownOrder, Strategy, SupervisorError};
pub(crate) use slot::ServiceRef;
use slot::{Attempt, Slot, SlotConfig};

/// How a supervisor behaves.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Its path in the tree (`""` for an anonymous root): children's paths
    /// are `path/name`.
    pub(crate) path: Arc<str>,
    pub(crate) strategy: Strategy,
    pub(crate) intensity: Option<Intensity>,
    pub(crate) order: ShutdownOrder,
    pub(crate) default_backoff: BackoffConfig,
    pub(crate) shutdown_timeout: Duration,
}

/// Per-child settings that override the service's own.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) restart: Option<RestartPolicy>,
    pub(crate) backoff: Option<BackoffConfig>,
    pub(crate) shutdown_timeout: Option<Duration>,
    pub(crate) critical: Option<bool>,
}

/// How an attempt ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Clean,
    Failed(String),
    /// Cancelled before `run()` was called.
    NotStarted,
    /// The task was dropped before it could say (an abort, a runtime shutdown).
    Dropped,
}

impl Outcome {
    /// Why a run asked to stop (by a shutdown or a command) terminated.
    pub(crate) fn stop_reason(self) -> TerminationReason {
        match self {
            Self::Clean | Self::NotStarted => TerminationReason::Cancelled,
            Self::Failed(error) => TerminationReason::FailedDuringShutdown(error),
            Self::Dropped => TerminationReason::Aborted,
        }
    }
}

/// Why a child whose run ended on its own (`error`, if it failed) terminates
/// because its supervisor is shutting down.
pub(crate) fn shutdown_reason(error: Option<String>) -> TerminationReason {
    match error {
        Some(error) => TerminationReason::FailedDuringShutdown(error),
        None => TerminationReason::Cancelled,
    }
}

pub(crate) type Reply = oneshot::Sender<Result<(), ControlError>>;

pub(crate) enum Message {
    Exited {
        slot: Arc<Slot>,
        generation: u64,
        outcome: Outcome,
    },
    Stop(String, Reply),
    Restart(String, Reply),
}

/// How a supervisor ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct Finished {
    pub(crate) report: DrainReport,
    pub(crate) error: Option<SupervisorError>,
}

/// A child's position in the registry, with the hash of its name: 8 bytes,
/// so that the index of 100,000 children fits in a megabyte, and growing it
/// never reads the children themselves.
#[derive(Debug, Clone, Copy)]
struct Position {
    slot: u32,
    hash: u32,
}

/// The hash of a child's name. Names are chosen by the program, not by an
/// adversary: a fast hash (its high half, the better mixed).
fn name_hash(name: &str) -> u32 {
    use std::hash::BuildHasher as _;
    (rustc_hash::FxBuildHasher.hash_one(name) >> 32) as u32
}

/// The 64-bit hash the table probes with, from the 32 bits kept.
fn probe_hash(hash: u32) -> u64 {
    (u64::from(hash) << 32) | u64::from(hash)
}

#[derive(Debug, Default)]
struct Registry {
    slots: Vec<Arc<Slot>>,
    /// The children by name.
    index: hashbrown::HashTable<Position>,
    /// Set when shutdown begins: no more children.
    closed: bool,
}

impl Registry {
    fn find(&self, name: &str, name_offset: usize) -> Option<usize> {
        let hash = name_hash(name);
        self.index
            .find(probe_hash(hash), |p| {
                p.hash == hash && self.slots[p.slot as usize].name(name_offset) == name
            })
            .map(|p| p.slot as usize)
    }
}

/// A supervisor: its children and what they share.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) settings: Settings,
    /// Cancelled to ask for shutdown; the actor stops children in order.
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
    registry: RwLock<Registry>,
    mailbox: mpsc::UnboundedSender<Message>,
    inbox: Mutex<Option<mpsc::UnboundedReceiver<Message>>>,
    finished: watch::Sender<Option<Finished>>,
    pub(crate) metrics: Arc<SupervisorMetrics>,
    pub(crate) prometheus: JanusMetrics,
    pub(crate) events: Arc<EventHub>,
    default_backoff: Arc<BackoffConfig>,
    /// Children asked to stop and not stopped yet (the current plan's).
    stops_pending: std::sync::atomic::AtomicUsize,
    /// Woken when `stops_pending` drops to zero outside the control loop.
    pub(crate) stops_done: tokio::sync::Notify,
    /// The root of the tree this supervisor belongs to (itself, at the root).
    root: OnceLock<Weak<Core>>,
    /// Left by the pass of a concurrent shutdown for the control loop.
    shutdown_pass: Mutex<Option<ShutdownPass>>,
}

/// What the pass of a concurrent shutdown leaves the control loop.
#[derive(Debug, Default)]
pub(crate) struct ShutdownPass {
    /// The deadlines it set (children asked together share one).
    pub(crate) deadlines: Vec<tokio::time::Instant>,
    /// Children marked `Stopping` that had no run to cancel.
    pub(crate) no_run: Vec<Arc<Slot>>,
}

/// The path of `name` under `parent`.
pub(crate) fn child_path(parent: &str, name: &Arc<str>) -> Arc<str> {
    if parent.is_empty() {
        name.clone()
    } else {
        Arc::from(format!("{parent}/{name}"))
    }
}

impl Core {
    pub(crate) fn new(
        settings: Settings,
        cancel: CancellationToken,
        prometheus: JanusMetrics,
        events: Arc<EventHub>,
    ) -> Self {
        let (mailbox, inbox) = mpsc::unbounded_channel();
        let default_backoff = Arc::new(settings.default_backoff.clone());
        Self {
            settings,
            cancel,
            tracker: TaskTracker::new(),
            registry: RwLock::new(Registry::default()),
            mailbox,
            inbox: Mutex::new(Some(inbox)),
            finished: watch::Sender::new(None),
            metrics: Arc::new(SupervisorMetrics::default()),
            prometheus,
            events,
            default_backoff,
            stops_pending: std::sync::atomic::AtomicUsize::new(0),
            stops_done: tokio::sync::Notify::new(),
            root: OnceLock::new(),
            shutdown_pass: Mutex::new(None),
        }
    }

    /// One more child to wait for.
    pub(crate) fn stop_pending(&self) {
        self.stops_pending.fetch_add(1, Ordering::AcqRel);
    }

    /// One child less to wait for; wakes the control loop at the last.
    pub(crate) fn stop_done(&self) {
        self.stops_done_n(1);
    }

    fn stops_done_n(&self, n: usize) {
        if n > 0 && self.stops_pending.fetch_sub(n, Ordering::AcqRel) == n {
            self.stops_done.notify_one();
        }
    }

    pub(crate) fn stops_pending(&self) -> usize {
        self.stops_pending.load(Ordering::Acquire)
    }

    /// Records which core is the root of this one's tree.
    pub(crate) fn set_root(&self, root: Weak<Core>) {
        let _ = self.root.set(root);
    }

    pub(crate) fn root_weak(&self) -> Weak<Core> {
        self.root.get().cloned().unwrap_or_default()
    }

    fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn slots(&self) -> Vec<Arc<Slot>> {
        self.registry().slots.clone()
    }

    pub(crate) fn slot(&self, name: &str) -> Option<Arc<Slot>> {
        let registry = self.registry();
        registry
            .find(name, self.name_offset())
            .map(|i| registry.slots[i].clone())
    }

    /// Where a child's name starts in its path.
    fn name_offset(&self) -> usize {
        match self.settings.path.len() {
            0 => 0,
            n => n + 1,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.registry().slots.len()
    }

    /// Snapshots of every child and, depth first, of their subtrees.
    pub(crate) fn collect(&self, out: &mut Vec<ServiceLifecycleSnapshot>) {
        for slot in self.slots() {
            slot.collect(out);
        }
    }

    pub(crate) fn snapshots(&self) -> Vec<ServiceLifecycleSnapshot> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    /// Registers `service` (visible at once) and starts it.
    pub(crate) fn add(
        self: &Arc<Self>,
        service: ServiceRef,
        overrides: Overrides,
    ) -> Result<Arc<Slot>, SpawnError> {
        let result = self.register(service, overrides);
        match &result {
            Ok(slot) => {
                self.record_spawn();
                tracing::info!(service = &*slot.path, policy = %slot.policy, "service spawned");
                // Started here rather than by the actor: spawning many
                // services must not queue behind one task. A shutdown that
                // raced with this finds the slot registered and stops it.
                self.launch(slot, Duration::ZERO);
            }
            Err(error) => tracing::error!(%error, "spawn rejected"),
        }
        result
    }

    fn register(&self, service: ServiceRef, overrides: Overrides) -> Result<Arc<Slot>, SpawnError> {
        let name: Arc<str> = Arc::from(service.name());
        let backoff = match overrides.backoff.or_else(|| service.backoff_config()) {
            Some(own) => Arc::new(own),
            None => self.default_backoff.clone(),
        };
        backoff
            .validate()
            .map_err(|source| SpawnError::InvalidBackoff {
                service: name.to_string(),
                source,
            })?;
        let mut registry = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Checked under the registry lock, which shutdown takes to close it.
        if registry.closed || self.cancel.is_cancelled() {
            return Err(SpawnError::ShuttingDown {
                service: name.to_string(),
            });
        }
        let slot = Arc::new(Slot::new(
            SlotConfig {
                path: child_path(&self.settings.path, &name),
                name: name.clone(),
                policy: overrides
                    .restart
                    .unwrap_or_else(|| service.restart_policy()),
                critical: overrides.critical.unwrap_or_else(|| service.is_critical()),
                shutdown_timeout: overrides
                    .shutdown_timeout
                    .or_else(|| service.shutdown_timeout())
                    .unwrap_or(self.settings.shutdown_timeout),
                service,
                backoff,
            },
            self.events.clone(),
        ));
        let name_offset = self.name_offset();
        let hash = name_hash(&name);
        let Registry { slots, index, .. } = &mut *registry;
        let entry = index.entry(
            probe_hash(hash),
            |p| p.hash == hash && slots[p.slot as usize].name(name_offset) == &*name,
            |p| probe_hash(p.hash),
        );
        match entry {
            hashbrown::hash_table::Entry::Vacant(entry) => {
                let Ok(position) = u32::try_from(slots.len()) else {
                    return Err(SpawnError::TooManyServices {
                        service: name.to_string(),
                        limit: u32::MAX as usize,
                    });
                };
                entry.insert(Position {
                    slot: position,
                    hash,
                });
                slots.push(slot.clone());
            }
            hashbrown::hash_table::Entry::Occupied(entry) => {
                let i = entry.get().slot as usize;
                if !slots[i].phase().is_terminal() {
                    return Err(SpawnError::DuplicateName {
                        name: name.to_string(),
                    });
                }
                slots[i] = slot.clone();
            }
        }
        Ok(slot)
    }

    /// Runs one attempt of `slot` in a task of its own, after `delay`.
    pub(crate) fn launch(self: &Arc<Self>, slot: &Arc<Slot>, delay: Duration) {
        // Only an attempt that waits needs its token before it starts.
        let token = (!delay.is_zero()).then(CancellationToken::new);
        let generation = slot.with(|state, _| {
            state.generation += 1;
            state.stop = None;
            state.run_token.clone_from(&token);
            state.generation
        });
        // Spawned outside the lock, which the new task takes first thing.
        let task = self.tracker.spawn(attempt::run(
            self.clone(),
            slot.clone(),
            generation,
            token,
            delay,
        ));
        slot.with(|state, _| {
            // Unless the attempt already ended (and the actor saw it), or a
            // newer one replaced it.
            if state.generation == generation && state.ended_generation != generation {
                state.attempt = Some(Attempt { task });
            }
        });
    }

    /// Refuses new children from now on.
    pub(crate) fn close(&self) {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
    }

    /// Asks for shutdown. With concurrent stop order, every live child is
    /// asked to stop here and now, in one pass (it shows `Stopping`, its run
    /// is cancelled, its shutdown timeout starts), which leaves the control
    /// loop the deadlines to watch and the children it must stop itself
    /// (those without a run under way). In reverse order the control loop
    /// asks each at its turn.
    pub(crate) fn request_shutdown(&self) {
        if self.settings.order == ShutdownOrder::Concurrent {
            self.stop_all();
        }
        // After the pass: the control loop then finds what it left.
        if !self.cancel.is_cancelled() {
            tracing::info!(supervisor = &*self.settings.path, "shutdown requested");
            self.cancel.cancel();
        }
    }

    /// The pass of a concurrent shutdown, once: the registry is closed under
    /// the same lock, so no child can join unasked.
    fn stop_all(&self) {
        let mut registry = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if registry.closed {
            return;
        }
        registry.closed = true;
        let now = tokio::time::Instant::now();
        // Counted up front, in one update: attempts that stop during the
        // pass count down from it; the children not waited for are given
        // back at the end.
        let all = registry.slots.len();
        self.stops_pending.fetch_add(all, Ordering::AcqRel);
        let mut waited = 0;
        let mut pass = ShutdownPass::default();
        for slot in &registry.slots {
            match slot.with(|state, tx| state.stop_for_shutdown(tx, slot, now)) {
                slot::ShutdownStop::Waited(deadline) => {
                    waited += 1;
                    if pass.deadlines.last() != Some(&deadline) {
                        pass.deadlines.push(deadline);
                    }
                }
                slot::ShutdownStop::NoRun => pass.no_run.push(slot.clone()),
                slot::ShutdownStop::Nothing => {}
            }
        }
        *self
            .shutdown_pass
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(pass);
        drop(registry);
        self.stops_done_n(all - waited);
    }

    /// What the pass of a concurrent shutdown left for the control loop.
    pub(crate) fn take_shutdown_pass(&self) -> Option<ShutdownPass> {
        self.shutdown_pass
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Forgets that `slot` is waited for: whether it was.
    pub(crate) fn unwait(&self, slot: &Slot) -> bool {
        let was = slot.with(|state, _| state.stop_deadline.take()).is_some();
        if was {
            self.stop_done();
        }
        was
    }

    pub(crate) fn send(&self, message: Message) {
        let _ = self.mailbox.send(message);
    }

    /// The actor's receiver, to the one caller that runs the actor.
    pub(crate) fn take_inbox(&self) -> Option<mpsc::UnboundedReceiver<Message>> {
        self.inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Runs the actor in a task of its own, unless it runs already.
    pub(crate) fn spawn_actor(self: &Arc<Self>) {
        if let Some(inbox) = self.take_inbox() {
            tokio::spawn(actor::run(self.clone(), inbox));
        }
    }

    pub(crate) fn set_finished(&self, finished: Finished) {
        self.finished.send_replace(Some(finished));
    }

    pub(crate) fn finished_now(&self) -> Option<Finished> {
        self.finished.borrow().clone()
    }

    /// Waits until the actor has ended.
    pub(crate) async fn finished(&self) -> Finished {
        let mut watch = self.finished.subscribe();
        match watch.wait_for(Option::is_some).await {
            Ok(finished) => finished.clone().unwrap_or_default(),
            Err(_) => Finished::default(),
        }
    }

    /// Aborts every attempt still running: the supervisor itself is going
    /// away without having stopped them (its future was dropped).
    pub(crate) fn abort_all(&self) {
        for slot in self.slots() {
            slot.with(|state, _| {
                if let Some(attempt) = state.end_attempt() {
                    state.generation += 1;
                    attempt.task.abort();
                }
                if let Some(subtree) = state.subtree() {
                    subtree.abort_all();
                }
            });
        }
    }

    pub(crate) fn record_spawn(&self) {
        self.metrics.spawned_total.fetch_add(1, Ordering::Relaxed);
        self.metrics.active_services.fetch_add(1, Ordering::Relaxed);
        self.prometheus.supervisor_spawned_total.inc();
        self.prometheus.supervisor_active_services.inc();
    }

    /// Counts a restart of the child at `path`, whose per-service series
    /// (`counter`, kept in its locked slot) is created on its first restart.
    pub(crate) fn record_restart(&self, path: &str, counter: &mut Option<prometheus::IntCounter>) {
        self.metrics.restarts_total.fetch_add(1, Ordering::Relaxed);
        counter
            .get_or_insert_with(|| {
                self.prometheus
                    .supervisor_restarts_total
                    .with_label_values(&[path])
            })
            .inc();
    }

    pub(crate) fn record_circuit_breaker_trip(&self, slot: &Slot) {
        self.metrics
            .circuit_breaker_trips
            .fetch_add(1, Ordering::Relaxed);
        self.prometheus
            .supervisor_circuit_breaker_trips
            .with_label_values(&[&*slot.path])
            .inc();
    }

    pub(crate) fn record_termination(&self, uptime: Duration) {
        self.metrics
            .terminated_total
            .fetch_add(1, Ordering::Relaxed);
        // Never below zero, even if counters were reset by hand.
        let _ =
            self.metrics
                .active_services
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_sub(1))
                });
        self.prometheus.supervisor_terminated_total.inc();
        self.prometheus.supervisor_active_services.dec();
        self.prometheus
            .supervisor_uptime_seconds
            .observe(uptime.as_secs_f64());
    }
}
