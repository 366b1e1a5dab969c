//! Procedural macros of Janus, re-exported by the `janus` crate as
//! `janus::service` and `janus::supervisor!`. Depend on `janus`, not on this
//! crate: the generated code names `::janus::__private` paths.
//!
//! Set `JANUS_MACROS_DEBUG=1` while building to print every expansion to
//! stderr (pretty-printed).

mod duration;
mod errors;
mod names;
mod service;
mod supervisor;

use proc_macro::TokenStream;

/// Declares a supervised service; documented on its re-export, `janus::service`.
#[proc_macro_attribute]
pub fn service(args: TokenStream, input: TokenStream) -> TokenStream {
    debug_print("service", service::expand(args.into(), input.into())).into()
}

/// Declares a supervision tree; documented on its re-export, `janus::supervisor!`.
#[proc_macro]
pub fn supervisor(input: TokenStream) -> TokenStream {
    debug_print("supervisor", supervisor::expand(input.into())).into()
}

fn debug_print(which: &str, output: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    if std::env::var_os("JANUS_MACROS_DEBUG").is_some() {
        let shown = syn::parse2::<syn::File>(output.clone())
            .map_or_else(|_| output.to_string(), |file| prettyplease::unparse(&file));
        eprintln!("// ---- janus::{which} expansion ----\n{shown}");
    }
    output
}
