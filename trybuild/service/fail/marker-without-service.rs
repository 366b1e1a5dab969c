// A role marker on a method of an impl that lacks `#[janus::service]`.
use janus::prelude::*;

#[janus::service]
struct Feed;

impl Feed {
    #[step(every = "1s")]
    async fn poll(&self) -> janus::Result<()> {
        Ok(())
    }
}

fn main() {}
