//! Termination signals: SIGTERM and SIGINT (Ctrl-C elsewhere).

use std::io;
use std::time::Duration;

/// A signal that comes within this time of the first is the same request
/// delivered twice, not a second one: shells, `timeout` and process
/// managers signal the process and then its process group, and a user who
/// means "now" presses Ctrl-C again a moment later.
pub(crate) const REPEAT_WINDOW: Duration = Duration::from_secs(1);

/// The signals a supervisor shuts down on; the streams stay registered so
/// that a second signal can be told apart from the first.
#[derive(Debug)]
pub(crate) struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

/// Which signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    Terminate,
    Interrupt,
}

impl Received {
    /// The conventional exit code of a process ended by this signal.
    pub(crate) fn exit_code(self) -> i32 {
        match self {
            Self::Terminate => 128 + 15,
            Self::Interrupt => 128 + 2,
        }
    }
}

impl std::fmt::Display for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Terminate => "SIGTERM",
            Self::Interrupt => "SIGINT",
        })
    }
}

impl Signals {
    pub(crate) fn install() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    pub(crate) async fn recv(&mut self) -> io::Result<Received> {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => Ok(Received::Terminate),
                _ = self.int.recv() => Ok(Received::Interrupt),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.map(|()| Received::Interrupt)
        }
    }
}
