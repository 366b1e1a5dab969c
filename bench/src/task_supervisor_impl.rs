//! task-supervisor: tasks registered on its `SupervisorBuilder` (its
//! cheapest way to start a fleet), restarted by its own loop; a clone of the
//! registered task per run, as its `SupervisedTask` contract has it. No
//! group restarts (W6 n/a).
//!
//! Its restarts always wait on a timer, even with a zero delay, so each
//! takes one tick of tokio's timer (1 ms): the churn workloads measure it
//! over [`CHURN_RESTARTS`] restarts rather than 100,000, which would take
//! minutes per run. A rate is a rate; the table's `n` is the others'.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use task_supervisor::{CancellationToken, SupervisedTask, SupervisorBuilder, TaskResult};

use crate::{Churn, Fleet, Measurement, Running, Workload};

/// Restarts measured in W3 and W5.
pub(crate) const CHURN_RESTARTS: usize = 2_000;

#[derive(Clone)]
struct Idle {
    running: Arc<Running>,
    cancelled: Arc<AtomicUsize>,
}

impl SupervisedTask for Idle {
    async fn run(self, cancel: CancellationToken) -> TaskResult {
        self.running.report();
        cancel.cancelled().await;
        self.cancelled.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[derive(Clone)]
struct Churning {
    churn: Arc<Churn>,
    panics: bool,
}

impl SupervisedTask for Churning {
    async fn run(self, cancel: CancellationToken) -> TaskResult {
        if self.churn.run_should_fail() {
            if self.panics {
                panic!("churn");
            }
            return Err(crate::failure().into());
        }
        cancel.cancelled().await;
        Ok(())
    }
}

pub(crate) async fn run(workload: Workload, n: usize) -> anyhow::Result<Measurement> {
    match workload {
        Workload::Spawn | Workload::Shutdown | Workload::Memory => {
            let mut fleet = Fleet::new(n);
            let started = Instant::now();
            let mut builder = SupervisorBuilder::new().with_stop_timeout(Duration::from_secs(60));
            for i in 0..n {
                builder = builder.with_task(
                    &format!("s{i}"),
                    Idle {
                        running: fleet.running.clone(),
                        cancelled: fleet.cancelled.clone(),
                    },
                );
            }
            let handle = builder.spawn();
            let stopping = fleet.all_running(started).await;
            handle
                .shutdown()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            fleet.measurement(workload, stopping)
        }
        Workload::RestartChurn | Workload::PanicChurn | Workload::MacroChurn => {
            let n = n.min(CHURN_RESTARTS);
            let churn = Churn::new(n);
            let handle = SupervisorBuilder::new()
                .with_unlimited_restarts()
                .with_base_restart_delay(Duration::ZERO)
                .with_max_restart_delay(Duration::ZERO)
                .with_restart_jitter(0.0)
                .with_task(
                    "churn",
                    Churning {
                        churn: churn.clone(),
                        panics: workload == Workload::PanicChurn,
                    },
                )
                .spawn();
            churn.done.notified().await;
            handle
                .shutdown()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(churn.measurement(n))
        }
        Workload::Tree | Workload::TreeConcurrent => {
            anyhow::bail!("task-supervisor has no group restarts")
        }
    }
}
