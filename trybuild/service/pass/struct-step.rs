// A struct service with every hook and a periodic step, all keys set.
use std::sync::atomic::{AtomicU64, Ordering};

use janus::prelude::*;

#[janus::service(
    name = "market-data-feed",
    restart = "on_failure",
    backoff(base = "100ms", max = "30s"),
    circuit_breaker(max_failures = 5, window = "60s"),
    shutdown_timeout = "5s",
    critical,
)]
pub struct MarketDataFeed {
    polls: AtomicU64,
}

#[janus::service]
impl MarketDataFeed {
    #[on_start]
    async fn connect(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// One unit of work.
    #[step(every = "100ms")]
    async fn poll(&self) -> anyhow::Result<()> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    #[on_stop]
    async fn disconnect(&self) {}

    pub fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }
}

fn main() {
    let feed = MarketDataFeed { polls: AtomicU64::new(0) };
    assert_eq!(feed.name(), "market-data-feed");
    assert!(feed.is_critical());
    assert_eq!(feed.polls(), 0);
    let _boxed: Box<dyn JanusService> = Box::new(feed);
}
