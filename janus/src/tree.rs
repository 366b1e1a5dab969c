//! Supervision trees with Erlang/OTP semantics.
//!
//! A tree is a value: a [`SupervisorSpec`] names a supervisor, its
//! [`Strategy`], its restart [`Intensity`], how it shuts down, and its
//! children — services or other specs, to any depth. Build it without a
//! runtime; [`start`](SupervisorSpec::start) it into a running supervisor and
//! get a [`SupervisorHandle`], or [`run_until_shutdown`](SupervisorSpec::run_until_shutdown).
//! A spec is itself a [`JanusService`]: as the child of another supervisor, a
//! run of it starts its children, and a restart of it restarts them all.
//!
//! | strategy | a child to be restarted… |
//! |---|---|
//! | `one_for_one` | restarts alone (the default) |
//! | `one_for_all` | takes all its siblings down; all restart in declaration order |
//! | `rest_for_one` | takes down the siblings declared after it; they restart in order |
//!
//! Siblings are stopped in reverse declaration order (or all at once with
//! [`ShutdownOrder::Concurrent`]), each within its shutdown timeout and then
//! aborted; the group starts again after the failed child's backoff.
//!
//! Children start in declaration order, each once the one before is
//! ready, as an OTP supervisor waits for each child's `init` to return
//! (see [`StartOrder`]): running, or, for a service that
//! [reports readiness](JanusService::reports_readiness), once it says so.
//! A child that fails, or is not ready within its start timeout, as the
//! tree starts makes [`start`](SupervisorSpec::start) fail with
//! [`SupervisorError::FailedToStart`]; group restarts start their members
//! again in the same order. [`StartOrder::Concurrent`] launches them all at
//! once instead.
//!
//! **Intensity**: more than `restarts` restarts within `within` and the
//! supervisor gives up: it stops its children (reverse order) and fails with
//! [`SupervisorError::IntensityExceeded`]. Under a parent, that failure is
//! handled by the parent's policy and backoff (the subtree restarts); at the
//! root, `run_until_shutdown` returns it, so `main` exits non-zero and the
//! process manager takes over. A **critical** child that terminates for good
//! after a failure takes its supervisor down the same way, and so does a
//! child given up on by its circuit breaker
//! ([`SupervisorError::ChildGivenUp`]): a child whose policy says restart is
//! never dropped while its supervisor looks healthy. One declared
//! [expendable](ChildOptions::with_expendable) is let go instead, and the tree
//! reports itself [degraded](Health::Degraded), naming it.
//!
//! # When things happen at the same time
//!
//! Each supervisor has one control loop that makes every decision, and it
//! handles every event in every state, as an OTP supervisor does:
//!
//! - A child that fails while a group restart stops its siblings is taken
//!   in at once: its failure is counted (failures, breaker, intensity), and
//!   its own restart joins the group (with `rest_for_one`, the siblings
//!   declared after it join too; the group waits for the longest backoff).
//!   A child that has already stopped is never waited for again.
//! - Commands ([`stop_child`](SupervisorHandle::stop_child),
//!   [`restart_child`](SupervisorHandle::restart_child),
//!   [`remove_child`](SupervisorHandle::remove_child)) are carried out at
//!   once, in any state, side by side, each within the shutdown timeout of
//!   the child it stops; commands for one child run in the order they came.
//!   A command takes its child out of a group restart under way.
//! - A shutdown takes over whatever is under way: stops already asked keep
//!   their deadlines, the commands under way are answered with
//!   [`ControlError::ShuttingDown`], nothing is started again, and nothing
//!   runs once [`wait`](SupervisorHandle::wait) has returned.
//! - A `Never` (temporary) child stopped by a sibling's group restart is not
//!   started again: it runs once, as OTP's temporary children do.
//! - A duration too long to add to the clock (`Duration::MAX`) means "as long
//!   as it takes", as OTP's `infinity`: a shutdown timeout waits for the
//!   child, a backoff never ends, a heartbeat deadline never passes.
//!
//! Where Janus differs from OTP, on purpose: restarts wait out a backoff
//! (OTP restarts at once), and a group restart waits for the longest backoff
//! of the failures in it. A child that has terminated (it `completed`, or an
//! operator stopped it) is not started again by a sibling's group restart,
//! where OTP starts every child of the group that is not temporary: a job
//! that is done does not run twice, and a child an operator stopped stays
//! stopped until the operator says otherwise.
//!
//! ```
//! use std::time::Duration;
//! use janus::adapters::service_fn;
//! use janus::tree::{ChildOptions, Strategy, SupervisorSpec};
//!
//! fn idle(name: &str) -> impl janus::supervisor::JanusService {
//!     service_fn(name, |cancel| async move {
//!         cancel.cancelled().await;
//!         Ok(())
//!     })
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), janus::tree::SupervisorError> {
//! let tree = SupervisorSpec::new("trading-desk")
//!     .with_strategy(Strategy::RestForOne)
//!     .with_intensity(5, Duration::from_secs(60))
//!     .child(idle("market-data"))
//!     .child(
//!         SupervisorSpec::new("risk")
//!             .with_strategy(Strategy::OneForAll)
//!             .child(idle("limits"))
//!             .child(idle("exposure")),
//!     )
//!     .child_with(idle("orders"), ChildOptions::new().with_critical(true));
//!
//! let desk = tree.start().await?; // returns once every child has started, in order
//! tokio::time::sleep(Duration::from_millis(10)).await;
//! let paths: Vec<String> = desk.snapshots().into_iter().map(|s| s.path).collect();
//! assert_eq!(
//!     paths,
//!     [
//!         "trading-desk/market-data",
//!         "trading-desk/risk",
//!         "trading-desk/risk/limits",
//!         "trading-desk/risk/exposure",
//!         "trading-desk/orders",
//!     ]
//! );
//! desk.shutdown();
//! desk.wait().await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backoff::{BackoffConfig, BackoffConfigError, Jitter};
use crate::engine::{self, Core, Finished, Overrides, Settings};
use crate::error::SpawnError;
pub use crate::error::{ControlError, SupervisorError};
use crate::events::{EventHub, EventStream};
use crate::lifecycle::{ServiceLifecycleSnapshot, ServicePhase};
use crate::metrics::JanusMetrics;
use crate::report::{DrainReport, SupervisorMetrics};
use crate::service::{JanusService, RestartPolicy};
pub use crate::strategy::{AutoShutdown, Intensity, ShutdownOrder, StartOrder, Strategy};
use async_trait::async_trait;

mod dynamic;
pub use dynamic::{ChildId, DynamicSupervisorHandle, DynamicSupervisorSpec};

/// Settings of one child that override the service's own.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ChildOptions {
    overrides: Overrides,
}

impl ChildOptions {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Overrides the restart policy.
    pub fn with_restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.overrides.restart = Some(policy);
        self
    }

    /// Overrides the shutdown timeout.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.shutdown_timeout = Some(timeout);
        self
    }

    /// Overrides criticality.
    pub fn with_critical(mut self, critical: bool) -> Self {
        self.overrides.critical = Some(critical);
        self
    }

    /// Overrides the backoff.
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.overrides.backoff = Some(backoff);
        self
    }

    /// Overrides how long the child may take to be ready when its
    /// supervisor starts it in order (default: the supervisor's
    /// [`with_start_timeout`](SupervisorSpec::with_start_timeout)).
    /// `Duration::MAX` waits as long as it takes.
    pub fn with_start_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.start_timeout = Some(timeout);
        self
    }

    /// Declares the child expendable: when its circuit breaker gives up on
    /// it, its supervisor carries on without it, and the tree reports
    /// itself [degraded](Health::Degraded), naming it. Without this (the
    /// default), a child given up on takes its supervisor down with
    /// [`SupervisorError::ChildGivenUp`], as OTP escalates a child that
    /// restarts too often: a child whose policy says restart is never
    /// dropped while the tree looks healthy.
    pub fn with_expendable(mut self, expendable: bool) -> Self {
        self.overrides.expendable = Some(expendable);
        self
    }

    /// Whether the tree is ready only while this child is running and
    /// ready (beyond the [readiness grace](SupervisorSpec::with_readiness_grace)).
    /// Default: the child gates readiness if it is critical. Being
    /// critical (its death takes its supervisor down) and gating
    /// readiness (its absence makes the service unready) are separate: a
    /// cache may gate readiness without being critical, a critical
    /// background job need not gate it.
    pub fn with_gates_readiness(mut self, gates: bool) -> Self {
        self.overrides.gates_readiness = Some(gates);
        self
    }

    /// Declares the child significant: its end may end its supervisor,
    /// normally (see [`AutoShutdown`] and
    /// [`SupervisorSpec::with_auto_shutdown`]). As in OTP, only under a
    /// supervisor that shuts down automatically, and not with the
    /// `always` policy.
    pub fn with_significant(mut self, significant: bool) -> Self {
        self.overrides.significant = Some(significant);
        self
    }
}

#[derive(Clone)]
struct ChildSpec {
    service: Arc<dyn JanusService>,
    /// The same child, when it is a supervisor: validated with the tree.
    tree: Option<Arc<SupervisorSpec>>,
    options: ChildOptions,
}

/// A supervisor and its children, as a value.
///
/// Defaults: `one_for_one`, intensity 10 restarts within 60 s, children
/// stopped in reverse order with a 30 s timeout each, [`BackoffConfig::default`]
/// for children that bring none; as a child itself, `on_failure`.
#[derive(Clone)]
#[must_use]
pub struct SupervisorSpec {
    name: String,
    strategy: Strategy,
    intensity: Option<Intensity>,
    shutdown_timeout: Duration,
    order: ShutdownOrder,
    backoff: BackoffConfig,
    restart: RestartPolicy,
    forced_exit: bool,
    event_capacity: usize,
    jitter_seed: Option<u64>,
    start_order: StartOrder,
    start_timeout: Duration,
    children: Vec<ChildSpec>,
    /// Set by [`DynamicSupervisorSpec`], which wraps this spec.
    dynamic: Option<engine::Dynamic>,
    auto_shutdown: AutoShutdown,
    readiness_grace: Duration,
}

impl std::fmt::Debug for SupervisorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let children: Vec<&str> = self.children.iter().map(|c| c.service.name()).collect();
        f.debug_struct("SupervisorSpec")
            .field("name", &self.name)
            .field("strategy", &self.strategy)
            .field("intensity", &self.intensity)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("order", &self.order)
            .field("children", &children)
            .finish_non_exhaustive()
    }
}

impl SupervisorSpec {
    /// A supervisor named `name` with the defaults and no children.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            strategy: Strategy::OneForOne,
            intensity: Some(Intensity {
                restarts: 10,
                within: Duration::from_secs(60),
            }),
            shutdown_timeout: Duration::from_secs(30),
            order: ShutdownOrder::Reverse,
            backoff: BackoffConfig::default(),
            restart: RestartPolicy::OnFailure,
            forced_exit: true,
            event_capacity: crate::events::DEFAULT_EVENT_CAPACITY,
            jitter_seed: None,
            start_order: StartOrder::Ordered,
            start_timeout: Duration::from_secs(60),
            children: Vec::new(),
            dynamic: None,
            auto_shutdown: AutoShutdown::Never,
            readiness_grace: Duration::ZERO,
        }
    }

    /// How many unread lifecycle events the tree keeps for its
    /// subscribers (default [`DEFAULT_EVENT_CAPACITY`](crate::events::DEFAULT_EVENT_CAPACITY)):
    /// one that falls further behind is told how many it missed
    /// ([`Lagged`](crate::events::Lagged)). Only the root's setting counts.
    pub fn with_event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// Whether a second SIGTERM or SIGINT during the drain of
    /// [`run_until_shutdown`](Self::run_until_shutdown) exits the process
    /// at once (default: `true`); see
    /// [`JanusSupervisor::with_forced_exit`](crate::supervisor::JanusSupervisor::with_forced_exit).
    /// Only the root's setting counts.
    pub fn with_forced_exit(mut self, forced_exit: bool) -> Self {
        self.forced_exit = forced_exit;
        self
    }

    /// Draws the jitter of this supervisor's restart delays from `seed`
    /// (default: a random seed per supervisor), so that a test replays a
    /// tree's delays exactly. Nested supervisors without a seed of their
    /// own draw from one derived from it and their path.
    ///
    /// The delays are still spread over each backoff's range: a seed
    /// decides which delays, not whether they are jittered. Each child
    /// draws from its own stream (by its path), numbered by its runs, so
    /// the delays do not depend on the order in which children fail.
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// The generator of this supervisor's jitter, under `parent`'s if it
    /// has one and no seed of its own.
    fn jitter(&self, parent: Option<Jitter>, path: &str) -> Jitter {
        match (self.jitter_seed, parent) {
            (Some(seed), _) => Jitter::seeded(seed),
            (None, Some(parent)) => parent.nested(path),
            (None, None) => Jitter::random(),
        }
    }

    /// Whether the supervisor ends by itself, normally, once any or all of
    /// its [significant](ChildOptions::with_significant) children have
    /// ended (OTP's `auto_shutdown`; default [`AutoShutdown::Never`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use janus::adapters::service_fn;
    /// use janus::tree::{AutoShutdown, ChildOptions, SupervisorSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), janus::tree::SupervisorError> {
    /// // A job: a loader that completes, and a progress reporter that
    /// // runs as long as the job does.
    /// let load = service_fn("load", |_cancel| async {
    ///     tokio::time::sleep(Duration::from_secs(5)).await;
    ///     Ok(())
    /// });
    /// let progress = service_fn("progress", |cancel| async move {
    ///     cancel.cancelled().await;
    ///     Ok(())
    /// });
    /// let job = SupervisorSpec::new("import")
    ///     .with_auto_shutdown(AutoShutdown::AnySignificant)
    ///     .child_with(load, ChildOptions::new().with_significant(true))
    ///     .child(progress)
    ///     .start()
    ///     .await?;
    /// job.wait().await?; // once `load` has completed, and `progress` stopped
    /// # Ok(()) }
    /// ```
    pub fn with_auto_shutdown(mut self, auto_shutdown: AutoShutdown) -> Self {
        self.auto_shutdown = auto_shutdown;
        self
    }

    /// How long a child that [gates readiness](ChildOptions::with_gates_readiness)
    /// may be not ready (restarting, backing off, not yet marked ready)
    /// before the tree reports itself not ready (default zero: at once).
    /// One that recovers within the grace never makes `/readyz` flap. An
    /// outage goes on through runs shorter than itself, so a child that
    /// crash loops, ready for an instant after each short backoff, makes
    /// the tree unready once the grace has passed since it first failed.
    /// Set on the root, it applies to the whole tree.
    pub fn with_readiness_grace(mut self, grace: Duration) -> Self {
        self.readiness_grace = grace;
        self
    }

    /// Whether the children start one at a time, each once the one before
    /// is ready ([`StartOrder::Ordered`], the default, as OTP), or all at
    /// once. The same order holds when a group (`one_for_all`,
    /// `rest_for_one`) starts again.
    pub fn with_start_order(mut self, order: StartOrder) -> Self {
        self.start_order = order;
        self
    }

    /// How long each child started in order may take to be ready (default
    /// 60 s), unless it has its own
    /// ([`ChildOptions::with_start_timeout`], [`JanusService::start_timeout`]).
    /// `Duration::MAX` waits as long as it takes, as OTP does.
    pub fn with_start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Sets the restart strategy.
    pub fn with_strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Gives up after more than `restarts` restarts within `within`.
    pub fn with_intensity(mut self, restarts: u32, within: Duration) -> Self {
        self.intensity = Some(Intensity { restarts, within });
        self
    }

    /// Never gives up, however often children restart.
    pub fn without_intensity_limit(mut self) -> Self {
        self.intensity = None;
        self
    }

    /// Sets each child's default shutdown timeout and the stop order.
    pub fn with_shutdown(mut self, timeout: Duration, order: ShutdownOrder) -> Self {
        self.shutdown_timeout = timeout;
        self.order = order;
        self
    }

    /// Sets each child's default shutdown timeout.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets the order children stop in.
    pub fn with_shutdown_order(mut self, order: ShutdownOrder) -> Self {
        self.order = order;
        self
    }

    /// Sets the backoff of children that bring none of their own.
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the restart policy of this supervisor as a child of another.
    pub fn with_restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// Adds a child (started after those added before it).
    pub fn child<S: JanusService>(self, service: S) -> Self {
        self.child_with(service, ChildOptions::new())
    }

    /// Adds a child with settings that override its own.
    pub fn child_with<S: JanusService>(mut self, service: S, options: ChildOptions) -> Self {
        // A nested spec is kept typed too, so that `validate` checks it.
        let tree = (&service as &dyn std::any::Any)
            .downcast_ref::<Self>()
            .map(|spec| Arc::new(spec.clone()));
        let service: Arc<dyn JanusService> = Arc::new(service);
        self.children.push(ChildSpec {
            service,
            tree,
            options,
        });
        self
    }

    /// The supervisor's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the whole tree: intensity, backoffs, unique names at each level.
    ///
    /// # Errors
    ///
    /// The first problem found, as a [`SupervisorError`] naming the supervisor.
    pub fn validate(&self) -> Result<(), SupervisorError> {
        self.validate_at(&self.name)
    }

    fn validate_at(&self, path: &str) -> Result<(), SupervisorError> {
        let invalid = |problem: String| SupervisorError::InvalidSpec {
            supervisor: path.to_owned(),
            problem,
        };
        if let Some(problem) = engine::invalid_name(&self.name) {
            return Err(invalid(format!(
                "invalid supervisor name '{}': {problem}",
                self.name
            )));
        }
        if let Some(Intensity { within, .. }) = self.intensity
            && within.is_zero()
        {
            return Err(invalid("intensity window must not be zero".into()));
        }
        if self.start_timeout.is_zero() {
            return Err(invalid("start timeout must not be zero".into()));
        }
        self.backoff
            .validate()
            .map_err(|e: BackoffConfigError| invalid(format!("default backoff: {e}")))?;
        let mut seen = std::collections::HashSet::new();
        for child in &self.children {
            let name = child.service.name();
            if let Some(problem) = engine::invalid_name(name) {
                return Err(SupervisorError::Spawn {
                    supervisor: path.to_owned(),
                    source: SpawnError::InvalidName {
                        name: name.into(),
                        problem,
                    },
                });
            }
            let policy = child
                .options
                .overrides
                .restart
                .unwrap_or_else(|| child.service.restart_policy());
            let significant = child.options.overrides.significant.unwrap_or(false);
            if let Some(problem) =
                engine::significance_problem(significant, policy, self.auto_shutdown)
            {
                return Err(SupervisorError::Spawn {
                    supervisor: path.to_owned(),
                    source: SpawnError::InvalidChildSpec {
                        service: name.into(),
                        problem,
                    },
                });
            }
            if child.options.overrides.start_timeout == Some(Duration::ZERO) {
                return Err(invalid(format!(
                    "start timeout of '{name}' must not be zero"
                )));
            }
            if !seen.insert(name) {
                return Err(SupervisorError::Spawn {
                    supervisor: path.to_owned(),
                    source: SpawnError::DuplicateName { name: name.into() },
                });
            }
            let backoff = child
                .options
                .overrides
                .backoff
                .clone()
                .or_else(|| child.service.backoff_config());
            if let Some(backoff) = backoff {
                backoff
                    .validate()
                    .map_err(|source| SupervisorError::Spawn {
                        supervisor: path.to_owned(),
                        source: SpawnError::InvalidBackoff {
                            service: name.into(),
                            source,
                        },
                    })?;
            }
            if let Some(tree) = &child.tree {
                tree.validate_at(&engine::child_path(path, &Arc::from(name)))?;
            }
        }
        Ok(())
    }

    fn settings(&self, path: Arc<str>, parent: Option<Jitter>) -> Settings {
        Settings {
            jitter: self.jitter(parent, &path),
            path,
            strategy: self.strategy,
            intensity: self.intensity,
            order: self.order,
            default_backoff: self.backoff.clone(),
            shutdown_timeout: self.shutdown_timeout,
            // A dynamic supervisor's children come and go: one given up on
            // is forgotten, as one that completed.
            escalate_given_up: self.dynamic.is_none(),
            start_order: self.start_order,
            start_timeout: self.start_timeout,
            dynamic: self.dynamic.clone(),
            auto_shutdown: self.auto_shutdown,
            readiness_grace: self.readiness_grace,
        }
    }

    /// Adds the children to `core`, in order. On a failure (a nested
    /// supervisor asked to stop as it starts its children), those already
    /// started are asked to stop: the control loop then stops them.
    fn build(&self, core: &Arc<Core>) -> Result<(), SupervisorError> {
        for child in &self.children {
            let service = engine::ServiceRef::Shared(child.service.clone());
            let overrides = child.options.overrides.clone();
            // In order: registered now, started by the control loop.
            let added = match self.start_order {
                StartOrder::Ordered => core.add_in_order(service, overrides),
                StartOrder::Concurrent => core.add(service, overrides),
            };
            if let Err(source) = added {
                core.request_shutdown();
                return Err(SupervisorError::Spawn {
                    supervisor: core.settings.path.to_string(),
                    source,
                });
            }
        }
        Ok(())
    }

    /// Starts the tree on the current tokio runtime, and returns once its
    /// children have started: in order (the default), each child is started
    /// once the one before it is ready, nested supervisors once their own
    /// children have started, as OTP's `start_link` returns once every
    /// `init` has. The tree then runs until [`SupervisorHandle::shutdown`]
    /// or until the root gives up; dropping the handles does not stop it.
    ///
    /// # Errors
    ///
    /// - [`SupervisorError::InvalidSpec`] or [`SupervisorError::Spawn`] when
    ///   the tree is inconsistent (duplicate names, invalid backoff…);
    ///   nothing is started then.
    /// - [`SupervisorError::FailedToStart`] when a child failed as it
    ///   started, or was not ready within its start timeout, anywhere in
    ///   the tree: what had started has been stopped, last first.
    /// - Any other [`SupervisorError`] if the root gave up as it started
    ///   (a critical child terminated, say).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes stops the tree (nothing
    /// holds a handle to it yet).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`.
    pub async fn start(self) -> Result<SupervisorHandle, SupervisorError> {
        self.start_with_metrics(crate::metrics::metrics().clone())
            .await
    }

    /// Starts the tree on the current tokio runtime and returns at once,
    /// while its children start (as `tokio::spawn` returns before the task
    /// runs). [`SupervisorHandle::started`] waits for the start to
    /// complete, and says whether it did. On a multi-thread runtime the
    /// children may start before the caller can subscribe to the tree's
    /// events: [`spawn_with_events`](Self::spawn_with_events) subscribes
    /// first.
    ///
    /// ```
    /// # use janus::prelude::*;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), janus::tree::SupervisorError> {
    /// let tree = SupervisorSpec::new("desk").spawn()?;
    /// tree.started().await?;
    /// tree.shutdown();
    /// tree.wait().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SupervisorError::InvalidSpec`] or [`SupervisorError::Spawn`] when the
    /// tree is inconsistent; nothing is started then.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn(self) -> Result<SupervisorHandle, SupervisorError> {
        self.spawn_with_metrics(crate::metrics::metrics().clone())
    }

    /// [`spawn`](Self::spawn), with a stream of the tree's lifecycle events
    /// subscribed before anything starts: it sees every child start, on
    /// any runtime.
    ///
    /// ```
    /// # use janus::prelude::*;
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), janus::tree::SupervisorError> {
    /// let feed = janus::adapters::service_fn("feed", |cancel| async move {
    ///     cancel.cancelled().await;
    ///     Ok(())
    /// });
    /// let (tree, mut events) = SupervisorSpec::new("desk").child(feed).spawn_with_events()?;
    /// let first = events.recv().await.expect("an event").expect("not lagged");
    /// assert_eq!(first.path, "desk/feed");
    /// tree.shutdown();
    /// tree.wait().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn_with_events(self) -> Result<(SupervisorHandle, EventStream), SupervisorError> {
        let (handle, events) = self.launch(crate::metrics::metrics().clone(), true)?;
        // Always subscribed by `launch` when asked.
        let events = events.unwrap_or_else(|| handle.subscribe());
        Ok((handle, events))
    }

    /// [`spawn`](Self::spawn), publishing Prometheus series to `metrics`.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    pub fn spawn_with_metrics(
        self,
        metrics: JanusMetrics,
    ) -> Result<SupervisorHandle, SupervisorError> {
        self.launch(metrics, false).map(|(handle, _)| handle)
    }

    /// Starts the tree; with `subscribe`, subscribes to its events first.
    fn launch(
        self,
        metrics: JanusMetrics,
        subscribe: bool,
    ) -> Result<(SupervisorHandle, Option<EventStream>), SupervisorError> {
        self.validate()?;
        let handle = SupervisorHandle::root(
            self.settings(Arc::from(self.name.as_str()), None),
            metrics,
            self.event_capacity,
        );
        handle.set_forced_exit(self.forced_exit);
        let events = subscribe.then(|| handle.subscribe());
        let built = self.build(&handle.core);
        // Also after a failure: the control loop stops what started.
        handle.core.spawn_actor();
        built?;
        Ok((handle, events))
    }

    /// [`start`](Self::start), publishing Prometheus series to `metrics`.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    ///
    /// # Cancel safety
    ///
    /// As [`start`](Self::start): dropping the future stops the tree.
    pub async fn start_with_metrics(
        self,
        metrics: JanusMetrics,
    ) -> Result<SupervisorHandle, SupervisorError> {
        let handle = self.spawn_with_metrics(metrics)?;
        // Until the children have started, the tree is this future's: it
        // stops if the future is dropped.
        let unclaimed = StopOnDrop {
            handle,
            claimed: false,
        };
        let started = unclaimed.handle.core.started().await;
        let handle = unclaimed.claim();
        started.map(|()| handle)
    }

    /// Starts the tree and runs it until SIGTERM or Ctrl-C (a second one
    /// forces the exit), then stops it in order.
    ///
    /// # Errors
    ///
    /// Why the tree could not start, or why its root gave up.
    ///
    /// # Cancel safety
    ///
    /// As [`SupervisorHandle::run_until_shutdown`]: dropping the future
    /// leaves the tree running, or stopping.
    pub async fn run_until_shutdown(self) -> Result<(), SupervisorError> {
        let handle = self.start().await?;
        handle.run_until_shutdown().await
    }

    /// The time this supervisor may take to start its children: the sum of
    /// their start timeouts in order, the longest when concurrent.
    fn start_budget(&self) -> Duration {
        if self.children.is_empty() {
            // Nothing to wait for but its own task: a dynamic supervisor,
            // or an empty tree. Its start timeout, not a millisecond that
            // a busy runtime may not give it.
            return self.start_timeout;
        }
        let timeouts = self.children.iter().map(|c| {
            c.options
                .overrides
                .start_timeout
                .or_else(|| c.service.start_timeout())
                .unwrap_or(self.start_timeout)
        });
        match self.start_order {
            StartOrder::Ordered => timeouts.fold(Duration::ZERO, Duration::saturating_add),
            StartOrder::Concurrent => timeouts.max().unwrap_or_default(),
        }
        .max(Duration::from_millis(1))
    }

    /// The time this supervisor needs to stop its children: the sum of their
    /// timeouts in reverse order, the longest when concurrent.
    fn stop_budget(&self) -> Duration {
        if let Some(dynamic) = &self.dynamic {
            // Its children, whichever there are, stop together.
            return dynamic
                .child_shutdown_timeout
                .unwrap_or(self.shutdown_timeout);
        }
        let timeouts = self.children.iter().map(|c| {
            c.options
                .overrides
                .shutdown_timeout
                .or_else(|| c.service.shutdown_timeout())
                .unwrap_or(self.shutdown_timeout)
        });
        match self.order {
            ShutdownOrder::Reverse => timeouts.fold(Duration::ZERO, Duration::saturating_add),
            ShutdownOrder::Concurrent => timeouts.max().unwrap_or_default(),
        }
    }
}

/// A tree being started: shut down if the future starting it is dropped
/// before it hands out its handle.
struct StopOnDrop {
    handle: SupervisorHandle,
    claimed: bool,
}

impl StopOnDrop {
    fn claim(mut self) -> SupervisorHandle {
        self.claimed = true;
        self.handle.clone()
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if !self.claimed {
            self.handle.shutdown();
        }
    }
}

/// A nested supervisor's core, aborted if the supervisor is dropped before
/// it stopped its children (its own parent aborted it).
struct AbortOnDrop(Arc<Core>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if self.0.finished_now().is_none() {
            self.0.abort_all();
        }
    }
}

#[async_trait]
impl JanusService for SupervisorSpec {
    fn name(&self) -> &str {
        &self.name
    }

    fn restart_policy(&self) -> RestartPolicy {
        self.restart
    }

    fn shutdown_timeout(&self) -> Option<Duration> {
        // Room for every child to stop in turn, plus the abort grace.
        Some(self.stop_budget().saturating_add(Duration::from_secs(1)))
    }

    fn start_timeout(&self) -> Option<Duration> {
        Some(self.start_budget())
    }

    /// Ready once its children have started.
    fn reports_readiness(&self) -> bool {
        true
    }

    fn is_supervisor(&self) -> bool {
        true
    }

    /// Runs the subtree until `cancel`, or until it gives up.
    async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
        let parent = engine::context::current();
        let (path, events, metrics, tracker) = match &parent {
            // A tree's supervisors share its events, its metrics, and the
            // tracker of its tasks: the root's drain waits for them all.
            Some(parent) => (
                parent.slot.path.clone(),
                parent.core.events.clone(),
                parent.core.prometheus.clone(),
                parent.core.tracker.clone(),
            ),
            None => (
                Arc::from(self.name.as_str()),
                Arc::new(EventHub::new(self.event_capacity)),
                crate::metrics::metrics().clone(),
                TaskTracker::new(),
            ),
        };
        let jitter = parent.as_ref().map(|parent| parent.core.settings.jitter);
        let core = Arc::new(Core::new(
            self.settings(path, jitter),
            cancel.child_token(),
            metrics,
            events,
            tracker,
        ));
        core.set_root(match &parent {
            Some(parent) => parent.core.root_weak(),
            None => Arc::downgrade(&core),
        });
        if let Some(parent) = &parent {
            parent.core.adopt(&parent.slot, core.clone());
        }
        // Armed before any child starts: if this run is dropped (its parent
        // aborted it), whatever it started is aborted with it.
        let guard = AbortOnDrop(core.clone());
        // A child refused (the supervisor is being stopped as it starts)
        // leaves the control loop to stop those already started.
        let built = self.build(&core);
        let inbox = core
            .take_inbox()
            .ok_or_else(|| anyhow::anyhow!("supervisor already running"))?;
        let finished = engine::actor::run(core, inbox).await;
        drop(guard);
        match (finished.error, built) {
            (Some(error), _) => Err(error.into()),
            // Stopped as it started: that is a stop, not a failure.
            (None, Err(_)) if cancel.is_cancelled() => Ok(()),
            (None, built) => Ok(built?),
        }
    }
}

/// New settings for a running supervisor
/// ([`SupervisorHandle::reconfigure`]), as OTP changes a supervisor's flags
/// on a code change; what is not set stays as it is.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Reconfiguration {
    changes: engine::Changes,
}

impl Reconfiguration {
    /// Changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// More than `restarts` restarts within `within` and the supervisor
    /// gives up. The restarts counted so far stay in the window: a limit
    /// lowered below them escalates at the next restart.
    pub fn with_intensity(mut self, restarts: u32, within: Duration) -> Self {
        self.changes.intensity = Some(Some(Intensity { restarts, within }));
        self
    }

    /// No intensity limit.
    pub fn without_intensity_limit(mut self) -> Self {
        self.changes.intensity = Some(None);
        self
    }

    /// The backoff of children that bring none: those already running too,
    /// from their next delay (their failure history and breaker window stay).
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.changes.backoff = Some(backoff);
        self
    }

    /// The shutdown timeout of children that bring none: those already
    /// running too, from their next stop (a stop under way keeps its
    /// deadline). `Duration::MAX` waits as long as it takes.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.changes.shutdown_timeout = Some(timeout);
        self
    }
}

/// How many children a supervisor has (OTP's `count_children`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChildCounts {
    /// Children listed, running or not (terminated ones until deleted).
    pub specs: usize,
    /// Children running, starting, backing off or stopping: not terminated.
    pub active: usize,
    /// Children that are supervisors.
    pub supervisors: usize,
    /// Children that are workers.
    pub workers: usize,
}

/// How a supervision tree's root is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Supervising.
    Running,
    /// Supervising, without the children named here (by path): expendable
    /// children given up on by their circuit breakers
    /// ([`ChildOptions::with_expendable`]), or any child given up on under the
    /// flat [`JanusSupervisor`](crate::supervisor::JanusSupervisor).
    Degraded {
        /// The paths of the children given up on.
        given_up: Vec<String>,
    },
    /// Stopping its children after a shutdown request.
    ShuttingDown,
    /// Stopped after a shutdown request.
    Stopped,
    /// Gave up.
    Failed(SupervisorError),
}

impl Health {
    /// `running`, `degraded`, `shutting_down`, `stopped` or `failed`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Degraded { .. } => "degraded",
            Self::ShuttingDown => "shutting_down",
            Self::Stopped => "stopped",
            Self::Failed(_) => "failed",
        }
    }

    /// Whether the root supervises: running, degraded or not.
    #[must_use]
    pub fn is_supervising(&self) -> bool {
        matches!(self, Self::Running | Self::Degraded { .. })
    }
}

/// A cheap, cloneable handle to a running supervisor.
#[derive(Clone)]
pub struct SupervisorHandle {
    pub(crate) core: Arc<Core>,
}

/// The supervisor's path, children count and state; not the tree.
impl std::fmt::Debug for SupervisorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorHandle")
            .field("path", &self.path())
            .field("children", &self.core.len())
            .field("shutting_down", &self.is_shutting_down())
            .field("finished", &self.core.finished_now().is_some())
            .finish()
    }
}

impl SupervisorHandle {
    /// A root supervisor with no children, whose control loop has not
    /// started: a tree's root, or the flat supervisor of the seed API.
    pub(crate) fn root(settings: Settings, metrics: JanusMetrics, event_capacity: usize) -> Self {
        let core = Arc::new(Core::new(
            settings,
            CancellationToken::new(),
            metrics,
            Arc::new(EventHub::new(event_capacity)),
            TaskTracker::new(),
        ));
        core.set_root(Arc::downgrade(&core));
        let tree: Arc<dyn crate::metrics::ServiceStates> = core.clone();
        core.prometheus.watch(Arc::downgrade(&tree));
        Self { core }
    }

    /// Waits until the children of the spec have started (see
    /// [`SupervisorSpec::start`]); at once if they have.
    ///
    /// # Errors
    ///
    /// Why the tree stopped before they had: [`SupervisorError::FailedToStart`]
    /// naming the child that did not start, or another reason the root
    /// gave up. A tree asked to stop while it started has not failed: `Ok`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only watches.
    pub async fn started(&self) -> Result<(), SupervisorError> {
        self.core.started().await
    }

    /// Sets whether a second signal during the drain of
    /// [`run_until_shutdown`](Self::run_until_shutdown) exits the process.
    pub(crate) fn set_forced_exit(&self, forced_exit: bool) {
        self.core
            .forced_exit
            .store(forced_exit, std::sync::atomic::Ordering::Relaxed);
    }

    /// The supervisor's path (its name, at the root).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.core.settings.path
    }

    /// A handle to the supervisor at `path` in this tree (a path as
    /// snapshots show it, from the root's name: `"desk/risk"`), to add,
    /// stop, restart and remove children there; this supervisor's own path
    /// gives this handle. `None` if there is no such child, it is not a
    /// supervisor, or it is not running (backing off, or terminated).
    ///
    /// The handle addresses the supervisor's current run. Restarted by its
    /// parent, a supervisor is a new run, started from its spec (as in OTP,
    /// the children added at run time are not carried over): the old handle
    /// then answers [`ControlError::ShuttingDown`], and `supervisor` gives
    /// the new one.
    ///
    /// ```
    /// use janus::adapters::service_fn;
    /// use janus::tree::SupervisorSpec;
    ///
    /// fn idle(name: &str) -> impl janus::supervisor::JanusService {
    ///     service_fn(name, |cancel| async move {
    ///         cancel.cancelled().await;
    ///         Ok(())
    ///     })
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let risk = SupervisorSpec::new("risk").child(idle("limits"));
    /// let desk = SupervisorSpec::new("desk").child(risk).start().await?;
    ///
    /// let risk = desk.supervisor("desk/risk").expect("risk runs");
    /// risk.add_child(idle("exposure"))?;
    /// risk.stop_child("limits").await?;
    /// assert_eq!(risk.snapshot("desk/risk/exposure").map(|s| s.path), Some("desk/risk/exposure".into()));
    ///
    /// desk.shutdown();
    /// desk.wait().await?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn supervisor(&self, path: &str) -> Option<SupervisorHandle> {
        if path == self.path() {
            return Some(self.clone());
        }
        let core = self
            .core
            .find(path)?
            .with(|state, _| state.subtree().cloned())?;
        (core.finished_now().is_none()).then_some(SupervisorHandle { core })
    }

    /// A typed handle to the dynamic supervisor at `path` in this tree
    /// (this one, if `path` is its own), whose children take `A`: to start
    /// children there. `None` if there is no running supervisor at `path`,
    /// it is not dynamic, or its children take another type.
    ///
    /// ```
    /// use janus::adapters::service_fn;
    /// use janus::tree::{DynamicSupervisorSpec, SupervisorSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let connections = DynamicSupervisorSpec::new("connections", |peer: String| {
    ///     service_fn("conn", move |cancel| async move {
    ///         cancel.cancelled().await;
    ///         Ok(())
    ///     })
    /// });
    /// let server = SupervisorSpec::new("server").child(connections).start().await?;
    ///
    /// let connections = server
    ///     .dynamic::<String>("server/connections")
    ///     .expect("a dynamic supervisor of String");
    /// let id = connections.start_child("10.0.0.7:51234".to_owned())?;
    /// assert!(server.snapshot(&format!("server/connections/{id}")).is_some());
    ///
    /// server.shutdown();
    /// server.wait().await?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn dynamic<A: 'static>(&self, path: &str) -> Option<DynamicSupervisorHandle<A>> {
        DynamicSupervisorHandle::of(self.supervisor(path)?)
    }

    /// Adds a child, started after the others.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] for a duplicate name, an invalid backoff, or a
    /// supervisor shutting down.
    pub fn add_child<S: JanusService>(&self, service: S) -> Result<(), SpawnError> {
        self.add_child_with(service, ChildOptions::new())
    }

    /// Adds a child with settings that override its own.
    ///
    /// # Errors
    ///
    /// As [`add_child`](Self::add_child).
    pub fn add_child_with<S: JanusService>(
        &self,
        service: S,
        options: ChildOptions,
    ) -> Result<(), SpawnError> {
        self.add_boxed(Box::new(service), options)
    }

    /// [`add_child_with`](Self::add_child_with) for a service boxed
    /// already (the seed API's `spawn_service`), without boxing it again.
    pub(crate) fn add_boxed(
        &self,
        service: Box<dyn JanusService>,
        options: ChildOptions,
    ) -> Result<(), SpawnError> {
        self.core
            .add(engine::ServiceRef::Owned(service), options.overrides)
            .map(drop)
    }

    async fn command(&self, kind: engine::CommandKind, name: &str) -> Result<(), ControlError> {
        let (reply, answer) = oneshot::channel();
        self.core.send(engine::Message::Command {
            kind,
            name: name.to_owned(),
            reply,
        });
        answer.await.unwrap_or(Err(ControlError::ShuttingDown))
    }

    /// Stops the child named `name` (within its shutdown timeout, then
    /// aborted); it stays listed, terminated, until
    /// [`delete_child`](Self::delete_child). Returns once it has stopped,
    /// at once for a child that was not running (backing off, or waiting
    /// out a sibling's group restart, which it leaves). OTP's
    /// `terminate_child`.
    ///
    /// # Errors
    ///
    /// [`ControlError`] if there is no such child or the supervisor is
    /// shutting down.
    ///
    /// # Cancel safety
    ///
    /// The command is sent on the first poll; dropping the future then does
    /// not cancel it, only the wait for its answer.
    pub async fn stop_child(&self, name: &str) -> Result<(), ControlError> {
        self.command(engine::CommandKind::Stop, name).await
    }

    /// Stops the child named `name` if it runs, and starts it again (a
    /// terminated child too), with a fresh backoff and breaker. Returns
    /// once it has been started again. The child leaves a group restart it
    /// was part of.
    ///
    /// # Errors
    ///
    /// As [`stop_child`](Self::stop_child).
    ///
    /// # Cancel safety
    ///
    /// As [`stop_child`](Self::stop_child).
    pub async fn restart_child(&self, name: &str) -> Result<(), ControlError> {
        self.command(engine::CommandKind::Restart, name).await
    }

    /// Forgets the terminated child named `name`: its entry, its snapshot
    /// and its Prometheus series; the memory it held returns. OTP's
    /// `delete_child`. Until then a terminated child keeps its slot (a few
    /// hundred bytes: its lifecycle, last error and termination reason) and
    /// its metric series, so that its fate stays visible.
    ///
    /// # Errors
    ///
    /// [`ControlError::Running`] if it has not terminated;
    /// otherwise as [`stop_child`](Self::stop_child).
    ///
    /// # Cancel safety
    ///
    /// As [`stop_child`](Self::stop_child).
    pub async fn delete_child(&self, name: &str) -> Result<(), ControlError> {
        self.command(engine::CommandKind::Delete, name).await
    }

    /// Stops the child named `name` if it runs, then forgets it, as
    /// [`stop_child`](Self::stop_child) followed by
    /// [`delete_child`](Self::delete_child). For dynamic children (one per
    /// connection, per job) that must not accumulate.
    ///
    /// # Errors
    ///
    /// As [`stop_child`](Self::stop_child).
    ///
    /// # Cancel safety
    ///
    /// As [`stop_child`](Self::stop_child).
    pub async fn remove_child(&self, name: &str) -> Result<(), ControlError> {
        self.command(engine::CommandKind::Remove, name).await
    }

    /// Snapshots of every service of the tree, depth first, each with its path.
    #[must_use]
    pub fn snapshots(&self) -> Vec<ServiceLifecycleSnapshot> {
        self.core.snapshots()
    }

    /// Calls `f` with the snapshot of every service of the tree, in the
    /// order of [`snapshots`](Self::snapshots), one at a time: for the
    /// status endpoint, which encodes each as it comes instead of holding
    /// them all.
    #[cfg(feature = "http")]
    pub(crate) fn each_snapshot(&self, f: &mut dyn FnMut(&ServiceLifecycleSnapshot)) {
        self.core.visit(&mut |slot, state| f(&slot.snapshot(state)));
    }

    /// Changes this supervisor's intensity, default backoff and default
    /// shutdown timeout while it runs; they apply from its next decision
    /// (the next restart, the next stop). Children with settings of their
    /// own keep them. A nested supervisor restarted by its parent starts
    /// again from its spec.
    ///
    /// ```
    /// use std::time::Duration;
    /// use janus::adapters::service_fn;
    /// use janus::tree::{Reconfiguration, SupervisorSpec};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let feed = service_fn("feed", |cancel| async move {
    ///     cancel.cancelled().await;
    ///     Ok(())
    /// });
    /// let desk = SupervisorSpec::new("desk").child(feed).start().await?;
    /// desk.reconfigure(
    ///     Reconfiguration::new()
    ///         .with_intensity(3, Duration::from_secs(10))
    ///         .with_shutdown_timeout(Duration::from_secs(5)),
    /// )
    /// .await?;
    /// assert_eq!(desk.snapshot("desk/feed").and_then(|s| s.shutdown_timeout_ms), Some(5_000));
    /// desk.shutdown();
    /// desk.wait().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ControlError::InvalidConfig`] for a zero intensity window or an
    /// invalid backoff (nothing is changed then),
    /// [`ControlError::ShuttingDown`] if the supervisor is stopping.
    ///
    /// # Cancel safety
    ///
    /// As [`stop_child`](Self::stop_child): once sent, it is applied.
    pub async fn reconfigure(&self, reconfiguration: Reconfiguration) -> Result<(), ControlError> {
        let (reply, answer) = oneshot::channel();
        self.core.send(engine::Message::Reconfigure {
            changes: reconfiguration.changes,
            reply,
        });
        answer.await.unwrap_or(Err(ControlError::ShuttingDown))
    }

    /// Snapshots of this supervisor's own children, in order (OTP's
    /// `which_children`); each shows its spec: kind, restart policy,
    /// shutdown timeout, criticality.
    #[must_use]
    pub fn children(&self) -> Vec<ServiceLifecycleSnapshot> {
        self.core
            .slots()
            .iter()
            .map(|slot| slot.with(|state, _| slot.snapshot(state)))
            .collect()
    }

    /// How many children this supervisor has, of which kinds (OTP's
    /// `count_children`).
    #[must_use]
    pub fn count_children(&self) -> ChildCounts {
        let mut counts = ChildCounts::default();
        for slot in self.core.slots() {
            counts.specs += 1;
            if slot.service.is_supervisor() {
                counts.supervisors += 1;
            } else {
                counts.workers += 1;
            }
            if !slot.phase().is_terminal() {
                counts.active += 1;
            }
        }
        counts
    }

    /// The snapshot of the service at `path` (e.g. `desk/risk/limits`),
    /// looked up name by name (not a snapshot of the whole tree).
    #[must_use]
    pub fn snapshot(&self, path: &str) -> Option<ServiceLifecycleSnapshot> {
        let slot = self.core.find(path)?;
        Some(slot.with(|state, _| slot.snapshot(state)))
    }

    /// A stream of every lifecycle event of the tree from now on, until
    /// the tree has stopped; bounded (see [`crate::events`]).
    pub fn subscribe(&self) -> EventStream {
        self.core.events.subscribe()
    }

    /// The root supervisor's counters.
    #[must_use]
    pub fn metrics(&self) -> &Arc<SupervisorMetrics> {
        &self.core.metrics
    }

    /// How the root supervisor is doing.
    #[must_use]
    pub fn health(&self) -> Health {
        match self.core.finished_now() {
            Some(Finished {
                error: Some(error), ..
            }) => Health::Failed(error),
            Some(_) => Health::Stopped,
            None if self.core.cancel.is_cancelled() => Health::ShuttingDown,
            None => {
                let given_up = self.core.given_up();
                if given_up.is_empty() {
                    Health::Running
                } else {
                    Health::Degraded { given_up }
                }
            }
        }
    }

    /// The services that [gate readiness](ChildOptions::with_gates_readiness)
    /// (by default, the critical ones) and have not been running and
    /// ready for longer than the [readiness
    /// grace](SupervisorSpec::with_readiness_grace), anywhere in the tree.
    /// The tree is ready when this is empty and it is running.
    #[must_use]
    pub fn not_ready(&self) -> Vec<ServiceLifecycleSnapshot> {
        let grace = self.core.settings.readiness_grace;
        let mut out = Vec::new();
        self.core.visit(&mut |slot, state| {
            let ready = state.ready && state.lifecycle.phase() == ServicePhase::Running;
            if slot.gates_readiness && !ready && state.unready_for() >= grace {
                out.push(slot.snapshot(state));
            }
        });
        out
    }

    /// Whether the root supervises (degraded or not) and every service
    /// that gates readiness runs and is ready (or is within the grace).
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.health().is_supervising() && self.not_ready().is_empty()
    }

    /// The Prometheus metrics the tree publishes to.
    #[must_use]
    pub fn prometheus(&self) -> &JanusMetrics {
        &self.core.prometheus
    }

    /// Asks the tree to stop (children in order, within their timeouts).
    pub fn shutdown(&self) {
        self.core.request_shutdown();
    }

    /// Waits until the tree is asked to stop, or its root gives up.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only watches.
    pub async fn shutdown_requested(&self) {
        self.core.cancel.cancelled().await;
    }

    /// Whether the tree is stopping or has stopped.
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.core.cancel.is_cancelled() || self.core.finished_now().is_some()
    }

    /// Waits until the tree has stopped: after [`shutdown`](Self::shutdown),
    /// or when the root gives up.
    ///
    /// # Errors
    ///
    /// Why the root gave up ([`SupervisorError`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits; the tree goes on stopping, and waiting
    /// again returns the same report.
    pub async fn wait(&self) -> Result<DrainReport, SupervisorError> {
        let finished = engine::drain::settle(&self.core).await;
        match finished.error {
            Some(error) => Err(error),
            None => Ok(finished.report),
        }
    }

    /// Runs until SIGTERM or Ctrl-C (a second one forces the exit) or until
    /// the root gives up, then stops the tree in order.
    ///
    /// # Errors
    ///
    /// Why the root gave up.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops watching the signals, nothing else: before
    /// a signal the tree keeps running; after one, it goes on stopping
    /// ([`wait`](Self::wait) for it).
    pub async fn run_until_shutdown(&self) -> Result<(), SupervisorError> {
        self.run_with_signals(Some(engine::drain::install_signals()))
            .await
    }

    /// Runs until one of `signals` (none: until a shutdown is asked for) or
    /// until the root gives up, then stops the tree.
    pub(crate) async fn run_with_signals(
        &self,
        signals: Option<std::io::Result<engine::drain::Signals>>,
    ) -> Result<(), SupervisorError> {
        let forced_exit = self
            .core
            .forced_exit
            .load(std::sync::atomic::Ordering::Relaxed);
        engine::drain::run_with_signals(&self.core, signals, forced_exit).await
    }
}
