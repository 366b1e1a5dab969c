//! # Janus
//!
//! Supervision for long-lived tokio services: restart policies, exponential
//! backoff with jitter, circuit breakers, Erlang/OTP supervision trees,
//! bounded graceful shutdown, lifecycle snapshots and events, Prometheus
//! metrics and health endpoints.
//!
//! # Services and trees
//!
//! A service is declared with [`#[janus::service]`](macro@service): on an
//! `async fn`, or on a struct and its impl block (`#[on_start]`, `#[step]`,
//! `#[run]`, `#[on_stop]`). A tree is declared with
//! [`janus::supervisor!`](supervisor!): a name, a [strategy](tree::Strategy)
//! (`one_for_one`, `one_for_all`, `rest_for_one`), a restart
//! [intensity](tree::Intensity), a shutdown order, and children, which are
//! services or other trees. Both macros check everything at compile time;
//! a mistake is an error at the offending token.
//!
//! ```
//! use janus::prelude::*;
//!
//! #[janus::service(restart = "always", backoff(base = "100ms", max = "30s"))]
//! async fn quotes(cancel: CancellationToken) -> janus::Result<()> {
//!     cancel.cancelled().await; // a real service reads a feed here
//!     Ok(())
//! }
//!
//! #[janus::service(every = "1s")]
//! async fn limits() -> janus::Result<()> {
//!     Ok(()) // called every second; an error ends the run, and it restarts
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> janus::Result<()> {
//! let desk = janus::supervisor! {
//!     name: "desk",
//!     strategy: rest_for_one,
//!     intensity: { restarts: 5, within: "60s" },
//!     children: [quotes() => { critical: true }, limits()],
//! };
//! let handle = desk.start().await?;
//! assert!(handle.snapshot("desk/limits").is_some());
//! handle.shutdown();
//! let report = handle.wait().await?;
//! assert!(report.is_clean());
//! # Ok(()) }
//! ```
//!
//! A running tree answers through its [`SupervisorHandle`](tree::SupervisorHandle):
//! add, stop, restart and remove children; snapshots, [events], health and
//! readiness; and it serves them over [HTTP](crate::http) (`/metrics`,
//! `/healthz`, `/readyz`, `/status`). `run_until_shutdown` stops it on
//! SIGTERM or Ctrl-C, within each child's shutdown timeout, aborting what
//! does not stop and saying so in a [`DrainReport`](supervisor::DrainReport).
//!
//! # The modules
//!
//! - [`service`](mod@service): the [`JanusService`](service::JanusService) trait every
//!   service implements (the macros write it for you), and its
//!   [`RestartPolicy`](service::RestartPolicy).
//! - [`tree`]: supervision trees ([`SupervisorSpec`](tree::SupervisorSpec),
//!   [`SupervisorHandle`](tree::SupervisorHandle)), with OTP's semantics.
//! - [`supervisor`](mod@supervisor): the flat [`JanusSupervisor`](supervisor::JanusSupervisor)
//!   of the seed API (below), and the report and metrics types both share.
//! - [`backoff`]: delays, jitter and the circuit breaker; [`lifecycle`]: the
//!   phases a service goes through, and its snapshots; [`events`]: those
//!   phases as a stream.
//! - [`context`]: what a running service can tell its supervisor (ready,
//!   alive) and learn (its path).
//! - [`adapters`]: supervise a closure without declaring a service.
//! - [`metrics`], [`http`](mod@http), [`systemd`]: Prometheus, the status endpoint,
//!   and systemd's readiness and watchdog.
//! - [`testing`]: scripted services for testing supervision setups.
//!
//! Builders name their setters `with_<setting>` (and `without_<setting>`
//! to turn one off), whatever they build.
//!
//! # The seed API
//!
//! Janus keeps the public API of the `janus_core::supervisor` module it grew
//! from: code written for it compiles against [`janus::supervisor`](mod@supervisor)
//! by renaming the crate. A service implements
//! [`JanusService`](supervisor::JanusService) by hand; a
//! [`JanusSupervisor`](supervisor::JanusSupervisor) runs each one:
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
//! ## Where Janus differs from the seed supervisor
//!
//! It fixes the seed's defects:
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
mod inbox;
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

pub use inbox::{Inbox, InboxReceiver};

/// `anyhow`, which services use for errors; re-exported so that a crate
/// depending on `janus` alone can name `janus::anyhow::…` (or [`Result`]).
pub use anyhow;

/// `anyhow::Result`: what `run()` and the macros' methods return.
pub use anyhow::Result;

#[doc = include_str!("../docs/service.md")]
pub use janus_macros::service;

#[doc = include_str!("../docs/supervisor.md")]
pub use janus_macros::supervisor;

/// Marks the method of a `#[janus::service]` impl that the service calls
/// in a loop (see [`service`]). Written on a method of an impl without
/// `#[janus::service]`, it is a compile error saying so.
pub use janus_macros::step;

/// Marks the method of a `#[janus::service]` impl that opens each run
/// (see [`service`]); outside one, a compile error saying so.
pub use janus_macros::on_start;

/// Marks the method of a `#[janus::service]` impl that closes each run
/// (see [`service`]); outside one, a compile error saying so.
pub use janus_macros::on_stop;

/// Marks the method of a `#[janus::service]` impl that runs the service
/// with full control (see [`service`]); outside one, a compile error
/// saying so.
pub use janus_macros::run;

/// What a service author needs in scope: `use janus::prelude::*;`.
pub mod prelude {
    #[doc(no_inline)]
    pub use crate::CancellationToken;
    #[doc(no_inline)]
    pub use crate::Inbox;
    #[doc(no_inline)]
    pub use crate::service::{JanusService, RestartPolicy, StopReason};
    #[doc(no_inline)]
    pub use crate::tree::SupervisorSpec;
    #[doc(no_inline)]
    pub use crate::{on_start, on_stop, run, service, step, supervisor};
}

/// Paths used by code the macros generate. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::Inbox;
    pub use crate::backoff::BackoffConfig;
    pub use crate::macro_support::{
        ServiceDefinition, Ticker, drive_with_state, interval, step_loop, step_once, yield_budget,
    };
    pub use crate::service::{IntoServiceResult, IntoState, StopReason};
    pub use crate::service::{JanusService, RestartPolicy};
    pub use crate::tree::{
        AutoShutdown, ChildOptions, DynamicSupervisorSpec, ShutdownOrder, StartOrder, Strategy,
        SupervisorSpec,
    };
    pub use anyhow;
    pub use async_trait::async_trait;
    pub use tokio;
    pub use tokio_util::sync::CancellationToken;
}

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
