//! systemd integration (feature `systemd`): the process manager as the
//! supervisor above the root.
//!
//! [`SystemdNotifier`] is a service to put in the tree. Under systemd
//! (`Type=notify`, so `NOTIFY_SOCKET` is set) it sends:
//!
//! - `READY=1` once the tree is ready ([`SupervisorHandle::is_ready`](crate::tree::SupervisorHandle::is_ready)):
//!   the root runs and every service that gates readiness is running and
//!   ready;
//! - `WATCHDOG=1` every half `WATCHDOG_USEC` while the root is healthy, when
//!   systemd asked for a watchdog (`WatchdogSec=`);
//! - `STOPPING=1` as soon as the tree starts shutting down.
//!
//! Without `NOTIFY_SOCKET` it sends nothing. With the root's exit codes
//! (a failed root makes `run_until_shutdown` return an error, so `main`
//! exits non-zero; a clean shutdown exits 0), `Restart=on-failure` restarts
//! the process exactly when Janus gives up.
//!
//! ```no_run
//! # use janus::prelude::*;
//! # #[janus::service(every = "1s")] async fn feed() -> janus::Result<()> { Ok(()) }
//! use janus::systemd::SystemdNotifier;
//!
//! # async fn run() -> Result<(), janus::tree::SupervisorError> {
//! janus::supervisor! {
//!     name: "desk",
//!     children: [SystemdNotifier::new(), feed()],
//! }
//! .run_until_shutdown()
//! .await
//! # }
//! ```

use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::service::{JanusService, RestartPolicy};
use crate::tree::Health;
use async_trait::async_trait;

/// Tells systemd when the tree is ready, alive, and stopping.
#[derive(Debug, Clone)]
#[must_use]
pub struct SystemdNotifier {
    poll: Duration,
}

impl Default for SystemdNotifier {
    fn default() -> Self {
        Self::new()
    }
}

impl SystemdNotifier {
    /// A notifier that checks readiness every 100 ms until the tree is ready.
    pub fn new() -> Self {
        Self {
            poll: Duration::from_millis(100),
        }
    }
}

/// Sends the notifications from a thread of its own: sending on the
/// notification socket blocks while its reader lags (a full datagram queue),
/// which must stall neither a runtime worker nor the tree. What cannot be
/// queued then is dropped, with a warning: a watchdog ping comes again.
struct Sender {
    queue: std::sync::mpsc::SyncSender<NotifyState<'static>>,
}

impl Sender {
    fn start() -> std::io::Result<Self> {
        let (queue, notifications) = std::sync::mpsc::sync_channel::<NotifyState<'static>>(4);
        std::thread::Builder::new()
            .name("janus-systemd-notify".into())
            .spawn(move || {
                // Ends when the notifier's run drops its sender.
                for state in notifications {
                    if let Err(error) = sd_notify::notify(&[state]) {
                        tracing::warn!(%error, "systemd notification failed");
                    }
                }
            })?;
        Ok(Self { queue })
    }

    fn notify(&self, state: NotifyState<'static>) {
        if self.queue.try_send(state).is_err() {
            tracing::warn!("systemd is not reading its notifications: one dropped");
        }
    }
}

#[async_trait]
impl JanusService for SystemdNotifier {
    fn name(&self) -> &str {
        "systemd-notify"
    }

    fn restart_policy(&self) -> RestartPolicy {
        RestartPolicy::Always
    }

    async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
        let tree = crate::context::root().ok_or_else(|| {
            anyhow::anyhow!("the systemd notifier runs outside a supervision tree")
        })?;
        let sender = Sender::start()?;
        let notify = |state| sender.notify(state);
        let watchdog = sd_notify::watchdog_enabled();
        let mut readiness = tokio::time::interval(self.poll);
        let mut ready = false;
        let mut watchdog_tick = watchdog.map(|period| tokio::time::interval(period / 2));
        loop {
            tokio::select! {
                () = tree.shutdown_requested() => break,
                () = cancel.cancelled() => break,
                _ = readiness.tick(), if !ready => {
                    if tree.is_ready() {
                        notify(NotifyState::Ready);
                        ready = true;
                        tracing::info!("systemd: READY=1");
                    }
                }
                _ = async {
                    match watchdog_tick.as_mut() {
                        Some(tick) => tick.tick().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if tree.health() == Health::Running {
                        notify(NotifyState::Watchdog);
                    }
                }
            }
        }
        notify(NotifyState::Stopping);
        tracing::info!("systemd: STOPPING=1");
        Ok(())
    }
}
