//! Exponential backoff with jitter, and the circuit breaker that stops a
//! restart loop.
//!
//! # The delay
//!
//! The `n`-th consecutive restart (counting from 0) waits
//!
//! ```text
//! d(n)    = min(max_delay, base_delay * 2^n)
//! delay   = uniform in [max(base_delay, d(n) / 2), d(n)]     ("equal jitter")
//! ```
//!
//! so every delay lies within `[base_delay, max_delay]`, the first one is
//! exactly `base_delay`, and services failing together spread out instead of
//! restarting in lockstep. `BackoffConfig::new(Duration::ZERO, Duration::ZERO)`
//! means "restart at once": every delay is zero and the supervisor restarts
//! without going through a timer.
//!
//! # Cooldown
//!
//! A run that lasted at least `cooldown` proves the service healthy again:
//! [`BackoffState::maybe_reset_on_cooldown`] then resets the exponent, so the
//! next failure waits `base_delay` again.
//!
//! # Circuit breaker
//!
//! With a breaker of `max_failures` in `window`, each restart request records
//! its time; when the window (ending now) holds `max_failures` of them,
//! [`BackoffState::next_backoff`] answers [`BackoffAction::CircuitOpen`] and
//! the supervisor gives up on the service. Like an OTP supervisor's restart
//! intensity, every restart counts, including `Always` restarts after a clean
//! exit. The history is bounded by `max_failures`; with the breaker off, none
//! is kept.
//!
//! A breaker given a `reset_after` ([`BackoffConfig::with_reset_after`])
//! heals instead of giving up, as resilience4j's and Polly's do: open, the
//! service waits `reset_after`, then gets one trial run (half-open). A
//! trial that fails before its cooldown opens the circuit again for another
//! `reset_after`; one that completes, or runs for its cooldown before it
//! ends, closes it: the window starts empty.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The settings of a circuit breaker: trip when `max_failures` restarts fall
/// within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CircuitBreakerConfig {
    /// How many restarts within `window` open the circuit. Must be at least 1.
    pub max_failures: u32,
    /// The sliding window the restarts are counted in. Must not be zero.
    pub window: Duration,
    /// `None`: an open circuit gives up on the service for good. `Some`:
    /// it heals (see [`BackoffConfig::with_reset_after`]). Must not be zero.
    #[serde(default)]
    pub reset_after: Option<Duration>,
}

/// Restart delays and circuit breaker of a service.
///
/// Defaults: base 100 ms, max 60 s, cooldown 300 s, circuit breaker 10
/// failures in 600 s.
///
/// Builders never panic; an inconsistent configuration is reported by
/// [`BackoffConfig::validate`] (and by the supervisor when a service is
/// spawned with it) as a [`BackoffConfigError`].
///
/// ```
/// use std::time::Duration;
/// use janus::supervisor::BackoffConfig;
///
/// let backoff = BackoffConfig::new(Duration::from_millis(250), Duration::from_secs(30))
///     .with_circuit_breaker(5, Duration::from_secs(60))
///     .with_cooldown(Duration::from_secs(120));
/// assert!(backoff.validate().is_ok());
///
/// let inverted = BackoffConfig::new(Duration::from_secs(5), Duration::from_secs(1));
/// assert!(inverted.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackoffConfig {
    /// Delay before the first restart; every delay is at least this.
    pub base_delay: Duration,
    /// Upper bound of every delay.
    pub max_delay: Duration,
    /// A run at least this long resets the exponent.
    pub cooldown: Duration,
    /// The circuit breaker, or `None` to restart forever.
    pub circuit_breaker: Option<CircuitBreakerConfig>,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(60),
            cooldown: Duration::from_secs(300),
            circuit_breaker: Some(CircuitBreakerConfig {
                max_failures: 10,
                window: Duration::from_secs(600),
                reset_after: None,
            }),
        }
    }
}

impl BackoffConfig {
    /// Delays from `base_delay` to `max_delay`, with the default cooldown and
    /// circuit breaker.
    #[must_use]
    pub fn new(base_delay: Duration, max_delay: Duration) -> Self {
        Self {
            base_delay,
            max_delay,
            ..Self::default()
        }
    }

    /// Restart at once, without a timer, and never give up: zero delays, no
    /// circuit breaker. Meant for tests and benchmarks.
    #[must_use]
    pub fn immediate() -> Self {
        Self::new(Duration::ZERO, Duration::ZERO).without_circuit_breaker()
    }

    /// Open the circuit when `max_failures` restarts fall within `window`.
    #[must_use]
    pub fn with_circuit_breaker(mut self, max_failures: u32, window: Duration) -> Self {
        let reset_after = self.circuit_breaker.and_then(|cb| cb.reset_after);
        self.circuit_breaker = Some(CircuitBreakerConfig {
            max_failures,
            window,
            reset_after,
        });
        self
    }

    /// Makes the circuit breaker heal: once open, the service waits
    /// `reset_after`, then gets one trial run; a trial that fails before
    /// its cooldown opens the circuit again, one that completes or lasts
    /// its cooldown closes it (see the [module docs](self)). Without it,
    /// an open circuit gives up on the service for good. No effect
    /// without a breaker.
    ///
    /// ```
    /// use std::time::Duration;
    /// use janus::supervisor::BackoffConfig;
    ///
    /// let healing = BackoffConfig::default()
    ///     .with_circuit_breaker(5, Duration::from_secs(60))
    ///     .with_reset_after(Duration::from_secs(300));
    /// assert_eq!(
    ///     healing.circuit_breaker.and_then(|cb| cb.reset_after),
    ///     Some(Duration::from_secs(300))
    /// );
    /// ```
    #[must_use]
    pub fn with_reset_after(mut self, reset_after: Duration) -> Self {
        if let Some(cb) = &mut self.circuit_breaker {
            cb.reset_after = Some(reset_after);
        }
        self
    }

    /// Never open the circuit: restart for as long as the policy says.
    #[must_use]
    pub fn without_circuit_breaker(mut self) -> Self {
        self.circuit_breaker = None;
        self
    }

    /// A run at least `cooldown` long resets the delay to `base_delay`.
    #[must_use]
    pub fn with_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Checks that the configuration is consistent.
    ///
    /// # Errors
    ///
    /// - [`BackoffConfigError::BaseExceedsMax`] when `base_delay > max_delay`;
    /// - [`BackoffConfigError::ZeroBase`] when `base_delay` is zero but
    ///   `max_delay` is not (the delay could never grow);
    /// - [`BackoffConfigError::ZeroMaxFailures`] and
    ///   [`BackoffConfigError::ZeroWindow`] for a breaker that could never be
    ///   closed or could never trip.
    pub fn validate(&self) -> Result<(), BackoffConfigError> {
        if self.base_delay > self.max_delay {
            return Err(BackoffConfigError::BaseExceedsMax {
                base: self.base_delay,
                max: self.max_delay,
            });
        }
        if self.base_delay.is_zero() && !self.max_delay.is_zero() {
            return Err(BackoffConfigError::ZeroBase {
                max: self.max_delay,
            });
        }
        if let Some(cb) = self.circuit_breaker {
            if cb.max_failures == 0 {
                return Err(BackoffConfigError::ZeroMaxFailures);
            }
            if cb.window.is_zero() {
                return Err(BackoffConfigError::ZeroWindow);
            }
            if cb.reset_after.is_some_and(|d| d.is_zero()) {
                return Err(BackoffConfigError::ZeroResetAfter);
            }
        }
        Ok(())
    }

    /// The undithered delay of the `attempt`-th consecutive restart:
    /// `min(max_delay, base_delay * 2^attempt)`, never below `base_delay`.
    pub(crate) fn ceiling_for(&self, attempt: u32) -> Duration {
        let max = self.max_delay.max(self.base_delay);
        1u32.checked_shl(attempt)
            .and_then(|factor| self.base_delay.checked_mul(factor))
            .map_or(max, |d| d.min(max))
    }

    /// The range a jittered delay of the `attempt`-th restart is drawn from.
    pub(crate) fn jitter_range(&self, attempt: u32) -> (Duration, Duration) {
        let ceiling = self.ceiling_for(attempt);
        ((ceiling / 2).max(self.base_delay), ceiling)
    }
}

/// Why a [`BackoffConfig`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackoffConfigError {
    /// `base_delay` is larger than `max_delay`.
    #[error("backoff base delay {base:?} exceeds max delay {max:?}")]
    BaseExceedsMax {
        /// The configured base delay.
        base: Duration,
        /// The configured max delay.
        max: Duration,
    },
    /// `base_delay` is zero while `max_delay` is not.
    #[error(
        "backoff base delay is zero but max delay is {max:?}: the delay would never grow; \
         use a non-zero base, or a zero max to restart at once"
    )]
    ZeroBase {
        /// The configured max delay.
        max: Duration,
    },
    /// The circuit breaker's `max_failures` is zero.
    #[error("circuit breaker max_failures must be at least 1 (or disable the breaker)")]
    ZeroMaxFailures,
    /// The circuit breaker's window is zero.
    #[error("circuit breaker window must not be zero (or disable the breaker)")]
    ZeroWindow,
    /// The breaker's `reset_after` is zero: it would never stay open.
    #[error("circuit breaker reset_after must not be zero")]
    ZeroResetAfter,
}

/// What the supervisor should do after a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackoffAction {
    /// Restart after this delay.
    Retry(Duration),
    /// Too many restarts within the breaker's window: give up.
    CircuitOpen {
        /// Restarts counted in the window.
        failures: u32,
        /// The breaker's limit.
        max_retries: u32,
    },
}

/// The restart history of one service: the exponent and the breaker window.
///
/// ```
/// use std::time::Duration;
/// use janus::supervisor::{BackoffAction, BackoffConfig, BackoffState};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let config = BackoffConfig::new(Duration::from_millis(100), Duration::from_secs(1))
///     .with_circuit_breaker(3, Duration::from_secs(60));
/// let mut state = BackoffState::new(config);
/// assert_eq!(state.next_backoff(), BackoffAction::Retry(Duration::from_millis(100)));
/// assert!(matches!(state.next_backoff(), BackoffAction::Retry(_)));
/// assert_eq!(
///     state.next_backoff(),
///     BackoffAction::CircuitOpen { failures: 3, max_retries: 3 },
/// );
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BackoffState {
    /// Shared: the services of a supervisor mostly follow its one default.
    config: std::sync::Arc<BackoffConfig>,
    attempt: u32,
    last_start: Option<Instant>,
    /// The breaker's window; boxed, and only once a restart is recorded:
    /// most services never restart, and a supervisor keeps one per child.
    #[allow(
        clippy::box_collection,
        reason = "8 bytes in every slot, against 32 for an empty VecDeque"
    )]
    failures: Option<Box<VecDeque<Instant>>>,
    /// The circuit opened and heals: the next run is its trial.
    half_open: bool,
}

impl BackoffState {
    /// A fresh history for `config`.
    ///
    /// Accepts any configuration without panicking: a `max_delay` below
    /// `base_delay` acts as `base_delay`. Use [`BackoffState::try_new`] to
    /// reject inconsistent configurations instead.
    #[must_use]
    pub fn new(config: BackoffConfig) -> Self {
        Self::shared(std::sync::Arc::new(config))
    }

    pub(crate) fn shared(config: std::sync::Arc<BackoffConfig>) -> Self {
        Self {
            config,
            attempt: 0,
            last_start: None,
            failures: None,
            half_open: false,
        }
    }

    /// A fresh history for `config`, if it is consistent.
    ///
    /// # Errors
    ///
    /// The [`BackoffConfigError`] of [`BackoffConfig::validate`].
    pub fn try_new(config: BackoffConfig) -> Result<Self, BackoffConfigError> {
        config.validate()?;
        Ok(Self::new(config))
    }

    /// The configuration this history follows.
    #[must_use]
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// Follows `config` from the next delay on; the history (attempts,
    /// the breaker's window) stays.
    pub(crate) fn set_config(&mut self, config: std::sync::Arc<BackoffConfig>) {
        self.config = config;
    }

    /// Consecutive restarts since the last reset.
    #[must_use]
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Restarts currently counted by the circuit breaker's window.
    #[must_use]
    pub fn failures_in_window(&self) -> usize {
        self.failures.as_ref().map_or(0, |f| f.len())
    }

    /// Records that the service starts a run now (the cooldown is measured
    /// from here).
    pub fn record_start(&mut self) {
        self.record_start_at(Instant::now());
    }

    pub(crate) fn record_start_at(&mut self, now: Instant) {
        self.last_start = Some(now);
    }

    /// How long the current (or last) run has lasted at `now`, if one
    /// started.
    pub(crate) fn run_time_at(&self, now: Instant) -> Option<Duration> {
        self.last_start
            .map(|started| now.saturating_duration_since(started))
    }

    /// Resets the exponent when the run that just ended lasted at least the
    /// cooldown. Returns whether it did.
    pub fn maybe_reset_on_cooldown(&mut self) -> bool {
        let healthy = self
            .last_start
            .is_some_and(|started| started.elapsed() >= self.config.cooldown);
        if healthy {
            self.attempt = 0;
        }
        healthy
    }

    /// Forgets the whole history: exponent and breaker window (an open
    /// circuit closes).
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.half_open = false;
        if let Some(failures) = &mut self.failures {
            failures.clear();
        }
    }

    /// Whether the circuit opened and heals: the next run (or the one
    /// under way) is its trial.
    #[must_use]
    pub fn is_half_open(&self) -> bool {
        self.half_open
    }

    /// How long an open circuit waits before its trial run, if it heals.
    pub(crate) fn reset_after(&self) -> Option<Duration> {
        self.config.circuit_breaker.and_then(|cb| cb.reset_after)
    }

    /// The circuit has opened, and heals: the next run is a trial.
    pub(crate) fn open_half(&mut self) {
        self.half_open = true;
    }

    /// The trial succeeded: the circuit closes, with an empty window.
    pub(crate) fn close_circuit(&mut self) {
        self.half_open = false;
        if let Some(failures) = &mut self.failures {
            failures.clear();
        }
    }

    /// Decides the next restart: a jittered delay, or an open circuit.
    ///
    /// Each call counts as one restart for the circuit breaker. The jitter
    /// comes from the thread's random generator; supervisors draw theirs
    /// from their own seed instead, through
    /// [`next_backoff_from`](Self::next_backoff_from).
    pub fn next_backoff(&mut self) -> BackoffAction {
        self.next_backoff_from(rand::random())
    }

    /// [`next_backoff`](Self::next_backoff), with the jitter chosen by
    /// `random`: a uniformly distributed number picks the delay in the
    /// attempt's range (`0` its lower end, `u64::MAX` its upper end), so
    /// that whoever supplies the randomness (a seeded generator, in a test
    /// that must replay) decides the delays.
    ///
    /// ```
    /// use std::time::Duration;
    /// use janus::supervisor::{BackoffAction, BackoffConfig, BackoffState};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let config = BackoffConfig::new(Duration::from_secs(1), Duration::from_secs(60));
    /// let mut state = BackoffState::new(config);
    /// // The first restart waits the base delay; the second, 1 to 2 s.
    /// assert_eq!(state.next_backoff_from(7), BackoffAction::Retry(Duration::from_secs(1)));
    /// assert_eq!(state.next_backoff_from(u64::MAX), BackoffAction::Retry(Duration::from_secs(2)));
    /// # }
    /// ```
    pub fn next_backoff_from(&mut self, random: u64) -> BackoffAction {
        if let Some(cb) = self.config.circuit_breaker {
            let now = Instant::now();
            let window = self.failures.get_or_insert_default();
            while window
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= cb.window)
            {
                window.pop_front();
            }
            window.push_back(now);
            // Bounded: the window never holds more than `max_failures`.
            while window.len() > cb.max_failures.max(1) as usize {
                window.pop_front();
            }
            let failures = u32::try_from(window.len()).unwrap_or(u32::MAX);
            if failures >= cb.max_failures {
                return BackoffAction::CircuitOpen {
                    failures,
                    max_retries: cb.max_failures,
                };
            }
        }
        let (low, high) = self.config.jitter_range(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        BackoffAction::Retry(jittered(low, high, random))
    }
}

/// The point of `[low, high]` that `random` picks, uniformly over `u64`.
fn jittered(low: Duration, high: Duration, random: u64) -> Duration {
    if low >= high {
        return high;
    }
    let span = u64::try_from((high - low).as_nanos()).unwrap_or(u64::MAX);
    // `random * (span + 1) / 2^64`: a multiply and a shift, no rejection
    // loop; the bias (under one part in 2^64 / span) is far below a jitter's
    // precision.
    let offset = (u128::from(random) * (u128::from(span) + 1)) >> 64;
    low + Duration::from_nanos(u64::try_from(offset).unwrap_or(span))
}

/// The random numbers of a supervisor's restart jitter: one seed, and a
/// draw that is a pure function of (seed, stream, counter), so that no
/// generator state is kept or shared, and a seeded tree replays exactly
/// whatever order its children restart in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Jitter {
    seed: u64,
}

impl Jitter {
    /// Draws from `seed`.
    pub(crate) fn seeded(seed: u64) -> Self {
        Self { seed }
    }

    /// Draws from a seed of the process's random generator.
    pub(crate) fn random() -> Self {
        Self::seeded(rand::random())
    }

    /// The generator of a nested supervisor at `path`: its own stream, so
    /// that siblings do not restart in step.
    pub(crate) fn nested(self, path: &str) -> Self {
        Self::seeded(mix(self.seed ^ fnv1a(path)))
    }

    /// The `counter`-th number of the stream `stream` (a child's), uniform
    /// over `u64`.
    pub(crate) fn draw(self, stream: &str, counter: u64) -> u64 {
        mix(mix(self.seed ^ fnv1a(stream)) ^ counter)
    }
}

/// SplitMix64's finaliser: a bijection of `u64` whose outputs of
/// consecutive inputs pass statistical tests (Steele, Lea and Flood, 2014).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of `text`: names a child's stream (its path) by a number.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn defaults_match_the_seed() {
        let c = BackoffConfig::default();
        assert_eq!(c.base_delay, ms(100));
        assert_eq!(c.max_delay, Duration::from_secs(60));
        assert_eq!(c.cooldown, Duration::from_secs(300));
        assert_eq!(
            c.circuit_breaker,
            Some(CircuitBreakerConfig {
                max_failures: 10,
                window: Duration::from_secs(600),
                reset_after: None,
            })
        );
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn invalid_configs_are_typed_errors() {
        assert_eq!(
            BackoffConfig::new(ms(10), ms(5)).validate(),
            Err(BackoffConfigError::BaseExceedsMax {
                base: ms(10),
                max: ms(5)
            })
        );
        assert_eq!(
            BackoffConfig::new(Duration::ZERO, ms(5)).validate(),
            Err(BackoffConfigError::ZeroBase { max: ms(5) })
        );
        assert_eq!(
            BackoffConfig::default()
                .with_circuit_breaker(0, ms(5))
                .validate(),
            Err(BackoffConfigError::ZeroMaxFailures)
        );
        assert_eq!(
            BackoffConfig::default()
                .with_circuit_breaker(3, Duration::ZERO)
                .validate(),
            Err(BackoffConfigError::ZeroWindow)
        );
        assert!(
            BackoffState::try_new(BackoffConfig::new(ms(10), ms(5)))
                .is_err_and(|e| e.to_string().contains("exceeds max"))
        );
    }

    #[test]
    fn zero_zero_is_legal_and_always_zero() {
        let config = BackoffConfig::new(Duration::ZERO, Duration::ZERO).without_circuit_breaker();
        assert_eq!(config.validate(), Ok(()));
        let mut state = BackoffState::new(config);
        for _ in 0..100 {
            assert_eq!(state.next_backoff(), BackoffAction::Retry(Duration::ZERO));
        }
    }

    #[test]
    fn first_retry_is_exactly_base() {
        // The seed slept `base * 2^attempt` after adding jitter on top, so its
        // first retry could exceed max; here it is pinned to base.
        let mut state = BackoffState::new(BackoffConfig::new(ms(100), ms(150)));
        assert_eq!(state.next_backoff(), BackoffAction::Retry(ms(100)));
    }

    #[test]
    fn ceiling_doubles_then_caps_without_overflow() {
        let c = BackoffConfig::new(ms(100), Duration::from_secs(1));
        let ceilings: Vec<_> = (0..6).map(|n| c.ceiling_for(n)).collect();
        assert_eq!(
            ceilings,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(c.ceiling_for(u32::MAX), ms(1000));
        let huge = BackoffConfig::new(Duration::from_secs(u64::MAX / 4), Duration::MAX);
        assert_eq!(huge.ceiling_for(40), Duration::MAX);
    }

    #[test]
    fn inverted_config_never_panics_in_state() {
        let mut state =
            BackoffState::new(BackoffConfig::new(ms(10), ms(5)).without_circuit_breaker());
        for _ in 0..40 {
            assert_eq!(state.next_backoff(), BackoffAction::Retry(ms(10)));
        }
    }

    #[test]
    fn history_is_bounded_with_breaker_off() {
        let mut state =
            BackoffState::new(BackoffConfig::new(ms(1), ms(2)).without_circuit_breaker());
        for _ in 0..10_000 {
            let _ = state.next_backoff();
        }
        assert_eq!(state.failures_in_window(), 0);
        assert_eq!(state.attempt(), 10_000);
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_forgets_failures_outside_the_window() {
        let config = BackoffConfig::new(ms(1), ms(1)).with_circuit_breaker(3, ms(1000));
        let mut state = BackoffState::new(config);
        assert!(matches!(state.next_backoff(), BackoffAction::Retry(_)));
        assert!(matches!(state.next_backoff(), BackoffAction::Retry(_)));
        tokio::time::advance(ms(1000)).await;
        // The first two fell out of the window: one in it now.
        assert!(matches!(state.next_backoff(), BackoffAction::Retry(_)));
        assert_eq!(state.failures_in_window(), 1);
        assert!(matches!(state.next_backoff(), BackoffAction::Retry(_)));
        assert_eq!(
            state.next_backoff(),
            BackoffAction::CircuitOpen {
                failures: 3,
                max_retries: 3
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cooldown_resets_the_exponent_only_after_a_long_run() {
        let config = BackoffConfig::new(ms(100), ms(10_000))
            .without_circuit_breaker()
            .with_cooldown(Duration::from_secs(5));
        let mut state = BackoffState::new(config);
        for _ in 0..4 {
            state.record_start();
            tokio::time::advance(ms(10)).await;
            assert!(!state.maybe_reset_on_cooldown());
            let _ = state.next_backoff();
        }
        assert_eq!(state.attempt(), 4);
        state.record_start();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(state.maybe_reset_on_cooldown());
        assert_eq!(state.attempt(), 0);
        assert_eq!(state.next_backoff(), BackoffAction::Retry(ms(100)));
    }

    /// A current-thread runtime on a paused clock, for properties over time.
    fn paused_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime")
    }

    #[test]
    fn the_random_number_picks_the_point_in_the_range() {
        let (low, high) = (ms(500), ms(1000));
        assert_eq!(jittered(low, high, 0), low);
        assert_eq!(jittered(low, high, u64::MAX), high);
        assert_eq!(jittered(low, high, u64::MAX / 2), ms(750));
        assert_eq!(jittered(high, high, 12345), high);
    }

    #[test]
    fn jitter_streams_are_distinct_and_replayable() {
        let jitter = Jitter::seeded(42);
        let a: Vec<u64> = (1..=4).map(|n| jitter.draw("root/a", n)).collect();
        let b: Vec<u64> = (1..=4).map(|n| jitter.draw("root/b", n)).collect();
        assert_ne!(a, b, "children draw from their own streams");
        assert_eq!(
            a,
            (1..=4)
                .map(|n| jitter.draw("root/a", n))
                .collect::<Vec<_>>()
        );
        assert_eq!(a.iter().collect::<std::collections::HashSet<_>>().len(), 4);
        assert_ne!(jitter.nested("root/x"), jitter.nested("root/y"));
        assert_ne!(Jitter::seeded(43).draw("root/a", 1), a[0]);
        // Spread over the whole range: the top bit is set about half the time.
        let high = (0..10_000)
            .filter(|&n| jitter.draw("root/a", n) >> 63 == 1)
            .count();
        assert!((4_500..5_500).contains(&high), "{high}");
    }

    proptest! {
        /// Every delay lies in [base, max] and in the documented jitter range.
        #[test]
        fn delays_stay_within_bounds(
            base_ms in 1u64..5_000,
            extra_ms in 0u64..120_000,
            attempts in 1usize..80,
        ) {
            let config = BackoffConfig::new(ms(base_ms), ms(base_ms + extra_ms)).without_circuit_breaker();
            prop_assert!(config.validate().is_ok());
            let mut state = BackoffState::new(config.clone());
            for n in 0..attempts {
                let BackoffAction::Retry(delay) = state.next_backoff() else {
                    panic!("breaker is off");
                };
                let (low, high) = config.jitter_range(u32::try_from(n).unwrap_or(u32::MAX));
                prop_assert!(delay >= config.base_delay && delay <= config.max_delay);
                prop_assert!(delay >= low && delay <= high, "{delay:?} outside [{low:?}, {high:?}]");
            }
        }
    }

    proptest! {
        /// The breaker opens exactly when the window ending now holds
        /// `max_failures` restarts, whatever the spacing of the failures.
        #[test]
        fn breaker_trips_exactly_at_n_in_window(
            max_failures in 1u32..8,
            window_ms in 1u64..2_000,
            gaps in proptest::collection::vec(0u64..1_500, 1..60),
        ) {
            let rt = paused_runtime();
            rt.block_on(async {
                let config = BackoffConfig::new(ms(1), ms(1))
                    .with_circuit_breaker(max_failures, ms(window_ms));
                let mut state = BackoffState::new(config);
                let mut times: Vec<u64> = Vec::new();
                let mut now = 0u64;
                for gap in gaps {
                    tokio::time::advance(ms(gap)).await;
                    now += gap;
                    times.push(now);
                    let in_window = times.iter().filter(|t| now - **t < window_ms).count();
                    let action = state.next_backoff();
                    let expect_open = in_window >= max_failures as usize;
                    prop_assert_eq!(
                        matches!(action, BackoffAction::CircuitOpen { .. }),
                        expect_open,
                        "at t={}ms with {} in window", now, in_window
                    );
                    if expect_open {
                        break;
                    }
                }
                Ok(())
            })?;
        }
    }

    proptest! {
        /// Whatever the history, a run at least as long as the cooldown
        /// brings the next delay back to exactly `base`; a shorter one does not
        /// reset anything.
        #[test]
        fn cooldown_resets_to_base(
            failures in 1u32..40,
            cooldown_ms in 1u64..10_000,
            ran_ms in 0u64..20_000,
        ) {
            let rt = paused_runtime();
            rt.block_on(async {
                let config = BackoffConfig::new(ms(100), ms(100_000))
                    .without_circuit_breaker()
                    .with_cooldown(ms(cooldown_ms));
                let mut state = BackoffState::new(config);
                for _ in 0..failures {
                    let _ = state.next_backoff();
                }
                state.record_start();
                tokio::time::advance(ms(ran_ms)).await;
                let reset = state.maybe_reset_on_cooldown();
                prop_assert_eq!(reset, ran_ms >= cooldown_ms);
                prop_assert_eq!(state.attempt(), if reset { 0 } else { failures });
                if reset {
                    prop_assert_eq!(state.next_backoff(), BackoffAction::Retry(ms(100)));
                }
                Ok(())
            })?;
        }
    }
}
