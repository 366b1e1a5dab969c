//! Checks of a parsed [`Tree`]: what it must have, and settings that only
//! make sense together.

use proc_macro2::Span;

use super::{AutoShutdown, Tree};
use crate::common;
use crate::common::Policy;
use crate::errors::Errors;
use crate::keys::TreeKey;

pub(super) fn tree(tree: &Tree, errors: &mut Errors) {
    let written = |key| tree.written.iter().find(|(k, _)| *k == key).map(|(_, i)| i);
    let missing = |key| written(key).is_none();
    if missing(TreeKey::Name) {
        errors.at_span(
            Span::call_site(),
            "missing `name`: `name: \"trading-desk\"`",
        );
    }
    if let Some(dynamic) = written(TreeKey::Dynamic) {
        dynamic_tree(tree, dynamic, &written, errors);
    } else if let Some(max) = written(TreeKey::MaxChildren) {
        errors.at(
            max,
            "`max_children` is for a dynamic supervisor, whose children a template makes: `dynamic: |order: Order| Worker::new(order)`",
        );
    }
    let auto_shutdown = !matches!(tree.auto_shutdown, None | Some(AutoShutdown::Never));
    for child in tree.children.iter().flat_map(|c| &c.list) {
        let Some((true, key)) = &child.settings.significant else {
            continue;
        };
        if !auto_shutdown {
            errors.at(
                key,
                "a significant child needs a supervisor that shuts down with it: add `auto_shutdown: any_significant` (or `all_significant`)",
            );
        } else if matches!(child.settings.restart, Some(Policy::Always)) {
            errors.at(
                key,
                "a significant child cannot restart `always`: it would never end; use `on_failure` or `never`",
            );
        }
    }
    match &tree.children {
        None if missing(TreeKey::Children) && missing(TreeKey::Dynamic) => errors.at_span(
            Span::call_site(),
            "missing `children`: `children: [my_service()]` (or, for a dynamic supervisor, `dynamic: |order: Order| Worker::new(order)`)",
        ),
        Some(children) if children.list.is_empty() => errors.at_span(
            children.span,
            "a supervisor needs at least one child: `children: [my_service()]`",
        ),
        _ => {}
    }
    let children = tree.children.iter().flat_map(|c| &c.list);
    let child_backoffs = children.filter_map(|child| child.settings.backoff.as_ref());
    for bounds in tree.backoff.iter().chain(child_backoffs) {
        common::validate::backoff(bounds, errors);
    }
}

/// A dynamic supervisor: a template instead of children, and only the
/// settings that apply to it.
fn dynamic_tree<'a>(
    tree: &Tree,
    dynamic: &syn::Ident,
    written: &impl Fn(TreeKey) -> Option<&'a syn::Ident>,
    errors: &mut Errors,
) {
    if written(TreeKey::Children).is_some() {
        errors.at(
            dynamic,
            "a dynamic supervisor makes its children from its template: write `children` or `dynamic`, not both",
        );
    }
    let not_here = [
        (
            TreeKey::Strategy,
            "a dynamic supervisor restarts each child alone (`one_for_one`): remove `strategy`",
        ),
        (
            TreeKey::Start,
            "a dynamic supervisor has no children to start in order: remove `start`",
        ),
        (
            TreeKey::AutoShutdown,
            "a dynamic supervisor's children cannot be significant: remove `auto_shutdown`",
        ),
        (
            TreeKey::ReadinessGrace,
            "`readiness_grace` is the tree's: set it on the root supervisor",
        ),
    ];
    for (key, message) in not_here {
        if let Some(ident) = written(key) {
            errors.at(ident, message);
        }
    }
    if let (Some(_), Some(shutdown)) = (
        tree.shutdown.as_ref().and_then(|s| s.order),
        written(TreeKey::Shutdown),
    ) {
        errors.at(
            shutdown,
            "a dynamic supervisor stops its children together: remove `order` from `shutdown`",
        );
    }
}
