//! The two surface syntaxes, read into one generic form.
//!
//! `#[janus::service(restart = "always", backoff(base = "1s"), critical)]`
//! and `janus::supervisor! { strategy: one_for_all, backoff: { base: "1s" } }`
//! differ only in spelling: both are keys with values, some of them nested.
//! Both are read here into [`Entry`]s; what a key means is read from those
//! by one set of readers (`common::parse`, each macro's `parse`), whichever
//! macro it was written in. [`Syntax`] remembers the spelling, so that every
//! message shows an example the user can paste.

use proc_macro2::{Span, TokenStream};
use syn::parse::discouraged::Speculative as _;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{Expr, Ident, Lit, LitBool, LitInt, LitStr, Meta, Token, braced, bracketed};

use crate::errors::Errors;

/// Which macro's spelling a value was written in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// `#[janus::service(key = "word", key(inner = 1), flag)]`.
    Attribute,
    /// `janus::supervisor! { key: word, key: { inner: 1 } }`.
    Tree,
}

impl Syntax {
    /// `key = value` or `key: value`.
    pub(crate) fn pair(self, key: &str, value: &str) -> String {
        match self {
            Self::Attribute => format!("{key} = {value}"),
            Self::Tree => format!("{key}: {value}"),
        }
    }

    /// A key with nested settings: `key(a = 1, b = 2)` or `key: { a: 1, b: 2 }`.
    pub(crate) fn nested(self, key: &str, entries: &[(&str, &str)]) -> String {
        let inner: Vec<String> = entries.iter().map(|(k, v)| self.pair(k, v)).collect();
        let inner = inner.join(", ");
        match self {
            Self::Attribute => format!("{key}({inner})"),
            Self::Tree => format!("{key}: {{ {inner} }}"),
        }
    }

    /// A word as this syntax writes it: `"always"` or `always`.
    pub(crate) fn word(self, word: &str) -> String {
        match self {
            Self::Attribute => format!("\"{word}\""),
            Self::Tree => word.to_owned(),
        }
    }

    /// A word as a message shows it: `"always"` or `` `always` ``.
    pub(crate) fn shown(self, word: &str) -> String {
        match self {
            Self::Attribute => format!("\"{word}\""),
            Self::Tree => format!("`{word}`"),
        }
    }
}

/// One `key = value` (or `key: value`, or a lone `key`).
pub(crate) struct Entry {
    pub(crate) key: Ident,
    pub(crate) value: Value,
}

/// A value of either syntax.
pub(crate) enum Value {
    Str(LitStr),
    Int(LitInt),
    Bool(LitBool),
    Ident(Ident),
    /// Nested settings: `key(…)` or `key: { … }`.
    Map(Map),
    /// `[a(), b() => { … }]`: the children of a tree.
    List(List),
    /// A key written alone, as in `#[janus::service(critical)]`.
    Flag(Span),
    /// Any other expression: a closure, a path, a call.
    Expr(Box<Expr>),
}

impl Value {
    pub(crate) fn span(&self) -> Span {
        match self {
            Self::Str(v) => v.span(),
            Self::Int(v) => v.span(),
            Self::Bool(v) => v.span(),
            Self::Ident(v) => v.span(),
            Self::Map(m) => m.span,
            Self::List(l) => l.span,
            Self::Flag(span) => *span,
            Self::Expr(expr) => expr.span(),
        }
    }
}

pub(crate) struct Map {
    /// The delimiters' span, for "needs …" messages.
    pub(crate) span: Span,
    pub(crate) entries: Vec<Entry>,
}

pub(crate) struct List {
    pub(crate) span: Span,
    pub(crate) items: Vec<Item>,
}

/// One element of a list: an expression, and its own settings after `=>`.
pub(crate) struct Item {
    pub(crate) expr: Expr,
    pub(crate) settings: Option<Map>,
}

/// Reads an attribute's arguments. What cannot be read is recorded and
/// skipped, so that the rest is still checked.
pub(crate) fn attribute(args: TokenStream, errors: &mut Errors) -> Vec<Entry> {
    let parser = Punctuated::<Meta, Token![,]>::parse_terminated;
    match syn::parse::Parser::parse2(parser, args.clone()) {
        Ok(metas) => metas.iter().filter_map(|m| meta(m, errors)).collect(),
        Err(error) => {
            errors.push(tree_spelling(&args).unwrap_or(error));
            Vec::new()
        }
    }
}

/// An error at the first `key:` of `args`, if the attribute was written in
/// `supervisor!`'s spelling.
fn tree_spelling(args: &TokenStream) -> Option<syn::Error> {
    use proc_macro2::{Spacing, TokenTree};
    let tokens: Vec<TokenTree> = args.clone().into_iter().collect();
    tokens.windows(2).find_map(|pair| match pair {
        [TokenTree::Ident(_), TokenTree::Punct(colon)]
            if colon.as_char() == ':' && colon.spacing() == Spacing::Alone =>
        {
            Some(syn::Error::new(
                colon.span(),
                "`#[janus::service]` writes `key = value`; `key: value` is how `supervisor!` writes it",
            ))
        }
        _ => None,
    })
}

fn meta(meta: &Meta, errors: &mut Errors) -> Option<Entry> {
    let Some(key) = meta.path().get_ident().cloned() else {
        errors.at(
            meta.path(),
            "expected a key (a name such as `restart`), not a path",
        );
        return None;
    };
    let value = match meta {
        Meta::Path(path) => Value::Flag(path.span()),
        Meta::NameValue(nv) => expr_value(&nv.value),
        Meta::List(list) => {
            let parser = Punctuated::<Meta, Token![,]>::parse_terminated;
            let nested = errors.ok(list.parse_args_with(parser))?;
            Value::Map(Map {
                span: list.delimiter.span().join(),
                entries: nested
                    .iter()
                    .filter_map(|m| self::meta(m, errors))
                    .collect(),
            })
        }
    };
    Some(Entry { key, value })
}

fn expr_value(expr: &Expr) -> Value {
    match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Str(v) => Value::Str(v.clone()),
            Lit::Int(v) => Value::Int(v.clone()),
            Lit::Bool(v) => Value::Bool(v.clone()),
            _ => Value::Expr(Box::new(expr.clone())),
        },
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
            path.path.get_ident().map_or_else(
                || Value::Expr(Box::new(expr.clone())),
                |i| Value::Ident(i.clone()),
            )
        }
        other => Value::Expr(Box::new(other.clone())),
    }
}

/// The whole input of `supervisor!`: `key: value, …`.
pub(crate) struct TreeInput(pub(crate) Vec<Entry>);

impl Parse for TreeInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        entries(input).map(Self)
    }
}

fn entries(input: ParseStream<'_>) -> syn::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    while !input.is_empty() {
        let key: Ident = input.parse()?;
        if input.peek(Token![=]) && !input.peek(Token![=>]) {
            let equals: Token![=] = input.parse()?;
            return Err(syn::Error::new(
                equals.span,
                "`supervisor!` writes `key: value`; `key = value` is how `#[janus::service]` writes it",
            ));
        }
        input.parse::<Token![:]>()?;
        entries.push(Entry {
            key,
            value: input.parse()?,
        });
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(entries)
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
        } else if input.peek(Ident) {
            // A word (`one_for_all`), or the start of an expression
            // (`Worker::new`, `make(3)`).
            let fork = input.fork();
            let ident: Ident = fork.parse()?;
            if fork.is_empty() || fork.peek(Token![,]) {
                input.advance_to(&fork);
                Ok(Value::Ident(ident))
            } else {
                input.parse().map(|e| Value::Expr(Box::new(e)))
            }
        } else if lookahead.peek(syn::token::Brace) {
            input.parse().map(Value::Map)
        } else if lookahead.peek(syn::token::Bracket) {
            let content;
            let bracket = bracketed!(content in input);
            let items = content.parse_terminated(Item::parse, Token![,])?;
            Ok(Value::List(List {
                span: bracket.span.join(),
                items: items.into_iter().collect(),
            }))
        } else if input.peek(Token![|]) || input.peek(Token![move]) || input.peek(Token![||]) {
            // A closure: a dynamic supervisor's template.
            input.parse().map(|e| Value::Expr(Box::new(e)))
        } else {
            Err(lookahead.error())
        }
    }
}

impl Parse for Map {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let content;
        let brace = braced!(content in input);
        Ok(Self {
            span: brace.span.join(),
            entries: entries(&content)?,
        })
    }
}

impl Parse for Item {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let expr = input.parse()?;
        let settings = if input.peek(Token![=>]) {
            input.parse::<Token![=>]>()?;
            if !input.peek(syn::token::Brace) {
                return Err(input.error(
                    "expected the child's settings in braces: `=> { restart: always, critical: true }`",
                ));
            }
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Self { expr, settings })
    }
}
