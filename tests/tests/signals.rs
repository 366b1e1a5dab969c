//! Signals, end to end in a child process: one SIGTERM drains and exits 0;
//! a second SIGINT during a stuck drain forces the exit (§3.11), unless it
//! is the first one delivered twice, or the forced exit is off.

#![cfg(unix)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

struct Probe {
    child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
}

impl Probe {
    fn start(mode: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_janus-signal-probe"))
            .arg(mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the probe");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self { child, lines }
    }

    fn expect_line(&mut self, want: &str) {
        let line = self.lines.next().expect("a line").expect("utf-8");
        assert_eq!(line, want);
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the exit; the bound only guards against a hung test.
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the probe did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let mut probe = Probe::start("polite");
    probe.expect_line("ready");
    probe.signal("TERM");
    probe.expect_line("stopping");
    probe.expect_line("drained");
    assert_eq!(probe.wait().code(), Some(0));
}

/// Beyond the second within which a repeated signal is the same request.
const DELIBERATE: Duration = Duration::from_millis(1_300);

#[test]
fn second_sigint_forces_exit() {
    let mut probe = Probe::start("stubborn");
    probe.expect_line("ready");
    probe.signal("INT");
    probe.expect_line("stopping");
    // The service ignores cancellation and the timeout is 60 s: only the
    // second signal can end the process now.
    std::thread::sleep(DELIBERATE);
    probe.signal("INT");
    let status = probe.wait();
    assert_eq!(status.code(), Some(130));
}

/// `timeout -s INT`, shells and process managers signal the process, then
/// its process group: one request, delivered twice (here the second comes
/// as the drain begins, milliseconds after the first). The drain (2 s) runs
/// to its end, and the code after it too.
#[test]
fn a_signal_delivered_twice_is_one_request() {
    let mut probe = Probe::start("slow");
    probe.expect_line("ready");
    probe.signal("TERM");
    probe.expect_line("stopping");
    probe.signal("TERM");
    probe.expect_line("drained");
    assert_eq!(probe.wait().code(), Some(0));
}

/// With the forced exit off, a deliberate second signal leaves the drain be.
#[test]
fn the_forced_exit_can_be_turned_off() {
    let mut probe = Probe::start("patient");
    probe.expect_line("ready");
    probe.signal("INT");
    probe.expect_line("stopping");
    std::thread::sleep(DELIBERATE);
    probe.signal("INT");
    probe.expect_line("drained");
    assert_eq!(probe.wait().code(), Some(0));
}

#[test]
fn a_root_that_gives_up_exits_non_zero() {
    let mut probe = Probe::start("doomed");
    let status = probe.wait();
    assert_eq!(status.code(), Some(1), "main returned the root's error");
}
