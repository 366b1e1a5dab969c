//! Random interleavings of everything that can happen to a supervision
//! tree, on tokio's paused clock, checked after every step.
//!
//! Each seed builds a random tree (strategies, orders, intensities,
//! policies, backoffs, breakers, shutdown timeouts, huge ones included,
//! nested supervisors, critical and expendable children, and a dynamic
//! supervisor `root/pool`) of puppets: services whose every run the test
//! drives. Then, step by step, it makes runs exit, fail or panic, sends
//! `add` / `stop` / `restart` / `remove` / `delete` commands, starts and
//! stops the pool's children, lets time pass, and at a random step shuts
//! the tree down. After
//! every step it checks:
//!
//! - every command answered within the shutdown timeouts of what it stops;
//! - no child is lost: none stays `Starting`, none is `Stopping` longer than
//!   its timeout, none backs off longer than its supervisor's group restart
//!   can take, and one whose policy says restart has not terminated while
//!   its supervisor runs (unless an operator stopped it, it is expendable,
//!   or its supervisor is escalating);
//! - every failure a puppet produced is counted once, no more, no less;
//!
//! and after the drain: no service code runs, every snapshot is
//! terminated, the counters balance, and the report names exactly the
//! services that were aborted.
//!
//! Seeded: a failure prints `JANUS_INTERLEAVING_SEED=…`; set it to replay
//! that seed alone. `JANUS_INTERLEAVING_SEEDS` sets how many run (default
//! 2,000). A second test drives the same puppets on the multi-thread runtime
//! with real time, for a few seconds, and checks what holds whatever the
//! timing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use janus::lifecycle::{ServiceLifecycleSnapshot, ServicePhase};
use janus::metrics::JanusMetrics;
use janus::prelude::*;
use janus::supervisor::{BackoffConfig, DrainReport};
use janus::tree::{
    ChildId, ChildOptions, ControlError, DynamicSupervisorSpec, ShutdownOrder, StartOrder,
    Strategy, SupervisorHandle,
};
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use tokio::sync::mpsc;
use tokio::time::Instant;

thread_local! {
    /// The length of the test's time unit, in microseconds: a millisecond
    /// on the paused clock; a twentieth of one with real time, so that a
    /// real run takes a fraction of a second.
    static UNIT_MICROS: std::cell::Cell<u64> = const { std::cell::Cell::new(1_000) };
}

/// `n` of the test's time units (see `UNIT_MICROS`).
fn ms(n: u64) -> Duration {
    Duration::from_micros(n * UNIT_MICROS.with(std::cell::Cell::get))
}

/// What a puppet's run does when it is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnCancel {
    Stop,
    StopAfter(Duration),
    Fail,
    /// Ignores it: only an abort ends the run.
    Hang,
}

/// What the test tells a puppet's current run to do.
#[derive(Debug, Clone, Copy)]
enum Order {
    Exit,
    Fail,
    Panic,
}

/// What the puppets of one tree did, by path.
#[derive(Default)]
struct Stage {
    puppets: Mutex<HashMap<String, Record>>,
}

#[derive(Default)]
struct Record {
    started: u64,
    finished: u64,
    dropped: u64,
    /// Failures produced: errors returned and panics.
    failures: u64,
    orders: Option<mpsc::UnboundedSender<Order>>,
}

impl Stage {
    fn with<R>(&self, path: &str, f: impl FnOnce(&mut Record) -> R) -> R {
        let mut puppets = self.puppets.lock().unwrap_or_else(PoisonError::into_inner);
        f(puppets.entry(path.to_owned()).or_default())
    }

    /// Tells the current run of the puppet at `path`, if one runs there:
    /// whether one did.
    fn order(&self, path: &str, order: Order) -> bool {
        let puppets = self.puppets.lock().unwrap_or_else(PoisonError::into_inner);
        puppets
            .get(path)
            .and_then(|r| r.orders.as_ref())
            .is_some_and(|orders| orders.send(order).is_ok())
    }

    fn running(&self) -> Vec<String> {
        let puppets = self.puppets.lock().unwrap_or_else(PoisonError::into_inner);
        puppets
            .iter()
            .filter(|(_, r)| r.started > r.finished + r.dropped)
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn record(&self, path: &str) -> (u64, u64, u64) {
        self.with(path, |r| (r.failures, r.dropped, r.started))
    }
}

/// Counts a run as dropped unless it finished.
struct RunGuard {
    stage: Arc<Stage>,
    path: String,
    finished: bool,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        let finished = self.finished;
        self.stage.with(&self.path, |r| {
            if finished {
                r.finished += 1;
            } else {
                r.dropped += 1;
            }
        });
    }
}

struct Puppet {
    name: String,
    policy: RestartPolicy,
    backoff: Option<BackoffConfig>,
    shutdown_timeout: Option<Duration>,
    on_cancel: OnCancel,
    stage: Arc<Stage>,
}

#[janus::async_trait]
impl JanusService for Puppet {
    fn name(&self) -> &str {
        &self.name
    }

    fn restart_policy(&self) -> RestartPolicy {
        self.policy
    }

    fn backoff_config(&self) -> Option<BackoffConfig> {
        self.backoff.clone()
    }

    fn shutdown_timeout(&self) -> Option<Duration> {
        self.shutdown_timeout
    }

    async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
        let path = janus::context::current_path().expect("supervised");
        let (orders, mut inbox) = mpsc::unbounded_channel();
        self.stage.with(&path, |r| {
            r.started += 1;
            r.orders = Some(orders);
        });
        let mut guard = RunGuard {
            stage: self.stage.clone(),
            path: path.clone(),
            finished: false,
        };
        let fail = |what: &str| {
            self.stage.with(&path, |r| r.failures += 1);
            anyhow::anyhow!("{what}")
        };
        let result = tokio::select! {
            biased;
            () = cancel.cancelled() => match self.on_cancel {
                OnCancel::Stop => Ok(()),
                OnCancel::StopAfter(delay) => {
                    tokio::time::sleep(delay).await;
                    Ok(())
                }
                OnCancel::Fail => Err(fail("failed as it stopped")),
                OnCancel::Hang => std::future::pending().await,
            },
            order = inbox.recv() => match order {
                Some(Order::Exit) | None => Ok(()),
                Some(Order::Fail) => Err(fail("failed by order")),
                Some(Order::Panic) => {
                    drop(fail("panicked by order"));
                    guard.finished = true;
                    panic!("simulated panic");
                }
            },
        };
        guard.finished = true;
        result
    }
}

/// What the test knows of a child it declared.
#[derive(Debug, Clone)]
struct Known {
    policy: RestartPolicy,
    expendable: bool,
    shutdown_timeout: Duration,
    /// The longest backoff it can wait.
    max_backoff: Duration,
    /// For a supervisor: its children's paths.
    children: Vec<String>,
    /// For a supervisor: the time it takes to stop its children.
    stop_budget: Duration,
    /// A dynamic supervisor: its children come and go.
    dynamic: bool,
}

impl Known {
    /// A service (not a supervisor).
    fn service(
        policy: RestartPolicy,
        expendable: bool,
        shutdown_timeout: Duration,
        max_backoff: Duration,
    ) -> Self {
        Self {
            policy,
            expendable,
            shutdown_timeout,
            max_backoff,
            children: Vec::new(),
            stop_budget: Duration::ZERO,
            dynamic: false,
        }
    }
}

/// What a child of the pool does: how it stops, whether it restarts, its
/// shutdown timeout.
#[derive(Debug, Clone, Copy)]
struct PoolArg {
    on_cancel: OnCancel,
    policy: RestartPolicy,
    timeout: Duration,
}

/// The longest shutdown timeout of a child of the pool.
const POOL_TIMEOUT: u64 = 100;

/// The dynamic supervisor `root/pool`, and what the test knows of it.
fn pool(stage: &Arc<Stage>) -> (DynamicSupervisorSpec<PoolArg>, ChildOptions, Known) {
    let stage = stage.clone();
    let spec = DynamicSupervisorSpec::new("pool", move |arg: PoolArg| Puppet {
        name: "w".into(),
        policy: arg.policy,
        backoff: Some(BackoffConfig::new(ms(10), ms(100))),
        shutdown_timeout: Some(arg.timeout),
        on_cancel: arg.on_cancel,
        stage: stage.clone(),
    })
    .with_max_children(20)
    .with_shutdown_timeout(ms(POOL_TIMEOUT));
    let backoff = BackoffConfig::new(ms(10), ms(100));
    let timeout = ms(POOL_TIMEOUT).saturating_add(Duration::from_secs(1));
    let known = Known {
        policy: RestartPolicy::OnFailure,
        expendable: true,
        shutdown_timeout: timeout,
        max_backoff: backoff.max_delay,
        children: Vec::new(),
        stop_budget: ms(POOL_TIMEOUT),
        dynamic: true,
    };
    let options = ChildOptions::new()
        .with_backoff(backoff)
        .with_expendable(true);
    (spec, options, known)
}

struct Plan {
    stage: Arc<Stage>,
    known: BTreeMap<String, Known>,
    root_budget: Duration,
    root_children: Vec<String>,
}

fn pick<T: Copy>(rng: &mut StdRng, choices: &[T]) -> T {
    choices[rng.random_range(0..choices.len())]
}

fn random_timeout(rng: &mut StdRng, on_cancel: OnCancel) -> Duration {
    // Infinite only for a child that stops when asked: one that hangs
    // would never let the drain end.
    if on_cancel != OnCancel::Hang && rng.random_range(0..8) == 0 {
        Duration::MAX
    } else {
        ms(rng.random_range(1..400))
    }
}

fn random_backoff(rng: &mut StdRng) -> BackoffConfig {
    let backoff = match rng.random_range(0..10) {
        0 => BackoffConfig::new(Duration::ZERO, Duration::ZERO),
        1 => BackoffConfig::new(Duration::MAX, Duration::MAX),
        _ => {
            let base = ms(rng.random_range(1..200));
            BackoffConfig::new(base, base * rng.random_range(1..10))
        }
    };
    match rng.random_range(0..3) {
        0 => backoff.without_circuit_breaker(),
        _ => {
            backoff.with_circuit_breaker(rng.random_range(1..8), ms(rng.random_range(100..20_000)))
        }
    }
}

fn stop_budget(timeouts: &[Duration], order: ShutdownOrder) -> Duration {
    match order {
        ShutdownOrder::Reverse => timeouts
            .iter()
            .fold(Duration::ZERO, |a, t| a.saturating_add(*t)),
        ShutdownOrder::Concurrent => timeouts.iter().copied().max().unwrap_or_default(),
    }
}

/// A random supervisor spec at `path`, and what the test knows of it.
fn random_spec(
    rng: &mut StdRng,
    path: &str,
    depth: u32,
    stage: &Arc<Stage>,
    known: &mut BTreeMap<String, Known>,
) -> (SupervisorSpec, Vec<String>, Duration) {
    let name = path.rsplit('/').next().expect("a name");
    let order = pick(rng, &[ShutdownOrder::Reverse, ShutdownOrder::Concurrent]);
    let default_timeout = ms(rng.random_range(10..500));
    let default_backoff = random_backoff(rng);
    let mut spec = SupervisorSpec::new(name)
        .with_strategy(pick(
            rng,
            &[
                Strategy::OneForOne,
                Strategy::OneForAll,
                Strategy::RestForOne,
            ],
        ))
        .with_shutdown(default_timeout, order)
        .with_start_order(pick(rng, &[StartOrder::Ordered, StartOrder::Concurrent]))
        .with_backoff(default_backoff.clone());
    spec = match rng.random_range(0..4) {
        0 => spec.without_intensity_limit(),
        1 => spec.with_intensity(rng.random_range(1..5), Duration::MAX),
        _ => spec.with_intensity(rng.random_range(1..30), ms(rng.random_range(100..30_000))),
    };
    let mut children = Vec::new();
    let mut timeouts = Vec::new();
    for i in 0..rng.random_range(1..5) {
        let child_path = format!("{path}/c{i}");
        let expendable = rng.random_range(0..3) == 0;
        let mut options = ChildOptions::new().with_expendable(expendable);
        if rng.random_range(0..12) == 0 {
            options = options.with_critical(true);
        }
        if depth < 2 && rng.random_range(0..4) == 0 {
            let (sub, grandchildren, budget) =
                random_spec(rng, &child_path, depth + 1, stage, known);
            let policy = pick(rng, &[RestartPolicy::Always, RestartPolicy::OnFailure]);
            let sub = sub.with_restart_policy(policy);
            // A nested supervisor's own shutdown timeout: its children's
            // time, and a second to spare.
            let timeout = budget.saturating_add(Duration::from_secs(1));
            known.insert(
                child_path.clone(),
                Known {
                    policy,
                    expendable,
                    shutdown_timeout: timeout,
                    max_backoff: default_backoff.max_delay,
                    children: grandchildren,
                    stop_budget: budget,
                    dynamic: false,
                },
            );
            timeouts.push(timeout);
            spec = spec.child_with(sub, options);
        } else {
            let slow = OnCancel::StopAfter(ms(rng.random_range(1..300)));
            let on_cancel = pick(
                rng,
                &[
                    OnCancel::Stop,
                    OnCancel::Stop,
                    slow,
                    OnCancel::Fail,
                    OnCancel::Hang,
                ],
            );
            let policy = pick(
                rng,
                &[
                    RestartPolicy::Always,
                    RestartPolicy::OnFailure,
                    RestartPolicy::Never,
                ],
            );
            let backoff = (rng.random_range(0..2) == 0).then(|| random_backoff(rng));
            let own_timeout = (rng.random_range(0..2) == 0).then(|| random_timeout(rng, on_cancel));
            let timeout = own_timeout.unwrap_or(default_timeout);
            known.insert(
                child_path.clone(),
                Known::service(
                    policy,
                    expendable,
                    timeout,
                    backoff.as_ref().unwrap_or(&default_backoff).max_delay,
                ),
            );
            timeouts.push(timeout);
            spec = spec.child_with(
                Puppet {
                    name: format!("c{i}"),
                    policy,
                    backoff,
                    shutdown_timeout: own_timeout,
                    on_cancel,
                    stage: stage.clone(),
                },
                options,
            );
        }
        children.push(child_path);
    }
    let budget = stop_budget(&timeouts, order);
    (spec, children, budget)
}

/// A command sent, and when its answer is due at the latest.
struct Sent {
    what: String,
    due: Instant,
    answer: tokio::task::JoinHandle<Result<(), ControlError>>,
}

struct Run {
    rng: StdRng,
    plan: Plan,
    tree: SupervisorHandle,
    sent: Vec<Sent>,
    /// Paths an operator stopped, restarted or removed: their fate is the
    /// operator's.
    commanded: HashSet<String>,
    added: usize,
    /// The children started in the pool and not stopped by the test.
    pooled: Vec<ChildId>,
}

impl Run {
    fn name_of(path: &str) -> &str {
        path.rsplit('/').next().expect("a name")
    }

    /// One random thing happens.
    fn act(&mut self) {
        let mut all: Vec<String> = self.plan.known.keys().cloned().collect();
        all.extend(self.pooled.iter().map(|id| format!("root/pool/{id}")));
        match self.rng.random_range(0..13) {
            0..=4 => {
                let path = &all[self.rng.random_range(0..all.len())];
                let order = pick(
                    &mut self.rng,
                    &[Order::Exit, Order::Fail, Order::Fail, Order::Panic],
                );
                if self.plan.stage.order(path, order) {
                    count(&TALLY.orders, 1);
                }
            }
            5..=7 => {
                let children = &self.plan.root_children;
                let path = children[self.rng.random_range(0..children.len())].clone();
                let kind = self.rng.random_range(0..4);
                let name = Self::name_of(&path).to_owned();
                let tree = self.tree.clone();
                // Commands for one child run in turn: this one is due after
                // those before it.
                let before = self
                    .sent
                    .iter()
                    .filter(|s| s.what.ends_with(&format!(" {path}")))
                    .map(|s| s.due)
                    .max()
                    .unwrap_or_else(Instant::now);
                let timeout = self.plan.known[&path].shutdown_timeout;
                let due = deadline(before.max(Instant::now()), timeout);
                self.commanded.insert(path.clone());
                let (what, answer) = match kind {
                    0 => (
                        "stop",
                        tokio::spawn(async move { tree.stop_child(&name).await }),
                    ),
                    1 => (
                        "restart",
                        tokio::spawn(async move { tree.restart_child(&name).await }),
                    ),
                    2 => (
                        "remove",
                        tokio::spawn(async move { tree.remove_child(&name).await }),
                    ),
                    _ => (
                        "delete",
                        tokio::spawn(async move { tree.delete_child(&name).await }),
                    ),
                };
                count(&TALLY.commands, 1);
                self.sent.push(Sent {
                    what: format!("{what} {path}"),
                    due,
                    answer,
                });
            }
            10 | 11 => {
                let slow = OnCancel::StopAfter(ms(self.rng.random_range(1..POOL_TIMEOUT)));
                let on_cancel = pick(
                    &mut self.rng,
                    &[OnCancel::Stop, slow, OnCancel::Fail, OnCancel::Hang],
                );
                let arg = PoolArg {
                    on_cancel,
                    policy: pick(
                        &mut self.rng,
                        &[
                            RestartPolicy::Always,
                            RestartPolicy::OnFailure,
                            RestartPolicy::Never,
                        ],
                    ),
                    timeout: ms(self.rng.random_range(1..=POOL_TIMEOUT)),
                };
                // None while the pool restarts (or has been stopped).
                if let Some(pool) = self.tree.dynamic::<PoolArg>("root/pool")
                    && let Ok(id) = pool.start_child(arg)
                {
                    count(&TALLY.pooled, 1);
                    self.pooled.push(id);
                }
            }
            12 => {
                if self.pooled.is_empty() {
                    return;
                }
                let id = self
                    .pooled
                    .swap_remove(self.rng.random_range(0..self.pooled.len()));
                let Some(pool) = self.tree.dynamic::<PoolArg>("root/pool") else {
                    return;
                };
                let what = format!("stop root/pool/{id}");
                // Its own timeout, at most; then the pool's answer.
                let due = deadline(Instant::now(), ms(POOL_TIMEOUT + 1));
                count(&TALLY.commands, 1);
                self.sent.push(Sent {
                    what,
                    due,
                    answer: tokio::spawn(async move {
                        match pool.stop_child(&id).await {
                            // Ended by itself meanwhile: forgotten already.
                            Err(ControlError::NoSuchChild { .. }) => Ok(()),
                            other => other,
                        }
                    }),
                });
            }
            _ => {
                let name = format!("added{}", self.added);
                self.added += 1;
                let path = format!("{}/{name}", self.tree.path());
                let policy = pick(
                    &mut self.rng,
                    &[RestartPolicy::Always, RestartPolicy::OnFailure],
                );
                let puppet = Puppet {
                    name,
                    policy,
                    backoff: Some(BackoffConfig::new(ms(10), ms(100))),
                    shutdown_timeout: Some(ms(50)),
                    on_cancel: OnCancel::Stop,
                    stage: self.plan.stage.clone(),
                };
                if self.tree.add_child(puppet).is_ok() {
                    self.plan
                        .known
                        .insert(path.clone(), Known::service(policy, false, ms(50), ms(100)));
                    self.plan.root_children.push(path);
                    self.plan.root_budget = self.plan.root_budget.saturating_add(ms(50));
                }
            }
        }
    }

    /// Answers that came: each within its due time.
    fn check_commands(&mut self) -> Result<(), String> {
        let now = Instant::now();
        let mut pending = Vec::new();
        for sent in std::mem::take(&mut self.sent) {
            if sent.answer.is_finished() {
                continue;
            }
            if now > sent.due {
                return Err(format!(
                    "`{}` not answered {:?} after it was due",
                    sent.what,
                    now - sent.due
                ));
            }
            pending.push(sent);
        }
        self.sent = pending;
        Ok(())
    }

    /// No child lost, every failure counted once.
    fn check_children(&self) -> Result<(), String> {
        if !self.tree.health().is_supervising() {
            return Ok(());
        }
        let snapshots: HashMap<String, ServiceLifecycleSnapshot> = self
            .tree
            .snapshots()
            .into_iter()
            .map(|s| (s.path.clone(), s))
            .collect();
        let root = Known {
            policy: RestartPolicy::Always,
            expendable: false,
            shutdown_timeout: Duration::MAX,
            max_backoff: Duration::ZERO,
            children: self.plan.root_children.clone(),
            stop_budget: self.plan.root_budget,
            dynamic: false,
        };
        self.check_supervisor(&root, &snapshots, true, Duration::ZERO)
    }

    /// Checks the children of `supervisor`, which runs; `ancestors`: the
    /// time its ancestors may take to stop it, should one of them be giving
    /// up (a supervisor shows running until its parent has stopped it).
    fn check_supervisor(
        &self,
        supervisor: &Known,
        snapshots: &HashMap<String, ServiceLifecycleSnapshot>,
        first_incarnation: bool,
        ancestors: Duration,
    ) -> Result<(), String> {
        let escalation_window = ancestors.saturating_add(supervisor.stop_budget);
        let longest_backoff = supervisor
            .children
            .iter()
            .filter_map(|p| self.plan.known.get(p))
            .map(|k| k.max_backoff)
            .max()
            .unwrap_or_default();
        // A group restart stops the members, then waits out their
        // backoffs; a failure during it can start it once more.
        let group_bound = supervisor
            .stop_budget
            .saturating_add(longest_backoff)
            .saturating_mul(2)
            .saturating_add(ms(1));
        for path in &supervisor.children {
            let Some(snap) = snapshots.get(path) else {
                if self.commanded.contains(path) {
                    continue;
                }
                return Err(format!("{path} is not listed"));
            };
            let known = &self.plan.known[path];
            let in_phase = ms(snap.time_in_phase_ms);
            let operated = self.commanded.contains(path);
            match snap.phase {
                ServicePhase::Starting if in_phase > Duration::ZERO => {
                    return Err(format!("{path} stuck starting for {in_phase:?}"));
                }
                ServicePhase::Stopping if in_phase > known.shutdown_timeout => {
                    return Err(format!("{path} stopping for {in_phase:?}"));
                }
                ServicePhase::BackingOff if in_phase > group_bound => {
                    return Err(format!(
                        "{path} backing off for {in_phase:?} (bound {group_bound:?})"
                    ));
                }
                ServicePhase::Terminated if !operated => {
                    let reason = snap.termination_reason.as_deref().unwrap_or_default();
                    let allowed = known.policy == RestartPolicy::Never
                        || (known.policy == RestartPolicy::OnFailure && reason == "completed")
                        || (known.expendable && reason.starts_with("circuit breaker open"))
                        // Its supervisor (or one above) is giving up: it
                        // stops its other children first.
                        || in_phase <= escalation_window;
                    if !allowed {
                        return Err(format!(
                            "{path} ({:?}) terminated for {in_phase:?} ({reason}) while its supervisor runs",
                            known.policy
                        ));
                    }
                }
                _ => {}
            }
            if known.dynamic {
                // Its children come and go; the drain checks them.
            } else if known.children.is_empty() {
                let (failures, _, _) = self.plan.stage.record(path);
                if first_incarnation && snap.total_failures != failures {
                    return Err(format!(
                        "{path}: {failures} failures produced, {} counted",
                        snap.total_failures
                    ));
                }
            } else if snap.phase == ServicePhase::Running {
                self.check_supervisor(
                    known,
                    snapshots,
                    first_incarnation && snap.start_count == 1,
                    escalation_window,
                )?;
            }
        }
        Ok(())
    }
}

/// `now + timeout`, saturating: as long as it takes.
fn deadline(now: Instant, timeout: Duration) -> Instant {
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

/// After the drain: nothing runs, everything terminated, counters balance,
/// and the report names exactly what was aborted.
fn check_drain(
    tree: &SupervisorHandle,
    stage: &Stage,
    metrics: &JanusMetrics,
    report: Option<&DrainReport>,
    before: &HashMap<String, (u64, u64)>,
    live_at_drain: usize,
    clock: Clock,
) -> Result<(), String> {
    let running = stage.running();
    if !running.is_empty() {
        let phases: Vec<String> = tree
            .snapshots()
            .into_iter()
            .filter(|s| running.contains(&s.path))
            .map(|s| {
                format!(
                    "{} {} {:?} starts {}",
                    s.path, s.phase, s.termination_reason, s.start_count
                )
            })
            .collect();
        return Err(format!(
            "still running after the drain: {running:?}; {phases:?}; report {report:?}"
        ));
    }
    let snapshots = tree.snapshots();
    if let Some(s) = snapshots
        .iter()
        .find(|s| s.phase != ServicePhase::Terminated)
    {
        return Err(format!("{} is {} after the drain", s.path, s.phase));
    }
    if metrics.active_services() != 0 {
        return Err(format!(
            "{} services still counted active",
            metrics.active_services()
        ));
    }
    if metrics.spawned_total() != metrics.terminated_total() {
        return Err("spawned and terminated do not balance".into());
    }
    let Some(report) = report else {
        return Ok(());
    };
    // Every service of the tree at the drain, and no more: the snapshots also
    // keep the last children of a nested supervisor stopped before.
    // (`live_at_drain`: the root's children.)
    let covered = report.stopped + report.aborted.len();
    if covered > snapshots.len() || covered < live_at_drain {
        return Err(format!(
            "the report covers {} + {} services; {live_at_drain} were live, {} are listed",
            report.stopped,
            report.aborted.len(),
            snapshots.len()
        ));
    }
    let reported: HashSet<&str> = report.aborted.iter().map(String::as_str).collect();
    let puppets = stage.puppets.lock().unwrap_or_else(PoisonError::into_inner);
    let aborted_now = |path: &str| {
        puppets
            .get(path)
            .is_some_and(|r| r.dropped > before.get(path).map_or(0, |b| b.0))
    };
    // A run that returned in the very instant its shutdown deadline passed
    // (real time: the two timers share a tick) is aborted by the
    // supervisor, whose decision is made at the deadline; that its code
    // had just returned is not an error of the report.
    let finished_now = |path: &str| {
        puppets
            .get(path)
            .is_some_and(|r| r.finished > before.get(path).map_or(0, |b| b.1))
    };
    // What the report names was aborted during the drain: a puppet whose run
    // was dropped, or a nested supervisor (whose puppets then are too).
    for path in &report.aborted {
        let nested_supervisor = !puppets.contains_key(path);
        let tie = clock == Clock::Real && finished_now(path);
        if !(nested_supervisor || aborted_now(path) || tie) {
            let r = &puppets[path];
            return Err(format!(
                "{path} reported aborted; it was not (started {}, finished {}, dropped {}); {report:?}",
                r.started, r.finished, r.dropped
            ));
        }
    }
    // And a child of the root aborted during the drain is named. (Deeper
    // down, a nested supervisor the drain has not reached yet still
    // restarts its own children, aborting some: that is not the drain's.)
    for path in puppets.keys() {
        let root_child = path.matches('/').count() == 1;
        if root_child && aborted_now(path) && !reported.contains(path.as_str()) {
            return Err(format!(
                "{path} aborted by the drain, not reported; {report:?}"
            ));
        }
    }
    Ok(())
}

/// The root's children: the drain stopped each (a nested supervisor that
/// looked running may have been giving up already; its children are not
/// certain).
fn count_root_children(tree: &SupervisorHandle) -> usize {
    let root = format!("{}/", tree.path());
    tree.snapshots()
        .iter()
        .filter(|s| {
            s.path
                .strip_prefix(&root)
                .is_some_and(|name| !name.contains('/'))
        })
        .count()
}

const STEPS: usize = 40;

/// What the paused runs did, over every seed: shown at the end.
#[derive(Default)]
struct Tally {
    steps: std::sync::atomic::AtomicU64,
    orders: std::sync::atomic::AtomicU64,
    commands: std::sync::atomic::AtomicU64,
    aborted_runs: std::sync::atomic::AtomicU64,
    gave_up: std::sync::atomic::AtomicU64,
    pooled: std::sync::atomic::AtomicU64,
}

static TALLY: Tally = Tally {
    steps: std::sync::atomic::AtomicU64::new(0),
    orders: std::sync::atomic::AtomicU64::new(0),
    commands: std::sync::atomic::AtomicU64::new(0),
    aborted_runs: std::sync::atomic::AtomicU64::new(0),
    gave_up: std::sync::atomic::AtomicU64::new(0),
    pooled: std::sync::atomic::AtomicU64::new(0),
};

fn count(counter: &std::sync::atomic::AtomicU64, n: u64) {
    counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

/// The clock a run is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    /// Tokio's paused clock, current-thread runtime: every bound is exact.
    Paused,
    /// Real time on the multi-thread runtime: only what holds whatever the
    /// timing is checked.
    Real,
}

async fn run_seed(seed: u64, clock: Clock) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let stage = Arc::new(Stage::default());
    let mut known = BTreeMap::new();
    let (spec, mut root_children, root_budget) =
        random_spec(&mut rng, "root", 0, &stage, &mut known);
    let (pool, pool_options, pool_known) = pool(&stage);
    let spec = spec.child_with(pool, pool_options);
    let root_budget = root_budget.saturating_add(pool_known.shutdown_timeout);
    known.insert("root/pool".to_owned(), pool_known);
    root_children.push("root/pool".to_owned());
    let metrics = JanusMetrics::new();
    let tree = spec
        .with_jitter_seed(seed)
        .start_with_metrics(metrics.clone())
        .await
        .map_err(|e| format!("start: {e}"))?;
    let mut run = Run {
        rng,
        plan: Plan {
            stage: stage.clone(),
            known,
            root_budget,
            root_children,
        },
        tree: tree.clone(),
        sent: Vec::new(),
        commanded: HashSet::new(),
        added: 0,
        pooled: Vec::new(),
    };
    let shutdown_at = run.rng.random_range(0..STEPS);
    for step in 0..STEPS {
        if step == shutdown_at || !tree.health().is_supervising() {
            break;
        }
        for _ in 0..run.rng.random_range(1..4) {
            run.act();
        }
        tokio::time::sleep(ms(run.rng.random_range(0..400))).await;
        count(&TALLY.steps, 1);
        if clock == Clock::Paused {
            run.check_commands()
                .and_then(|()| run.check_children())
                .map_err(|e| {
                    let tree: Vec<String> = tree
                        .snapshots()
                        .iter()
                        .map(|s| {
                            format!(
                                "{} {} {:?} starts {} for {}ms",
                                s.path,
                                s.phase,
                                s.termination_reason,
                                s.start_count,
                                s.time_in_phase_ms
                            )
                        })
                        .collect();
                    format!("step {step}: {e}\n{}", tree.join("\n"))
                })?;
        }
    }
    let before: HashMap<String, (u64, u64)> = stage
        .puppets
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(p, r)| (p.clone(), (r.dropped, r.finished)))
        .collect();
    tree.shutdown();
    let result = tree.wait().await;
    for sent in run.sent.drain(..) {
        let answered = tokio::time::timeout(Duration::from_secs(30), sent.answer).await;
        answered
            .map_err(|_| format!("`{}` never answered", sent.what))?
            .map_err(|e| format!("`{}`: {e}", sent.what))?
            .ok();
    }
    if clock == Clock::Real {
        // A run that fails as it is aborted may not be counted: never more
        // than produced.
        for s in tree.snapshots() {
            if stage
                .puppets
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains_key(&s.path)
            {
                let (failures, _, _) = stage.record(&s.path);
                if s.total_failures > failures {
                    return Err(format!(
                        "{}: {failures} failures produced, {} counted",
                        s.path, s.total_failures
                    ));
                }
            }
        }
    }
    // Err: the root gave up before the shutdown, and drained then.
    let report = result.as_ref().ok();
    // (A command may complete as the shutdown is asked for: counted after.)
    let live_at_drain = count_root_children(&tree);
    if result.is_err() {
        count(&TALLY.gave_up, 1);
    }
    let aborted: u64 = stage
        .puppets
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .map(|r| r.dropped)
        .sum();
    count(&TALLY.aborted_runs, aborted);
    check_drain(
        &tree,
        &stage,
        &metrics,
        report,
        &before,
        live_at_drain,
        clock,
    )
}

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("JANUS_INTERLEAVING_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        // Replaying one seed: what the supervisors did, with RUST_LOG.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        return vec![seed];
    }
    let count = std::env::var("JANUS_INTERLEAVING_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    let first: u64 = rand::random();
    (0..count).map(|i| first.wrapping_add(i)).collect()
}

fn quiet_simulated_panics() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let simulated = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|m| m.starts_with("simulated"));
        if !simulated {
            default_hook(info);
        }
    }));
}

#[test]
fn random_interleavings_on_the_paused_clock() {
    quiet_simulated_panics();
    let seeds = seeds();
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let chunks: Vec<_> = seeds
            .chunks(seeds.len().div_ceil(workers))
            .map(|chunk| {
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for &seed in chunk {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_time()
                            .start_paused(true)
                            .build()
                            .expect("runtime");
                        if let Err(problem) = runtime.block_on(run_seed(seed, Clock::Paused)) {
                            failures.push(format!("JANUS_INTERLEAVING_SEED={seed}: {problem}"));
                            if failures.len() > 3 {
                                break;
                            }
                        }
                    }
                    failures
                })
            })
            .collect();
        chunks
            .into_iter()
            .flat_map(|c| c.join().expect("worker"))
            .collect()
    });
    let read = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "{} seeds: {} steps, {} orders to runs, {} commands, {} children started in pools, {} runs aborted, {} roots gave up",
        seeds.len(),
        read(&TALLY.steps),
        read(&TALLY.orders),
        read(&TALLY.commands),
        read(&TALLY.pooled),
        read(&TALLY.aborted_runs),
        read(&TALLY.gave_up),
    );
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed:\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n")
    );
}

/// The same interleavings on the multi-thread runtime, with real time and
/// real races between the control loop, the runs and the test: a few
/// seconds of them. What must hold whatever the timing is checked: every
/// command is answered, nothing runs after the drain, the report names
/// what the drain aborted, no failure is counted twice.
#[test]
fn random_interleavings_on_the_multi_thread_runtime() {
    quiet_simulated_panics();
    let first: u64 = std::env::var("JANUS_INTERLEAVING_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let started = std::time::Instant::now();
    let mut seeds = 0;
    while seeds < 200 && started.elapsed() < Duration::from_secs(4) {
        let seed = first.wrapping_add(seeds);
        seeds += 1;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            // Every thread the test's code may run on.
            .on_thread_start(|| UNIT_MICROS.with(|u| u.set(50)))
            .build()
            .expect("runtime");
        UNIT_MICROS.with(|u| u.set(50));
        let outcome = runtime.block_on(async move {
            tokio::spawn(run_seed(seed, Clock::Real))
                .await
                .map_err(|e| e.to_string())?
        });
        if let Err(problem) = outcome {
            panic!("JANUS_INTERLEAVING_SEED={seed} (multi-thread): {problem}");
        }
    }
    eprintln!("{seeds} seeds on the multi-thread runtime");
}
