//! `janus::supervisor!` builds the tree it declares.

use std::time::Duration;

use janus::lifecycle::ServicePhase;
use janus::metrics::JanusMetrics;
use janus::prelude::*;
use janus::testing::{Behavior, TestService};

#[janus::service(name = exchange)]
struct MarketDataFeed {
    exchange: String,
}

impl MarketDataFeed {
    fn new(exchange: &str) -> Self {
        Self {
            exchange: exchange.to_owned(),
        }
    }
}

#[janus::service]
impl MarketDataFeed {
    #[step(every = "100ms")]
    async fn poll(&self) -> janus::Result<()> {
        Ok(())
    }
}

#[janus::service(restart = "never")]
async fn heartbeat(cancel: CancellationToken) -> janus::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

#[janus::service]
#[derive(Default)]
struct RiskEngine;

#[janus::service]
impl RiskEngine {
    #[run]
    async fn run_risk(&self, cancel: CancellationToken) -> janus::Result<()> {
        cancel.cancelled().await;
        Ok(())
    }
}

fn desk() -> SupervisorSpec {
    janus::supervisor! {
        name: "trading-desk",
        strategy: rest_for_one,
        intensity: { restarts: 5, within: "60s" },
        shutdown: { timeout: "30s", order: reverse },
        backoff: { base: "50ms", max: "5s" },
        children: [
            MarketDataFeed::new("binance"),
            heartbeat() => { restart: always, shutdown_timeout: "2s", critical: true },
            janus::supervisor! {
                name: "risk",
                strategy: one_for_all,
                children: [RiskEngine, TestService::new("limits", Behavior::RunUntilCancelled)],
            },
        ],
    }
}

#[tokio::test(start_paused = true)]
async fn the_declared_tree_runs() {
    let tree = desk();
    assert_eq!(tree.name(), "trading-desk");
    let handle = tree
        .start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid tree");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let snapshots = handle.snapshots();
    let paths: Vec<&str> = snapshots.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "trading-desk/binance",
            "trading-desk/heartbeat",
            "trading-desk/risk",
            "trading-desk/risk/risk-engine",
            "trading-desk/risk/limits",
        ]
    );
    assert!(snapshots.iter().all(|s| s.phase == ServicePhase::Running));
    handle.shutdown();
    handle.wait().await.expect("clean");
}

#[tokio::test(start_paused = true)]
async fn per_child_settings_override_the_service() {
    // `heartbeat` says `never`; the tree says `always` and critical: it is
    // restarted after a clean exit rather than left terminated.
    let handle = janus::supervisor! {
        name: "overrides",
        backoff: { base: "1s", max: "1s" },
        children: [
            TestService::new("quitter", Behavior::Complete)
                .with_restart_policy(RestartPolicy::Never) => { restart: always, backoff: { base: "2s", max: "2s" } },
        ],
    }
    .start_with_metrics(JanusMetrics::new()).await
    .expect("valid");
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let quitter = handle.snapshot("overrides/quitter").expect("listed");
    assert_eq!(
        quitter.start_count, 3,
        "runs at 0, 2 and 4 s: the child's backoff, not the tree's"
    );
    handle.shutdown();
    handle.wait().await.expect("clean");
}

/// `expendable: true` lets the tree go on without a child its breaker gave
/// up on, degraded; without it, the tree gives up.
#[tokio::test(start_paused = true)]
async fn an_expendable_child_is_declared_in_the_macro() {
    let hopeless = || {
        TestService::new("hopeless", Behavior::Fail("no upstream".into()))
            .with_restart_policy(RestartPolicy::Always)
    };
    let handle = janus::supervisor! {
        name: "desk",
        intensity: { restarts: 100, within: "60s" },
        children: [
            TestService::new("feed", Behavior::RunUntilCancelled),
            hopeless() => { expendable: true, backoff: { base: "10ms", max: "10ms" } },
        ],
    }
    .start_with_metrics(JanusMetrics::new())
    .await
    .expect("valid");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        handle.health(),
        janus::tree::Health::Degraded {
            given_up: vec!["desk/hopeless".into()]
        }
    );
    handle.shutdown();
    handle.wait().await.expect("clean");

    let handle = janus::supervisor! {
        name: "desk",
        intensity: { restarts: 100, within: "60s" },
        children: [
            TestService::new("feed", Behavior::RunUntilCancelled),
            hopeless() => { backoff: { base: "10ms", max: "10ms" } },
        ],
    }
    .start_with_metrics(JanusMetrics::new())
    .await
    .expect("valid");
    let error = handle.wait().await.expect_err("gave up");
    assert!(
        matches!(error, janus::tree::SupervisorError::ChildGivenUp { .. }),
        "{error}"
    );
}

/// Sends one batch, then completes.
#[janus::service(name = name)]
struct Batch {
    name: String,
    orders: u32,
}

impl Batch {
    fn new(name: &str, orders: u32) -> Self {
        Self {
            name: name.to_owned(),
            orders,
        }
    }
}

#[janus::service]
impl Batch {
    #[run]
    async fn send(&self, cancel: CancellationToken) -> janus::Result<()> {
        let sending = tokio::time::sleep(Duration::from_millis(u64::from(self.orders)));
        tokio::select! {
            () = cancel.cancelled() => {}
            () = sending => {}
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_dynamic_supervisor_is_declared_with_its_template() {
    let desk = janus::supervisor! {
        name: "desk",
        readiness_grace: "5s",
        children: [
            MarketDataFeed::new("binance"),
            janus::supervisor! {
                name: "batches",
                dynamic: |orders: u32| Batch::new("batch", orders),
                max_children: 2,
                intensity: { restarts: 5, within: "10s" },
                shutdown: { timeout: "1s" },
            },
        ],
    }
    .start_with_metrics(JanusMetrics::new())
    .await
    .expect("starts");
    let batches = desk
        .dynamic::<u32>("desk/batches")
        .expect("dynamic, of u32");
    let first = batches.start_child(100).expect("started");
    batches.start_child(200).expect("started");
    assert!(batches.start_child(300).is_err(), "max_children: 2");
    assert_eq!(first.name(), "batch-1");
    let snapshot = desk
        .snapshot(&format!("desk/batches/{first}"))
        .expect("listed");
    assert_eq!(snapshot.shutdown_timeout_ms, Some(1_000));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(batches.count_children(), 0, "done and forgotten");
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_job_ends_when_its_significant_children_are_done() {
    let job = janus::supervisor! {
        name: "import",
        auto_shutdown: all_significant,
        children: [
            MarketDataFeed::new("progress") => { gates_readiness: true },
            Batch::new("load", 500) => { significant: true, restart: on_failure },
            Batch::new("index", 900) => { significant: true },
        ],
    }
    .start_with_metrics(JanusMetrics::new())
    .await
    .expect("starts");
    let started = tokio::time::Instant::now();
    job.wait().await.expect("ends normally");
    assert_eq!(started.elapsed(), Duration::from_millis(900));
    assert!(
        job.snapshots()
            .iter()
            .all(|s| s.phase == ServicePhase::Terminated)
    );
}

const BASE: Duration = Duration::from_millis(200);
const MAX_RESTARTS: u32 = 3;
const POOL: usize = 1;

/// Settings given as constants and expressions: written where the rest of
/// the service's settings are, checked when built.
#[janus::service(backoff(base = BASE, max = Duration::from_secs(2)), shutdown_timeout = BASE)]
struct Tuned;

#[janus::service]
impl Tuned {
    #[step(every = "1s")]
    async fn step(&self) -> janus::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn settings_may_be_constants_and_expressions() {
    use janus::supervisor::BackoffConfig;
    let tuned = Tuned;
    assert_eq!(
        tuned.backoff_config(),
        Some(BackoffConfig {
            base_delay: BASE,
            max_delay: Duration::from_secs(2),
            ..BackoffConfig::default()
        })
    );
    assert_eq!(tuned.shutdown_timeout(), Some(BASE));
    let timeout = Duration::from_secs(4);
    let tree = janus::supervisor! {
        name: "desk",
        intensity: { restarts: MAX_RESTARTS, within: Duration::from_secs(30) },
        shutdown: { timeout: BASE * 10 },
        children: [
            Tuned => { shutdown_timeout: timeout },
            janus::supervisor! {
                name: "pool",
                dynamic: |orders: u32| Batch::new("batch", orders),
                max_children: POOL,
            },
        ],
    }
    .start_with_metrics(JanusMetrics::new())
    .await
    .expect("starts");
    let tuned = tree.snapshot("desk/tuned").expect("listed");
    assert_eq!(tuned.shutdown_timeout_ms, Some(4_000));
    let pool = tree.dynamic::<u32>("desk/pool").expect("pool");
    pool.start_child(1_000).expect("one");
    assert!(pool.start_child(1_000).is_err(), "max_children: POOL = 1");
    tree.shutdown();
    tree.wait().await.expect("stops");
}

const ZERO: Duration = Duration::ZERO;

#[test]
fn an_invalid_expression_is_the_runtimes_typed_error() {
    let tree = janus::supervisor! {
        name: "desk",
        intensity: { restarts: 1, within: ZERO },
        children: [Tuned],
    };
    let error = tree.validate().expect_err("a zero window");
    assert!(
        error
            .to_string()
            .contains("intensity window must not be zero"),
        "{error}"
    );
}
