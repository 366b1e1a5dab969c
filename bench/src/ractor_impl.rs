//! ractor: children linked to a supervisor actor; a restart is the
//! supervisor spawning the child again on `SupervisionEvent::ActorFailed`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use crate::{Churn, Measurement, Running, Workload, rss_bytes};

/// An idle child that reports running and counts its stop.
struct Idle {
    running: Arc<Running>,
    stopped: Arc<AtomicUsize>,
}

impl Actor for Idle {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, (): ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn post_start(&self, _: ActorRef<()>, (): &mut ()) -> Result<(), ActorProcessingErr> {
        self.running.report();
        Ok(())
    }

    async fn post_stop(&self, _: ActorRef<()>, (): &mut ()) -> Result<(), ActorProcessingErr> {
        self.stopped.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A supervisor that does nothing but hold children.
struct Holder;

impl Actor for Holder {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, (): ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// A child that fails (or panics) as soon as it has started, until the churn is over.
struct Churner {
    churn: Arc<Churn>,
    panics: bool,
}

impl Actor for Churner {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, (): ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn post_start(&self, _: ActorRef<()>, (): &mut ()) -> Result<(), ActorProcessingErr> {
        if self.churn.run_should_fail() {
            if self.panics {
                panic!("churn");
            }
            return Err("churn".into());
        }
        Ok(())
    }
}

/// Restarts its child whenever it fails.
struct Restarter {
    churn: Arc<Churn>,
    panics: bool,
}

impl Actor for Restarter {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<()>, (): ()) -> Result<(), ActorProcessingErr> {
        self.spawn_child(&myself).await
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<()>,
        event: SupervisionEvent,
        (): &mut (),
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(..) = event {
            self.spawn_child(&myself).await?;
        }
        Ok(())
    }
}

impl Restarter {
    async fn spawn_child(&self, myself: &ActorRef<()>) -> Result<(), ActorProcessingErr> {
        let child = Churner {
            churn: self.churn.clone(),
            panics: self.panics,
        };
        // A child failing in `post_start` still counts as spawned.
        let _ = Actor::spawn_linked(None, child, (), myself.get_cell()).await;
        Ok(())
    }
}

pub(crate) async fn run(workload: Workload, n: usize) -> anyhow::Result<Measurement> {
    match workload {
        Workload::Spawn | Workload::Shutdown | Workload::Memory => {
            let before = rss_bytes();
            let running = Running::new(n);
            let stopped = Arc::new(AtomicUsize::new(0));
            let (holder, handle) = Actor::spawn(None, Holder, ()).await?;
            let started = Instant::now();
            let mut children = Vec::with_capacity(n);
            for _ in 0..n {
                let child = Idle {
                    running: running.clone(),
                    stopped: stopped.clone(),
                };
                children.push(Actor::spawn_linked(None, child, (), holder.get_cell()).await?);
            }
            running.all.notified().await;
            let spawn = started.elapsed();
            let memory = rss_bytes().saturating_sub(before);
            let stopping = Instant::now();
            for (child, _) in &children {
                child.stop(None);
            }
            for (_, joined) in children {
                joined.await?;
            }
            let shutdown = stopping.elapsed();
            holder.stop(None);
            handle.await?;
            // Every actor's join handle completed: each one stopped. (ractor
            // does not run `post_stop` for every actor stopped this way, so
            // the counter is not the check here.)
            Ok(Measurement::of_fleet(workload, spawn, shutdown, memory, n))
        }
        Workload::RestartChurn | Workload::PanicChurn | Workload::MacroChurn => {
            let churn = Churn::new(n);
            let restarter = Restarter {
                churn: churn.clone(),
                panics: workload == Workload::PanicChurn,
            };
            let (supervisor, handle) = Actor::spawn(None, restarter, ()).await?;
            churn.done.notified().await;
            supervisor.stop_children_and_wait(None, None).await;
            supervisor.stop(None);
            handle.await?;
            Ok(churn.measurement(n))
        }
        Workload::Tree => anyhow::bail!("not measured for ractor"),
    }
}
