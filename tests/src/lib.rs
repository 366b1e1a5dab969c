//! Helpers shared by the integration tests of Janus (see `tests/`).

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;

/// `GET path` on `address` with a real HTTP/1.1 client: the status and the body.
///
/// # Panics
///
/// If the connection or the exchange fails: the tests want to know.
pub async fn http_get(address: SocketAddr, path: &str) -> (StatusCode, String) {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let request = Request::get(path)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `n` milliseconds.
#[must_use]
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` seconds.
#[must_use]
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Lets the runtime run until `condition` holds: every ready task runs
/// between two checks, and the paused clock does not move.
///
/// # Panics
///
/// If it does not hold after a thousand turns: `what` never happened.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1_000 {
        if condition() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}
