// Restart budgets: no intensity limit, an intensity of 0 (escalate the
// first failure, OTP's MaxR = 0), and backoff cooldowns in both macros.
use std::time::Duration;

use janus::prelude::*;

#[janus::service(restart = "always", backoff(base = "1s", cooldown = "2m"))]
async fn feed(cancel: CancellationToken) -> janus::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

fn main() {
    let unlimited = janus::supervisor! {
        name: "unlimited",
        intensity: off,
        backoff: { cooldown: "10m" },
        children: [feed() => { backoff: { max: "5s", cooldown: "1m" } }],
    };
    assert!(unlimited.validate().is_ok());
    let strict = janus::supervisor! {
        name: "strict",
        intensity: { restarts: 0, within: "60s" },
        children: [feed()],
    };
    assert!(strict.validate().is_ok());
    let backoff = feed().backoff_config().expect("written");
    assert_eq!(backoff.cooldown, Duration::from_secs(120));
}
