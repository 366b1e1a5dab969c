//! Lifecycle events: every phase change of every service in a tree, in order.
//!
//! [`SupervisorHandle::subscribe`](crate::tree::SupervisorHandle::subscribe)
//! returns an [`EventStream`] that sees each event once. Events of one service
//! arrive in the order its transitions happened; no event is dropped (the
//! stream buffers what you have not read yet).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::mpsc;

use crate::lifecycle::ServicePhase;

/// One phase change of one service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LifecycleEvent {
    /// The service's path in the tree, e.g. `trading-desk/risk/limits`.
    pub path: String,
    /// The phase it left.
    pub from: ServicePhase,
    /// The phase it entered.
    pub to: ServicePhase,
    /// Why, where there is something to say: the error before a backoff,
    /// the termination reason.
    pub reason: Option<String>,
}

/// A subscription to a tree's [`LifecycleEvent`]s.
#[derive(Debug)]
#[must_use = "an event stream does nothing unless read"]
pub struct EventStream {
    receiver: mpsc::UnboundedReceiver<LifecycleEvent>,
}

impl EventStream {
    /// The next event; `None` once the tree is gone and every event was read.
    pub async fn recv(&mut self) -> Option<LifecycleEvent> {
        self.receiver.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<LifecycleEvent> {
        self.receiver.try_recv().ok()
    }
}

/// An `EventStream` is a [`Stream`](futures_util::Stream), for
/// `StreamExt::filter`, `next` and friends.
impl futures_util::Stream for EventStream {
    type Item = LifecycleEvent;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<LifecycleEvent>> {
        self.receiver.poll_recv(cx)
    }
}

/// Where a tree's events go: one unbounded queue per subscriber.
#[derive(Debug, Default)]
pub(crate) struct EventHub {
    subscribers: Mutex<Vec<mpsc::UnboundedSender<LifecycleEvent>>>,
    count: AtomicUsize,
}

impl EventHub {
    pub(crate) fn subscribe(&self) -> EventStream {
        let (sender, receiver) = mpsc::unbounded_channel();
        let mut subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        subscribers.push(sender);
        self.count.store(subscribers.len(), Ordering::Release);
        EventStream { receiver }
    }

    /// Whether anyone listens: events are only built when someone does.
    pub(crate) fn is_observed(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    pub(crate) fn publish(&self, event: LifecycleEvent) {
        let mut subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        subscribers.retain(|s| s.send(event.clone()).is_ok());
        self.count.store(subscribers.len(), Ordering::Release);
    }
}
