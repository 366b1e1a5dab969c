// A function service with constructor arguments, full-control and
// step-style.
use janus::prelude::*;

#[janus::service]
async fn poller(url: String, retries: u32, cancel: CancellationToken) -> janus::Result<()> {
    let _ = (url, retries);
    cancel.cancelled().await;
    Ok(())
}

#[janus::service(every = "1s")]
async fn pinger(host: std::sync::Arc<str>) -> janus::Result<()> {
    let _ = host;
    Ok(())
}

fn main() {
    let _a = poller("https://example.invalid".to_owned(), 3);
    let _b = pinger("example.invalid".into());
}
