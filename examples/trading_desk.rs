//! The Janus tour: a three-level supervision tree of macro-declared services.
//! One feed is flaky, the risk engine panics now and then, the order gateway
//! is slow to stop. Watch every transition, then stop with Ctrl-C (twice to
//! force it) or let `--duration` stop it; a summary table prints on exit.
//!
//! ```text
//! cargo run --example trading_desk
//! cargo run --example trading_desk -- --duration 10s --status 127.0.0.1:9898
//! curl -s localhost:9898/readyz; curl -s localhost:9898/status; curl -s localhost:9898/metrics
//! ```
//!
//! ```text
//! trading-desk (rest_for_one)
//! ├── market-data (one_for_one)
//! │   ├── binance        steady
//! │   └── kraken         flaky: fails every 8th poll
//! ├── risk (one_for_all)
//! │   ├── risk-engine    panics every 12th check
//! │   └── limits         steady
//! ├── order-gateway      critical, slow to stop
//! ├── status-http        /metrics /healthz /readyz /status
//! └── systemd-notify     (with `--features systemd`)
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use janus::http::StatusServer;
use janus::prelude::*;

/// Polls an exchange; fails every `fail_every` polls (0: never).
#[janus::service(name = exchange, backoff(base = "200ms", max = "5s"))]
struct Feed {
    exchange: String,
    fail_every: u64,
    polls: AtomicU64,
}

impl Feed {
    fn new(exchange: &str, fail_every: u64) -> Self {
        Self {
            exchange: exchange.to_owned(),
            fail_every,
            polls: AtomicU64::new(0),
        }
    }
}

#[janus::service]
impl Feed {
    #[on_start]
    async fn connect(&self) -> janus::Result<()> {
        tracing::debug!(exchange = %self.exchange, "connected");
        Ok(())
    }

    #[step(every = "250ms")]
    async fn poll(&self) -> janus::Result<()> {
        let n = self.polls.fetch_add(1, Ordering::Relaxed) + 1;
        if self.fail_every > 0 && n.is_multiple_of(self.fail_every) {
            janus::anyhow::bail!("{} dropped the connection (poll {n})", self.exchange);
        }
        Ok(())
    }
}

/// Checks risk; panics on every 12th check.
#[janus::service(backoff(base = "500ms", max = "5s"))]
#[derive(Default)]
struct RiskEngine {
    checks: AtomicU64,
}

#[janus::service]
impl RiskEngine {
    #[step(every = "200ms")]
    async fn check(&self) -> janus::Result<()> {
        let n = self.checks.fetch_add(1, Ordering::Relaxed) + 1;
        assert!(!n.is_multiple_of(12), "risk model diverged at check {n}");
        Ok(())
    }
}

/// Position limits: steady.
#[janus::service(every = "1s")]
async fn limits() -> janus::Result<()> {
    Ok(())
}

/// Sends orders; takes a while to drain them on shutdown.
#[janus::service(name = "order-gateway", shutdown_timeout = "3s")]
#[derive(Default)]
struct OrderGateway;

#[janus::service]
impl OrderGateway {
    #[run]
    async fn serve(&self, cancel: CancellationToken) -> janus::Result<()> {
        cancel.cancelled().await;
        Ok(())
    }

    #[on_stop]
    async fn drain_orders(&self) {
        tracing::info!("order-gateway: draining in-flight orders…");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tracing::info!("order-gateway: drained");
    }
}

fn tree(status: StatusServer) -> SupervisorSpec {
    let tree = janus::supervisor! {
        name: "trading-desk",
        strategy: rest_for_one,
        intensity: { restarts: 20, within: "60s" },
        shutdown: { timeout: "5s", order: reverse },
        children: [
            janus::supervisor! {
                name: "market-data",
                intensity: { restarts: 20, within: "60s" },
                children: [Feed::new("binance", 0), Feed::new("kraken", 8)],
            },
            janus::supervisor! {
                name: "risk",
                strategy: one_for_all,
                intensity: { restarts: 20, within: "60s" },
                children: [RiskEngine::default(), limits()],
            },
            OrderGateway => { critical: true },
            status,
        ],
    };
    #[cfg(feature = "systemd")]
    let tree = tree.child(janus::systemd::SystemdNotifier::new());
    tree
}

struct Args {
    duration: Option<Duration>,
    status: SocketAddr,
}

fn parse_args() -> janus::Result<Args> {
    const USAGE: &str = "usage: trading_desk [--duration 10s] [--status 127.0.0.1:9898]";
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        duration: None,
        status: janus::http::DEFAULT_ADDRESS,
    };
    while let Some(arg) = args.next() {
        let Some(value) = args.next() else {
            janus::anyhow::bail!("{arg} needs a value; {USAGE}");
        };
        match arg.as_str() {
            "--duration" => parsed.duration = Some(humantime::parse_duration(&value)?),
            "--status" => parsed.status = value.parse()?,
            other => janus::anyhow::bail!("unknown argument {other}; {USAGE}"),
        }
    }
    Ok(parsed)
}

fn print_summary(handle: &janus::tree::SupervisorHandle) {
    println!();
    println!(
        "{:<34} {:>6} {:>9}  final state",
        "service", "starts", "failures"
    );
    println!("{}", "-".repeat(72));
    for s in handle.snapshots() {
        let state = match &s.termination_reason {
            Some(reason) => format!("{} ({reason})", s.phase),
            None => s.phase.to_string(),
        };
        println!(
            "{:<34} {:>6} {:>9}  {state}",
            s.path, s.start_count, s.total_failures
        );
    }
}

#[tokio::main]
async fn main() -> janus::Result<()> {
    // Logs on stderr; the status address and the summary on stdout.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,janus=warn".into()),
        )
        .init();
    // Panics are failures Janus handles; log them as such instead of
    // printing a backtrace banner.
    std::panic::set_hook(Box::new(|info| tracing::error!(%info, "panic")));
    let Args { duration, status } = parse_args()?;

    let status = StatusServer::new().with_address(status);
    let handle = tree(status.clone()).start().await?;
    tokio::spawn(async move {
        match status.bound_address().await {
            Ok(address) => println!(
                "status endpoint: http://{address}/status (also /metrics, /healthz, /readyz)"
            ),
            Err(error) => tracing::error!("{error}"),
        }
    });
    let mut events = handle.subscribe();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let event = match event {
                Ok(event) => event,
                Err(lagged) => {
                    tracing::warn!("{lagged}");
                    continue;
                }
            };
            match &event.reason {
                Some(reason) => tracing::info!(
                    "{:<30} {} -> {}  ({reason})",
                    event.path,
                    event.from,
                    event.to
                ),
                None => tracing::info!("{:<30} {} -> {}", event.path, event.from, event.to),
            }
        }
    });
    if let Some(duration) = duration {
        let handle = handle.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            tracing::info!(?duration, "--duration elapsed: shutting down");
            handle.shutdown();
        });
    }
    let result = handle.run_until_shutdown().await;
    print_summary(&handle);
    result?;
    Ok(())
}
