//! Dynamic supervisors (OTP's `simple_one_for_one`, Elixir's
//! `DynamicSupervisor`): children made from a template at run time, each
//! from an argument, forgotten once they end.

use std::time::Duration;

use janus::lifecycle::ServicePhase;
use janus::supervisor::{BackoffConfig, RestartPolicy, SpawnError};
use janus::testing::{Behavior, TestService};
use janus::tree::{
    ChildOptions, ControlError, DynamicSupervisorSpec, Health, SupervisorError, SupervisorSpec,
};
use tests_integration::{ms, secs, until};

/// A worker that behaves as its argument says.
fn workers(name: &str) -> DynamicSupervisorSpec<Behavior> {
    DynamicSupervisorSpec::new(name, |behavior: Behavior| {
        TestService::new("worker", behavior)
    })
}

#[tokio::test(start_paused = true)]
async fn children_are_made_from_the_template_and_forgotten_when_they_end() {
    let pool = workers("pool").start().await.expect("starts");
    let long = pool
        .start_child(Behavior::RunUntilCancelled)
        .expect("started");
    let short = pool
        .start_child(Behavior::CompleteAfter(secs(1)))
        .expect("started");
    assert_eq!((long.name(), short.name()), ("worker-1", "worker-2"));
    assert_eq!(pool.count_children(), 2);
    until("both run", || {
        pool.snapshots()
            .iter()
            .all(|s| s.phase == ServicePhase::Running)
    })
    .await;

    // The short one completes (on_failure: not restarted) and is gone:
    // no terminated entry is left behind.
    tokio::time::sleep(secs(2)).await;
    until("the completed child is forgotten", || {
        pool.count_children() == 1
    })
    .await;
    let paths: Vec<String> = pool.snapshots().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["pool/worker-1"]);

    // Numbers are never reused.
    let next = pool
        .start_child(Behavior::RunUntilCancelled)
        .expect("started");
    assert_eq!(next.to_string(), "worker-3");

    pool.shutdown();
    let report = pool.wait().await.expect("stops");
    assert_eq!(report.stopped, 2);
}

#[tokio::test(start_paused = true)]
async fn stop_child_stops_and_forgets_by_id() {
    let pool = workers("pool").start().await.expect("starts");
    let id = pool
        .start_child(Behavior::SlowStop(ms(300)))
        .expect("started");
    until("it runs", || {
        pool.snapshots()
            .first()
            .is_some_and(|s| s.phase == ServicePhase::Running)
    })
    .await;
    let started = tokio::time::Instant::now();
    pool.stop_child(&id).await.expect("stopped");
    assert_eq!(started.elapsed(), ms(300), "waited for it to stop");
    assert_eq!(pool.count_children(), 0);
    assert!(pool.snapshots().is_empty());
    assert_eq!(
        pool.stop_child(&id).await,
        Err(ControlError::NoSuchChild {
            name: "worker-1".into()
        })
    );
    pool.shutdown();
    pool.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn max_children_bounds_the_children_running_at_once() {
    let pool = workers("pool")
        .with_max_children(2)
        .start()
        .await
        .expect("starts");
    pool.start_child(Behavior::CompleteAfter(secs(1)))
        .expect("first");
    pool.start_child(Behavior::RunUntilCancelled)
        .expect("second");
    assert_eq!(
        pool.start_child(Behavior::RunUntilCancelled),
        Err(SpawnError::MaxChildren {
            supervisor: "pool".into(),
            max: 2
        })
    );
    // Room again once one has ended.
    tokio::time::sleep(secs(1)).await;
    until("the first is forgotten", || pool.count_children() == 1).await;
    pool.start_child(Behavior::RunUntilCancelled)
        .expect("room again");
    pool.shutdown();
    pool.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn children_restart_by_their_policy_within_the_intensity() {
    let pool = workers("pool")
        .with_intensity(2, secs(60))
        .with_backoff(BackoffConfig::new(ms(10), ms(10)))
        .start()
        .await
        .expect("starts");
    // Fails twice, then runs: restarted, under the same name.
    let id = pool
        .start_child(Behavior::FailAfter(ms(5), "boom".into()))
        .expect("started");
    tokio::time::sleep(ms(30)).await;
    let snapshot = pool
        .supervisor()
        .snapshot(&format!("pool/{id}"))
        .expect("still there, restarting");
    assert!(snapshot.total_failures >= 2, "{snapshot:?}");
    // A third failure within the window exceeds the intensity.
    let result = tokio::time::timeout(secs(5), pool.wait())
        .await
        .expect("the supervisor gives up");
    assert!(
        matches!(result, Err(SupervisorError::IntensityExceeded { .. })),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_given_up_on_by_its_breaker_is_forgotten_and_the_supervisor_runs_on() {
    let pool = DynamicSupervisorSpec::new("pool", |()| {
        TestService::new("flaky", Behavior::Fail("down".into()))
            .with_backoff(BackoffConfig::new(ms(1), ms(1)).with_circuit_breaker(2, secs(60)))
    })
    .without_intensity_limit()
    .start()
    .await
    .expect("starts");
    pool.start_child(()).expect("started");
    tokio::time::sleep(ms(50)).await;
    until("given up and forgotten", || pool.count_children() == 0).await;
    assert_eq!(pool.supervisor().health(), Health::Running);
    pool.start_child(())
        .expect("the supervisor still takes children");
    pool.shutdown();
    pool.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_every_child_at_once() {
    let pool = workers("pool").start().await.expect("starts");
    for _ in 0..3 {
        pool.start_child(Behavior::SlowStop(secs(1)))
            .expect("started");
    }
    until("all run", || {
        pool.snapshots()
            .iter()
            .filter(|s| s.phase == ServicePhase::Running)
            .count()
            == 3
    })
    .await;
    let started = tokio::time::Instant::now();
    pool.shutdown();
    let report = pool.wait().await.expect("stops");
    assert_eq!((report.stopped, report.aborted.len()), (3, 0));
    // Together (one second), not one after another (three).
    assert!(started.elapsed() < secs(2), "{:?}", started.elapsed());
    // A child asked for once the supervisor stops is refused.
    assert!(matches!(
        pool.start_child(Behavior::RunUntilCancelled),
        Err(SpawnError::ShuttingDown { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn thousands_of_short_lived_children_leave_nothing_behind() {
    let pool = workers("pool").start().await.expect("starts");
    for round in 0..5 {
        for _ in 0..1_000 {
            pool.start_child(Behavior::CompleteAfter(ms(10)))
                .expect("started");
        }
        tokio::time::sleep(ms(20)).await;
        until("the round is forgotten", || pool.count_children() == 0).await;
        assert!(pool.snapshots().is_empty(), "round {round}");
    }
    let metrics = pool.supervisor().metrics().snapshot();
    assert_eq!(metrics.spawned_total, 5_000);
    assert_eq!(metrics.terminated_total, 5_000);
    pool.shutdown();
    pool.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_nested_dynamic_supervisor_gets_a_typed_handle_by_path() {
    let desk = SupervisorSpec::new("desk")
        .child(TestService::new("feed", Behavior::RunUntilCancelled))
        .child(workers("batches"))
        .start()
        .await
        .expect("starts");
    let batches = desk
        .dynamic::<Behavior>("desk/batches")
        .expect("a dynamic supervisor of Behavior");
    let id = batches
        .start_child(Behavior::RunUntilCancelled)
        .expect("started");
    until("it runs", || {
        desk.snapshot(&format!("desk/batches/{id}"))
            .is_some_and(|s| s.phase == ServicePhase::Running)
    })
    .await;

    // Another argument type, a static supervisor, a worker: no typed handle.
    assert!(desk.dynamic::<String>("desk/batches").is_none());
    assert!(desk.dynamic::<Behavior>("desk").is_none());
    assert!(desk.dynamic::<Behavior>("desk/feed").is_none());

    // Restarted, it starts empty; the old handle is for the old run.
    desk.restart_child("batches").await.expect("restarted");
    assert!(desk.snapshot(&format!("desk/batches/{id}")).is_none());
    assert!(matches!(
        batches.start_child(Behavior::RunUntilCancelled),
        Err(SpawnError::ShuttingDown { .. })
    ));
    let batches = desk.dynamic::<Behavior>("desk/batches").expect("new run");
    let next = batches
        .start_child(Behavior::RunUntilCancelled)
        .expect("started");
    // Numbers go on across runs (the refused start took one).
    assert_eq!(next.name(), "worker-3");

    desk.shutdown();
    let report = desk.wait().await.expect("stops");
    assert!(report.aborted.is_empty(), "{report:?}");
}

#[tokio::test(start_paused = true)]
async fn child_options_apply_to_every_child() {
    let pool = workers("pool")
        .with_child_options(ChildOptions::new().with_restart_policy(RestartPolicy::Never))
        .start()
        .await
        .expect("starts");
    pool.start_child(Behavior::Fail("once".into()))
        .expect("started");
    // Never restarted: it fails once and is forgotten.
    until("forgotten", || pool.count_children() == 0).await;
    assert_eq!(pool.supervisor().metrics().snapshot().restarts_total, 0);
    pool.shutdown();
    pool.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn invalid_settings_are_typed_errors() {
    let error = workers("pool")
        .with_max_children(0)
        .start()
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, SupervisorError::InvalidSpec { problem, .. } if problem.contains("max_children")),
        "{error}"
    );
    // Nested, the tree's start fails naming it.
    let error = SupervisorSpec::new("desk")
        .child(workers("pool").with_intensity(1, Duration::ZERO))
        .start()
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, SupervisorError::FailedToStart { child, .. } if child == "desk/pool"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_started_as_the_supervisor_stops_is_stopped_or_refused() {
    let pool = workers("pool").start().await.expect("starts");
    pool.start_child(Behavior::RunUntilCancelled)
        .expect("first");
    pool.shutdown();
    // Asked for in the same turn as the shutdown: refused, never left running.
    let late = pool.start_child(Behavior::RunUntilCancelled);
    assert!(
        matches!(late, Err(SpawnError::ShuttingDown { .. })),
        "{late:?}"
    );
    let report = pool.wait().await.expect("stops");
    assert_eq!(report.stopped, 1);
    assert!(
        pool.snapshots()
            .iter()
            .all(|s| s.phase == ServicePhase::Terminated)
    );
}

#[test]
fn a_supervisor_without_static_children_asks_for_its_start_timeout() {
    use janus::supervisor::JanusService as _;
    // Not the millisecond an empty sum gives, which a busy multi-thread
    // runtime may not grant its task (found by the interleaving test).
    assert_eq!(workers("pool").start_timeout(), Some(secs(60)));
    assert_eq!(SupervisorSpec::new("empty").start_timeout(), Some(secs(60)));
    let quick = SupervisorSpec::new("quick").with_start_timeout(secs(5));
    assert_eq!(quick.start_timeout(), Some(secs(5)));
}
