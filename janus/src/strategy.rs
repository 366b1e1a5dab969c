//! The vocabulary of supervision trees: which children restart together
//! ([`Strategy`]), in which order they start ([`StartOrder`]) and stop
//! ([`ShutdownOrder`]), how many restarts a supervisor tolerates
//! ([`Intensity`]), and when it ends by itself ([`AutoShutdown`]). Public as
//! `janus::tree::{Strategy, StartOrder, ShutdownOrder, Intensity, AutoShutdown}`.

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

/// In which order a supervisor starts its children: when the tree starts,
/// and when a group (`one_for_all`, `rest_for_one`) starts again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum StartOrder {
    /// One at a time, in declaration order: a child starts once the one
    /// before it is ready (running, and, if it
    /// [reports readiness](crate::service::JanusService::reports_readiness),
    /// marked ready), as OTP starts each child once the previous one's
    /// `init` has returned (the default). A child declared after another
    /// can rely on it.
    #[default]
    Ordered,
    /// All at once, without waiting for any to be ready.
    Concurrent,
}

impl std::fmt::Display for StartOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ordered => "ordered",
            Self::Concurrent => "concurrent",
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

/// When a supervisor ends by itself, normally, because its significant
/// children have ended (OTP's `auto_shutdown`): for job-like subtrees,
/// whose work is done when some of their children are. Distinct from a
/// critical child, whose failure takes the supervisor down with an error.
///
/// A child is significant by
/// [`ChildOptions::with_significant`](crate::tree::ChildOptions::with_significant).
/// It triggers the shutdown when it terminates by itself and is not
/// restarted: an `on_failure` child that completes, a `never` child that
/// completes or fails. A child stopped by a command does not trigger it,
/// as in OTP. The supervisor then stops its other children in its
/// shutdown order and ends without error: as a child, a clean exit, which
/// its own policy decides about (`on_failure` and `never` do not restart
/// it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AutoShutdown {
    /// Never (the default). No child may be significant then.
    #[default]
    Never,
    /// When any significant child has ended.
    AnySignificant,
    /// When every significant child has ended.
    AllSignificant,
}

impl std::fmt::Display for AutoShutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Never => "never",
            Self::AnySignificant => "any_significant",
            Self::AllSignificant => "all_significant",
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
