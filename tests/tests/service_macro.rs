use janus::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

#[janus::service(
    restart = "always",
    backoff(base = "10ms", max = "1s"),
    shutdown_timeout = "2s"
)]
struct Feed {
    polls: AtomicU64,
}

#[janus::service]
impl Feed {
    #[on_start]
    async fn connect(&self) -> anyhow::Result<()> {
        Ok(())
    }
    #[step(every = "100ms")]
    async fn poll(&self) -> anyhow::Result<()> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    #[on_stop]
    async fn disconnect(&self) {}
}

#[janus::service(restart = "always")]
async fn heartbeat(cancel: CancellationToken) -> anyhow::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

#[test]
fn names() {
    let f = Feed {
        polls: AtomicU64::new(0),
    };
    assert_eq!(f.name(), "feed");
    assert_eq!(heartbeat().name(), "heartbeat");
}
