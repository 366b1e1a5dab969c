//! The runtime core on tokio's paused clock: restarts, backoff, breaker,
//! shutdown, and each place where Janus deliberately differs from the seed
//! supervisor (DESIGN.md §3, numbered as there).

use std::time::Duration;

use janus::metrics::JanusMetrics;
use janus::supervisor::{
    BackoffConfig, BackoffConfigError, JanusSupervisor, RestartPolicy, ServicePhase, SpawnError,
    SpawnOptions, SupervisorConfig,
};
use janus::testing::{Behavior, TestService};
use tests_integration::{ms, secs, until};
use tokio::time::{Instant, advance, sleep};

/// A supervisor without signal handler, publishing to metrics of its own.
fn supervisor(backoff: BackoffConfig) -> JanusSupervisor {
    JanusSupervisor::new_with_metrics(
        SupervisorConfig::default()
            .without_signal_handler()
            .with_shutdown_timeout(secs(5))
            .with_default_backoff(backoff),
        JanusMetrics::new(),
    )
}

/// Whether every service of `sup` is running.
fn all_running(sup: &JanusSupervisor) -> bool {
    sup.snapshots()
        .iter()
        .all(|s| s.phase == ServicePhase::Running)
}

// §3.1 — a service that ignores cancellation is aborted at its timeout, and
// the report names it. The seed returned from the drain with it still running.
#[tokio::test(start_paused = true)]
async fn shutdown_timeout_aborts_and_reports() {
    let sup = supervisor(BackoffConfig::default());
    let (stubborn, stubborn_probe) = TestService::ignoring_cancellation("stubborn");
    let (polite, polite_probe) = TestService::failing("polite", 0);
    sup.spawn_service(Box::new(stubborn)).expect("spawn");
    sup.spawn_service(Box::new(polite)).expect("spawn");
    until("both running", || all_running(&sup)).await;

    sup.trigger_shutdown();
    let started = Instant::now();
    let report = sup.wait_for_drain().await;

    assert_eq!(started.elapsed(), secs(5), "aborted exactly at the timeout");
    assert_eq!(report.aborted, ["stubborn"]);
    assert_eq!(report.stopped, 1);
    assert!(report.unresponsive.is_empty());
    assert!(!report.is_clean());
    assert_eq!(stubborn_probe.dropped(), 1, "the stubborn run was dropped");
    assert_eq!(stubborn_probe.running(), 0);
    assert_eq!(polite_probe.cancellations_seen(), 1);

    let snap = sup.service_lifecycle("stubborn").await.expect("registered");
    assert_eq!(snap.phase, ServicePhase::Terminated);
    assert_eq!(
        snap.termination_reason.as_deref(),
        Some("aborted after shutdown timeout")
    );
    let polite = sup.service_lifecycle("polite").await.expect("registered");
    assert_eq!(polite.termination_reason.as_deref(), Some("cancelled"));

    let m = sup.metrics().snapshot();
    assert_eq!(
        (m.spawned_total, m.terminated_total, m.active_services),
        (2, 2, 0)
    );
}

// §3.1 — each service gets its own shutdown timeout.
#[tokio::test(start_paused = true)]
async fn per_service_shutdown_timeouts() {
    let sup = supervisor(BackoffConfig::default());
    let quick =
        TestService::new("quick", Behavior::IgnoreCancellation).with_shutdown_timeout(secs(1));
    let slow = TestService::new("slow", Behavior::SlowStop(secs(2))).with_shutdown_timeout(secs(3));
    let (quick_probe, slow_probe) = (quick.probe(), slow.probe());
    sup.spawn_service(Box::new(quick)).expect("spawn");
    sup.spawn_service(Box::new(slow)).expect("spawn");
    until("both running", || all_running(&sup)).await;

    let started = Instant::now();
    let drain = tokio::spawn(async move {
        let report = sup.wait_for_drain().await;
        (sup, report)
    });
    sleep(ms(1001)).await;
    assert_eq!(quick_probe.dropped(), 1, "quick aborted at 1 s");
    assert_eq!(slow_probe.running(), 1, "slow still stopping");
    let (sup, report) = drain.await.expect("drain task");
    assert_eq!(started.elapsed(), secs(2), "slow stopped by itself at 2 s");
    assert_eq!(report.aborted, ["quick"]);
    assert_eq!(slow_probe.finished(), 1);
    let slow = sup.service_lifecycle("slow").await.expect("registered");
    assert_eq!(slow.termination_reason.as_deref(), Some("cancelled"));
}

// §3.2 — a panic is a failure: caught, recorded, restarted by backoff.
#[tokio::test(start_paused = true)]
async fn panics_are_caught_and_restarted() {
    let sup = supervisor(BackoffConfig::new(ms(100), secs(1)).without_circuit_breaker());
    let (svc, probe) = TestService::panicking("panicky", 2);
    sup.spawn_service(Box::new(svc)).expect("spawn");
    sleep(secs(1)).await;

    assert_eq!(probe.starts(), 3);
    let snap = sup.service_lifecycle("panicky").await.expect("registered");
    assert_eq!(snap.phase, ServicePhase::Running);
    assert_eq!(snap.total_failures, 2);
    assert_eq!(
        snap.last_error.as_deref(),
        Some("panicked: simulated panic")
    );
    let m = sup.metrics().snapshot();
    assert_eq!((m.restarts_total, m.active_services), (2, 1));

    let report = sup.wait_for_drain().await;
    assert!(report.is_clean());
    let m = sup.metrics().snapshot();
    assert_eq!(
        (m.spawned_total, m.terminated_total, m.active_services),
        (1, 1, 0)
    );
}

// §3.2 — a panic under `Never` terminates with the panic message.
#[tokio::test(start_paused = true)]
async fn panic_under_never_is_unrecoverable() {
    let sup = supervisor(BackoffConfig::default());
    let svc = TestService::new("once", Behavior::Panic("bad state".into()))
        .with_restart_policy(RestartPolicy::Never);
    sup.spawn_service(Box::new(svc)).expect("spawn");
    until("terminated", || {
        sup.snapshots()[0].phase == ServicePhase::Terminated
    })
    .await;
    let snap = sup.service_lifecycle("once").await.expect("registered");
    assert_eq!(snap.phase, ServicePhase::Terminated);
    assert_eq!(
        snap.termination_reason.as_deref(),
        Some("unrecoverable: panicked: bad state")
    );
}

// §3.3 — `Always` after a clean exit waits out the backoff (growing, within
// bounds) and trips the breaker; a clean exit is not a failure.
#[tokio::test(start_paused = true)]
async fn always_on_clean_exit_obeys_backoff_and_breaker() {
    let backoff = BackoffConfig::new(secs(1), secs(8)).with_circuit_breaker(5, secs(600));
    let sup = supervisor(backoff.clone());
    let svc =
        TestService::new("cron", Behavior::Complete).with_restart_policy(RestartPolicy::Always);
    let probe = svc.probe();
    sup.spawn_service(Box::new(svc)).expect("spawn");
    sleep(secs(60)).await;

    let gaps = probe.restart_gaps();
    assert_eq!(
        gaps.len(),
        4,
        "5 runs: the fifth restart request opens the breaker"
    );
    for (n, gap) in gaps.iter().enumerate() {
        // The n-th restart waits within [ceiling / 2, ceiling] (never below
        // the base), for a ceiling of base * 2^n capped at max.
        let high = (secs(1) * 2u32.pow(u32::try_from(n).expect("small"))).min(secs(8));
        let low = (high / 2).max(secs(1));
        assert!(
            *gap >= low && *gap <= high,
            "gap {n} = {gap:?} outside [{low:?}, {high:?}]"
        );
    }
    assert_eq!(gaps[0], secs(1), "the first restart waits exactly base");
    let snap = sup.service_lifecycle("cron").await.expect("registered");
    assert_eq!(snap.total_failures, 0, "clean exits are not failures");
    assert_eq!(snap.last_error, None);
    assert_eq!(
        snap.termination_reason.as_deref(),
        Some("circuit breaker open (5/5 failures)")
    );
}

// §3.4 — an inconsistent backoff is a typed error at spawn, not a panic.
#[tokio::test(start_paused = true)]
async fn invalid_backoff_is_a_typed_spawn_error() {
    let sup = supervisor(BackoffConfig::default());
    let (svc, probe) = TestService::failing("inverted", 0);
    let err = sup
        .spawn_service_with_options(
            Box::new(svc),
            SpawnOptions::with_backoff(BackoffConfig::new(secs(5), secs(1))),
        )
        .expect_err("base > max");
    assert_eq!(
        err,
        SpawnError::InvalidBackoff {
            service: "inverted".into(),
            source: BackoffConfigError::BaseExceedsMax {
                base: secs(5),
                max: secs(1)
            },
        }
    );
    assert!(err.to_string().contains("exceeds max delay"), "{err}");
    let bad_default = supervisor(BackoffConfig::default().with_circuit_breaker(0, secs(1)));
    let (svc, _) = TestService::failing("zero-breaker", 0);
    assert!(matches!(
        bad_default.spawn_service(Box::new(svc)),
        Err(SpawnError::InvalidBackoff {
            source: BackoffConfigError::ZeroMaxFailures,
            ..
        })
    ));
    // Whatever could run, runs before the paused clock moves.
    tokio::time::sleep(ms(1)).await;
    assert_eq!(probe.starts(), 0);
    assert_eq!(sup.service_count().await, 0);
}

// §3.4 — the service's own backoff applies; spawn options override it.
#[tokio::test(start_paused = true)]
async fn backoff_precedence_options_then_service_then_default() {
    let sup = supervisor(BackoffConfig::new(secs(10), secs(10)).without_circuit_breaker());
    let own = TestService::new("own", Behavior::Fail("x".into()))
        .with_backoff(BackoffConfig::new(secs(2), secs(2)).without_circuit_breaker());
    let overridden = TestService::new("overridden", Behavior::Fail("x".into()))
        .with_backoff(BackoffConfig::new(secs(2), secs(2)).without_circuit_breaker());
    let default = TestService::new("default", Behavior::Fail("x".into()));
    let probes = [own.probe(), overridden.probe(), default.probe()];
    sup.spawn_service(Box::new(own)).expect("spawn");
    sup.spawn_service_with_options(
        Box::new(overridden),
        SpawnOptions::with_backoff(BackoffConfig::new(secs(3), secs(3)).without_circuit_breaker()),
    )
    .expect("spawn");
    sup.spawn_service(Box::new(default)).expect("spawn");
    sleep(secs(31)).await;
    let starts: Vec<u64> = probes.iter().map(|p| p.starts()).collect();
    // Runs at t = 0, then every 2 s / 3 s / 10 s up to t = 30 s.
    assert_eq!(starts, [16, 11, 4]);
}

// §3.5 — an error returned while shutting down is recorded.
#[tokio::test(start_paused = true)]
async fn error_during_shutdown_is_recorded() {
    let sup = supervisor(BackoffConfig::default());
    let svc = TestService::new("flusher", Behavior::FailOnCancel("flush failed".into()));
    sup.spawn_service(Box::new(svc)).expect("spawn");
    until("running", || all_running(&sup)).await;
    sup.trigger_shutdown();
    sup.wait_for_drain().await;
    let snap = sup.service_lifecycle("flusher").await.expect("registered");
    assert_eq!(
        snap.termination_reason.as_deref(),
        Some("failed during shutdown: flush failed")
    );
    assert_eq!(snap.last_error.as_deref(), Some("flush failed"));
    assert_eq!(snap.total_failures, 1);
}

// §3.6 — `Stopping` shows as soon as shutdown is triggered, and a service is
// registered as soon as `spawn_service` returns.
#[tokio::test(start_paused = true)]
async fn stopping_and_registration_are_immediate() {
    let sup = supervisor(BackoffConfig::default());
    let svc = TestService::new("slow", Behavior::SlowStop(secs(1)));
    sup.spawn_service(Box::new(svc)).expect("spawn");
    assert_eq!(sup.service_count().await, 1);
    let snap = sup
        .service_lifecycle("slow")
        .await
        .expect("registered at once");
    assert_eq!(snap.phase, ServicePhase::Starting);
    until("running", || all_running(&sup)).await;

    sup.trigger_shutdown();
    assert_eq!(sup.snapshots()[0].phase, ServicePhase::Stopping);
    advance(ms(500)).await;
    assert_eq!(sup.snapshots()[0].phase, ServicePhase::Stopping);
    sup.wait_for_drain().await;
    assert_eq!(sup.snapshots()[0].phase, ServicePhase::Terminated);
}

// §3.7 — a second live service with the same name is rejected; the name is
// free again once the first has terminated.
#[tokio::test(start_paused = true)]
async fn duplicate_names_are_rejected() {
    let sup = supervisor(BackoffConfig::default());
    let (first, first_probe) = TestService::exiting_after("worker", secs(1));
    let (second, second_probe) = TestService::failing("worker", 0);
    sup.spawn_service(Box::new(first)).expect("spawn");
    let err = sup.spawn_service(Box::new(second)).expect_err("duplicate");
    assert_eq!(
        err,
        SpawnError::DuplicateName {
            name: "worker".into()
        }
    );
    assert_eq!(sup.service_count().await, 1);
    sleep(secs(2)).await;
    assert_eq!(first_probe.finished(), 1);
    assert_eq!(second_probe.starts(), 0);

    let (third, third_probe) = TestService::failing("worker", 0);
    sup.spawn_service(Box::new(third))
        .expect("name free after termination");
    until("started", || third_probe.starts() == 1).await;
    assert_eq!(sup.service_count().await, 1);
    let m = sup.metrics().snapshot();
    assert_eq!((m.spawned_total, m.active_services), (2, 1));
}

// §3.9 — supervisors sharing one registry add their gauges up instead of
// overwriting each other; several registries coexist without panics.
#[tokio::test(start_paused = true)]
async fn metrics_from_two_supervisors_add_up() {
    let shared = JanusMetrics::new();
    let config = || SupervisorConfig::default().without_signal_handler();
    let a = JanusSupervisor::new_with_metrics(config(), shared.clone());
    let b = JanusSupervisor::new_with_metrics(config(), shared.clone());
    let also_global = JanusSupervisor::new(config());
    for (sup, name) in [(&a, "a1"), (&a, "a2"), (&b, "b1"), (&also_global, "g1")] {
        sup.spawn_service(Box::new(TestService::failing(name, 0).0))
            .expect("spawn");
    }
    until("all running", || all_running(&a) && all_running(&b)).await;
    assert_eq!(shared.active_services(), 3);
    assert_eq!(shared.spawned_total(), 3);
    b.wait_for_drain().await;
    assert_eq!(shared.active_services(), 2);
    assert_eq!(a.metrics().snapshot().active_services, 2);
    a.wait_for_drain().await;
    also_global.wait_for_drain().await;
    assert_eq!(shared.active_services(), 0);
    assert_eq!(shared.terminated_total(), 3);
}

// §3.9 — uptime buckets reach hours and days, not just seconds.
#[tokio::test(start_paused = true)]
async fn uptime_histogram_fits_long_uptimes() {
    let metrics = JanusMetrics::new();
    let sup = JanusSupervisor::new_with_metrics(
        SupervisorConfig::default().without_signal_handler(),
        metrics.clone(),
    );
    sup.spawn_service(Box::new(TestService::failing("long-lived", 0).0))
        .expect("spawn");
    until("running", || all_running(&sup)).await;
    advance(Duration::from_secs(2 * 3600)).await;
    sup.wait_for_drain().await;
    let text = metrics.encode();
    for line in [
        r#"janus_supervisor_uptime_seconds_bucket{le="3600"} 0"#,
        r#"janus_supervisor_uptime_seconds_bucket{le="14400"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

// Restart counts and circuit breaker, exactly.
#[tokio::test(start_paused = true)]
async fn breaker_trips_at_exactly_max_failures() {
    let sup = supervisor(BackoffConfig::new(ms(10), ms(40)).with_circuit_breaker(4, secs(60)));
    let svc = TestService::new("doomed", Behavior::Fail("nope".into()));
    let probe = svc.probe();
    sup.spawn_service(Box::new(svc)).expect("spawn");
    sleep(secs(5)).await;
    assert_eq!(probe.starts(), 4);
    let snap = sup.service_lifecycle("doomed").await.expect("registered");
    assert_eq!(snap.total_failures, 4);
    assert_eq!(snap.restart_count, 3);
    assert_eq!(snap.last_error.as_deref(), Some("nope"));
    assert_eq!(
        snap.termination_reason.as_deref(),
        Some("circuit breaker open (4/4 failures)")
    );
    let m = sup.metrics().snapshot();
    assert_eq!(
        (
            m.restarts_total,
            m.circuit_breaker_trips,
            m.terminated_total,
            m.active_services
        ),
        (3, 1, 1, 0)
    );
    let text = sup.prometheus().encode();
    assert!(
        text.contains(r#"janus_supervisor_restarts_total{service="doomed"} 3"#),
        "{text}"
    );
    assert!(text.contains(r#"janus_supervisor_circuit_breaker_trips_total{service="doomed"} 1"#));
}

// Backoff in lifecycle snapshots, and cancellation during a backoff.
#[tokio::test(start_paused = true)]
async fn shutdown_during_backoff_is_immediate() {
    let sup = supervisor(BackoffConfig::new(secs(30), secs(30)));
    let (svc, probe) = TestService::failing("waiting", 1);
    sup.spawn_service(Box::new(svc)).expect("spawn");
    until("backing off", || {
        sup.snapshots()[0].phase == ServicePhase::BackingOff
    })
    .await;
    let snap = sup.service_lifecycle("waiting").await.expect("registered");
    assert_eq!(snap.phase, ServicePhase::BackingOff);
    assert_eq!(snap.backoff_delay_ms, Some(30_000));
    let started = Instant::now();
    let report = sup.wait_for_drain().await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(report.is_clean());
    assert_eq!(probe.starts(), 1);
    let snap = sup.service_lifecycle("waiting").await.expect("registered");
    assert_eq!(snap.termination_reason.as_deref(), Some("cancelled"));
}

// No spawning once shutdown has begun.
#[tokio::test(start_paused = true)]
async fn spawn_after_shutdown_is_rejected() {
    let sup = supervisor(BackoffConfig::default());
    sup.trigger_shutdown();
    let (svc, probe) = TestService::failing("late", 0);
    assert_eq!(
        sup.spawn_service(Box::new(svc)),
        Err(SpawnError::ShuttingDown {
            service: "late".into()
        })
    );
    // Whatever could run, runs before the paused clock moves.
    tokio::time::sleep(ms(1)).await;
    assert_eq!(probe.starts(), 0);
}

// Completed one-shot services and `Never` failures.
#[tokio::test(start_paused = true)]
async fn policies_decide_the_ending() {
    let sup = supervisor(BackoffConfig::new(ms(10), ms(10)));
    let cases = [
        (
            "done",
            Behavior::Complete,
            RestartPolicy::OnFailure,
            "completed",
        ),
        (
            "never-done",
            Behavior::Complete,
            RestartPolicy::Never,
            "completed",
        ),
        (
            "never-failed",
            Behavior::Fail("bad".into()),
            RestartPolicy::Never,
            "unrecoverable: bad",
        ),
    ];
    for (name, behavior, policy, _) in &cases {
        let svc = TestService::new(*name, behavior.clone()).with_restart_policy(*policy);
        sup.spawn_service(Box::new(svc)).expect("spawn");
    }
    sleep(secs(1)).await;
    for (name, _, _, reason) in &cases {
        let snap = sup.service_lifecycle(name).await.expect("registered");
        assert_eq!(snap.termination_reason.as_deref(), Some(*reason), "{name}");
        assert_eq!(snap.start_count, 1, "{name}");
    }
    assert_eq!(sup.metrics().snapshot().restarts_total, 0);
}

// Dropping the supervisor cancels its services.
#[tokio::test(start_paused = true)]
async fn dropping_the_supervisor_cancels_services() {
    let sup = supervisor(BackoffConfig::default());
    let (svc, probe) = TestService::failing("orphan", 0);
    sup.spawn_service(Box::new(svc)).expect("spawn");
    until("started", || probe.starts() == 1).await;
    drop(sup);
    until("cancelled", || probe.finished() == 1).await;
    assert_eq!(probe.cancellations_seen(), 1);
}

// The multi-thread runtime: many services, restarts, shutdown, consistent counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_runtime_churn_and_drain() {
    let sup = supervisor(BackoffConfig::immediate());
    let mut probes = Vec::new();
    for i in 0..200 {
        let svc = TestService::new(format!("svc-{i}"), Behavior::RunUntilCancelled)
            .with_script(vec![Behavior::Fail("flap".into()); 50]);
        probes.push(svc.probe());
        sup.spawn_service(Box::new(svc)).expect("spawn");
    }
    // Every service flaps 50 times, then settles into running.
    while probes.iter().any(|p| p.starts() < 51) {
        tokio::task::yield_now().await;
    }
    let report = sup.wait_for_drain().await;
    assert!(report.is_clean(), "{report}");
    let m = sup.metrics().snapshot();
    assert_eq!(m.restarts_total, 200 * 50);
    assert_eq!(
        (m.spawned_total, m.terminated_total, m.active_services),
        (200, 200, 0)
    );
    assert!(probes.iter().all(|p| p.running() == 0 && p.starts() == 51));
    assert!(
        sup.snapshots()
            .iter()
            .all(|s| s.phase == ServicePhase::Terminated)
    );
}

// `BackoffConfig::new(0, 0)` restarts without any timer: it works on a
// runtime whose time driver is disabled.
#[test]
fn zero_backoff_restarts_without_a_timer() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime without timers");
    rt.block_on(async {
        let sup = JanusSupervisor::new_with_metrics(
            SupervisorConfig::default().without_signal_handler(),
            JanusMetrics::new(),
        );
        let svc = TestService::new("instant", Behavior::RunUntilCancelled)
            .with_script(vec![Behavior::Fail("again".into()); 1000])
            .with_backoff(
                BackoffConfig::new(Duration::ZERO, Duration::ZERO).without_circuit_breaker(),
            );
        let probe = svc.probe();
        sup.spawn_service(Box::new(svc)).expect("spawn");
        while probe.starts() < 1001 {
            tokio::task::yield_now().await;
        }
        assert_eq!(sup.metrics().snapshot().restarts_total, 1000);
        assert_eq!(sup.snapshots()[0].phase, ServicePhase::Running);
    });
}

// An empty supervisor drains at once, and a second drain is harmless.
#[tokio::test(start_paused = true)]
async fn draining_an_empty_supervisor_returns_at_once() {
    let sup = supervisor(BackoffConfig::default());
    let started = Instant::now();
    let report = sup.wait_for_drain().await;
    assert_eq!(report.stopped, 0);
    assert!(report.is_clean());
    assert_eq!(started.elapsed(), Duration::ZERO);
    let again = sup.wait_for_drain().await;
    assert!(again.is_clean());
}

/// Misses its heartbeats; its first run holds something that panics when
/// the run is dropped.
struct PanicsOnDrop {
    runs: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("bomb went off");
    }
}

#[janus::async_trait]
impl janus::prelude::JanusService for PanicsOnDrop {
    fn name(&self) -> &str {
        "bomb"
    }
    fn heartbeat_timeout(&self) -> Option<Duration> {
        Some(secs(1))
    }
    async fn run(&self, cancel: janus::prelude::CancellationToken) -> janus::Result<()> {
        let first = self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        // (Not `then_some`: it would make, and drop, a bomb every run.)
        let _bomb = if first { Some(Bomb) } else { None };
        cancel.cancelled().await;
        Ok(())
    }
}

// A run dropped by the supervisor (here for a missed heartbeat) whose state
// panics as it is dropped still reports how it ended, and is restarted
// under its policy: the panic is not lost in the task, leaving the service
// `Running` forever.
#[tokio::test(start_paused = true)]
async fn a_panic_while_dropping_a_run_still_ends_it() {
    let sup = supervisor(BackoffConfig::immediate());
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    sup.spawn_service(Box::new(PanicsOnDrop { runs: runs.clone() }))
        .expect("spawn");
    until("running", || all_running(&sup)).await;
    advance(ms(1500)).await;
    until("restarted", || {
        runs.load(std::sync::atomic::Ordering::SeqCst) == 2
    })
    .await;
    let snap = sup.service_lifecycle("bomb").await.expect("listed");
    assert_eq!(snap.phase, ServicePhase::Running, "{snap:?}");
    assert_eq!(snap.total_failures, 1, "{snap:?}");
    assert!(
        snap.last_error
            .as_deref()
            .is_some_and(|e| e.contains("heartbeat")),
        "{snap:?}"
    );
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(sup.wait_for_drain().await.is_clean());
}

/// Fails at once, every run, and is critical: its supervisor cannot go on
/// without it.
struct CriticalFailure;

#[janus::async_trait]
impl janus::prelude::JanusService for CriticalFailure {
    fn name(&self) -> &str {
        "critical"
    }
    fn restart_policy(&self) -> RestartPolicy {
        RestartPolicy::Never
    }
    fn is_critical(&self) -> bool {
        true
    }
    async fn run(&self, _cancel: janus::prelude::CancellationToken) -> janus::Result<()> {
        Err(janus::anyhow::anyhow!("lost the exchange"))
    }
}

// A critical service that terminates for good takes the supervisor down,
// and both front doors say so: `JanusSupervisor::is_shutting_down` agrees
// with its handle, new services are refused, the cancel token is cancelled,
// and `run_until_shutdown` fails naming the service. They once disagreed:
// the handle said shutting down while the supervisor said running.
#[tokio::test(start_paused = true)]
async fn a_critical_failure_shuts_down_both_front_doors() {
    let sup = supervisor(BackoffConfig::default());
    let handle = sup.handle();
    let (bystander, bystander_probe) = TestService::failing("bystander", 0);
    sup.spawn_service(Box::new(bystander)).expect("spawn");
    assert!(!sup.is_shutting_down());
    assert!(!handle.is_shutting_down());

    sup.spawn_service(Box::new(CriticalFailure)).expect("spawn");
    until("the supervisor went down", || handle.is_shutting_down()).await;

    assert!(sup.is_shutting_down(), "agrees with the handle");
    assert!(sup.cancel_token().is_cancelled());
    assert!(matches!(
        sup.spawn_service(Box::new(TestService::failing("late", 0).0)),
        Err(SpawnError::ShuttingDown { .. })
    ));
    let error = sup.run_until_shutdown().await.expect_err("the root failed");
    assert!(format!("{error:#}").contains("critical"), "{error:#}");
    assert!(sup.is_shutting_down(), "and stays so once stopped");
    assert_eq!(bystander_probe.cancellations_seen(), 1);
    let snap = sup.service_lifecycle("critical").await.expect("listed");
    assert_eq!(snap.phase, ServicePhase::Terminated);
    assert_eq!(sup.service_count().await, 2);
    assert_eq!(sup.metrics().snapshot().active_services, 0);
}
