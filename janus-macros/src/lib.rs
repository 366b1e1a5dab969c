//! Procedural macros of Janus, re-exported by the `janus` crate as
//! `janus::service` and `janus::supervisor!`. Depend on `janus`, not on this
//! crate: the generated code names `::janus::__private` paths.
//!
//! To see what a macro generates, use `cargo expand` (the cargo-expand
//! tool): cargo knows when an expansion changes, an environment variable
//! read here would not be tracked.

mod duration;
mod errors;
mod names;
mod service;
mod supervisor;

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
