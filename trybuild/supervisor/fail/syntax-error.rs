use janus::prelude::*;

#[janus::service(restart = "always")]
async fn feed(cancel: CancellationToken) -> janus::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

// Input that cannot be read is one error: the tree still has its type, so
// the code that uses it reports nothing more.
async fn start() {
    let tree = janus::supervisor! {
        name "desk",
        children: [feed()],
    };
    let _handle = tree.start().await;
}

fn main() {
    drop(start());
}
