//! Ordered start, on tokio's paused clock, written from OTP's `supervisor`
//! documentation: "the child processes are started in order, as defined
//! in the child specification list"; "if any child fails to start, the
//! supervisor terminates all child processes already started and returns
//! `{error, {shutdown, {failed_to_start_child, …}}}`"; a group restart
//! (`one_for_all`, `rest_for_one`) starts its children again in that order.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use janus::lifecycle::ServicePhase::{Running, Stopping, Terminated};
use janus::metrics::JanusMetrics;
use janus::prelude::*;
use janus::testing::{Behavior, TestService};
use janus::tree::{ChildOptions, StartOrder, Strategy, SupervisorError, SupervisorHandle};
use tests_integration::{ms, secs};
use tokio::time::{Instant, sleep};

/// Who did what, when.
type Entry = (String, &'static str, Instant);

/// When each service's runs began, and when each became ready, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Entry>>>);

impl Log {
    fn push(&self, name: &str, what: &'static str) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push((
            name.to_owned(),
            what,
            Instant::now(),
        ));
    }

    /// `name what` entries, in order.
    fn entries(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, what, _)| format!("{name} {what}"))
            .collect()
    }

    /// When `name` did `what` for the `n`-th time (from 0).
    fn at(&self, name: &str, what: &str, n: usize) -> Instant {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(who, did, _)| who == name && *did == what)
            .nth(n)
            .map(|(_, _, at)| *at)
            .unwrap_or_else(|| panic!("{name} did not {what} {n} times"))
    }
}

/// What one run of a [`Warmup`] does after it starts.
#[derive(Clone, Copy, Debug)]
enum Then {
    /// Warms up, marks itself ready, runs until cancelled.
    Ready(Duration),
    /// Fails after this long, before it is ready.
    Fail(Duration),
    /// Warms up, marks itself ready, and fails after this long.
    ReadyThenFail(Duration, Duration),
    /// Never says it is ready.
    Hang,
}

/// A service that reports its readiness, run after run as scripted (the
/// last step repeats).
struct Warmup {
    name: String,
    script: Vec<Then>,
    runs: Mutex<usize>,
    log: Log,
}

fn warmup(name: &str, log: &Log, script: &[Then]) -> Warmup {
    Warmup {
        name: name.to_owned(),
        script: script.to_vec(),
        runs: Mutex::new(0),
        log: log.clone(),
    }
}

#[janus::async_trait]
impl JanusService for Warmup {
    fn name(&self) -> &str {
        &self.name
    }
    fn reports_readiness(&self) -> bool {
        true
    }
    async fn run(&self, cancel: CancellationToken) -> janus::Result<()> {
        let then = {
            let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
            *runs += 1;
            self.script[(*runs - 1).min(self.script.len() - 1)]
        };
        self.log.push(&self.name, "runs");
        match then {
            Then::Ready(warmup) => {
                sleep(warmup).await;
                self.log.push(&self.name, "ready");
                janus::context::mark_ready();
                cancel.cancelled().await;
                Ok(())
            }
            Then::Fail(after) => {
                sleep(after).await;
                Err(janus::anyhow::anyhow!("cannot connect"))
            }
            Then::ReadyThenFail(warmup, after) => {
                sleep(warmup).await;
                self.log.push(&self.name, "ready");
                janus::context::mark_ready();
                sleep(after).await;
                self.log.push(&self.name, "fails");
                Err(janus::anyhow::anyhow!("lost the exchange"))
            }
            Then::Hang => {
                cancel.cancelled().await;
                self.log.push(&self.name, "stops");
                Ok(())
            }
        }
    }
}

/// A service ready as soon as it runs, whose runs are logged.
fn plain(name: &str, log: &Log) -> Warmup {
    warmup(name, log, &[Then::Ready(Duration::ZERO)])
}

async fn start(spec: SupervisorSpec) -> Result<SupervisorHandle, SupervisorError> {
    spec.start_with_metrics(JanusMetrics::new()).await
}

fn phase(tree: &SupervisorHandle, path: &str) -> janus::lifecycle::ServicePhase {
    tree.snapshot(path).expect("listed").phase
}

// "The child processes are started in order": each one once the one before
// it is ready, and `start` returns once the last is.
#[tokio::test(start_paused = true)]
async fn children_start_in_order_each_once_the_one_before_is_ready() {
    let log = Log::default();
    let begin = Instant::now();
    let tree = start(
        SupervisorSpec::new("desk")
            .child(warmup("market-data", &log, &[Then::Ready(ms(300))]))
            .child(plain("pricer", &log))
            .child(warmup("gateway", &log, &[Then::Ready(ms(200))])),
    )
    .await
    .expect("started");
    assert_eq!(begin.elapsed(), ms(500), "returns once the last is ready");
    assert_eq!(
        log.entries(),
        [
            "market-data runs",
            "market-data ready",
            "pricer runs",
            "pricer ready",
            "gateway runs",
            "gateway ready"
        ]
    );
    assert_eq!(log.at("pricer", "runs", 0) - begin, ms(300));
    assert!(tree.snapshots().iter().all(|s| s.ready));
    tree.shutdown();
    tree.wait().await.expect("clean stop");
}

// The concurrent order starts every child at once, and `start` returns
// without waiting for any to be ready.
#[tokio::test(start_paused = true)]
async fn a_concurrent_start_waits_for_no_one() {
    let log = Log::default();
    let begin = Instant::now();
    let tree = start(
        SupervisorSpec::new("desk")
            .with_start_order(StartOrder::Concurrent)
            .child(warmup("market-data", &log, &[Then::Ready(ms(300))]))
            .child(plain("pricer", &log)),
    )
    .await
    .expect("started");
    assert_eq!(begin.elapsed(), Duration::ZERO);
    sleep(ms(1)).await;
    assert_eq!(log.at("pricer", "runs", 0), begin, "did not wait");
    tree.shutdown();
    tree.wait().await.expect("clean stop");
}

// "If any child fails to start, the supervisor terminates all child
// processes already started": last first, and the later ones never run.
#[tokio::test(start_paused = true)]
async fn a_child_that_fails_to_start_stops_those_before_it_last_first() {
    let log = Log::default();
    let gateway = TestService::new("gateway", Behavior::RunUntilCancelled);
    let gateway_probe = gateway.probe();
    let spec = SupervisorSpec::new("desk")
        .child(plain("market-data", &log))
        .child(plain("pricer", &log))
        .child(warmup("risk", &log, &[Then::Fail(ms(50))]))
        .child(gateway);
    let tree = spec.spawn_with_metrics(JanusMetrics::new()).expect("valid");
    let mut events = tree.subscribe();
    let error = tree.started().await.expect_err("risk cannot start");
    assert_eq!(
        error,
        SupervisorError::FailedToStart {
            supervisor: "desk".into(),
            child: "desk/risk".into(),
            reason: "cannot connect".into(),
        }
    );
    assert_eq!(tree.wait().await.expect_err("failed"), error);
    assert_eq!(gateway_probe.starts(), 0, "never started");
    assert_eq!(phase(&tree, "desk/gateway"), Terminated);
    let risk = tree.snapshot("desk/risk").expect("listed");
    assert_eq!(
        risk.start_count, 1,
        "not restarted: a failed start is final"
    );
    let stops: Vec<String> = std::iter::from_fn(|| events.try_recv())
        .map(|e| e.expect("kept up"))
        .filter(|e| e.from == Running && e.to == Stopping)
        .map(|e| e.path)
        .collect();
    assert_eq!(stops, ["desk/pricer", "desk/market-data"], "last first");
}

// A child not ready within its start timeout has failed to start; its own
// timeout overrides the supervisor's.
#[tokio::test(start_paused = true)]
async fn a_child_not_ready_in_time_fails_the_start() {
    let log = Log::default();
    let begin = Instant::now();
    let error = start(
        SupervisorSpec::new("desk")
            .with_start_timeout(secs(60))
            .child(plain("market-data", &log))
            .child_with(
                warmup("gateway", &log, &[Then::Hang]),
                ChildOptions::new().with_start_timeout(secs(2)),
            ),
    )
    .await
    .expect_err("the gateway never says it is ready");
    assert_eq!(
        error,
        SupervisorError::FailedToStart {
            supervisor: "desk".into(),
            child: "desk/gateway".into(),
            reason: "not ready within its start timeout (2s)".into(),
        }
    );
    assert_eq!(begin.elapsed(), secs(2), "its own timeout, not the default");
    assert!(error.to_string().contains("failed to start"), "{error}");
}

// A nested supervisor is ready once its own children are: the sibling
// declared after it waits for the whole subtree. A subtree that cannot
// start fails its parent's start, naming the subtree; the error says why.
#[tokio::test(start_paused = true)]
async fn a_subtree_is_started_before_the_next_sibling() {
    let log = Log::default();
    let begin = Instant::now();
    let tree = start(
        SupervisorSpec::new("desk")
            .child(
                SupervisorSpec::new("feeds")
                    .child(warmup("nyse", &log, &[Then::Ready(ms(100))]))
                    .child(warmup("lse", &log, &[Then::Ready(ms(100))])),
            )
            .child(plain("pricer", &log)),
    )
    .await
    .expect("started");
    assert_eq!(log.at("pricer", "runs", 0) - begin, ms(200));
    assert!(tree.snapshot("desk/feeds").expect("listed").ready);
    tree.shutdown();
    tree.wait().await.expect("clean stop");

    let error = start(
        SupervisorSpec::new("desk")
            .child(SupervisorSpec::new("feeds").child(warmup("nyse", &log, &[Then::Fail(ms(10))])))
            .child(plain("never", &log)),
    )
    .await
    .expect_err("the subtree cannot start");
    let SupervisorError::FailedToStart { child, reason, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(child, "desk/feeds");
    assert!(
        reason.contains("'desk/feeds/nyse' failed to start"),
        "{reason}"
    );
    assert!(!log.entries().contains(&"never runs".to_owned()));
}

// A group restart starts its members again in declaration order, each once
// the one before is ready, as the first start did.
#[tokio::test(start_paused = true)]
async fn a_group_restarts_in_order() {
    let log = Log::default();
    let tree = start(
        SupervisorSpec::new("desk")
            .with_strategy(Strategy::OneForAll)
            .with_backoff(janus::supervisor::BackoffConfig::new(ms(100), ms(100)))
            .child(warmup("market-data", &log, &[Then::Ready(ms(300))]))
            .child(warmup(
                "gateway",
                &log,
                &[Then::ReadyThenFail(ms(10), secs(1)), Then::Ready(ms(10))],
            )),
    )
    .await
    .expect("started");
    sleep(secs(3)).await;
    let failed = log.at("gateway", "fails", 0);
    // Both stopped, the backoff waited, then the market data first...
    assert_eq!(log.at("market-data", "runs", 1) - failed, ms(100));
    // ...and the gateway once it is ready again.
    assert_eq!(
        log.at("gateway", "runs", 1),
        log.at("market-data", "ready", 1)
    );
    assert_eq!(log.at("gateway", "runs", 1) - failed, ms(400));
    assert!(tree.snapshots().iter().all(|s| s.ready));
    tree.shutdown();
    tree.wait().await.expect("clean stop");
}

// A member not ready within its start timeout as its group starts again
// has failed, as any run that fails: its policy restarts it.
#[tokio::test(start_paused = true)]
async fn a_member_late_in_a_group_restart_fails_and_restarts() {
    let log = Log::default();
    let flaky = TestService::new("flaky", Behavior::RunUntilCancelled)
        .with_script(vec![Behavior::FailAfter(secs(1), "lost".into())]);
    let tree = start(
        SupervisorSpec::new("desk")
            .with_strategy(Strategy::OneForAll)
            .with_backoff(janus::supervisor::BackoffConfig::new(ms(100), ms(100)))
            .with_start_timeout(secs(5))
            .child(warmup(
                "cache",
                &log,
                &[Then::Ready(ms(10)), Then::Hang, Then::Ready(ms(10))],
            ))
            .child(flaky),
    )
    .await
    .expect("started");
    // flaky fails at 1 s; the group restarts after 100 ms; the cache's
    // second run never says it is ready: after 5 s it failed, and its
    // group restarts again.
    sleep(secs(10)).await;
    let cache = tree.snapshot("desk/cache").expect("listed");
    assert_eq!(cache.start_count, 3);
    assert_eq!(
        cache.last_error.as_deref(),
        Some("not ready within its start timeout (5s)")
    );
    assert!(cache.ready);
    assert_eq!(phase(&tree, "desk/flaky"), Running);
    tree.shutdown();
    tree.wait().await.expect("clean stop");
}

// Dropping the future of `start` before it completes stops the tree:
// nothing else holds it.
#[tokio::test(start_paused = true)]
async fn dropping_start_stops_the_tree() {
    let log = Log::default();
    let gateway = TestService::new("gateway", Behavior::RunUntilCancelled);
    let probe = gateway.probe();
    let starting = start(
        SupervisorSpec::new("desk")
            .child(warmup("market-data", &log, &[Then::Hang]))
            .child(gateway),
    );
    let timed_out = tokio::time::timeout(secs(1), starting).await;
    assert!(timed_out.is_err(), "still starting after 1 s");
    sleep(secs(1)).await;
    // The market data's run was cancelled: the tree stopped, and the
    // gateway never started.
    assert_eq!(log.entries(), ["market-data runs", "market-data stops"]);
    assert_eq!(probe.starts(), 0);
}

// `supervisor!` declares the start: its order and the children's timeout,
// one child's own, and an `infinity` that waits as long as it takes.
#[tokio::test(start_paused = true)]
async fn the_macro_declares_the_start() {
    let log = Log::default();
    let begin = Instant::now();
    let error = start(janus::supervisor! {
        name: "desk",
        start: { order: ordered, timeout: "30s" },
        shutdown: { timeout: infinity },
        children: [
            warmup("market-data", &log, &[Then::Ready(ms(10))]) => { start_timeout: infinity },
            warmup("gateway", &log, &[Then::Hang]) => { start_timeout: "3s" },
        ],
    })
    .await
    .expect_err("the gateway never says it is ready");
    assert_eq!(begin.elapsed(), ms(10) + secs(3));
    assert!(
        error
            .to_string()
            .contains("not ready within its start timeout (3s)"),
        "{error}"
    );

    let tree = start(janus::supervisor! {
        name: "desk",
        start: concurrent,
        children: [warmup("slow", &log, &[Then::Ready(secs(5))]), plain("quick", &log)],
    })
    .await
    .expect("started");
    assert_eq!(begin.elapsed(), ms(10) + secs(3), "returned at once");
    tree.shutdown();
    tree.wait().await.expect("clean stop");
}
