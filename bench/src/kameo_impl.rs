//! kameo: children supervised by a supervisor actor (`Spawn::supervise`,
//! `RestartPolicy::Transient`), which restarts a child that failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kameo::actor::{Actor, ActorRef, Spawn, WeakActorRef};
use kameo::error::{ActorStopReason, Infallible};
use kameo::supervision::RestartPolicy;

use crate::{Churn, Fleet, Measurement, Running, Workload};

struct Holder;

impl Actor for Holder {
    type Args = ();
    type Error = Infallible;

    async fn on_start((): (), _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(Holder)
    }
}

#[derive(Clone)]
struct Idle {
    running: Arc<Running>,
    stopped: Arc<AtomicUsize>,
}

impl Actor for Idle {
    type Args = Self;
    type Error = Infallible;

    async fn on_start(args: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
        args.running.report();
        Ok(args)
    }

    async fn on_stop(
        &mut self,
        _: WeakActorRef<Self>,
        _: ActorStopReason,
    ) -> Result<(), Infallible> {
        self.stopped.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[derive(Clone)]
struct Churner {
    churn: Arc<Churn>,
    panics: bool,
}

/// The common failure, in the error type kameo's actor declares.
#[derive(Debug)]
struct Failed(#[allow(dead_code, reason = "carried, as an error is")] anyhow::Error);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("churn")
    }
}

impl Actor for Churner {
    type Args = Self;
    type Error = Failed;

    async fn on_start(args: Self, _: ActorRef<Self>) -> Result<Self, Failed> {
        if args.churn.run_should_fail() {
            if args.panics {
                panic!("churn");
            }
            return Err(Failed(crate::failure()));
        }
        Ok(args)
    }
}

pub(crate) async fn run(workload: Workload, n: usize) -> anyhow::Result<Measurement> {
    match workload {
        Workload::Spawn | Workload::Shutdown | Workload::Memory => {
            let mut fleet = Fleet::new(n);
            let holder = Holder::spawn(());
            let started = Instant::now();
            let mut children = Vec::with_capacity(n);
            for _ in 0..n {
                let idle = Idle {
                    running: fleet.running.clone(),
                    stopped: fleet.cancelled.clone(),
                };
                children.push(
                    Idle::supervise(&holder, idle)
                        .restart_policy(RestartPolicy::Transient)
                        .spawn()
                        .await,
                );
            }
            let stopping = fleet.all_running(started).await;
            for child in &children {
                let _ = child.stop_gracefully().await;
            }
            for child in &children {
                child.wait_for_shutdown().await;
            }
            let measurement = fleet.measurement(workload, stopping);
            let _ = holder.stop_gracefully().await;
            holder.wait_for_shutdown().await;
            measurement
        }
        Workload::RestartChurn | Workload::PanicChurn | Workload::MacroChurn => {
            let churn = Churn::new(n);
            let holder = Holder::spawn(());
            let churner = Churner {
                churn: churn.clone(),
                panics: workload == Workload::PanicChurn,
            };
            let child = Churner::supervise(&holder, churner)
                .restart_policy(RestartPolicy::Transient)
                .restart_limit(u32::MAX, Duration::from_secs(3600))
                .spawn()
                .await;
            churn.done.notified().await;
            let _ = child.stop_gracefully().await;
            let _ = holder.stop_gracefully().await;
            holder.wait_for_shutdown().await;
            Ok(churn.measurement(n))
        }
        Workload::Tree | Workload::TreeConcurrent => anyhow::bail!("not measured for kameo"),
    }
}
