// A function service with full control: a constructor of the same name.
use janus::prelude::*;

/// Beats until cancelled.
#[janus::service(restart = "always", shutdown_timeout = "2s")]
pub async fn heartbeat(cancel: CancellationToken) -> anyhow::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

fn main() {
    let service = heartbeat();
    assert_eq!(service.name(), "heartbeat");
    assert_eq!(service.restart_policy(), RestartPolicy::Always);
}
