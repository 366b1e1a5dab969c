// Only the required keys; concurrent shutdown; a boxed child.
use janus::prelude::*;

#[janus::service(every = "1s")]
async fn tick() -> janus::Result<()> {
    Ok(())
}

fn main() {
    let boxed: Box<dyn JanusService> = Box::new(tick());
    let tree = janus::supervisor! {
        name: "minimal",
        shutdown: { order: concurrent },
        children: [boxed, tick() => { backoff: { max: "1s", base: "10ms" } }],
    };
    assert!(tree.validate().is_err(), "two children named tick");
}
