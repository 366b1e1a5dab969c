//! Checks of the methods and functions a service is made of.

use syn::spanned::Spanned as _;
use syn::{FnArg, ReceiverKind, ReturnType, Signature, Type};

use crate::errors::Errors;

/// What a method or function may return.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Returns {
    /// `anyhow::Result<()>` (any `Result`, whose error converts into `anyhow::Error`).
    Result,
    /// `anyhow::Result<()>` or nothing.
    ResultOrUnit,
    /// Nothing.
    Unit,
}

pub(super) fn require_async(sig: &Signature, what: &str, errors: &mut Errors) {
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token,
            format_args!("{what} must be `async`: write `async fn {}`", sig.ident),
        );
    }
}

/// Checks for a `&self` receiver; returns the arguments after it.
pub(super) fn require_ref_self<'a>(
    sig: &'a Signature,
    what: &str,
    errors: &mut Errors,
) -> Vec<&'a FnArg> {
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

pub(super) fn require_returns(sig: &Signature, returns: Returns, what: &str, errors: &mut Errors) {
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
            errors.at(
                ty,
                format_args!("{what} must return `anyhow::Result<()>`"),
            );
        }
        _ => {}
    }
}

pub(super) fn forbid_generics(sig: &Signature, what: &str, errors: &mut Errors) {
    if !sig.generics.params.is_empty() {
        errors.at(&sig.generics, format_args!("{what} cannot be generic"));
    }
}

/// Whether `ty` names `CancellationToken` (under any path).
pub(super) fn is_cancellation_token(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "CancellationToken"))
}

pub(super) fn span_of_args(args: &[&FnArg]) -> proc_macro2::Span {
    args.first()
        .map_or_else(proc_macro2::Span::call_site, |a| a.span())
}
