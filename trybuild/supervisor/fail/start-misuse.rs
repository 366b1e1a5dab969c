use janus::prelude::*;

#[janus::service(restart = "always")]
async fn feed(cancel: CancellationToken) -> janus::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

// Every mistake in the start settings, reported at once: an unknown order,
// an unknown key in `start`, and a start timeout of zero.
fn main() {
    let _one = janus::supervisor! {
        name: "desk",
        start: sequential,
        children: [feed()],
    };
    let _two = janus::supervisor! {
        name: "desk",
        start: { ordr: ordered },
        children: [feed() => { start_timeout: "0s" }],
    };
}
