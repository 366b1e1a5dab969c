// A setting given as a constant or an expression has the setting's type:
// a mismatch is reported at the expression.
const PAUSE: u64 = 5;
const ATTEMPTS: &str = "three";

#[janus::service(shutdown_timeout = PAUSE)]
struct Feed;

#[janus::service]
impl Feed {
    #[step(every = "1s")]
    async fn poll(&self) -> janus::Result<()> {
        Ok(())
    }
}

fn main() {
    let _tree = janus::supervisor! {
        name: "desk",
        intensity: { restarts: ATTEMPTS, within: "60s" },
        children: [Feed],
    };
}
