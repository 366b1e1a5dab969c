//! Every key either macro accepts, one table per place a key can be
//! written. The readers `match` on the table's enum; the "expected one of"
//! message is made from the same table, so the two cannot disagree.

use syn::Ident;

use crate::errors::Errors;

/// The keys valid in one place.
pub(crate) struct Table<K: 'static> {
    /// Where, for messages: `""` at the top, `" in `backoff`"` when nested.
    within: &'static str,
    keys: &'static [(&'static str, K)],
    /// Keys valid elsewhere, with the message that says where.
    elsewhere: &'static [(&'static str, &'static str)],
}

impl<K: Copy> Table<K> {
    /// The key `key` names, or `None` with an error listing the valid ones.
    pub(crate) fn lookup(&self, key: &Ident, errors: &mut Errors) -> Option<K> {
        let name = key.to_string();
        if let Some((_, k)) = self.keys.iter().find(|(n, _)| *n == name) {
            return Some(*k);
        }
        match self.elsewhere.iter().find(|(n, _)| *n == name) {
            Some((_, message)) => errors.at(key, message),
            None => {
                let names = self.keys.iter().map(|(n, _)| *n);
                let expected = match closest(&name, names) {
                    Some(n) => format!("did you mean `{n}`? Expected one of: {}", self.names()),
                    None => format!("expected one of: {}", self.names()),
                };
                errors.at(
                    key,
                    format_args!("unknown key `{key}`{}; {expected}", self.within),
                );
            }
        }
        None
    }

    /// The valid keys, as a message lists them.
    pub(crate) fn names(&self) -> String {
        let names: Vec<&str> = self.keys.iter().map(|(n, _)| *n).collect();
        names.join(", ")
    }
}

/// The candidate `written` was most likely meant to be, if one is close:
/// a typo of a letter or two, or a swap.
pub(crate) fn closest<'a>(
    written: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(written, c), c))
        .filter(|(distance, c)| *distance <= (c.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// `#[janus::service(…)]` on a struct or a function.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServiceKey {
    Name,
    Restart,
    Backoff,
    CircuitBreaker,
    ShutdownTimeout,
    HeartbeatTimeout,
    Critical,
    Every,
}

const SERVICE_KEYS: [(&str, ServiceKey); 7] = [
    ("name", ServiceKey::Name),
    ("restart", ServiceKey::Restart),
    ("backoff", ServiceKey::Backoff),
    ("circuit_breaker", ServiceKey::CircuitBreaker),
    ("shutdown_timeout", ServiceKey::ShutdownTimeout),
    ("heartbeat_timeout", ServiceKey::HeartbeatTimeout),
    ("critical", ServiceKey::Critical),
];

pub(crate) const STRUCT_KEYS: Table<ServiceKey> = Table {
    within: "",
    keys: &SERVICE_KEYS,
    elsewhere: &[(
        "every",
        "`every` belongs on the step method: `#[step(every = \"100ms\")]` in the `#[janus::service]` impl",
    )],
};

pub(crate) const FN_KEYS: Table<ServiceKey> = Table {
    within: "",
    keys: &[
        SERVICE_KEYS[0],
        SERVICE_KEYS[1],
        SERVICE_KEYS[2],
        SERVICE_KEYS[3],
        SERVICE_KEYS[4],
        SERVICE_KEYS[5],
        SERVICE_KEYS[6],
        ("every", ServiceKey::Every),
    ],
    elsewhere: &[],
};

/// `#[step(…)]` in a service's impl block.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepKey {
    Every,
    Recv,
}

pub(crate) const STEP_KEYS: Table<StepKey> = Table {
    within: " in `#[step(…)]`",
    keys: &[("every", StepKey::Every), ("recv", StepKey::Recv)],
    elsewhere: &[],
};

/// `janus::supervisor! { … }`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeKey {
    Name,
    Strategy,
    Intensity,
    Start,
    Shutdown,
    Backoff,
    Children,
    Dynamic,
    MaxChildren,
    AutoShutdown,
    ReadinessGrace,
}

pub(crate) const TREE_KEYS: Table<TreeKey> = Table {
    within: "",
    keys: &[
        ("name", TreeKey::Name),
        ("strategy", TreeKey::Strategy),
        ("intensity", TreeKey::Intensity),
        ("start", TreeKey::Start),
        ("shutdown", TreeKey::Shutdown),
        ("backoff", TreeKey::Backoff),
        ("children", TreeKey::Children),
        ("dynamic", TreeKey::Dynamic),
        ("max_children", TreeKey::MaxChildren),
        ("auto_shutdown", TreeKey::AutoShutdown),
        ("readiness_grace", TreeKey::ReadinessGrace),
    ],
    elsewhere: &[],
};

/// A child's settings in `supervisor!`: `child() => { … }`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChildKey {
    Restart,
    StartTimeout,
    ShutdownTimeout,
    Critical,
    Expendable,
    Backoff,
    Significant,
    GatesReadiness,
}

pub(crate) const CHILD_KEYS: Table<ChildKey> = Table {
    within: " in a child's settings",
    keys: &[
        ("restart", ChildKey::Restart),
        ("start_timeout", ChildKey::StartTimeout),
        ("shutdown_timeout", ChildKey::ShutdownTimeout),
        ("critical", ChildKey::Critical),
        ("expendable", ChildKey::Expendable),
        ("backoff", ChildKey::Backoff),
        ("significant", ChildKey::Significant),
        ("gates_readiness", ChildKey::GatesReadiness),
    ],
    elsewhere: &[],
};

/// `intensity: { … }` in `supervisor!`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntensityKey {
    Restarts,
    Within,
}

pub(crate) const INTENSITY_KEYS: Table<IntensityKey> = Table {
    within: " in `intensity`",
    keys: &[
        ("restarts", IntensityKey::Restarts),
        ("within", IntensityKey::Within),
    ],
    elsewhere: &[],
};

/// `shutdown: { … }` in `supervisor!`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShutdownKey {
    Timeout,
    Order,
}

pub(crate) const SHUTDOWN_KEYS: Table<ShutdownKey> = Table {
    within: " in `shutdown`",
    keys: &[
        ("timeout", ShutdownKey::Timeout),
        ("order", ShutdownKey::Order),
    ],
    elsewhere: &[],
};

/// `start: { … }` in `supervisor!`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartKey {
    Order,
    Timeout,
}

pub(crate) const START_KEYS: Table<StartKey> = Table {
    within: " in `start`",
    keys: &[("order", StartKey::Order), ("timeout", StartKey::Timeout)],
    elsewhere: &[],
};

/// `backoff` in either macro.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackoffKey {
    Base,
    Max,
    Cooldown,
}

pub(crate) const BACKOFF_KEYS: Table<BackoffKey> = Table {
    within: " in `backoff`",
    keys: &[
        ("base", BackoffKey::Base),
        ("max", BackoffKey::Max),
        ("cooldown", BackoffKey::Cooldown),
    ],
    elsewhere: &[],
};

/// `circuit_breaker` in either macro.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BreakerKey {
    MaxFailures,
    Window,
    ResetAfter,
}

pub(crate) const BREAKER_KEYS: Table<BreakerKey> = Table {
    within: " in `circuit_breaker`",
    keys: &[
        ("max_failures", BreakerKey::MaxFailures),
        ("window", BreakerKey::Window),
        ("reset_after", BreakerKey::ResetAfter),
    ],
    elsewhere: &[],
};

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_only_what_is_close() {
        let keys = ["restart", "shutdown_timeout", "critical", "backoff"];
        assert_eq!(closest("retsart", keys), Some("restart"));
        assert_eq!(closest("restarts", keys), Some("restart"));
        assert_eq!(closest("critcal", keys), Some("critical"));
        assert_eq!(closest("shutdown", keys), None);
        assert_eq!(closest("colour", keys), None);
    }
}
