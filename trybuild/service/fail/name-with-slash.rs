#[janus::service(name = "feeds/binance", restart = "always")]
async fn feed(cancel: janus::prelude::CancellationToken) -> janus::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

fn main() {}
