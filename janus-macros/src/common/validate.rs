//! Checks of the shared settings that only make sense together.

use proc_macro2::Span;

use super::Bounds;
use crate::defaults::{BACKOFF_BASE, BACKOFF_MAX};
use crate::errors::Errors;

/// Checks a backoff's bounds as `BackoffConfig::validate` will at run time,
/// against the default of a bound not written; the error points at the
/// bound to change.
pub(crate) fn backoff(bounds: &Bounds, errors: &mut Errors) {
    // An expression is the runtime's to check.
    let literal = |bound: &Option<crate::common::DurationSetting>, default| match bound {
        None => Some(default),
        Some(d) => d.literal(),
    };
    let (Some(base), Some(max)) = (
        literal(&bounds.base, BACKOFF_BASE),
        literal(&bounds.max, BACKOFF_MAX),
    ) else {
        return;
    };
    let culprit = bounds
        .base
        .as_ref()
        .or(bounds.max.as_ref())
        .map_or_else(Span::call_site, crate::common::DurationSetting::span);
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
