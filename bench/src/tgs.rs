//! tokio-graceful-shutdown: subsystems under a `Toplevel`; a restart is the
//! keep-alive loop of its documentation (example 12).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio_graceful_shutdown::{ErrorAction, SubsystemBuilder, SubsystemHandle, Toplevel};
use tokio_util::sync::CancellationToken;

use crate::{Churn, Fleet, Measurement, Workload};

pub(crate) async fn run(workload: Workload, n: usize) -> anyhow::Result<Measurement> {
    match workload {
        Workload::Spawn | Workload::Shutdown | Workload::Memory => {
            let mut fleet = Fleet::new(n);
            let token = CancellationToken::new();
            let started = Instant::now();
            let toplevel = {
                let (running, cancelled) = (fleet.running.clone(), fleet.cancelled.clone());
                Toplevel::new_with_shutdown_token(
                    async move |s: &mut SubsystemHandle| {
                        for i in 0..n {
                            let (running, cancelled) = (running.clone(), cancelled.clone());
                            s.start(SubsystemBuilder::new(
                                format!("s{i}"),
                                async move |h: &mut SubsystemHandle| -> anyhow::Result<()> {
                                    running.report();
                                    h.on_shutdown_requested().await;
                                    cancelled.fetch_add(1, Ordering::Relaxed);
                                    Ok(())
                                },
                            ));
                        }
                    },
                    token.clone(),
                )
            };
            let handle = tokio::spawn(toplevel.handle_shutdown_requests(Duration::from_secs(60)));
            let stopping = fleet.all_running(started).await;
            token.cancel();
            handle.await?.map_err(|e| anyhow::anyhow!("{e}"))?;
            fleet.measurement(workload, stopping)
        }
        Workload::RestartChurn | Workload::PanicChurn | Workload::MacroChurn => {
            let churn = Churn::new(n);
            let panics = workload == Workload::PanicChurn;
            let token = CancellationToken::new();
            let toplevel = {
                let churn = churn.clone();
                Toplevel::new_with_shutdown_token(
                    async move |s: &mut SubsystemHandle| {
                        s.start(SubsystemBuilder::new(
                            "keepalive",
                            async move |h: &mut SubsystemHandle| -> anyhow::Result<()> {
                                keepalive(h, churn, panics).await;
                                Ok(())
                            },
                        ));
                    },
                    token.clone(),
                )
            };
            let handle = tokio::spawn(toplevel.handle_shutdown_requests(Duration::from_secs(60)));
            churn.done.notified().await;
            token.cancel();
            let _ = handle.await?;
            Ok(churn.measurement(n))
        }
        Workload::Tree | Workload::TreeConcurrent => {
            anyhow::bail!("tokio-graceful-shutdown has no one_for_all restart")
        }
    }
}

async fn keepalive(h: &mut SubsystemHandle, churn: Arc<Churn>, panics: bool) {
    loop {
        let churn = churn.clone();
        let nested = h.start(
            SubsystemBuilder::new(
                "churn",
                async move |s: &mut SubsystemHandle| -> anyhow::Result<()> {
                    if churn.run_should_fail() {
                        if panics {
                            panic!("churn");
                        }
                        return Err(crate::failure());
                    }
                    s.on_shutdown_requested().await;
                    Ok(())
                },
            )
            .on_failure(ErrorAction::CatchAndLocalShutdown)
            .on_panic(ErrorAction::CatchAndLocalShutdown),
        );
        if nested.join().await.is_ok() || h.is_shutdown_requested() {
            return;
        }
    }
}
