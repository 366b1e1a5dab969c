//! Names: what a service or supervisor name may be, and the default one
//! (the type or function name in kebab-case).

/// Why `name` cannot name a `what` (a service, a supervisor), if it cannot:
/// a name is a segment of a path, so it is not empty and holds no `/`.
/// The runtime checks the same (`engine::invalid_name`) for names that are
/// not literals.
pub(crate) fn name_problem(name: &str, what: &str) -> Option<String> {
    if name.trim().is_empty() {
        Some(format!("a {what} name must not be empty"))
    } else if name.contains('/') {
        Some(format!(
            "a {what} name must not contain `/`, which separates the segments of a path (`desk/risk/limits`); use `-` or `.`"
        ))
    } else {
        None
    }
}

/// `MarketDataFeed` → `market-data-feed`, `HTTPServer` → `http-server`,
/// `market_data` → `market-data`.
pub(crate) fn kebab_case(ident: &str) -> String {
    heck::ToKebabCase::to_kebab_case(ident.trim_start_matches("r#"))
}

#[cfg(test)]
mod tests {
    use super::kebab_case;

    #[test]
    fn kebab_cases() {
        for (input, want) in [
            ("MarketDataFeed", "market-data-feed"),
            ("HTTPServer", "http-server"),
            ("Feed2Db", "feed2-db"),
            ("heartbeat", "heartbeat"),
            ("market_data", "market-data"),
            ("RiskEngine", "risk-engine"),
            ("A", "a"),
        ] {
            assert_eq!(kebab_case(input), want, "{input}");
        }
    }
}
