//! Reads the attribute's arguments and the item into a [`Service`].

use proc_macro2::TokenStream;
use syn::spanned::Spanned as _;
use syn::{ImplItem, ImplItemFn, Meta};

use super::{Args, Marked, Name, Role, Roles, Service, Trigger};
use crate::common::parse::{
    backoff, breaker, flag, name, nonzero_duration, policy, set_once, timeout,
};
use crate::errors::Errors;
use crate::keys::{FN_KEYS, STEP_KEYS, STRUCT_KEYS, ServiceKey, StepKey};
use crate::syntax::{self, Syntax, Value};

const SYNTAX: Syntax = Syntax::Attribute;

pub(super) fn service(args: TokenStream, item: syn::Item, errors: &mut Errors) -> Service {
    let misplaced = |errors: &mut Errors, span: proc_macro2::Span, what: &str| {
        errors.at_span(
            span,
            format_args!(
                "#[janus::service] cannot be used on {what}; put it on a struct (and its impl block) or on an `async fn`"
            ),
        );
    };
    match item {
        syn::Item::Struct(item) => {
            let args = self::args(args, Target::Struct, errors);
            Service::Struct { item, args }
        }
        syn::Item::Impl(mut item) => {
            if !args.is_empty() {
                errors.at(
                    &args,
                    "the impl attribute takes no arguments; configure the service on its struct: `#[janus::service(…)] struct …`",
                );
            }
            let roles = roles(&mut item, errors);
            Service::Impl { item, roles }
        }
        syn::Item::Fn(item) => {
            let args = self::args(args, Target::Fn, errors);
            Service::Fn { item, args }
        }
        other => {
            let (span, what) = match &other {
                syn::Item::Enum(e) => (e.enum_token.span(), "an enum"),
                syn::Item::Union(u) => (u.union_token.span(), "a union"),
                syn::Item::Trait(t) => (t.trait_token.span(), "a trait"),
                other => (other.span(), "this item"),
            };
            misplaced(errors, span, what);
            Service::Other(other)
        }
    }
}

/// What the attribute's arguments configure.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Struct,
    Fn,
}

fn args(tokens: TokenStream, target: Target, errors: &mut Errors) -> Args {
    let keys = match target {
        Target::Struct => &STRUCT_KEYS,
        Target::Fn => &FN_KEYS,
    };
    let mut args = Args::default();
    for entry in syntax::attribute(tokens, errors) {
        let Some(key) = keys.lookup(&entry.key, errors) else {
            continue;
        };
        let (value, k) = (&entry.value, &entry.key);
        match key {
            ServiceKey::Name => {
                let parsed = match value {
                    // `name = field`: only a struct has fields; the
                    // validation checks that this one does.
                    Value::Ident(field) if target == Target::Struct => {
                        Some(Name::Field(field.clone()))
                    }
                    Value::Ident(field) => {
                        errors.at(field, "expected a string literal: `name = \"feed\"`");
                        None
                    }
                    Value::Str(_) => name(value, SYNTAX, "service", errors).map(Name::Literal),
                    other => {
                        errors.at_span(
                            other.span(),
                            match target {
                                Target::Struct => {
                                    "expected a string literal (`name = \"feed\"`) or a `String` field of the struct (`name = field`)"
                                }
                                Target::Fn => "expected a string literal: `name = \"feed\"`",
                            },
                        );
                        None
                    }
                };
                if let Some(parsed) = parsed {
                    set_once(errors, &mut args.name, k, parsed);
                }
            }
            ServiceKey::Restart => {
                if let Some(p) = policy(value, SYNTAX, errors) {
                    set_once(errors, &mut args.restart, k, p);
                }
            }
            ServiceKey::Backoff => {
                if let Some(b) = backoff(value, SYNTAX, errors) {
                    set_once(errors, &mut args.backoff, k, b);
                }
            }
            ServiceKey::CircuitBreaker => {
                if let Some(b) = breaker(value, SYNTAX, errors) {
                    set_once(errors, &mut args.breaker, k, b);
                }
            }
            ServiceKey::ShutdownTimeout => {
                if let Some(d) = timeout(value, SYNTAX, "shutdown_timeout", true, errors) {
                    set_once(errors, &mut args.shutdown_timeout, k, d);
                }
            }
            ServiceKey::HeartbeatTimeout => {
                if let Some(d) = nonzero_duration(value, SYNTAX, "heartbeat_timeout", errors) {
                    set_once(errors, &mut args.heartbeat_timeout, k, d);
                }
            }
            ServiceKey::Critical => {
                if let Some(c) = flag(value, SYNTAX, "critical", errors) {
                    set_once(errors, &mut args.critical, k, c);
                }
            }
            ServiceKey::Every => {
                if let Some(d) = nonzero_duration(value, SYNTAX, "every", errors) {
                    set_once(errors, &mut args.every, k, d);
                }
            }
        }
    }
    args
}

/// Finds the methods that play a role, removing their markers (which are
/// not real attributes).
fn roles(item: &mut syn::ItemImpl, errors: &mut Errors) -> Roles {
    let mut roles = Roles::default();
    for (position, impl_item) in item.items.iter_mut().enumerate() {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let Some((role, marked)) = take_marker(method, position, errors) else {
            continue;
        };
        // The macro imposes `async`, awaited or not.
        method
            .attrs
            .push(syn::parse_quote!(#[allow(clippy::unused_async)]));
        let slot = match role {
            Role::Step => {
                roles.steps.push(marked);
                continue;
            }
            Role::OnStart => &mut roles.on_start,
            Role::OnStop => &mut roles.on_stop,
            Role::Run => &mut roles.run,
        };
        if slot.is_some() {
            errors.at(
                &marked.marker,
                format_args!("only one {} method is allowed per service", role.marker()),
            );
        } else {
            *slot = Some(marked);
        }
    }
    roles
}

fn take_marker(
    method: &mut ImplItemFn,
    position: usize,
    errors: &mut Errors,
) -> Option<(Role, Marked)> {
    let mut found: Option<(Role, Marked)> = None;
    let mut kept = Vec::with_capacity(method.attrs.len());
    for attr in std::mem::take(&mut method.attrs) {
        let role = attr.path().get_ident().and_then(|ident| {
            Role::ALL
                .iter()
                .find(|(name, _)| ident == name)
                .map(|(_, role)| *role)
        });
        let Some(role) = role else {
            kept.push(attr);
            continue;
        };
        if let Some((first, _)) = &found {
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
        let trigger = marker_args(&attr, role, errors);
        found = Some((
            role,
            Marked {
                sig: method.sig.clone(),
                position,
                marker: attr,
                trigger,
            },
        ));
    }
    method.attrs = kept;
    found
}

/// Reads `#[step(every = "…")]` or `#[step(recv = inbox)]`; the other
/// markers take no arguments.
fn marker_args(attr: &syn::Attribute, role: Role, errors: &mut Errors) -> Option<Trigger> {
    match (&attr.meta, role) {
        (Meta::Path(_), _) => None,
        (Meta::List(list), Role::Step) => {
            let mut trigger = None;
            for entry in syntax::attribute(list.tokens.clone(), errors) {
                let read = match STEP_KEYS.lookup(&entry.key, errors) {
                    Some(StepKey::Every) => {
                        nonzero_duration(&entry.value, SYNTAX, "every", errors).map(Trigger::Every)
                    }
                    Some(StepKey::Recv) => match &entry.value {
                        Value::Ident(field) => Some(Trigger::Recv(field.clone())),
                        other => {
                            errors.at_span(
                                other.span(),
                                "expected the field that holds the `janus::Inbox`: `#[step(recv = quotes)]`",
                            );
                            None
                        }
                    },
                    None => None,
                };
                if let Some(read) = read {
                    if trigger.is_some() {
                        errors.at(
                            &entry.key,
                            "a step has one trigger: `every = \"…\"` or `recv = field`",
                        );
                    } else {
                        trigger = Some(read);
                    }
                }
            }
            trigger
        }
        (meta, role) => {
            errors.at(meta, format_args!("{} takes no arguments", role.marker()));
            None
        }
    }
}
