//! The Prometheus series read from the tree's state: failures of each
//! service (a restart caused by a sibling is not a failure), its phase and
//! its readiness.

use janus::metrics::JanusMetrics;
use janus::supervisor::BackoffConfig;
use janus::testing::{Behavior, TestService};
use janus::tree::{Strategy, SupervisorSpec};
use tests_integration::ms;

#[tokio::test(start_paused = true)]
async fn failures_phase_and_readiness_per_service() {
    let metrics = JanusMetrics::new();
    let boom = || Behavior::FailAfter(ms(20), "boom".into());
    let flaky =
        TestService::new("flaky", Behavior::RunUntilCancelled).with_script(vec![boom(), boom()]);
    let desk = SupervisorSpec::new("desk")
        .with_strategy(Strategy::OneForAll)
        .with_backoff(BackoffConfig::new(ms(10), ms(10)))
        .child(flaky)
        .child(TestService::new("sibling", Behavior::RunUntilCancelled))
        .start_with_metrics(metrics.clone())
        .await
        .expect("starts");
    tokio::time::sleep(ms(100)).await;
    // Two failures of its own; the sibling restarted with it twice.
    assert_eq!(metrics.failures_total("desk/flaky"), 2);
    assert_eq!(metrics.failures_total("desk/sibling"), 0);
    assert_eq!(metrics.restarts_total("desk/sibling"), 2);
    let text = metrics.encode();
    assert!(
        !text.contains(r#"janus_service_phase{phase="backing_off",service="desk/flaky"}"#),
        "only the phase it is in"
    );
    for line in [
        r#"janus_service_failures_total{service="desk/flaky"} 2"#,
        r#"janus_service_failures_total{service="desk/sibling"} 0"#,
        r#"janus_service_phase{phase="running",service="desk/flaky"} 1"#,
        r#"janus_service_ready{service="desk/sibling"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    desk.shutdown();
    desk.wait().await.expect("stops");
    let text = metrics.encode();
    assert!(
        text.lines()
            .any(|l| l == r#"janus_service_phase{phase="terminated",service="desk/flaky"} 1"#),
        "{text}"
    );
    // Once the tree is gone, its services leave the exposition.
    drop(desk);
    assert!(!metrics.encode().contains("janus_service_phase{"));
}

#[tokio::test(start_paused = true)]
async fn the_per_service_state_series_can_be_turned_off() {
    let metrics = JanusMetrics::new().with_service_states(false);
    let desk = SupervisorSpec::new("desk")
        .child(TestService::new("feed", Behavior::RunUntilCancelled))
        .start_with_metrics(metrics.clone())
        .await
        .expect("starts");
    let text = metrics.encode();
    assert!(!text.contains("janus_service_"), "{text}");
    assert!(
        text.contains("janus_supervisor_active_services 1"),
        "{text}"
    );
    desk.shutdown();
    desk.wait().await.expect("stops");
}
