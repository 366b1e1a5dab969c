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
    let server = StatusServer::new().bind(([127, 0, 0, 1], 0));
    let flaky = TestService::new("ledger", Behavior::RunUntilCancelled)
        .with_script(vec![Behavior::Fail("disk full".into())])
        .with_backoff(BackoffConfig::new(
            Duration::from_secs(60),
            Duration::from_secs(60),
        ));
    let handle = SupervisorSpec::new("desk")
        .child(server.clone())
        .child(TestService::new("feed", Behavior::RunUntilCancelled))
        .child_with(flaky, ChildOptions::new().critical(true))
        .start_with_metrics(JanusMetrics::new())
        .expect("valid tree");
    let address = tokio::time::timeout(Duration::from_secs(30), server.bound_address())
        .await
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
    let server = StatusServer::new().bind(([127, 0, 0, 1], 0));
    let handle = SupervisorSpec::new("desk")
        .child(server.clone())
        .child_with(
            TestService::new("ledger", Behavior::RunUntilCancelled),
            ChildOptions::new().critical(true),
        )
        .start_with_metrics(JanusMetrics::new())
        .expect("valid tree");
    let address = server.bound_address().await;
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
                .critical(true)
                .restart(RestartPolicy::Never),
        );
    let handle = doomed
        .start_with_metrics(JanusMetrics::new())
        .expect("valid");
    // A server outside the tree it reports on, so that it outlives it.
    let server = StatusServer::for_handle(handle.clone()).bind(([127, 0, 0, 1], 0));
    let ops = SupervisorSpec::new("ops")
        .child(server.clone())
        .start_with_metrics(JanusMetrics::new())
        .expect("valid");
    let address = server.bound_address().await;
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
        .bind(([127, 0, 0, 1], 0))
        .with_registry(registry);
    let handle = SupervisorSpec::new("desk")
        .child(server.clone())
        .start_with_metrics(JanusMetrics::new())
        .expect("valid tree");
    let (status, body) = get(server.bound_address().await, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("desk_orders_total 7"), "{body}");
    assert!(body.contains("janus_supervisor_spawned_total 1"), "{body}");
    handle.shutdown();
    handle.wait().await.expect("clean");
}
