//! # Janus
//!
//! Supervision for long-lived tokio services: restart policies, exponential
//! backoff with jitter, circuit breakers, bounded graceful shutdown,
//! lifecycle snapshots and Prometheus metrics.
//!
//! A service implements [`JanusService`](supervisor::JanusService): a name
//! and an async `run(cancel)`. A [`JanusSupervisor`](supervisor::JanusSupervisor)
//! runs each service in a tracked task, restarts it by its
//! [`RestartPolicy`](supervisor::RestartPolicy) after a jittered backoff, gives
//! up when its circuit breaker opens, and on shutdown cancels everything,
//! waits each service's shutdown timeout, and aborts what did not stop.
//!
//! ```
//! use std::time::Duration;
//! use janus::prelude::*;
//! use janus::supervisor::{JanusSupervisor, SupervisorConfig};
//!
//! struct Heartbeat;
//!
//! #[janus::async_trait]
//! impl JanusService for Heartbeat {
//!     fn name(&self) -> &str {
//!         "heartbeat"
//!     }
//!
//!     async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
//!         let mut tick = tokio::time::interval(Duration::from_secs(1));
//!         loop {
//!             tokio::select! {
//!                 _ = cancel.cancelled() => return Ok(()),
//!                 _ = tick.tick() => tracing::info!("beat"),
//!             }
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> anyhow::Result<()> {
//! let supervisor = JanusSupervisor::new(SupervisorConfig::default().without_signal_handler());
//! supervisor.spawn_service(Box::new(Heartbeat))?;
//! tokio::time::sleep(Duration::from_secs(3)).await;
//! supervisor.trigger_shutdown();
//! let report = supervisor.wait_for_drain().await;
//! assert!(report.is_clean());
//! # Ok(()) }
//! ```
//!
//! # Where Janus differs from the seed supervisor
//!
//! Janus keeps the public API of the `janus_core::supervisor` module it grew
//! from, and fixes its defects:
//!
//! 1. a shutdown timeout **aborts** what did not stop, and
//!    [`wait_for_drain`](supervisor::JanusSupervisor::wait_for_drain) returns a
//!    [`DrainReport`](supervisor::DrainReport) naming it;
//! 2. a **panic** in `run()` is a failure, restarted by policy and backoff;
//! 3. `Always` restarts after a clean exit go through backoff and breaker;
//! 4. backoff delays stay within `[base, max]`, history is bounded, and
//!    invalid configurations are typed errors;
//! 5. an error returned during shutdown is recorded, not reported as `cancelled`;
//! 6. `Stopping` is visible as soon as shutdown starts, and a service is
//!    registered as soon as `spawn_service` returns;
//! 7. duplicate service names are rejected;
//! 8. each service's state has its own lock: no global write lock per transition;
//! 9. metrics live in a registry Janus owns and never panic;
//! 10. lifecycle transitions are checked;
//! 11. a second Ctrl-C forces the exit (a deliberate one: a signal repeated
//!     within a second is the same request; the forced exit can be turned
//!     off), and a failed signal handler still drains.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adapters;
pub mod backoff;
pub mod context;
mod engine;
mod error;
pub mod events;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod lifecycle;
mod macro_support;
pub mod metrics;
mod report;
pub mod service;
mod strategy;
pub mod supervisor;
#[cfg(feature = "systemd")]
#[cfg_attr(docsrs, doc(cfg(feature = "systemd")))]
pub mod systemd;
#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod tree;

/// `async_trait`, with which [`JanusService`](service::JanusService) is
/// implemented by hand (`#[janus::async_trait]`).
pub use async_trait::async_trait;

/// The token `run()` receives: cancelled when the service is asked to stop.
pub use tokio_util::sync::CancellationToken;

/// `anyhow`, which services use for errors; re-exported so that a crate
/// depending on `janus` alone can name `janus::anyhow::…` (or [`Result`]).
pub use anyhow;

/// `anyhow::Result`: what `run()` and the macros' methods return.
pub use anyhow::Result;

#[doc = include_str!("../docs/service.md")]
pub use janus_macros::service;

#[doc = include_str!("../docs/supervisor.md")]
pub use janus_macros::supervisor;

/// What a service author needs in scope: `use janus::prelude::*;`.
pub mod prelude {
    #[doc(no_inline)]
    pub use crate::CancellationToken;
    #[doc(no_inline)]
    pub use crate::service::{JanusService, RestartPolicy};
    #[doc(no_inline)]
    pub use crate::tree::SupervisorSpec;
    #[doc(no_inline)]
    pub use crate::{service, supervisor};
}

/// Paths used by code the macros generate. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::backoff::BackoffConfig;
    pub use crate::macro_support::{ServiceDefinition, drive, step_loop};
    pub use crate::service::{JanusService, RestartPolicy};
    pub use crate::tree::{ChildOptions, ShutdownOrder, Strategy, SupervisorSpec};
    pub use anyhow;
    pub use async_trait::async_trait;
    pub use tokio_util::sync::CancellationToken;
}

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
