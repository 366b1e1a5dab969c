//! Checks of the shared settings that only make sense together.

use proc_macro2::Span;

use super::Bounds;
use crate::defaults::{BACKOFF_BASE, BACKOFF_MAX};
use crate::errors::Errors;

/// Checks a backoff's bounds as `BackoffConfig::validate` will at run time,
/// against the default of a bound not written; the error points at the
/// bound to change.
pub(crate) fn backoff(bounds: &Bounds, errors: &mut Errors) {
    let base = bounds.base.map_or(BACKOFF_BASE, |d| d.value);
    let max = bounds.max.map_or(BACKOFF_MAX, |d| d.value);
    let culprit = bounds
        .base
        .or(bounds.max)
        .map_or_else(Span::call_site, |d| d.span);
    if base > max {
        let which = if bounds.max.is_some() {
            "max"
        } else {
            "the default max"
        };
        errors.at_span(
            culprit,
            format_args!(
                "backoff base ({}) exceeds {which} ({}); make base <= max",
                humantime::format_duration(base),
                humantime::format_duration(max),
            ),
        );
    } else if base.is_zero() && !max.is_zero() {
        errors.at_span(
            culprit,
            "backoff base is zero but max is not: the delay would never grow; use a non-zero base, or a zero max to restart at once",
        );
    }
}
