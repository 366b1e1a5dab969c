//! Lifecycle events: every phase change of every service in a tree, in order.
//!
//! [`SupervisorHandle::subscribe`](crate::tree::SupervisorHandle::subscribe)
//! returns an [`EventStream`] that sees each event once, in the order the
//! transitions happened (events of one service always in their order). The
//! stream ends (`None`) once the tree has stopped and every event was read,
//! even while handles to the tree remain.
//!
//! Memory is bounded: a tree keeps at most its event capacity of events
//! that some subscriber has not read yet ([`DEFAULT_EVENT_CAPACITY`], or
//! [`SupervisorSpec::with_event_capacity`](crate::tree::SupervisorSpec::with_event_capacity)),
//! as tokio's `broadcast` channel does. A subscriber that keeps up sees every
//! event; one that falls further behind is told so, once, with the number of
//! events it missed ([`Lagged`]), and then reads on from the oldest event
//! still kept. The queue exists only while someone subscribes.
//!
//! ```
//! use std::time::Duration;
//! use janus::adapters::service_fn;
//! use janus::tree::SupervisorSpec;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tree = SupervisorSpec::new("desk")
//!     .child(service_fn("feed", |cancel| async move {
//!         cancel.cancelled().await;
//!         Ok(())
//!     }))
//!     .spawn()?; // returns at once: subscribe before anything happens
//! let mut events = tree.subscribe();
//! tokio::time::sleep(Duration::from_millis(10)).await;
//! tree.shutdown();
//! let mut seen = Vec::new();
//! while let Some(event) = events.recv().await {
//!     let event = event?; // Err(Lagged(n)): n events were missed
//!     seen.push(format!("{} {}→{}", event.path, event.from, event.to));
//! }
//! assert_eq!(
//!     seen,
//!     ["desk/feed starting→running", "desk/feed running→stopping", "desk/feed stopping→terminated"]
//! );
//! # Ok(()) }
//! ```

use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use tokio::sync::broadcast;
use tokio_util::sync::{CancellationToken, ReusableBoxFuture};

use crate::lifecycle::ServicePhase;

/// How many unread events a tree keeps for its subscribers, unless told
/// otherwise: a burst of four thousand transitions (two thousand services
/// stopping at once) reaches a subscriber that reads as they come. The
/// queue, allocated at the first subscription, takes about 100 bytes per
/// event it can keep.
pub const DEFAULT_EVENT_CAPACITY: usize = 4096;

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

/// A subscriber fell behind by more than the tree's event capacity: this
/// many events were dropped before it could read them. The stream goes on
/// with the oldest event still kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the event subscriber fell behind: {0} events missed")]
pub struct Lagged(pub u64);

/// What the next event of a subscription is, or that it ended.
type Next = Option<Result<LifecycleEvent, Lagged>>;

/// A subscription to a tree's [`LifecycleEvent`]s; also a
/// [`Stream`](futures_util::Stream) of them.
#[must_use = "an event stream does nothing unless read"]
pub struct EventStream {
    next: ReusableBoxFuture<'static, (Next, Subscription)>,
    /// `next` has yielded `None`: the stream is over.
    ended: bool,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// The receiver and what tells it that the tree has stopped, moved into
/// the future that waits for the next event, and back out of it.
struct Subscription {
    receiver: broadcast::Receiver<LifecycleEvent>,
    stopped: CancellationToken,
}

async fn next(mut subscription: Subscription) -> (Next, Subscription) {
    let received = tokio::select! {
        biased;
        received = subscription.receiver.recv() => received,
        // Once the tree has stopped, no event comes any more: what is
        // queued is read, then the stream ends.
        () = subscription.stopped.cancelled() => match subscription.receiver.try_recv() {
            Ok(event) => Ok(event),
            Err(broadcast::error::TryRecvError::Lagged(n)) => {
                Err(broadcast::error::RecvError::Lagged(n))
            }
            Err(_) => Err(broadcast::error::RecvError::Closed),
        },
    };
    let next = match received {
        Ok(event) => Some(Ok(event)),
        Err(broadcast::error::RecvError::Lagged(n)) => Some(Err(Lagged(n))),
        Err(broadcast::error::RecvError::Closed) => None,
    };
    (next, subscription)
}

impl EventStream {
    fn new(subscription: Subscription) -> Self {
        Self {
            next: ReusableBoxFuture::new(next(subscription)),
            ended: false,
        }
    }

    /// The next event: `Some(Ok(event))`; `Some(Err(Lagged(n)))` once after
    /// the subscriber fell behind and `n` events were dropped; `None` once
    /// the tree has stopped and every event kept was read.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an event is never lost by dropping this future.
    pub async fn recv(&mut self) -> Option<Result<LifecycleEvent, Lagged>> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// The next event if one is waiting (as [`recv`](Self::recv)), without
    /// waiting; `None` if none is.
    pub fn try_recv(&mut self) -> Option<Result<LifecycleEvent, Lagged>> {
        match self.poll_next_event(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(next) => next,
            Poll::Pending => None,
        }
    }

    fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Next> {
        if self.ended {
            return Poll::Ready(None);
        }
        let (next, subscription) = std::task::ready!(self.next.poll(cx));
        self.ended = next.is_none();
        self.next.set(self::next(subscription));
        Poll::Ready(next)
    }
}

/// Items are `Ok(event)`, or `Err(Lagged(n))` after `n` events were missed.
impl futures_util::Stream for EventStream {
    type Item = Result<LifecycleEvent, Lagged>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_next_event(cx)
    }
}

/// Where a tree's events go: a bounded broadcast queue, made at the first
/// subscription (publishing costs nothing while nobody listens).
#[derive(Debug)]
pub(crate) struct EventHub {
    capacity: AtomicUsize,
    sender: OnceLock<broadcast::Sender<LifecycleEvent>>,
    /// Cancelled when the tree has stopped: subscriptions end.
    stopped: CancellationToken,
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new(DEFAULT_EVENT_CAPACITY)
    }
}

impl EventHub {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: AtomicUsize::new(capacity.max(1)),
            sender: OnceLock::new(),
            stopped: CancellationToken::new(),
        }
    }

    /// Sets the capacity of the queue, if nobody has subscribed yet.
    pub(crate) fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity.max(1), Ordering::Relaxed);
    }

    pub(crate) fn subscribe(&self) -> EventStream {
        let sender = self
            .sender
            .get_or_init(|| broadcast::Sender::new(self.capacity.load(Ordering::Relaxed)));
        EventStream::new(Subscription {
            receiver: sender.subscribe(),
            stopped: self.stopped.clone(),
        })
    }

    /// Whether anyone listens: events are only built when someone does.
    pub(crate) fn is_observed(&self) -> bool {
        self.sender
            .get()
            .is_some_and(|sender| sender.receiver_count() > 0)
    }

    pub(crate) fn publish(&self, event: LifecycleEvent) {
        if let Some(sender) = self.sender.get() {
            // No receiver left: nobody to tell.
            let _ = sender.send(event);
        }
    }

    /// The tree has stopped: subscriptions end once read.
    pub(crate) fn close(&self) {
        self.stopped.cancel();
    }
}
