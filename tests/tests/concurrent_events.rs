//! The control loop when things happen at the same time: an exit while a
//! group restarts, a command while a child backs off, a command racing a
//! shutdown, a child stopped before it started. Each test forces one order
//! on tokio's paused clock (current-thread runtime), and each was a defect
//! once: the test names what must hold.

use std::pin::Pin;
use std::time::Duration;

use futures_util::FutureExt as _;
use janus::lifecycle::ServicePhase::{BackingOff, Running, Terminated};
use janus::metrics::JanusMetrics;
use janus::supervisor::{BackoffConfig, RestartPolicy};
use janus::testing::{Behavior, TestService};
use janus::tree::{
    ChildOptions, ControlError, ShutdownOrder, Strategy, SupervisorHandle, SupervisorSpec,
};
use tests_integration::{ms, secs};
use tokio::time::{Instant, sleep};

fn idle(name: &str) -> TestService {
    TestService::new(name, Behavior::RunUntilCancelled)
}

fn spec(name: &str) -> SupervisorSpec {
    SupervisorSpec::new(name).with_backoff(BackoffConfig::new(ms(100), secs(1)))
}

async fn start(spec: SupervisorSpec) -> SupervisorHandle {
    spec.start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid tree")
}

/// Exits that happen while a command is under way are taken in at once:
/// when the first one restarts the group, the supervisor does not wait for
/// the second child to stop, since it already has (before, the second exit
/// was set aside, and the group restart sat out its 30 s shutdown timeout).
#[tokio::test(start_paused = true)]
async fn an_exit_during_a_command_is_not_waited_for_again() {
    let x = TestService::new("x", Behavior::SlowStop(secs(1)));
    let y = idle("y").with_script(vec![Behavior::FailAfter(ms(300), "y broke".into())]);
    let z = idle("z").with_script(vec![Behavior::FailAfter(ms(500), "z broke".into())]);
    let (x_probe, y_probe, z_probe) = (x.probe(), y.probe(), z.probe());
    let tree = start(
        spec("sup")
            .with_strategy(Strategy::OneForAll)
            .child(x)
            .child(y)
            .child(idle("w"))
            .child(z),
    )
    .await;
    // x is asked to restart at once and takes 1 s to stop; y fails at
    // 300 ms, during the command, and restarts its group (but x, which the
    // command has taken out of it): z is stopped before it could fail.
    let started = Instant::now();
    tree.restart_child("x").await.expect("restarted");
    assert_eq!(started.elapsed(), secs(1), "x takes 1 s to stop");
    sleep(secs(1)).await;
    for probe in [&x_probe, &y_probe, &z_probe] {
        assert_eq!(probe.dropped(), 0, "nobody was aborted");
        assert_eq!(probe.starts(), 2, "everyone restarted once");
    }
    assert_eq!(
        y_probe.restart_gaps(),
        [ms(400)],
        "after y's 100 ms backoff, not 30 s later"
    );
    let y = tree.snapshot("sup/y").expect("listed");
    assert_eq!((y.phase, y.total_failures), (Running, 1));
    assert_eq!(y.last_error.as_deref(), Some("y broke"));
    assert_eq!(tree.snapshot("sup/z").map(|s| s.total_failures), Some(0));
    let phases: Vec<_> = tree.snapshots().into_iter().map(|s| s.phase).collect();
    assert_eq!(phases, [Running; 4]);
}

/// A command queued behind another command, for a child that then fails:
/// the stop does not wait out the child's 30 s shutdown timeout.
#[tokio::test(start_paused = true)]
async fn a_stop_behind_another_command_is_not_held_by_an_exit_already_seen() {
    let slow = TestService::new("slow", Behavior::SlowStop(secs(1)));
    let flaky = idle("flaky").with_script(vec![Behavior::FailAfter(ms(300), "flaky broke".into())]);
    let tree = start(spec("sup").child(slow).child(flaky)).await;
    sleep(ms(100)).await;
    let started = Instant::now();
    let restart = tokio::spawn({
        let tree = tree.clone();
        async move { tree.restart_child("slow").await }
    });
    sleep(ms(100)).await;
    let stop = tokio::spawn({
        let tree = tree.clone();
        async move {
            tree.stop_child("flaky").await?;
            Ok::<_, ControlError>(Instant::now())
        }
    });
    restart.await.expect("joined").expect("restarted");
    assert_eq!(started.elapsed(), secs(1), "slow stops in 1 s");
    let stopped_at = stop.await.expect("joined").expect("stopped");
    assert!(
        stopped_at - started <= secs(1),
        "flaky stopped {:?} after the commands began",
        stopped_at - started
    );
    let flaky = tree.snapshot("sup/flaky").expect("listed");
    assert_eq!(flaky.phase, Terminated);
    assert_ne!(
        flaky.termination_reason.as_deref(),
        Some("aborted after shutdown timeout")
    );
}

/// Polls `future` once, so that a command is sent before what follows.
fn send_now<F: Future + Unpin>(future: &mut F) {
    assert!(
        future.now_or_never().is_none(),
        "answered before it could run"
    );
}

/// A restart of a stopped child that the supervisor takes in after a
/// concurrent shutdown has asked everyone to stop: it is refused, and the
/// drain leaves nothing running.
#[tokio::test(start_paused = true)]
async fn a_restart_racing_a_concurrent_shutdown_leaves_nothing_running() {
    let x = idle("x");
    let probe = x.probe();
    let tree = start(
        spec("sup")
            .with_shutdown_order(ShutdownOrder::Concurrent)
            .child(x)
            .child(idle("y")),
    )
    .await;
    tree.stop_child("x").await.expect("stopped");
    let mut restart: Pin<Box<_>> = Box::pin(tree.restart_child("x"));
    send_now(&mut restart);
    tree.shutdown();
    assert_eq!(restart.await, Err(ControlError::ShuttingDown));
    let report = tree.wait().await.expect("clean");
    assert!(report.is_clean());
    sleep(secs(1)).await;
    assert_eq!(probe.running(), 0, "no service code runs after the drain");
    assert!(
        tree.snapshots().iter().all(|s| s.phase == Terminated),
        "{:?}",
        tree.snapshots()
    );
}

/// The same race with the flat supervisor of the seed API.
#[tokio::test(start_paused = true)]
async fn a_restart_racing_a_flat_supervisor_drain_leaves_nothing_running() {
    use janus::supervisor::{JanusSupervisor, SupervisorConfig};
    let supervisor = JanusSupervisor::new(SupervisorConfig::default().without_signal_handler());
    let x = idle("x");
    let probe = x.probe();
    supervisor.spawn_service(Box::new(x)).expect("spawned");
    let handle = supervisor.handle();
    handle.stop_child("x").await.expect("stopped");
    let mut restart: Pin<Box<_>> = Box::pin(handle.restart_child("x"));
    send_now(&mut restart);
    let report = supervisor.wait_for_drain().await;
    assert!(report.is_clean());
    assert_eq!(restart.await, Err(ControlError::ShuttingDown));
    sleep(secs(1)).await;
    assert_eq!(probe.running(), 0, "no service code runs after the drain");
}

/// A child restarted by command, then stopped by a group restart before its
/// run began, is started again with the group, not left `Starting`.
#[tokio::test(start_paused = true)]
async fn a_child_stopped_before_it_started_restarts_with_its_group() {
    // restart_child(a) cancels a, which takes 1 s to stop; b fails at that
    // very moment, so the supervisor relaunches a and starts the group
    // restart in the same turn, before a's new run could begin.
    let a = TestService::new("a", Behavior::SlowStop(secs(1)));
    let b = idle("b").with_script(vec![Behavior::FailAfter(secs(1), "b broke".into())]);
    let tree = start(
        spec("sup")
            .with_strategy(Strategy::OneForAll)
            .child(a)
            .child(b),
    )
    .await;
    tree.restart_child("a").await.expect("restarted");
    sleep(secs(2)).await;
    let phases: Vec<_> = tree.snapshots().into_iter().map(|s| s.phase).collect();
    assert_eq!(phases, [Running, Running], "{:?}", tree.snapshots());
}

/// A `Never` (temporary) child is stopped by a sibling's group restart and
/// not started again: it runs once, as OTP's temporary children do.
#[tokio::test(start_paused = true)]
async fn a_temporary_child_is_not_restarted_with_its_group() {
    let once = idle("once").with_restart_policy(RestartPolicy::Never);
    let probe = once.probe();
    let tree = start(
        spec("sup")
            .with_strategy(Strategy::OneForAll)
            .child(once)
            .child(idle("b").with_script(vec![Behavior::FailAfter(secs(1), "b broke".into())])),
    )
    .await;
    sleep(secs(3)).await;
    assert_eq!(probe.starts(), 1);
    let once = tree.snapshot("sup/once").expect("listed");
    assert_eq!(once.phase, Terminated);
    assert_eq!(once.termination_reason.as_deref(), Some("cancelled"));
    assert_eq!(tree.snapshot("sup/b").map(|s| s.phase), Some(Running));
}

/// `stop_child` on a child that waits out a `rest_for_one` group restart's
/// backoff answers at once, as under `one_for_one` (OTP's `terminate_child`).
#[tokio::test(start_paused = true)]
async fn stop_child_during_a_group_backoff_answers_at_once() {
    let tree = start(
        SupervisorSpec::new("sup")
            .with_strategy(Strategy::RestForOne)
            .with_backoff(BackoffConfig::new(secs(60), secs(60)))
            .child(idle("a").with_script(vec![Behavior::FailAfter(secs(1), "a broke".into())]))
            .child(idle("b")),
    )
    .await;
    sleep(secs(2)).await;
    assert_eq!(tree.snapshot("sup/b").map(|s| s.phase), Some(BackingOff));
    let asked = Instant::now();
    tree.stop_child("b").await.expect("stopped");
    assert_eq!(asked.elapsed(), Duration::ZERO);
    let b = tree.snapshot("sup/b").expect("listed");
    assert_eq!(
        (b.phase, b.termination_reason.as_deref()),
        (Terminated, Some("cancelled"))
    );
    sleep(secs(60)).await;
    assert_eq!(tree.snapshot("sup/a").map(|s| s.phase), Some(Running));
    assert_eq!(
        tree.snapshot("sup/b").map(|s| s.phase),
        Some(Terminated),
        "a stopped child is not restarted with its group"
    );
}

/// `Duration::MAX` means "as long as it takes" wherever a duration is a
/// timeout or a delay: nothing overflows, and the tree stays controllable.
#[tokio::test(start_paused = true)]
async fn huge_durations_wait_as_long_as_it_takes() {
    let infinite = Duration::MAX;
    let tree = start(
        SupervisorSpec::new("sup")
            .with_strategy(Strategy::OneForAll)
            .with_shutdown_timeout(infinite)
            .with_backoff(BackoffConfig::new(infinite, infinite))
            .child(TestService::new("slow", Behavior::SlowStop(secs(5))))
            .child_with(
                TestService::new("quick", Behavior::SlowStop(secs(1))),
                ChildOptions::new().with_shutdown_timeout(infinite),
            )
            .child(idle("flaky").with_script(vec![Behavior::FailAfter(secs(1), "x".into())])),
    )
    .await;
    // flaky fails: the group stops quick and slow, then waits forever.
    sleep(secs(3600)).await;
    assert_eq!(tree.health(), janus::tree::Health::Running);
    let phases: Vec<_> = tree.snapshots().into_iter().map(|s| s.phase).collect();
    assert_eq!(phases, [BackingOff, BackingOff, BackingOff]);
    let asked = Instant::now();
    tree.shutdown();
    let report = tree.wait().await.expect("clean");
    assert!(report.is_clean());
    assert_eq!(asked.elapsed(), Duration::ZERO, "nothing was running");
}

/// A child that takes long to stop, under an infinite shutdown timeout, is
/// waited for, not aborted.
#[tokio::test(start_paused = true)]
async fn an_infinite_shutdown_timeout_waits_for_the_child() {
    let tree = start(
        spec("sup")
            .with_shutdown_timeout(Duration::MAX)
            .child(TestService::new("slow", Behavior::SlowStop(secs(7200)))),
    )
    .await;
    sleep(ms(10)).await;
    let asked = Instant::now();
    tree.shutdown();
    let report = tree.wait().await.expect("clean");
    assert!(report.is_clean(), "{report}");
    assert_eq!(asked.elapsed(), secs(7200));
}

/// A nested supervisor's aborted child shows in the root's drain report,
/// with its path.
#[tokio::test(start_paused = true)]
async fn the_drain_report_covers_the_whole_tree() {
    let tree = start(
        spec("app").child(idle("web")).child(
            spec("group")
                .child(TestService::new("stubborn", Behavior::IgnoreCancellation))
                .with_shutdown_timeout(secs(1)),
        ),
    )
    .await;
    sleep(ms(10)).await;
    tree.shutdown();
    let report = tree.wait().await.expect("the root stopped");
    assert_eq!(report.aborted, ["app/group/stubborn"]);
    assert!(!report.is_clean());
    assert_eq!(report.stopped, 2, "app/web and app/group");
}

/// The default backoff's breaker (10 in 600 s) opens before the default
/// intensity (10 in 60 s) is exceeded: in a tree, a child whose policy says
/// restart is then not dropped silently; the supervisor escalates.
#[tokio::test(start_paused = true)]
async fn a_crash_looping_child_is_not_dropped_by_a_healthy_tree() {
    let looping = TestService::new("looping", Behavior::Fail("crash".into()))
        .with_restart_policy(RestartPolicy::Always);
    let tree = start(SupervisorSpec::new("sup").child(idle("ok")).child(looping)).await;
    let error = tokio::time::timeout(secs(3600), tree.wait())
        .await
        .expect("the tree does not stay healthy")
        .expect_err("the supervisor escalated");
    assert!(
        error.to_string().contains("sup/looping"),
        "names the child: {error}"
    );
}

/// A name with `/` would make paths ambiguous: refused at run time.
#[tokio::test(start_paused = true)]
async fn names_with_a_slash_are_refused() {
    assert!(
        SupervisorSpec::new("app/x")
            .child(idle("a"))
            .start_with_metrics(JanusMetrics::new())
            .await
            .is_err()
    );
    assert!(
        SupervisorSpec::new("app")
            .child(idle("feeds/binance"))
            .start_with_metrics(JanusMetrics::new())
            .await
            .is_err()
    );
    let tree = start(spec("app").child(idle("a"))).await;
    assert!(tree.add_child(idle("b/c")).is_err());
    tree.shutdown();
    tree.wait().await.expect("clean");
}

/// A thousand commands sent at once, during a `one_for_all` restart storm,
/// all answer, each within the shutdown timeouts of what it stops.
#[tokio::test(start_paused = true)]
async fn a_thousand_commands_during_a_restart_storm_all_answer() {
    let mut tree = spec("sup").with_strategy(Strategy::OneForAll);
    for i in 0..10 {
        tree = tree.child(TestService::new(
            format!("w{i}"),
            Behavior::SlowStop(ms(50)),
        ));
    }
    // Fails every 300 ms, restarting everyone each time.
    let storm = TestService::new("storm", Behavior::FailAfter(ms(300), "storm".into()))
        .with_backoff(BackoffConfig::new(ms(10), ms(10)).without_circuit_breaker());
    let tree = start(tree.without_intensity_limit().child(storm)).await;
    let started = Instant::now();
    let commands: Vec<_> = (0..1000)
        .map(|i| {
            let tree = tree.clone();
            tokio::spawn(async move {
                let name = format!("w{}", i % 10);
                if i % 2 == 0 {
                    tree.restart_child(&name).await
                } else {
                    tree.stop_child(&name).await
                }
            })
        })
        .collect();
    for command in commands {
        command.await.expect("joined").expect("answered Ok");
    }
    // Each child takes 50 ms to stop; 100 commands each, alternating stop
    // and restart: at most 100 stops in turn per child.
    assert!(started.elapsed() <= secs(5), "{:?}", started.elapsed());
    tree.shutdown();
    tree.wait().await.expect("clean");
}

/// A child stopped, then deleted, is forgotten: its snapshot and its
/// Prometheus series are gone, its name is free; one that runs is not
/// deleted; `remove_child` stops and forgets in one go.
#[tokio::test(start_paused = true)]
async fn deleted_children_are_forgotten() {
    let metrics = JanusMetrics::new();
    let tree = spec("sup")
        .without_intensity_limit()
        .child(idle("keep"))
        .start_with_metrics(metrics.clone())
        .await
        .expect("valid");
    for i in 0..300 {
        let flaky =
            idle(&format!("job-{i}")).with_script(vec![Behavior::Fail("first run fails".into())]);
        tree.add_child(flaky).expect("added");
    }
    sleep(secs(1)).await;
    assert!(
        metrics.encode().contains(r#"service="sup/job-7""#),
        "{}",
        metrics.encode()
    );
    assert_eq!(
        tree.delete_child("job-7").await,
        Err(ControlError::Running {
            name: "job-7".into()
        })
    );
    tree.stop_child("job-7").await.expect("stopped");
    tree.delete_child("job-7").await.expect("deleted");
    for i in (0..300).filter(|i| *i != 7) {
        tree.remove_child(&format!("job-{i}"))
            .await
            .expect("removed");
    }
    assert_eq!(tree.snapshots().len(), 1, "{:?}", tree.snapshots());
    assert!(tree.snapshot("sup/keep").is_some());
    assert!(!metrics.encode().contains("job-"), "series removed");
    assert_eq!(
        tree.stop_child("job-7").await,
        Err(ControlError::NoSuchChild {
            name: "job-7".into()
        })
    );
    tree.add_child(idle("job-7"))
        .expect("the name is free again");
    sleep(ms(10)).await;
    assert_eq!(tree.snapshot("sup/job-7").map(|s| s.phase), Some(Running));
    let m = tree.metrics().snapshot();
    assert_eq!(m.active_services, 2);
    tree.shutdown();
    tree.wait().await.expect("clean");
}

/// `Debug` of a handle or a supervisor shows where it is and how it is,
/// in a line, not the whole tree.
#[tokio::test(start_paused = true)]
async fn debug_is_a_summary_not_the_tree() {
    let mut spec = spec("big");
    for i in 0..1000 {
        spec = spec.child(idle(&format!("child-{i}")));
    }
    let tree = start(spec).await;
    let shown = format!("{tree:?}");
    assert!(shown.len() < 200, "{shown}");
    assert!(
        shown.contains("\"big\"") && shown.contains("1000"),
        "{shown}"
    );
    let supervisor = janus::supervisor::JanusSupervisor::new(
        janus::supervisor::SupervisorConfig::default().without_signal_handler(),
    );
    for i in 0..1000 {
        supervisor
            .spawn_service(Box::new(idle(&format!("s{i}"))))
            .expect("spawned");
    }
    let shown = format!("{supervisor:?}");
    assert!(shown.len() < 400, "{shown}");
    tree.shutdown();
    tree.wait().await.expect("clean");
}

/// An expendable child given up on by its breaker: the supervisor carries
/// on, and reports itself degraded, naming it; a child that is not
/// expendable takes the supervisor down instead (see
/// `a_crash_looping_child_is_not_dropped_by_a_healthy_tree`). The flat
/// supervisor of the seed API gives up on any child, and says so too.
#[tokio::test(start_paused = true)]
async fn an_expendable_child_given_up_on_degrades_the_tree() {
    let hopeless = || {
        TestService::new("hopeless", Behavior::Fail("no upstream".into()))
            .with_restart_policy(RestartPolicy::Always)
            .with_backoff(BackoffConfig::new(ms(10), ms(10)).with_circuit_breaker(3, secs(60)))
    };
    let tree = start(
        spec("sup")
            .child(idle("ok"))
            .child_with(hopeless(), ChildOptions::new().with_expendable(true)),
    )
    .await;
    sleep(secs(1)).await;
    assert_eq!(
        tree.health(),
        janus::tree::Health::Degraded {
            given_up: vec!["sup/hopeless".into()]
        }
    );
    assert!(tree.is_ready(), "readiness is about critical services");
    tree.restart_child("hopeless").await.expect("revived");
    assert_eq!(
        tree.health(),
        janus::tree::Health::Running,
        "revived with a fresh breaker"
    );
    tree.shutdown();
    tree.wait().await.expect("clean");

    use janus::supervisor::{JanusSupervisor, SupervisorConfig};
    let flat = JanusSupervisor::new(SupervisorConfig::default().without_signal_handler());
    flat.spawn_service(Box::new(hopeless())).expect("spawned");
    sleep(secs(1)).await;
    assert!(!flat.is_shutting_down(), "the seed's supervisor lets it go");
    assert_eq!(
        flat.handle().health(),
        janus::tree::Health::Degraded {
            given_up: vec!["hopeless".into()]
        }
    );
}

/// `rest_for_one`, failures alone: while b's group restart waits for c to
/// stop, a (declared before b) fails too. Its restart joins the group:
/// everyone restarts once, together, after c has stopped and the backoff
/// has passed; a's failure is counted once.
#[tokio::test(start_paused = true)]
async fn a_failure_during_a_group_restart_joins_it() {
    let a = idle("a").with_script(vec![Behavior::FailAfter(ms(1500), "a broke".into())]);
    let b = idle("b").with_script(vec![Behavior::FailAfter(secs(1), "b broke".into())]);
    let c = TestService::new("c", Behavior::SlowStop(secs(2)));
    let probes = [a.probe(), b.probe(), c.probe()];
    let tree = start(
        spec("sup")
            .with_strategy(Strategy::RestForOne)
            .child(a)
            .child(b)
            .child(c),
    )
    .await;
    sleep(secs(10)).await;
    for probe in &probes {
        assert_eq!(probe.starts(), 2, "each restarted once");
        assert_eq!(
            probe.restart_gaps(),
            [ms(3100)],
            "at 3.1 s: c stopped at 3 s, then the 100 ms backoff"
        );
    }
    let a = tree.snapshot("sup/a").expect("listed");
    assert_eq!((a.phase, a.total_failures), (Running, 1));
    assert_eq!(tree.metrics().snapshot().restarts_total, 3);
}

/// A service that never sends a heartbeat, under a heartbeat timeout of
/// `Duration::MAX`: its deadline never passes (it used to overflow, and
/// every run failed).
struct Silent;

#[janus::async_trait]
impl janus::supervisor::JanusService for Silent {
    fn name(&self) -> &str {
        "silent"
    }

    fn heartbeat_timeout(&self) -> Option<Duration> {
        Some(Duration::MAX)
    }

    async fn run(&self, cancel: janus::prelude::CancellationToken) -> janus::Result<()> {
        cancel.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn an_infinite_heartbeat_timeout_never_passes() {
    let tree = start(spec("sup").child(Silent)).await;
    sleep(secs(365 * 86_400)).await;
    let silent = tree.snapshot("sup/silent").expect("listed");
    assert_eq!((silent.phase, silent.total_failures), (Running, 0));
    tree.shutdown();
    assert!(tree.wait().await.expect("clean").is_clean());
}
