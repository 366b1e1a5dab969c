//! Collects every error of one macro invocation, so the user sees them all
//! at once; each points at the offending tokens.

use proc_macro2::TokenStream;
use quote::ToTokens;

#[derive(Default)]
pub(crate) struct Errors(Vec<syn::Error>);

impl Errors {
    /// Records an error spanning `tokens`.
    pub(crate) fn at(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.0.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub(crate) fn at_span(&mut self, span: proc_macro2::Span, message: impl std::fmt::Display) {
        self.0.push(syn::Error::new(span, message));
    }

    /// Records an error syn produced.
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.0.push(error);
    }

    /// Runs `result`, recording its error; the value if it succeeded.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors as `compile_error!` invocations.
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.0.iter().map(syn::Error::to_compile_error).collect()
    }
}

/// Records an error if `slot` is already set (a duplicate key), else sets it.
pub(crate) fn set_once<T>(
    errors: &mut Errors,
    slot: &mut Option<T>,
    key: &impl ToTokens,
    value: T,
) {
    if slot.is_some() {
        errors.at(
            key,
            format_args!("duplicate key `{}`", key.to_token_stream()),
        );
    } else {
        *slot = Some(value);
    }
}
