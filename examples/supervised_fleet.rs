//! A first Janus program: three services under one supervisor, one of them
//! flaky. Watch it fail, back off and recover; press Ctrl-C to stop (twice
//! to force the exit).
//!
//! ```text
//! cargo run --example supervised_fleet
//! cargo run --example supervised_fleet -- --duration 5s   # stops by itself
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use janus::adapters::service_fn;
use janus::prelude::*;
use janus::supervisor::{BackoffConfig, JanusSupervisor, SupervisorConfig};

/// Polls an exchange every 200 ms and fails on every fifth poll.
struct FlakyFeed {
    polls: AtomicU64,
}

#[janus::async_trait]
impl JanusService for FlakyFeed {
    fn name(&self) -> &str {
        "flaky-feed"
    }

    fn backoff_config(&self) -> Option<BackoffConfig> {
        Some(BackoffConfig::new(
            Duration::from_millis(200),
            Duration::from_secs(3),
        ))
    }

    async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tick.tick() => {
                    let n = self.polls.fetch_add(1, Ordering::Relaxed) + 1;
                    anyhow::ensure!(!n.is_multiple_of(5), "exchange dropped the connection after poll {n}");
                }
            }
        }
    }
}

fn parse_duration() -> anyhow::Result<Option<Duration>> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--duration" {
            let value = args
                .next()
                .ok_or_else(|| anyhow::anyhow!("--duration needs a value, e.g. 5s"))?;
            let secs: f64 = value
                .trim_end_matches('s')
                .parse()
                .map_err(|_| anyhow::anyhow!("--duration {value}: expected seconds, e.g. 5s"))?;
            return Ok(Some(Duration::from_secs_f64(secs)));
        }
    }
    Ok(None)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let duration = parse_duration()?;

    let supervisor = JanusSupervisor::new(
        SupervisorConfig::default().with_shutdown_timeout(Duration::from_secs(5)),
    );
    supervisor.spawn_service(Box::new(FlakyFeed {
        polls: AtomicU64::new(0),
    }))?;
    supervisor.spawn_service(Box::new(
        service_fn("heartbeat", |cancel| async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(()),
                    _ = tick.tick() => tracing::debug!("beat"),
                }
            }
        })
        .with_restart_policy(RestartPolicy::Always),
    ))?;
    supervisor.spawn_service(Box::new(service_fn("warm-cache", |_cancel| async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tracing::info!("cache warmed");
        Ok(())
    })))?;

    if let Some(duration) = duration {
        let cancel = supervisor.cancel_token().clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            cancel.cancel();
        });
    }
    // Print everyone's phase every two seconds until the supervisor returns.
    let print_status = async {
        let mut every = tokio::time::interval(Duration::from_secs(2));
        loop {
            every.tick().await;
            for s in supervisor.snapshots() {
                println!(
                    "  {:<12} {:<11} starts={} failures={}",
                    s.service_name, s.phase, s.start_count, s.total_failures
                );
            }
        }
    };
    tokio::select! {
        result = supervisor.run_until_shutdown() => result?,
        () = print_status => {}
    }

    println!("\nfinal state:");
    for s in supervisor.snapshots() {
        println!(
            "  {:<12} starts={:<3} failures={:<3} {}",
            s.service_name,
            s.start_count,
            s.total_failures,
            s.termination_reason.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
