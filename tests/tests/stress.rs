//! Real-clock stress on the multi-thread runtime: 10,000 services restarting
//! as fast as they can for a few seconds, while snapshots, metrics and
//! handle commands run concurrently. Asserts invariants, never timings: no
//! deadlock (a generous hang guard), no panic, counters consistent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use janus::lifecycle::ServicePhase;
use janus::metrics::JanusMetrics;
use janus::supervisor::BackoffConfig;
use janus::testing::{Behavior, Probe, TestService};
use janus::tree::{StartOrder, SupervisorHandle, SupervisorSpec};

const GROUPS: usize = 10;
const PER_GROUP: usize = 1_000;
const CHURN: Duration = Duration::from_secs(3);
const HANG_GUARD: Duration = Duration::from_secs(120);

fn churning(name: String) -> TestService {
    TestService::new(
        name,
        Behavior::FailAfter(Duration::from_millis(1), "churn".into()),
    )
    .with_backoff(BackoffConfig::immediate())
}

async fn concurrently(
    handle: SupervisorHandle,
    metrics: JanusMetrics,
    stop: Arc<AtomicBool>,
) -> u64 {
    let calls = Arc::new(AtomicU64::new(0));
    let snapshots = {
        let (handle, stop, calls) = (handle.clone(), stop.clone(), calls.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let snapshots = handle.snapshots();
                // A group being restarted lists its children again once they are re-registered.
                assert!(snapshots.len() >= GROUPS);
                calls.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };
    let scrapes = {
        let (stop, calls) = (stop.clone(), calls.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                assert!(
                    metrics
                        .encode()
                        .contains("janus_supervisor_active_services")
                );
                calls.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let commands = {
        let (stop, calls) = (stop.clone(), calls.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let group = format!("group-{}", n % GROUPS);
                handle.restart_child(&group).await.expect("restart a group");
                handle
                    .add_child(churning(format!("extra-{n}")))
                    .expect("add a child");
                handle
                    .stop_child(&format!("extra-{n}"))
                    .await
                    .expect("stop it");
                calls.fetch_add(3, Ordering::Relaxed);
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    for task in [snapshots, scrapes, commands] {
        task.await.expect("no panic in the concurrent callers");
    }
    calls.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_services_churning_under_concurrent_control() {
    let mut probes: Vec<Probe> = Vec::new();
    // Concurrent start: this test is about churn. (Started in order, each
    // child would wait for a runtime busy with the churn of those before.)
    let mut root = SupervisorSpec::new("stress")
        .without_intensity_limit()
        .with_start_order(StartOrder::Concurrent);
    for g in 0..GROUPS {
        let mut group = SupervisorSpec::new(format!("group-{g}"))
            .without_intensity_limit()
            .with_start_order(StartOrder::Concurrent);
        for i in 0..PER_GROUP {
            let service = churning(format!("svc-{i}"));
            probes.push(service.probe());
            group = group.child(service);
        }
        root = root.child(group);
    }
    let metrics = JanusMetrics::new();
    let handle = root
        .start_with_metrics(metrics.clone())
        .await
        .expect("valid tree");
    let stop = Arc::new(AtomicBool::new(false));
    let callers = tokio::spawn(concurrently(handle.clone(), metrics.clone(), stop.clone()));
    tokio::time::sleep(CHURN).await;
    stop.store(true, Ordering::Relaxed);
    let calls = tokio::time::timeout(HANG_GUARD, callers)
        .await
        .expect("callers finish: no deadlock")
        .expect("no panic");

    handle.shutdown();
    let report = tokio::time::timeout(HANG_GUARD, handle.wait())
        .await
        .expect("the tree stops: no deadlock")
        .expect("the root never gives up");
    assert!(report.is_clean(), "{report}");

    let restarts = handle.metrics().snapshot().restarts_total;
    let runs: u64 = probes.iter().map(Probe::starts).sum();
    assert!(
        runs > (GROUPS * PER_GROUP) as u64,
        "services churned: {runs} runs"
    );
    assert!(
        probes.iter().all(|p| p.running() == 0),
        "service code still running"
    );
    assert!(
        handle
            .snapshots()
            .iter()
            .all(|s| s.phase == ServicePhase::Terminated),
        "every service terminated"
    );
    assert_eq!(metrics.spawned_total(), metrics.terminated_total());
    assert_eq!(metrics.active_services(), 0);
    eprintln!("stress: {runs} runs, {restarts} root-level restarts, {calls} concurrent calls");
}
