use janus::prelude::*;

#[janus::service(restart = "always")]
async fn feed(cancel: CancellationToken) -> janus::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

// A missing key is reported beside the other mistakes, not after them.
fn main() {
    let _tree = janus::supervisor! {
        strategy: one_for_everyone,
        children: [feed() => { backoff: { base: "2m" } }],
    };
}
