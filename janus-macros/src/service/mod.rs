//! `#[janus::service]`: on a struct (its configuration), on the struct's impl
//! block (its `run()`), or on an `async fn` (a whole service).
//!
//! Three phases, as in thiserror-impl: [`parse`] reads the attribute and the
//! item into the typed [`Service`], [`validate`] checks it, and [`expand`]
//! writes the code and cannot fail. Every error is collected with its span
//! and reported together; after an error the item is still emitted, with a
//! fallback implementation, so that one mistake gives one error rather than
//! a cascade.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;

use crate::common::{Bounds, Breaker, DurationLit, Policy};
use crate::errors::Errors;

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let item = match syn::parse2::<syn::Item>(input.clone()) {
        Ok(item) => item,
        Err(error) => {
            let error = error.to_compile_error();
            return quote!(#input #error);
        }
    };
    let mut errors = Errors::new();
    let service = parse::service(args, item, &mut errors);
    validate::service(&service, &mut errors);
    expand::service(&service, errors.check())
}

/// The item the attribute is on, read and with its markers removed.
#[expect(
    clippy::large_enum_variant,
    reason = "one is made per expansion, and moved once"
)]
enum Service {
    /// A struct: the service's configuration.
    Struct { item: syn::ItemStruct, args: Args },
    /// The struct's impl block: the service's methods, by role.
    Impl { item: syn::ItemImpl, roles: Roles },
    /// An `async fn`: a whole service.
    Fn { item: syn::ItemFn, args: Args },
    /// Anything else: an error, and the item as it was.
    Other(syn::Item),
}

/// The attribute's arguments on a struct or a function.
#[derive(Default)]
struct Args {
    name: Option<Name>,
    restart: Option<Policy>,
    backoff: Option<Bounds>,
    breaker: Option<Breaker>,
    shutdown_timeout: Option<DurationLit>,
    heartbeat_timeout: Option<DurationLit>,
    critical: Option<bool>,
    /// A function's period, which makes it step-style.
    every: Option<DurationLit>,
}

enum Name {
    Literal(syn::LitStr),
    /// `name = field`: each instance is named by one of its fields.
    Field(syn::Ident),
}

/// A method's role in the impl block, given by its marker attribute.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    OnStart,
    Step,
    OnStop,
    Run,
}

impl Role {
    const ALL: [(&str, Self); 4] = [
        ("on_start", Self::OnStart),
        ("step", Self::Step),
        ("on_stop", Self::OnStop),
        ("run", Self::Run),
    ];

    fn marker(self) -> &'static str {
        match self {
            Self::OnStart => "#[on_start]",
            Self::Step => "#[step]",
            Self::OnStop => "#[on_stop]",
            Self::Run => "#[run]",
        }
    }
}

/// A method that plays a role, as found in the impl block.
struct Marked {
    sig: syn::Signature,
    /// Its place among the block's items: the later of two conflicting
    /// methods is the one reported.
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

    fn iter(&self) -> impl Iterator<Item = (Role, &Marked)> {
        [
            (Role::OnStart, &self.on_start),
            (Role::Step, &self.step),
            (Role::OnStop, &self.on_stop),
            (Role::Run, &self.run),
        ]
        .into_iter()
        .filter_map(|(role, marked)| marked.as_ref().map(|m| (role, m)))
    }
}

/// What a function service takes.
#[derive(Clone, Copy)]
enum Inputs<'a> {
    /// Nothing: it is step-style, called every `every`.
    Nothing,
    /// The `CancellationToken`: it runs until it returns.
    Token,
    /// `self`: a method, which belongs in an impl block.
    Receiver(&'a syn::Receiver),
    /// Something else, or more: the first argument that is wrong.
    Wrong(&'a syn::FnArg),
}

impl<'a> Inputs<'a> {
    fn of(sig: &'a syn::Signature) -> Self {
        let inputs: Vec<&syn::FnArg> = sig.inputs.iter().collect();
        match inputs.as_slice() {
            [] => Self::Nothing,
            [syn::FnArg::Typed(arg)] if is_cancellation_token(&arg.ty) => Self::Token,
            [syn::FnArg::Receiver(receiver)] => Self::Receiver(receiver),
            [arg] => Self::Wrong(arg),
            [_, extra, ..] => Self::Wrong(extra),
        }
    }
}

/// Whether `ty` names `CancellationToken` (under any path).
fn is_cancellation_token(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "CancellationToken"))
}
