//! Checks of a parsed [`Service`]: settings against each other, and the
//! signatures of the methods and functions it is made of.

use syn::{FnArg, ReceiverKind, ReturnType, Signature, Type};

use super::{Args, Inputs, Marked, Name, Params, Role, Roles, Service, Trigger, start_state};
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
    if let Some(receiver) = inputs.receiver {
        errors.at(
            receiver,
            "a function service is a free `async fn`; for methods, use `#[janus::service]` on the impl block with `#[step]` or `#[run]`",
        );
    }
    let misplaced_token = matches!(inputs.wrong, Some(FnArg::Typed(arg)) if is_token(&arg.ty));
    if let Some(wrong) = inputs.wrong {
        let message = match wrong {
            FnArg::Typed(arg) if is_token(&arg.ty) => {
                "the `CancellationToken` comes last: `async fn poller(url: String, cancel: CancellationToken)`"
            }
            _ => {
                "a function service takes `name: Type` arguments (the constructor's, cloned for each run), then optionally `cancel: CancellationToken`"
            }
        };
        errors.at(wrong, message);
    }
    match (inputs.token || misplaced_token, &args.every) {
        (false, None) => errors.at(
            &sig.ident,
            "a function service without a `CancellationToken` parameter is step-style and needs `every = \"…\"`; or take `cancel: CancellationToken` for full control",
        ),
        (true, Some(every)) => errors.at_span(
            every.span(),
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
    let state = roles.on_start.as_ref().is_some_and(|m| start_state(&m.sig));
    for (role, marked) in roles.iter() {
        method(role, marked, state, errors);
    }
    if let (Some(step), Some(run)) = (roles.steps.first(), &roles.run) {
        let later = if step.position > run.position {
            step
        } else {
            run
        };
        errors.at(
            &later.marker,
            "#[step] and #[run] cannot be combined: #[run] takes full control of the service's loop; keep one",
        );
    } else if roles.steps.len() > 1 {
        for step in roles.steps.iter().filter(|s| s.trigger.is_none()) {
            errors.at(
                &step.marker,
                "with several steps, each needs its trigger: `#[step(every = \"1s\")]` or `#[step(recv = inbox)]`",
            );
        }
    } else if roles.steps.is_empty() && roles.run.is_none() && errors.count() == 0 {
        // Only when nothing else is wrong: a mistaken marker is the one
        // error to fix, not also the missing method it would have made.
        errors.at(
            &item.self_ty,
            "a #[janus::service] impl needs a `#[step]` method (called in a loop) or a `#[run]` method (full control)",
        );
    }
}

/// Checks the signature of a method that plays `role`; `state`: whether
/// the `#[on_start]` makes a state for the run.
fn method(role: Role, marked: &Marked, state: bool, errors: &mut Errors) {
    let sig = &marked.sig;
    let what = format!("a {} method", role.marker());
    require_async(sig, &what, errors);
    forbid_generics(sig, &what, errors);
    let _ = require_ref_self(sig, &what, errors);
    let returns = match role {
        Role::OnStart => Returns::ResultOrUnit,
        Role::Step | Role::Run => Returns::Result,
        Role::OnStop => Returns::Unit,
    };
    require_returns(sig, returns, &what, errors);
    let recv = matches!(marked.trigger, Some(Trigger::Recv(_)));
    let params = Params::of(role, sig, role == Role::Run || recv);
    let takes = match role {
        Role::OnStart => "an #[on_start] method takes only `&self`",
        Role::Step => {
            "a #[step] method takes `&self`, then optionally `&mut` the run's state (what #[on_start] returns), and with `recv = …` the message"
        }
        Role::OnStop => {
            "an #[on_stop] method takes `&self`, then optionally the run's state (`Option<S>`, `None` if #[on_start] failed) and why the run ends (`StopReason`)"
        }
        Role::Run => {
            "a #[run] method takes `&self`, optionally `&mut` the run's state, and the `CancellationToken`"
        }
    };
    if let Some(extra) = params.extra.first() {
        errors.at(extra, takes);
    } else if params.last.is_none() && (role == Role::Run || recv) {
        let example = if recv {
            "a step with `recv = …` takes the message: `async fn on_quote(&self, quote: Quote) -> janus::Result<()>`"
        } else {
            "a #[run] method takes the `CancellationToken`: `async fn run(&self, cancel: CancellationToken) -> janus::Result<()>`"
        };
        errors.at_span(sig.paren_token.span.join(), example);
    }
    let borrowed = params.state.or(params.kept_state);
    if let Some(param) = borrowed.filter(|_| !state) {
        errors.at(
            &param.ty,
            "this method takes the run's state, but #[on_start] makes none: return it from #[on_start], as in `async fn connect(&self) -> janus::Result<Conn>`",
        );
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

fn is_token(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "CancellationToken"))
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
