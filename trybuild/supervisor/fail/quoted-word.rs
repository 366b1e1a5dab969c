use janus::prelude::*;

#[janus::service(restart = "always")]
async fn feed(cancel: CancellationToken) -> janus::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

// Words are bare in `supervisor!`; a typo gets a suggestion.
fn main() {
    let _tree = janus::supervisor! {
        name: "desk",
        strategy: "one_for_all",
        children: [feed() => { restart: on_failur, shutdown_timout: "1s" }],
    };
}
