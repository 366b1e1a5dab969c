use janus::prelude::*;

#[janus::service(restart = "always")]
async fn feed(cancel: CancellationToken) -> janus::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

// `supervisor!` writes `key: value`; the attribute's `key = value` is named.
fn main() {
    let _tree = janus::supervisor! {
        name = "desk",
        children: [feed()],
    };
}
