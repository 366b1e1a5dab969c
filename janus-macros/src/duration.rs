//! Duration literals ("250ms", "5s", "1m 30s"), parsed at compile time.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote_spanned};

use crate::errors::Errors;

/// A duration written in the user's code, with where it was written.
#[derive(Clone, Copy)]
pub(crate) struct DurationLit {
    pub(crate) value: Duration,
    pub(crate) span: Span,
}

impl DurationLit {
    /// Parses a string literal such as `"250ms"` or `"1m 30s"`.
    pub(crate) fn parse(lit: &syn::LitStr) -> syn::Result<Self> {
        let text = lit.value();
        humantime::parse_duration(&text)
            .map(|value| Self {
                value,
                span: lit.span(),
            })
            .map_err(|error| {
                syn::Error::new(
                    lit.span(),
                    format!("invalid duration \"{text}\": {error}; write e.g. \"250ms\", \"5s\" or \"1m 30s\""),
                )
            })
    }

    /// Parses an expression that must be a duration string literal.
    pub(crate) fn from_expr(expr: &syn::Expr) -> syn::Result<Self> {
        match expr {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            }) => Self::parse(lit),
            other => Err(syn::Error::new_spanned(
                other,
                "expected a duration string such as \"250ms\", \"5s\" or \"1m 30s\"",
            )),
        }
    }
}

impl ToTokens for DurationLit {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let secs = self.value.as_secs();
        let nanos = self.value.subsec_nanos();
        tokens.extend(quote_spanned!(self.span=> ::core::time::Duration::new(#secs, #nanos)));
    }
}

/// `BackoffConfig::default()`'s bounds, for checking a half-given backoff.
pub(crate) const DEFAULT_BASE: Duration = Duration::from_millis(100);
pub(crate) const DEFAULT_MAX: Duration = Duration::from_secs(60);

/// Checks a backoff's bounds as `BackoffConfig::validate` will, at compile
/// time; the error points at the bound to change.
pub(crate) fn check_backoff(
    base: Option<DurationLit>,
    max: Option<DurationLit>,
    errors: &mut Errors,
) {
    let base_value = base.map_or(DEFAULT_BASE, |d| d.value);
    let max_value = max.map_or(DEFAULT_MAX, |d| d.value);
    let culprit = base.or(max).map_or_else(Span::call_site, |d| d.span);
    if base_value > max_value {
        let which = if max.is_some() {
            "max"
        } else {
            "the default max"
        };
        errors.at_span(
            culprit,
            format_args!(
                "backoff base ({}) exceeds {which} ({}); make base <= max",
                humantime::format_duration(base_value),
                humantime::format_duration(max_value),
            ),
        );
    } else if base_value.is_zero() && !max_value.is_zero() {
        errors.at_span(
            culprit,
            "backoff base is zero but max is not: the delay would never grow; use a non-zero base, or a zero max to restart at once",
        );
    }
}
