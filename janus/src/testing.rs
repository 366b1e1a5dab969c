//! Ready-made services for testing supervision setups (feature `testing`).
//!
//! A [`TestService`] plays a script: one [`Behavior`] per run, then a final
//! behavior for every later run. Its [`Probe`] counts what happened: starts,
//! cancellations seen, runs that were dropped (aborted) before finishing, and
//! when each run began. Janus's own tests use these; yours can too.
//!
//! ```
//! use std::time::Duration;
//! use janus::supervisor::{BackoffConfig, JanusSupervisor, ServicePhase, SupervisorConfig};
//! use janus::testing::{Behavior, TestService};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> anyhow::Result<()> {
//! let config = SupervisorConfig::default()
//!     .without_signal_handler()
//!     .with_default_backoff(BackoffConfig::new(Duration::from_millis(100), Duration::from_secs(1)));
//! let supervisor = JanusSupervisor::new(config);
//! // Fails twice, then runs until cancelled.
//! let (flaky, probe) = TestService::failing("flaky", 2);
//! supervisor.spawn_service(Box::new(flaky))?;
//!
//! tokio::time::sleep(Duration::from_secs(1)).await;
//! assert_eq!(probe.starts(), 3);
//! let snap = supervisor.service_lifecycle("flaky").await.unwrap();
//! assert_eq!(snap.phase, ServicePhase::Running);
//! assert_eq!(snap.total_failures, 2);
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::BackoffConfig;
use crate::service::{JanusService, RestartPolicy};
use async_trait::async_trait;

/// What one run of a [`TestService`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Behavior {
    /// Run until cancelled, then return `Ok(())`.
    RunUntilCancelled,
    /// Return `Ok(())` at once.
    Complete,
    /// Return `Ok(())` after the delay (or at cancellation, if earlier).
    CompleteAfter(Duration),
    /// Return this error at once.
    Fail(String),
    /// Return this error after the delay (or `Ok(())` at cancellation, if earlier).
    FailAfter(Duration, String),
    /// Panic with this message at once.
    Panic(String),
    /// Never return, ignoring cancellation (only an abort ends it).
    IgnoreCancellation,
    /// Run until cancelled, then return this error.
    FailOnCancel(String),
    /// Run until cancelled, then take this long to stop.
    SlowStop(Duration),
}

/// What a [`TestService`] observed, shared with the test.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    inner: Arc<ProbeInner>,
}

#[derive(Debug, Default)]
struct ProbeInner {
    starts: AtomicU64,
    finished: AtomicU64,
    cancellations: AtomicU64,
    dropped: AtomicU64,
    start_times: Mutex<Vec<Instant>>,
}

impl Probe {
    /// Runs started.
    #[must_use]
    pub fn starts(&self) -> u64 {
        self.inner.starts.load(Ordering::SeqCst)
    }

    /// Runs that returned (or panicked).
    #[must_use]
    pub fn finished(&self) -> u64 {
        self.inner.finished.load(Ordering::SeqCst)
    }

    /// Runs that saw their cancellation token fire.
    #[must_use]
    pub fn cancellations_seen(&self) -> u64 {
        self.inner.cancellations.load(Ordering::SeqCst)
    }

    /// Runs dropped before they returned: aborted by the supervisor.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::SeqCst)
    }

    /// Runs in progress: started, neither finished nor dropped.
    #[must_use]
    pub fn running(&self) -> u64 {
        self.starts() - self.finished() - self.dropped()
    }

    /// When each run started, on tokio's clock.
    #[must_use]
    pub fn start_times(&self) -> Vec<Instant> {
        self.inner
            .start_times
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The gaps between consecutive starts.
    #[must_use]
    pub fn restart_gaps(&self) -> Vec<Duration> {
        self.start_times()
            .windows(2)
            .map(|w| w[1].saturating_duration_since(w[0]))
            .collect()
    }
}

/// Counts a run as dropped unless it was disarmed by finishing.
struct RunGuard<'a> {
    probe: &'a ProbeInner,
    armed: bool,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        let counter = if self.armed {
            &self.probe.dropped
        } else {
            &self.probe.finished
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// A scripted service for tests.
#[derive(Debug)]
pub struct TestService {
    name: String,
    script: Vec<Behavior>,
    then: Behavior,
    policy: RestartPolicy,
    backoff: Option<BackoffConfig>,
    shutdown_timeout: Option<Duration>,
    probe: Probe,
}

impl TestService {
    /// A service that behaves as `then` on every run.
    #[must_use]
    pub fn new(name: impl Into<String>, then: Behavior) -> Self {
        Self {
            name: name.into(),
            script: Vec::new(),
            then,
            policy: RestartPolicy::OnFailure,
            backoff: None,
            shutdown_timeout: None,
            probe: Probe::default(),
        }
    }

    /// Fails `times` runs, then runs until cancelled.
    #[must_use]
    pub fn failing(name: impl Into<String>, times: usize) -> (Self, Probe) {
        let service = Self::new(name, Behavior::RunUntilCancelled).with_script(vec![
            Behavior::Fail(
                "simulated failure".into()
            );
            times
        ]);
        let probe = service.probe();
        (service, probe)
    }

    /// Panics `times` runs, then runs until cancelled.
    #[must_use]
    pub fn panicking(name: impl Into<String>, times: usize) -> (Self, Probe) {
        let service = Self::new(name, Behavior::RunUntilCancelled).with_script(vec![
            Behavior::Panic(
                "simulated panic".into()
            );
            times
        ]);
        let probe = service.probe();
        (service, probe)
    }

    /// Ignores cancellation: only an abort stops it.
    #[must_use]
    pub fn ignoring_cancellation(name: impl Into<String>) -> (Self, Probe) {
        let service = Self::new(name, Behavior::IgnoreCancellation);
        let probe = service.probe();
        (service, probe)
    }

    /// Returns `Ok(())` after `delay`, on every run.
    #[must_use]
    pub fn exiting_after(name: impl Into<String>, delay: Duration) -> (Self, Probe) {
        let service = Self::new(name, Behavior::CompleteAfter(delay));
        let probe = service.probe();
        (service, probe)
    }

    /// Plays `script` on the first runs, one behavior each, before `then`.
    #[must_use]
    pub fn with_script(mut self, script: Vec<Behavior>) -> Self {
        self.script = script;
        self
    }

    /// Sets the restart policy (default `OnFailure`).
    #[must_use]
    pub fn with_restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Gives the service its own backoff.
    #[must_use]
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Gives the service its own shutdown timeout.
    #[must_use]
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// The probe observing this service.
    #[must_use]
    pub fn probe(&self) -> Probe {
        self.probe.clone()
    }

    fn behavior(&self, run: u64) -> &Behavior {
        usize::try_from(run)
            .ok()
            .and_then(|i| self.script.get(i))
            .unwrap_or(&self.then)
    }
}

async fn cancelled_within(cancel: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        () = cancel.cancelled() => true,
        () = tokio::time::sleep(delay) => false,
    }
}

#[async_trait]
impl JanusService for TestService {
    fn name(&self) -> &str {
        &self.name
    }

    fn restart_policy(&self) -> RestartPolicy {
        self.policy
    }

    fn backoff_config(&self) -> Option<BackoffConfig> {
        self.backoff.clone()
    }

    fn shutdown_timeout(&self) -> Option<Duration> {
        self.shutdown_timeout
    }

    async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
        let probe = &*self.probe.inner;
        let run = probe.starts.fetch_add(1, Ordering::SeqCst);
        probe
            .start_times
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Instant::now());
        let mut guard = RunGuard { probe, armed: true };
        let seen = || probe.cancellations.fetch_add(1, Ordering::SeqCst);
        let result = match self.behavior(run) {
            Behavior::RunUntilCancelled => {
                cancel.cancelled().await;
                seen();
                Ok(())
            }
            Behavior::Complete => Ok(()),
            Behavior::CompleteAfter(delay) => {
                if cancelled_within(&cancel, *delay).await {
                    seen();
                }
                Ok(())
            }
            Behavior::Fail(error) => Err(anyhow::anyhow!("{error}")),
            Behavior::FailAfter(delay, error) => {
                if cancelled_within(&cancel, *delay).await {
                    seen();
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("{error}"))
                }
            }
            Behavior::Panic(message) => {
                guard.armed = false;
                panic!("{message}");
            }
            Behavior::IgnoreCancellation => loop {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            },
            Behavior::FailOnCancel(error) => {
                cancel.cancelled().await;
                seen();
                Err(anyhow::anyhow!("{error}"))
            }
            Behavior::SlowStop(delay) => {
                cancel.cancelled().await;
                seen();
                tokio::time::sleep(*delay).await;
                Ok(())
            }
        };
        guard.armed = false;
        result
    }
}
