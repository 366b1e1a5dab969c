//! The vocabulary of supervision trees: which children restart together
//! ([`Strategy`]), in which order they stop ([`ShutdownOrder`]), and how
//! many restarts a supervisor tolerates ([`Intensity`]). Public as
//! `janus::tree::{Strategy, ShutdownOrder, Intensity}`.

use std::time::Duration;

/// Which children restart when one of them must.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Only the child (the default).
    #[default]
    OneForOne,
    /// Every child: siblings are stopped, then all start again in order.
    OneForAll,
    /// The child and the siblings declared after it.
    RestForOne,
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OneForOne => "one_for_one",
            Self::OneForAll => "one_for_all",
            Self::RestForOne => "rest_for_one",
        })
    }
}

/// In which order a supervisor stops its children.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ShutdownOrder {
    /// One by one, last declared first, each within its own timeout (the
    /// default for trees).
    #[default]
    Reverse,
    /// All at once, each within its own timeout.
    Concurrent,
}

impl std::fmt::Display for ShutdownOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Reverse => "reverse",
            Self::Concurrent => "concurrent",
        })
    }
}

/// The restart intensity: more than `restarts` within `within` and the
/// supervisor gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Intensity {
    /// Restarts tolerated within the window. 0 tolerates none: the first
    /// failure that would restart a child escalates (OTP's `MaxR = 0`).
    pub restarts: u32,
    /// The sliding window. Not zero.
    pub within: Duration,
}
