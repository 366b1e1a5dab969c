use janus::prelude::*;

#[janus::service(restart = "always")]
async fn feed(cancel: CancellationToken) -> janus::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

fn main() {
    let _tree = janus::supervisor! {
        name: "desk",
        intensity: { restarts: 0, within: "0s" },
        children: [feed()],
    };
}
