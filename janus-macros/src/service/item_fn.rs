//! `#[janus::service(…)]` on an `async fn`: the function becomes a
//! constructor of the same name returning `impl JanusService`.
//!
//! ```text
//! // Input:
//! #[janus::service(restart = "always")]
//! async fn heartbeat(cancel: CancellationToken) -> anyhow::Result<()> { … }
//!
//! // Output:
//! fn heartbeat() -> impl JanusService {
//!     struct __JanusFnService;
//!     #[async_trait]
//!     impl JanusService for __JanusFnService {
//!         fn name(&self) -> &str { "heartbeat" }
//!         fn restart_policy(&self) -> RestartPolicy { RestartPolicy::Always }
//!         …
//!         async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
//!             async fn __janus_body(cancel: CancellationToken) -> anyhow::Result<()> { … }
//!             drive(&cancel, ready(()), __janus_body(cancel.clone()), ready(())).await
//!         }
//!     }
//!     __JanusFnService
//! }
//! ```
//!
//! Without a `CancellationToken` parameter the function is step-style: it is
//! called every `every`, like a `#[step(every = "…")]` method.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::FnArg;

use super::args::{ServiceArgs, Target};
use super::config::{ConfigExprs, Methods};
use super::signature::{
    Returns, forbid_generics, is_cancellation_token, require_async, require_returns, span_of_args,
};
use crate::errors::Errors;
use crate::names::kebab_case;

pub(super) fn expand(args: TokenStream, item: &syn::ItemFn) -> TokenStream {
    let mut errors = Errors::default();
    let args = ServiceArgs::parse(args, Target::Fn, &mut errors);
    let what = "a function service";
    let sig = &item.sig;
    require_async(sig, what, &mut errors);
    forbid_generics(sig, what, &mut errors);
    require_returns(sig, Returns::Result, what, &mut errors);
    let inputs: Vec<&FnArg> = sig.inputs.iter().collect();
    let takes_token = match inputs.as_slice() {
        [] => false,
        [FnArg::Typed(arg)] if is_cancellation_token(&arg.ty) => true,
        [FnArg::Receiver(receiver)] => {
            errors.at(receiver, "a function service is a free `async fn`; for methods, use `#[janus::service]` on the impl block with `#[step]` or `#[run]`");
            true
        }
        [FnArg::Typed(arg)] => {
            errors.at(
                &arg.ty,
                "a function service takes `cancel: CancellationToken` or nothing",
            );
            true
        }
        [_, extra, ..] => {
            errors.at_span(
                span_of_args(&[*extra]),
                "a function service takes `cancel: CancellationToken` or nothing",
            );
            true
        }
    };
    match (takes_token, &args.every) {
        (false, None) => errors.at(
            &sig.ident,
            "a function service without a `CancellationToken` parameter is step-style and needs `every = \"…\"`; or take `cancel: CancellationToken` for full control",
        ),
        (true, Some(every)) => errors.at_span(
            every.span,
            "`every` is for step-style functions, which take no `CancellationToken`; remove the parameter or `every`",
        ),
        _ => {}
    }

    let methods =
        ConfigExprs::new(&args, &kebab_case(&sig.ident.to_string())).methods(Methods::Service);
    let cancel = quote!(__janus_cancel);
    let body_fn = format_ident!("__janus_body");
    let mut inner = item.clone();
    inner.attrs.retain(|a| !a.path().is_ident("doc"));
    inner.vis = syn::Visibility::Inherited;
    inner.sig.ident = body_fn.clone();
    // After an error, do not call the function: its signature may be what
    // is wrong, and one mistake should give one error.
    let fallback = !errors.is_empty();
    if fallback {
        inner.attrs.push(syn::parse_quote!(#[allow(dead_code)]));
    }
    let body = match (&args.every, takes_token) {
        _ if fallback => quote!(::core::future::ready(())),
        (_, true) => quote!(#body_fn(#cancel.clone())),
        (Some(every), false) => quote!(::janus::__private::step_loop(
            &#cancel,
            ::core::option::Option::Some(#every),
            #body_fn,
        )),
        (None, false) => quote!(::core::future::ready(())),
    };
    let outer_attrs = item.attrs.iter().filter(|a| a.path().is_ident("doc"));
    let vis = &item.vis;
    let ident = &sig.ident;
    let errors = errors.to_compile_errors();
    quote! {
        #(#outer_attrs)*
        #[must_use]
        #vis fn #ident() -> impl ::janus::__private::JanusService {
            #[doc(hidden)]
            struct __JanusFnService;

            #[automatically_derived]
            #[::janus::__private::async_trait]
            impl ::janus::__private::JanusService for __JanusFnService {
                #methods
                async fn run(
                    &self,
                    #cancel: ::janus::__private::CancellationToken,
                ) -> ::janus::__private::anyhow::Result<()> {
                    #inner
                    ::janus::__private::drive(
                        &#cancel,
                        ::core::future::ready(()),
                        #body,
                        ::core::future::ready(()),
                    )
                    .await
                }
            }

            __JanusFnService
        }

        #errors
    }
}
