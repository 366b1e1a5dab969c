use janus::prelude::*;

// A function has no fields to name it by.
#[janus::service(name = feed_name)]
async fn feed(cancel: CancellationToken) -> janus::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

fn main() {}
