//! The arguments of `#[janus::service(…)]` on a struct or a function:
//! parsed into [`ServiceArgs`], one setter per key that rejects duplicates,
//! then checked against each other.

use proc_macro2::TokenStream;
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, Meta, Token};

use crate::duration::{DurationLit, check_backoff};
use crate::errors::{Errors, set_once};

/// What the attribute is on; decides which keys are allowed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Struct,
    Fn,
}

impl Target {
    fn keys(self) -> &'static str {
        match self {
            Self::Struct => {
                "name, restart, backoff, circuit_breaker, shutdown_timeout, heartbeat_timeout, critical"
            }
            Self::Fn => {
                "name, restart, backoff, circuit_breaker, shutdown_timeout, heartbeat_timeout, critical, every"
            }
        }
    }
}

pub(crate) enum NameArg {
    Literal(syn::LitStr),
    Field(syn::Ident),
}

#[derive(Clone, Copy)]
pub(crate) enum Policy {
    Always,
    OnFailure,
    Never,
}

pub(crate) enum Breaker {
    Off,
    On {
        max_failures: u32,
        window: DurationLit,
    },
}

/// The typed form of the attribute's arguments.
#[derive(Default)]
pub(crate) struct ServiceArgs {
    pub(crate) name: Option<NameArg>,
    pub(crate) restart: Option<Policy>,
    pub(crate) base: Option<DurationLit>,
    pub(crate) max: Option<DurationLit>,
    pub(crate) breaker: Option<Breaker>,
    pub(crate) shutdown_timeout: Option<DurationLit>,
    pub(crate) heartbeat_timeout: Option<DurationLit>,
    pub(crate) critical: Option<bool>,
    pub(crate) every: Option<DurationLit>,
}

impl ServiceArgs {
    /// Parses and checks `args`, recording every problem in `errors`.
    pub(crate) fn parse(args: TokenStream, target: Target, errors: &mut Errors) -> Self {
        let mut this = Self::default();
        let metas =
            match syn::parse::Parser::parse2(Punctuated::<Meta, Token![,]>::parse_terminated, args)
            {
                Ok(metas) => metas,
                Err(error) => {
                    errors.push(error);
                    return this;
                }
            };
        for meta in &metas {
            this.key(meta, target, errors);
        }
        this.validate(errors);
        this
    }

    fn key(&mut self, meta: &Meta, target: Target, errors: &mut Errors) {
        let Some(key) = meta.path().get_ident() else {
            errors.at(
                meta.path(),
                format_args!("expected one of: {}", target.keys()),
            );
            return;
        };
        match key.to_string().as_str() {
            "name" => {
                if let Some(name) = name_arg(meta, target, errors) {
                    set_once(errors, &mut self.name, key, name);
                }
            }
            "restart" => {
                if let Some(policy) = string_value(meta, errors, "restart = \"on_failure\"")
                    .and_then(|lit| policy(&lit, errors))
                {
                    set_once(errors, &mut self.restart, key, policy);
                }
            }
            "backoff" => self.backoff(meta, key, errors),
            "circuit_breaker" => {
                if let Some(breaker) = breaker(meta, errors) {
                    set_once(errors, &mut self.breaker, key, breaker);
                }
            }
            "shutdown_timeout" => {
                if let Some(timeout) = duration_value(meta, errors, "shutdown_timeout = \"5s\"") {
                    set_once(errors, &mut self.shutdown_timeout, key, timeout);
                }
            }
            "heartbeat_timeout" => {
                if let Some(timeout) = duration_value(meta, errors, "heartbeat_timeout = \"10s\"") {
                    if timeout.value.is_zero() {
                        errors.at_span(timeout.span, "`heartbeat_timeout` must be longer than zero");
                    } else {
                        set_once(errors, &mut self.heartbeat_timeout, key, timeout);
                    }
                }
            }
            "critical" => {
                if let Some(critical) = flag(meta, errors) {
                    set_once(errors, &mut self.critical, key, critical);
                }
            }
            "every" if target == Target::Fn => {
                if let Some(every) = duration_value(meta, errors, "every = \"1s\"") {
                    set_once(errors, &mut self.every, key, every);
                }
            }
            "every" => errors.at(
                key,
                "`every` belongs on the step method: `#[step(every = \"100ms\")]` in the `#[janus::service]` impl",
            ),
            _ => errors.at(
                key,
                format_args!("unknown key `{key}`; expected one of: {}", target.keys()),
            ),
        }
    }

    fn backoff(&mut self, meta: &Meta, key: &syn::Ident, errors: &mut Errors) {
        let Meta::List(list) = meta else {
            errors.at(meta, "expected `backoff(base = \"100ms\", max = \"30s\")`");
            return;
        };
        if self.base.is_some() || self.max.is_some() {
            errors.at(key, "duplicate key `backoff`");
            return;
        }
        let Some(nested) =
            errors.ok(list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated))
        else {
            return;
        };
        if nested.is_empty() {
            errors.at(meta, "`backoff(…)` needs `base`, `max` or both: `backoff(base = \"100ms\", max = \"30s\")`");
        }
        for inner in &nested {
            let Some(inner_key) = inner.path().get_ident() else {
                errors.at(inner.path(), "expected `base` or `max`");
                continue;
            };
            let slot = match inner_key.to_string().as_str() {
                "base" => &mut self.base,
                "max" => &mut self.max,
                _ => {
                    errors.at(
                        inner_key,
                        format_args!(
                            "unknown key `{inner_key}` in `backoff(…)`; expected one of: base, max"
                        ),
                    );
                    continue;
                }
            };
            if let Some(value) = duration_value(inner, errors, "base = \"100ms\"") {
                set_once(errors, slot, inner_key, value);
            }
        }
    }

    fn validate(&self, errors: &mut Errors) {
        check_backoff(self.base, self.max, errors);
        if let Some(every) = self.every
            && every.value.is_zero()
        {
            errors.at_span(every.span, "`every` must be longer than zero");
        }
    }
}

fn name_arg(meta: &Meta, target: Target, errors: &mut Errors) -> Option<NameArg> {
    let Meta::NameValue(nv) = meta else {
        errors.at(
            meta,
            "expected `name = \"my-service\"` or `name = some_field`",
        );
        return None;
    };
    match &nv.value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => {
            if let Some(problem) = crate::names::name_problem(&lit.value(), "service") {
                errors.at(lit, problem);
                return None;
            }
            Some(NameArg::Literal(lit.clone()))
        }
        Expr::Path(path) if target == Target::Struct && path.path.get_ident().is_some() => {
            path.path.get_ident().cloned().map(NameArg::Field)
        }
        other => {
            let message = match target {
                Target::Struct => {
                    "expected a string literal (`name = \"feed\"`) or a `String` field of the struct (`name = field`)"
                }
                Target::Fn => "expected a string literal: `name = \"feed\"`",
            };
            errors.at(other, message);
            None
        }
    }
}

fn string_value(meta: &Meta, errors: &mut Errors, example: &str) -> Option<syn::LitStr> {
    match meta {
        Meta::NameValue(syn::MetaNameValue {
            value: Expr::Lit(syn::ExprLit {
                lit: Lit::Str(lit), ..
            }),
            ..
        }) => Some(lit.clone()),
        Meta::NameValue(nv) => {
            errors.at(&nv.value, format_args!("expected a string: `{example}`"));
            None
        }
        other => {
            errors.at(other, format_args!("expected `{example}`"));
            None
        }
    }
}

fn duration_value(meta: &Meta, errors: &mut Errors, example: &str) -> Option<DurationLit> {
    match meta {
        Meta::NameValue(nv) => errors.ok(DurationLit::from_expr(&nv.value)),
        other => {
            errors.at(other, format_args!("expected `{example}`"));
            None
        }
    }
}

fn policy(lit: &syn::LitStr, errors: &mut Errors) -> Option<Policy> {
    match lit.value().as_str() {
        "always" => Some(Policy::Always),
        "on_failure" => Some(Policy::OnFailure),
        "never" => Some(Policy::Never),
        other => {
            errors.at(
                lit,
                format_args!("unknown restart policy \"{other}\"; expected \"always\", \"on_failure\" or \"never\""),
            );
            None
        }
    }
}

fn flag(meta: &Meta, errors: &mut Errors) -> Option<bool> {
    match meta {
        Meta::Path(_) => Some(true),
        Meta::NameValue(syn::MetaNameValue {
            value: Expr::Lit(syn::ExprLit {
                lit: Lit::Bool(b), ..
            }),
            ..
        }) => Some(b.value),
        other => {
            errors.at(other, "expected `critical` or `critical = true`");
            None
        }
    }
}

fn breaker(meta: &Meta, errors: &mut Errors) -> Option<Breaker> {
    const EXPECTED: &str = "expected `circuit_breaker(max_failures = 5, window = \"60s\")` or `circuit_breaker = \"off\"`";
    match meta {
        Meta::NameValue(_) => {
            let lit = string_value(meta, errors, "circuit_breaker = \"off\"")?;
            if lit.value() == "off" {
                Some(Breaker::Off)
            } else {
                errors.at(&lit, EXPECTED);
                None
            }
        }
        Meta::List(list) => {
            let nested =
                errors.ok(list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated))?;
            let mut max_failures: Option<u32> = None;
            let mut window: Option<DurationLit> = None;
            let mut ok = true;
            for inner in &nested {
                let key = inner.path().get_ident().map(ToString::to_string);
                match key.as_deref() {
                    Some("max_failures") => match max_failures_value(inner, errors) {
                        Some(n) => set_once(errors, &mut max_failures, inner.path(), n),
                        None => ok = false,
                    },
                    Some("window") => match duration_value(inner, errors, "window = \"60s\"") {
                        Some(w) if w.value.is_zero() => {
                            errors.at_span(
                                w.span,
                                "the circuit breaker window must be longer than zero",
                            );
                            ok = false;
                        }
                        Some(w) => set_once(errors, &mut window, inner.path(), w),
                        None => ok = false,
                    },
                    _ => {
                        errors.at(
                            inner.path(),
                            "unknown key in `circuit_breaker(…)`; expected one of: max_failures, window",
                        );
                        ok = false;
                    }
                }
            }
            match (max_failures, window) {
                (Some(max_failures), Some(window)) => Some(Breaker::On {
                    max_failures,
                    window,
                }),
                _ if !ok => None,
                _ => {
                    errors.at(
                        meta,
                        "`circuit_breaker(…)` needs both `max_failures = N` and `window = \"…\"`",
                    );
                    None
                }
            }
        }
        Meta::Path(_) => {
            errors.at(meta, EXPECTED);
            None
        }
    }
}

fn max_failures_value(meta: &Meta, errors: &mut Errors) -> Option<u32> {
    let Meta::NameValue(syn::MetaNameValue {
        value: Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }),
        ..
    }) = meta
    else {
        errors.at(
            meta,
            "expected `max_failures = N` with N a positive integer",
        );
        return None;
    };
    match int.base10_parse::<u32>() {
        Ok(0) => {
            errors.at(int, "`max_failures` must be at least 1; to never open the circuit, write `circuit_breaker = \"off\"`");
            None
        }
        Ok(n) => Some(n),
        Err(error) => {
            errors.push(syn::Error::new(int.span(), error));
            None
        }
    }
}
