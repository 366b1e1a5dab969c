//! Every shape of `#[janus::service]` in a crate whose only dependency is
//! `janus`: the generated code names nothing else.

use std::sync::atomic::{AtomicU64, Ordering};

use janus::prelude::*;

/// A struct service with hooks and a periodic step.
#[janus::service(
    name = "feed",
    restart = "always",
    backoff(base = "100ms", max = "30s"),
    circuit_breaker(max_failures = 5, window = "60s"),
    shutdown_timeout = "5s",
    critical
)]
#[derive(Debug)]
pub struct Feed {
    polls: AtomicU64,
}

#[janus::service]
impl Feed {
    #[on_start]
    async fn connect(&self) -> janus::Result<()> {
        Ok(())
    }

    #[step(every = "100ms")]
    async fn poll(&self) -> janus::Result<()> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    #[on_stop]
    async fn disconnect(&self) {}
}

/// A struct service with full control, named per instance.
#[janus::service(name = id, circuit_breaker = "off")]
#[derive(Debug)]
pub struct Worker<T: Send + Sync + 'static> {
    id: String,
    state: T,
}

#[janus::service]
impl<T: Send + Sync + 'static> Worker<T> {
    #[run]
    async fn work(&self, cancel: CancellationToken) -> janus::Result<()> {
        let _ = &self.state;
        cancel.cancelled().await;
        Ok(())
    }
}

/// A function service with full control.
#[janus::service(restart = "always")]
pub async fn heartbeat(cancel: CancellationToken) -> janus::Result<()> {
    cancel.cancelled().await;
    Ok(())
}

/// A step-style function service.
#[janus::service(every = "1s")]
pub async fn flush() -> janus::Result<()> {
    janus::anyhow::ensure!(true, "never");
    Ok(())
}

/// One of each, boxed.
#[must_use]
pub fn all() -> Vec<Box<dyn JanusService>> {
    vec![
        Box::new(Feed {
            polls: AtomicU64::new(0),
        }),
        Box::new(Worker {
            id: "worker-1".to_owned(),
            state: 7_u8,
        }),
        Box::new(heartbeat()),
        Box::new(flush()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_is_a_service() {
        let names: Vec<String> = all().iter().map(|s| s.name().to_owned()).collect();
        assert_eq!(names, ["feed", "worker-1", "heartbeat", "flush"]);
        let policies: Vec<RestartPolicy> = all().iter().map(|s| s.restart_policy()).collect();
        assert_eq!(
            policies,
            [
                RestartPolicy::Always,
                RestartPolicy::OnFailure,
                RestartPolicy::Always,
                RestartPolicy::OnFailure
            ]
        );
        assert!(all()[0].is_critical());
    }
}
