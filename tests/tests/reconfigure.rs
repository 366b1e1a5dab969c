//! Runtime reconfiguration: a running supervisor's intensity, default
//! backoff and default shutdown timeout change through its handle, from
//! its next decision on; children with settings of their own keep them.

use std::time::Duration;

use janus::lifecycle::ServicePhase;
use janus::supervisor::BackoffConfig;
use janus::testing::{Behavior, TestService};
use janus::tree::{ControlError, Reconfiguration, SupervisorError, SupervisorSpec};
use tests_integration::{ms, secs, until};

fn idle(name: &str) -> TestService {
    TestService::new(name, Behavior::RunUntilCancelled)
}

#[tokio::test(start_paused = true)]
async fn a_lowered_intensity_applies_at_the_next_restart() {
    // Fails every 100 ms, restarted at once: 3 restarts fit within 10/60 s.
    let flaky = TestService::new("flaky", Behavior::FailAfter(ms(100), "boom".into()))
        .with_backoff(BackoffConfig::immediate());
    let probe = flaky.probe();
    let desk = SupervisorSpec::new("desk")
        .child(flaky)
        .start()
        .await
        .expect("starts");
    tokio::time::sleep(ms(350)).await;
    assert_eq!(probe.starts(), 4);
    assert!(desk.health().is_supervising());

    // 3 restarts are in the window already: the next one is one too many.
    desk.reconfigure(Reconfiguration::new().with_intensity(3, secs(60)))
        .await
        .expect("reconfigured");
    let result = tokio::time::timeout(secs(1), desk.wait())
        .await
        .expect("gives up at the next failure");
    assert!(
        matches!(
            result,
            Err(SupervisorError::IntensityExceeded { restarts: 4, .. })
        ),
        "{result:?}"
    );
    assert_eq!(probe.starts(), 4, "not restarted once more");
}

#[tokio::test(start_paused = true)]
async fn a_raised_intensity_lets_the_supervisor_ride_out_a_storm() {
    let flaky = TestService::new("flaky", Behavior::FailAfter(ms(100), "boom".into()))
        .with_backoff(BackoffConfig::immediate());
    let desk = SupervisorSpec::new("desk")
        .with_intensity(2, secs(60))
        .child(flaky)
        .start()
        .await
        .expect("starts");
    desk.reconfigure(Reconfiguration::new().without_intensity_limit())
        .await
        .expect("reconfigured");
    tokio::time::sleep(secs(2)).await;
    assert!(desk.health().is_supervising(), "{:?}", desk.health());
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn the_default_backoff_applies_to_children_without_their_own() {
    let follows = TestService::new("follows", Behavior::FailAfter(ms(10), "boom".into()));
    let follows_probe = follows.probe();
    let own = TestService::new("own", Behavior::FailAfter(ms(10), "boom".into()))
        .with_backoff(BackoffConfig::new(ms(100), ms(100)).without_circuit_breaker());
    let own_probe = own.probe();
    let desk = SupervisorSpec::new("desk")
        .without_intensity_limit()
        .with_backoff(BackoffConfig::new(ms(100), ms(100)))
        .child(follows)
        .child(own)
        .start()
        .await
        .expect("starts");
    desk.reconfigure(Reconfiguration::new().with_backoff(BackoffConfig::new(secs(5), secs(5))))
        .await
        .expect("reconfigured");
    tokio::time::sleep(secs(2)).await;
    // `own` kept restarting every 110 ms; `follows` waits 5 s now.
    assert!(own_probe.starts() > 10, "{}", own_probe.starts());
    assert_eq!(follows_probe.starts(), 1);
    tokio::time::sleep(secs(4)).await;
    assert_eq!(follows_probe.starts(), 2);
    assert_eq!(follows_probe.restart_gaps(), [ms(5_010)]);
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn the_default_shutdown_timeout_applies_from_the_next_stop() {
    let (stuck, _) = TestService::ignoring_cancellation("stuck");
    let (stuck_own, _) = TestService::ignoring_cancellation("stuck-own");
    let desk = SupervisorSpec::new("desk")
        .with_shutdown_timeout(secs(30))
        .child(stuck)
        .child(stuck_own.with_shutdown_timeout(secs(3)))
        .start()
        .await
        .expect("starts");
    desk.reconfigure(Reconfiguration::new().with_shutdown_timeout(secs(1)))
        .await
        .expect("reconfigured");
    assert_eq!(
        desk.snapshot("desk/stuck")
            .and_then(|s| s.shutdown_timeout_ms),
        Some(1_000)
    );
    let started = tokio::time::Instant::now();
    desk.stop_child("stuck").await.expect("stopped");
    assert_eq!(started.elapsed(), secs(1), "aborted after the new timeout");
    let started = tokio::time::Instant::now();
    desk.stop_child("stuck-own").await.expect("stopped");
    assert_eq!(started.elapsed(), secs(3), "its own timeout");

    // A child added now takes the new default too.
    desk.add_child(idle("late")).expect("added");
    assert_eq!(
        desk.snapshot("desk/late")
            .and_then(|s| s.shutdown_timeout_ms),
        Some(1_000)
    );
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn invalid_settings_change_nothing() {
    let desk = SupervisorSpec::new("desk")
        .child(idle("feed"))
        .start()
        .await
        .expect("starts");
    let zero = desk
        .reconfigure(
            Reconfiguration::new()
                .with_intensity(1, Duration::ZERO)
                .with_shutdown_timeout(secs(1)),
        )
        .await;
    assert!(
        matches!(zero, Err(ControlError::InvalidConfig { .. })),
        "{zero:?}"
    );
    let inverted = desk
        .reconfigure(Reconfiguration::new().with_backoff(BackoffConfig::new(secs(2), secs(1))))
        .await;
    assert!(
        matches!(inverted, Err(ControlError::InvalidConfig { .. })),
        "{inverted:?}"
    );
    assert_eq!(
        desk.snapshot("desk/feed")
            .and_then(|s| s.shutdown_timeout_ms),
        Some(30_000),
        "unchanged"
    );
    desk.shutdown();
    assert_eq!(
        desk.reconfigure(Reconfiguration::new().with_shutdown_timeout(secs(1)))
            .await,
        Err(ControlError::ShuttingDown)
    );
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_nested_supervisor_is_reconfigured_through_its_handle() {
    let desk = SupervisorSpec::new("desk")
        .child(SupervisorSpec::new("risk").child(idle("limits")))
        .start()
        .await
        .expect("starts");
    let risk = desk.supervisor("desk/risk").expect("runs");
    risk.reconfigure(Reconfiguration::new().with_shutdown_timeout(secs(2)))
        .await
        .expect("reconfigured");
    assert_eq!(
        desk.snapshot("desk/risk/limits")
            .and_then(|s| s.shutdown_timeout_ms),
        Some(2_000)
    );
    until("limits runs", || {
        desk.snapshot("desk/risk/limits")
            .is_some_and(|s| s.phase == ServicePhase::Running)
    })
    .await;
    desk.shutdown();
    desk.wait().await.expect("stops");
}
