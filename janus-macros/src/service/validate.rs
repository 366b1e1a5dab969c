//! Checks of a parsed [`Service`]: settings against each other, and the
//! signatures of the methods and functions it is made of.

use syn::{FnArg, ReceiverKind, ReturnType, Signature, Type};

use super::{Args, Inputs, Name, Role, Roles, Service};
use crate::common;
use crate::errors::Errors;

pub(super) fn service(service: &Service, errors: &mut Errors) {
    match service {
        Service::Struct { item, args } => {
            self::args(args, errors);
            if let Some(Name::Field(field)) = &args.name
                && !item.fields.iter().any(|f| f.ident.as_ref() == Some(field))
            {
                errors.at(
                    field,
                    format_args!(
                        "`{}` has no field `{field}`; `name = field` names each instance by one of its `String` fields",
                        item.ident
                    ),
                );
            }
        }
        Service::Impl { item, roles } => impl_block(item, roles, errors),
        Service::Fn { item, args } => function(item, args, errors),
        Service::Other(_) => {}
    }
}

fn args(args: &Args, errors: &mut Errors) {
    if let Some(bounds) = &args.backoff {
        common::validate::backoff(bounds, errors);
    }
}

fn function(item: &syn::ItemFn, args: &Args, errors: &mut Errors) {
    self::args(args, errors);
    let what = "a function service";
    let sig = &item.sig;
    require_async(sig, what, errors);
    forbid_generics(sig, what, errors);
    require_returns(sig, Returns::Result, what, errors);
    let inputs = Inputs::of(sig);
    const TAKES: &str = "a function service takes `cancel: CancellationToken` or nothing";
    match inputs {
        Inputs::Nothing | Inputs::Token => {}
        Inputs::Receiver(receiver) => errors.at(
            receiver,
            "a function service is a free `async fn`; for methods, use `#[janus::service]` on the impl block with `#[step]` or `#[run]`",
        ),
        Inputs::Wrong(FnArg::Typed(arg)) if sig.inputs.len() == 1 => errors.at(&arg.ty, TAKES),
        Inputs::Wrong(arg) => errors.at(arg, TAKES),
    }
    match (inputs, &args.every) {
        (Inputs::Nothing, None) => errors.at(
            &sig.ident,
            "a function service without a `CancellationToken` parameter is step-style and needs `every = \"…\"`; or take `cancel: CancellationToken` for full control",
        ),
        (Inputs::Token, Some(every)) => errors.at_span(
            every.span,
            "`every` is for step-style functions, which take no `CancellationToken`; remove the parameter or `every`",
        ),
        _ => {}
    }
}

fn impl_block(item: &syn::ItemImpl, roles: &Roles, errors: &mut Errors) {
    if let Some((path, _)) = &item.trait_ {
        errors.at(
            path,
            "#[janus::service] goes on the service's own impl block (`impl MyService { … }`), not on a trait impl",
        );
    }
    for (role, marked) in roles.iter() {
        method(role, &marked.sig, errors);
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
    } else if roles.step.is_none() && roles.run.is_none() && errors.count() == 0 {
        // Only when nothing else is wrong: a mistaken marker is the one
        // error to fix, not also the missing method it would have made.
        errors.at(
            &item.self_ty,
            "a #[janus::service] impl needs a `#[step]` method (called in a loop) or a `#[run]` method (full control)",
        );
    }
}

/// Checks the signature of a method that plays `role`.
fn method(role: Role, sig: &Signature, errors: &mut Errors) {
    let what = format!("a {} method", role.marker());
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
        (Role::Run, [_]) | (Role::OnStart | Role::Step | Role::OnStop, []) => {}
        (Role::Run, []) => errors.at_span(
            sig.paren_token.span.join(),
            "a #[run] method takes `&self` and the `CancellationToken`: `async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()>`",
        ),
        (Role::Run, [_, extra, ..]) => errors.at(
            extra,
            "a #[run] method takes only `&self` and the `CancellationToken`",
        ),
        (_, [extra, ..]) => errors.at(
            extra,
            format_args!("{what} takes no arguments besides `&self`"),
        ),
    }
}

/// What a method or function may return.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Returns {
    /// `anyhow::Result<()>` (any `Result`, whose error converts into `anyhow::Error`).
    Result,
    /// `anyhow::Result<()>` or nothing.
    ResultOrUnit,
    /// Nothing.
    Unit,
}

fn require_async(sig: &Signature, what: &str, errors: &mut Errors) {
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token,
            format_args!("{what} must be `async`: write `async fn {}`", sig.ident),
        );
    }
}

/// Checks for a `&self` receiver; returns the arguments after it.
fn require_ref_self<'a>(sig: &'a Signature, what: &str, errors: &mut Errors) -> Vec<&'a FnArg> {
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver)) => match &receiver.kind {
            ReceiverKind::Reference(_, _, Some(_)) => errors.at(
                receiver,
                format_args!(
                    "{what} takes `&self`, not `&mut self`: a service runs through a shared reference; keep mutable state in atomics or a `Mutex`"
                ),
            ),
            ReceiverKind::Reference(_, _, None) => {}
            _ => errors.at(receiver, format_args!("{what} takes `&self`")),
        },
        Some(FnArg::Typed(arg)) => errors.at(
            arg,
            format_args!(
                "{what} takes `&self` first: `async fn {}(&self, …)`",
                sig.ident
            ),
        ),
        None => errors.at_span(
            sig.paren_token.span.join(),
            format_args!("{what} takes `&self`: `async fn {}(&self)`", sig.ident),
        ),
    }
    inputs.collect()
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

fn is_result(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "Result"))
}

fn require_returns(sig: &Signature, returns: Returns, what: &str, errors: &mut Errors) {
    match (&sig.output, returns) {
        (ReturnType::Default, Returns::ResultOrUnit | Returns::Unit) => {}
        (ReturnType::Default, Returns::Result) => errors.at_span(
            sig.paren_token.span.join(),
            format_args!("{what} must return `anyhow::Result<()>`"),
        ),
        (ReturnType::Type(_, ty), Returns::Unit) if !is_unit(ty) => errors.at(
            ty,
            format_args!(
                "{what} must not return a value: it runs on the way out, after the service's result is decided; remove the return type"
            ),
        ),
        (ReturnType::Type(_, ty), Returns::Result | Returns::ResultOrUnit)
            if !(is_result(ty) || (returns == Returns::ResultOrUnit && is_unit(ty))) =>
        {
            errors.at(ty, format_args!("{what} must return `anyhow::Result<()>`"));
        }
        _ => {}
    }
}

fn forbid_generics(sig: &Signature, what: &str, errors: &mut Errors) {
    if !sig.generics.params.is_empty() {
        errors.at(&sig.generics, format_args!("{what} cannot be generic"));
    }
}
