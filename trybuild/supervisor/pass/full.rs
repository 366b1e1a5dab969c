// The tree of DESIGN.md §5: every key, per-child settings, a nested tree.
use janus::prelude::*;

#[janus::service(name = exchange)]
pub struct MarketDataFeed {
    exchange: String,
}

#[janus::service]
impl MarketDataFeed {
    #[step(every = "100ms")]
    async fn poll(&self) -> janus::Result<()> {
        Ok(())
    }
}

#[janus::service(restart = "always")]
async fn heartbeat(cancel: CancellationToken) -> janus::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

#[janus::service(name = name, restart = "always")]
struct Enricher {
    name: String,
}

#[janus::service]
impl Enricher {
    #[step(every = "1s")]
    async fn enrich(&self) -> janus::Result<()> {
        Ok(())
    }
}

fn heartbeat_of(name: &str) -> Enricher {
    Enricher { name: name.into() }
}

#[janus::service]
#[derive(Default)]
struct RiskEngine;

#[janus::service]
impl RiskEngine {
    #[step]
    async fn check(&self) -> janus::Result<()> {
        Ok(())
    }
}

fn main() {
    let tree: SupervisorSpec = janus::supervisor! {
        name: "trading-desk",
        strategy: rest_for_one,
        intensity: { restarts: 5, within: "60s" },
        shutdown: { timeout: "30s", order: reverse },
        backoff: { base: "100ms", max: "30s" },
        children: [
            MarketDataFeed { exchange: "binance".into() },
            heartbeat() => { restart: always, shutdown_timeout: "2s", critical: true },
            heartbeat_of("enricher") => { expendable: true },
            janus::supervisor! { name: "risk", strategy: one_for_all, children: [RiskEngine::default()] },
        ],
    };
    assert_eq!(tree.name(), "trading-desk");
    assert!(tree.validate().is_ok());
}
