//! The Janus tour: a three-level supervision tree of macro-declared
//! services, started in order, failing and recovering for as long as it
//! runs, and driven by an operator through its handle. Stop it with Ctrl-C
//! (twice to force it) or let `--duration` stop it; a summary table prints
//! on exit.
//!
//! ```text
//! cargo run --example trading_desk
//! cargo run --example trading_desk -- --duration 60s --status localhost:9898
//! curl -s localhost:9898/readyz; curl -s localhost:9898/status; curl -s localhost:9898/metrics
//! ```
//!
//! ```text
//! trading-desk (rest_for_one; started in order, each child once the one before is ready)
//! ├── market-data (one_for_one)
//! │   ├── journal        appends the feeds' quotes from its inbox; a full disk now and then
//! │   ├── binance        steady; a connection per run, quotes to the journal
//! │   └── kraken         drops its connection every 10 s
//! ├── risk (one_for_all)
//! │   ├── risk-engine    panics every 12th check; its breaker opens, then heals
//! │   └── limits         steady
//! ├── order-gateway      critical; starts once market data is connected; slow to stop
//! ├── status-http        /metrics /healthz /readyz /status
//! ├── order-batches      dynamic: one worker per incoming batch of orders
//! └── systemd-notify     (with `--features systemd`)
//! ```
//!
//! The operator (a task holding the tree's handle) feeds order batches to
//! `order-batches`, adds a feed to `market-data` through its nested handle,
//! stops and restarts it, and adds and removes an auditor at the root.
//! Every lifecycle transition is printed once, with its reason; Janus's own
//! logs are off unless `RUST_LOG` asks for them (`RUST_LOG=info`).

use std::io::IsTerminal as _;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use janus::Inbox;
use janus::adapters::service_fn;
use janus::http::StatusServer;
use janus::prelude::*;
use janus::tree::SupervisorHandle;

/// A price from an exchange.
#[derive(Debug, Clone, Copy)]
struct Quote {
    price: u64,
}

/// An exchange connection: one per run of a feed.
struct Connection {
    polls: u64,
}

/// Polls an exchange, once connected, and sends each quote to the
/// journal's inbox; drops its connection every `fail_every` polls (0:
/// never). Ready once `connect` has returned: the tree starts the next
/// child only then.
#[janus::service(name = exchange, backoff(base = "200ms", max = "5s", cooldown = "5s"))]
struct Feed {
    exchange: String,
    fail_every: u64,
    quotes: mpsc::Sender<Quote>,
}

impl Feed {
    fn new(exchange: &str, fail_every: u64, quotes: &mpsc::Sender<Quote>) -> Self {
        Self {
            exchange: exchange.to_owned(),
            fail_every,
            quotes: quotes.clone(),
        }
    }
}

#[janus::service]
impl Feed {
    #[on_start]
    async fn connect(&self) -> janus::Result<Connection> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        tracing::info!("{}: connected", self.exchange);
        Ok(Connection { polls: 0 })
    }

    #[step(every = "250ms")]
    async fn poll(&self, connection: &mut Connection) -> janus::Result<()> {
        connection.polls += 1;
        let n = connection.polls;
        if self.fail_every > 0 && n.is_multiple_of(self.fail_every) {
            janus::anyhow::bail!("{} dropped the connection (poll {n})", self.exchange);
        }
        // A full journal drops the quote: a feed never waits on it.
        let _ = self.quotes.try_send(Quote { price: 100 + n % 7 });
        Ok(())
    }
}

/// The journal's file: one per run.
struct Journal {
    written: u64,
}

/// Appends the feeds' quotes to a journal, from its inbox: what is queued
/// while it restarts waits for it. Fails now and then (a full disk); on a
/// shutdown it flushes what it wrote, after a failure it does not.
#[janus::service(name = "journal", backoff(base = "300ms", max = "2s"))]
struct QuoteJournal {
    quotes: Inbox<Quote>,
    fail_every: u64,
}

#[janus::service]
impl QuoteJournal {
    #[on_start]
    async fn open(&self) -> janus::Result<Journal> {
        Ok(Journal { written: 0 })
    }

    #[step(recv = quotes)]
    async fn append(&self, journal: &mut Journal, quote: Quote) -> janus::Result<()> {
        journal.written += 1;
        if journal.written.is_multiple_of(self.fail_every) {
            janus::anyhow::bail!(
                "journal: disk full at quote {} ({})",
                journal.written,
                quote.price
            );
        }
        Ok(())
    }

    #[on_stop]
    async fn close(&self, journal: Option<Journal>, why: StopReason) {
        if let (Some(journal), StopReason::Shutdown) = (journal, why) {
            tracing::info!("journal: flushed {} quotes", journal.written);
        }
    }
}

/// Checks risk; panics on every 12th check. Three panics within 30 s open
/// its breaker; 10 s later a trial run closes it again.
#[janus::service(
    backoff(base = "500ms", max = "5s", cooldown = "2s"),
    circuit_breaker(max_failures = 3, window = "30s", reset_after = "10s")
)]
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

/// Sends orders; takes a while to drain them on shutdown. Declared after
/// `market-data`, it starts once both feeds are connected.
#[janus::service(name = "order-gateway", shutdown_timeout = "3s")]
#[derive(Default)]
struct OrderGateway;

#[janus::service]
impl OrderGateway {
    #[run]
    async fn serve(&self, cancel: CancellationToken) -> janus::Result<()> {
        tracing::info!("order-gateway: market data connected, accepting orders");
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

/// A batch of orders for the gateway.
#[derive(Debug, Clone, Copy)]
struct Batch {
    id: u64,
    orders: u32,
}

/// Sends one batch, then completes: a short-lived child of the dynamic
/// `order-batches`, forgotten once done.
#[janus::service(name = "batch", restart = "on_failure")]
struct BatchWorker {
    batch: Batch,
}

#[janus::service]
impl BatchWorker {
    #[run]
    async fn send(&self, cancel: CancellationToken) -> janus::Result<()> {
        let Batch { id, orders } = self.batch;
        let sending = tokio::time::sleep(Duration::from_millis(u64::from(orders) * 40));
        tokio::select! {
            () = cancel.cancelled() => {}
            () = sending => tracing::info!("batch {id}: {orders} orders sent"),
        }
        Ok(())
    }
}

/// The tree: its feeds send quotes with `quotes`, its journal reads them
/// from `inbox`.
fn tree(status: StatusServer, quotes: &mpsc::Sender<Quote>, inbox: Inbox<Quote>) -> SupervisorSpec {
    let tree = janus::supervisor! {
        name: "trading-desk",
        strategy: rest_for_one,
        intensity: { restarts: 20, within: "60s" },
        shutdown: { timeout: "5s", order: reverse },
        children: [
            janus::supervisor! {
                name: "market-data",
                intensity: { restarts: 20, within: "60s" },
                children: [
                    QuoteJournal { quotes: inbox, fail_every: 150 },
                    Feed::new("binance", 0, quotes),
                    Feed::new("kraken", 40, quotes),
                ],
            },
            janus::supervisor! {
                name: "risk",
                strategy: one_for_all,
                intensity: { restarts: 20, within: "60s" },
                children: [RiskEngine::default(), limits()],
            },
            OrderGateway => { critical: true },
            status,
            janus::supervisor! {
                name: "order-batches",
                dynamic: |batch: Batch| BatchWorker { batch },
                max_children: 8,
            },
        ],
    };
    #[cfg(feature = "systemd")]
    let tree = tree.child(janus::systemd::SystemdNotifier::new());
    tree
}

/// What the operator does, through the tree's handle, while the tour runs:
/// a batch of orders every 2 s, and from time to time a command.
async fn operate(desk: SupervisorHandle, quotes: mpsc::Sender<Quote>) {
    let Some(batches) = desk.dynamic::<Batch>("trading-desk/order-batches") else {
        return;
    };
    let audit = || {
        service_fn("audit", |cancel| async move {
            cancel.cancelled().await;
            Ok(())
        })
    };
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    for n in 1u64.. {
        tick.tick().await;
        if desk.is_shutting_down() {
            return;
        }
        let batch = Batch {
            id: n,
            orders: 5 + u32::try_from(n % 20).unwrap_or(0),
        };
        match batches.start_child(batch) {
            Ok(id) => tracing::info!("operator: batch {n} → order-batches/{id}"),
            Err(error) => tracing::warn!("operator: batch {n} refused: {error}"),
        }
        let market_data = desk.supervisor("trading-desk/market-data");
        let outcome = match n % 30 {
            5 => Some((
                "add trading-desk/audit",
                desk.add_child(audit()).map_err(anyhow::Error::from),
            )),
            8 => market_data.map(|md| {
                (
                    "add market-data/coinbase",
                    md.add_child(Feed::new("coinbase", 0, &quotes))
                        .map_err(Into::into),
                )
            }),
            14 => match market_data {
                Some(md) => Some((
                    "stop market-data/coinbase",
                    md.stop_child("coinbase").await.map_err(Into::into),
                )),
                None => None,
            },
            17 => match market_data {
                Some(md) => Some((
                    "restart market-data/coinbase",
                    md.restart_child("coinbase").await.map_err(Into::into),
                )),
                None => None,
            },
            22 => {
                let removed = async {
                    if let Some(md) = &market_data {
                        md.remove_child("coinbase").await?;
                    }
                    desk.remove_child("audit").await
                };
                Some((
                    "remove market-data/coinbase and trading-desk/audit",
                    removed.await.map_err(Into::into),
                ))
            }
            _ => None,
        };
        match outcome {
            Some((what, Ok(()))) => tracing::info!("operator: {what}"),
            Some((what, Err(error))) => tracing::warn!("operator: {what}: {error}"),
            None => {}
        }
    }
}

const USAGE: &str = "\
Usage: trading_desk [--duration <time>] [--status <host:port>]

The Janus tour: a supervision tree failing and recovering, until Ctrl-C.

Options:
  --duration <time>     stop after this long (e.g. 90s, 5m); default: run until Ctrl-C
  --status <host:port>  where the status endpoint listens (default 127.0.0.1:9898; port 0: any)
  -h, --help            print this help
";

#[derive(Debug)]
struct Args {
    duration: Option<Duration>,
    status: SocketAddr,
}

/// The command line; `Ok(None)` after printing the help.
fn parse_args() -> Result<Option<Args>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parsed = Args {
        duration: None,
        status: janus::http::DEFAULT_ADDRESS,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => {
                print!("{USAGE}");
                return Ok(None);
            }
            Long("duration") => {
                let value = parser.value()?.string()?;
                let duration = humantime::parse_duration(&value)
                    .map_err(|e| format!("invalid --duration '{value}': {e}"))?;
                parsed.duration = Some(duration);
            }
            Long("status") => {
                let value = parser.value()?.string()?;
                parsed.status = value
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut addresses| addresses.next())
                    .ok_or_else(|| format!("invalid --status '{value}': expected host:port"))?;
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Some(parsed))
}

fn print_summary(handle: &SupervisorHandle) {
    println!();
    println!(
        "{:<40} {:>6} {:>9}  final state",
        "service", "starts", "failures"
    );
    println!("{}", "-".repeat(78));
    for s in handle.snapshots() {
        let state = match &s.termination_reason {
            Some(reason) => format!("{} ({reason})", s.phase),
            None => s.phase.to_string(),
        };
        println!(
            "{:<40} {:>6} {:>9}  {state}",
            s.path, s.start_count, s.total_failures
        );
    }
}

/// Prints every lifecycle transition, once, with its reason.
fn narrate(mut events: janus::events::EventStream) {
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
                    "{:<40} {} -> {}  ({reason})",
                    event.path,
                    event.from,
                    event.to
                ),
                None => tracing::info!("{:<40} {} -> {}", event.path, event.from, event.to),
            }
        }
    });
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => return std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("trading_desk: {error}");
            eprintln!("try 'trading_desk --help'");
            return std::process::ExitCode::from(2);
        }
    };
    // Logs on stderr, coloured only for a terminal and without NO_COLOR;
    // the status address and the summary on stdout.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,janus=off".into()),
        )
        .init();
    // A panic in a service is a failure Janus reports (the transition
    // shows it); anywhere else, the usual message.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if janus::context::current_path().is_none() {
            default_hook(info);
        }
    }));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("trading_desk: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tour(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("trading_desk: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn tour(Args { duration, status }: Args) -> janus::Result<()> {
    let status = StatusServer::new().with_address(status);
    let (quotes, inbox) = Inbox::channel(1024);
    // Subscribed before anything starts: the narration misses nothing.
    let (desk, events) = tree(status.clone(), &quotes, inbox).spawn_with_events()?;
    narrate(events);
    desk.started().await?;
    match status.bound_address().await {
        Ok(address) => {
            println!("status endpoint: http://{address}/status (also /metrics, /healthz, /readyz)");
        }
        Err(error) => tracing::error!("{error}"),
    }
    tokio::spawn(operate(desk.clone(), quotes));
    if let Some(duration) = duration {
        let desk = desk.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            tracing::info!(?duration, "--duration elapsed: shutting down");
            desk.shutdown();
        });
    }
    let result = desk.run_until_shutdown().await;
    print_summary(&desk);
    result?;
    Ok(())
}
