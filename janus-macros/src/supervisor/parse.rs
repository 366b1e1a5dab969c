//! Reads `supervisor!`'s input into a [`Tree`].

use super::{
    AutoShutdown, Child, ChildSettings, Children, Intensity, Order, Shutdown, Start, StartOrder,
    Strategy, Tree,
};
use crate::common::parse::{
    backoff, count, duration, flag, name, nonzero_duration, policy, positive, set_once, timeout,
    word,
};
use crate::errors::Errors;
use crate::keys::{
    CHILD_KEYS, ChildKey, INTENSITY_KEYS, IntensityKey, SHUTDOWN_KEYS, START_KEYS, ShutdownKey,
    StartKey, TREE_KEYS, TreeKey,
};
use crate::syntax::{Map, Syntax, TreeInput, Value};

const SYNTAX: Syntax = Syntax::Tree;

pub(super) fn tree(input: TreeInput, errors: &mut Errors) -> Tree {
    let mut tree = Tree::default();
    for entry in &input.0 {
        let Some(key) = TREE_KEYS.lookup(&entry.key, errors) else {
            continue;
        };
        tree.written.push((key, entry.key.clone()));
        let (value, k) = (&entry.value, &entry.key);
        match key {
            TreeKey::Name => {
                if let Some(n) = name(value, SYNTAX, "supervisor", errors) {
                    set_once(errors, &mut tree.name, k, n);
                }
            }
            TreeKey::Strategy => {
                let strategy = word(
                    value,
                    SYNTAX,
                    "strategy",
                    &[
                        ("one_for_one", Strategy::OneForOne),
                        ("one_for_all", Strategy::OneForAll),
                        ("rest_for_one", Strategy::RestForOne),
                    ],
                    errors,
                );
                if let Some(s) = strategy {
                    set_once(errors, &mut tree.strategy, k, s);
                }
            }
            TreeKey::Intensity => {
                if let Some(i) = intensity(value, errors) {
                    set_once(errors, &mut tree.intensity, k, i);
                }
            }
            TreeKey::Start => {
                if let Some(s) = start(value, errors) {
                    set_once(errors, &mut tree.start, k, s);
                }
            }
            TreeKey::Shutdown => {
                if let Some(s) = shutdown(value, errors) {
                    set_once(errors, &mut tree.shutdown, k, s);
                }
            }
            TreeKey::Backoff => {
                if let Some(b) = backoff(value, SYNTAX, errors) {
                    set_once(errors, &mut tree.backoff, k, b);
                }
            }
            TreeKey::Children => {
                if let Some(c) = children(value, errors) {
                    set_once(errors, &mut tree.children, k, c);
                }
            }
            TreeKey::Dynamic => {
                if let Some(t) = template(value, errors) {
                    set_once(errors, &mut tree.dynamic, k, t);
                }
            }
            TreeKey::MaxChildren => {
                let zero = "`max_children` must be at least 1; leave it out for no limit";
                if let Some(n) = positive(value, SYNTAX, "max_children", zero, errors) {
                    set_once(errors, &mut tree.max_children, k, n);
                }
            }
            TreeKey::AutoShutdown => {
                let auto = word(
                    value,
                    SYNTAX,
                    "auto_shutdown",
                    &[
                        ("never", AutoShutdown::Never),
                        ("any_significant", AutoShutdown::AnySignificant),
                        ("all_significant", AutoShutdown::AllSignificant),
                    ],
                    errors,
                );
                if let Some(a) = auto {
                    set_once(errors, &mut tree.auto_shutdown, k, a);
                }
            }
            TreeKey::ReadinessGrace => {
                if let Some(d) = duration(value, SYNTAX, "readiness_grace", errors) {
                    set_once(errors, &mut tree.readiness_grace, k, d);
                }
            }
        }
    }
    tree
}

/// The map `value` must be, or `None` with an error showing `example`.
fn map<'a>(value: &'a Value, example: &str, errors: &mut Errors) -> Option<&'a Map> {
    match value {
        Value::Map(map) => Some(map),
        other => {
            errors.at_span(other.span(), format_args!("expected `{example}`"));
            None
        }
    }
}

fn intensity(value: &Value, errors: &mut Errors) -> Option<Intensity> {
    const EXAMPLE: &str = "intensity: { restarts: 5, within: \"60s\" }";
    let map = match value {
        Value::Map(map) => map,
        Value::Ident(off) if off == "off" => return Some(Intensity::Off),
        other => {
            errors.at_span(
                other.span(),
                format_args!("expected `{EXAMPLE}`, or `intensity: off` for no limit"),
            );
            return None;
        }
    };
    let before = errors.count();
    let (mut restarts, mut within) = (None, None);
    for entry in &map.entries {
        match INTENSITY_KEYS.lookup(&entry.key, errors) {
            Some(IntensityKey::Restarts) => {
                if let Some(n) = count(&entry.value, SYNTAX, "restarts", errors) {
                    set_once(errors, &mut restarts, &entry.key, n);
                }
            }
            Some(IntensityKey::Within) => {
                if let Some(d) = nonzero_duration(&entry.value, SYNTAX, "within", errors) {
                    set_once(errors, &mut within, &entry.key, d);
                }
            }
            None => {}
        }
    }
    match (restarts, within) {
        (Some(restarts), Some(within)) => Some(Intensity::Limit { restarts, within }),
        // What is missing follows from an error already reported.
        _ if errors.count() > before => None,
        _ => {
            errors.at_span(
                map.span,
                format_args!("`intensity` needs `restarts` and `within`: `{EXAMPLE}`"),
            );
            None
        }
    }
}

/// The start order, as a word.
fn start_order(value: &Value, errors: &mut Errors) -> Option<StartOrder> {
    word(
        value,
        SYNTAX,
        "start order",
        &[
            ("ordered", StartOrder::Ordered),
            ("concurrent", StartOrder::Concurrent),
        ],
        errors,
    )
}

/// `start: concurrent`, or `start: { order: ordered, timeout: "10s" }`.
fn start(value: &Value, errors: &mut Errors) -> Option<Start> {
    let Value::Map(map) = value else {
        return start_order(value, errors).map(|order| Start {
            order: Some(order),
            timeout: None,
        });
    };
    let mut start = Start::default();
    for entry in &map.entries {
        match START_KEYS.lookup(&entry.key, errors) {
            Some(StartKey::Order) => {
                if let Some(o) = start_order(&entry.value, errors) {
                    set_once(errors, &mut start.order, &entry.key, o);
                }
            }
            Some(StartKey::Timeout) => {
                if let Some(d) = timeout(&entry.value, SYNTAX, "timeout", false, errors) {
                    set_once(errors, &mut start.timeout, &entry.key, d);
                }
            }
            None => {}
        }
    }
    Some(start)
}

fn shutdown(value: &Value, errors: &mut Errors) -> Option<Shutdown> {
    let map = map(
        value,
        "shutdown: { timeout: \"30s\", order: reverse }",
        errors,
    )?;
    let mut shutdown = Shutdown::default();
    for entry in &map.entries {
        match SHUTDOWN_KEYS.lookup(&entry.key, errors) {
            Some(ShutdownKey::Timeout) => {
                if let Some(d) = timeout(&entry.value, SYNTAX, "timeout", true, errors) {
                    set_once(errors, &mut shutdown.timeout, &entry.key, d);
                }
            }
            Some(ShutdownKey::Order) => {
                let order = word(
                    &entry.value,
                    SYNTAX,
                    "shutdown order",
                    &[
                        ("reverse", Order::Reverse),
                        ("concurrent", Order::Concurrent),
                    ],
                    errors,
                );
                if let Some(o) = order {
                    set_once(errors, &mut shutdown.order, &entry.key, o);
                }
            }
            None => {}
        }
    }
    Some(shutdown)
}

/// A dynamic supervisor's template: a closure or a function, `|order:
/// Order| Worker::new(order)`.
fn template(value: &Value, errors: &mut Errors) -> Option<syn::Expr> {
    match value {
        Value::Expr(expr) => Some((**expr).clone()),
        Value::Ident(ident) => Some(syn::parse_quote!(#ident)),
        other => {
            errors.at_span(
                other.span(),
                "expected the template of the children: `dynamic: |order: Order| Worker::new(order)`",
            );
            None
        }
    }
}

fn children(value: &Value, errors: &mut Errors) -> Option<Children> {
    let Value::List(list) = value else {
        errors.at_span(value.span(), "expected a list: `children: [a(), b()]`");
        return None;
    };
    let list = list
        .items
        .iter()
        .map(|item| Child {
            expr: item.expr.clone(),
            settings: item
                .settings
                .as_ref()
                .map(|map| settings(map, errors))
                .unwrap_or_default(),
        })
        .collect();
    Some(Children {
        span: value.span(),
        list,
    })
}

fn settings(map: &Map, errors: &mut Errors) -> ChildSettings {
    let mut settings = ChildSettings::default();
    for entry in &map.entries {
        let Some(key) = CHILD_KEYS.lookup(&entry.key, errors) else {
            continue;
        };
        let (value, k) = (&entry.value, &entry.key);
        match key {
            ChildKey::Restart => {
                if let Some(p) = policy(value, SYNTAX, errors) {
                    set_once(errors, &mut settings.restart, k, p);
                }
            }
            ChildKey::StartTimeout => {
                if let Some(d) = timeout(value, SYNTAX, "start_timeout", false, errors) {
                    set_once(errors, &mut settings.start_timeout, k, d);
                }
            }
            ChildKey::ShutdownTimeout => {
                if let Some(d) = timeout(value, SYNTAX, "shutdown_timeout", true, errors) {
                    set_once(errors, &mut settings.shutdown_timeout, k, d);
                }
            }
            ChildKey::Critical => {
                if let Some(c) = flag(value, SYNTAX, "critical", errors) {
                    set_once(errors, &mut settings.critical, k, c);
                }
            }
            ChildKey::Expendable => {
                if let Some(e) = flag(value, SYNTAX, "expendable", errors) {
                    set_once(errors, &mut settings.expendable, k, e);
                }
            }
            ChildKey::Backoff => {
                if let Some(b) = backoff(value, SYNTAX, errors) {
                    set_once(errors, &mut settings.backoff, k, b);
                }
            }
            ChildKey::Significant => {
                if let Some(s) = flag(value, SYNTAX, "significant", errors) {
                    set_once(errors, &mut settings.significant, k, (s, k.clone()));
                }
            }
            ChildKey::GatesReadiness => {
                if let Some(g) = flag(value, SYNTAX, "gates_readiness", errors) {
                    set_once(errors, &mut settings.gates_readiness, k, g);
                }
            }
        }
    }
    settings
}
