//! [`Inbox`]: a bounded channel whose receiving end a service keeps
//! across its restarts.

use tokio::sync::{Mutex, MutexGuard, mpsc};

/// The receiving end of a bounded channel, kept in a service: a service
/// value lives across its runs, so the inbox does, and what was sent to it
/// and not yet received stays queued through a restart; none is lost.
///
/// The producers hold the [`Sender`](mpsc::Sender)s made with it (clone
/// them freely); when the last one is dropped and the queue is empty, the
/// inbox is closed and [`recv`](Self::recv) returns `None`: for a
/// `#[step(recv = inbox)]`, the run completes, and the service's policy
/// decides what follows. A message taken by a run is that run's: one
/// received just before a failure is not delivered again.
///
/// ```
/// use janus::Inbox;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (quotes, inbox) = Inbox::<u64>::channel(1024);
/// quotes.send(42).await.expect("the inbox is open");
/// assert_eq!(inbox.recv().await, Some(42));
/// drop(quotes);
/// assert_eq!(inbox.recv().await, None); // closed: every sender is gone
/// # }
/// ```
#[derive(Debug)]
pub struct Inbox<T> {
    receiver: Mutex<mpsc::Receiver<T>>,
}

impl<T> Inbox<T> {
    /// A channel that holds up to `capacity` messages (at least 1): the
    /// producers' sender and the inbox.
    #[must_use]
    pub fn channel(capacity: usize) -> (mpsc::Sender<T>, Self) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (
            sender,
            Self {
                receiver: Mutex::new(receiver),
            },
        )
    }

    /// The next message, or `None` once the inbox is closed and empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message is received only when this completes.
    pub async fn recv(&self) -> Option<T> {
        self.receiver.lock().await.recv().await
    }

    /// The inbox, for one run: [`InboxReceiver::recv`] without locking it
    /// each time. Another run (or caller) waits until this one is dropped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn lock(&self) -> InboxReceiver<'_, T> {
        InboxReceiver {
            receiver: self.receiver.lock().await,
        }
    }
}

/// An [`Inbox`], locked for one run.
#[derive(Debug)]
pub struct InboxReceiver<'a, T> {
    receiver: MutexGuard<'a, mpsc::Receiver<T>>,
}

impl<T> InboxReceiver<'_, T> {
    /// The next message, or `None` once the inbox is closed and empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message is received only when this completes.
    pub async fn recv(&mut self) -> Option<T> {
        self.receiver.recv().await
    }

    /// How many messages wait.
    #[must_use]
    pub fn len(&self) -> usize {
        self.receiver.len()
    }

    /// Whether none waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.receiver.is_empty()
    }
}
