//! The runtime's defaults that the macros check against at compile time.
//!
//! The generated code never repeats these: it takes what is not written
//! from `BackoffConfig::default()` at run time. They are here only so that
//! a half-written backoff (`backoff(base = "2m")`) can be checked against
//! the default bound it will meet. The tests crate includes this file and
//! compares it with `janus::backoff::BackoffConfig::default()`.

use std::time::Duration;

/// `BackoffConfig::default().base_delay`.
pub(crate) const BACKOFF_BASE: Duration = Duration::from_millis(100);

/// `BackoffConfig::default().max_delay`.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(60);
