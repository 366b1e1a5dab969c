//! The shared settings as Rust expressions. Cannot fail.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};

use syn::spanned::Spanned as _;

use super::{Bounds, Breaker, CountSetting, DurationSetting, Policy};

impl ToTokens for DurationSetting {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            Self::Literal { value, span } => {
                let secs = value.as_secs();
                let nanos = value.subsec_nanos();
                quote_spanned!(*span=> ::core::time::Duration::new(#secs, #nanos))
            }
            // Typed where it is written: a wrong type is reported there.
            Self::Expr(expr) => quote_spanned! {expr.span()=>
                {
                    let duration: ::core::time::Duration = #expr;
                    duration
                }
            },
        });
    }
}

impl ToTokens for CountSetting {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            Self::Literal { value, span } => quote_spanned!(*span=> #value),
            Self::Expr(expr) => quote_spanned! {expr.span()=>
                {
                    let count: u32 = #expr;
                    count
                }
            },
        });
    }
}

impl ToTokens for Policy {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            Self::Always => quote!(::janus::__private::RestartPolicy::Always),
            Self::OnFailure => quote!(::janus::__private::RestartPolicy::OnFailure),
            Self::Never => quote!(::janus::__private::RestartPolicy::Never),
        });
    }
}

/// A `BackoffConfig` with the bounds, cooldown and breaker written; what is not
/// written is `BackoffConfig::default()`'s, read at run time.
pub(crate) fn backoff(bounds: &Bounds, breaker: Option<&Breaker>) -> TokenStream {
    let base = bounds.base.as_ref().map(|base| quote!(base_delay: #base,));
    let max = bounds.max.as_ref().map(|max| quote!(max_delay: #max,));
    let cooldown = bounds.cooldown.as_ref().map(|c| quote!(cooldown: #c,));
    let breaker = match breaker {
        None => quote!(),
        Some(Breaker::Off) => quote!(.without_circuit_breaker()),
        Some(Breaker::On {
            max_failures,
            window,
            reset_after,
        }) => {
            let heals = reset_after.as_ref().map(|d| quote!(.with_reset_after(#d)));
            quote!(.with_circuit_breaker(#max_failures, #window) #heals)
        }
    };
    let config = if base.is_none() && max.is_none() && cooldown.is_none() {
        quote!(<::janus::__private::BackoffConfig as ::core::default::Default>::default())
    } else {
        quote! {
            ::janus::__private::BackoffConfig {
                #base
                #max
                #cooldown
                ..::core::default::Default::default()
            }
        }
    };
    quote!(#config #breaker)
}
