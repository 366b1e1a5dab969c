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

use crate::common::{Bounds, Breaker, DurationSetting, Policy};
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
    shutdown_timeout: Option<DurationSetting>,
    heartbeat_timeout: Option<DurationSetting>,
    critical: Option<bool>,
    /// A function's period, which makes it step-style.
    every: Option<DurationSetting>,
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
    /// A step's trigger: `every = "…"` or `recv = field`.
    trigger: Option<Trigger>,
}

/// What calls a step.
#[derive(Clone)]
enum Trigger {
    /// An interval.
    Every(DurationSetting),
    /// Each message of the `Inbox` in this field.
    Recv(syn::Ident),
}

#[derive(Default)]
struct Roles {
    on_start: Option<Marked>,
    /// Steps, in order; several only when each has a trigger.
    steps: Vec<Marked>,
    on_stop: Option<Marked>,
    run: Option<Marked>,
}

impl Roles {
    fn iter(&self) -> impl Iterator<Item = (Role, &Marked)> {
        let single = [
            (Role::OnStart, &self.on_start),
            (Role::OnStop, &self.on_stop),
            (Role::Run, &self.run),
        ]
        .into_iter()
        .filter_map(|(role, marked)| marked.as_ref().map(|m| (role, m)));
        single.chain(self.steps.iter().map(|m| (Role::Step, m)))
    }
}

/// The parameters of a role's method after `&self`, by what they are.
#[derive(Default)]
struct Params<'a> {
    /// `&mut S`: the run's state.
    state: Option<&'a syn::PatType>,
    /// `Option<S>` in `#[on_stop]`: the state, if the start made it.
    kept_state: Option<&'a syn::PatType>,
    /// `StopReason` in `#[on_stop]`.
    why: Option<&'a syn::PatType>,
    /// The message of a `recv` step, or the `CancellationToken` of a `#[run]`.
    last: Option<&'a syn::PatType>,
    /// What fits no place: the first is reported.
    extra: Vec<&'a syn::FnArg>,
}

impl<'a> Params<'a> {
    /// Sorts the parameters of `sig` (after the receiver) for `role`.
    fn of(role: Role, sig: &'a syn::Signature, takes_last: bool) -> Self {
        let mut params = Self::default();
        let mut rest: Vec<&syn::FnArg> = sig
            .inputs
            .iter()
            .filter(|arg| !matches!(arg, syn::FnArg::Receiver(_)))
            .collect();
        if takes_last && let Some(syn::FnArg::Typed(last)) = rest.last().copied() {
            params.last = Some(last);
            rest.pop();
        }
        for arg in rest {
            let syn::FnArg::Typed(typed) = arg else {
                params.extra.push(arg);
                continue;
            };
            match (role, &*typed.ty) {
                (Role::Step | Role::Run, syn::Type::Reference(r))
                    if r.mutability.is_some() && params.state.is_none() =>
                {
                    params.state = Some(typed);
                }
                (Role::OnStop, ty)
                    if last_segment_is(ty, "Option") && params.kept_state.is_none() =>
                {
                    params.kept_state = Some(typed);
                }
                (Role::OnStop, ty) if last_segment_is(ty, "StopReason") && params.why.is_none() => {
                    params.why = Some(typed);
                }
                _ => params.extra.push(arg),
            }
        }
        params
    }
}

/// Whether `ty` is a path whose last segment is `name`.
fn last_segment_is(ty: &syn::Type, name: &str) -> bool {
    matches!(ty, syn::Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == name))
}

/// Whether an `#[on_start]` returns a state: `Result<S, …>` with `S` not `()`.
fn start_state(sig: &syn::Signature) -> bool {
    let syn::ReturnType::Type(_, ty) = &sig.output else {
        return false;
    };
    let syn::Type::Path(path) = &**ty else {
        return false;
    };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    last.ident == "Result"
        && matches!(args.args.first(), Some(syn::GenericArgument::Type(t))
            if !matches!(t, syn::Type::Tuple(tuple) if tuple.elems.is_empty()))
}

/// What a function service takes: its arguments (each run gets a clone
/// of the values given to the constructor), then optionally the
/// `CancellationToken`.
struct Inputs<'a> {
    /// `name: Type`, in order.
    arguments: Vec<(&'a syn::Ident, &'a syn::Type)>,
    /// Whether the last parameter is the `CancellationToken`.
    token: bool,
    /// `self`: a method, which belongs in an impl block.
    receiver: Option<&'a syn::Receiver>,
    /// A parameter that is not `name: Type` (a pattern), or a token not
    /// last: the first such.
    wrong: Option<&'a syn::FnArg>,
}

impl<'a> Inputs<'a> {
    fn of(sig: &'a syn::Signature) -> Self {
        let mut inputs = Self {
            arguments: Vec::new(),
            token: false,
            receiver: None,
            wrong: None,
        };
        let count = sig.inputs.len();
        for (i, input) in sig.inputs.iter().enumerate() {
            match input {
                syn::FnArg::Receiver(receiver) => inputs.receiver = Some(receiver),
                syn::FnArg::Typed(arg) if is_cancellation_token(&arg.ty) => {
                    if i + 1 == count {
                        inputs.token = true;
                    } else if inputs.wrong.is_none() {
                        inputs.wrong = Some(input);
                    }
                }
                syn::FnArg::Typed(arg) => match &*arg.pat {
                    syn::Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                        inputs.arguments.push((&pat.ident, &arg.ty));
                    }
                    _ if inputs.wrong.is_none() => inputs.wrong = Some(input),
                    _ => {}
                },
            }
        }
        inputs
    }
}

/// Whether `ty` names `CancellationToken` (under any path).
fn is_cancellation_token(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "CancellationToken"))
}
