//! A process for the signal and exit-code tests: one service that announces
//! itself and stops when cancelled; with `stubborn`, it ignores cancellation
//! (so only a second signal ends the process before its 60 s shutdown
//! timeout); with `slow`, it takes 2 s to stop; with `patient`, it takes 2 s
//! and the supervisor's forced exit is off; with `doomed`, a tree whose
//! critical child fails, so that the root gives up and `main` returns the
//! error.

use std::io::Write as _;
use std::time::Duration;

use janus::adapters::service_fn;
use janus::supervisor::{JanusSupervisor, SupervisorConfig};

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

// Current-thread: `run_until_shutdown` installs its handlers before the
// service task first runs, so "ready" means signals are being handled.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "doomed") {
        let tree = janus::tree::SupervisorSpec::new("doomed").child_with(
            service_fn("ledger", |_cancel| async { anyhow::bail!("disk full") })
                .with_restart_policy(janus::supervisor::RestartPolicy::Never),
            janus::tree::ChildOptions::new().with_critical(true),
        );
        tree.run_until_shutdown().await?;
        say("unreachable: the root should have given up");
        return Ok(());
    }
    let mode = std::env::args().nth(1).unwrap_or_default();
    let stop_takes = match mode.as_str() {
        "stubborn" => None,
        "slow" | "patient" => Some(Duration::from_secs(2)),
        _ => Some(Duration::ZERO),
    };
    let supervisor = JanusSupervisor::new(
        SupervisorConfig::default().with_shutdown_timeout(Duration::from_secs(60)),
    )
    .with_forced_exit(mode != "patient");
    supervisor.spawn_service(Box::new(service_fn("probe", move |cancel| async move {
        say("ready");
        cancel.cancelled().await;
        say("stopping");
        match stop_takes {
            Some(takes) => tokio::time::sleep(takes).await,
            None => std::future::pending().await,
        }
        Ok(())
    })))?;
    supervisor.run_until_shutdown().await?;
    say("drained");
    Ok(())
}
