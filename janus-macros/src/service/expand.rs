//! Writes a checked [`Service`] out. Cannot fail.
//!
//! With errors, the item is still emitted, its markers removed, and its
//! trait implemented by a fallback that calls none of the user's methods
//! (their signatures may be what is wrong), followed by the errors: so one
//! mistake gives one error.
//!
//! On a struct:
//!
//! ```text
//! #[janus::service(restart = "always", shutdown_timeout = "5s")]
//! pub struct Feed { … }
//! // becomes
//! pub struct Feed { … }
//! impl ServiceDefinition for Feed {
//!     fn __janus_name(&self) -> &str { "feed" }
//!     fn __janus_restart_policy(&self) -> RestartPolicy { RestartPolicy::Always }
//!     fn __janus_backoff(&self) -> Option<BackoffConfig> { None }
//!     fn __janus_shutdown_timeout(&self) -> Option<Duration> { Some(Duration::new(5, 0)) }
//!     fn __janus_critical(&self) -> bool { false }
//!     fn __janus_heartbeat_timeout(&self) -> Option<Duration> { None }
//! }
//! ```
//!
//! On its impl block:
//!
//! ```text
//! #[janus::service]
//! impl Feed {
//!     #[on_start] async fn connect(&self) -> anyhow::Result<Conn> { … }
//!     #[step(every = "100ms")] async fn poll(&self, conn: &mut Conn) -> anyhow::Result<()> { … }
//!     #[step(recv = quotes)] async fn write(&self, conn: &mut Conn, q: Quote) -> anyhow::Result<()> { … }
//!     #[on_stop] async fn disconnect(&self, conn: Option<Conn>, why: StopReason) { … }
//! }
//! // becomes
//! impl Feed {
//!     async fn connect(&self) -> anyhow::Result<Conn> { … }   // markers removed
//!     …
//!     fn __janus_definition(&self) -> &dyn ServiceDefinition { self }
//! }
//! #[async_trait]
//! impl JanusService for Feed {
//!     fn name(&self) -> &str { self.__janus_definition().__janus_name() }
//!     …                             // policy, backoff, timeouts, critical
//!     fn reports_readiness(&self) -> bool { true }   // it has an #[on_start]
//!     async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
//!         drive_with_state(&cancel, self.connect(),
//!             async |state| {
//!                 let mut every_0 = interval(Duration::new(0, 100_000_000));
//!                 let mut inbox_1 = Inbox::lock(&self.quotes).await;
//!                 loop {
//!                     select! {
//!                         biased;
//!                         () = cancel.cancelled() => break Ok(()),
//!                         _ = every_0.tick() => step_once(&cancel, async { … self.poll(&mut *state) … }).await?,
//!                         message = inbox_1.recv() => match message {
//!                             Some(q) => step_once(&cancel, async { … self.write(&mut *state, q) … }).await?,
//!                             None => break Ok(()),   // every sender gone: the run completes
//!                         },
//!                     }
//!                 }
//!             },
//!             async |conn, why| self.disconnect(conn, why).await,
//!         ).await
//!     }
//! }
//! ```
//!
//! On an `async fn`, which becomes a constructor of the same name:
//!
//! ```text
//! #[janus::service(restart = "always")]
//! async fn heartbeat(cancel: CancellationToken) -> anyhow::Result<()> { … }
//! // becomes
//! fn heartbeat() -> impl JanusService {
//!     struct __JanusFnService;
//!     #[async_trait]
//!     impl JanusService for __JanusFnService {
//!         fn name(&self) -> &str { "heartbeat" }
//!         fn restart_policy(&self) -> RestartPolicy { RestartPolicy::Always }
//!         …
//!         async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
//!             async fn __janus_body(cancel: CancellationToken) -> anyhow::Result<()> { … }
//!             drive_with_state(&cancel, ready(()),
//!                 async |_| IntoServiceResult::into_service_result(__janus_body(cancel.clone()).await),
//!                 async |_, _| {}).await
//!         }
//!     }
//!     __JanusFnService
//! }
//! ```
//!
//! Arguments before the token (`async fn poller(url: String, cancel: …)`)
//! become the constructor's and fields of `__JanusFnService`; the body is
//! called with clones of them (`Clone::clone(&self.url)`).
//!
//! Without a `CancellationToken` parameter the function is step-style: it is
//! called every `every`, like a `#[step(every = "…")]` method.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned as _;

use super::{Args, Inputs, Marked, Name, Params, Role, Roles, Service, Trigger};
use crate::common::Policy;
use crate::names::kebab_case;

/// Expands `service`; `checked` holds the errors found, if any.
pub(super) fn service(service: &Service, checked: Result<(), TokenStream>) -> TokenStream {
    let fallback = checked.is_err();
    let errors = checked.err().unwrap_or_default();
    let expanded = match service {
        Service::Struct { item, args } => structure(item, args, fallback),
        Service::Impl { item, roles } => impl_block(item, roles, fallback),
        Service::Fn { item, args } => function(item, args, fallback),
        Service::Other(item) => quote!(#item),
    };
    quote!(#expanded #errors)
}

fn structure(item: &syn::ItemStruct, args: &Args, fallback: bool) -> TokenStream {
    let config = Config::from_args(args, &item.ident.to_string(), fallback);
    let methods = config.methods(Methods::Definition);
    let ident = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    quote! {
        #item

        #[automatically_derived]
        impl #impl_generics ::janus::__private::ServiceDefinition for #ident #ty_generics #where_clause {
            #methods
        }
    }
}

fn impl_block(item: &syn::ItemImpl, roles: &Roles, fallback: bool) -> TokenStream {
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let attrs = &item.attrs;
    let items = &item.items;
    let cancel = quote!(__janus_cancel);
    let run_body = if fallback {
        quote!(::core::result::Result::Ok(()))
    } else {
        let on_start = match &roles.on_start {
            Some(Marked { sig, .. }) => {
                let method = &sig.ident;
                quote!(self.#method())
            }
            None => quote!(::core::future::ready(())),
        };
        let body = body(roles, &cancel);
        let on_stop = on_stop(roles.on_stop.as_ref());
        quote! {
            ::janus::__private::drive_with_state(&#cancel, #on_start, #body, #on_stop).await
        }
    };
    // Spanned at the user's type: if the struct lacks `#[janus::service]`,
    // rustc's one error (with our `on_unimplemented` note) lands there.
    let definition = quote_spanned! {self_ty.span()=>
        #[doc(hidden)]
        #[inline]
        fn __janus_definition(&self) -> &dyn ::janus::__private::ServiceDefinition {
            self
        }
    };
    let methods = Config::from_definition().methods(Methods::Service);
    // With an `#[on_start]`, the service is ready once it has returned.
    let reports_readiness = roles.on_start.is_some();
    quote! {
        #(#attrs)*
        impl #impl_generics #self_ty #where_clause {
            #(#items)*
            #definition
        }

        #[automatically_derived]
        #[::janus::__private::async_trait]
        impl #impl_generics ::janus::__private::JanusService for #self_ty #where_clause {
            #methods
            fn reports_readiness(&self) -> bool {
                #reports_readiness
            }
            async fn run(
                &self,
                #cancel: ::janus::__private::CancellationToken,
            ) -> ::janus::__private::anyhow::Result<()> {
                #run_body
            }
        }
    }
}

/// The argument that lends a method the run's state, if it takes it:
/// spanned at its parameter, where a type mismatch is reported.
fn state_arg(param: Option<&syn::PatType>) -> Option<TokenStream> {
    param.map(|param| {
        quote_spanned! {param.ty.span()=> &mut *__janus_state,}
    })
}

/// The span of what `sig` returns: where a wrong result type is reported.
fn output_span(sig: &syn::Signature) -> Span {
    match &sig.output {
        syn::ReturnType::Type(_, ty) => ty.span(),
        syn::ReturnType::Default => sig.ident.span(),
    }
}

/// `call`'s result as `anyhow::Result<()>`, the conversion spanned at the
/// method's return type (`span`): a result that is not one is reported
/// there, once.
fn converted(span: Span, call: &TokenStream) -> TokenStream {
    let result = syn::Ident::new("__janus_result", span);
    let convert = quote_spanned! {span=>
        ::janus::__private::IntoServiceResult::into_service_result(#result)
    };
    quote! {{
        let #result = #call;
        #convert
    }}
}

/// The run's body, as an async closure over `&mut` the state: the
/// `#[run]` method, or the steps' loop.
fn body(roles: &Roles, cancel: &TokenStream) -> TokenStream {
    if let Some(Marked { sig, .. }) = &roles.run {
        let method = &sig.ident;
        let params = Params::of(Role::Run, sig, true);
        let state = state_arg(params.state);
        let pattern = if state.is_some() {
            quote!(__janus_state)
        } else {
            quote!(_)
        };
        let result = converted(
            output_span(sig),
            &quote!(self.#method(#state #cancel.clone()).await),
        );
        return quote! {
            async |#pattern| #result
        };
    }
    if let [step] = roles.steps.as_slice()
        && !matches!(step.trigger, Some(Trigger::Recv(_)))
    {
        // One step on a timer, or back to back: the shared loop.
        let method = &step.sig.ident;
        let params = Params::of(Role::Step, &step.sig, false);
        let state = state_arg(params.state);
        let pattern = if state.is_some() {
            quote!(__janus_state)
        } else {
            quote!(_)
        };
        let every = match &step.trigger {
            Some(Trigger::Every(every)) => quote!(::core::option::Option::Some(#every)),
            _ => quote!(::core::option::Option::None),
        };
        let result = converted(output_span(&step.sig), &quote!(self.#method(#state).await));
        return quote! {
            async |#pattern| {
                let mut __janus_ticker = ::janus::__private::Ticker::new(#every);
                while __janus_ticker.next(&#cancel).await {
                    ::janus::__private::step_once(&#cancel, async { #result }).await?;
                }
                ::core::result::Result::Ok(())
            }
        };
    }
    let mut setup = Vec::new();
    let mut branches = Vec::new();
    let mut uses_state = false;
    for (i, step) in roles.steps.iter().enumerate() {
        let method = &step.sig.ident;
        let recv = matches!(step.trigger, Some(Trigger::Recv(_)));
        let params = Params::of(Role::Step, &step.sig, recv);
        let state = state_arg(params.state);
        uses_state |= state.is_some();
        // A result that is not one is reported at the step's return type.
        let span = output_span(&step.sig);
        let once = |call: TokenStream| {
            let result = converted(span, &quote!(#call.await));
            quote!(::janus::__private::step_once(&#cancel, async { #result }))
        };
        match &step.trigger {
            Some(Trigger::Every(every)) => {
                let timer = format_ident!("__janus_every_{i}");
                setup.push(quote!(let mut #timer = ::janus::__private::interval(#every);));
                let step = once(quote!(self.#method(#state)));
                branches.push(quote! {
                    _ = #timer.tick() => {
                        #step.await?;
                    }
                });
            }
            Some(Trigger::Recv(field)) => {
                let inbox = format_ident!("__janus_inbox_{i}");
                setup.push(quote_spanned! {field.span()=>
                    let mut #inbox = ::janus::__private::Inbox::lock(&self.#field).await;
                });
                let step = once(quote!(self.#method(#state __janus_message)));
                branches.push(quote! {
                    __janus_message = #inbox.recv() => match __janus_message {
                        ::core::option::Option::Some(__janus_message) => {
                            #step.await?;
                        }
                        // Every sender is gone: the run completes.
                        ::core::option::Option::None => break ::core::result::Result::Ok(()),
                    },
                });
            }
            // A single step without a trigger: back to back.
            None => {
                let step = once(quote!(self.#method(#state)));
                branches.push(quote! {
                    () = ::janus::__private::yield_budget() => {
                        #step.await?;
                    }
                });
            }
        }
    }
    let pattern = if uses_state {
        quote!(__janus_state)
    } else {
        quote!(_)
    };
    quote! {
        async |#pattern| {
            #(#setup)*
            loop {
                ::janus::__private::tokio::select! {
                    biased;
                    () = #cancel.cancelled() => break ::core::result::Result::Ok(()),
                    #(#branches)*
                }
            }
        }
    }
}

/// The `#[on_stop]` call, as an async closure over the state (if the start
/// made it) and why the run ends, passing what the method takes in its
/// order.
fn on_stop(marked: Option<&Marked>) -> TokenStream {
    let Some(Marked { sig, .. }) = marked else {
        return quote!(async |_, _| {});
    };
    let method = &sig.ident;
    let params = Params::of(Role::OnStop, sig, false);
    let mut args = Vec::new();
    for input in &sig.inputs {
        let syn::FnArg::Typed(typed) = input else {
            continue;
        };
        if params.kept_state.is_some_and(|p| std::ptr::eq(p, typed)) {
            args.push(quote_spanned! {typed.ty.span()=> __janus_kept});
        } else if params.why.is_some_and(|p| std::ptr::eq(p, typed)) {
            args.push(quote!(__janus_why));
        }
    }
    let kept = if params.kept_state.is_some() {
        quote!(__janus_kept)
    } else {
        quote!(_)
    };
    let why = if params.why.is_some() {
        quote!(__janus_why)
    } else {
        quote!(_)
    };
    quote!(async |#kept, #why| self.#method(#(#args),*).await)
}

fn function(item: &syn::ItemFn, args: &Args, fallback: bool) -> TokenStream {
    let sig = &item.sig;
    let methods =
        Config::from_args(args, &sig.ident.to_string(), fallback).methods(Methods::Service);
    let cancel = quote!(__janus_cancel);
    let body_fn = format_ident!("__janus_body");
    let mut inner = item.clone();
    inner.attrs.retain(|a| !a.path().is_ident("doc"));
    inner.vis = syn::Visibility::Inherited;
    inner.sig.ident = body_fn.clone();
    // The macro imposes `async`, awaited or not.
    inner
        .attrs
        .push(syn::parse_quote!(#[allow(clippy::unused_async)]));
    if fallback {
        inner.attrs.push(syn::parse_quote!(#[allow(dead_code)]));
    }
    let inputs = Inputs::of(sig);
    // The constructor's arguments, kept in the service; each call of the
    // body gets clones (spanned at their types: a type that is not
    // `Clone` is reported there).
    let names: Vec<&syn::Ident> = inputs.arguments.iter().map(|(name, _)| *name).collect();
    let types: Vec<&syn::Type> = inputs.arguments.iter().map(|(_, ty)| *ty).collect();
    let clones: Vec<TokenStream> = inputs
        .arguments
        .iter()
        .map(|(name, ty)| quote_spanned! {ty.span()=> ::core::clone::Clone::clone(&self.#name),})
        .collect();
    let body = match (inputs.token, &args.every) {
        _ if fallback => quote!(::core::future::ready(())),
        (false, Some(every)) => quote!(::janus::__private::step_loop(
            &#cancel,
            ::core::option::Option::Some(#every),
            || #body_fn(#(#clones)*),
        )),
        // With the token: validation accepts no other shape.
        _ => quote!(#body_fn(#(#clones)* #cancel.clone())),
    };
    let outer_attrs = item.attrs.iter().filter(|a| a.path().is_ident("doc"));
    let vis = &item.vis;
    let ident = &sig.ident;
    quote! {
        #(#outer_attrs)*
        #[must_use]
        #vis fn #ident(#(#names: #types),*) -> impl ::janus::__private::JanusService {
            #[doc(hidden)]
            struct __JanusFnService {
                #(#names: #types,)*
            }

            // A generated type: never listed among "the types that implement".
            #[automatically_derived]
            #[diagnostic::do_not_recommend]
            #[::janus::__private::async_trait]
            impl ::janus::__private::JanusService for __JanusFnService {
                #methods
                async fn run(
                    &self,
                    #cancel: ::janus::__private::CancellationToken,
                ) -> ::janus::__private::anyhow::Result<()> {
                    #inner
                    ::janus::__private::drive_with_state(
                        &#cancel,
                        ::core::future::ready(()),
                        async |_| ::janus::__private::IntoServiceResult::into_service_result(#body.await),
                        async |_, _| {},
                    )
                    .await
                }
            }

            __JanusFnService { #(#names,)* }
        }
    }
}

/// The bodies of the configuration methods, as expressions over `self`.
struct Config {
    name: TokenStream,
    policy: TokenStream,
    backoff: TokenStream,
    shutdown_timeout: TokenStream,
    critical: TokenStream,
    heartbeat_timeout: TokenStream,
}

/// Which trait the configuration methods implement.
#[derive(Clone, Copy)]
enum Methods {
    /// `ServiceDefinition`, generated on the struct.
    Definition,
    /// `JanusService` itself.
    Service,
}

impl Config {
    /// From the attribute's arguments; `ident` gives the default name.
    fn from_args(args: &Args, ident: &str, fallback: bool) -> Self {
        let default_name = kebab_case(ident);
        let name = match &args.name {
            Some(Name::Literal(lit)) => quote!(#lit),
            // After an error, the field may be what is wrong.
            Some(Name::Field(field)) if !fallback => {
                quote!(::core::convert::AsRef::<str>::as_ref(&self.#field))
            }
            Some(Name::Field(_)) | None => quote!(#default_name),
        };
        let policy = args.restart.unwrap_or(Policy::OnFailure);
        let backoff = if args.backoff.is_none() && args.breaker.is_none() {
            quote!(::core::option::Option::None)
        } else {
            let config = crate::common::expand::backoff(
                &args.backoff.clone().unwrap_or_default(),
                args.breaker.as_ref(),
            );
            quote!(::core::option::Option::Some(#config))
        };
        let optional = |value: &Option<crate::common::DurationSetting>| match value {
            Some(d) => quote!(::core::option::Option::Some(#d)),
            None => quote!(::core::option::Option::None),
        };
        let critical = args.critical.unwrap_or(false);
        Self {
            name,
            policy: quote!(#policy),
            backoff,
            shutdown_timeout: optional(&args.shutdown_timeout),
            critical: quote!(#critical),
            heartbeat_timeout: optional(&args.heartbeat_timeout),
        }
    }

    /// Expressions reading the struct's `ServiceDefinition`, for the impl
    /// block's generated `JanusService`.
    fn from_definition() -> Self {
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

    /// The configuration methods, for `which` trait.
    fn methods(&self, which: Methods) -> TokenStream {
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
}
