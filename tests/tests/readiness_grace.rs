//! Readiness that does not flap: which children gate the tree's readiness
//! (by default the critical ones; either way by choice), and a grace
//! period measured from the end of a child's last ready run.

use janus::supervisor::BackoffConfig;
use janus::testing::{Behavior, TestService};
use janus::tree::{ChildOptions, SupervisorSpec};
use tests_integration::{ms, secs, until};

fn critical() -> ChildOptions {
    ChildOptions::new().with_critical(true)
}

/// Runs 10 s, fails, and is restarted after `backoff`; forever.
fn flaky(backoff: std::time::Duration) -> TestService {
    TestService::new("feed", Behavior::FailAfter(secs(10), "dropped".into()))
        .with_backoff(BackoffConfig::new(backoff, backoff).without_circuit_breaker())
}

#[tokio::test(start_paused = true)]
async fn without_a_grace_a_critical_child_backing_off_makes_the_tree_unready_at_once() {
    let desk = SupervisorSpec::new("desk")
        .without_intensity_limit()
        .child_with(flaky(secs(1)), critical())
        .start()
        .await
        .expect("starts");
    assert!(desk.is_ready());
    tokio::time::sleep(ms(10_001)).await;
    until("it failed", || !desk.is_ready()).await;
    let names: Vec<String> = desk.not_ready().into_iter().map(|s| s.path).collect();
    assert_eq!(names, ["desk/feed"]);
    tokio::time::sleep(secs(1)).await;
    until("restarted", || desk.is_ready()).await;
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_restart_within_the_grace_keeps_the_tree_ready() {
    let desk = SupervisorSpec::new("desk")
        .without_intensity_limit()
        .with_readiness_grace(secs(5))
        .child_with(flaky(secs(1)), critical())
        .start()
        .await
        .expect("starts");
    // Probed every 100 ms across three failures and restarts: never unready.
    for _ in 0..330 {
        assert!(desk.is_ready(), "{:?}", desk.not_ready());
        tokio::time::sleep(ms(100)).await;
    }
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_child_down_longer_than_the_grace_makes_the_tree_unready() {
    // Runs a second, then fails at once, every time, with short backoffs:
    // each is well within the grace, but each run is shorter than the
    // outage before it, so the outage goes on from the first failure.
    let looping = TestService::new("feed", Behavior::Fail("down".into()))
        .with_script(vec![Behavior::FailAfter(secs(1), "down".into())])
        .with_backoff(BackoffConfig::new(ms(100), ms(100)).without_circuit_breaker());
    let desk = SupervisorSpec::new("desk")
        .without_intensity_limit()
        .with_readiness_grace(secs(5))
        .child_with(looping, critical())
        .start()
        .await
        .expect("starts");
    tokio::time::sleep(secs(1)).await;
    // Failed at 1 s: ready within the grace, until 6 s.
    tokio::time::sleep(ms(4_900)).await;
    assert!(desk.is_ready(), "within the grace");
    tokio::time::sleep(ms(200)).await;
    assert!(!desk.is_ready(), "5 s without a ready run");
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn gating_readiness_is_separate_from_being_critical() {
    let desk = SupervisorSpec::new("desk")
        .without_intensity_limit()
        // Critical, but its restarts do not make the service unready.
        .child_with(flaky(secs(1)), critical().with_gates_readiness(false))
        // Not critical, but the service is not ready without it.
        .child_with(
            TestService::new("cache", Behavior::FailAfter(secs(15), "evicted".into()))
                .with_backoff(BackoffConfig::new(secs(2), secs(2)).without_circuit_breaker()),
            ChildOptions::new().with_gates_readiness(true),
        )
        .start()
        .await
        .expect("starts");
    tokio::time::sleep(ms(10_500)).await;
    assert!(desk.is_ready(), "feed backs off, and does not gate");
    tokio::time::sleep(secs(5)).await;
    let names: Vec<String> = desk.not_ready().into_iter().map(|s| s.path).collect();
    assert_eq!(names, ["desk/cache"]);
    desk.shutdown();
    desk.wait().await.expect("stops");
}
