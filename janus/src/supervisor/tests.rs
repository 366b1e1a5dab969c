//! Tests that need the supervisor's internals.

use std::sync::Mutex;

use tracing_subscriber::layer::SubscriberExt as _;

use super::*;
use crate::testing::{Behavior, TestService};

fn quiet() -> JanusSupervisor {
    JanusSupervisor::new_with_metrics(SupervisorConfig::default(), JanusMetrics::new())
}

// §3.11 — a signal handler that cannot be installed still drains the
// services, then reports the error. The seed returned at once, leaving them
// running.
#[tokio::test(start_paused = true)]
async fn failed_signal_handler_still_drains() {
    let sup = quiet();
    let (svc, probe) = TestService::failing("svc", 0);
    sup.spawn_service(Box::new(svc)).expect("spawn");
    tokio::task::yield_now().await;
    let error = sup
        .run_with_signals(Some(Err(std::io::Error::other("no signals here"))))
        .await
        .expect_err("handler failure is reported");
    assert!(
        format!("{error:#}").contains("no signals here"),
        "{error:#}"
    );
    assert_eq!(probe.cancellations_seen(), 1);
    assert_eq!(sup.snapshots()[0].phase, ServicePhase::Terminated);
    assert_eq!(sup.metrics().snapshot().active_services, 0);
}

// §3.8 — each service's state has its own lock: while one service's slot is
// locked, another service still transitions and can be read. Under the
// seed's single map lock, this test would deadlock.
#[tokio::test(start_paused = true)]
async fn service_state_is_locked_per_service() {
    let sup = quiet();
    for name in ["a", "b"] {
        sup.spawn_service(Box::new(TestService::failing(name, 0).0))
            .expect("spawn");
    }
    let a = sup.handle.core.slot("a").expect("a");
    let b = sup.handle.core.slot("b").expect("b");
    a.with(|_locked_a, _| {
        b.with(|state, tx| {
            let now = tokio::time::Instant::now();
            state.stop_for_shutdown(tx, now);
        });
        assert_eq!(b.phase(), ServicePhase::Stopping);
    });
    assert!(a.phase().is_alive());
}

#[derive(Default, Clone)]
struct SpanLog(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanLog {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={value:?}", field.name()));
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.0.push_str(&format!(" {}={value}", field.name()));
            }
        }
        let mut fields = Fields(attrs.metadata().name().to_owned());
        attrs.record(&mut fields);
        self.0.lock().expect("log").push(fields.0);
    }
}

// A span per attempt, with `service` and `attempt`.
#[tokio::test(start_paused = true)]
async fn one_span_per_attempt() {
    let log = SpanLog::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(log.clone()));
    let sup = JanusSupervisor::new_with_metrics(
        SupervisorConfig::default().with_default_backoff(BackoffConfig::new(
            Duration::from_millis(10),
            Duration::from_millis(10),
        )),
        JanusMetrics::new(),
    );
    let svc = TestService::new("traced", Behavior::RunUntilCancelled)
        .with_script(vec![Behavior::Fail("x".into())]);
    sup.spawn_service(Box::new(svc)).expect("spawn");
    tokio::time::sleep(Duration::from_secs(1)).await;
    sup.wait_for_drain().await;
    let spans: Vec<String> = log
        .0
        .lock()
        .expect("log")
        .iter()
        .filter(|s| s.starts_with("service "))
        .cloned()
        .collect();
    assert_eq!(
        spans,
        [
            "service service=traced attempt=1",
            "service service=traced attempt=2"
        ]
    );
}

// A removed child's slot is freed, and the registry's holes are filled in:
// a hundred thousand short-lived children leave nothing behind.
#[tokio::test(start_paused = true)]
async fn removed_children_free_their_memory() {
    let sup = quiet();
    let handle = sup.handle();
    sup.spawn_service(Box::new(TestService::new(
        "first",
        Behavior::RunUntilCancelled,
    )))
    .expect("spawn");
    let first = Arc::downgrade(&sup.handle.core.slot("first").expect("listed"));
    handle.remove_child("first").await.expect("removed");
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(first.upgrade().is_none(), "the slot was freed");
    for i in 0..100_000 {
        let name = format!("job-{i}");
        sup.spawn_service(Box::new(TestService::new(name.clone(), Behavior::Complete)))
            .expect("spawn");
        if i % 1000 == 999 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            for j in i - 999..=i {
                handle
                    .delete_child(&format!("job-{j}"))
                    .await
                    .expect("deleted");
            }
        }
    }
    assert_eq!(sup.handle.core.len(), 0);
    assert!(sup.handle.core.positions() <= 2 * 64, "holes filled in");
}

// A control loop that panics (a bug in Janus) never leaves its tree
// half-stopped while reporting itself healthy: its children are aborted,
// and the supervisor fails with a typed error.
#[tokio::test(start_paused = true)]
async fn a_failing_control_loop_fails_its_tree() {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (idle, probe) = TestService::ignoring_cancellation("stubborn");
    let tree = crate::tree::SupervisorSpec::new("tree")
        .child(idle)
        .start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let answer = tree.stop_child(crate::engine::FAULT).await;
    std::panic::set_hook(quiet);
    assert_eq!(answer, Err(crate::tree::ControlError::ShuttingDown));
    let error = tree.wait().await.expect_err("failed");
    assert!(
        matches!(error, crate::tree::SupervisorError::Internal { .. }),
        "{error}"
    );
    assert!(matches!(tree.health(), crate::tree::Health::Failed(_)));
    assert_eq!(probe.running(), 0, "its children were aborted");
    assert_eq!(
        tree.snapshot("tree/stubborn").map(|s| s.phase),
        Some(ServicePhase::Terminated)
    );
}
