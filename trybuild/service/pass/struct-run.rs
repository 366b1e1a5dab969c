// A struct service with full control through #[run], named by a field.
use janus::prelude::*;

#[janus::service(name = id, restart = "always", circuit_breaker = "off")]
struct Worker {
    id: String,
}

#[janus::service]
impl Worker {
    #[run]
    async fn work(&self, cancel: CancellationToken) -> anyhow::Result<()> {
        cancel.cancelled().await;
        Ok(())
    }
}

fn main() {
    assert_eq!(Worker { id: "w-1".into() }.name(), "w-1");
}
