//! The status endpoint over real loopback sockets, with a real HTTP client.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use janus::http::StatusServer;
use janus::metrics::JanusMetrics;
use janus::prelude::*;
use janus::supervisor::BackoffConfig;
use janus::testing::{Behavior, TestService};
use janus::tree::{ChildOptions, SupervisorHandle};
use tests_integration::http_get as get;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).expect("JSON body")
}

/// A tree with the status server in it, plus a critical service that fails
/// at once and then backs off for a minute.
async fn tree_with_server() -> (SupervisorHandle, SocketAddr) {
    let server = StatusServer::new().with_address(([127, 0, 0, 1], 0));
    let flaky = TestService::new("ledger", Behavior::RunUntilCancelled)
        .with_script(vec![Behavior::Fail("disk full".into())])
        .with_backoff(BackoffConfig::new(
            Duration::from_secs(60),
            Duration::from_secs(60),
        ));
    let handle = SupervisorSpec::new("desk")
        .child(server.clone())
        .child(TestService::new("feed", Behavior::RunUntilCancelled))
        .child_with(flaky, ChildOptions::new().with_critical(true))
        .start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid tree");
    let address = tokio::time::timeout(Duration::from_secs(30), server.bound_address())
        .await
        .expect("the server tries to bind")
        .expect("the server binds");
    (handle, address)
}

#[tokio::test]
async fn every_endpoint_answers() {
    let (handle, address) = tree_with_server().await;
    assert!(address.ip().is_loopback());

    let (status, body) = get(address, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["status"], "running");

    // The critical ledger is backing off: not ready, and named.
    let (status, body) = get(address, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body = json(&body);
    assert_eq!(body["ready"], false);
    assert_eq!(body["not_ready"][0]["path"], "desk/ledger");
    assert_eq!(body["not_ready"][0]["phase"], "backing_off");
    assert_eq!(body["not_ready"][0]["last_error"], "disk full");

    let (status, body) = get(address, "/status").await;
    assert_eq!(status, StatusCode::OK);
    let body = json(&body);
    assert_eq!(body["supervisor"], "desk");
    let paths: Vec<&str> = body["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["path"].as_str())
        .collect();
    assert_eq!(paths, ["desk/status-http", "desk/feed", "desk/ledger"]);
    assert_eq!(body["services"][2]["total_failures"], 1);
    // Each service's spec, as OTP's `get_childspec` gives it.
    assert_eq!(body["services"][1]["kind"], "worker");
    assert!(body["services"][1]["restart_policy"].is_string());
    assert!(body["services"][1].get("shutdown_timeout_ms").is_some());

    let (status, body) = get(address, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("janus_supervisor_active_services 3"),
        "{body}"
    );
    assert!(
        body.contains(r#"janus_supervisor_spawned_total 3"#),
        "{body}"
    );

    let (status, _) = get(address, "/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    handle.shutdown();
    handle.wait().await.expect("clean");
    assert!(
        TcpStream::connect(address).await.is_err(),
        "stopped with the tree"
    );
}

#[tokio::test]
async fn readyz_turns_green_when_critical_services_are_ready() {
    let server = StatusServer::new().with_address(([127, 0, 0, 1], 0));
    let handle = SupervisorSpec::new("desk")
        .child(server.clone())
        .child_with(
            TestService::new("ledger", Behavior::RunUntilCancelled),
            ChildOptions::new().with_critical(true),
        )
        .start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid tree");
    let address = server.bound_address().await.expect("bound");
    let mut ready = false;
    // A bound against hangs only: readiness comes within a few milliseconds.
    for _ in 0..1_000 {
        let (status, _) = get(address, "/readyz").await;
        if status == StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ready, "/readyz never answered 200");
    handle.shutdown();
    handle.wait().await.expect("clean");
}

#[tokio::test]
async fn garbage_and_oversized_requests_do_not_take_it_down() {
    let (handle, address) = tree_with_server().await;

    // Not HTTP at all.
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"\x00\x01\x02 definitely not http\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // A request head far over the limit.
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let huge = format!(
        "GET /status HTTP/1.1\r\nhost: x\r\nx-filler: {}\r\n\r\n",
        "a".repeat(256 * 1024)
    );
    let _ = stream.write_all(huge.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    assert!(
        answer.is_empty()
            || answer.starts_with(b"HTTP/1.1 431")
            || answer.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // A client that connects and says nothing, and one that hangs up mid-request.
    let _silent = TcpStream::connect(address).await.expect("connect");
    let mut rude = TcpStream::connect(address).await.expect("connect");
    rude.write_all(b"GET /sta").await.expect("write");
    drop(rude);

    // Wrong method.
    let stream = TcpStream::connect(address).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let request = Request::post("/status")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response.headers().get("allow").map(|v| v.as_bytes()),
        Some(&b"GET, HEAD"[..]),
        "RFC 9110: a 405 says what is allowed"
    );

    // Still serving, still the same run.
    let (status, _) = get(address, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let server = handle.snapshot("desk/status-http").expect("listed");
    assert_eq!((server.start_count, server.total_failures), (1, 0));
    handle.shutdown();
    handle.wait().await.expect("clean");
}

#[tokio::test]
async fn healthz_is_503_once_the_root_has_failed() {
    let doomed = SupervisorSpec::new("doomed")
        .child(TestService::new("feed", Behavior::RunUntilCancelled))
        .child_with(
            TestService::new(
                "ledger",
                Behavior::FailAfter(Duration::from_millis(200), "corrupt".into()),
            ),
            ChildOptions::new()
                .with_critical(true)
                .with_restart_policy(RestartPolicy::Never),
        );
    let handle = doomed
        .start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid");
    // A server outside the tree it reports on, so that it outlives it.
    let server = StatusServer::for_handle(handle.clone()).with_address(([127, 0, 0, 1], 0));
    let ops = SupervisorSpec::new("ops")
        .child(server.clone())
        .start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid");
    let address = server.bound_address().await.expect("bound");
    let (status, _) = get(address, "/healthz").await;
    assert_eq!(status, StatusCode::OK, "alive before the failure");

    handle.wait().await.expect_err("the root gives up");
    let (status, body) = get(address, "/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body = json(&body);
    assert_eq!(body["status"], "failed");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("critical child 'doomed/ledger'")),
        "{body}"
    );
    let (status, body) = get(address, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["status"], "failed");
    ops.shutdown();
    ops.wait().await.expect("clean");
}

#[tokio::test]
async fn metrics_include_registries_handed_in() {
    let registry = prometheus::Registry::new();
    let orders = prometheus::IntCounter::new("desk_orders_total", "Orders sent.").expect("counter");
    registry
        .register(Box::new(orders.clone()))
        .expect("register");
    orders.inc_by(7);
    let server = StatusServer::new()
        .with_address(([127, 0, 0, 1], 0))
        .with_registry(registry);
    let handle = SupervisorSpec::new("desk")
        .child(server.clone())
        .start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid tree");
    let (status, body) = get(server.bound_address().await.expect("bound"), "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("desk_orders_total 7"), "{body}");
    assert!(body.contains("janus_supervisor_spawned_total 1"), "{body}");
    handle.shutdown();
    handle.wait().await.expect("clean");
}

/// A bind that fails is reported to whoever waits for the address.
#[tokio::test]
async fn a_failed_bind_is_an_error_not_a_wait() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address");
    let server = StatusServer::new().with_address(address);
    let handle = SupervisorSpec::new("desk")
        .child(server.clone())
        .start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid tree");
    let error = tokio::time::timeout(Duration::from_secs(30), server.bound_address())
        .await
        .expect("answers")
        .expect_err("the address is taken");
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse, "{error}");
    handle.shutdown();
    handle.wait().await.expect("clean");
}

/// A client that asks for a large answer and never reads it is cut off
/// after the write timeout: the server closes the connection before the end
/// of the body.
#[tokio::test]
async fn a_client_that_never_reads_is_cut_off() {
    let server = StatusServer::new()
        .with_address(([127, 0, 0, 1], 0))
        .with_write_timeout(Duration::from_millis(200));
    let mut tree = SupervisorSpec::new("big").child(server.clone());
    // About 20 MB of /status: more than loopback's socket buffers hold.
    for i in 0..50_000 {
        tree = tree.child(TestService::new(
            format!("service-with-a-rather-long-name-{i:06}"),
            Behavior::RunUntilCancelled,
        ));
    }
    let handle = tree
        .start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid tree");
    let address = server.bound_address().await.expect("bound");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /status HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    // Not reading, for well over the write timeout.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&answer[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|l| l.trim().parse().ok())
        .expect("a content length");
    let body = answer.len() - head_end - 4;
    assert!(body < length, "cut off: {body} of {length} bytes arrived");
    // Still serving others.
    let (status, _) = get(address, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    handle.shutdown();
    handle.wait().await.expect("clean");
}

/// At most `max_connections` are served at once: a further client is
/// served once one of them is gone.
#[tokio::test]
async fn connections_are_limited() {
    let server = StatusServer::new()
        .with_address(([127, 0, 0, 1], 0))
        .with_max_connections(2);
    let handle = SupervisorSpec::new("desk")
        .child(server.clone())
        .start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid tree");
    let address = server.bound_address().await.expect("bound");
    let idle_one = TcpStream::connect(address).await.expect("connect");
    let _idle_two = TcpStream::connect(address).await.expect("connect");
    let third = tokio::spawn(get(address, "/healthz"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !third.is_finished(),
        "not served while two connections are open"
    );
    drop(idle_one);
    let (status, _) = tokio::time::timeout(Duration::from_secs(30), third)
        .await
        .expect("served once a connection closed")
        .expect("joined");
    assert_eq!(status, StatusCode::OK);
    handle.shutdown();
    handle.wait().await.expect("clean");
}

/// An expendable child given up on by its breaker leaves the tree running,
/// degraded: `/healthz` and `/readyz` still answer 200, and both they and
/// `/status` name the child.
#[tokio::test]
async fn a_degraded_tree_names_what_it_gave_up() {
    let server = StatusServer::new().with_address(([127, 0, 0, 1], 0));
    let hopeless = TestService::new("enricher", Behavior::Fail("no upstream".into()))
        .with_restart_policy(RestartPolicy::Always)
        .with_backoff(
            BackoffConfig::new(Duration::from_millis(1), Duration::from_millis(1))
                .with_circuit_breaker(3, Duration::from_secs(600)),
        );
    let handle = SupervisorSpec::new("desk")
        .child(server.clone())
        .child_with(hopeless, ChildOptions::new().with_expendable(true))
        .start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid tree");
    let address = server.bound_address().await.expect("bound");
    // Three failures a millisecond apart; the bound guards against a hang.
    for _ in 0..3_000 {
        if handle.health() != janus::tree::Health::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        handle.health(),
        janus::tree::Health::Degraded {
            given_up: vec!["desk/enricher".into()]
        }
    );
    for path in ["/healthz", "/readyz", "/status"] {
        let (status, body) = get(address, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let body = json(&body);
        assert_eq!(body["status"], "degraded", "{path}");
        if path != "/healthz" {
            assert_eq!(body["given_up"][0], "desk/enricher", "{path}");
        }
    }
    handle.shutdown();
    handle.wait().await.expect("clean");
}

/// Answering `/status` and `/metrics` for a hundred thousand services takes
/// a while; it happens on the blocking pool, so the runtime's only worker
/// (a current-thread runtime here) keeps running everything else meanwhile:
/// a ticker that wakes every 5 ms is never held up for a large part of it.
#[tokio::test(flavor = "current_thread")]
async fn a_large_answer_does_not_hold_the_runtime() {
    let server = StatusServer::new().with_address(([127, 0, 0, 1], 0));
    let mut tree = SupervisorSpec::new("big").child(server.clone());
    for i in 0..100_000 {
        tree = tree.child(TestService::new(
            format!("s{i}"),
            Behavior::RunUntilCancelled,
        ));
    }
    let handle = tree
        .start_with_metrics(JanusMetrics::new())
        .await
        .expect("valid tree");
    let address = server.bound_address().await.expect("bound");
    let ticking = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let ticker = tokio::spawn({
        let ticking = ticking.clone();
        async move {
            let mut longest = Duration::ZERO;
            let mut last = std::time::Instant::now();
            while ticking.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
                longest = longest.max(last.elapsed());
                last = std::time::Instant::now();
            }
            longest
        }
    });
    let asked = std::time::Instant::now();
    let (status, body) = get(address, "/status").await;
    let took = asked.elapsed();
    ticking.store(false, std::sync::atomic::Ordering::Relaxed);
    let longest = ticker.await.expect("ticker");
    assert_eq!(status, StatusCode::OK);
    assert!(body.len() > 10_000_000);
    eprintln!("/status took {took:?}; the longest gap between ticks: {longest:?}");
    assert!(
        longest * 4 < took,
        "held the worker: {longest:?} of {took:?}"
    );
    handle.shutdown();
    handle.wait().await.expect("clean");
}
