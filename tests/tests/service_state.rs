//! `#[janus::service]` services with per-run state, inputs and several
//! triggers: `#[on_start]` makes the run's state, steps borrow it,
//! `#[on_stop]` gets it back with why the run ends; `#[step(recv = inbox)]`
//! is called with each message of a `janus::Inbox`, which keeps what is
//! queued across restarts.

use std::sync::Mutex;
use std::time::Duration;

use janus::Inbox;
use janus::lifecycle::ServicePhase;
use janus::prelude::*;
use janus::supervisor::BackoffConfig;
use janus::testing::{Behavior, TestService};
use janus::tree::{StartOrder, Strategy, SupervisorHandle};
use tests_integration::ms;
use tokio::sync::mpsc;

/// A connection: one per run.
#[derive(Debug)]
struct Conn {
    run: u32,
    polls: u32,
}

/// What the writer's runs did, for the test.
#[derive(Debug, Default)]
struct Journal {
    /// Messages written, by run.
    written: Vec<(u32, u64)>,
    /// `(run, polls)` handed to `on_stop`, and why.
    stops: Vec<(Option<(u32, u32)>, StopReason)>,
}

/// Appends quotes from its inbox; polls on a timer; fails on the quote
/// `fail_on`, once; its start fails `start_failures` times.
#[janus::service(name = "writer", backoff(base = "10ms", max = "10ms"))]
struct Writer {
    quotes: Inbox<u64>,
    journal: Mutex<Journal>,
    runs: Mutex<u32>,
    fail_on: Mutex<Option<u64>>,
    start_failures: Mutex<u32>,
}

impl Writer {
    fn new(quotes: Inbox<u64>) -> Self {
        Self {
            quotes,
            journal: Mutex::default(),
            runs: Mutex::default(),
            fail_on: Mutex::default(),
            start_failures: Mutex::default(),
        }
    }
}

#[janus::service]
impl Writer {
    #[on_start]
    async fn connect(&self) -> janus::Result<Conn> {
        let mut failures = self.start_failures.lock().expect("lock");
        if *failures > 0 {
            *failures -= 1;
            janus::anyhow::bail!("connection refused");
        }
        let mut runs = self.runs.lock().expect("lock");
        *runs += 1;
        Ok(Conn {
            run: *runs,
            polls: 0,
        })
    }

    #[step(every = "100ms")]
    async fn poll(&self, conn: &mut Conn) -> janus::Result<()> {
        conn.polls += 1;
        Ok(())
    }

    #[step(recv = quotes)]
    async fn write(&self, conn: &mut Conn, quote: u64) -> janus::Result<()> {
        let mut fail_on = self.fail_on.lock().expect("lock");
        if *fail_on == Some(quote) {
            *fail_on = None;
            janus::anyhow::bail!("disk full at quote {quote}");
        }
        self.journal
            .lock()
            .expect("lock")
            .written
            .push((conn.run, quote));
        Ok(())
    }

    #[on_stop]
    async fn close(&self, conn: Option<Conn>, why: StopReason) {
        let conn = conn.map(|c| (c.run, c.polls));
        self.journal.lock().expect("lock").stops.push((conn, why));
    }
}

/// Waits, a simulated millisecond at a time, until `condition` holds.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if condition() {
            return;
        }
        tokio::time::sleep(ms(1)).await;
    }
    panic!("never happened: {what}");
}

async fn start(writer: std::sync::Arc<Writer>) -> SupervisorHandle {
    // Started concurrently: a failed first start is then one failure of
    // the writer, not the tree's failure to start.
    SupervisorSpec::new("desk")
        .with_start_order(StartOrder::Concurrent)
        .with_strategy(Strategy::OneForAll)
        .child(writer)
        .child(TestService::new("sibling", Behavior::RunUntilCancelled))
        .start_with_metrics(janus::metrics::JanusMetrics::new())
        .await
        .expect("starts")
}

fn journal(writer: &Writer) -> std::sync::MutexGuard<'_, Journal> {
    writer.journal.lock().expect("lock")
}

#[tokio::test(start_paused = true)]
async fn the_state_is_made_by_on_start_borrowed_by_steps_and_handed_to_on_stop() {
    let (_quotes, inbox) = Inbox::channel(16);
    let writer = std::sync::Arc::new(Writer::new(inbox));
    let desk = start(writer.clone()).await;
    tokio::time::sleep(ms(450)).await;
    desk.shutdown();
    desk.wait().await.expect("stops");
    // Polled at 0, 100, 200, 300 and 400 ms, on this run's connection.
    assert_eq!(
        journal(&writer).stops,
        [(Some((1, 5)), StopReason::Shutdown)]
    );
}

#[tokio::test(start_paused = true)]
async fn on_stop_learns_why_each_run_ends() {
    let (quotes, inbox) = Inbox::channel(16);
    let writer = std::sync::Arc::new(Writer::new(inbox));
    *writer.start_failures.lock().expect("lock") = 1;
    *writer.fail_on.lock().expect("lock") = Some(7);
    let desk = start(writer.clone()).await;
    // The first start failed: no state to hand back.
    eventually("the second start", || {
        *writer.runs.lock().expect("lock") == 1
    })
    .await;
    // A step fails.
    quotes.send(7).await.expect("open");
    eventually("the failure", || journal(&writer).stops.len() == 2).await;
    tokio::time::sleep(ms(50)).await;
    // An operator stops it.
    desk.stop_child("writer").await.expect("stopped");
    let stops = journal(&writer).stops.clone();
    assert_eq!(
        stops,
        [
            (None, StopReason::Failed),
            (Some((1, 1)), StopReason::Failed),
            (Some((2, 1)), StopReason::Command),
        ]
    );
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_group_restart_is_told_as_such() {
    let (_quotes, inbox) = Inbox::channel(16);
    let writer = std::sync::Arc::new(Writer::new(inbox));
    let flaky = TestService::new("flaky", Behavior::RunUntilCancelled)
        .with_script(vec![Behavior::FailAfter(ms(250), "boom".into())])
        .with_backoff(BackoffConfig::new(ms(10), ms(10)));
    let desk = SupervisorSpec::new("desk")
        .with_strategy(Strategy::OneForAll)
        .child(writer.clone())
        .child(flaky)
        .start_with_metrics(janus::metrics::JanusMetrics::new())
        .await
        .expect("starts");
    tokio::time::sleep(ms(500)).await;
    assert_eq!(
        journal(&writer).stops.first().map(|(_, why)| *why),
        Some(StopReason::GroupRestart)
    );
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn queued_messages_survive_a_restart_and_none_is_lost() {
    let (quotes, inbox) = Inbox::channel(256);
    let writer = std::sync::Arc::new(Writer::new(inbox));
    *writer.fail_on.lock().expect("lock") = Some(30);
    let desk = start(writer.clone()).await;
    for quote in 1..=100 {
        quotes.send(quote).await.expect("open");
    }
    eventually("all written", || journal(&writer).written.len() == 99).await;
    let written = journal(&writer).written.clone();
    // In order, each once; the one that failed its run was that run's.
    let quotes: Vec<u64> = written.iter().map(|(_, q)| *q).collect();
    let expected: Vec<u64> = (1..=100).filter(|q| *q != 30).collect();
    assert_eq!(quotes, expected);
    // 1–29 by the first run, the rest by the second (after 10 ms).
    assert!(written.iter().all(|(run, q)| (*run == 1) == (*q < 30)));
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_closed_inbox_completes_the_run() {
    let (quotes, inbox) = Inbox::channel(16);
    let writer = std::sync::Arc::new(Writer::new(inbox));
    let desk = start(writer.clone()).await;
    quotes.send(1).await.expect("open");
    drop(quotes);
    eventually("completed", || {
        desk.snapshot("desk/writer")
            .is_some_and(|s| s.phase == ServicePhase::Terminated)
    })
    .await;
    assert_eq!(journal(&writer).written, [(1, 1)]);
    assert_eq!(
        journal(&writer).stops.last().map(|(_, why)| *why),
        Some(StopReason::Completed)
    );
    desk.shutdown();
    desk.wait().await.expect("stops");
}

/// A `#[run]` method may borrow the state too.
#[janus::service]
#[derive(Default)]
struct Session {
    log: Mutex<Vec<String>>,
}

#[janus::service]
impl Session {
    #[on_start]
    async fn open(&self) -> janus::Result<String> {
        Ok("session-1".to_owned())
    }

    #[run]
    async fn serve(&self, id: &mut String, cancel: CancellationToken) -> janus::Result<()> {
        id.push_str(" (served)");
        cancel.cancelled().await;
        Ok(())
    }

    #[on_stop]
    async fn close(&self, why: StopReason, id: Option<String>) {
        self.log.lock().expect("lock").push(format!("{id:?} {why}"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_method_borrows_the_state_and_on_stop_takes_its_arguments_in_any_order() {
    let session = std::sync::Arc::new(Session::default());
    let cancel = CancellationToken::new();
    let run = tokio::spawn({
        let session = session.clone();
        let cancel = cancel.clone();
        async move { session.run(cancel).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    cancel.cancel();
    run.await.expect("joined").expect("clean");
    assert_eq!(
        *session.log.lock().expect("lock"),
        ["Some(\"session-1 (served)\") shutdown"]
    );
}

#[test]
fn an_inbox_is_a_channel() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (sender, inbox): (mpsc::Sender<u8>, Inbox<u8>) = Inbox::channel(0);
        sender.try_send(1).expect("capacity 1 at least");
        assert!(sender.try_send(2).is_err(), "bounded");
        let mut receiver = inbox.lock().await;
        assert_eq!(receiver.len(), 1);
        assert_eq!(receiver.recv().await, Some(1));
        assert!(receiver.is_empty());
    });
}
