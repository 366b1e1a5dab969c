//! `/metrics` and `/status` of a tree of `n` idle services: how long a
//! request takes, and how much memory answering it needs at its peak.

use std::time::Instant;

use janus::adapters::service_fn;
use janus::http::StatusServer;
use janus::metrics::JanusMetrics;
use janus::tree::{StartOrder, SupervisorSpec};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Where the measured server listens (loopback only).
const ADDRESS: ([u8; 4], u16) = ([127, 0, 0, 1], 39_898);

/// Peak resident memory of this process so far, in bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// One `GET path` over a fresh connection: the body's length.
async fn get(path: &str) -> anyhow::Result<usize> {
    let mut stream = tokio::net::TcpStream::connect(std::net::SocketAddr::from(ADDRESS)).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let head = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no response head"))?;
    anyhow::ensure!(
        response.starts_with(b"HTTP/1.1 200"),
        "{path}: {}",
        String::from_utf8_lossy(&response[..head])
    );
    Ok(response.len() - head - 4)
}

/// Prints, for `/metrics` and `/status`: the body's size, the time of
/// each of `reps` requests, and the peak memory growth of the first.
pub(crate) async fn run(n: usize, reps: usize) -> anyhow::Result<()> {
    let mut spec = SupervisorSpec::new("bench")
        .with_start_order(StartOrder::Concurrent)
        .child(StatusServer::new().with_address(ADDRESS));
    for i in 0..n {
        spec = spec.child(service_fn(format!("s{i}"), |cancel| async move {
            cancel.cancelled().await;
            Ok(())
        }));
    }
    // A registry of its own: the series are this tree's alone.
    let tree = spec.start_with_metrics(JanusMetrics::new()).await?;
    // Every service runs before the first scrape.
    while tree.snapshots().len() < n + 1 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut retries = 0;
    while get("/healthz").await.is_err() && retries < 500 {
        retries += 1;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for path in ["/metrics", "/status"] {
        let before = peak_rss();
        let mut times = Vec::new();
        let mut size = 0;
        let mut peak = 0;
        for rep in 0..reps {
            let started = Instant::now();
            size = get(path).await?;
            times.push(started.elapsed().as_secs_f64() * 1e3);
            if rep == 0 {
                peak = peak_rss().saturating_sub(before);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| {path} | {n} | {:.1} MB | {:.0} ms | {:.0} ms | {:.0} MB |",
            size as f64 / 1e6,
            times[times.len() / 2],
            times[times.len() - 1],
            peak as f64 / 1e6,
        );
    }
    tree.shutdown();
    tree.wait().await?;
    Ok(())
}
