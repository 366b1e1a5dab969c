//! What both macros share: the typed values of their settings (durations,
//! restart policies, backoff bounds, circuit breakers), read from either
//! syntax by one set of readers ([`parse`]), checked by one set of checks
//! ([`validate`]) and written out by one set of expansions ([`expand`]).

pub(crate) mod expand;
pub(crate) mod parse;
pub(crate) mod validate;

use std::time::Duration;

use proc_macro2::Span;

/// A duration written in the user's code (`"250ms"`, `"1m 30s"`), with
/// where it was written.
#[derive(Clone, Copy)]
pub(crate) struct DurationLit {
    pub(crate) value: Duration,
    pub(crate) span: Span,
}

/// A restart policy: `RestartPolicy`'s variants.
#[derive(Clone, Copy)]
pub(crate) enum Policy {
    Always,
    OnFailure,
    Never,
}

/// A backoff's bounds and cooldown, each as written or absent (the
/// runtime's default).
#[derive(Clone, Copy, Default)]
pub(crate) struct Bounds {
    pub(crate) base: Option<DurationLit>,
    pub(crate) max: Option<DurationLit>,
    /// A run at least this long resets the delay.
    pub(crate) cooldown: Option<DurationLit>,
}

/// A circuit breaker: off, or open after `max_failures` within `window`;
/// with `reset_after`, it heals.
#[derive(Clone, Copy)]
pub(crate) enum Breaker {
    Off,
    On {
        max_failures: u32,
        window: DurationLit,
        reset_after: Option<DurationLit>,
    },
}
