//! The error collector of one macro invocation: every problem, each at its
//! tokens, reported together.
//!
//! Like serde_derive's `Ctxt`, it must be checked: the phases record into it,
//! and [`Errors::check`] ends it, giving the `compile_error!`s to emit. One
//! dropped unchecked would lose errors silently, so that panics (a bug in
//! this crate, caught by every test that expands a macro).

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

pub(crate) struct Errors {
    errors: Vec<syn::Error>,
    checked: bool,
}

impl Errors {
    pub(crate) fn new() -> Self {
        Self {
            errors: Vec::new(),
            checked: false,
        }
    }

    /// Records an error spanning `tokens`.
    pub(crate) fn at(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub(crate) fn at_span(&mut self, span: Span, message: impl Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// Records an error syn produced.
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// The value of `result`, or `None` with its error recorded.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    /// How many errors are recorded so far: a reader compares the count
    /// before and after a part, to stay quiet about what follows from an
    /// error it already reported.
    pub(crate) fn count(&self) -> usize {
        self.errors.len()
    }

    /// Ends the collection: `Err` with the errors as `compile_error!`
    /// invocations if there were any.
    pub(crate) fn check(mut self) -> Result<(), TokenStream> {
        self.checked = true;
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self
                .errors
                .iter()
                .map(syn::Error::to_compile_error)
                .collect())
        }
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        if !self.checked && !std::thread::panicking() {
            panic!("janus-macros: an error collector was dropped without being checked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Errors;

    #[test]
    fn check_returns_every_error() {
        let mut errors = Errors::new();
        errors.at_span(proc_macro2::Span::call_site(), "first");
        errors.at_span(proc_macro2::Span::call_site(), "second");
        let emitted = errors.check().expect_err("two errors").to_string();
        assert!(
            emitted.contains("first") && emitted.contains("second"),
            "{emitted}"
        );
        assert!(Errors::new().check().is_ok());
    }

    #[test]
    #[should_panic(expected = "without being checked")]
    fn an_unchecked_collector_panics() {
        let mut errors = Errors::new();
        errors.at_span(proc_macro2::Span::call_site(), "lost");
    }
}
