//! Dynamic supervisors: children made at run time from one template, as
//! OTP's `simple_one_for_one` and Elixir's `DynamicSupervisor`. See
//! [`DynamicSupervisorSpec`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::{ChildOptions, ControlError, SupervisorError, SupervisorHandle, SupervisorSpec};
use crate::backoff::BackoffConfig;
use crate::engine::{self, Dynamic};
use crate::error::SpawnError;
use crate::events::EventStream;
use crate::lifecycle::ServiceLifecycleSnapshot;
use crate::metrics::JanusMetrics;
use crate::report::DrainReport;
use crate::service::{JanusService, RestartPolicy};
use crate::strategy::{ShutdownOrder, StartOrder};

/// What makes the children of a dynamic supervisor: shared by its spec,
/// every run of it, and every handle to it.
struct Template<A> {
    make: Arc<dyn Fn(A) -> Box<dyn JanusService> + Send + Sync>,
    options: ChildOptions,
    /// Numbers the children; shared by the supervisor's runs, so that no
    /// name is used twice.
    next: Arc<AtomicU64>,
}

impl<A> Clone for Template<A> {
    fn clone(&self) -> Self {
        Self {
            make: self.make.clone(),
            options: self.options.clone(),
            next: self.next.clone(),
        }
    }
}

/// A supervisor whose children are all made from one template, at run
/// time, each from an argument: one worker per connection, per order
/// batch, per job. OTP's `simple_one_for_one`, Elixir's `DynamicSupervisor`.
///
/// - [`DynamicSupervisorHandle::start_child`] makes a child from its
///   argument and starts it at once, named after the service and a
///   number (`worker-17`), and returns its [`ChildId`].
/// - A child restarts by its policy, alone (`one_for_one`), within the
///   supervisor's intensity. A child that ends for good (it completed, its
///   policy says no restart, its circuit breaker gave up on it, or it was
///   stopped by [`stop_child`](DynamicSupervisorHandle::stop_child)) is
///   forgotten at once: its entry, snapshot and metric series go, so
///   thousands of short-lived children do not accumulate. A child given up
///   on by its breaker does not take the supervisor down (in a static tree
///   it would, unless expendable): dynamic children come and go.
/// - [`with_max_children`](Self::with_max_children) bounds how many run at
///   once: [`SpawnError::MaxChildren`] beyond it.
/// - A shutdown stops every child at once, each within its shutdown
///   timeout, as OTP stops a `simple_one_for_one` supervisor's children.
///   Restarted by its parent, a dynamic supervisor starts empty (its
///   children are not carried over, as in OTP).
///
/// It is a [`JanusService`], so it nests in a tree like a
/// [`SupervisorSpec`]; [`SupervisorHandle::dynamic`] gives a typed handle
/// to it by its path. As a child, its own shutdown timeout is its
/// children's (they stop together) plus a second: a child whose service
/// asks for longer is cut short, so give the supervisor the longest
/// ([`with_shutdown_timeout`](Self::with_shutdown_timeout)). Its
/// settings are checked when it starts: nested, a mistake fails the
/// tree's start with [`SupervisorError::FailedToStart`] naming it.
///
/// ```
/// use janus::adapters::service_fn;
/// use janus::tree::DynamicSupervisorSpec;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // One worker per order batch: it runs until its batch is done.
/// let batches = DynamicSupervisorSpec::new("batches", |orders: Vec<u64>| {
///     service_fn("batch", move |_cancel| {
///         let orders = orders.clone();
///         async move {
///             let _total: u64 = orders.iter().sum();
///             Ok(())
///         }
///     })
/// })
/// .with_max_children(1_000);
///
/// let batches = batches.start().await?;
/// let id = batches.start_child(vec![1, 2, 3])?;
/// assert_eq!(id.name(), "batch-1");
///
/// batches.shutdown();
/// batches.wait().await?;
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct DynamicSupervisorSpec<A> {
    spec: SupervisorSpec,
    template: Template<A>,
    max_children: Option<usize>,
}

impl<A> Clone for DynamicSupervisorSpec<A> {
    fn clone(&self) -> Self {
        Self {
            spec: self.spec.clone(),
            template: self.template.clone(),
            max_children: self.max_children,
        }
    }
}

impl<A> std::fmt::Debug for DynamicSupervisorSpec<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicSupervisorSpec")
            .field("name", &self.spec.name())
            .field("max_children", &self.max_children)
            .field("child_options", &self.template.options)
            .finish_non_exhaustive()
    }
}

impl<A: 'static> DynamicSupervisorSpec<A> {
    /// A dynamic supervisor named `name` whose children `template` makes,
    /// each from the argument given to
    /// [`start_child`](DynamicSupervisorHandle::start_child). Defaults as
    /// [`SupervisorSpec::new`]'s (intensity 10 restarts within 60 s, 30 s
    /// shutdown timeout per child), with no limit on the number of
    /// children.
    pub fn new<S, F>(name: impl Into<String>, template: F) -> Self
    where
        S: JanusService,
        F: Fn(A) -> S + Send + Sync + 'static,
    {
        let spec = SupervisorSpec::new(name)
            .with_start_order(StartOrder::Concurrent)
            .with_shutdown_order(ShutdownOrder::Concurrent);
        Self {
            spec,
            template: Template {
                make: Arc::new(move |arg| Box::new(template(arg))),
                options: ChildOptions::new(),
                next: Arc::new(AtomicU64::new(1)),
            },
            max_children: None,
        }
        .sync()
    }

    /// Hands the template, type-erased, to the spec that runs it.
    fn sync(mut self) -> Self {
        self.spec.dynamic = Some(Dynamic {
            template: Arc::new(self.template.clone()),
            max_children: self.max_children,
            child_shutdown_timeout: self.template.options.overrides.shutdown_timeout,
        });
        self
    }

    /// At most `max` children run at once (OTP's `max_children`); more
    /// are refused with [`SpawnError::MaxChildren`].
    pub fn with_max_children(mut self, max: usize) -> Self {
        self.max_children = Some(max);
        self.sync()
    }

    /// Settings for every child, over those of the service the template
    /// makes (restart policy, backoff, shutdown and start timeouts,
    /// criticality).
    pub fn with_child_options(mut self, options: ChildOptions) -> Self {
        self.template.options = options;
        self.sync()
    }

    /// More than `restarts` restarts of its children within `within` and
    /// the supervisor gives up (see [`SupervisorSpec::with_intensity`]).
    pub fn with_intensity(mut self, restarts: u32, within: Duration) -> Self {
        self.spec = self.spec.with_intensity(restarts, within);
        self
    }

    /// No restart intensity limit.
    pub fn without_intensity_limit(mut self) -> Self {
        self.spec = self.spec.without_intensity_limit();
        self
    }

    /// How long each child may take to stop (default 30 s), unless it has
    /// its own; they stop together.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.spec = self.spec.with_shutdown_timeout(timeout);
        self
    }

    /// The backoff of children that bring none.
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.spec = self.spec.with_backoff(backoff);
        self
    }

    /// Its own restart policy, as a child of another supervisor (default
    /// `on_failure`).
    pub fn with_restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.spec = self.spec.with_restart_policy(policy);
        self
    }

    /// See [`SupervisorSpec::with_jitter_seed`].
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.spec = self.spec.with_jitter_seed(seed);
        self
    }

    /// See [`SupervisorSpec::with_event_capacity`].
    pub fn with_event_capacity(mut self, capacity: usize) -> Self {
        self.spec = self.spec.with_event_capacity(capacity);
        self
    }

    /// See [`SupervisorSpec::with_forced_exit`].
    pub fn with_forced_exit(mut self, forced_exit: bool) -> Self {
        self.spec = self.spec.with_forced_exit(forced_exit);
        self
    }

    /// The supervisor's name.
    #[must_use]
    pub fn name(&self) -> &str {
        self.spec.name()
    }

    /// Checks the settings: name, intensity, backoffs.
    ///
    /// # Errors
    ///
    /// The first problem found, as a [`SupervisorError`] naming the supervisor.
    pub fn validate(&self) -> Result<(), SupervisorError> {
        self.spec.validate()?;
        let invalid = |problem: String| SupervisorError::InvalidSpec {
            supervisor: self.spec.name().to_owned(),
            problem,
        };
        if self.max_children == Some(0) {
            return Err(invalid("max_children must not be zero".into()));
        }
        if let Some(backoff) = &self.template.options.overrides.backoff {
            backoff
                .validate()
                .map_err(|e| invalid(format!("children's backoff: {e}")))?;
        }
        if self.template.options.overrides.significant == Some(true) {
            return Err(invalid(
                "a dynamic supervisor's children cannot be significant: it has no auto_shutdown"
                    .into(),
            ));
        }
        if self.template.options.overrides.start_timeout == Some(Duration::ZERO) {
            return Err(invalid("children's start timeout must not be zero".into()));
        }
        Ok(())
    }

    fn handle(&self, handle: SupervisorHandle) -> DynamicSupervisorHandle<A> {
        DynamicSupervisorHandle {
            handle,
            template: Arc::new(self.template.clone()),
        }
    }

    /// Starts the supervisor, with no children, on the current tokio
    /// runtime.
    ///
    /// # Errors
    ///
    /// [`SupervisorError::InvalidSpec`] for inconsistent settings.
    ///
    /// # Cancel safety
    ///
    /// As [`SupervisorSpec::start`]: dropping the future stops it.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`.
    pub async fn start(self) -> Result<DynamicSupervisorHandle<A>, SupervisorError> {
        self.start_with_metrics(crate::metrics::metrics().clone())
            .await
    }

    /// [`start`](Self::start), publishing Prometheus series to `metrics`.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    ///
    /// # Cancel safety
    ///
    /// As [`start`](Self::start).
    pub async fn start_with_metrics(
        self,
        metrics: JanusMetrics,
    ) -> Result<DynamicSupervisorHandle<A>, SupervisorError> {
        self.validate()?;
        let handle = self.spec.clone().start_with_metrics(metrics).await?;
        Ok(self.handle(handle))
    }

    /// Starts the supervisor and returns at once (see
    /// [`SupervisorSpec::spawn`]).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn(self) -> Result<DynamicSupervisorHandle<A>, SupervisorError> {
        self.validate()?;
        let handle = self.spec.clone().spawn()?;
        Ok(self.handle(handle))
    }
}

#[async_trait]
impl<A: 'static> JanusService for DynamicSupervisorSpec<A> {
    fn name(&self) -> &str {
        self.spec.name()
    }

    fn restart_policy(&self) -> RestartPolicy {
        self.spec.restart_policy()
    }

    fn shutdown_timeout(&self) -> Option<Duration> {
        self.spec.shutdown_timeout()
    }

    fn start_timeout(&self) -> Option<Duration> {
        self.spec.start_timeout()
    }

    /// Ready once it runs (it has no children to start).
    fn reports_readiness(&self) -> bool {
        true
    }

    fn is_supervisor(&self) -> bool {
        true
    }

    /// Runs the supervisor until `cancel`, or until it gives up.
    async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
        if let Err(invalid) = self.validate() {
            return Err(invalid.into());
        }
        self.spec.run(cancel).await
    }
}

/// A child of a dynamic supervisor: its name there (`worker-17`), unique
/// for the supervisor's lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChildId(Arc<str>);

impl ChildId {
    /// The child's name (the last segment of its path).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ChildId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A handle to a running dynamic supervisor, typed by its children's
/// argument. Cheap to clone. Everything a [`SupervisorHandle`] does is
/// at [`supervisor`](Self::supervisor).
pub struct DynamicSupervisorHandle<A> {
    handle: SupervisorHandle,
    template: Arc<Template<A>>,
}

impl<A> Clone for DynamicSupervisorHandle<A> {
    fn clone(&self) -> Self {
        Self {
            handle: self.handle.clone(),
            template: self.template.clone(),
        }
    }
}

impl<A> std::fmt::Debug for DynamicSupervisorHandle<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DynamicSupervisorHandle")
            .field(&self.handle)
            .finish()
    }
}

impl<A: 'static> DynamicSupervisorHandle<A> {
    /// The handle to the dynamic supervisor of `handle`'s core, if it is
    /// one whose children take `A`.
    pub(super) fn of(handle: SupervisorHandle) -> Option<Self> {
        let template = handle.core.settings.dynamic.as_ref()?.template.clone();
        let template = template.downcast::<Template<A>>().ok()?;
        Some(Self { handle, template })
    }

    /// Makes a child from `arg` with the template and starts it at once
    /// (OTP's `start_child` on a `simple_one_for_one` supervisor). It is
    /// named after its service and a number: `worker-17`.
    ///
    /// # Errors
    ///
    /// [`SpawnError::MaxChildren`] when as many children run as allowed,
    /// [`SpawnError::ShuttingDown`] when the supervisor is stopping (or
    /// stopped), [`SpawnError::InvalidName`] or
    /// [`SpawnError::InvalidBackoff`] for what the template made.
    pub fn start_child(&self, arg: A) -> Result<ChildId, SpawnError> {
        let Template {
            make,
            options,
            next,
        } = &*self.template;
        let service = make(arg);
        let n = next.fetch_add(1, Ordering::Relaxed);
        let name: Arc<str> = Arc::from(format!("{}-{n}", service.name()));
        let mut overrides = options.overrides.clone();
        overrides.name = Some(name.clone());
        self.handle
            .core
            .add(engine::ServiceRef::Owned(service), overrides)?;
        Ok(ChildId(name))
    }

    /// Stops the child `id` (within its shutdown timeout, then aborted)
    /// and forgets it. Returns once it has stopped.
    ///
    /// # Errors
    ///
    /// [`ControlError::NoSuchChild`] if it has ended already (it is
    /// forgotten then), [`ControlError::ShuttingDown`] if the supervisor is
    /// stopping.
    ///
    /// # Cancel safety
    ///
    /// As [`SupervisorHandle::stop_child`].
    pub async fn stop_child(&self, id: &ChildId) -> Result<(), ControlError> {
        self.handle.remove_child(id.name()).await
    }

    /// How many children it has: running, backing off, or stopping (OTP's
    /// `count_children`).
    #[must_use]
    pub fn count_children(&self) -> usize {
        self.handle.core.len()
    }

    /// The untyped handle: snapshots, events, health, commands by name.
    #[must_use]
    pub fn supervisor(&self) -> &SupervisorHandle {
        &self.handle
    }

    /// The supervisor's path.
    #[must_use]
    pub fn path(&self) -> &str {
        self.handle.path()
    }

    /// Snapshots of its children.
    #[must_use]
    pub fn snapshots(&self) -> Vec<ServiceLifecycleSnapshot> {
        self.handle.snapshots()
    }

    /// A stream of the tree's lifecycle events from now on.
    pub fn subscribe(&self) -> EventStream {
        self.handle.subscribe()
    }

    /// Asks the supervisor to stop: every child at once, each within its
    /// shutdown timeout.
    pub fn shutdown(&self) {
        self.handle.shutdown();
    }

    /// Waits until the supervisor has stopped (see
    /// [`SupervisorHandle::wait`]).
    ///
    /// # Errors
    ///
    /// Why it gave up, if it did.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only watches.
    pub async fn wait(&self) -> Result<DrainReport, SupervisorError> {
        self.handle.wait().await
    }
}
