//! The README's first command, as a process: `trading_desk` runs, serves its
//! status endpoint, (with the `systemd` feature) talks to a fake systemd,
//! drives its tree through the handle, stops on SIGTERM with exit code 0,
//! and prints its summary; its command line behaves like a tool's.
//!
//! The example is built by `cargo test --workspace` (examples are compiled
//! with the tests); this test runs that binary.

#![cfg(unix)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use tests_integration::http_get as get;

fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/main_example-… → target/<profile>/examples/trading_desk
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("examples").join("trading_desk"))
        .expect("target directory");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace --all-features`, which builds the examples",
        path.display()
    );
    path
}

/// A stand-in for systemd's notification socket.
#[cfg(feature = "systemd")]
struct FakeSystemd {
    socket: std::os::unix::net::UnixDatagram,
    path: PathBuf,
}

#[cfg(feature = "systemd")]
impl FakeSystemd {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("janus-notify-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Self { socket, path }
    }

    /// Waits for a message containing `state`.
    fn expect(&self, state: &str) {
        let mut buf = [0u8; 1024];
        loop {
            let n = self
                .socket
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("no {state}: {e}"));
            if String::from_utf8_lossy(&buf[..n])
                .lines()
                .any(|l| l == state)
            {
                return;
            }
        }
    }
}

#[cfg(feature = "systemd")]
impl Drop for FakeSystemd {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tour_runs_serves_and_stops_cleanly_on_sigterm() {
    let mut command = Command::new(example_binary());
    command
        .args(["--duration", "120s", "--status=127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(feature = "systemd")]
    let systemd = FakeSystemd::new();
    #[cfg(feature = "systemd")]
    command
        .env("NOTIFY_SOCKET", &systemd.path)
        .env("WATCHDOG_USEC", "200000");
    let mut child = command.spawn().expect("start the example");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    // The log, read as it comes.
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("stderr");
    let reader = {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = log.lock().expect("log");
                log.push_str(&line);
                log.push('\n');
            }
        })
    };
    let logged = |text: &str| log.lock().expect("log").contains(text);

    let mut line = String::new();
    let address: SocketAddr = loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).expect("read") > 0,
            "the example exited early"
        );
        if let Some(rest) = line.strip_prefix("status endpoint: http://") {
            break rest
                .split('/')
                .next()
                .expect("address")
                .parse()
                .expect("socket address");
        }
    };
    assert!(address.ip().is_loopback());

    #[cfg(feature = "systemd")]
    {
        systemd.expect("READY=1");
        systemd.expect("WATCHDOG=1");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _) = get(address, "/readyz").await;
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "/readyz never turned 200");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = get(address, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("janus_supervisor_active_services"), "{body}");
    let (status, body) = get(address, "/status").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("trading-desk/risk/risk-engine"), "{body}");

    // Started in order: the gateway once market data was connected.
    let connected = log.lock().expect("log").find("kraken: connected");
    let accepting = log
        .lock()
        .expect("log")
        .find("order-gateway: market data connected");
    assert!(
        matches!((connected, accepting), (Some(c), Some(a)) if c < a),
        "{}",
        log.lock().expect("log")
    );
    // The operator drives the tree through its handles: a dynamic child per
    // batch, a child added at the root (10 s in).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(logged("operator: batch 1 → order-batches/batch-1")
        && logged("operator: add trading-desk/audit"))
    {
        assert!(
            Instant::now() < deadline,
            "the operator did nothing: {}",
            log.lock().expect("log")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(signalled.success());
    #[cfg(feature = "systemd")]
    systemd.expect("STOPPING=1");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the example did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0), "a clean shutdown exits 0");
    reader.join().expect("the log reader");
    let log = log.lock().expect("log").clone();
    assert!(!log.contains('\x1b'), "no colour codes in a pipe: {log}");
    // Each failure once: its transition, not also the library's own log.
    for failure in log
        .lines()
        .filter(|l| l.contains("panicked: risk model diverged"))
    {
        let check = failure.split("at check ").nth(1).expect("a check number");
        let times = log.matches(&format!("diverged at check {check}")).count();
        assert_eq!(times, 1, "logged {times} times: {failure}");
    }
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("read the summary");
    assert!(rest.contains("final state"), "{rest}");
    for path in [
        "trading-desk/market-data/kraken",
        "trading-desk/order-gateway",
    ] {
        let row = rest
            .lines()
            .find(|l| l.starts_with(path))
            .unwrap_or_else(|| panic!("no row for {path}: {rest}"));
        assert!(row.contains("terminated (cancelled)"), "{row}");
    }
}

fn run_to_exit(args: &[&str]) -> std::process::Output {
    Command::new(example_binary())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run the example")
}

#[test]
fn help_prints_the_usage_and_exits_0() {
    for flag in ["--help", "-h"] {
        let output = run_to_exit(&[flag]);
        assert_eq!(output.status.code(), Some(0));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.starts_with("Usage: trading_desk"), "{stdout}");
        assert!(stdout.contains("--status <host:port>"), "{stdout}");
    }
}

#[test]
fn a_usage_error_is_one_line_and_a_hint_with_exit_code_2() {
    for (args, problem) in [
        (&["--bogus"][..], "trading_desk: invalid option '--bogus'"),
        (
            &["--status", "nowhere"][..],
            "trading_desk: invalid --status 'nowhere'",
        ),
        (
            &["--duration", "soon"][..],
            "trading_desk: invalid --duration 'soon'",
        ),
        (
            &["--status"][..],
            "trading_desk: missing argument for option '--status'",
        ),
    ] {
        let output = run_to_exit(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{stderr}");
        assert!(lines[0].starts_with(problem), "{args:?}: {stderr}");
        assert_eq!(lines[1], "try 'trading_desk --help'");
        assert!(output.stdout.is_empty());
    }
}
