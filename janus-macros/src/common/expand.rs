//! The shared settings as Rust expressions. Cannot fail.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};

use super::{Bounds, Breaker, DurationLit, Policy};

impl ToTokens for DurationLit {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let secs = self.value.as_secs();
        let nanos = self.value.subsec_nanos();
        tokens.extend(quote_spanned!(self.span=> ::core::time::Duration::new(#secs, #nanos)));
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
pub(crate) fn backoff(bounds: Bounds, breaker: Option<Breaker>) -> TokenStream {
    let base = bounds.base.map(|base| quote!(base_delay: #base,));
    let max = bounds.max.map(|max| quote!(max_delay: #max,));
    let cooldown = bounds.cooldown.map(|c| quote!(cooldown: #c,));
    let breaker = match breaker {
        None => quote!(),
        Some(Breaker::Off) => quote!(.without_circuit_breaker()),
        Some(Breaker::On {
            max_failures,
            window,
            reset_after,
        }) => {
            let heals = reset_after.map(|d| quote!(.with_reset_after(#d)));
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
