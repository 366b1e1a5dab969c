//! `#[janus::service]` on a struct's impl block: generates `JanusService`.
//!
//! ```text
//! // Input:
//! #[janus::service]
//! impl Feed {
//!     #[on_start] async fn connect(&self) -> anyhow::Result<()> { … }
//!     #[step(every = "100ms")] async fn poll(&self) -> anyhow::Result<()> { … }
//!     #[on_stop] async fn disconnect(&self) { … }
//! }
//!
//! // Output:
//! impl Feed {
//!     async fn connect(&self) -> anyhow::Result<()> { … }   // markers removed
//!     async fn poll(&self) -> anyhow::Result<()> { … }
//!     async fn disconnect(&self) { … }
//!     fn __janus_definition(&self) -> &dyn ServiceDefinition { self }
//! }
//! #[async_trait]
//! impl JanusService for Feed {
//!     fn name(&self) -> &str { self.__janus_definition().__janus_name() }
//!     …                                        // policy, backoff, timeout, critical
//!     async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
//!         drive(&cancel, self.connect(),
//!               step_loop(&cancel, Some(Duration::new(0, 100_000_000)), || self.poll()),
//!               self.disconnect()).await
//!     }
//! }
//! ```

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;
use syn::{ImplItem, ImplItemFn, Meta};

use super::config::{ConfigExprs, Methods};
use super::signature::{
    Returns, forbid_generics, require_async, require_ref_self, require_returns,
};
use crate::duration::DurationLit;
use crate::errors::Errors;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    OnStart,
    Step,
    OnStop,
    Run,
}

impl Role {
    fn from_ident(ident: &syn::Ident) -> Option<Self> {
        Some(match ident.to_string().as_str() {
            "on_start" => Self::OnStart,
            "step" => Self::Step,
            "on_stop" => Self::OnStop,
            "run" => Self::Run,
            _ => return None,
        })
    }

    fn marker(self) -> &'static str {
        match self {
            Self::OnStart => "#[on_start]",
            Self::Step => "#[step]",
            Self::OnStop => "#[on_stop]",
            Self::Run => "#[run]",
        }
    }
}

/// A method with its role, as found in the impl block.
struct Marked {
    method: syn::Ident,
    position: usize,
    marker: syn::Attribute,
    every: Option<DurationLit>,
}

#[derive(Default)]
struct Roles {
    on_start: Option<Marked>,
    step: Option<Marked>,
    on_stop: Option<Marked>,
    run: Option<Marked>,
}

impl Roles {
    fn slot(&mut self, role: Role) -> &mut Option<Marked> {
        match role {
            Role::OnStart => &mut self.on_start,
            Role::Step => &mut self.step,
            Role::OnStop => &mut self.on_stop,
            Role::Run => &mut self.run,
        }
    }
}

pub(super) fn expand(args: TokenStream, item: &syn::ItemImpl) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.at(
            &args,
            "the impl attribute takes no arguments; configure the service on its struct: `#[janus::service(…)] struct …`",
        );
    }
    if let Some((path, _)) = &item.trait_ {
        errors.at(
            path,
            "#[janus::service] goes on the service's own impl block (`impl MyService { … }`), not on a trait impl",
        );
    }
    let mut item = item.clone();
    let mut roles = Roles::default();
    for (position, impl_item) in item.items.iter_mut().enumerate() {
        if let ImplItem::Fn(method) = impl_item {
            take_role(method, position, &mut roles, &mut errors);
        }
    }
    if let (Some(step), Some(run)) = (&roles.step, &roles.run) {
        let later = if step.position > run.position {
            step
        } else {
            run
        };
        errors.at(
            &later.marker,
            "#[step] and #[run] cannot be combined: #[run] takes full control of the service's loop; keep one",
        );
    } else if roles.step.is_none() && roles.run.is_none() && errors.is_empty() {
        errors.at(
            &item.self_ty,
            "a #[janus::service] impl needs a `#[step]` method (called in a loop) or a `#[run]` method (full control)",
        );
    }
    expand_impl(&item, &roles, &errors)
}

/// Finds the role marker of `method`, checks the method against it, and
/// removes the marker (it is not a real attribute).
fn take_role(method: &mut ImplItemFn, position: usize, roles: &mut Roles, errors: &mut Errors) {
    let mut found: Option<(Role, syn::Attribute, Option<DurationLit>)> = None;
    let mut kept = Vec::with_capacity(method.attrs.len());
    for attr in std::mem::take(&mut method.attrs) {
        let Some(role) = attr.path().get_ident().and_then(Role::from_ident) else {
            kept.push(attr);
            continue;
        };
        if let Some((first, _, _)) = &found {
            errors.at(
                &attr,
                format_args!(
                    "`{}` already has {}; a method plays one role",
                    method.sig.ident,
                    first.marker()
                ),
            );
            continue;
        }
        let every = marker_args(&attr, role, errors);
        found = Some((role, attr, every));
    }
    method.attrs = kept;
    let Some((role, marker, every)) = found else {
        return;
    };
    let what = format!("a {} method", role.marker());
    let sig = &method.sig;
    require_async(sig, &what, errors);
    forbid_generics(sig, &what, errors);
    let rest = require_ref_self(sig, &what, errors);
    let returns = match role {
        Role::OnStart => Returns::ResultOrUnit,
        Role::Step | Role::Run => Returns::Result,
        Role::OnStop => Returns::Unit,
    };
    require_returns(sig, returns, &what, errors);
    match (role, rest.as_slice()) {
        (Role::Run, [_]) => {}
        (Role::Run, []) => errors.at_span(
            sig.paren_token.span.join(),
            "a #[run] method takes `&self` and the `CancellationToken`: `async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()>`",
        ),
        (Role::Run, [_, extra, ..]) => errors.at(extra, "a #[run] method takes only `&self` and the `CancellationToken`"),
        (_, []) => {}
        (_, [extra, ..]) => errors.at(extra, format_args!("{what} takes no arguments besides `&self`")),
    }
    let slot = roles.slot(role);
    if slot.is_some() {
        errors.at(
            &marker,
            format_args!("only one {} method is allowed per service", role.marker()),
        );
        return;
    }
    *slot = Some(Marked {
        method: sig.ident.clone(),
        position,
        marker,
        every,
    });
}

/// Parses `#[step(every = "…")]`; the other markers take no arguments.
fn marker_args(attr: &syn::Attribute, role: Role, errors: &mut Errors) -> Option<DurationLit> {
    match (&attr.meta, role) {
        (Meta::Path(_), _) => None,
        (Meta::List(list), Role::Step) => {
            let nv = errors.ok(list.parse_args::<syn::MetaNameValue>())?;
            if !nv.path.is_ident("every") {
                errors.at(&nv.path, "unknown key in `#[step(…)]`; expected: every");
                return None;
            }
            let every = errors.ok(DurationLit::from_expr(&nv.value))?;
            if every.value.is_zero() {
                errors.at_span(every.span, "`every` must be longer than zero");
                return None;
            }
            Some(every)
        }
        (meta, role) => {
            errors.at(meta, format_args!("{} takes no arguments", role.marker()));
            None
        }
    }
}

fn expand_impl(item: &syn::ItemImpl, roles: &Roles, errors: &Errors) -> TokenStream {
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let attrs = &item.attrs;
    let items = &item.items;
    let cancel = quote!(__janus_cancel);
    // After an error, call none of the user's methods: their signatures may
    // be what is wrong, and one mistake should give one error.
    let fallback = !errors.is_empty();
    let call = |marked: &Option<Marked>| match marked {
        Some(Marked { method, .. }) if !fallback => quote!(self.#method()),
        _ => quote!(::core::future::ready(())),
    };
    let on_start = call(&roles.on_start);
    let on_stop = call(&roles.on_stop);
    let body = match (&roles.run, &roles.step) {
        _ if fallback => quote!(::core::future::ready(())),
        (Some(Marked { method, .. }), _) => quote!(self.#method(#cancel.clone())),
        (None, Some(Marked { method, every, .. })) => {
            let every = match every {
                Some(every) => quote!(::core::option::Option::Some(#every)),
                None => quote!(::core::option::Option::None),
            };
            quote!(::janus::__private::step_loop(&#cancel, #every, || self.#method()))
        }
        // Already reported; a service that stops at once keeps the rest quiet.
        (None, None) => quote!(::core::future::ready(())),
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
    let methods = ConfigExprs::from_definition().methods(Methods::Service);
    // With an `#[on_start]`, the service is ready once it has returned.
    let reports_readiness = roles.on_start.is_some();
    let errors = errors.to_compile_errors();
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
                ::janus::__private::drive(&#cancel, #on_start, #body, #on_stop).await
            }
        }

        #errors
    }
}
