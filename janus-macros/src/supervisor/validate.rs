//! Checks of a parsed [`Tree`]: what it must have, and settings that only
//! make sense together.

use proc_macro2::Span;

use super::Tree;
use crate::common;
use crate::errors::Errors;
use crate::keys::TreeKey;

pub(super) fn tree(tree: &Tree, errors: &mut Errors) {
    let missing = |key| !tree.written.contains(&key);
    if missing(TreeKey::Name) {
        errors.at_span(
            Span::call_site(),
            "missing `name`: `name: \"trading-desk\"`",
        );
    }
    match &tree.children {
        None if missing(TreeKey::Children) => errors.at_span(
            Span::call_site(),
            "missing `children`: `children: [my_service()]`",
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
