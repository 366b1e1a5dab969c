//! Restarts in place: a `one_for_one` child whose run ends on its own is
//! restarted by its attempt, in the same task, without a round trip through
//! the control loop (`janus/src/engine/attempt.rs`). What must not change
//! with it: the worker is not kept by a crash loop, the child's task is still
//! aborted at its shutdown timeout, a command still stops it, and the
//! decisions it hands to the control loop (breaker, intensity) still happen.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use janus::prelude::*;
use janus::supervisor::{BackoffConfig, ServicePhase};
use janus::testing::{Behavior, TestService};
use janus::tree::{ShutdownOrder, SupervisorError, SupervisorSpec};
use tests_integration::{ms, secs, until};
use tokio::time::Instant;

/// Fails its first `failures` runs at once, then ignores cancellation;
/// records the task each run ran in.
struct Stubborn {
    failures: usize,
    tasks: Arc<Mutex<Vec<tokio::task::Id>>>,
}

#[janus::async_trait]
impl JanusService for Stubborn {
    fn name(&self) -> &str {
        "stubborn"
    }
    fn backoff_config(&self) -> Option<BackoffConfig> {
        Some(BackoffConfig::immediate())
    }
    fn shutdown_timeout(&self) -> Option<Duration> {
        Some(secs(1))
    }
    async fn run(&self, _cancel: CancellationToken) -> janus::Result<()> {
        let run = {
            let mut tasks = self.tasks.lock().expect("tasks");
            tasks.push(tokio::task::id());
            tasks.len()
        };
        if run <= self.failures {
            janus::anyhow::bail!("failure {run}");
        }
        std::future::pending().await
    }
}

/// Fails every run at once.
fn failing_forever(name: &str) -> (TestService, janus::testing::Probe) {
    let service = TestService::new(name, Behavior::Fail("crash".into()));
    let probe = service.probe();
    (service, probe)
}

#[tokio::test(start_paused = true)]
async fn a_child_restarted_in_place_keeps_its_task_and_is_aborted_at_its_timeout() {
    let tasks = Arc::new(Mutex::new(Vec::new()));
    let tree = SupervisorSpec::new("sup")
        .child(Stubborn {
            failures: 3,
            tasks: tasks.clone(),
        })
        .start()
        .await
        .expect("starts");
    until("the fourth run", || tasks.lock().expect("tasks").len() == 4).await;
    let snap = tree.snapshot("sup/stubborn").expect("registered");
    assert_eq!(snap.phase, ServicePhase::Running);
    assert_eq!(snap.total_failures, 3);
    assert_eq!(snap.restart_count, 3);
    let ran_in = tasks.lock().expect("tasks").clone();
    assert!(
        ran_in.iter().all(|id| *id == ran_in[0]),
        "every run in the first run's task: {ran_in:?}"
    );

    tree.shutdown();
    let started = Instant::now();
    let report = tree.wait().await.expect("clean root");
    assert_eq!(
        started.elapsed(),
        secs(1),
        "aborted at its shutdown timeout"
    );
    assert_eq!(report.aborted, ["sup/stubborn"]);
}

#[test]
fn a_crash_loop_yields_the_worker_after_every_restart() {
    // On a current-thread runtime, a child that fails at once with zero
    // backoff would keep the only worker if its attempt restarted it
    // without yielding: this test's own task would never run again. The
    // thread and its timeout only turn such a hang into a failure.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (looping, probe) = failing_forever("loop");
            let tree = SupervisorSpec::new("sup")
                .without_intensity_limit()
                .child(looping.with_backoff(BackoffConfig::immediate()))
                .start()
                .await
                .expect("starts");
            let mut most = 0;
            for _ in 0..200 {
                let before = probe.starts();
                tokio::task::yield_now().await;
                most = most.max(probe.starts() - before);
            }
            assert!(probe.starts() >= 100, "it churned: {}", probe.starts());
            // tokio's current-thread scheduler runs up to 61 tasks (its
            // event interval) before a task that yielded: as many restarts
            // as the run queue would have held spawned tasks.
            assert!(
                most <= 64,
                "{most} restarts between two turns of another task"
            );
            tree.shutdown();
            tree.wait().await.expect("clean root");
        });
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the runtime was not kept by the crash loop");
}

#[tokio::test(start_paused = true)]
async fn a_command_stops_a_child_restarting_in_place() {
    let (looping, probe) = failing_forever("loop");
    let tree = SupervisorSpec::new("sup")
        .without_intensity_limit()
        .child(looping.with_backoff(BackoffConfig::immediate()))
        .child(TestService::new("idle", Behavior::RunUntilCancelled))
        .start()
        .await
        .expect("starts");
    until("churning", || probe.starts() > 50).await;
    tree.stop_child("loop").await.expect("stopped");
    let starts = probe.starts();
    assert_eq!(
        tree.snapshot("sup/loop").expect("registered").phase,
        ServicePhase::Terminated
    );
    tokio::time::sleep(ms(100)).await;
    assert_eq!(probe.starts(), starts, "not started again");
    assert_eq!(probe.running(), 0);
    tree.shutdown();
    let report = tree.wait().await.expect("clean root");
    assert!(report.is_clean(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn decisions_made_in_place_are_carried_out_by_the_control_loop() {
    // The breaker gives up: the supervisor (whose child it was, not
    // expendable) gives up too.
    let (flaky, flaky_probe) = failing_forever("flaky");
    let error = SupervisorSpec::new("sup")
        .without_intensity_limit()
        .child(flaky.with_backoff(BackoffConfig::immediate().with_circuit_breaker(3, secs(60))))
        .start()
        .await
        .expect_err("its child was given up on");
    assert!(
        matches!(&error, SupervisorError::ChildGivenUp { child, .. } if child == "sup/flaky"),
        "{error:?}"
    );
    assert_eq!(
        flaky_probe.starts(),
        3,
        "its third failure opened the breaker"
    );

    // The intensity is exceeded: the supervisor gives up.
    let (looping, looping_probe) = failing_forever("loop");
    let error = SupervisorSpec::new("sup")
        .with_intensity(5, secs(60))
        .child(looping.with_backoff(BackoffConfig::immediate()))
        .start()
        .await
        .expect_err("gives up");
    assert_eq!(
        error,
        SupervisorError::IntensityExceeded {
            supervisor: "sup".into(),
            child: "sup/loop".into(),
            restarts: 6,
            within: secs(60),
        }
    );
    assert_eq!(looping_probe.starts(), 6, "five restarts, not a sixth");
}

#[tokio::test(start_paused = true)]
async fn a_command_meets_a_decision_left_for_the_control_loop() {
    // The child's second failure goes over the intensity: its attempt
    // decides so and leaves the decision for the control loop, while a
    // restart_child for it is already queued. The loop takes the decision
    // in before it acts on the child (as it does an exit): the supervisor
    // gives up, and the command is answered, not carried out on a child
    // the loop thinks has no run.
    for at in [ms(9), ms(10), ms(11)] {
        let flaky = TestService::new("flaky", Behavior::RunUntilCancelled).with_script(vec![
            Behavior::Fail("first".into()),
            Behavior::FailAfter(ms(10), "second".into()),
        ]);
        let probe = flaky.probe();
        let tree = SupervisorSpec::new("sup")
            .with_intensity(1, secs(60))
            .child(flaky.with_backoff(BackoffConfig::immediate()))
            .spawn()
            .expect("spawns");
        tokio::time::sleep(at).await;
        let answer = tree.restart_child("flaky").await;
        tokio::time::sleep(ms(100)).await;
        // Over (it gave up), or running the third run: shut down.
        tree.shutdown();
        let ended = tokio::time::timeout(secs(60), tree.wait())
            .await
            .unwrap_or_else(|_| panic!("{at:?}: the supervisor does not end"));
        match ended {
            Err(SupervisorError::IntensityExceeded { restarts: 2, .. }) => {
                assert!(answer.is_err() || at < ms(10), "{at:?}: {answer:?}");
            }
            // The command came first: a restart by request is not counted.
            other => assert!(at < ms(10) && other.is_ok(), "{at:?}: {other:?}"),
        }
        assert_eq!(probe.running(), 0, "{at:?}");
    }
}

/// Asks its own tree to shut down `after` its run starts.
struct Stopper {
    tree: Arc<std::sync::OnceLock<janus::tree::SupervisorHandle>>,
    after: Duration,
}

#[janus::async_trait]
impl JanusService for Stopper {
    fn name(&self) -> &str {
        "stopper"
    }
    async fn run(&self, cancel: CancellationToken) -> janus::Result<()> {
        tokio::time::sleep(self.after).await;
        if let Some(tree) = self.tree.get() {
            tree.shutdown();
        }
        cancel.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_meets_a_decision_left_for_the_control_loop() {
    // As above, with a shutdown instead of a command, in both stop orders:
    // the child's second failure is decided by its attempt; a sibling woken
    // by the same tick of the clock asks for the shutdown before the
    // control loop has taken the decision in. The decision is moot (no
    // escalation, no restart) and the child terminates.
    for order in [ShutdownOrder::Reverse, ShutdownOrder::Concurrent] {
        for at in [ms(9), ms(10), ms(11)] {
            let flaky = TestService::new("flaky", Behavior::RunUntilCancelled).with_script(vec![
                Behavior::Fail("first".into()),
                Behavior::FailAfter(ms(10), "second".into()),
            ]);
            let probe = flaky.probe();
            let handle = Arc::new(std::sync::OnceLock::new());
            let tree = SupervisorSpec::new("sup")
                .with_intensity(1, secs(60))
                .with_shutdown_order(order)
                .child(flaky.with_backoff(BackoffConfig::immediate()))
                .child(Stopper {
                    tree: handle.clone(),
                    after: at,
                })
                .spawn()
                .expect("spawns");
            let _ = handle.set(tree.clone());
            let ended = tokio::time::timeout(secs(60), tree.wait())
                .await
                .unwrap_or_else(|_| panic!("{order:?} {at:?}: the supervisor does not end"));
            match ended {
                Ok(_) => assert!(at <= ms(10), "{order:?} {at:?}: it should have given up"),
                // It failed over its intensity before the shutdown began.
                Err(SupervisorError::IntensityExceeded { restarts: 2, .. }) => {
                    assert!(at > ms(10), "{order:?} {at:?}")
                }
                Err(other) => panic!("{order:?} {at:?}: {other:?}"),
            }
            assert_eq!(probe.running(), 0, "{order:?} {at:?}");
            assert_eq!(probe.starts(), 2, "{order:?} {at:?}: not started again");
            assert_eq!(
                tree.snapshot("sup/flaky").expect("registered").phase,
                ServicePhase::Terminated
            );
        }
    }
}
