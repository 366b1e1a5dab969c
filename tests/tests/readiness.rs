//! Readiness and heartbeats, on tokio's paused clock.

use std::time::Duration;

use janus::lifecycle::ServicePhase;
use janus::metrics::JanusMetrics;
use janus::prelude::*;
use janus::tree::{StartOrder, SupervisorHandle};
use tests_integration::ms;
use tokio::time::sleep;

async fn start(spec: SupervisorSpec) -> SupervisorHandle {
    spec.start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid tree")
}

fn ready(handle: &SupervisorHandle, path: &str) -> bool {
    handle.snapshot(path).expect("listed").ready
}

/// Says it is ready once its warm-up is done.
struct Cache;

#[janus::async_trait]
impl JanusService for Cache {
    fn name(&self) -> &str {
        "cache"
    }
    fn reports_readiness(&self) -> bool {
        true
    }
    async fn run(&self, cancel: CancellationToken) -> janus::Result<()> {
        sleep(ms(500)).await;
        janus::context::mark_ready();
        cancel.cancelled().await;
        Ok(())
    }
}

#[janus::service(every = "1s")]
async fn plain() -> janus::Result<()> {
    Ok(())
}

#[janus::service]
struct Feed;

#[janus::service]
impl Feed {
    #[on_start]
    async fn connect(&self) -> janus::Result<()> {
        sleep(ms(300)).await;
        Ok(())
    }

    #[step(every = "100ms")]
    async fn poll(&self) -> janus::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn readiness_is_explicit_after_on_start_or_at_once() {
    // All at once: each one's readiness is watched side by side.
    let handle = start(
        SupervisorSpec::new("app")
            .with_start_order(StartOrder::Concurrent)
            .child(Cache)
            .child(plain())
            .child(Feed),
    )
    .await;
    sleep(ms(100)).await;
    assert!(!ready(&handle, "app/cache"), "not before mark_ready");
    assert!(
        ready(&handle, "app/plain"),
        "services that do not opt in are ready when running"
    );
    assert!(!ready(&handle, "app/feed"), "on_start still connecting");
    sleep(ms(500)).await;
    assert!(ready(&handle, "app/cache"));
    assert!(ready(&handle, "app/feed"));
    handle.shutdown();
    handle.wait().await.expect("clean");
    assert!(
        handle.snapshots().iter().all(|s| !s.ready),
        "terminated services are not ready"
    );
}

/// Steps every 100 ms; the fourth step hangs for a minute.
#[janus::service(heartbeat_timeout = "1s", backoff(base = "2s", max = "2s"))]
struct Hanger {
    steps: std::sync::atomic::AtomicU64,
}

#[janus::service]
impl Hanger {
    #[step(every = "100ms")]
    async fn step(&self) -> janus::Result<()> {
        let n = self.steps.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if n == 4 {
            sleep(Duration::from_secs(60)).await;
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_missed_heartbeat_is_a_failure_handled_by_policy() {
    let handle = start(SupervisorSpec::new("app").child(Hanger {
        steps: std::sync::atomic::AtomicU64::new(0),
    }))
    .await;
    // Steps at 0, 100, 200 ms beat; the step at 300 ms hangs. The deadline is
    // one second after the last beat (the end of the step at 200 ms).
    sleep(ms(1150)).await;
    let snap = handle.snapshot("app/hanger").expect("listed");
    assert_eq!(
        snap.phase,
        ServicePhase::Running,
        "still within the deadline"
    );
    sleep(ms(100)).await;
    let snap = handle.snapshot("app/hanger").expect("listed");
    assert_eq!(snap.phase, ServicePhase::BackingOff);
    assert_eq!(
        snap.last_error.as_deref(),
        Some("missed its heartbeat deadline (1s without a heartbeat)")
    );
    sleep(Duration::from_secs(3)).await;
    let snap = handle.snapshot("app/hanger").expect("listed");
    assert_eq!((snap.phase, snap.start_count), (ServicePhase::Running, 2));
    handle.shutdown();
    handle.wait().await.expect("clean");
}

/// A hand-written service that beats from its own loop.
struct Beater;

#[janus::async_trait]
impl JanusService for Beater {
    fn name(&self) -> &str {
        "beater"
    }
    fn heartbeat_timeout(&self) -> Option<Duration> {
        Some(ms(500))
    }
    async fn run(&self, cancel: CancellationToken) -> janus::Result<()> {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = sleep(ms(200)) => janus::context::heartbeat(),
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn regular_heartbeats_keep_a_service_alive() {
    let handle = start(SupervisorSpec::new("app").child(Beater)).await;
    sleep(Duration::from_secs(30)).await;
    let snap = handle.snapshot("app/beater").expect("listed");
    assert_eq!(
        (snap.phase, snap.start_count, snap.total_failures),
        (ServicePhase::Running, 1, 0)
    );
    handle.shutdown();
    handle.wait().await.expect("clean");
}

/// Records where it runs: at start, after yielding to the runtime, and when
/// its run is dropped by an abort or completes; then fails once by panicking.
struct Whereabouts {
    seen: std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>,
}

struct RecordOnDrop(std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>);

impl Drop for RecordOnDrop {
    fn drop(&mut self) {
        self.0
            .lock()
            .expect("seen")
            .push(janus::context::current_path());
    }
}

#[janus::async_trait]
impl JanusService for Whereabouts {
    fn name(&self) -> &str {
        "whereabouts"
    }
    fn backoff_config(&self) -> Option<janus::backoff::BackoffConfig> {
        Some(janus::backoff::BackoffConfig::immediate())
    }
    async fn run(&self, cancel: CancellationToken) -> janus::Result<()> {
        let _guard = RecordOnDrop(self.seen.clone());
        self.seen
            .lock()
            .expect("seen")
            .push(janus::context::current_path());
        tokio::task::yield_now().await;
        self.seen
            .lock()
            .expect("seen")
            .push(janus::context::current_path());
        if self.seen.lock().expect("seen").len() < 4 {
            panic!("once");
        }
        cancel.cancelled().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_service_context_is_set_for_its_run_only() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let handle = start(
        SupervisorSpec::new("app")
            .child(SupervisorSpec::new("inner").child(Whereabouts { seen: seen.clone() })),
    )
    .await;
    sleep(ms(10)).await;
    // Outside the service, on the same thread (a current-thread runtime):
    // nothing, not even after a run of it panicked here.
    assert_eq!(janus::context::current_path(), None);
    assert_eq!(
        tokio::spawn(async { janus::context::current_path() })
            .await
            .expect("plain task"),
        None
    );
    handle.shutdown();
    handle.wait().await.expect("clean");
    let path = Some("app/inner/whereabouts".to_owned());
    // First run: start, after yield, the drop of its state as it panicked;
    // second run: start, after yield, the drop at shutdown.
    assert_eq!(*seen.lock().expect("seen"), vec![path; 6]);
    assert_eq!(janus::context::current_path(), None);
}
