//! Writes a checked [`Tree`] out as a `SupervisorSpec` expression. Cannot
//! fail.
//!
//! ```text
//! janus::supervisor! {
//!     name: "desk",
//!     strategy: rest_for_one,
//!     intensity: { restarts: 5, within: "60s" },
//!     children: [feed(), risk() => { critical: true }],
//! }
//! // becomes
//! ::janus::__private::SupervisorSpec::new("desk")
//!     .with_strategy(::janus::__private::Strategy::RestForOne)
//!     .with_intensity(5u32, ::core::time::Duration::new(60, 0))
//!     .child_with(feed(), ::janus::__private::ChildOptions::new())
//!     .child_with(risk(), ::janus::__private::ChildOptions::new().with_critical(true))
//! ```

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned as _;

use super::{AutoShutdown, Intensity, Order, StartOrder, Strategy, Tree};
use crate::common::CountSetting;
use crate::common::expand::backoff;

/// Expands `tree` (`None` if it could not be read); `checked` holds the
/// errors found, if any.
pub(super) fn tree(tree: Option<&Tree>, checked: Result<(), TokenStream>) -> TokenStream {
    let (Some(tree), Ok(())) = (tree, &checked) else {
        // The stub has the type the caller expects: one mistake, one error.
        let errors = checked.err().unwrap_or_default();
        return quote! {{
            #errors
            ::janus::__private::SupervisorSpec::new("")
        }};
    };
    let name = &tree.name;
    let mut calls = Vec::new();
    if let Some(strategy) = tree.strategy {
        calls.push(quote!(.with_strategy(#strategy)));
    }
    match &tree.intensity {
        Some(Intensity::Limit { restarts, within }) => {
            calls.push(quote!(.with_intensity(#restarts, #within)));
        }
        Some(Intensity::Off) => calls.push(quote!(.without_intensity_limit())),
        None => {}
    }
    if let Some(order) = tree.start.as_ref().and_then(|s| s.order) {
        calls.push(quote!(.with_start_order(#order)));
    }
    if let Some(timeout) = tree.start.as_ref().and_then(|s| s.timeout.as_ref()) {
        calls.push(quote!(.with_start_timeout(#timeout)));
    }
    if let Some(timeout) = tree.shutdown.as_ref().and_then(|s| s.timeout.as_ref()) {
        calls.push(quote!(.with_shutdown_timeout(#timeout)));
    }
    if let Some(order) = tree.shutdown.as_ref().and_then(|s| s.order) {
        calls.push(quote!(.with_shutdown_order(#order)));
    }
    if let Some(bounds) = &tree.backoff {
        let backoff = backoff(bounds, None);
        calls.push(quote!(.with_backoff(#backoff)));
    }
    if let Some(auto_shutdown) = tree.auto_shutdown {
        calls.push(quote!(.with_auto_shutdown(#auto_shutdown)));
    }
    if let Some(grace) = &tree.readiness_grace {
        calls.push(quote!(.with_readiness_grace(#grace)));
    }
    if let Some(template) = &tree.dynamic {
        // Checked: no strategy, start order, shutdown order or children.
        match &tree.max_children {
            Some(CountSetting::Literal { value, .. }) => {
                let max = proc_macro2::Literal::usize_unsuffixed(*value as usize);
                calls.push(quote!(.with_max_children(#max)));
            }
            Some(CountSetting::Expr(expr)) => calls.push(quote_spanned! {expr.span()=>
                .with_max_children({
                    let max: usize = #expr;
                    max
                })
            }),
            None => {}
        }
        return quote! {
            ::janus::__private::DynamicSupervisorSpec::new(#name, #template) #(#calls)*
        };
    }
    for child in tree.children.iter().flat_map(|c| &c.list) {
        let settings = &child.settings;
        let mut options = Vec::new();
        if let Some(restart) = settings.restart {
            options.push(quote!(.with_restart_policy(#restart)));
        }
        if let Some(timeout) = &settings.start_timeout {
            options.push(quote!(.with_start_timeout(#timeout)));
        }
        if let Some(timeout) = &settings.shutdown_timeout {
            options.push(quote!(.with_shutdown_timeout(#timeout)));
        }
        if let Some(critical) = settings.critical {
            options.push(quote!(.with_critical(#critical)));
        }
        if let Some(expendable) = settings.expendable {
            options.push(quote!(.with_expendable(#expendable)));
        }
        if let Some(bounds) = &settings.backoff {
            let backoff = backoff(bounds, None);
            options.push(quote!(.with_backoff(#backoff)));
        }
        if let Some((significant, _)) = &settings.significant {
            options.push(quote!(.with_significant(#significant)));
        }
        if let Some(gates) = settings.gates_readiness {
            options.push(quote!(.with_gates_readiness(#gates)));
        }
        // Spanned at the child, so that a child that is not a service is
        // reported there.
        let expr = &child.expr;
        calls.push(quote_spanned! {expr.span()=>
            .child_with(#expr, ::janus::__private::ChildOptions::new() #(#options)*)
        });
    }
    quote! {
        ::janus::__private::SupervisorSpec::new(#name) #(#calls)*
    }
}

impl ToTokens for Strategy {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            Self::OneForOne => quote!(::janus::__private::Strategy::OneForOne),
            Self::OneForAll => quote!(::janus::__private::Strategy::OneForAll),
            Self::RestForOne => quote!(::janus::__private::Strategy::RestForOne),
        });
    }
}

impl ToTokens for StartOrder {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            Self::Ordered => quote!(::janus::__private::StartOrder::Ordered),
            Self::Concurrent => quote!(::janus::__private::StartOrder::Concurrent),
        });
    }
}

impl ToTokens for AutoShutdown {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            Self::Never => quote!(::janus::__private::AutoShutdown::Never),
            Self::AnySignificant => quote!(::janus::__private::AutoShutdown::AnySignificant),
            Self::AllSignificant => quote!(::janus::__private::AutoShutdown::AllSignificant),
        });
    }
}

impl ToTokens for Order {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            Self::Reverse => quote!(::janus::__private::ShutdownOrder::Reverse),
            Self::Concurrent => quote!(::janus::__private::ShutdownOrder::Concurrent),
        });
    }
}
