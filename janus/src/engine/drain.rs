//! How a supervisor stops: the drain (ask for shutdown, wait for the
//! control loop, give aborted tasks a moment to unwind, name those that do
//! not), and the signal loop of `run_until_shutdown`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::signal;
pub(crate) use super::signal::Signals;
use super::slot::SlotState;
use super::{Core, Finished};

/// How long aborted tasks get to unwind before the drain report calls them
/// unresponsive (a task blocked in synchronous code cannot be aborted).
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// The engine's half of draining: ask for shutdown, wait for the actor, then
/// give aborted tasks a moment to unwind and name those that do not.
pub(crate) async fn drain(core: &Arc<Core>) -> Finished {
    core.request_shutdown();
    settle(core).await
}

/// Waits for the supervisor to end (shutdown or giving up), then for its
/// tasks, naming the aborted ones that do not unwind.
pub(crate) async fn settle(core: &Arc<Core>) -> Finished {
    let started = Instant::now();
    core.spawn_actor();
    let mut finished = core.finished().await;
    core.tracker.close();
    if tokio::time::timeout(ABORT_GRACE, core.tracker.wait())
        .await
        .is_err()
    {
        // Aborted, and still not finished: blocked in synchronous code.
        finished.report.unresponsive = core.paths_where(SlotState::unresponsive);
    }
    finished.report.elapsed = started.elapsed();
    finished
}

pub(crate) fn install_signals() -> std::io::Result<Signals> {
    Signals::install()
}

/// Runs until a signal (when `signals` is given), a requested shutdown, or the
/// supervisor giving up; then drains. With `forced_exit`, a second signal
/// while draining (a deliberate one, see [`signal::REPEAT_WINDOW`]) exits
/// the process at once. Fails if the supervisor gave up, or if the signal
/// handler could not be installed (the supervisor is drained all the same).
pub(crate) async fn run_with_signals(
    core: &Arc<Core>,
    signals: Option<std::io::Result<Signals>>,
    forced_exit: bool,
) -> Result<(), crate::error::SupervisorError> {
    let (finished, signal_error) = wait_and_drain(core, signals, forced_exit).await;
    if let Some(error) = finished.error {
        return Err(error);
    }
    match signal_error {
        Some(error) => Err(crate::error::SupervisorError::Signals {
            problem: error.to_string(),
        }),
        None => Ok(()),
    }
}

async fn wait_and_drain(
    core: &Arc<Core>,
    signals: Option<std::io::Result<Signals>>,
    forced_exit: bool,
) -> (Finished, Option<std::io::Error>) {
    core.spawn_actor();
    let mut signals = match signals {
        Some(Ok(signals)) => Some(signals),
        Some(Err(error)) => {
            tracing::error!(%error, "cannot install the signal handler: shutting down");
            return (drain_and_log(core).await, Some(error));
        }
        None => None,
    };
    let mut first_signal = None;
    let finished = core.finished();
    tokio::select! {
        received = async {
            match signals.as_mut() {
                Some(signals) => signals.recv().await,
                None => std::future::pending().await,
            }
        } => match received {
            Ok(signal) => {
                tracing::info!(%signal, "received signal: shutting down");
                first_signal = Some(Instant::now());
            }
            Err(error) => tracing::error!(%error, "signal handler failed: shutting down"),
        },
        () = core.cancel.cancelled() => tracing::info!("shutdown requested"),
        finished = finished => {
            if let Some(error) = &finished.error {
                tracing::error!(%error, "the root supervisor gave up");
            }
        }
    }
    let second_signal = async {
        let Some(signals) = signals.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            let Ok(signal) = signals.recv().await else {
                return std::future::pending().await;
            };
            let now = Instant::now();
            match first_signal {
                None => {
                    tracing::info!(%signal, "received signal: already shutting down");
                    first_signal = Some(now);
                }
                Some(first) if now.saturating_duration_since(first) < signal::REPEAT_WINDOW => {
                    tracing::debug!(%signal, "the same request delivered again: ignored");
                }
                Some(_) if forced_exit => return signal,
                Some(_) => {
                    tracing::warn!(%signal, "second signal during shutdown: still draining (forced exit is off)");
                }
            }
        }
    };
    tokio::select! {
        finished = drain_and_log(core) => (finished, None),
        signal = second_signal => {
            tracing::error!(%signal, "second signal during shutdown: forcing exit");
            std::process::exit(signal.exit_code());
        }
    }
}

async fn drain_and_log(core: &Arc<Core>) -> Finished {
    let finished = drain(core).await;
    // The whole tree's counts, nested supervisors included.
    let snap = core.tree_metrics();
    tracing::info!(
        restarts = snap.restarts_total,
        spawned = snap.spawned_total,
        terminated = snap.terminated_total,
        circuit_trips = snap.circuit_breaker_trips,
        report = %finished.report,
        "supervisor shutdown complete"
    );
    finished
}
