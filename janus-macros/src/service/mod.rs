//! `#[janus::service]`: on a struct (its configuration), on the struct's impl
//! block (its `run()`), or on an `async fn` (a whole service).
//!
//! Each shape is parsed into a typed form, checked with every error
//! collected, and expanded by code that cannot fail. On error the item is
//! still emitted, with a fallback implementation, so one mistake gives one
//! error rather than a cascade.

mod args;
mod config;
mod item_fn;
mod item_impl;
mod item_struct;
mod signature;

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned as _;

use crate::errors::Errors;

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = match syn::parse2::<syn::Item>(input.clone()) {
        Ok(item) => item,
        Err(error) => {
            let error = error.to_compile_error();
            return quote!(#input #error);
        }
    };
    let misplaced = |span: proc_macro2::Span, what: &str| {
        let mut errors = Errors::default();
        errors.at_span(
            span,
            format_args!(
                "#[janus::service] cannot be used on {what}; put it on a struct (and its impl block) or on an `async fn`"
            ),
        );
        let errors = errors.to_compile_errors();
        quote!(#item #errors)
    };
    match &item {
        syn::Item::Struct(item) => item_struct::expand(args, item),
        syn::Item::Impl(item) => item_impl::expand(args, item),
        syn::Item::Fn(item) => item_fn::expand(args, item),
        syn::Item::Enum(e) => misplaced(e.enum_token.span(), "an enum"),
        syn::Item::Union(u) => misplaced(u.union_token.span(), "a union"),
        syn::Item::Trait(t) => misplaced(t.trait_token.span(), "a trait"),
        other => misplaced(other.span(), "this item"),
    }
}
