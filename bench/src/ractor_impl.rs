//! ractor: children linked to a supervisor actor; a restart is the
//! supervisor spawning the child again on `SupervisionEvent::ActorFailed`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use crate::{Churn, Fleet, Measurement, Running, Workload};

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
            return Err(crate::failure().into());
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
            let mut fleet = Fleet::new(n);
            let (holder, handle) = Actor::spawn(None, Holder, ()).await?;
            let started = Instant::now();
            let mut children = Vec::with_capacity(n);
            for _ in 0..n {
                let child = Idle {
                    running: fleet.running.clone(),
                    stopped: fleet.cancelled.clone(),
                };
                children.push(Actor::spawn_linked(None, child, (), holder.get_cell()).await?);
            }
            let stopping = fleet.all_running(started).await;
            for (child, _) in &children {
                child.stop(None);
            }
            for (_, joined) in children {
                joined.await?;
            }
            // Every actor's join handle completed: each one stopped. (ractor
            // does not run `post_stop` for every actor stopped this way, so
            // the counter is not the check here.)
            let measurement = fleet.unchecked(workload, stopping);
            holder.stop(None);
            handle.await?;
            Ok(measurement)
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
        Workload::Tree | Workload::TreeConcurrent => anyhow::bail!("not measured for ractor"),
    }
}
