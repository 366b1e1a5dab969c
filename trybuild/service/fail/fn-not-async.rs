use janus::prelude::*;

#[janus::service]
fn heartbeat(cancel: CancellationToken) -> anyhow::Result<()> {
    let _ = cancel;
    Ok(())
}

fn main() {}
