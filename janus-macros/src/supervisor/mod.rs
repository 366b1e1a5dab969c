//! `janus::supervisor! { … }`: a supervision tree, checked at compile time.
//!
//! Three phases, as in thiserror-impl: [`parse`] reads the input into the
//! typed [`Tree`], [`validate`] checks it, and [`expand`] writes the
//! `SupervisorSpec` expression and cannot fail. Every error is collected
//! with its span and reported together; an invalid tree still expands to a
//! `SupervisorSpec` (an empty one), so that one mistake gives one error.
//! Children are left to rustc: one that is not a `JanusService` fails to
//! type-check at its own expression.

mod expand;
mod parse;
mod validate;

use proc_macro2::{Span, TokenStream};

use crate::common::{Bounds, CountSetting, DurationSetting, Policy};
use crate::errors::Errors;
use crate::keys::TreeKey;
use crate::syntax::TreeInput;

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let mut errors = Errors::new();
    let tree = errors
        .ok(syn::parse2::<TreeInput>(input))
        .map(|input| parse::tree(input, &mut errors));
    if let Some(tree) = &tree {
        validate::tree(tree, &mut errors);
    }
    expand::tree(tree.as_ref(), errors.check())
}

/// A supervision tree as written.
#[derive(Default)]
struct Tree {
    name: Option<syn::LitStr>,
    strategy: Option<Strategy>,
    intensity: Option<Intensity>,
    start: Option<Start>,
    shutdown: Option<Shutdown>,
    backoff: Option<Bounds>,
    children: Option<Children>,
    /// `dynamic: |arg: A| make(arg)`: the template of a dynamic
    /// supervisor's children (instead of `children`).
    dynamic: Option<syn::Expr>,
    max_children: Option<CountSetting>,
    auto_shutdown: Option<AutoShutdown>,
    readiness_grace: Option<DurationSetting>,
    /// The keys written, valid or not, each with its token: a key written
    /// wrongly is reported as wrong, not also as missing; a key that does
    /// not go with another is reported at itself.
    written: Vec<(TreeKey, syn::Ident)>,
}

#[derive(Clone, Copy)]
enum AutoShutdown {
    Never,
    AnySignificant,
    AllSignificant,
}

#[derive(Clone, Copy)]
enum Strategy {
    OneForOne,
    OneForAll,
    RestForOne,
}

/// How many restarts a supervisor tolerates.
enum Intensity {
    /// At most `restarts` `within` a window; 0 escalates the first failure.
    Limit {
        restarts: CountSetting,
        within: DurationSetting,
    },
    /// No limit.
    Off,
}

/// `start: ordered`, `start: { order: concurrent, timeout: "10s" }`.
#[derive(Default)]
struct Start {
    order: Option<StartOrder>,
    timeout: Option<DurationSetting>,
}

#[derive(Clone, Copy)]
enum StartOrder {
    Ordered,
    Concurrent,
}

#[derive(Default)]
struct Shutdown {
    timeout: Option<DurationSetting>,
    order: Option<Order>,
}

#[derive(Clone, Copy)]
enum Order {
    Reverse,
    Concurrent,
}

struct Children {
    /// The brackets, for "needs at least one child".
    span: Span,
    list: Vec<Child>,
}

/// One child: its expression, and the settings written after `=>`.
struct Child {
    expr: syn::Expr,
    settings: ChildSettings,
}

#[derive(Default)]
struct ChildSettings {
    restart: Option<Policy>,
    start_timeout: Option<DurationSetting>,
    shutdown_timeout: Option<DurationSetting>,
    critical: Option<bool>,
    expendable: Option<bool>,
    backoff: Option<Bounds>,
    /// With the key, to report a significant child under a supervisor
    /// without `auto_shutdown` there.
    significant: Option<(bool, syn::Ident)>,
    gates_readiness: Option<bool>,
}
