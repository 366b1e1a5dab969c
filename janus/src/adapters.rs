//! Supervise a closure or a future factory without writing a struct.
//!
//! - [`ModuleAdapter`] (or [`service_fn`]) wraps `Fn(CancellationToken) -> Future`:
//!   the future watches the token itself, like a hand-written `run()`.
//! - [`ApiModuleAdapter`] wraps `Fn() -> Future` for code that knows nothing
//!   of cancellation (an HTTP server's `serve` future, say): on shutdown the
//!   future is dropped, which ends it at its next `.await`.
//!
//! Both carry the settings a service can have: restart policy, backoff and
//! shutdown timeout.
//!
//! ```
//! use std::time::Duration;
//! use janus::supervisor::{JanusSupervisor, RestartPolicy, SupervisorConfig};
//! use janus::adapters::service_fn;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> anyhow::Result<()> {
//! let supervisor = JanusSupervisor::new(SupervisorConfig::default().without_signal_handler());
//! supervisor.spawn_service(Box::new(
//!     service_fn("ticker", |cancel| async move {
//!         let mut tick = tokio::time::interval(Duration::from_secs(1));
//!         loop {
//!             tokio::select! {
//!                 _ = cancel.cancelled() => return Ok(()),
//!                 _ = tick.tick() => {}
//!             }
//!         }
//!     })
//!     .with_restart_policy(RestartPolicy::Always),
//! ))?;
//! supervisor.trigger_shutdown();
//! assert!(supervisor.wait_for_drain().await.is_clean());
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::backoff::BackoffConfig;
use crate::service::{JanusService, RestartPolicy};
use async_trait::async_trait;

/// The settings every adapter carries.
#[derive(Debug, Clone)]
struct Settings {
    name: String,
    policy: RestartPolicy,
    /// Boxed: most services use their supervisor's, and an adapter is
    /// itself kept per service.
    backoff: Option<Box<BackoffConfig>>,
    shutdown_timeout: Option<Duration>,
}

impl Settings {
    fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            policy: RestartPolicy::default(),
            backoff: None,
            shutdown_timeout: None,
        }
    }
}

macro_rules! adapter_settings {
    ($ty:ident) => {
        impl<F> $ty<F> {
            /// Sets the restart policy (default: `OnFailure`).
            #[must_use]
            pub fn with_restart_policy(mut self, policy: RestartPolicy) -> Self {
                self.settings.policy = policy;
                self
            }

            /// Gives the service its own backoff.
            #[must_use]
            pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
                self.settings.backoff = Some(Box::new(backoff));
                self
            }

            /// Gives the service its own shutdown timeout.
            #[must_use]
            pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
                self.settings.shutdown_timeout = Some(timeout);
                self
            }
        }

        impl<F> fmt::Debug for $ty<F> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("name", &self.settings.name)
                    .field("policy", &self.settings.policy)
                    .field("backoff", &self.settings.backoff)
                    .field("shutdown_timeout", &self.settings.shutdown_timeout)
                    .finish_non_exhaustive()
            }
        }
    };
}

/// A service made of a name and a `Fn(CancellationToken) -> Future`.
///
/// Each run calls the factory once with the run's token.
pub struct ModuleAdapter<F> {
    settings: Settings,
    factory: F,
}

impl<F, Fut> ModuleAdapter<F>
where
    F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    /// A service named `name` whose runs are `factory(cancel)`.
    pub fn new(name: impl Into<String>, factory: F) -> Self {
        Self {
            settings: Settings::new(name),
            factory,
        }
    }
}

adapter_settings!(ModuleAdapter);

/// Shorthand for [`ModuleAdapter::new`].
pub fn service_fn<F, Fut>(name: impl Into<String>, factory: F) -> ModuleAdapter<F>
where
    F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    ModuleAdapter::new(name, factory)
}

/// A service made of a name and a `Fn() -> Future` that knows nothing of
/// cancellation: on shutdown the future is dropped and the run counts as a
/// clean stop.
pub struct ApiModuleAdapter<F> {
    settings: Settings,
    factory: F,
}

impl<F, Fut> ApiModuleAdapter<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    /// A service named `name` whose runs are `factory()`, raced against
    /// cancellation.
    pub fn new(name: impl Into<String>, factory: F) -> Self {
        Self {
            settings: Settings::new(name),
            factory,
        }
    }
}

adapter_settings!(ApiModuleAdapter);

macro_rules! settings_methods {
    () => {
        fn name(&self) -> &str {
            &self.settings.name
        }
        fn restart_policy(&self) -> RestartPolicy {
            self.settings.policy
        }
        fn backoff_config(&self) -> Option<BackoffConfig> {
            self.settings.backoff.as_deref().cloned()
        }
        fn shutdown_timeout(&self) -> Option<Duration> {
            self.settings.shutdown_timeout
        }
    };
}

#[async_trait]
impl<F, Fut> JanusService for ModuleAdapter<F>
where
    F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    settings_methods!();

    async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
        (self.factory)(cancel).await
    }
}

#[async_trait]
impl<F, Fut> JanusService for ApiModuleAdapter<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    settings_methods!();

    async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
        tokio::select! {
            () = cancel.cancelled() => Ok(()),
            result = (self.factory)() => result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn api_adapter_is_dropped_on_cancel() {
        let service = ApiModuleAdapter::new("api", || async {
            std::future::pending::<()>().await;
            Ok(())
        })
        .with_shutdown_timeout(Duration::from_secs(2))
        .with_restart_policy(RestartPolicy::Never);
        assert_eq!(service.name(), "api");
        assert_eq!(service.restart_policy(), RestartPolicy::Never);
        assert_eq!(service.shutdown_timeout(), Some(Duration::from_secs(2)));
        let cancel = CancellationToken::new();
        cancel.cancel();
        assert!(service.run(cancel).await.is_ok());
    }

    #[tokio::test]
    async fn module_adapter_passes_the_token_and_result() {
        let service = service_fn("fn", |cancel: CancellationToken| async move {
            anyhow::ensure!(cancel.is_cancelled(), "token not passed");
            anyhow::bail!("done")
        })
        .with_backoff(BackoffConfig::immediate());
        assert_eq!(service.backoff_config(), Some(BackoffConfig::immediate()));
        let cancel = CancellationToken::new();
        cancel.cancel();
        let err = service.run(cancel).await.expect_err("fails");
        assert_eq!(err.to_string(), "done");
        assert!(format!("{service:?}").contains("\"fn\""));
    }
}
