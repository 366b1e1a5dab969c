//! Procedural macros of Janus, re-exported by the `janus` crate as
//! `janus::service` and `janus::supervisor!`. Depend on `janus`, not on this
//! crate: the generated code names `::janus::__private` paths.
//!
//! Each macro runs in three phases, as thiserror-impl's do: `parse` reads
//! the input into a typed form, `validate` checks it, `expand` writes the
//! code and cannot fail. The two macros spell their settings differently
//! (`key = value` in an attribute, `key: value` in a tree) but mean the
//! same by them: [`syntax`] reads both spellings into one form, [`keys`]
//! lists every valid key, and [`common`] reads, checks and writes out what
//! both share (durations, restart policies, backoff, circuit breakers).
//! Errors go to one checked collector ([`errors`]) and are all reported at
//! once, each at its tokens.
//!
//! To see what a macro generates, use `cargo expand` (the cargo-expand
//! tool): cargo knows when an expansion changes, an environment variable
//! read here would not be tracked.

mod common;
mod defaults;
mod errors;
mod keys;
mod names;
mod service;
mod supervisor;
mod syntax;

use proc_macro::TokenStream;

/// Declares a supervised service; documented on its re-export, `janus::service`.
#[proc_macro_attribute]
pub fn service(args: TokenStream, input: TokenStream) -> TokenStream {
    service::expand(args.into(), input.into()).into()
}

/// Declares a supervision tree; documented on its re-export, `janus::supervisor!`.
#[proc_macro]
pub fn supervisor(input: TokenStream) -> TokenStream {
    supervisor::expand(input.into()).into()
}

/// What a role marker used outside a `#[janus::service]` impl expands to:
/// the item, and one error at the marker saying what is missing.
fn misplaced_marker(marker: &str, input: TokenStream) -> TokenStream {
    let input = proc_macro2::TokenStream::from(input);
    let message = format!(
        "`#[{marker}]` marks a method of an impl block that has `#[janus::service]`: add `#[janus::service]` to the impl (and to the struct)"
    );
    let error = syn::Error::new(proc_macro2::Span::call_site(), message).to_compile_error();
    quote::quote!(#error #input).into()
}

/// `#[step]` outside a `#[janus::service]` impl: an error saying so
/// (inside one, `#[janus::service]` reads and removes it first).
#[proc_macro_attribute]
pub fn step(_args: TokenStream, input: TokenStream) -> TokenStream {
    misplaced_marker("step", input)
}

/// `#[on_start]` outside a `#[janus::service]` impl: an error saying so
/// (inside one, `#[janus::service]` reads and removes it first).
#[proc_macro_attribute]
pub fn on_start(_args: TokenStream, input: TokenStream) -> TokenStream {
    misplaced_marker("on_start", input)
}

/// `#[on_stop]` outside a `#[janus::service]` impl: an error saying so
/// (inside one, `#[janus::service]` reads and removes it first).
#[proc_macro_attribute]
pub fn on_stop(_args: TokenStream, input: TokenStream) -> TokenStream {
    misplaced_marker("on_stop", input)
}

/// `#[run]` outside a `#[janus::service]` impl: an error saying so
/// (inside one, `#[janus::service]` reads and removes it first).
#[proc_macro_attribute]
pub fn run(_args: TokenStream, input: TokenStream) -> TokenStream {
    misplaced_marker("run", input)
}
