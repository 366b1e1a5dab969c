//! A circuit breaker that heals (`reset_after`): open, the service waits,
//! then gets one trial run (half-open); a trial that fails early opens the
//! circuit again, one that completes or lasts its cooldown closes it.

use std::time::Duration;

use janus::lifecycle::ServicePhase;
use janus::supervisor::{BackoffConfig, RestartPolicy};
use janus::testing::{Behavior, TestService};
use janus::tree::SupervisorSpec;
use tests_integration::{ms, secs, until};

/// Three restarts within a minute open the circuit; a trial after five.
fn healing() -> BackoffConfig {
    BackoffConfig::new(ms(100), ms(100))
        .with_cooldown(secs(10))
        .with_circuit_breaker(3, secs(60))
        .with_reset_after(secs(300))
}

fn fail() -> Behavior {
    Behavior::Fail("down".into())
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_waits_then_tries_once_and_opens_again_on_an_early_failure() {
    let feed = TestService::new("feed", fail()).with_backoff(healing());
    let probe = feed.probe();
    let desk = SupervisorSpec::new("desk")
        .without_intensity_limit()
        .child(feed)
        .start()
        .await
        .expect("starts");
    // Two restarts after 100 ms each; the third failure opens the circuit.
    tokio::time::sleep(secs(1)).await;
    assert_eq!(probe.starts(), 3);
    let snapshot = desk.snapshot("desk/feed").expect("listed");
    assert_eq!(snapshot.phase, ServicePhase::BackingOff, "not given up");
    assert!(
        snapshot
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("down")),
        "{snapshot:?}"
    );
    assert_eq!(desk.metrics().snapshot().circuit_breaker_trips, 1);
    assert!(desk.health().is_supervising());

    // The trial comes after `reset_after`, fails at once: open again.
    tokio::time::sleep(secs(299)).await;
    assert_eq!(probe.starts(), 3, "still open");
    tokio::time::sleep(secs(1)).await;
    until("the trial ran", || probe.starts() == 4).await;
    tokio::time::sleep(secs(299)).await;
    assert_eq!(probe.starts(), 4, "open again for another reset_after");
    tokio::time::sleep(secs(2)).await;
    assert_eq!(probe.starts(), 5, "and a second trial");
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_trial_that_lasts_its_cooldown_closes_the_circuit() {
    // Fails three times (open), then its trial runs 15 s (> the 10 s
    // cooldown) and fails: the circuit closed, so an ordinary restart.
    let feed = TestService::new("feed", Behavior::RunUntilCancelled)
        .with_script(vec![
            fail(),
            fail(),
            fail(),
            Behavior::FailAfter(secs(15), "late".into()),
        ])
        .with_backoff(healing());
    let probe = feed.probe();
    let desk = SupervisorSpec::new("desk")
        .without_intensity_limit()
        .child(feed)
        .start()
        .await
        .expect("starts");
    tokio::time::sleep(secs(301)).await;
    assert_eq!(probe.starts(), 4, "the trial runs");
    tokio::time::sleep(secs(15)).await;
    until("restarted after the base delay", || probe.starts() == 5).await;
    let gaps = probe.restart_gaps();
    assert_eq!(gaps.last(), Some(&ms(15_100)), "{gaps:?}");
    assert_eq!(
        desk.snapshot("desk/feed").map(|s| s.phase),
        Some(ServicePhase::Running)
    );
    assert_eq!(desk.metrics().snapshot().circuit_breaker_trips, 1);
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_trial_that_completes_closes_the_circuit() {
    // `always`: a clean exit is restarted too; three failures open the
    // circuit, the trial completes, and the next failures start a new
    // window (three more before it opens again).
    let feed = TestService::new("feed", fail())
        .with_script(vec![fail(), fail(), fail(), Behavior::Complete])
        .with_restart_policy(RestartPolicy::Always)
        .with_backoff(healing());
    let probe = feed.probe();
    let desk = SupervisorSpec::new("desk")
        .without_intensity_limit()
        .child(feed)
        .start()
        .await
        .expect("starts");
    tokio::time::sleep(secs(301)).await;
    // The trial completed: restarted after the base delay, in a fresh
    // window where its completion is the first restart; two failures more
    // and it opens again.
    tokio::time::sleep(secs(1)).await;
    assert_eq!(
        probe.restart_gaps(),
        [ms(100), ms(100), secs(300), ms(100), ms(100)]
    );
    assert_eq!(desk.metrics().snapshot().circuit_breaker_trips, 2);
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn restart_child_on_an_open_circuit_starts_it_with_a_clean_window() {
    let feed = TestService::new("feed", Behavior::RunUntilCancelled)
        .with_script(vec![fail(), fail(), fail(), fail()])
        .with_backoff(healing());
    let probe = feed.probe();
    let desk = SupervisorSpec::new("desk")
        .without_intensity_limit()
        .child(feed)
        .start()
        .await
        .expect("starts");
    tokio::time::sleep(secs(1)).await;
    assert_eq!(probe.starts(), 3, "open");
    desk.restart_child("feed").await.expect("restarted");
    // Its fourth run fails: the first failure of a clean window, restarted
    // after the base delay rather than opening the circuit.
    tokio::time::sleep(ms(150)).await;
    assert_eq!(probe.starts(), 5);
    assert_eq!(
        desk.snapshot("desk/feed").map(|s| s.phase),
        Some(ServicePhase::Running)
    );
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[test]
fn a_zero_reset_after_is_refused() {
    let config = BackoffConfig::default().with_reset_after(Duration::ZERO);
    assert_eq!(
        config.validate().map_err(|e| e.to_string()),
        Err("circuit breaker reset_after must not be zero".into())
    );
}
