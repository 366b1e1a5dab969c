//! The HTTP status endpoint (feature `http`, on by default), itself a
//! supervised service.
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text exposition of the tree's metrics, and of any registry handed in ([`StatusServer::with_registry`], feature `prometheus`) |
//! | `GET /healthz` | `200` while the root supervisor is alive (running, degraded or shutting down); `503` once it has failed or stopped |
//! | `GET /readyz` | `200` when the root supervises and every service that gates readiness (by default the critical ones) is running and ready, or within the readiness grace; else `503` with a JSON body naming what is not; a degraded tree names the children given up on |
//! | `GET /status` | JSON: the root's health, the children given up on, and the lifecycle snapshot of every service of the tree, with its path and spec (kind, restart policy, shutdown timeout, criticality) |
//! | anything else | `404`; `405` (with `Allow: GET, HEAD`) for other methods |
//!
//! Bound to `127.0.0.1:9898` unless told otherwise. Requests are parsed by
//! hyper; a malformed one gets `400` and its connection is closed, an
//! oversized header block is refused, a slow one times out, a client that
//! stops reading its response is cut off after a write timeout, and at most
//! [`DEFAULT_MAX_CONNECTIONS`] connections are served at once (the others
//! wait to be accepted): none of it disturbs the process. Answers are
//! computed on tokio's blocking pool, so that walking and encoding a tree of
//! a hundred thousand services never holds a runtime worker. Put the server
//! in the tree it reports on:
//!
//! ```no_run
//! use janus::http::StatusServer;
//! # use janus::prelude::*;
//! # #[janus::service(every = "1s")] async fn feed() -> janus::Result<()> { Ok(()) }
//!
//! # async fn run() -> Result<(), janus::tree::SupervisorError> {
//! janus::supervisor! {
//!     name: "desk",
//!     children: [StatusServer::new().with_address(([127, 0, 0, 1], 9898)), feed()],
//! }
//! .run_until_shutdown()
//! .await
//! # }
//! ```

use std::convert::Infallible;
use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::service::{JanusService, RestartPolicy};
use crate::tree::{Health, SupervisorHandle};
use async_trait::async_trait;

/// The default address: loopback only.
pub const DEFAULT_ADDRESS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9898);

/// Connections served at once, unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// How long a response may make no progress (its client not reading)
/// before its connection is closed, unless told otherwise.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Request heads larger than this are refused.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// A client gets this long to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the tree to report on comes from.
#[derive(Clone, Debug)]
enum Target {
    /// The tree the server runs in.
    Enclosing,
    Handle(SupervisorHandle),
}

/// Where the server is in binding its address.
#[derive(Clone, Debug)]
enum Binding {
    Pending,
    Bound(SocketAddr),
    Failed(std::io::ErrorKind, String),
}

/// The status endpoint, as a service to supervise.
#[derive(Clone, Debug)]
#[must_use]
pub struct StatusServer {
    address: SocketAddr,
    target: Target,
    registries: Vec<prometheus::Registry>,
    max_connections: usize,
    write_timeout: Duration,
    bound: Arc<watch::Sender<Binding>>,
}

impl Default for StatusServer {
    fn default() -> Self {
        Self::new()
    }
}

impl StatusServer {
    /// Reports on the tree it runs in; binds [`DEFAULT_ADDRESS`].
    pub fn new() -> Self {
        Self {
            address: DEFAULT_ADDRESS,
            target: Target::Enclosing,
            registries: Vec::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            bound: Arc::new(watch::Sender::new(Binding::Pending)),
        }
    }

    /// Reports on the supervisor behind `handle` (for a server that runs
    /// outside that tree, or under a [`JanusSupervisor`](crate::supervisor::JanusSupervisor)).
    pub fn for_handle(handle: SupervisorHandle) -> Self {
        Self {
            target: Target::Handle(handle),
            ..Self::new()
        }
    }

    /// Listens on `address` instead of [`DEFAULT_ADDRESS`] (port 0: any
    /// free port; see [`bound_address`](Self::bound_address)).
    pub fn with_address(mut self, address: impl Into<SocketAddr>) -> Self {
        self.address = address.into();
        self
    }

    /// Also exposes `registry` on `/metrics` (your own metrics, beside
    /// the tree's). Its type is the `prometheus` crate's, of the version
    /// Janus depends on (see [`crate::metrics`]).
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub fn with_registry(mut self, registry: prometheus::Registry) -> Self {
        self.registries.push(registry);
        self
    }

    /// Serves at most `max` connections at once (at least 1; default
    /// [`DEFAULT_MAX_CONNECTIONS`]); further clients wait to be accepted.
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Closes a connection whose response has made no progress for
    /// `timeout` (default [`DEFAULT_WRITE_TIMEOUT`]): its client stopped
    /// reading.
    pub fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// The address the server listens on, once it does.
    ///
    /// # Errors
    ///
    /// Why the server could not bind its address, once it has tried (it
    /// runs again by its restart policy, and may bind later).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only watches.
    pub async fn bound_address(&self) -> std::io::Result<SocketAddr> {
        let mut bound = self.bound.subscribe();
        let binding = match bound.wait_for(|b| !matches!(b, Binding::Pending)).await {
            Ok(binding) => binding.clone(),
            Err(_) => Binding::Pending,
        };
        match binding {
            Binding::Bound(address) => Ok(address),
            Binding::Failed(kind, message) => Err(std::io::Error::new(kind, message)),
            Binding::Pending => Err(std::io::Error::other("the status server is gone")),
        }
    }
}

#[async_trait]
impl JanusService for StatusServer {
    fn name(&self) -> &str {
        "status-http"
    }

    fn restart_policy(&self) -> RestartPolicy {
        RestartPolicy::Always
    }

    async fn run(&self, cancel: CancellationToken) -> anyhow::Result<()> {
        let tree = match &self.target {
            Target::Handle(handle) => handle.clone(),
            Target::Enclosing => crate::context::root().ok_or_else(|| {
                anyhow::anyhow!("the status server runs outside a supervision tree; use StatusServer::for_handle")
            })?,
        };
        let listener = match TcpListener::bind(self.address).await {
            Ok(listener) => listener,
            Err(error) => {
                let message = format!(
                    "cannot bind the status endpoint to {}: {error}",
                    self.address
                );
                self.bound
                    .send_replace(Binding::Failed(error.kind(), message.clone()));
                anyhow::bail!(message);
            }
        };
        let address = listener.local_addr()?;
        self.bound.send_replace(Binding::Bound(address));
        tracing::info!(%address, "status endpoint listening");
        let state = Arc::new(State {
            tree,
            registries: self.registries.clone(),
        });
        let connections = TaskTracker::new();
        let limit = Arc::new(Semaphore::new(self.max_connections));
        loop {
            // A connection is accepted only when it can be served.
            let permit = tokio::select! {
                () = cancel.cancelled() => break,
                permit = limit.clone().acquire_owned() => permit?,
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let stream = WriteTimeout::new(stream, self.write_timeout);
                        connections.spawn(serve(stream, state.clone(), cancel.clone(), permit));
                    }
                    Err(error) => {
                        // Out of file descriptors, say: back off a little.
                        tracing::warn!(%error, "status endpoint: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        connections.close();
        connections.wait().await;
        Ok(())
    }
}

struct State {
    tree: SupervisorHandle,
    registries: Vec<prometheus::Registry>,
}

async fn serve(
    stream: WriteTimeout<TcpStream>,
    state: Arc<State>,
    cancel: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let state = state.clone();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        async move {
            // Walking and encoding a large tree takes a while: never on a
            // runtime worker.
            let response = tokio::task::spawn_blocking(move || respond(&state, &method, &path))
                .await
                .unwrap_or_else(|error| {
                    reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        format!("{error}\n"),
                    )
                });
            Ok::<_, Infallible>(response)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "status endpoint: connection ended with an error");
            }
        }
        () = cancel.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), connection).await;
        }
    }
}

/// A stream whose writes fail once they have made no progress for a while:
/// a client that stops reading cannot hold its connection, and the
/// response's memory, forever.
struct WriteTimeout<S> {
    inner: S,
    timeout: Duration,
    /// Running while a write waits.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteTimeout<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// What a write, flush or shutdown of the inner stream gave: progress
    /// resets the clock; no progress for the timeout is an error.
    fn progress<T>(
        &mut self,
        poll: Poll<std::io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let timeout = self.timeout;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress(poll, cx)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(poll, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.progress(poll, cx)
    }
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// `value` as a JSON answer, encoded straight into the body.
fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => reply(status, "application/json", body),
        Err(error) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("{error}\n"),
        ),
    }
}

/// The children given up on, by path (a degraded tree's).
fn given_up(health: &Health) -> &[String] {
    match health {
        Health::Degraded { given_up } => given_up,
        _ => &[],
    }
}

/// The body of `/status`.
#[derive(serde::Serialize)]
struct Status<'a> {
    supervisor: &'a str,
    status: &'static str,
    given_up: &'a [String],
    services: Services<'a>,
}

/// Every service of the tree, each snapshot encoded as the walk reaches
/// it: a million services are one answer, not a million snapshots held
/// beside it (`BENCHMARKS.md`).
struct Services<'a>(&'a SupervisorHandle);

impl serde::Serialize for Services<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq as _;
        let mut seq = serializer.serialize_seq(None)?;
        let mut failed = None;
        self.0.each_snapshot(&mut |snapshot| {
            if failed.is_none()
                && let Err(error) = seq.serialize_element(snapshot)
            {
                failed = Some(error);
            }
        });
        match failed {
            Some(error) => Err(error),
            None => seq.end(),
        }
    }
}

/// The answer to `method path`, computed on a blocking thread.
fn respond(state: &State, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut response = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed\n",
        );
        response.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return response;
    }
    let tree = &state.tree;
    match path {
        "/metrics" => {
            let mut body = tree.prometheus().encode();
            for registry in &state.registries {
                body.push_str(&crate::metrics::encode_families(&registry.gather()));
            }
            reply(StatusCode::OK, prometheus::TEXT_FORMAT, body)
        }
        "/healthz" => {
            let health = tree.health();
            let status = match health {
                Health::Running | Health::Degraded { .. } | Health::ShuttingDown => StatusCode::OK,
                Health::Stopped | Health::Failed(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            let error = match &health {
                Health::Failed(error) => Some(error.to_string()),
                _ => None,
            };
            json(
                status,
                &serde_json::json!({ "status": health.as_str(), "error": error }),
            )
        }
        "/readyz" => {
            let health = tree.health();
            let not_ready: Vec<serde_json::Value> = tree
                .not_ready()
                .into_iter()
                .map(|s| {
                    serde_json::json!({
                        "path": s.path,
                        "phase": s.phase,
                        "last_error": s.last_error,
                        "termination_reason": s.termination_reason,
                    })
                })
                .collect();
            let ready = health.is_supervising() && not_ready.is_empty();
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json(
                status,
                &serde_json::json!({
                    "ready": ready,
                    "status": health.as_str(),
                    "not_ready": not_ready,
                    "given_up": given_up(&health),
                }),
            )
        }
        "/status" => {
            let health = tree.health();
            json(
                StatusCode::OK,
                &Status {
                    supervisor: tree.path(),
                    status: health.as_str(),
                    given_up: given_up(&health),
                    services: Services(tree),
                },
            )
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}
