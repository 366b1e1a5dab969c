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
    let chars: Vec<char> = ident.trim_start_matches("r#").chars().collect();
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = prev.is_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_uppercase() && next_is_lower);
            if boundary && !out.ends_with('-') {
                out.push('-');
            }
        }
        out.extend(c.to_lowercase());
    }
    out.trim_end_matches('-').to_owned()
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
