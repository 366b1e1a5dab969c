//! Auto-shutdown on significant children (OTP 24's `auto_shutdown`), from
//! the OTP documentation's statements: a supervisor ends, normally, when
//! any (or all) of its significant children have terminated by themselves;
//! a significant child cannot be permanent, nor live under a supervisor
//! that never shuts down by itself; stopping one by command does not count.

use janus::lifecycle::{ChildKind, ServicePhase};
use janus::supervisor::{RestartPolicy, SpawnError};
use janus::testing::{Behavior, TestService};
use janus::tree::{AutoShutdown, ChildOptions, SupervisorError, SupervisorSpec};
use tests_integration::{ms, secs, until};

fn significant() -> ChildOptions {
    ChildOptions::new().with_significant(true)
}

fn idle(name: &str) -> TestService {
    TestService::new(name, Behavior::RunUntilCancelled)
}

/// A progress reporter that runs as long as the job does, and two
/// significant parts of the job: one done in 5 s, the other in 60 s.
fn two_jobs(auto_shutdown: AutoShutdown) -> SupervisorSpec {
    SupervisorSpec::new("job")
        .with_auto_shutdown(auto_shutdown)
        .child(idle("progress"))
        .child_with(
            TestService::new("load", Behavior::CompleteAfter(secs(5))),
            significant(),
        )
        .child_with(
            TestService::new("index", Behavior::CompleteAfter(secs(60))),
            significant(),
        )
}

#[tokio::test(start_paused = true)]
async fn any_significant_ends_the_supervisor_when_one_completes() {
    let job = two_jobs(AutoShutdown::AnySignificant)
        .start()
        .await
        .expect("starts");
    let started = tokio::time::Instant::now();
    let report = job.wait().await.expect("ends normally, not as a failure");
    assert_eq!(started.elapsed(), secs(5), "when the first one completed");
    assert!(report.is_clean(), "{report:?}");
    let phases: Vec<(String, ServicePhase)> = job
        .snapshots()
        .into_iter()
        .map(|s| (s.path, s.phase))
        .collect();
    assert!(
        phases.iter().all(|(_, p)| *p == ServicePhase::Terminated),
        "{phases:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn all_significant_waits_for_the_last_one() {
    let job = two_jobs(AutoShutdown::AllSignificant)
        .start()
        .await
        .expect("starts");
    let started = tokio::time::Instant::now();
    job.wait().await.expect("ends normally");
    assert_eq!(started.elapsed(), secs(60), "when the last one completed");
}

#[tokio::test(start_paused = true)]
async fn a_failing_transient_significant_child_restarts_and_does_not_end_it() {
    // on_failure (OTP's transient): a failure restarts it; only its clean
    // end counts.
    let job = SupervisorSpec::new("job")
        .with_auto_shutdown(AutoShutdown::AnySignificant)
        .child(idle("progress"))
        .child_with(
            TestService::new("load", Behavior::CompleteAfter(secs(5)))
                .with_script(vec![Behavior::Fail("flaky".into())]),
            significant(),
        )
        .start()
        .await
        .expect("starts");
    tokio::time::sleep(secs(1)).await;
    assert!(job.health().is_supervising(), "a failure did not end it");
    let load = job.snapshot("job/load").expect("load");
    assert_eq!(load.total_failures, 1);
    tokio::time::timeout(secs(30), job.wait())
        .await
        .expect("ends once the restarted run completes")
        .expect("normally");
}

#[tokio::test(start_paused = true)]
async fn a_temporary_significant_child_ends_it_even_by_failing() {
    let job = SupervisorSpec::new("job")
        .with_auto_shutdown(AutoShutdown::AnySignificant)
        .child(idle("progress"))
        .child_with(
            TestService::new("once", Behavior::FailAfter(secs(2), "bad input".into())),
            significant().with_restart_policy(RestartPolicy::Never),
        )
        .start()
        .await
        .expect("starts");
    job.wait().await.expect("normally: the job ran its course");
}

#[tokio::test(start_paused = true)]
async fn stopping_a_significant_child_by_command_does_not_end_it() {
    let job = SupervisorSpec::new("job")
        .with_auto_shutdown(AutoShutdown::AnySignificant)
        .child(idle("progress"))
        .child_with(idle("load"), significant())
        .start()
        .await
        .expect("starts");
    job.stop_child("load").await.expect("stopped");
    tokio::time::sleep(secs(1)).await;
    assert!(job.health().is_supervising());
    job.shutdown();
    job.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_nested_job_ends_as_a_clean_exit_its_parent_does_not_restart() {
    let desk = SupervisorSpec::new("desk")
        .child(idle("feed"))
        .child(
            SupervisorSpec::new("import")
                .with_auto_shutdown(AutoShutdown::AnySignificant)
                .child_with(
                    TestService::new("load", Behavior::CompleteAfter(secs(5))),
                    significant(),
                ),
        )
        .start()
        .await
        .expect("starts");
    tokio::time::sleep(secs(6)).await;
    until("the job is over", || {
        desk.snapshot("desk/import")
            .is_some_and(|s| s.phase == ServicePhase::Terminated)
    })
    .await;
    let import = desk.snapshot("desk/import").expect("listed");
    assert_eq!(import.total_failures, 0, "{import:?}");
    assert_eq!(import.kind, ChildKind::Supervisor);
    assert!(desk.health().is_supervising());
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_significant_child_needs_auto_shutdown_and_a_policy_that_ends() {
    // Under a supervisor that never shuts down by itself.
    let error = SupervisorSpec::new("job")
        .child_with(idle("load"), significant())
        .validate()
        .expect_err("rejected");
    assert!(
        matches!(&error, SupervisorError::Spawn { source: SpawnError::InvalidChildSpec { service, .. }, .. } if service == "load"),
        "{error}"
    );
    // Permanent.
    let error = SupervisorSpec::new("job")
        .with_auto_shutdown(AutoShutdown::AllSignificant)
        .child_with(
            idle("load"),
            significant().with_restart_policy(RestartPolicy::Always),
        )
        .validate()
        .expect_err("rejected");
    assert!(error.to_string().contains("always"), "{error}");
    // Added at run time: the same check.
    let running = SupervisorSpec::new("plain")
        .child(idle("feed"))
        .start()
        .await
        .expect("starts");
    assert!(matches!(
        running.add_child_with(idle("load"), significant()),
        Err(SpawnError::InvalidChildSpec { .. })
    ));
    running.shutdown();
    running.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_significant_child_that_fails_as_a_critical_one_escalates_instead() {
    let job = SupervisorSpec::new("job")
        .with_auto_shutdown(AutoShutdown::AnySignificant)
        .child(idle("progress"))
        .child_with(
            TestService::new("load", Behavior::FailAfter(ms(10), "corrupt".into())),
            significant()
                .with_restart_policy(RestartPolicy::Never)
                .with_critical(true),
        )
        .start()
        .await
        .expect("starts");
    let result = job.wait().await;
    assert!(
        matches!(result, Err(SupervisorError::CriticalChildTerminated { .. })),
        "{result:?}"
    );
}
