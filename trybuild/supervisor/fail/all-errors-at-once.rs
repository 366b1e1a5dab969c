use janus::prelude::*;

#[janus::service(restart = "always")]
async fn feed(cancel: CancellationToken) -> janus::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

// Every mistake is reported, each at its token.
fn main() {
    let _tree = janus::supervisor! {
        name: "desk",
        strategy: sometimes,
        shutdown: { timeout: "never" },
        colour: "blue",
        children: [feed() => { critical: maybe }],
    };
}
