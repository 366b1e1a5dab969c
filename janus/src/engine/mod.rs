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
pub(crate) mod context;
pub(crate) mod drain;
mod signal;
pub(crate) mod slot;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backoff::{BackoffConfig, Jitter};
use crate::error::{ControlError, SpawnError, SupervisorError};
use crate::events::EventHub;
use crate::lifecycle::{ServiceLifecycle, ServiceLifecycleSnapshot, TerminationReason};
use crate::metrics::JanusMetrics;
use crate::report::{DrainReport, SupervisorMetrics};
use crate::service::RestartPolicy;
use crate::strategy::{AutoShutdown, Intensity, ShutdownOrder, StartOrder, Strategy};
pub(crate) use slot::ServiceRef;
use slot::{Run, ShutdownStop, Slot, SlotConfig, SlotState};

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
    /// Whether a child given up on by its circuit breaker takes the
    /// supervisor down (trees), unless it is expendable; the flat
    /// supervisor of the seed API lets it go.
    pub(crate) escalate_given_up: bool,
    /// Where its children's restart delays draw their jitter from.
    pub(crate) jitter: Jitter,
    /// Whether its children start one at a time, each once the one before
    /// is ready, or all at once.
    pub(crate) start_order: StartOrder,
    /// How long a child started in order may take to be ready, unless it
    /// has its own.
    pub(crate) start_timeout: Duration,
    /// For a dynamic supervisor: the template its children are made from,
    /// and how many may run at once. Its children are forgotten once they
    /// terminate (there is no spec to restart them from).
    pub(crate) dynamic: Option<Dynamic>,
    /// When it ends by itself, as its significant children end.
    pub(crate) auto_shutdown: AutoShutdown,
    /// How long a child that gates readiness may be not ready before the
    /// tree is (the root's applies to the whole tree).
    pub(crate) readiness_grace: Duration,
}

/// What makes a supervisor dynamic: its children's template, type-erased
/// (the public layer knows its argument type, and downcasts), and its
/// limit.
#[derive(Clone)]
pub(crate) struct Dynamic {
    pub(crate) template: Arc<dyn std::any::Any + Send + Sync>,
    pub(crate) max_children: Option<usize>,
    /// The shutdown timeout its template gives every child, if it does.
    pub(crate) child_shutdown_timeout: Option<Duration>,
}

impl std::fmt::Debug for Dynamic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dynamic")
            .field("max_children", &self.max_children)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Whether terminated children are forgotten at once (dynamic
    /// supervisors) rather than kept, visible, until deleted.
    pub(crate) fn forgets_terminated(&self) -> bool {
        self.dynamic.is_some()
    }
}

/// Per-child settings that override the service's own.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) restart: Option<RestartPolicy>,
    pub(crate) backoff: Option<BackoffConfig>,
    pub(crate) shutdown_timeout: Option<Duration>,
    pub(crate) critical: Option<bool>,
    pub(crate) expendable: Option<bool>,
    pub(crate) start_timeout: Option<Duration>,
    /// The child's name, instead of its service's (a dynamic supervisor's
    /// children are named by it).
    pub(crate) name: Option<Arc<str>>,
    /// Its end may end the supervisor (see [`AutoShutdown`]).
    pub(crate) significant: Option<bool>,
    /// Whether the tree is ready only while it is (default: if critical).
    pub(crate) gates_readiness: Option<bool>,
}

pub(crate) type Reply = oneshot::Sender<Result<(), ControlError>>;

/// What a command asks of a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommandKind {
    /// Stop it (it stays listed, terminated).
    Stop,
    /// Stop it if it runs, then start it again.
    Restart,
    /// Stop it if it runs, then forget it.
    Remove,
    /// Forget it, if it has terminated.
    Delete,
}

pub(crate) enum Message {
    /// The run of this child ended (its exit waits in the slot).
    Exited(Arc<Slot>),
    Command {
        kind: CommandKind,
        name: String,
        reply: Reply,
    },
    /// A child the control loop waits for (ordered start) is ready.
    Ready,
    /// New settings, from the next decision on.
    Reconfigure { changes: Changes, reply: Reply },
}

/// What a reconfiguration changes; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub(crate) struct Changes {
    /// `Some(None)`: no limit.
    pub(crate) intensity: Option<Option<Intensity>>,
    pub(crate) backoff: Option<BackoffConfig>,
    pub(crate) shutdown_timeout: Option<Duration>,
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

/// The children in declaration order, and an index by name. A deleted
/// child leaves a hole, filled in when holes outnumber the children (the
/// index is then rebuilt), so deleting many children one by one costs
/// amortized constant time and keeps the order.
#[derive(Debug, Default)]
struct Registry {
    /// The defaults children take when they bring none.
    defaults: Defaults,
    slots: Vec<Option<Arc<Slot>>>,
    /// Children listed (holes excluded).
    live: usize,
    /// The children by name.
    index: hashbrown::HashTable<Position>,
}

impl Registry {
    fn find(&self, name: &str, name_offset: usize) -> Option<usize> {
        let hash = name_hash(name);
        self.index
            .find(probe_hash(hash), |p| {
                p.hash == hash && self.name_at(p.slot, name_offset) == Some(name)
            })
            .map(|p| p.slot as usize)
    }

    fn name_at(&self, position: u32, name_offset: usize) -> Option<&str> {
        let slot = self.slots.get(position as usize)?.as_ref()?;
        Some(slot.name(name_offset))
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<Slot>> {
        self.slots.iter().flatten()
    }

    /// Removes `slot`, if it is listed: whether it was.
    fn remove(&mut self, slot: &Arc<Slot>, name_offset: usize) -> bool {
        let name = slot.name(name_offset);
        let hash = name_hash(name);
        let Ok(entry) = self.index.find_entry(probe_hash(hash), |p| {
            p.hash == hash
                && self.slots[p.slot as usize]
                    .as_ref()
                    .is_some_and(|s| Arc::ptr_eq(s, slot))
        }) else {
            return false;
        };
        let (position, _) = entry.remove();
        self.slots[position.slot as usize] = None;
        self.live -= 1;
        if self.slots.len() > 64 && self.live < self.slots.len() / 2 {
            self.compact(name_offset);
        }
        true
    }

    /// Fills the holes, and indexes the children at their new positions.
    fn compact(&mut self, name_offset: usize) {
        self.slots.retain(Option::is_some);
        self.index.clear();
        for (position, slot) in self.slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let hash = name_hash(slot.name(name_offset));
            // Fewer children than before: the position fits.
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            self.index.insert_unique(
                probe_hash(hash),
                Position {
                    slot: position,
                    hash,
                },
                |p| probe_hash(p.hash),
            );
        }
    }
}

/// The settings a supervisor gives the children that bring none; a
/// reconfiguration changes them, for those children too.
#[derive(Debug, Default)]
struct Defaults {
    backoff: Arc<BackoffConfig>,
    shutdown_timeout: Duration,
}

/// A supervisor: its children and what they share.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) settings: Settings,
    /// Cancelled to ask for shutdown; the actor stops children in order.
    pub(crate) cancel: CancellationToken,
    /// The tasks of the whole tree (its supervisors share one tracker).
    pub(crate) tracker: TaskTracker,
    registry: RwLock<Registry>,
    /// Set (under the registry's lock) when shutdown begins: no child joins,
    /// none is launched or revived, no attempt starts a run.
    closing: AtomicBool,
    /// Whether a deliberate second signal during the drain of
    /// `run_until_shutdown` exits the process (the root's counts).
    pub(crate) forced_exit: AtomicBool,
    /// The children aborted by this supervisor's shutdown, by path.
    aborted: Mutex<Vec<String>>,
    /// Whether a child has ever run a nested supervisor: only then do
    /// reports and marks walk the children.
    nested: AtomicBool,
    /// For a nested supervisor: how many of `aborted` came before its
    /// parent's shutdown reached it (`usize::MAX`: it has not). The aborts
    /// after that are the drain's; those before were its own business (an
    /// escalation, a command).
    drained_from: AtomicUsize,
    mailbox: mpsc::UnboundedSender<Message>,
    inbox: Mutex<Option<mpsc::UnboundedReceiver<Message>>>,
    finished: watch::Sender<Option<Finished>>,
    /// Set once the children declared in the spec have started (in order:
    /// each ready before the next).
    started: watch::Sender<bool>,
    pub(crate) metrics: Arc<SupervisorMetrics>,
    pub(crate) prometheus: JanusMetrics,
    pub(crate) events: Arc<EventHub>,
    /// Children asked to stop and not stopped yet: exactly those whose
    /// slot holds a stop deadline.
    stops_pending: AtomicUsize,
    /// Woken when `stops_pending` drops to zero outside the control loop.
    pub(crate) stops_done: tokio::sync::Notify,
    /// The root of the tree this supervisor belongs to (itself, at the root).
    root: OnceLock<Weak<Core>>,
    /// Left by the pass of a concurrent shutdown for the control loop.
    shutdown_pass: Mutex<Option<ShutdownPass>>,
    /// The intensity and the restarts in its window (locked after a child's
    /// slot, never before).
    restart_window: Mutex<actor::RestartWindow>,
}

/// A new attempt of a child, made live under its lock, to spawn.
#[must_use = "a prepared launch leaves the child's run live until spawned"]
pub(crate) struct Launch {
    generation: u64,
    token: Option<CancellationToken>,
    delay: Duration,
}

impl Launch {
    /// A new child's first attempt, live from its registration.
    const FIRST: Self = Self {
        generation: 1,
        token: None,
        delay: Duration::ZERO,
    };
}

/// What the pass of a concurrent shutdown leaves the control loop: the
/// deadlines it set (children asked together share one).
#[derive(Debug, Default)]
pub(crate) struct ShutdownPass {
    pub(crate) deadlines: Vec<tokio::time::Instant>,
}

/// A command for a child of this name makes the control loop panic, in
/// Janus's own unit tests: how it fails is tested.
#[cfg(test)]
pub(crate) const FAULT: &str = "\u{0}fault";

/// What a panic said, as a failure's message: `panicked: …`.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload");
    format!("panicked: {message}")
}

/// The path of `name` under `parent`.
pub(crate) fn child_path(parent: &str, name: &Arc<str>) -> Arc<str> {
    if parent.is_empty() {
        name.clone()
    } else {
        Arc::from(format!("{parent}/{name}"))
    }
}

/// Why `name` cannot name a child or a supervisor, if it cannot: it is a
/// segment of a path, so it is not empty and holds no `/`.
pub(crate) fn invalid_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("a name must not be empty")
    } else if name.contains('/') {
        Some("a name must not contain '/', which separates the segments of a path")
    } else {
        None
    }
}

impl crate::metrics::ServiceStates for Core {
    fn each_service(&self, f: &mut dyn FnMut(crate::metrics::ServiceState<'_>)) {
        self.visit(&mut |slot, state| {
            let phase = state.lifecycle.phase();
            f(crate::metrics::ServiceState {
                path: &slot.path,
                failures: state.lifecycle.total_failures(),
                phase,
                // As its snapshot says.
                ready: state.ready && phase == crate::lifecycle::ServicePhase::Running,
            });
        });
    }
}

/// Why a child cannot be significant (or not that way), if it cannot: as
/// OTP, only under a supervisor that shuts down automatically, and not a
/// child that always restarts (it would never end).
pub(crate) fn significance_problem(
    significant: bool,
    policy: RestartPolicy,
    auto_shutdown: AutoShutdown,
) -> Option<&'static str> {
    if !significant {
        None
    } else if auto_shutdown == AutoShutdown::Never {
        Some(
            "a significant child needs a supervisor with auto_shutdown (any_significant or all_significant)",
        )
    } else if policy == RestartPolicy::Always {
        Some("a significant child cannot restart always: it would never end")
    } else {
        None
    }
}

impl Core {
    pub(crate) fn new(
        settings: Settings,
        cancel: CancellationToken,
        prometheus: JanusMetrics,
        events: Arc<EventHub>,
        tracker: TaskTracker,
    ) -> Self {
        let (mailbox, inbox) = mpsc::unbounded_channel();
        let registry = Registry {
            defaults: Defaults {
                backoff: Arc::new(settings.default_backoff.clone()),
                shutdown_timeout: settings.shutdown_timeout,
            },
            ..Registry::default()
        };
        let window = actor::RestartWindow::new(settings.intensity);
        Self {
            settings,
            cancel,
            tracker,
            registry: RwLock::new(registry),
            closing: AtomicBool::new(false),
            forced_exit: AtomicBool::new(true),
            aborted: Mutex::new(Vec::new()),
            nested: AtomicBool::new(false),
            drained_from: AtomicUsize::new(usize::MAX),
            mailbox,
            inbox: Mutex::new(Some(inbox)),
            finished: watch::Sender::new(None),
            started: watch::Sender::new(false),
            metrics: Arc::new(SupervisorMetrics::default()),
            prometheus,
            events,
            stops_pending: AtomicUsize::new(0),
            stops_done: tokio::sync::Notify::new(),
            root: OnceLock::new(),
            shutdown_pass: Mutex::new(None),
            restart_window: Mutex::new(window),
        }
    }

    /// The restart intensity and the restarts counted against it.
    pub(crate) fn restart_window(&self) -> std::sync::MutexGuard<'_, actor::RestartWindow> {
        self.restart_window
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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

    fn registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The children, in declaration order.
    pub(crate) fn slots(&self) -> Vec<Arc<Slot>> {
        self.registry().iter().cloned().collect()
    }

    pub(crate) fn slot(&self, name: &str) -> Option<Arc<Slot>> {
        let registry = self.registry();
        let position = registry.find(name, self.name_offset())?;
        registry.slots[position].clone()
    }

    /// The child at `path` (`root/…/name`), in this supervisor or a nested
    /// one, looked up name by name.
    pub(crate) fn find(&self, path: &str) -> Option<Arc<Slot>> {
        let rest = match &*self.settings.path {
            "" => path,
            own => path.strip_prefix(own)?.strip_prefix('/')?,
        };
        let (name, deeper) = match rest.split_once('/') {
            Some((name, deeper)) => (name, Some(deeper)),
            None => (rest, None),
        };
        let slot = self.slot(name)?;
        match deeper {
            None => Some(slot),
            Some(_) => slot.with(|state, _| state.subtree().cloned())?.find(path),
        }
    }

    /// Where a child's name starts in its path.
    pub(crate) fn name_offset(&self) -> usize {
        match self.settings.path.len() {
            0 => 0,
            n => n + 1,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.registry().live
    }

    /// Positions in the registry, holes included.
    #[cfg(test)]
    pub(crate) fn positions(&self) -> usize {
        self.registry().slots.len()
    }

    /// Calls `f` on every child, with its locked state, and, depth first,
    /// on the children of the supervisors among them.
    pub(crate) fn visit(&self, f: &mut dyn FnMut(&Slot, &slot::SlotState)) {
        for slot in self.slots() {
            let subtree = slot.with(|state, _| {
                f(&slot, state);
                state.subtree().cloned()
            });
            if let Some(subtree) = subtree {
                subtree.visit(f);
            }
        }
    }

    /// Snapshots of every child and, depth first, of their subtrees.
    pub(crate) fn snapshots(&self) -> Vec<ServiceLifecycleSnapshot> {
        let mut out = Vec::new();
        self.visit(&mut |slot, state| out.push(slot.snapshot(state)));
        out
    }

    /// The paths of the children, anywhere in the tree, whose state says
    /// `which`.
    pub(crate) fn paths_where(&self, which: fn(&slot::SlotState) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        self.visit(&mut |slot, state| {
            if which(state) {
                out.push(slot.path.to_string());
            }
        });
        out
    }

    /// Makes `backoff` and `shutdown_timeout` (those given) the defaults of
    /// children added from now on, and of the children that follow the
    /// defaults: their next backoff delay, their next stop. A delay or a
    /// stop under way keeps what it was given.
    pub(crate) fn set_defaults(
        &self,
        backoff: Option<BackoffConfig>,
        shutdown_timeout: Option<Duration>,
    ) {
        let backoff = backoff.map(Arc::new);
        let mut registry = self.registry_mut();
        if let Some(backoff) = &backoff {
            registry.defaults.backoff = backoff.clone();
        }
        if let Some(timeout) = shutdown_timeout {
            registry.defaults.shutdown_timeout = timeout;
        }
        for slot in registry.iter() {
            slot.with(|state, _| {
                if let Some(backoff) = backoff.as_ref().filter(|_| slot.follows.backoff) {
                    state.backoff.set_config(backoff.clone());
                }
                if let Some(timeout) = shutdown_timeout.filter(|_| slot.follows.shutdown_timeout) {
                    state.shutdown_timeout = timeout;
                }
            });
        }
    }

    /// Registers `service` (visible at once) and starts it.
    pub(crate) fn add(
        self: &Arc<Self>,
        service: ServiceRef,
        overrides: Overrides,
    ) -> Result<Arc<Slot>, SpawnError> {
        let slot = self.register(service, overrides, true)?;
        // Started here rather than by the actor: spawning many services
        // must not queue behind one task. The slot was registered with its
        // first attempt live, so whatever happens before the task exists
        // (a shutdown, a group restart) finds it, and stops it.
        self.spawn_launch(&slot, Launch::FIRST);
        Ok(slot)
    }

    /// Registers `service` (visible at once, `Starting`) for the control
    /// loop to start in its turn: a child of the spec, started in order.
    pub(crate) fn add_in_order(
        &self,
        service: ServiceRef,
        overrides: Overrides,
    ) -> Result<Arc<Slot>, SpawnError> {
        self.register(service, overrides, false)
    }

    /// Announces that the children of the spec have started.
    pub(crate) fn set_started(&self) {
        self.started.send_replace(true);
    }

    /// Waits until the children of the spec have started (`Ok`), or the
    /// supervisor has ended first: with its error, or `Ok` if it was asked
    /// to stop.
    pub(crate) async fn started(&self) -> Result<(), SupervisorError> {
        let mut started = self.started.subscribe();
        let mut finished = self.finished.subscribe();
        tokio::select! {
            biased;
            ended = finished.wait_for(Option::is_some) => match ended {
                Ok(ended) => ended.as_ref().and_then(|f| f.error.clone()).map_or(Ok(()), Err),
                Err(_) => Ok(()),
            },
            _ = started.wait_for(|started| *started) => Ok(()),
        }
    }

    fn register(
        &self,
        service: ServiceRef,
        overrides: Overrides,
        launched: bool,
    ) -> Result<Arc<Slot>, SpawnError> {
        let result = self.register_slot(service, overrides, launched);
        match &result {
            Ok(slot) => {
                self.record_spawn();
                tracing::info!(service = &*slot.path, policy = %slot.policy, "service spawned");
            }
            Err(error) => tracing::error!(%error, "spawn rejected"),
        }
        result
    }

    fn register_slot(
        &self,
        service: ServiceRef,
        overrides: Overrides,
        launched: bool,
    ) -> Result<Arc<Slot>, SpawnError> {
        let name: Arc<str> = match &overrides.name {
            Some(name) => name.clone(),
            None => Arc::from(service.name()),
        };
        if let Some(problem) = invalid_name(&name) {
            return Err(SpawnError::InvalidName {
                name: name.to_string(),
                problem,
            });
        }
        let own_backoff = overrides.backoff.or_else(|| service.backoff_config());
        if let Some(own) = &own_backoff {
            own.validate()
                .map_err(|source| SpawnError::InvalidBackoff {
                    service: name.to_string(),
                    source,
                })?;
        }
        let own_shutdown_timeout = overrides
            .shutdown_timeout
            .or_else(|| service.shutdown_timeout());
        let policy = overrides
            .restart
            .unwrap_or_else(|| service.restart_policy());
        let significant = overrides.significant.unwrap_or(false);
        let critical = overrides.critical.unwrap_or_else(|| service.is_critical());
        if let Some(problem) =
            significance_problem(significant, policy, self.settings.auto_shutdown)
        {
            return Err(SpawnError::InvalidChildSpec {
                service: name.to_string(),
                problem,
            });
        }
        let mut registry = self.registry_mut();
        // Checked under the registry lock, which shutdown takes to close it.
        if self.closing.load(Ordering::Acquire) || self.cancel.is_cancelled() {
            return Err(SpawnError::ShuttingDown {
                service: name.to_string(),
            });
        }
        if let Some(max) = self.settings.dynamic.as_ref().and_then(|d| d.max_children)
            && registry.live >= max
        {
            return Err(SpawnError::MaxChildren {
                supervisor: self.settings.path.to_string(),
                max,
            });
        }
        // The supervisor's defaults, as they are now (see `reconfigure`).
        let follows = slot::Follows {
            backoff: own_backoff.is_none(),
            shutdown_timeout: own_shutdown_timeout.is_none(),
        };
        let backoff = own_backoff.map_or_else(|| registry.defaults.backoff.clone(), Arc::new);
        if follows.backoff {
            // The flat supervisor's default comes from a config with public
            // fields: it may be inconsistent.
            backoff
                .validate()
                .map_err(|source| SpawnError::InvalidBackoff {
                    service: name.to_string(),
                    source,
                })?;
        }
        let shutdown_timeout = own_shutdown_timeout.unwrap_or(registry.defaults.shutdown_timeout);
        let slot = Arc::new(Slot::new(
            SlotConfig {
                path: child_path(&self.settings.path, &name),
                name: name.clone(),
                policy,
                critical,
                gates_readiness: overrides.gates_readiness.unwrap_or(critical),
                expendable: overrides.expendable.unwrap_or(false),
                significant,
                shutdown_timeout,
                service,
                backoff,
                follows,
            },
            self.events.clone(),
            launched,
        ));
        if let Some(timeout) = overrides
            .start_timeout
            .or_else(|| slot.service.start_timeout())
        {
            slot.with(|state, _| state.rare().start_timeout = Some(timeout));
        }
        let name_offset = self.name_offset();
        let hash = name_hash(&name);
        let Registry {
            slots, index, live, ..
        } = &mut *registry;
        let entry = index.entry(
            probe_hash(hash),
            |p| {
                p.hash == hash
                    && slots[p.slot as usize]
                        .as_ref()
                        .is_some_and(|s| s.name(name_offset) == &*name)
            },
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
                slots.push(Some(slot.clone()));
                *live += 1;
            }
            hashbrown::hash_table::Entry::Occupied(entry) => {
                let i = entry.get().slot as usize;
                if slots[i].as_ref().is_some_and(|s| !s.phase().is_terminal()) {
                    return Err(SpawnError::DuplicateName {
                        name: name.to_string(),
                    });
                }
                slots[i] = Some(slot.clone());
            }
        }
        Ok(slot)
    }

    /// Forgets `slot`, which has terminated: its entry, and its series in
    /// the Prometheus metrics. Whether it was listed.
    pub(crate) fn remove(&self, slot: &Arc<Slot>) -> bool {
        let removed = self.registry_mut().remove(slot, self.name_offset());
        if removed {
            let path = [&*slot.path];
            let _ = self
                .prometheus
                .supervisor_restarts_total
                .remove_label_values(&path);
            let _ = self
                .prometheus
                .supervisor_circuit_breaker_trips
                .remove_label_values(&path);
        }
        removed
    }

    /// Records that this supervisor's shutdown aborted the child at `path`.
    pub(crate) fn record_abort(&self, path: &str) {
        self.aborted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(path.to_owned());
    }

    /// Marks this nested supervisor, and its subtrees, as reached by its
    /// parent's shutdown now: what they abort from now on belongs to the
    /// parent's drain report. One that had finished before (a previous
    /// incarnation, kept for its snapshots; one that an earlier stop ended)
    /// has nothing in it.
    pub(crate) fn mark_drained(&self) {
        if self.finished_now().is_some() {
            self.drained_from.store(usize::MAX, Ordering::Release);
            return;
        }
        let from = self
            .aborted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        self.drained_from.store(from, Ordering::Release);
        for subtree in self.subtrees() {
            subtree.mark_drained();
        }
    }

    /// The counters of this supervisor and of the nested supervisors its
    /// children run (or last ran), added up: the whole tree's.
    pub(crate) fn tree_metrics(&self) -> crate::report::MetricsSnapshot {
        let mut total = self.metrics.snapshot();
        for subtree in self.subtrees() {
            let nested = subtree.tree_metrics();
            total.restarts_total += nested.restarts_total;
            total.active_services += nested.active_services;
            total.spawned_total += nested.spawned_total;
            total.terminated_total += nested.terminated_total;
            total.circuit_breaker_trips += nested.circuit_breaker_trips;
        }
        total
    }

    /// The nested supervisors the children run (or last ran); none without
    /// a walk of the children unless one ever did.
    fn subtrees(&self) -> Vec<Arc<Core>> {
        if !self.nested.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.slots()
            .iter()
            .filter_map(|slot| slot.with(|state, _| state.subtree().cloned()))
            .collect()
    }

    /// What this nested supervisor's drain found, if its parent's shutdown
    /// reached it and it has finished.
    pub(crate) fn drain_report(&self) -> Option<DrainReport> {
        let from = self.drained_from.load(Ordering::Acquire);
        if from == usize::MAX || self.finished_now().is_none() {
            return None;
        }
        Some(self.report_since(from))
    }

    /// The report of a drain whose aborts are those from the `from`-th on:
    /// this supervisor's children, and the nested supervisors' reports.
    pub(crate) fn report_since(&self, from: usize) -> DrainReport {
        let aborted: Vec<String> = self
            .aborted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(from..)
            .unwrap_or_default()
            .to_vec();
        let mut report = DrainReport {
            // Each child is aborted once at most.
            stopped: self.len().saturating_sub(aborted.len()),
            aborted,
            ..DrainReport::default()
        };
        for nested in self.subtrees().iter().filter_map(|s| s.drain_report()) {
            report.absorb(&nested);
        }
        report
    }

    /// Records that the child `slot` of this supervisor runs `subtree`, a
    /// nested supervisor.
    pub(crate) fn adopt(&self, slot: &Slot, subtree: Arc<Core>) {
        self.nested.store(true, Ordering::Release);
        slot.with(|state, _| {
            state.rare().subtree = Some(subtree);
            // Started as its parent's shutdown reached it: part of it.
            state.drain_subtree_if_shutting_down();
        });
    }

    /// The paths of the children given up on by their breakers, anywhere
    /// in the tree.
    pub(crate) fn given_up(&self) -> Vec<String> {
        self.paths_where(SlotState::given_up)
    }

    /// Whether shutdown has begun: nothing starts any more.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Runs a new attempt of `slot` after `delay`: whether it did. Not
    /// once the supervisor is closing, nor for a child that has terminated,
    /// is being stopped, or already has a run.
    pub(crate) fn launch(self: &Arc<Self>, slot: &Arc<Slot>, delay: Duration) -> bool {
        let launch = slot.with(|state, tx| self.prepare_launch(state, tx, delay, false));
        launch
            .map(|launch| self.spawn_launch(slot, launch))
            .is_some()
    }

    /// Starts a terminated child again (an operator's `restart_child`), with
    /// a fresh backoff: whether it did (not once the supervisor is closing).
    pub(crate) fn revive(self: &Arc<Self>, slot: &Arc<Slot>) -> bool {
        let launch = slot.with(|state, tx| self.prepare_launch(state, tx, Duration::ZERO, true));
        let Some(launch) = launch else {
            return false;
        };
        self.record_spawn();
        self.spawn_launch(slot, launch);
        true
    }

    /// Under the child's lock: makes a new run live (and, with `revive`,
    /// the terminated child `Starting` again), to be spawned after the lock
    /// is released by [`spawn_launch`](Self::spawn_launch). `None` once the
    /// supervisor is closing, or for a child that has terminated (unless
    /// revived), is being stopped, or already has a run.
    pub(crate) fn prepare_launch(
        &self,
        state: &mut SlotState,
        tx: &slot::Transitions<'_>,
        delay: Duration,
        revive: bool,
    ) -> Option<Launch> {
        // A concurrent shutdown's pass, which sets `closing` before it
        // visits any child (under its lock), has either seen this child's
        // new run, or is seen here.
        if self.is_closing() || state.stop.is_some() || !matches!(state.run, Run::Idle) {
            return None;
        }
        if revive {
            if !tx.apply(
                &mut state.lifecycle,
                Some("restarted by request"),
                ServiceLifecycle::revive,
            ) {
                return None;
            }
            state.backoff.reset();
        } else if state.lifecycle.phase().is_terminal() {
            return None;
        }
        // Only an attempt that waits needs its token before it starts.
        let token = (!delay.is_zero()).then(CancellationToken::new);
        state.generation += 1;
        state.run = Run::Live {
            task: None,
            token: token.clone(),
        };
        state.began = false;
        Some(Launch {
            generation: state.generation,
            token,
            delay,
        })
    }

    /// Spawns the attempt prepared by [`prepare_launch`](Self::prepare_launch),
    /// outside the child's lock (which the new task takes first thing).
    pub(crate) fn spawn_launch(self: &Arc<Self>, slot: &Arc<Slot>, launch: Launch) {
        let Launch {
            generation,
            token,
            delay,
        } = launch;
        let task = self.tracker.spawn(attempt::run(
            self.clone(),
            slot.clone(),
            generation,
            token,
            delay,
        ));
        slot.with(|state, _| {
            // Unless the attempt already ended, or was replaced.
            if state.generation == generation
                && let Run::Live { task: kept, .. } = &mut state.run
            {
                *kept = Some(task);
            }
        });
    }

    /// Asks for shutdown: from now on nothing starts. With concurrent stop
    /// order, every live child is asked to stop here and now, in one pass
    /// (it shows `Stopping`, its run is cancelled, its shutdown timeout
    /// starts; one without a run terminates at once), which leaves the
    /// control loop the deadlines to watch. In reverse order the control
    /// loop asks each at its turn.
    pub(crate) fn request_shutdown(&self) {
        self.close();
        if self.settings.order == ShutdownOrder::Concurrent {
            self.stop_all();
        }
        // After the pass: the control loop then finds what it left.
        if !self.cancel.is_cancelled() {
            tracing::info!(supervisor = &*self.settings.path, "shutdown requested");
            self.cancel.cancel();
        }
    }

    /// Refuses new children, launches and runs from now on.
    fn close(&self) {
        let _registry = self.registry_mut();
        self.closing.store(true, Ordering::Release);
    }

    /// The pass of a concurrent shutdown, once.
    fn stop_all(&self) {
        let registry = self.registry_mut();
        let mut pass = self
            .shutdown_pass
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if pass.is_some() {
            return;
        }
        let now = tokio::time::Instant::now();
        // Counted up front, in one update: attempts that stop during the
        // pass count down from it; what was not waited for is given back
        // at the end.
        let all = registry.live;
        self.stops_pending.fetch_add(all, Ordering::AcqRel);
        let mut give_back = all;
        let mut deadlines = Vec::new();
        for slot in registry.iter() {
            match slot.with(|state, tx| state.stop_for_shutdown(tx, now)) {
                ShutdownStop::Waited(deadline) => {
                    give_back -= 1;
                    if deadlines.last() != Some(&deadline) {
                        deadlines.push(deadline);
                    }
                }
                ShutdownStop::Terminated(uptime, waited) => {
                    if let Some(uptime) = uptime {
                        self.record_termination(uptime);
                    }
                    give_back += usize::from(waited);
                }
                ShutdownStop::Nothing => {}
            }
        }
        *pass = Some(ShutdownPass { deadlines });
        drop(pass);
        drop(registry);
        self.stops_done_n(give_back);
    }

    /// What the pass of a concurrent shutdown left for the control loop.
    pub(crate) fn take_shutdown_pass(&self) -> Vec<tokio::time::Instant> {
        self.shutdown_pass
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .map(|pass| std::mem::take(&mut pass.deadlines))
            .unwrap_or_default()
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

    /// Records how the supervisor ended. At the root, the tree has then
    /// stopped: its event streams end once read.
    pub(crate) fn set_finished(&self, finished: Finished) {
        self.finished.send_replace(Some(finished));
        if std::ptr::eq(self.root_weak().as_ptr(), self) {
            self.events.close();
        }
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

    /// Aborts every attempt still running, in the whole subtree: the
    /// supervisor itself is going away without having stopped them (its
    /// own parent aborted it). They are reported as aborted.
    pub(crate) fn abort_all(&self) {
        if self.finished_now().is_some() {
            return;
        }
        self.close();
        let from = self
            .aborted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        for slot in self.slots() {
            let aborted = slot.with(|state, tx| {
                if state.stop_deadline.take().is_some() {
                    self.stop_done();
                }
                if state.abort_run() != slot::Aborted::Run {
                    return None;
                }
                let uptime = state.terminate(tx, TerminationReason::Aborted);
                // Its running subtree goes with it.
                Some((uptime, state.subtree().cloned()))
            });
            let Some((uptime, subtree)) = aborted else {
                if let Some(uptime) = slot.terminate(TerminationReason::Cancelled) {
                    self.record_termination(uptime);
                }
                continue;
            };
            self.record_abort(&slot.path);
            if let Some(uptime) = uptime {
                self.record_termination(uptime);
            }
            if let Some(subtree) = subtree {
                subtree.mark_drained();
                subtree.abort_all();
            }
        }
        self.set_finished(Finished {
            report: self.report_since(from),
            error: None,
        });
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
