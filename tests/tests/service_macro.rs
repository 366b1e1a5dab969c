//! `#[janus::service]` behaviour on tokio's paused clock: the generated loop,
//! cancellation, `on_stop`, and the configuration the supervisor applies.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use janus::prelude::*;
use janus::supervisor::{BackoffConfig, JanusSupervisor, ServicePhase, SupervisorConfig};
use tests_integration::ms;
use tokio::time::{Instant, sleep};

/// Records what the hooks saw, on tokio's clock.
#[derive(Default)]
struct Log {
    starts: AtomicU64,
    steps: Mutex<Vec<Instant>>,
    stops: AtomicU64,
}

impl Log {
    fn steps(&self) -> Vec<Duration> {
        let steps = self.steps.lock().expect("log");
        let origin = steps.first().copied();
        steps
            .iter()
            .map(|t| t.duration_since(origin.expect("a step")))
            .collect()
    }
}

#[janus::service(
    restart = "on_failure",
    backoff(base = "1s", max = "1s"),
    circuit_breaker(max_failures = 3, window = "60s"),
    shutdown_timeout = "250ms",
    critical
)]
struct Poller {
    log: Log,
    /// Steps from this one on fail.
    fail_from: Option<usize>,
    step_takes: Option<(usize, Duration)>,
}

#[janus::service]
impl Poller {
    #[on_start]
    async fn connect(&self) -> anyhow::Result<()> {
        self.log.starts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    #[step(every = "100ms")]
    async fn poll(&self) -> anyhow::Result<()> {
        let n = {
            let mut steps = self.log.steps.lock().expect("log");
            steps.push(Instant::now());
            steps.len()
        };
        if let Some((at, takes)) = self.step_takes
            && n == at
        {
            sleep(takes).await;
        }
        anyhow::ensure!(
            self.fail_from.is_none_or(|from| n < from),
            "step {n} failed"
        );
        Ok(())
    }

    #[on_stop]
    async fn disconnect(&self) {
        self.log.stops.fetch_add(1, Ordering::SeqCst);
    }

    /// Other methods stay as they are.
    fn steps_taken(&self) -> usize {
        self.log.steps.lock().expect("log").len()
    }
}

fn poller() -> Poller {
    Poller {
        log: Log::default(),
        fail_from: None,
        step_takes: None,
    }
}

#[test]
fn struct_configuration_is_generated() {
    let p = poller();
    assert_eq!(p.name(), "poller");
    assert_eq!(p.restart_policy(), RestartPolicy::OnFailure);
    assert_eq!(
        p.backoff_config(),
        Some(
            BackoffConfig::new(Duration::from_secs(1), Duration::from_secs(1))
                .with_circuit_breaker(3, Duration::from_secs(60))
        )
    );
    assert_eq!(p.shutdown_timeout(), Some(ms(250)));
    assert!(p.is_critical());
    assert_eq!(p.steps_taken(), 0);
}

#[tokio::test(start_paused = true)]
async fn step_runs_every_period() {
    let p = poller();
    let cancel = CancellationToken::new();
    let run = p.run(cancel.clone());
    let stop = async {
        sleep(ms(1050)).await;
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(run, stop);
    assert!(result.is_ok());
    let expected: Vec<Duration> = (0..=10).map(|n| ms(100 * n)).collect();
    assert_eq!(p.log.steps(), expected);
    assert_eq!(p.log.starts.load(Ordering::SeqCst), 1);
    assert_eq!(p.log.stops.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn interval_does_not_burst_after_a_stall() {
    let p = Poller {
        step_takes: Some((2, ms(350))),
        ..poller()
    };
    let cancel = CancellationToken::new();
    let (_, ()) = tokio::join!(p.run(cancel.clone()), async {
        sleep(ms(800)).await;
        cancel.cancel();
    });
    // Step 2 (at 100 ms) stalls until 450 ms; the missed tick fires once,
    // then the period restarts from there.
    assert_eq!(
        p.log.steps(),
        [ms(0), ms(100), ms(450), ms(550), ms(650), ms(750)]
    );
}

#[tokio::test(start_paused = true)]
async fn cancellation_interrupts_a_step_and_runs_on_stop() {
    let p = Poller {
        step_takes: Some((1, Duration::from_secs(10))),
        ..poller()
    };
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let (result, ()) = tokio::join!(p.run(cancel.clone()), async {
        sleep(ms(300)).await;
        cancel.cancel();
    });
    assert!(result.is_ok());
    assert_eq!(
        started.elapsed(),
        ms(300),
        "the stalled step was dropped at cancellation"
    );
    assert_eq!(p.log.stops.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn first_error_ends_the_run_and_on_stop_still_runs() {
    let p = Poller {
        fail_from: Some(3),
        ..poller()
    };
    let error = p
        .run(CancellationToken::new())
        .await
        .expect_err("step 3 fails");
    assert_eq!(error.to_string(), "step 3 failed");
    assert_eq!(p.steps_taken(), 3);
    assert_eq!(p.log.stops.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn supervisor_applies_the_declared_backoff_and_breaker() {
    let sup = JanusSupervisor::new_with_metrics(
        SupervisorConfig::default()
            .without_signal_handler()
            .with_default_backoff(BackoffConfig::new(ms(1), ms(1)).without_circuit_breaker()),
        janus::metrics::JanusMetrics::new(),
    );
    let p = std::sync::Arc::new(Poller {
        fail_from: Some(1),
        ..poller()
    });
    // Every run's first step fails: runs at 0 s, 1 s, 2 s, then the breaker
    // (3 in 60 s) opens; the supervisor's 1 ms default backoff is not used.
    sup.spawn_service(Box::new(p.clone())).expect("spawn");
    sleep(Duration::from_millis(2500)).await;
    assert_eq!(p.log.starts.load(Ordering::SeqCst), 3);
    assert_eq!(p.steps_taken(), 3);
    let snap = sup.service_lifecycle("poller").await.expect("registered");
    assert_eq!(snap.start_count, 3);
    assert_eq!(
        snap.termination_reason.as_deref(),
        Some("circuit breaker open (3/3 failures)")
    );
    assert_eq!(p.log.stops.load(Ordering::SeqCst), 3);
}

// Two instances of one struct, named by a field.
#[janus::service(name = id, restart = "never")]
struct Worker {
    id: String,
}

#[janus::service]
impl Worker {
    #[run]
    async fn work(&self, cancel: CancellationToken) -> anyhow::Result<()> {
        cancel.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn instances_named_by_a_field_run_side_by_side() {
    let sup = JanusSupervisor::new(SupervisorConfig::default().without_signal_handler());
    for id in ["worker-a", "worker-b"] {
        sup.spawn_service(Box::new(Worker { id: id.into() }))
            .expect("distinct names");
    }
    tokio::task::yield_now().await;
    let names: Vec<String> = sup
        .snapshots()
        .into_iter()
        .map(|s| s.service_name)
        .collect();
    assert_eq!(names, ["worker-a", "worker-b"]);
    assert_eq!(
        Worker { id: "x".into() }.restart_policy(),
        RestartPolicy::Never
    );
    assert!(sup.wait_for_drain().await.is_clean());
}

// Generic services holding any `Send + Sync` state.
trait Source: Send + Sync + 'static {
    fn read(&self) -> u64;
}

struct Constant(u64);

impl Source for Constant {
    fn read(&self) -> u64 {
        self.0
    }
}

#[janus::service(name = "summer", circuit_breaker = "off")]
struct Summer<S: Source> {
    source: S,
    total: AtomicU64,
}

#[janus::service]
impl<S: Source> Summer<S> {
    #[step]
    async fn add(&self) -> anyhow::Result<()> {
        let total = self.total.fetch_add(self.source.read(), Ordering::SeqCst);
        anyhow::ensure!(total < 10, "overflow at {total}");
        tokio::task::yield_now().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn generic_back_to_back_step() {
    let s = Summer {
        source: Constant(3),
        total: AtomicU64::new(0),
    };
    assert_eq!(s.name(), "summer");
    let backoff = s.backoff_config().expect("configured");
    assert_eq!(backoff.circuit_breaker, None);
    assert_eq!(
        backoff.base_delay,
        ms(100),
        "unset parts keep BackoffConfig's defaults"
    );
    let error = s
        .run(CancellationToken::new())
        .await
        .expect_err("overflows");
    assert_eq!(error.to_string(), "overflow at 12");
    assert_eq!(s.total.load(Ordering::SeqCst), 15);
}

/// A function service with full control.
#[janus::service(restart = "always", shutdown_timeout = "2s")]
async fn heartbeat(cancel: CancellationToken) -> anyhow::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

static TICKS: AtomicU64 = AtomicU64::new(0);

/// A step-style function service.
#[janus::service(name = "ticker", every = "1s")]
async fn tick() -> anyhow::Result<()> {
    TICKS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn function_services() {
    let hb = heartbeat();
    assert_eq!(hb.name(), "heartbeat");
    assert_eq!(hb.restart_policy(), RestartPolicy::Always);
    assert_eq!(hb.shutdown_timeout(), Some(Duration::from_secs(2)));
    assert!(!hb.is_critical());

    let sup = JanusSupervisor::new(SupervisorConfig::default().without_signal_handler());
    sup.spawn_service(Box::new(hb)).expect("spawn");
    sup.spawn_service(Box::new(tick())).expect("spawn");
    sleep(ms(3500)).await;
    assert_eq!(TICKS.load(Ordering::SeqCst), 4, "ticks at 0, 1, 2 and 3 s");
    assert!(
        sup.snapshots()
            .iter()
            .all(|s| s.phase == ServicePhase::Running)
    );
    let report = sup.wait_for_drain().await;
    assert!(report.is_clean());
    assert!(
        sup.snapshots()
            .iter()
            .all(|s| s.termination_reason.as_deref() == Some("cancelled"))
    );
}

/// A `#[run]` service that flushes after cancellation.
#[janus::service]
struct Flusher {
    flushed: AtomicU64,
}

#[janus::service]
impl Flusher {
    #[run]
    async fn serve(&self, cancel: CancellationToken) -> anyhow::Result<()> {
        cancel.cancelled().await;
        sleep(ms(200)).await;
        self.flushed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_method_is_left_to_shut_down_gracefully() {
    let f = Flusher {
        flushed: AtomicU64::new(0),
    };
    let cancel = CancellationToken::new();
    let (result, ()) = tokio::join!(f.run(cancel.clone()), async {
        sleep(ms(10)).await;
        cancel.cancel();
    });
    result.expect("clean");
    assert_eq!(
        f.flushed.load(Ordering::SeqCst),
        1,
        "not dropped at cancellation"
    );
}

/// A step fails, then `on_stop` panics: the step's error stays the run's
/// failure, with the panic recorded beside it, not instead of it.
#[janus::service(restart = "never")]
struct Clumsy;

#[janus::service]
impl Clumsy {
    #[step]
    async fn work(&self) -> janus::Result<()> {
        anyhow::bail!("disk full")
    }

    #[on_stop]
    async fn close(&self) {
        panic!("close failed");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_on_stop_keeps_the_step_error() {
    let supervisor = JanusSupervisor::new(SupervisorConfig::default().without_signal_handler());
    supervisor.spawn_service(Box::new(Clumsy)).expect("spawned");
    sleep(ms(10)).await;
    let snap = supervisor
        .service_lifecycle("clumsy")
        .await
        .expect("listed");
    assert_eq!(snap.total_failures, 1);
    assert_eq!(
        snap.last_error.as_deref(),
        Some("disk full (then on_stop panicked: close failed)")
    );
    assert_eq!(
        snap.termination_reason.as_deref(),
        Some("unrecoverable: disk full (then on_stop panicked: close failed)")
    );
}

/// A run cancelled cleanly whose `on_stop` panics failed during shutdown.
#[janus::service]
struct Fragile;

#[janus::service]
impl Fragile {
    #[step(every = "1s")]
    async fn work(&self) -> janus::Result<()> {
        Ok(())
    }

    #[on_stop]
    async fn close(&self) {
        panic!("close failed");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_on_stop_fails_a_clean_run() {
    let supervisor = JanusSupervisor::new(SupervisorConfig::default().without_signal_handler());
    supervisor
        .spawn_service(Box::new(Fragile))
        .expect("spawned");
    sleep(ms(10)).await;
    supervisor.wait_for_drain().await;
    let snap = supervisor
        .service_lifecycle("fragile")
        .await
        .expect("listed");
    assert_eq!(
        snap.termination_reason.as_deref(),
        Some("failed during shutdown: on_stop panicked: close failed")
    );
}

/// The bounds the macros check a half-written backoff against at compile
/// time (`backoff(base = "2m")` meets the default max).
#[path = "../../janus-macros/src/defaults.rs"]
mod macro_defaults;

#[test]
fn the_macros_check_against_the_runtime_defaults() {
    let runtime = BackoffConfig::default();
    assert_eq!(macro_defaults::BACKOFF_BASE, runtime.base_delay);
    assert_eq!(macro_defaults::BACKOFF_MAX, runtime.max_delay);
}

#[janus::service(backoff(base = "2s"))]
struct HalfWrittenBackoff;

#[janus::service]
impl HalfWrittenBackoff {
    #[step]
    async fn step(&self) -> janus::Result<()> {
        Ok(())
    }
}

#[test]
fn what_a_backoff_does_not_write_is_the_runtime_default() {
    let written = HalfWrittenBackoff
        .backoff_config()
        .expect("a backoff is written");
    assert_eq!(
        written,
        BackoffConfig {
            base_delay: Duration::from_secs(2),
            ..BackoffConfig::default()
        }
    );
}

#[janus::service(circuit_breaker(max_failures = 5, window = "60s", reset_after = "5m"))]
struct HealingBreaker;

#[janus::service]
impl HealingBreaker {
    #[step]
    async fn step(&self) -> janus::Result<()> {
        Ok(())
    }
}

#[test]
fn a_breaker_with_reset_after_heals() {
    assert_eq!(
        HealingBreaker.backoff_config(),
        Some(
            BackoffConfig::default()
                .with_circuit_breaker(5, Duration::from_secs(60))
                .with_reset_after(Duration::from_secs(300))
        )
    );
}

/// A function service with constructor arguments: each run gets clones.
#[janus::service(restart = "never")]
async fn quote_poller(
    url: String,
    polls: std::sync::Arc<AtomicU64>,
    cancel: CancellationToken,
) -> janus::Result<()> {
    assert_eq!(url, "https://example.invalid/quotes");
    polls.fetch_add(1, Ordering::SeqCst);
    cancel.cancelled().await;
    Ok(())
}

/// Step-style, with an argument: each step gets a clone.
#[janus::service(every = "100ms")]
async fn counter(steps: std::sync::Arc<AtomicU64>) -> janus::Result<()> {
    steps.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn function_services_take_constructor_arguments() {
    let polls = std::sync::Arc::new(AtomicU64::new(0));
    let steps = std::sync::Arc::new(AtomicU64::new(0));
    let tree = janus::supervisor! {
        name: "desk",
        children: [
            quote_poller("https://example.invalid/quotes".to_owned(), polls.clone()),
            counter(steps.clone()),
        ],
    }
    .start_with_metrics(janus::metrics::JanusMetrics::new())
    .await
    .expect("starts");
    sleep(ms(250)).await;
    assert_eq!(polls.load(Ordering::SeqCst), 1);
    assert_eq!(steps.load(Ordering::SeqCst), 3, "at 0, 100 and 200 ms");
    tree.shutdown();
    tree.wait().await.expect("stops");
}
