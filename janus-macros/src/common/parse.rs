//! Readers of the settings both macros share, from either syntax. Each
//! records what is wrong, at the offending tokens, and returns what it
//! could read.

use quote::ToTokens;
use syn::{Ident, LitStr};

use super::{Bounds, Breaker, CountSetting, DurationSetting, Policy};
use crate::errors::Errors;
use crate::keys::{BACKOFF_KEYS, BREAKER_KEYS, BackoffKey, BreakerKey};
use crate::syntax::{Syntax, Value};

/// Sets `slot` to `value`, or records a duplicate `key`.
pub(crate) fn set_once<T>(errors: &mut Errors, slot: &mut Option<T>, key: &Ident, value: T) {
    if slot.is_some() {
        errors.at(
            key,
            format_args!("duplicate key `{}`", key.to_token_stream()),
        );
    } else {
        *slot = Some(value);
    }
}

impl DurationSetting {
    /// Parses a string literal such as `"250ms"` or `"1m 30s"`.
    pub(crate) fn parse(lit: &LitStr) -> syn::Result<Self> {
        let text = lit.value();
        humantime::parse_duration(&text)
            .map(|value| Self::Literal {
                value,
                span: lit.span(),
            })
            .map_err(|error| {
                syn::Error::new(
                    lit.span(),
                    format!("invalid duration \"{text}\": {error}; write e.g. \"250ms\", \"5s\" or \"1m 30s\""),
                )
            })
    }
}

/// A duration: `key = "5s"` or `key: "5s"`, checked now; or a constant or
/// an expression of type `Duration` (`key: TIMEOUT`,
/// `key: Duration::from_secs(5)`), checked when the service or tree is
/// built, as the builder checks it.
pub(crate) fn duration(
    value: &Value,
    syntax: Syntax,
    key: &str,
    errors: &mut Errors,
) -> Option<DurationSetting> {
    match value {
        Value::Str(lit) => errors.ok(DurationSetting::parse(lit)),
        Value::Ident(ident) if ident != "infinity" => {
            Some(DurationSetting::Expr(Box::new(syn::parse_quote!(#ident))))
        }
        Value::Expr(expr) => Some(DurationSetting::Expr(expr.clone())),
        other => {
            errors.at_span(
                other.span(),
                format_args!(
                    "expected a duration: `{}`, or a `Duration` constant or expression",
                    syntax.pair(key, "\"5s\"")
                ),
            );
            None
        }
    }
}

/// A duration longer than zero.
pub(crate) fn nonzero_duration(
    value: &Value,
    syntax: Syntax,
    key: &str,
    errors: &mut Errors,
) -> Option<DurationSetting> {
    let duration = duration(value, syntax, key, errors)?;
    if duration.literal().is_some_and(|d| d.is_zero()) {
        errors.at_span(
            duration.span(),
            format_args!("`{key}` must be longer than zero"),
        );
        return None;
    }
    Some(duration)
}

/// A timeout: a duration, or `infinity` (as long as it takes, OTP's
/// `infinity`; `"infinity"` in an attribute), longer than zero unless
/// `zero` is allowed.
pub(crate) fn timeout(
    value: &Value,
    syntax: Syntax,
    key: &str,
    zero: bool,
    errors: &mut Errors,
) -> Option<DurationSetting> {
    let infinity = match value {
        Value::Ident(word) if word == "infinity" => Some(word.span()),
        Value::Str(lit) if lit.value() == "infinity" => Some(lit.span()),
        _ => None,
    };
    if let Some(span) = infinity {
        return Some(DurationSetting::Literal {
            value: std::time::Duration::MAX,
            span,
        });
    }
    if zero {
        duration(value, syntax, key, errors)
    } else {
        nonzero_duration(value, syntax, key, errors)
    }
}

/// One of `choices`, written as a word: `"always"` in an attribute,
/// `always` in a tree.
pub(crate) fn word<T: Copy>(
    value: &Value,
    syntax: Syntax,
    what: &str,
    choices: &[(&str, T)],
    errors: &mut Errors,
) -> Option<T> {
    let expected: Vec<String> = choices.iter().map(|(w, _)| syntax.shown(w)).collect();
    let expected = expected.join(", ");
    let (text, span) = match (syntax, value) {
        (Syntax::Attribute, Value::Str(lit)) => (lit.value(), lit.span()),
        (Syntax::Tree, Value::Ident(ident)) => (ident.to_string(), ident.span()),
        (_, other) => {
            // The other macro's spelling of a word is a common slip.
            let hint = match (syntax, other) {
                (Syntax::Tree, Value::Str(_)) => ", without quotes in `supervisor!`",
                (Syntax::Attribute, Value::Ident(_)) => ", in quotes in `#[janus::service]`",
                _ => "",
            };
            errors.at_span(
                other.span(),
                format_args!("expected a {what}, one of: {expected}{hint}"),
            );
            return None;
        }
    };
    let found = choices.iter().find(|(w, _)| *w == text).map(|(_, t)| *t);
    if found.is_none() {
        let expected = match crate::keys::closest(&text, choices.iter().map(|(w, _)| *w)) {
            Some(w) => format!(
                "did you mean {}? Expected one of: {expected}",
                syntax.shown(w)
            ),
            None => format!("expected one of: {expected}"),
        };
        errors.at_span(
            span,
            format_args!("unknown {what} {}; {expected}", syntax.shown(&text)),
        );
    }
    found
}

/// A restart policy.
pub(crate) fn policy(value: &Value, syntax: Syntax, errors: &mut Errors) -> Option<Policy> {
    word(
        value,
        syntax,
        "restart policy",
        &[
            ("always", Policy::Always),
            ("on_failure", Policy::OnFailure),
            ("never", Policy::Never),
        ],
        errors,
    )
}

/// A yes or no: `critical` or `critical = true` in an attribute,
/// `critical: true` in a tree.
pub(crate) fn flag(value: &Value, syntax: Syntax, key: &str, errors: &mut Errors) -> Option<bool> {
    match (syntax, value) {
        (Syntax::Attribute, Value::Flag(_)) => Some(true),
        (_, Value::Bool(b)) => Some(b.value),
        (_, other) => {
            let expected = match syntax {
                Syntax::Attribute => format!("`{key}` or `{key} = true`"),
                Syntax::Tree => format!("`{key}: true` or `{key}: false`"),
            };
            errors.at_span(other.span(), format_args!("expected {expected}"));
            None
        }
    }
}

/// A whole number, 0 included.
pub(crate) fn count(
    value: &Value,
    syntax: Syntax,
    key: &str,
    errors: &mut Errors,
) -> Option<CountSetting> {
    match value {
        Value::Int(int) => errors
            .ok(int.base10_parse::<u32>())
            .map(|n| CountSetting::Literal {
                value: n,
                span: int.span(),
            }),
        // A constant or an expression, checked when the tree is built.
        Value::Ident(ident) => Some(CountSetting::Expr(Box::new(syn::parse_quote!(#ident)))),
        Value::Expr(expr) => Some(CountSetting::Expr(expr.clone())),
        other => {
            errors.at_span(
                other.span(),
                format_args!(
                    "expected a whole number: `{}`, or a constant or expression",
                    syntax.pair(key, "5")
                ),
            );
            None
        }
    }
}

/// A whole number of at least 1; `zero` says why 0 is wrong.
pub(crate) fn positive(
    value: &Value,
    syntax: Syntax,
    key: &str,
    zero: &str,
    errors: &mut Errors,
) -> Option<CountSetting> {
    match count(value, syntax, key, errors)? {
        CountSetting::Literal { value: 0, span } => {
            errors.at_span(span, zero);
            None
        }
        n => Some(n),
    }
}

/// A service or supervisor name: a string that can be a path segment.
pub(crate) fn name(
    value: &Value,
    syntax: Syntax,
    what: &str,
    errors: &mut Errors,
) -> Option<LitStr> {
    let Value::Str(lit) = value else {
        errors.at_span(
            value.span(),
            format_args!("expected a string: `{}`", syntax.pair("name", "\"feed\"")),
        );
        return None;
    };
    if let Some(problem) = crate::names::name_problem(&lit.value(), what) {
        errors.at(lit, problem);
        return None;
    }
    Some(lit.clone())
}

fn backoff_example(syntax: Syntax) -> String {
    syntax.nested("backoff", &[("base", "\"100ms\""), ("max", "\"30s\"")])
}

/// A backoff's bounds and cooldown: `backoff(base = …, max = …, cooldown = …)`
/// or `backoff: { base: …, max: …, cooldown: … }`, each optional.
pub(crate) fn backoff(value: &Value, syntax: Syntax, errors: &mut Errors) -> Option<Bounds> {
    let Value::Map(map) = value else {
        errors.at_span(
            value.span(),
            format_args!("expected `{}`", backoff_example(syntax)),
        );
        return None;
    };
    if map.entries.is_empty() {
        errors.at_span(
            map.span,
            format_args!(
                "`backoff` needs at least one of `base`, `max`, `cooldown`: `{}`",
                backoff_example(syntax)
            ),
        );
    }
    let mut bounds = Bounds::default();
    for entry in &map.entries {
        let Some(key) = BACKOFF_KEYS.lookup(&entry.key, errors) else {
            continue;
        };
        let (slot, name) = match key {
            BackoffKey::Base => (&mut bounds.base, "base"),
            BackoffKey::Max => (&mut bounds.max, "max"),
            BackoffKey::Cooldown => (&mut bounds.cooldown, "cooldown"),
        };
        if let Some(d) = duration(&entry.value, syntax, name, errors) {
            set_once(errors, slot, &entry.key, d);
        }
    }
    Some(bounds)
}

/// A circuit breaker: `circuit_breaker(max_failures = 5, window = "60s")`,
/// optionally `reset_after = "5m"` (it heals), or off
/// (`circuit_breaker = "off"`), in either syntax.
pub(crate) fn breaker(value: &Value, syntax: Syntax, errors: &mut Errors) -> Option<Breaker> {
    let on = syntax.nested(
        "circuit_breaker",
        &[("max_failures", "5"), ("window", "\"60s\"")],
    );
    let off = syntax.pair("circuit_breaker", &syntax.word("off"));
    let Value::Map(map) = value else {
        return match (syntax, value) {
            (Syntax::Attribute, Value::Str(lit)) if lit.value() == "off" => Some(Breaker::Off),
            (Syntax::Tree, Value::Ident(ident)) if ident == "off" => Some(Breaker::Off),
            _ => {
                errors.at_span(value.span(), format_args!("expected `{on}` or `{off}`"));
                None
            }
        };
    };
    let before = errors.count();
    let (mut max_failures, mut window, mut reset_after) = (None, None, None);
    for entry in &map.entries {
        match BREAKER_KEYS.lookup(&entry.key, errors) {
            Some(BreakerKey::MaxFailures) => {
                let zero = format!(
                    "`max_failures` must be at least 1; to never open the circuit, write `{off}`"
                );
                if let Some(n) = positive(&entry.value, syntax, "max_failures", &zero, errors) {
                    set_once(errors, &mut max_failures, &entry.key, n);
                }
            }
            Some(BreakerKey::Window) => {
                if let Some(w) = nonzero_duration(&entry.value, syntax, "window", errors) {
                    set_once(errors, &mut window, &entry.key, w);
                }
            }
            Some(BreakerKey::ResetAfter) => {
                if let Some(d) = nonzero_duration(&entry.value, syntax, "reset_after", errors) {
                    set_once(errors, &mut reset_after, &entry.key, d);
                }
            }
            None => {}
        }
    }
    match (max_failures, window) {
        (Some(max_failures), Some(window)) => Some(Breaker::On {
            max_failures,
            window,
            reset_after,
        }),
        // What is missing follows from an error already reported.
        _ if errors.count() > before => None,
        _ => {
            errors.at_span(
                map.span,
                format_args!("`circuit_breaker` needs both `max_failures` and `window`: `{on}`"),
            );
            None
        }
    }
}
