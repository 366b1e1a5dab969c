//! The configuration methods every generated service has, from the typed
//! arguments. Cannot fail: invalid parts were dropped (and reported) while
//! parsing, and fall back to defaults here.

use proc_macro2::{Span, TokenStream};
use quote::quote;

use super::args::{Breaker, NameArg, Policy, ServiceArgs};
use crate::duration::{DEFAULT_BASE, DEFAULT_MAX, DurationLit};

/// The bodies of the five configuration methods, as expressions over `self`.
pub(super) struct ConfigExprs {
    pub(super) name: TokenStream,
    pub(super) policy: TokenStream,
    pub(super) backoff: TokenStream,
    pub(super) shutdown_timeout: TokenStream,
    pub(super) critical: TokenStream,
    pub(super) heartbeat_timeout: TokenStream,
}

/// Which trait the configuration methods implement.
#[derive(Clone, Copy)]
pub(super) enum Methods {
    /// `ServiceDefinition`, generated on the struct.
    Definition,
    /// `JanusService` itself.
    Service,
}

impl ConfigExprs {
    /// Expressions reading the struct's `ServiceDefinition`, for the impl
    /// block's generated `JanusService`.
    pub(super) fn from_definition() -> Self {
        let via = |method: &str| {
            let method = syn::Ident::new(method, Span::call_site());
            quote!(self.__janus_definition().#method())
        };
        Self {
            name: via("__janus_name"),
            policy: via("__janus_restart_policy"),
            backoff: via("__janus_backoff"),
            shutdown_timeout: via("__janus_shutdown_timeout"),
            critical: via("__janus_critical"),
            heartbeat_timeout: via("__janus_heartbeat_timeout"),
        }
    }

    /// The five configuration methods, for `which` trait.
    pub(super) fn methods(&self, which: Methods) -> TokenStream {
        let names = match which {
            Methods::Definition => [
                "__janus_name",
                "__janus_restart_policy",
                "__janus_backoff",
                "__janus_shutdown_timeout",
                "__janus_critical",
                "__janus_heartbeat_timeout",
            ],
            Methods::Service => [
                "name",
                "restart_policy",
                "backoff_config",
                "shutdown_timeout",
                "is_critical",
                "heartbeat_timeout",
            ],
        }
        .map(|name| syn::Ident::new(name, Span::call_site()));
        let [
            name_fn,
            policy_fn,
            backoff_fn,
            timeout_fn,
            critical_fn,
            heartbeat_fn,
        ] = &names;
        let Self {
            name,
            policy,
            backoff,
            shutdown_timeout,
            critical,
            heartbeat_timeout,
        } = self;
        quote! {
            fn #name_fn(&self) -> &str {
                #name
            }
            fn #policy_fn(&self) -> ::janus::__private::RestartPolicy {
                #policy
            }
            fn #backoff_fn(&self) -> ::core::option::Option<::janus::__private::BackoffConfig> {
                #backoff
            }
            fn #timeout_fn(&self) -> ::core::option::Option<::core::time::Duration> {
                #shutdown_timeout
            }
            fn #critical_fn(&self) -> bool {
                #critical
            }
            fn #heartbeat_fn(&self) -> ::core::option::Option<::core::time::Duration> {
                #heartbeat_timeout
            }
        }
    }

    pub(super) fn new(args: &ServiceArgs, default_name: &str) -> Self {
        let name = match &args.name {
            Some(NameArg::Literal(lit)) => quote!(#lit),
            Some(NameArg::Field(field)) => {
                quote!(::core::convert::AsRef::<str>::as_ref(&self.#field))
            }
            None => quote!(#default_name),
        };
        let policy = match args.restart.unwrap_or(Policy::OnFailure) {
            Policy::Always => quote!(::janus::__private::RestartPolicy::Always),
            Policy::OnFailure => quote!(::janus::__private::RestartPolicy::OnFailure),
            Policy::Never => quote!(::janus::__private::RestartPolicy::Never),
        };
        let backoff = if args.base.is_none() && args.max.is_none() && args.breaker.is_none() {
            quote!(::core::option::Option::None)
        } else {
            let fallback = |value| DurationLit {
                value,
                span: Span::call_site(),
            };
            let base = args.base.unwrap_or(fallback(DEFAULT_BASE));
            let max = args.max.unwrap_or(fallback(DEFAULT_MAX));
            let breaker = match &args.breaker {
                None => quote!(),
                Some(Breaker::Off) => quote!(.without_circuit_breaker()),
                Some(Breaker::On {
                    max_failures,
                    window,
                }) => quote!(.with_circuit_breaker(#max_failures, #window)),
            };
            quote!(::core::option::Option::Some(
                ::janus::__private::BackoffConfig::new(#base, #max) #breaker
            ))
        };
        let shutdown_timeout = match &args.shutdown_timeout {
            Some(timeout) => quote!(::core::option::Option::Some(#timeout)),
            None => quote!(::core::option::Option::None),
        };
        let critical = args.critical.unwrap_or(false);
        let heartbeat_timeout = match &args.heartbeat_timeout {
            Some(timeout) => quote!(::core::option::Option::Some(#timeout)),
            None => quote!(::core::option::Option::None),
        };
        Self {
            heartbeat_timeout,
            name,
            policy,
            backoff,
            shutdown_timeout,
            critical: quote!(#critical),
        }
    }
}
