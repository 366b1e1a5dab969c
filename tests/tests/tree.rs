//! Supervision trees on tokio's paused clock: strategies, intensity and
//! escalation, ordered shutdown, critical children, runtime control, events.

use std::time::Duration;

use janus::events::{EventStream, LifecycleEvent};
use janus::lifecycle::ServicePhase::{self, BackingOff, Running, Starting, Stopping, Terminated};
use janus::metrics::JanusMetrics;
use janus::supervisor::{BackoffConfig, RestartPolicy, SpawnError};
use janus::testing::{Behavior, TestService};
use janus::tree::{
    ChildOptions, ControlError, ShutdownOrder, Strategy, SupervisorError, SupervisorHandle,
    SupervisorSpec,
};
use tests_integration::{ms, secs};
use tokio::time::{Instant, sleep};

/// A service that runs until cancelled.
fn idle(name: &str) -> TestService {
    TestService::new(name, Behavior::RunUntilCancelled)
}

/// A service whose first run fails after `after`, then runs until cancelled.
fn fails_once(name: &str, after: Duration) -> TestService {
    idle(name).with_script(vec![Behavior::FailAfter(after, "boom".into())])
}

fn spec(name: &str) -> SupervisorSpec {
    SupervisorSpec::new(name).with_backoff(BackoffConfig::new(ms(100), secs(1)))
}

/// The tree, started, and its events from the first.
async fn start(spec: SupervisorSpec) -> (SupervisorHandle, EventStream) {
    let handle = spec
        .spawn_with_metrics(JanusMetrics::new())
        .expect("valid tree");
    let events = handle.subscribe();
    handle.started().await.expect("started");
    (handle, events)
}

/// The events waiting; every one, or the test fails.
fn drain_events(events: &mut EventStream) -> Vec<LifecycleEvent> {
    std::iter::from_fn(|| events.try_recv())
        .map(|event| event.expect("no event missed"))
        .collect()
}

/// `(path, from, to)` of each event, for compact assertions.
fn moves(events: &[LifecycleEvent]) -> Vec<(String, ServicePhase, ServicePhase)> {
    events
        .iter()
        .map(|e| (e.path.clone(), e.from, e.to))
        .collect()
}

fn mv(path: &str, from: ServicePhase, to: ServicePhase) -> (String, ServicePhase, ServicePhase) {
    (path.to_owned(), from, to)
}

#[tokio::test(start_paused = true)]
async fn one_for_one_restarts_only_the_failed_child() {
    let (tree, mut events) = start(
        spec("sup")
            .child(idle("a"))
            .child(fails_once("b", secs(1)))
            .child(idle("c")),
    )
    .await;
    sleep(ms(10)).await;
    drain_events(&mut events);
    sleep(secs(2)).await;
    assert_eq!(
        moves(&drain_events(&mut events)),
        [
            mv("sup/b", Running, BackingOff),
            mv("sup/b", BackingOff, Starting),
            mv("sup/b", Starting, Running),
        ]
    );
    let starts: Vec<u64> = tree.snapshots().iter().map(|s| s.start_count).collect();
    assert_eq!(starts, [1, 2, 1]);
}

#[tokio::test(start_paused = true)]
async fn one_for_all_stops_siblings_in_reverse_and_starts_all_in_order() {
    let (tree, mut events) = start(
        spec("sup")
            .with_strategy(Strategy::OneForAll)
            .child(idle("a"))
            .child(fails_once("b", secs(1)))
            .child(idle("c"))
            .child(idle("d")),
    )
    .await;
    sleep(ms(10)).await;
    drain_events(&mut events);
    sleep(secs(2)).await;
    let got = drain_events(&mut events);
    assert_eq!(
        moves(&got),
        [
            mv("sup/b", Running, BackingOff),
            // Siblings stop last-declared first...
            mv("sup/d", Running, BackingOff),
            mv("sup/c", Running, BackingOff),
            mv("sup/a", Running, BackingOff),
            // ...and after b's backoff everyone starts in declaration order.
            mv("sup/a", BackingOff, Starting),
            mv("sup/a", Starting, Running),
            mv("sup/b", BackingOff, Starting),
            mv("sup/b", Starting, Running),
            mv("sup/c", BackingOff, Starting),
            mv("sup/c", Starting, Running),
            mv("sup/d", BackingOff, Starting),
            mv("sup/d", Starting, Running),
        ]
    );
    assert_eq!(
        got[1].reason.as_deref(),
        Some("stopped to restart with sup/b")
    );
    let starts: Vec<u64> = tree.snapshots().iter().map(|s| s.start_count).collect();
    assert_eq!(starts, [2, 2, 2, 2]);
    assert_eq!(tree.metrics().snapshot().restarts_total, 4);
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
    let (tree, mut events) = start(
        spec("sup")
            .with_strategy(Strategy::RestForOne)
            .child(idle("a"))
            .child(fails_once("b", secs(1)))
            .child(idle("c"))
            .child(idle("d")),
    )
    .await;
    sleep(ms(10)).await;
    drain_events(&mut events);
    sleep(secs(2)).await;
    let restarted: Vec<String> = drain_events(&mut events)
        .into_iter()
        .filter(|e| e.to == Starting)
        .map(|e| e.path)
        .collect();
    assert_eq!(restarted, ["sup/b", "sup/c", "sup/d"]);
    let starts: Vec<u64> = tree.snapshots().iter().map(|s| s.start_count).collect();
    assert_eq!(starts, [1, 2, 2, 2]);
}

#[tokio::test(start_paused = true)]
async fn group_restart_waits_for_a_slow_sibling_then_aborts_it() {
    let stubborn =
        TestService::new("stubborn", Behavior::IgnoreCancellation).with_shutdown_timeout(secs(3));
    let stubborn_probe = stubborn.probe();
    let (tree, _) = start(
        spec("sup")
            .with_strategy(Strategy::OneForAll)
            .child(stubborn)
            .child(fails_once("flaky", secs(1))),
    )
    .await;
    sleep(ms(1010)).await;
    let snap = tree.snapshot("sup/stubborn").expect("listed");
    assert_eq!(
        snap.phase, Running,
        "asked to stop, still running within its timeout"
    );
    sleep(secs(3)).await;
    assert_eq!(stubborn_probe.dropped(), 1, "aborted at its timeout");
    assert_eq!(
        stubborn_probe.starts(),
        1,
        "not yet restarted: the backoff runs"
    );
    sleep(ms(100)).await;
    assert_eq!(
        stubborn_probe.starts(),
        2,
        "then restarted with its sibling"
    );
    let snap = tree.snapshot("sup/flaky").expect("listed");
    assert_eq!((snap.phase, snap.start_count), (Running, 2));
}

#[tokio::test(start_paused = true)]
async fn reverse_order_shutdown_aborts_the_stubborn_child_at_its_timeout() {
    let stubborn =
        TestService::new("b", Behavior::IgnoreCancellation).with_shutdown_timeout(secs(2));
    let slow = TestService::new("c", Behavior::SlowStop(secs(1)));
    let (tree, mut events) = start(spec("sup").child(idle("a")).child(stubborn).child(slow)).await;
    sleep(ms(10)).await;
    drain_events(&mut events);

    let started = Instant::now();
    tree.shutdown();
    let report = tree.wait().await.expect("clean root");
    assert_eq!(
        started.elapsed(),
        secs(3),
        "c stops in 1 s, b is aborted 2 s later, a stops at once"
    );
    assert_eq!(report.aborted, ["sup/b"]);
    assert_eq!(report.stopped, 2);
    let terminated: Vec<(String, Option<String>)> = drain_events(&mut events)
        .into_iter()
        .filter(|e| e.to == Terminated)
        .map(|e| (e.path, e.reason))
        .collect();
    assert_eq!(
        terminated,
        [
            ("sup/c".to_owned(), Some("cancelled".to_owned())),
            (
                "sup/b".to_owned(),
                Some("aborted after shutdown timeout".to_owned())
            ),
            ("sup/a".to_owned(), Some("cancelled".to_owned())),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_shutdown_stops_everyone_at_once() {
    let (tree, _) = start(
        spec("sup")
            .with_shutdown(secs(5), ShutdownOrder::Concurrent)
            .child(TestService::new("a", Behavior::SlowStop(secs(1))))
            .child(TestService::new("b", Behavior::SlowStop(secs(2)))),
    )
    .await;
    sleep(ms(10)).await;
    let started = Instant::now();
    tree.shutdown();
    assert!(tree.snapshots().iter().all(|s| s.phase == Stopping));
    let report = tree.wait().await.expect("clean");
    assert_eq!(started.elapsed(), secs(2));
    assert!(report.is_clean());
}

// A shutdown that interrupts a group restart: the sibling the group is
// still waiting for keeps the deadline it was given, the others (parked for
// the restart, or backing off) stop at once, and nothing restarts.
#[tokio::test(start_paused = true)]
async fn a_concurrent_shutdown_interrupts_a_group_restart() {
    let stubborn =
        TestService::new("stubborn", Behavior::IgnoreCancellation).with_shutdown_timeout(secs(3));
    let quick = idle("quick");
    let quick_probe = quick.probe();
    let (tree, _) = start(
        spec("sup")
            .with_strategy(Strategy::OneForAll)
            .with_shutdown(secs(5), ShutdownOrder::Concurrent)
            .child(stubborn)
            .child(quick)
            .child(fails_once("flaky", secs(1))),
    )
    .await;
    // At 1 s flaky fails: the group stops; stubborn has until 4 s.
    sleep(ms(2000)).await;
    assert_eq!(
        tree.snapshot("sup/quick").expect("listed").phase,
        BackingOff
    );
    let started = Instant::now();
    tree.shutdown();
    assert!(
        tree.snapshots()
            .iter()
            .all(|s| matches!(s.phase, Stopping | Terminated)),
        "{:?}",
        tree.snapshots()
    );
    let report = tree.wait().await.expect("clean root");
    assert_eq!(started.elapsed(), secs(2), "stubborn's deadline: 1 s + 3 s");
    assert_eq!(report.aborted, ["sup/stubborn"]);
    assert_eq!(report.stopped, 2);
    assert_eq!(quick_probe.starts(), 1, "the group was not restarted");
    assert!(tree.snapshots().iter().all(|s| s.phase == Terminated));
}

#[tokio::test(start_paused = true)]
async fn intensity_escalates_through_two_levels() {
    let always_failing = || {
        TestService::new("worker", Behavior::FailAfter(ms(10), "crash".into()))
            .with_backoff(BackoffConfig::new(ms(10), ms(10)).without_circuit_breaker())
    };
    let inner = spec("inner")
        .with_intensity(2, secs(60))
        .child(always_failing());
    let root = spec("root")
        .with_intensity(1, secs(60))
        .with_backoff(BackoffConfig::new(ms(100), ms(100)).without_circuit_breaker())
        .child(idle("bystander"))
        .child(inner);
    let (tree, mut events) = start(root).await;

    let error = tree.wait().await.expect_err("the root gives up");
    assert_eq!(
        error,
        SupervisorError::IntensityExceeded {
            supervisor: "root".into(),
            child: "root/inner".into(),
            restarts: 2,
            within: secs(60),
        }
    );
    assert!(error.to_string().contains("gave up"), "{error}");
    let events = drain_events(&mut events);
    // The inner supervisor gave up twice: each time its worker's third crash
    // went over its intensity of 2 restarts.
    let inner_failures: Vec<&LifecycleEvent> = events
        .iter()
        .filter(|e| e.path == "root/inner" && e.to == BackingOff)
        .collect();
    assert_eq!(
        inner_failures.len(),
        1,
        "restarted once by root, then root gave up"
    );
    assert!(
        inner_failures[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("supervisor 'root/inner' gave up")),
        "{:?}",
        inner_failures[0].reason
    );
    let worker_starts = events
        .iter()
        .filter(|e| e.path == "root/inner/worker" && e.to == Running)
        .count();
    assert_eq!(
        worker_starts, 6,
        "3 runs per incarnation of inner, 2 incarnations"
    );
    assert!(tree.snapshots().iter().all(|s| s.phase == Terminated));
    let bystander = tree.snapshot("root/bystander").expect("listed");
    assert_eq!(bystander.termination_reason.as_deref(), Some("cancelled"));
}

#[tokio::test(start_paused = true)]
async fn critical_child_that_terminates_takes_the_supervisor_down() {
    let (tree, _) = start(
        spec("sup").child(idle("helper")).child_with(
            TestService::new("ledger", Behavior::FailAfter(secs(1), "disk full".into())),
            ChildOptions::new()
                .with_critical(true)
                .with_restart_policy(RestartPolicy::Never),
        ),
    )
    .await;
    let error = tree.wait().await.expect_err("critical child failed");
    assert_eq!(
        error,
        SupervisorError::CriticalChildTerminated {
            supervisor: "sup".into(),
            child: "sup/ledger".into(),
            reason: "unrecoverable: disk full".into(),
        }
    );
    let helper = tree.snapshot("sup/helper").expect("listed");
    assert_eq!(helper.termination_reason.as_deref(), Some("cancelled"));
}

#[tokio::test(start_paused = true)]
async fn non_critical_child_may_terminate() {
    let (tree, _) = start(spec("sup").child(idle("helper")).child_with(
        TestService::new("batch", Behavior::Fail("bad input".into())),
        ChildOptions::new().with_restart_policy(RestartPolicy::Never),
    ))
    .await;
    sleep(secs(1)).await;
    assert!(!tree.is_shutting_down());
    assert_eq!(tree.snapshot("sup/helper").map(|s| s.phase), Some(Running));
}

#[tokio::test(start_paused = true)]
async fn children_are_added_stopped_and_restarted_at_run_time() {
    let (tree, mut events) = start(spec("sup").child(idle("a"))).await;
    let (late, late_probe) = TestService::failing("late", 0);
    tree.add_child(late).expect("added");
    assert_eq!(
        tree.add_child(idle("a")),
        Err(SpawnError::DuplicateName { name: "a".into() })
    );
    sleep(ms(10)).await;
    assert_eq!(late_probe.starts(), 1);

    tree.stop_child("a").await.expect("stopped");
    let a = tree.snapshot("sup/a").expect("still listed");
    assert_eq!(a.termination_reason.as_deref(), Some("cancelled"));

    tree.restart_child("a").await.expect("revived");
    tree.restart_child("late").await.expect("restarted");
    sleep(ms(10)).await;
    let a = tree.snapshot("sup/a").expect("listed");
    assert_eq!((a.phase, a.start_count), (Running, 2));
    assert_eq!(late_probe.starts(), 2);
    assert_eq!(late_probe.cancellations_seen(), 1);
    assert_eq!(
        tree.stop_child("ghost").await,
        Err(ControlError::NoSuchChild {
            name: "ghost".into()
        })
    );
    let a_moves: Vec<_> = moves(&drain_events(&mut events))
        .into_iter()
        .filter(|(path, _, _)| path == "sup/a")
        .collect();
    assert_eq!(
        a_moves,
        [
            mv("sup/a", Starting, Running),
            mv("sup/a", Running, Stopping),
            mv("sup/a", Stopping, Terminated),
            mv("sup/a", Terminated, Starting),
            mv("sup/a", Starting, Running),
        ]
    );
    tree.shutdown();
    let report = tree.wait().await.expect("clean");
    assert!(report.is_clean());
    assert_eq!(tree.stop_child("a").await, Err(ControlError::ShuttingDown));
    let m = tree.metrics().snapshot();
    assert_eq!(m.spawned_total, m.terminated_total);
    assert_eq!(m.active_services, 0);
}

#[tokio::test(start_paused = true)]
async fn events_of_a_service_form_its_lifecycle_in_order() {
    let (tree, mut events) = start(spec("sup").child(fails_once("svc", secs(1)))).await;
    sleep(secs(2)).await;
    tree.shutdown();
    tree.wait().await.expect("clean");
    let got = drain_events(&mut events);
    assert_eq!(
        moves(&got),
        [
            mv("sup/svc", Starting, Running),
            mv("sup/svc", Running, BackingOff),
            mv("sup/svc", BackingOff, Starting),
            mv("sup/svc", Starting, Running),
            mv("sup/svc", Running, Stopping),
            mv("sup/svc", Stopping, Terminated),
        ]
    );
    assert_eq!(got[1].reason.as_deref(), Some("boom"));
    assert_eq!(got[5].reason.as_deref(), Some("cancelled"));
}

#[tokio::test(start_paused = true)]
async fn invalid_trees_are_typed_errors_from_start() {
    let duplicate = spec("sup")
        .child(idle("x"))
        .child(spec("inner").child(idle("y")).child(idle("y")));
    assert_eq!(
        duplicate.start().await.map(drop),
        Err(SupervisorError::Spawn {
            supervisor: "sup/inner".into(),
            source: SpawnError::DuplicateName { name: "y".into() },
        })
    );
    let no_window = spec("sup")
        .with_intensity(1, Duration::ZERO)
        .child(idle("x"));
    assert!(matches!(
        no_window.start().await,
        Err(SupervisorError::InvalidSpec { .. })
    ));
}

/// OTP: with `MaxR = 0`, the supervisor terminates its children and itself
/// at the first restart it would make.
#[tokio::test(start_paused = true)]
async fn intensity_zero_escalates_the_first_failure() {
    let root = spec("root")
        .with_intensity(0, secs(60))
        .child(idle("bystander"))
        .child(fails_once("worker", ms(10)));
    let (tree, _events) = start(root).await;
    let error = tree.wait().await.expect_err("the first failure escalates");
    assert_eq!(
        error,
        SupervisorError::IntensityExceeded {
            supervisor: "root".into(),
            child: "root/worker".into(),
            restarts: 1,
            within: secs(60),
        }
    );
    let worker = tree.snapshot("root/worker").expect("still listed");
    assert_eq!(worker.start_count, 1, "never restarted");
}

#[tokio::test(start_paused = true)]
async fn snapshots_and_metrics_cover_every_level() {
    let metrics = JanusMetrics::new();
    let tree = spec("desk")
        .child(idle("feed"))
        .child(spec("risk").child(spec("limits").child(fails_once("checker", ms(10)))))
        .start_with_metrics(metrics.clone())
        .await
        .expect("valid");
    sleep(secs(1)).await;
    let paths: Vec<String> = tree.snapshots().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        [
            "desk/feed",
            "desk/risk",
            "desk/risk/limits",
            "desk/risk/limits/checker"
        ]
    );
    assert_eq!(metrics.active_services(), 4);
    assert!(
        metrics
            .encode()
            .contains(r#"janus_supervisor_restarts_total{service="desk/risk/limits/checker"} 1"#)
    );
    tree.shutdown();
    tree.wait().await.expect("clean");
    assert_eq!(metrics.active_services(), 0);
}

/// The OTP textbook case: a database connection and the workers that use
/// it, under `rest_for_one`, inside an application supervisor. A worker crash
/// restarts the worker and those declared after it, never the connection; a
/// connection crash restarts everything after it too; a connection that keeps
/// crashing exhausts the pool's intensity, the pool gives up, and the
/// application restarts the whole pool, which then recovers.
#[tokio::test(start_paused = true)]
async fn otp_connection_and_workers_scenario() {
    let crash = |after: u64| Behavior::FailAfter(secs(after), "connection reset".into());
    // Crashes at t = 10 s, then twice more one second into each run; the
    // pool's fourth restart in a minute is one too many. In the pool's next
    // incarnation it crashes once more, then holds.
    let db = idle("db").with_script(vec![crash(10), crash(1), crash(1), crash(1)]);
    let db_probe = db.probe();
    let worker = fails_once("worker", secs(5));
    let worker_probe = worker.probe();
    let pool = spec("pool")
        .with_strategy(Strategy::RestForOne)
        .with_intensity(3, secs(60))
        .child(db)
        .child(worker)
        .child(idle("reporter"));
    let (app, mut events) = start(spec("app").with_intensity(2, secs(60)).child(pool)).await;

    // t = 5 s: the worker crashes: it and the reporter restart, not the db.
    sleep(secs(6)).await;
    assert_eq!(db_probe.starts(), 1);
    assert_eq!(worker_probe.starts(), 2);
    assert_eq!(
        app.snapshot("app/pool/reporter").map(|s| s.start_count),
        Some(2)
    );

    sleep(secs(30)).await;
    let pool_failures: Vec<LifecycleEvent> = drain_events(&mut events)
        .into_iter()
        .filter(|e| e.path == "app/pool" && e.to == BackingOff)
        .collect();
    assert_eq!(pool_failures.len(), 1, "the pool gave up once");
    assert!(
        pool_failures[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("supervisor 'app/pool' gave up: 4 restarts")),
        "{:?}",
        pool_failures[0].reason
    );
    assert_eq!(
        db_probe.starts(),
        5,
        "3 runs, then 2 in the pool's second incarnation"
    );
    assert!(
        !app.is_shutting_down(),
        "the application absorbed the pool's failure"
    );
    let phases: Vec<(String, ServicePhase, u64)> = app
        .snapshots()
        .into_iter()
        .map(|s| (s.path, s.phase, s.start_count))
        .collect();
    assert_eq!(
        phases,
        [
            ("app/pool".to_owned(), Running, 2),
            ("app/pool/db".to_owned(), Running, 2),
            ("app/pool/worker".to_owned(), Running, 2),
            ("app/pool/reporter".to_owned(), Running, 2),
        ]
    );
    app.shutdown();
    app.wait().await.expect("clean");
    assert!(app.snapshots().iter().all(|s| s.phase == Terminated));
}

#[tokio::test(start_paused = true)]
async fn root_run_until_shutdown_returns_the_root_failure() {
    let tree = spec("root").child_with(
        TestService::new("ledger", Behavior::Fail("corrupt".into())),
        ChildOptions::new()
            .with_critical(true)
            .with_restart_policy(RestartPolicy::Never),
    );
    let error = tree.run_until_shutdown().await.expect_err("root gave up");
    assert!(
        matches!(error, SupervisorError::CriticalChildTerminated { .. }),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn aborting_a_subtree_aborts_its_children() {
    let stubborn =
        TestService::new("stubborn", Behavior::IgnoreCancellation).with_shutdown_timeout(secs(10));
    let probe = stubborn.probe();
    let (tree, _) = start(spec("root").child_with(
        spec("inner").child(stubborn),
        ChildOptions::new().with_shutdown_timeout(secs(1)),
    ))
    .await;
    sleep(ms(10)).await;
    let started = Instant::now();
    tree.shutdown();
    let report = tree.wait().await.expect("clean root");
    assert_eq!(
        started.elapsed(),
        secs(1),
        "the parent's timeout for the subtree wins"
    );
    assert_eq!(report.aborted, ["root/inner", "root/inner/stubborn"]);
    assert_eq!(
        probe.dropped(),
        1,
        "the grandchild was aborted with its supervisor"
    );
    assert_eq!(probe.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn events_are_a_stream() {
    use futures_util::StreamExt as _;
    let (tree, events) = start(spec("sup").child(fails_once("svc", secs(1)))).await;
    let mut failures =
        events.filter(|e| std::future::ready(e.as_ref().is_ok_and(|e| e.to == BackingOff)));
    let first = failures.next().await.expect("a failure").expect("kept up");
    assert_eq!(
        (first.path.as_str(), first.reason.as_deref()),
        ("sup/svc", Some("boom"))
    );
    tree.shutdown();
    tree.wait().await.expect("clean");
}

/// The event queue is bounded: a subscriber that falls behind learns how
/// many events it missed, then reads on; one that keeps up misses none. Every
/// stream ends once the tree has stopped, although handles remain.
#[tokio::test(start_paused = true)]
async fn a_lagging_subscriber_is_told_what_it_missed() {
    let tree = spec("sup")
        .with_event_capacity(4)
        .child(idle("a"))
        .child(idle("b"))
        .child(idle("c"))
        .spawn_with_metrics(JanusMetrics::new())
        .expect("valid tree");
    let mut slow = tree.subscribe();
    let mut keeping_up = tree.subscribe();
    let reader = tokio::spawn(async move {
        let mut seen = 0;
        while let Some(event) = keeping_up.recv().await {
            event.expect("keeps up");
            seen += 1;
        }
        seen
    });
    sleep(ms(10)).await;
    tree.shutdown();
    tree.wait().await.expect("clean");
    // 3 × (starting→running, running→stopping, stopping→terminated).
    assert_eq!(reader.await.expect("ended"), 9);
    assert_eq!(slow.recv().await, Some(Err(janus::events::Lagged(5))));
    let rest: Vec<String> = std::iter::from_fn(|| slow.try_recv())
        .map(|e| e.expect("caught up").path)
        .collect();
    assert_eq!(rest.len(), 4, "the four kept");
    assert_eq!(slow.recv().await, None, "ended");
    assert_eq!(
        tree.subscribe().recv().await,
        None,
        "a late subscriber ends at once"
    );
}

/// The gaps between the restarts of a service failing 6 times in a row,
/// one level down in a tree seeded with `seed` (or not seeded).
async fn restart_gaps(seed: Option<u64>) -> Vec<Duration> {
    let worker = idle("worker").with_script(vec![Behavior::Fail("boom".into()); 6]);
    let probe = worker.probe();
    let mut root = SupervisorSpec::new("root").without_intensity_limit().child(
        SupervisorSpec::new("group")
            .without_intensity_limit()
            .with_backoff(BackoffConfig::new(ms(100), secs(60)).without_circuit_breaker())
            .child(worker),
    );
    if let Some(seed) = seed {
        root = root.with_jitter_seed(seed);
    }
    let (tree, _events) = start(root).await;
    sleep(secs(600)).await;
    tree.shutdown();
    tree.wait().await.expect("clean stop");
    probe.restart_gaps()
}

// A seeded tree replays its jitter exactly, down to nested supervisors
// without a seed of their own; another seed, or none, draws other delays
// (all of them jittered within the backoff's range).
#[tokio::test(start_paused = true)]
async fn a_jitter_seed_replays_the_restart_delays() {
    let first = restart_gaps(Some(7)).await;
    assert_eq!(first.len(), 6);
    assert_eq!(first, restart_gaps(Some(7)).await, "same seed, same delays");
    assert_ne!(first, restart_gaps(Some(8)).await, "another seed");
    assert_ne!(first, restart_gaps(None).await, "a random seed");
    for (n, gap) in first.iter().enumerate() {
        let high = (ms(100) * 2u32.pow(u32::try_from(n).expect("small"))).min(secs(60));
        let low = (high / 2).max(ms(100));
        assert!(*gap >= low && *gap <= high, "gap {n} = {gap:?}");
    }
}
