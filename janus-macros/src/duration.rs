//! Duration literals ("250ms", "5s", "1m 30s"), parsed at compile time.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote_spanned};

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
