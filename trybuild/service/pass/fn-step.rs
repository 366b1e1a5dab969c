// A step-style function service: called every period.
use janus::prelude::*;

#[janus::service(name = "metrics-flush", every = "10s", backoff(base = "1s", max = "1m"))]
async fn flush_metrics() -> anyhow::Result<()> {
    Ok(())
}

fn main() {
    assert_eq!(flush_metrics().name(), "metrics-flush");
}
