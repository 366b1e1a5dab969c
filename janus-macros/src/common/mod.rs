//! What both macros share: the typed values of their settings (durations,
//! restart policies, backoff bounds, circuit breakers), read from either
//! syntax by one set of readers ([`parse`]), checked by one set of checks
//! ([`validate`]) and written out by one set of expansions ([`expand`]).

pub(crate) mod expand;
pub(crate) mod parse;
pub(crate) mod validate;

use std::time::Duration;

use proc_macro2::Span;

/// A duration as written in the user's code: a literal (`"250ms"`,
/// `"1m 30s"`, `infinity`), checked when the crate compiles, or an
/// expression of type `Duration` (a constant, a call), which the runtime's
/// validation checks.
#[derive(Clone)]
pub(crate) enum DurationSetting {
    Literal { value: Duration, span: Span },
    Expr(Box<syn::Expr>),
}

impl DurationSetting {
    /// The literal's value; `None` for an expression.
    pub(crate) fn literal(&self) -> Option<Duration> {
        match self {
            Self::Literal { value, .. } => Some(*value),
            Self::Expr(_) => None,
        }
    }

    /// Where it was written.
    pub(crate) fn span(&self) -> Span {
        match self {
            Self::Literal { span, .. } => *span,
            Self::Expr(expr) => syn::spanned::Spanned::span(&**expr),
        }
    }
}

/// A whole number as written: a literal, checked when the crate compiles,
/// or an expression of its type (a constant), which the runtime checks.
#[derive(Clone)]
pub(crate) enum CountSetting {
    Literal { value: u32, span: Span },
    Expr(Box<syn::Expr>),
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
#[derive(Clone, Default)]
pub(crate) struct Bounds {
    pub(crate) base: Option<DurationSetting>,
    pub(crate) max: Option<DurationSetting>,
    /// A run at least this long resets the delay.
    pub(crate) cooldown: Option<DurationSetting>,
}

/// A circuit breaker: off, or open after `max_failures` within `window`;
/// with `reset_after`, it heals.
#[derive(Clone)]
pub(crate) enum Breaker {
    Off,
    On {
        max_failures: CountSetting,
        window: DurationSetting,
        reset_after: Option<DurationSetting>,
    },
}
