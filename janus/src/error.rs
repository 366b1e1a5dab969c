//! Every error of Janus's supervision, in one place: why a supervisor
//! failed ([`SupervisorError`]), why a command was refused
//! ([`ControlError`]), why a service could not be spawned ([`SpawnError`]).
//! Public at `janus::tree::{SupervisorError, ControlError}` and
//! `janus::supervisor::SpawnError`; the errors of a backoff configuration
//! and of a lifecycle transition stay beside their types
//! ([`BackoffConfigError`], [`TransitionError`](crate::lifecycle::TransitionError)).

use std::time::Duration;

use crate::backoff::BackoffConfigError;

/// Why a supervisor failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// More restarts than the intensity allows.
    #[error(
        "supervisor '{supervisor}' gave up: {restarts} restarts within {within:?} (last: '{child}') exceed its intensity"
    )]
    IntensityExceeded {
        /// The supervisor's path.
        supervisor: String,
        /// The child whose restart went over the limit.
        child: String,
        /// Restarts counted in the window.
        restarts: u32,
        /// The window.
        within: Duration,
    },
    /// A critical child terminated for good.
    #[error("supervisor '{supervisor}' gave up: critical child '{child}' terminated ({reason})")]
    CriticalChildTerminated {
        /// The supervisor's path.
        supervisor: String,
        /// The child's path.
        child: String,
        /// Its termination reason.
        reason: String,
    },
    /// A child whose policy says restart was given up on by its circuit
    /// breaker. In a tree that takes its supervisor down, unless the child
    /// was declared expendable ([`ChildOptions::with_expendable`](crate::tree::ChildOptions::with_expendable)): a child that
    /// should run is never dropped while its supervisor looks healthy.
    #[error("supervisor '{supervisor}' gave up: child '{child}' was given up on ({reason})")]
    ChildGivenUp {
        /// The supervisor's path.
        supervisor: String,
        /// The child's path.
        child: String,
        /// Its termination reason.
        reason: String,
    },
    /// A child declared in the supervisor's spec failed as it started, or
    /// was not ready within its start timeout
    /// ([`ChildOptions::with_start_timeout`](crate::tree::ChildOptions::with_start_timeout)),
    /// when the supervisor started: the children started before it were
    /// stopped, last first (OTP's `{shutdown, {failed_to_start_child, …}}`).
    #[error("supervisor '{supervisor}' cannot start: child '{child}' failed to start ({reason})")]
    FailedToStart {
        /// The supervisor's path.
        supervisor: String,
        /// The child's path.
        child: String,
        /// Its failure, or the start timeout it exceeded.
        reason: String,
    },
    /// A child could not be added when the tree started.
    #[error("supervisor '{supervisor}' cannot start: {source}")]
    Spawn {
        /// The supervisor's path.
        supervisor: String,
        /// Why the child was refused.
        source: SpawnError,
    },
    /// The supervisor's control loop failed: a bug in Janus (please report
    /// it). Its children were aborted.
    #[error(
        "supervisor '{supervisor}' failed: {problem} (a bug in Janus; its children were aborted)"
    )]
    Internal {
        /// The supervisor's path.
        supervisor: String,
        /// What went wrong.
        problem: String,
    },
    /// The signal handler could not be installed; the tree was stopped.
    #[error("cannot install the signal handler ({problem}); the tree was stopped")]
    Signals {
        /// The operating system's error.
        problem: String,
    },
    /// The spec itself is inconsistent.
    #[error("supervisor '{supervisor}' is misconfigured: {problem}")]
    InvalidSpec {
        /// The supervisor's path.
        supervisor: String,
        /// What is wrong.
        problem: String,
    },
}

/// Why a command on a running supervisor failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No child has that name.
    #[error("no child named '{name}'")]
    NoSuchChild {
        /// The name asked for.
        name: String,
    },
    /// The supervisor is shutting down (or has stopped).
    #[error("the supervisor is shutting down")]
    ShuttingDown,
    /// A reconfiguration's settings are inconsistent; nothing was changed.
    #[error("invalid configuration: {problem}")]
    InvalidConfig {
        /// What is wrong.
        problem: String,
    },
    /// The child has not terminated, so it cannot be deleted (stop it
    /// first, or use [`SupervisorHandle::remove_child`](crate::tree::SupervisorHandle::remove_child)).
    #[error("child '{name}' has not terminated; stop it before deleting it")]
    Running {
        /// The child's name.
        name: String,
    },
}

/// Why a service could not be spawned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The name cannot be a segment of a path: empty, or holding a `/`.
    #[error("invalid service name '{name}': {problem}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A live service already has this name.
    #[error(
        "a service named '{name}' is already supervised; names must be unique \
         (a name is free again once its service has terminated)"
    )]
    DuplicateName {
        /// The name in use.
        name: String,
    },
    /// The service's effective backoff configuration is inconsistent.
    #[error("invalid backoff for service '{service}': {source}")]
    InvalidBackoff {
        /// The service.
        service: String,
        /// What is wrong with the configuration.
        source: BackoffConfigError,
    },
    /// The supervisor is shutting down and accepts no new services.
    #[error("cannot spawn service '{service}': the supervisor is shutting down")]
    ShuttingDown {
        /// The service.
        service: String,
    },
    /// The child's settings contradict each other or its supervisor's (a
    /// significant child under a supervisor that never shuts down by
    /// itself, say).
    #[error("invalid child '{service}': {problem}")]
    InvalidChildSpec {
        /// The service.
        service: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A dynamic supervisor runs as many children as its `max_children`
    /// allows ([`DynamicSupervisorSpec::with_max_children`](crate::tree::DynamicSupervisorSpec::with_max_children));
    /// OTP's `{error, max_children}`.
    #[error("dynamic supervisor '{supervisor}' already runs its maximum of {max} children")]
    MaxChildren {
        /// The supervisor's path.
        supervisor: String,
        /// Its limit.
        max: usize,
    },
    /// The supervisor already holds as many services as it can index
    /// (`u32::MAX`, some terabytes of them).
    #[error("cannot spawn service '{service}': the supervisor holds {limit} services already")]
    TooManyServices {
        /// The service.
        service: String,
        /// How many services a supervisor holds at most.
        limit: usize,
    },
}
