//! The floor: raw tokio, as a careful user would write it without a
//! supervisor. A `TaskTracker` and `CancellationToken`s; a restart is a loop
//! over the `JoinHandle`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{Churn, Fleet, Measurement, Running, Workload};

fn spawn_idle(
    tracker: &TaskTracker,
    token: &CancellationToken,
    running: &Arc<Running>,
    cancelled: &Arc<AtomicUsize>,
) {
    let (token, running, cancelled) = (token.child_token(), running.clone(), cancelled.clone());
    tracker.spawn(async move {
        running.report();
        token.cancelled().await;
        cancelled.fetch_add(1, Ordering::Relaxed);
    });
}

pub(crate) async fn run(workload: Workload, n: usize) -> anyhow::Result<Measurement> {
    match workload {
        Workload::Spawn | Workload::Shutdown | Workload::Memory => {
            let mut fleet = Fleet::new(n);
            let tracker = TaskTracker::new();
            let token = CancellationToken::new();
            let started = Instant::now();
            for _ in 0..n {
                spawn_idle(&tracker, &token, &fleet.running, &fleet.cancelled);
            }
            let stopping = fleet.all_running(started).await;
            token.cancel();
            tracker.close();
            tracker.wait().await;
            fleet.measurement(workload, stopping)
        }
        Workload::RestartChurn | Workload::PanicChurn | Workload::MacroChurn => {
            let churn = Churn::new(n);
            let panics = workload == Workload::PanicChurn;
            let token = CancellationToken::new();
            let supervisor = {
                let (churn, token) = (churn.clone(), token.clone());
                tokio::spawn(async move {
                    loop {
                        let (churn, token) = (churn.clone(), token.clone());
                        let run = tokio::spawn(async move {
                            if churn.run_should_fail() {
                                if panics {
                                    panic!("churn");
                                }
                                return Err(crate::failure());
                            }
                            token.cancelled().await;
                            Ok(())
                        });
                        match run.await {
                            Ok(Ok(())) => return,
                            Ok(Err(_)) | Err(_) => continue,
                        }
                    }
                })
            };
            churn.done.notified().await;
            token.cancel();
            supervisor.await?;
            Ok(churn.measurement(n))
        }
        Workload::Tree | Workload::TreeConcurrent => tree(n).await,
    }
}

/// 100 groups of n/100 tasks; one group is cancelled, awaited and respawned:
/// the raw equivalent of a `one_for_all` restart.
async fn tree(n: usize) -> anyhow::Result<Measurement> {
    const GROUPS: usize = 100;
    let per_group = n / GROUPS;
    let root = CancellationToken::new();
    let running = Running::new(n);
    let cancelled = Arc::new(AtomicUsize::new(0));
    let mut groups: Vec<(CancellationToken, TaskTracker)> = Vec::new();
    for _ in 0..GROUPS {
        let token = root.child_token();
        let tracker = TaskTracker::new();
        for _ in 0..per_group {
            spawn_idle(&tracker, &token, &running, &cancelled);
        }
        groups.push((token, tracker));
    }
    running.all.notified().await;
    let started = Instant::now();
    let (token, tracker) = &groups[GROUPS / 2];
    running.expect_more(per_group);
    token.cancel();
    tracker.close();
    tracker.wait().await;
    let fresh = root.child_token();
    let tracker = TaskTracker::new();
    for _ in 0..per_group {
        spawn_idle(&tracker, &fresh, &running, &cancelled);
    }
    running.all.notified().await;
    let elapsed = started.elapsed();
    root.cancel();
    for (_, t) in &groups {
        t.close();
        t.wait().await;
    }
    tracker.close();
    tracker.wait().await;
    Ok(Measurement::value(elapsed.as_secs_f64() * 1e3))
}
