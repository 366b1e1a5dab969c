//! `janus::supervisor! { … }`: a supervision tree, checked at compile time.
//!
//! ```text
//! // Input:
//! janus::supervisor! {
//!     name: "desk",
//!     strategy: rest_for_one,
//!     intensity: { restarts: 5, within: "60s" },
//!     children: [feed(), risk() => { critical: true }],
//! }
//!
//! // Output:
//! ::janus::__private::SupervisorSpec::new("desk")
//!     .with_strategy(::janus::__private::Strategy::RestForOne)
//!     .with_intensity(5u32, ::core::time::Duration::new(60, 0))
//!     .child(feed())
//!     .child_with(risk(), ::janus::__private::ChildOptions::new().critical(true))
//! ```
//!
//! The input is parsed into a typed [`Tree`], every problem collected with
//! its span, then expanded by code that cannot fail. Children are left to
//! rustc: one that is not a `JanusService` fails to type-check at its own
//! expression.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned as _;
use syn::{Ident, LitBool, LitInt, LitStr, Token, braced, bracketed};

use crate::duration::{DurationLit, check_backoff};
use crate::errors::{Errors, set_once};

const KEYS: &str = "name, strategy, intensity, shutdown, backoff, children";
const CHILD_KEYS: &str = "restart, shutdown_timeout, critical, expendable, backoff";

/// A value in the macro's little language: `"text"`, `ident`, `true`, `5`,
/// or `{ key: value, … }`.
enum Value {
    Str(LitStr),
    Int(LitInt),
    Bool(LitBool),
    Ident(Ident),
    Map(Map),
}

struct Map {
    span: Span,
    entries: Vec<(Ident, Value)>,
}

impl Parse for Value {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(LitStr) {
            input.parse().map(Value::Str)
        } else if lookahead.peek(LitInt) {
            input.parse().map(Value::Int)
        } else if lookahead.peek(LitBool) {
            input.parse().map(Value::Bool)
        } else if lookahead.peek(Ident) {
            input.parse().map(Value::Ident)
        } else if lookahead.peek(syn::token::Brace) {
            let content;
            let brace = braced!(content in input);
            Ok(Value::Map(Map {
                span: brace.span.join(),
                entries: parse_entries(&content, |c| c.parse())?,
            }))
        } else {
            Err(lookahead.error())
        }
    }
}

fn parse_entries<T>(
    input: ParseStream<'_>,
    mut value: impl FnMut(ParseStream<'_>) -> syn::Result<T>,
) -> syn::Result<Vec<(Ident, T)>> {
    let mut entries = Vec::new();
    while !input.is_empty() {
        let key: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        entries.push((key, value(input)?));
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(entries)
}

/// One child: an expression, and optional per-child settings.
struct Child {
    expr: syn::Expr,
    options: Option<Map>,
}

impl Parse for Child {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let expr = input.parse()?;
        let options = if input.peek(Token![=>]) {
            input.parse::<Token![=>]>()?;
            match input.parse::<Value>()? {
                Value::Map(map) => Some(map),
                other => {
                    return Err(syn::Error::new(
                        value_span(&other),
                        "expected `{ restart: …, shutdown_timeout: \"…\", critical: true, backoff: { … } }`",
                    ));
                }
            }
        } else {
            None
        };
        Ok(Self { expr, options })
    }
}

/// A top-level entry: `children: [ … ]` or any other `key: value`.
enum Entry {
    Children(Span, Vec<Child>),
    Value(Value),
}

struct Input {
    entries: Vec<(Ident, Entry)>,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let entries = parse_entries(input, |input| {
            if input.peek(syn::token::Bracket) {
                let content;
                let bracket = bracketed!(content in input);
                let children = content.parse_terminated(Child::parse, Token![,])?;
                Ok(Entry::Children(
                    bracket.span.join(),
                    children.into_iter().collect(),
                ))
            } else {
                input.parse().map(Entry::Value)
            }
        })?;
        Ok(Self { entries })
    }
}

fn value_span(value: &Value) -> Span {
    match value {
        Value::Str(v) => v.span(),
        Value::Int(v) => v.span(),
        Value::Bool(v) => v.span(),
        Value::Ident(v) => v.span(),
        Value::Map(m) => m.span,
    }
}

/// The typed tree, with everything checked.
#[derive(Default)]
struct Tree {
    name: Option<LitStr>,
    strategy: Option<TokenStream>,
    intensity: Option<(u32, DurationLit)>,
    shutdown_timeout: Option<DurationLit>,
    order: Option<TokenStream>,
    backoff: Option<(Option<DurationLit>, Option<DurationLit>)>,
    children: Option<Vec<(syn::Expr, ChildSettings)>>,
}

#[derive(Default)]
struct ChildSettings {
    restart: Option<TokenStream>,
    shutdown_timeout: Option<DurationLit>,
    critical: Option<bool>,
    expendable: Option<bool>,
    backoff: Option<(Option<DurationLit>, Option<DurationLit>)>,
}

fn expect_str(value: &Value, errors: &mut Errors, example: &str) -> Option<LitStr> {
    match value {
        Value::Str(lit) => Some(lit.clone()),
        other => {
            errors.at_span(
                value_span(other),
                format_args!("expected a string: `{example}`"),
            );
            None
        }
    }
}

fn expect_duration(value: &Value, errors: &mut Errors, example: &str) -> Option<DurationLit> {
    expect_str(value, errors, example).and_then(|lit| errors.ok(DurationLit::parse(&lit)))
}

fn expect_map<'a>(value: &'a Value, errors: &mut Errors, example: &str) -> Option<&'a Map> {
    match value {
        Value::Map(map) => Some(map),
        other => {
            errors.at_span(value_span(other), format_args!("expected `{example}`"));
            None
        }
    }
}

/// Maps an identifier to one of `choices` (`(ident, tokens)`), or reports.
fn choose(
    value: &Value,
    what: &str,
    choices: &[(&str, TokenStream)],
    errors: &mut Errors,
) -> Option<TokenStream> {
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    let expected = names.join(" | ");
    let Value::Ident(ident) = value else {
        errors.at_span(
            value_span(value),
            format_args!("expected a {what}: {expected}"),
        );
        return None;
    };
    let found = choices
        .iter()
        .find(|(n, _)| ident == n)
        .map(|(_, t)| t.clone());
    if found.is_none() {
        errors.at(
            ident,
            format_args!("unknown {what} `{ident}`; expected one of: {expected}"),
        );
    }
    found
}

fn backoff(map: &Map, errors: &mut Errors) -> (Option<DurationLit>, Option<DurationLit>) {
    let (mut base, mut max) = (None, None);
    for (key, value) in &map.entries {
        let slot = match key.to_string().as_str() {
            "base" => &mut base,
            "max" => &mut max,
            _ => {
                errors.at(
                    key,
                    format_args!("unknown key `{key}` in `backoff`; expected one of: base, max"),
                );
                continue;
            }
        };
        if let Some(d) = expect_duration(value, errors, "base: \"100ms\"") {
            set_once(errors, slot, key, d);
        }
    }
    if map.entries.is_empty() {
        errors.at_span(
            map.span,
            "`backoff` needs `base`, `max` or both: `backoff: { base: \"100ms\", max: \"30s\" }`",
        );
    }
    check_backoff(base, max, errors);
    (base, max)
}

fn strategy(value: &Value, errors: &mut Errors) -> Option<TokenStream> {
    choose(
        value,
        "strategy",
        &[
            (
                "one_for_one",
                quote!(::janus::__private::Strategy::OneForOne),
            ),
            (
                "one_for_all",
                quote!(::janus::__private::Strategy::OneForAll),
            ),
            (
                "rest_for_one",
                quote!(::janus::__private::Strategy::RestForOne),
            ),
        ],
        errors,
    )
}

fn intensity(map: &Map, errors: &mut Errors) -> Option<(u32, DurationLit)> {
    let (mut restarts, mut within) = (None, None);
    for (key, value) in &map.entries {
        match key.to_string().as_str() {
            "restarts" => match value {
                Value::Int(int) => match int.base10_parse::<u32>() {
                    Ok(0) => errors.at(
                        int,
                        "`restarts` must be at least 1: a supervisor that tolerates no restart would give up at the first failure",
                    ),
                    Ok(n) => set_once(errors, &mut restarts, key, n),
                    Err(error) => errors.push(syn::Error::new(int.span(), error)),
                },
                other => errors.at_span(value_span(other), "expected a positive integer: `restarts: 5`"),
            },
            "within" => {
                if let Some(d) = expect_duration(value, errors, "within: \"60s\"") {
                    if d.value.is_zero() {
                        errors.at_span(d.span, "`within` must be longer than zero");
                    } else {
                        set_once(errors, &mut within, key, d);
                    }
                }
            }
            _ => errors.at(key, format_args!("unknown key `{key}` in `intensity`; expected one of: restarts, within")),
        }
    }
    match (restarts, within) {
        (Some(r), Some(w)) => Some((r, w)),
        (None, _) if !map.entries.iter().any(|(k, _)| k == "restarts") => {
            errors.at_span(map.span, "`intensity` needs `restarts` and `within`: `intensity: { restarts: 5, within: \"60s\" }`");
            None
        }
        (_, None) if !map.entries.iter().any(|(k, _)| k == "within") => {
            errors.at_span(map.span, "`intensity` needs `restarts` and `within`: `intensity: { restarts: 5, within: \"60s\" }`");
            None
        }
        _ => None,
    }
}

fn child_settings(map: &Map, errors: &mut Errors) -> ChildSettings {
    let mut settings = ChildSettings::default();
    for (key, value) in &map.entries {
        match key.to_string().as_str() {
            "restart" => {
                let policy = choose(
                    value,
                    "restart policy",
                    &[
                        ("always", quote!(::janus::__private::RestartPolicy::Always)),
                        (
                            "on_failure",
                            quote!(::janus::__private::RestartPolicy::OnFailure),
                        ),
                        ("never", quote!(::janus::__private::RestartPolicy::Never)),
                    ],
                    errors,
                );
                if let Some(policy) = policy {
                    set_once(errors, &mut settings.restart, key, policy);
                }
            }
            "shutdown_timeout" => {
                if let Some(d) = expect_duration(value, errors, "shutdown_timeout: \"5s\"") {
                    set_once(errors, &mut settings.shutdown_timeout, key, d);
                }
            }
            "critical" => match value {
                Value::Bool(b) => set_once(errors, &mut settings.critical, key, b.value),
                other => errors.at_span(
                    value_span(other),
                    "expected `critical: true` or `critical: false`",
                ),
            },
            "expendable" => match value {
                Value::Bool(b) => set_once(errors, &mut settings.expendable, key, b.value),
                other => errors.at_span(
                    value_span(other),
                    "expected `expendable: true` or `expendable: false`",
                ),
            },
            "backoff" => {
                if let Some(map) =
                    expect_map(value, errors, "backoff: { base: \"100ms\", max: \"30s\" }")
                {
                    let bounds = backoff(map, errors);
                    set_once(errors, &mut settings.backoff, key, bounds);
                }
            }
            _ => errors.at(
                key,
                format_args!("unknown child key `{key}`; expected one of: {CHILD_KEYS}"),
            ),
        }
    }
    settings
}

impl Tree {
    fn check(input: Input, errors: &mut Errors) -> Self {
        let mut tree = Self::default();
        for (key, entry) in input.entries {
            let value = match entry {
                Entry::Children(span, children) => {
                    if key != "children" {
                        errors.at(
                            &key,
                            format_args!("only `children` takes a list; `{key}` does not"),
                        );
                        continue;
                    }
                    if children.is_empty() {
                        errors.at_span(
                            span,
                            "a supervisor needs at least one child: `children: [my_service()]`",
                        );
                    }
                    let children = children
                        .into_iter()
                        .map(|child| {
                            let settings = child
                                .options
                                .as_ref()
                                .map(|map| child_settings(map, errors))
                                .unwrap_or_default();
                            (child.expr, settings)
                        })
                        .collect();
                    set_once(errors, &mut tree.children, &key, children);
                    continue;
                }
                Entry::Value(value) => value,
            };
            match key.to_string().as_str() {
                "name" => {
                    if let Some(name) = expect_str(&value, errors, "name: \"trading-desk\"") {
                        if let Some(problem) =
                            crate::names::name_problem(&name.value(), "supervisor")
                        {
                            errors.at(&name, problem);
                        } else {
                            set_once(errors, &mut tree.name, &key, name);
                        }
                    }
                }
                "strategy" => {
                    if let Some(s) = strategy(&value, errors) {
                        set_once(errors, &mut tree.strategy, &key, s);
                    }
                }
                "intensity" => {
                    if let Some(map) = expect_map(
                        &value,
                        errors,
                        "intensity: { restarts: 5, within: \"60s\" }",
                    ) && let Some(i) = intensity(map, errors)
                    {
                        set_once(errors, &mut tree.intensity, &key, i);
                    }
                }
                "shutdown" => tree.shutdown(&key, &value, errors),
                "backoff" => {
                    if let Some(map) =
                        expect_map(&value, errors, "backoff: { base: \"100ms\", max: \"30s\" }")
                    {
                        let bounds = backoff(map, errors);
                        set_once(errors, &mut tree.backoff, &key, bounds);
                    }
                }
                "children" => errors.at_span(
                    value_span(&value),
                    "expected a list: `children: [a(), b()]`",
                ),
                _ => errors.at(
                    &key,
                    format_args!("unknown key `{key}`; expected one of: {KEYS}"),
                ),
            }
        }
        tree
    }

    fn shutdown(&mut self, key: &Ident, value: &Value, errors: &mut Errors) {
        let Some(map) = expect_map(
            value,
            errors,
            "shutdown: { timeout: \"30s\", order: reverse }",
        ) else {
            return;
        };
        if self.shutdown_timeout.is_some() || self.order.is_some() {
            errors.at(key, "duplicate key `shutdown`");
            return;
        }
        for (inner, value) in &map.entries {
            match inner.to_string().as_str() {
                "timeout" => {
                    if let Some(d) = expect_duration(value, errors, "timeout: \"30s\"") {
                        set_once(errors, &mut self.shutdown_timeout, inner, d);
                    }
                }
                "order" => {
                    let order = choose(
                        value,
                        "shutdown order",
                        &[
                            (
                                "reverse",
                                quote!(::janus::__private::ShutdownOrder::Reverse),
                            ),
                            (
                                "concurrent",
                                quote!(::janus::__private::ShutdownOrder::Concurrent),
                            ),
                        ],
                        errors,
                    );
                    if let Some(order) = order {
                        set_once(errors, &mut self.order, inner, order);
                    }
                }
                _ => errors.at(
                    inner,
                    format_args!(
                        "unknown key `{inner}` in `shutdown`; expected one of: timeout, order"
                    ),
                ),
            }
        }
    }
}

fn backoff_tokens((base, max): (Option<DurationLit>, Option<DurationLit>)) -> TokenStream {
    let fallback = |value| DurationLit {
        value,
        span: Span::call_site(),
    };
    let base = base.unwrap_or(fallback(crate::duration::DEFAULT_BASE));
    let max = max.unwrap_or(fallback(crate::duration::DEFAULT_MAX));
    quote!(::janus::__private::BackoffConfig::new(#base, #max))
}

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let input: Input = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let mut errors = Errors::default();
    let tree = Tree::check(input, &mut errors);
    if tree.name.is_none() && errors.is_empty() {
        errors.at_span(
            Span::call_site(),
            "missing `name`: `name: \"trading-desk\"`",
        );
    }
    if tree.children.is_none() && errors.is_empty() {
        errors.at_span(
            Span::call_site(),
            "missing `children`: `children: [my_service()]`",
        );
    }
    if !errors.is_empty() {
        // The tree has the type the caller expects, so one mistake is one error.
        let errors = errors.to_compile_errors();
        return quote! {{
            #errors
            ::janus::__private::SupervisorSpec::new("")
        }};
    }
    let name = tree.name.map(|n| quote!(#n)).unwrap_or_default();
    let mut calls = Vec::new();
    if let Some(strategy) = tree.strategy {
        calls.push(quote!(.with_strategy(#strategy)));
    }
    if let Some((restarts, within)) = tree.intensity {
        calls.push(quote!(.with_intensity(#restarts, #within)));
    }
    if let Some(timeout) = tree.shutdown_timeout {
        calls.push(quote!(.with_shutdown_timeout(#timeout)));
    }
    if let Some(order) = tree.order {
        calls.push(quote!(.with_shutdown_order(#order)));
    }
    if let Some(bounds) = tree.backoff {
        let backoff = backoff_tokens(bounds);
        calls.push(quote!(.with_backoff(#backoff)));
    }
    for (expr, settings) in tree.children.unwrap_or_default() {
        let mut options = Vec::new();
        if let Some(restart) = settings.restart {
            options.push(quote!(.restart(#restart)));
        }
        if let Some(timeout) = settings.shutdown_timeout {
            options.push(quote!(.shutdown_timeout(#timeout)));
        }
        if let Some(critical) = settings.critical {
            options.push(quote!(.critical(#critical)));
        }
        if let Some(expendable) = settings.expendable {
            options.push(quote!(.expendable(#expendable)));
        }
        if let Some(bounds) = settings.backoff {
            let backoff = backoff_tokens(bounds);
            options.push(quote!(.backoff(#backoff)));
        }
        // Spanned at the child, so that a child that is not a service is
        // reported there.
        calls.push(quote_spanned! {expr.span()=>
            .child_with(#expr, ::janus::__private::ChildOptions::new() #(#options)*)
        });
    }
    quote! {
        ::janus::__private::SupervisorSpec::new(#name) #(#calls)*
    }
}
