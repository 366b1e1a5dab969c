//! The HTTP status endpoint (feature `http`, on by default), itself a
//! supervised service.
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text exposition of the tree's registry, and any registry handed in |
//! | `GET /healthz` | `200` while the root supervisor is alive (running or shutting down); `503` once it has failed or stopped |
//! | `GET /readyz` | `200` when the root runs and every critical service is running and ready; else `503` with a JSON body naming what is not |
//! | `GET /status` | JSON: the root's health and the lifecycle snapshot of every service of the tree, with paths |
//! | anything else | `404` (`405` for other methods) |
//!
//! Bound to `127.0.0.1:9898` unless told otherwise. Requests are parsed by
//! hyper; a malformed one gets `400` and its connection is closed, an
//! oversized header block is refused, a slow one times out: none of it
//! disturbs the process. Put the server in the tree it reports on:
//!
//! ```no_run
//! use janus::http::StatusServer;
//! # use janus::prelude::*;
//! # #[janus::service(every = "1s")] async fn feed() -> janus::Result<()> { Ok(()) }
//!
//! # async fn run() -> Result<(), janus::tree::SupervisorError> {
//! janus::supervisor! {
//!     name: "desk",
//!     children: [StatusServer::new().bind(([127, 0, 0, 1], 9898)), feed()],
//! }
//! .run_until_shutdown()
//! .await
//! # }
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::service::{JanusService, RestartPolicy, async_trait};
use crate::tree::{Health, SupervisorHandle};

/// The default address: loopback only.
pub const DEFAULT_ADDRESS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9898);

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

/// The status endpoint, as a service to supervise.
#[derive(Clone, Debug)]
#[must_use]
pub struct StatusServer {
    address: SocketAddr,
    target: Target,
    registries: Vec<prometheus::Registry>,
    bound: Arc<watch::Sender<Option<SocketAddr>>>,
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
            bound: Arc::new(watch::Sender::new(None)),
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

    /// Binds `address` (port 0: any free port; see [`bound_address`](Self::bound_address)).
    pub fn bind(mut self, address: impl Into<SocketAddr>) -> Self {
        self.address = address.into();
        self
    }

    /// Also exposes `registry` on `/metrics`.
    pub fn with_registry(mut self, registry: prometheus::Registry) -> Self {
        self.registries.push(registry);
        self
    }

    /// The address the server listens on, once it does.
    pub async fn bound_address(&self) -> SocketAddr {
        let mut bound = self.bound.subscribe();
        match bound.wait_for(Option::is_some).await {
            Ok(address) => address.unwrap_or(self.address),
            Err(_) => self.address,
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
        let listener = TcpListener::bind(self.address).await.map_err(|e| {
            anyhow::anyhow!("cannot bind the status endpoint to {}: {e}", self.address)
        })?;
        let address = listener.local_addr()?;
        self.bound.send_replace(Some(address));
        tracing::info!(%address, "status endpoint listening");
        let state = Arc::new(State {
            tree,
            registries: self.registries.clone(),
        });
        let connections = TaskTracker::new();
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(serve(stream, state.clone(), cancel.clone()));
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

async fn serve(stream: TcpStream, state: Arc<State>, cancel: CancellationToken) {
    let service = hyper::service::service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(respond(&state, &request)) }
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

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    reply(status, "application/json", value.to_string())
}

/// The children given up on, by path (a degraded tree's).
fn given_up(health: &Health) -> &[String] {
    match health {
        Health::Degraded { given_up } => given_up,
        _ => &[],
    }
}

fn respond(state: &State, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "method not allowed\n",
        );
    }
    let tree = &state.tree;
    match request.uri().path() {
        "/metrics" => {
            let mut families = tree.prometheus().registry().gather();
            for registry in &state.registries {
                families.extend(registry.gather());
            }
            let mut body = Vec::new();
            if let Err(error) =
                prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &families, &mut body)
            {
                return reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    format!("{error}\n"),
                );
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
                &serde_json::json!({
                    "supervisor": tree.path(),
                    "status": health.as_str(),
                    "given_up": given_up(&health),
                    "services": tree.snapshots(),
                }),
            )
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}
