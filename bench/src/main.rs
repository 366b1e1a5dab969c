//! Janus against the floor (raw tokio) and the peers a user would pick
//! instead. See `BENCHMARKS.md` at the repository root.
//!
//! ```text
//! cargo run --release -- all [--reps 9] [--systems janus,tgs,…] [--workloads w1,w3]
//! cargo run --release -- one <system> <workload> <n>      # one measurement, one process
//! cargo run --release -- icount [--n 4000] [--systems janus,ractor]   # instructions per operation
//! cargo run --release -- scrape [100000] [5]   # /metrics and /status of a tree of n services
//! ```
//!
//! The driver runs every measurement in a fresh process, interleaves the
//! systems within each repetition, and prints a markdown table of medians
//! with each system's ratio to raw tokio (the median of the per-repetition
//! ratios).

mod janus_impl;
mod kameo_impl;
mod ractor_impl;
mod raw;
mod scrape;
mod task_supervisor_impl;
mod tgs;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

/// One measurement: the headline value, and latency percentiles for the
/// restart workloads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measurement {
    pub(crate) value: f64,
    pub(crate) p50: Option<Duration>,
    pub(crate) p99: Option<Duration>,
}

impl Measurement {
    pub(crate) fn value(value: f64) -> Self {
        Self {
            value,
            p50: None,
            p99: None,
        }
    }

    pub(crate) fn churn(restarts: usize, elapsed: Duration, mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        let pick = |q: f64| {
            latencies
                .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
                .copied()
        };
        Self {
            value: restarts as f64 / elapsed.as_secs_f64(),
            p50: pick(0.50),
            p99: pick(0.99),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Workload {
    /// Start N idle services; time until all report running.
    Spawn,
    /// With N running, graceful shutdown until the supervisor returns.
    Shutdown,
    /// Resident memory growth per idle service.
    Memory,
    /// One service failing at once, zero backoff: restarts/s and latency.
    RestartChurn,
    /// The same with a panic.
    PanicChurn,
    /// A 3-level tree of 10k services: one_for_all restart of a 100-child group.
    Tree,
    /// The same, its groups stopping their members all at once
    /// (`ShutdownOrder::Concurrent`) as the baseline does, instead of in
    /// reverse order one at a time (OTP's order, the default).
    TreeConcurrent,
    /// W3 with a `#[janus::service]`-generated service.
    MacroChurn,
}

impl Workload {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "w1" | "spawn" => Self::Spawn,
            "w2" | "shutdown" => Self::Shutdown,
            "w4" | "memory" => Self::Memory,
            "w3" | "restart" => Self::RestartChurn,
            "w5" | "panic" => Self::PanicChurn,
            "w6" | "tree" => Self::Tree,
            "w6c" | "tree-concurrent" => Self::TreeConcurrent,
            "w3m" | "macro" => Self::MacroChurn,
            _ => return None,
        })
    }

    fn id(self) -> &'static str {
        match self {
            Self::Spawn => "w1",
            Self::Shutdown => "w2",
            Self::Memory => "w4",
            Self::RestartChurn => "w3",
            Self::PanicChurn => "w5",
            Self::Tree => "w6",
            Self::TreeConcurrent => "w6c",
            Self::MacroChurn => "w3m",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Spawn => "W1 spawn (ms until all running)",
            Self::Shutdown => "W2 shutdown (ms until drained)",
            Self::Memory => "W4 memory (bytes RSS per idle service)",
            Self::RestartChurn => "W3 restart churn (restarts/s)",
            Self::PanicChurn => "W5 panic churn (restarts/s)",
            Self::Tree => "W6 tree: one_for_all restart of a 100-child group (ms)",
            Self::TreeConcurrent => "W6c the same, the group stopping at once (ms)",
            Self::MacroChurn => "W3 with a #[janus::service] service (restarts/s)",
        }
    }

    /// Restarts per second: higher is better, so ratios are inverted.
    fn higher_is_better(self) -> bool {
        matches!(
            self,
            Self::RestartChurn | Self::PanicChurn | Self::MacroChurn
        )
    }

    fn sizes(self) -> &'static [usize] {
        match self {
            Self::Spawn | Self::Shutdown => &[1_000, 10_000, 100_000, 1_000_000],
            Self::Memory => &[100_000, 1_000_000],
            Self::RestartChurn | Self::PanicChurn | Self::MacroChurn => &[100_000],
            Self::Tree | Self::TreeConcurrent => &[10_000],
        }
    }
}

const ALL_WORKLOADS: [Workload; 8] = [
    Workload::Spawn,
    Workload::Shutdown,
    Workload::Memory,
    Workload::RestartChurn,
    Workload::PanicChurn,
    Workload::Tree,
    Workload::TreeConcurrent,
    Workload::MacroChurn,
];

/// How the measurement processes run tokio: `multi-thread` (the default,
/// two workers on this machine) or `current-thread`, where cross-thread
/// wake-ups do not dominate.
const RUNTIME_VAR: &str = "JANUS_BENCH_RUNTIME";

/// The flavor `all --runtime` chose, passed to each measurement process.
static RUNTIME: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn set_runtime(flavor: &str) {
    let _ = RUNTIME.set(flavor.to_owned());
}

fn runtime_flavor() -> String {
    RUNTIME
        .get()
        .cloned()
        .unwrap_or_else(|| std::env::var(RUNTIME_VAR).unwrap_or_else(|_| "multi-thread".to_owned()))
}

/// The error every system's failing service returns, made the same way
/// at the same cost (an `anyhow::Error`, converted where a system wants
/// its own type).
pub(crate) fn failure() -> anyhow::Error {
    anyhow::anyhow!("churn")
}

/// Runs one measurement in this process.
fn run_one(system: &str, workload: Workload, n: usize) -> anyhow::Result<Measurement> {
    let runtime = match runtime_flavor().as_str() {
        "current-thread" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    if matches!(workload, Workload::PanicChurn) {
        std::panic::set_hook(Box::new(|_| {}));
    }
    runtime.block_on(async move {
        match system {
            "raw" => raw::run(workload, n).await,
            "janus" => janus_impl::run(workload, n).await,
            "tgs" => tgs::run(workload, n).await,
            "ractor" => ractor_impl::run(workload, n).await,
            "kameo" => kameo_impl::run(workload, n).await,
            "task-supervisor" => task_supervisor_impl::run(workload, n).await,
            other => anyhow::bail!("unknown system {other}"),
        }
    })
}

fn systems_for(workload: Workload) -> &'static [&'static str] {
    match workload {
        Workload::MacroChurn => &["janus", "janus-macro"],
        Workload::Tree | Workload::TreeConcurrent => &["raw", "janus"],
        _ => &["raw", "janus", "tgs", "ractor", "kameo", "task-supervisor"],
    }
}

/// From this many services on, only raw tokio and Janus are measured.
const LARGE: usize = 1_000_000;

/// Runs `one` in a fresh process and parses its answer.
fn measure_in_child(system: &str, workload: Workload, n: usize) -> anyhow::Result<Measurement> {
    let (system, workload_arg) = match (system, workload) {
        ("janus", Workload::MacroChurn) => ("janus", "w3"),
        ("janus-macro", Workload::MacroChurn) => ("janus", "w3m"),
        (system, workload) => (system, workload.id()),
    };
    let output = Command::new(std::env::current_exe()?)
        .args(["one", system, workload_arg, &n.to_string()])
        // An `anyhow::Error` made while RUST_BACKTRACE=1 (as this machine,
        // like many hosts, exports) captures a backtrace: tens of µs, more
        // than a restart. Errors cost the same for every system: none
        // captures one.
        .env("RUST_LIB_BACKTRACE", "0")
        .env(RUNTIME_VAR, runtime_flavor())
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "{system} {workload_arg} {n} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout)?;
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| anyhow::anyhow!("no RESULT line from {system} {workload_arg}"))?;
    let mut fields = line.split_whitespace();
    let value: f64 = fields.next().unwrap_or("nan").parse()?;
    let nanos = |f: Option<&str>| {
        f.and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_nanos)
    };
    Ok(Measurement {
        value,
        p50: nanos(fields.next()),
        p99: nanos(fields.next()),
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn drive(args: &[String]) -> anyhow::Result<()> {
    let mut reps = 9;
    let mut only: Option<Vec<String>> = None;
    let mut workloads: Vec<Workload> = ALL_WORKLOADS.to_vec();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--reps" => reps = iter.next().map_or(Ok(9), |v| v.parse())?,
            // Read by the measurement processes, which inherit it.
            "--runtime" => match iter.next().map(String::as_str) {
                Some(flavor @ ("multi-thread" | "current-thread")) => set_runtime(flavor),
                other => {
                    anyhow::bail!("--runtime takes multi-thread or current-thread, not {other:?}")
                }
            },
            // The baseline is always measured: the ratios need it.
            "--systems" => {
                only = iter
                    .next()
                    .map(|v| v.split(',').map(str::to_owned).collect())
            }
            "--workloads" => {
                workloads = iter
                    .next()
                    .map(|v| v.split(',').filter_map(Workload::parse).collect())
                    .unwrap_or_default();
            }
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    // (workload, n, system) → per-repetition measurements.
    let mut results: BTreeMap<(Workload, usize, &str), Vec<Measurement>> = BTreeMap::new();
    for rep in 0..reps {
        for &workload in &workloads {
            for &n in workload.sizes() {
                let systems = systems_for(workload);
                for (i, &system) in systems.iter().enumerate() {
                    let wanted = only
                        .as_ref()
                        .is_none_or(|only| only.iter().any(|s| s == system));
                    // A million services: Janus against the floor only (the
                    // peers need 7-8 GB there, and minutes).
                    if i > 0 && (!wanted || (n >= LARGE && system != "janus")) {
                        continue;
                    }
                    let m = measure_in_child(system, workload, n)?;
                    eprintln!("rep {rep} {} n={n} {system}: {:.1}", workload.id(), m.value);
                    results.entry((workload, n, system)).or_default().push(m);
                }
            }
        }
    }
    println!("| workload | n | system | median | ratio to baseline | p50 latency | p99 latency |");
    println!("|---|---:|---|---:|---:|---:|---:|");
    for &workload in &workloads {
        for &n in workload.sizes() {
            let systems = systems_for(workload);
            let baseline = systems[0];
            for &system in systems {
                let Some(runs) = results.get(&(workload, n, system)) else {
                    continue;
                };
                let base = &results[&(workload, n, baseline)];
                let mut values: Vec<f64> = runs.iter().map(|m| m.value).collect();
                let mut ratios: Vec<f64> = runs
                    .iter()
                    .zip(base)
                    .map(|(m, b)| {
                        if workload.higher_is_better() {
                            b.value / m.value
                        } else {
                            m.value / b.value
                        }
                    })
                    .collect();
                let mut p50s: Vec<f64> = runs
                    .iter()
                    .filter_map(|m| m.p50)
                    .map(|d| d.as_secs_f64() * 1e6)
                    .collect();
                let mut p99s: Vec<f64> = runs
                    .iter()
                    .filter_map(|m| m.p99)
                    .map(|d| d.as_secs_f64() * 1e6)
                    .collect();
                let latency = |v: &mut Vec<f64>| {
                    if v.is_empty() {
                        "".to_owned()
                    } else {
                        format!("{:.1} µs", median(v))
                    }
                };
                println!(
                    "| {} | {n} | {system} | {:.1} | {:.2}× | {} | {} |",
                    workload.title(),
                    median(&mut values),
                    median(&mut ratios),
                    latency(&mut p50s),
                    latency(&mut p99s),
                );
            }
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("one") => {
            let [_, system, workload, n] = args.as_slice() else {
                anyhow::bail!("usage: janus-bench one <system> <workload> <n>");
            };
            let workload = Workload::parse(workload)
                .ok_or_else(|| anyhow::anyhow!("unknown workload {workload}"))?;
            let m = run_one(system, workload, n.parse()?)?;
            let nanos = |d: Option<Duration>| d.map_or(String::new(), |d| d.as_nanos().to_string());
            println!("RESULT {} {} {}", m.value, nanos(m.p50), nanos(m.p99));
            Ok(())
        }
        Some("all") => drive(&args[1..]),
        Some("icount") => icount(&args[1..]),
        Some("scrape") => {
            let n = args.get(1).map_or(Ok(100_000), |v| v.parse())?;
            let reps = args.get(2).map_or(Ok(5), |v| v.parse())?;
            tokio::runtime::Runtime::new()?.block_on(scrape::run(n, reps))
        }
        _ => anyhow::bail!(
            "usage: janus-bench all [--reps 9] [--systems janus,tgs] [--workloads w1,w3] [--runtime current-thread] | one <system> <workload> <n> | icount [--n 4000] [--systems janus,tgs] | scrape [n] [reps]"
        ),
    }
}

/// Set in a measurement process that must end as soon as its fleet runs:
/// the instruction count of spawning alone.
const EXIT_AFTER_SPAWN_VAR: &str = "JANUS_BENCH_EXIT_AFTER_SPAWN";

/// The operations `icount` counts, each from the workload that performs it
/// `n` times: `(name, workload, exit after spawn)`.
const COUNTED: [(&str, Workload, bool); 4] = [
    ("spawn a service (until it runs)", Workload::Spawn, true),
    (
        "stop a service (graceful shutdown)",
        Workload::Shutdown,
        false,
    ),
    ("restart after an error", Workload::RestartChurn, false),
    ("restart after a panic", Workload::PanicChurn, false),
];

/// Instructions executed by one measurement process under callgrind, on
/// the current-thread runtime (one thread: the count does not depend on
/// how two workers happened to meet).
fn instructions(
    system: &str,
    workload: Workload,
    n: usize,
    exit_after_spawn: bool,
) -> anyhow::Result<u64> {
    let mut command = Command::new("valgrind");
    command
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null", "--"])
        .arg(std::env::current_exe()?)
        .args(["one", system, workload.id(), &n.to_string()])
        .env("RUST_LIB_BACKTRACE", "0")
        .env(RUNTIME_VAR, "current-thread");
    if exit_after_spawn {
        command.env(EXIT_AFTER_SPAWN_VAR, "1");
    }
    let output = command.output()?;
    anyhow::ensure!(
        output.status.success(),
        "valgrind {system} {} {n} failed (is valgrind installed?): {}",
        workload.id(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr
        .lines()
        .find_map(|line| {
            line.split_once("Collected :")
                .map(|(_, n)| n.trim().parse())
        })
        .ok_or_else(|| anyhow::anyhow!("no instruction count from callgrind"))?
        .map_err(Into::into)
}

/// Instructions per operation: the difference between runs of `2n` and
/// `n` operations, divided by `n`, so that what a process does once
/// (loading, the runtime, the supervisor) cancels out.
fn icount(args: &[String]) -> anyhow::Result<()> {
    let mut n = 4_000;
    let mut systems = vec!["raw".to_owned(), "janus".to_owned()];
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--n" => n = iter.next().map_or(Ok(n), |v| v.parse())?,
            "--systems" => {
                let more = iter.next().map(String::as_str).unwrap_or_default();
                systems = std::iter::once("raw")
                    .chain(more.split(',').filter(|s| *s != "raw"))
                    .map(str::to_owned)
                    .collect();
            }
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    let per_op = |system: &str, workload: Workload, exit: bool| -> anyhow::Result<f64> {
        let once = instructions(system, workload, n, exit)?;
        let twice = instructions(system, workload, 2 * n, exit)?;
        Ok(twice.saturating_sub(once) as f64 / n as f64)
    };
    let mut header = String::from("| operation |");
    let mut rule = String::from("|---|");
    for system in &systems {
        header.push_str(&format!(" {system} |"));
        rule.push_str("---:|");
        if system != "raw" {
            header.push_str(" ratio |");
            rule.push_str("---:|");
        }
    }
    println!("{header}\n{rule}");
    // Each system's spawn count, from the first row: a stop is a whole run
    // less its spawn.
    let mut spawns = BTreeMap::new();
    for (name, workload, exit) in COUNTED {
        let mut row = format!("| {name} |");
        let mut base = None;
        for system in &systems {
            let mut count = per_op(system, workload, exit)?;
            match workload {
                Workload::Spawn => {
                    spawns.insert(system.clone(), count);
                }
                Workload::Shutdown => count -= spawns.get(system).copied().unwrap_or_default(),
                _ => {}
            }
            eprintln!("{name}: {system} {count:.0}");
            row.push_str(&format!(" {count:.0} |"));
            match base {
                None => base = Some(count),
                Some(base) => row.push_str(&format!(" {:.2}× |", count / base)),
            }
        }
        println!("{row}");
    }
    Ok(())
}

/// Resident set size of this process, in bytes.
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// What a churning service records: when each run started and failed.
pub(crate) struct Churn {
    remaining: std::sync::atomic::AtomicUsize,
    starts: std::sync::Mutex<Vec<std::time::Instant>>,
    fails: std::sync::Mutex<Vec<std::time::Instant>>,
    pub(crate) done: tokio::sync::Notify,
    started_at: std::time::Instant,
}

impl Churn {
    pub(crate) fn new(restarts: usize) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            remaining: std::sync::atomic::AtomicUsize::new(restarts),
            starts: std::sync::Mutex::new(Vec::with_capacity(restarts + 1)),
            fails: std::sync::Mutex::new(Vec::with_capacity(restarts)),
            done: tokio::sync::Notify::new(),
            started_at: std::time::Instant::now(),
        })
    }

    /// Called at the start of a run: whether this run must fail (and it
    /// records the failure time), or the churn is over.
    pub(crate) fn run_should_fail(&self) -> bool {
        let now = std::time::Instant::now();
        self.starts.lock().expect("starts").push(now);
        let left = self.remaining.fetch_update(
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
            |r| r.checked_sub(1),
        );
        match left {
            Ok(_) => {
                self.fails
                    .lock()
                    .expect("fails")
                    .push(std::time::Instant::now());
                true
            }
            Err(_) => {
                self.done.notify_one();
                false
            }
        }
    }

    pub(crate) fn measurement(&self, restarts: usize) -> Measurement {
        let starts = self.starts.lock().expect("starts");
        let fails = self.fails.lock().expect("fails");
        let elapsed = starts.last().copied().unwrap_or(self.started_at) - self.started_at;
        let latencies = fails
            .iter()
            .zip(starts.iter().skip(1))
            .map(|(f, s)| s.duration_since(*f))
            .collect();
        Measurement::churn(restarts, elapsed, latencies)
    }
}

/// Counts services that report running, and wakes the waiter at `target`.
pub(crate) struct Running {
    count: std::sync::atomic::AtomicUsize,
    target: std::sync::atomic::AtomicUsize,
    pub(crate) all: tokio::sync::Notify,
}

impl Running {
    pub(crate) fn new(target: usize) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            count: std::sync::atomic::AtomicUsize::new(0),
            target: std::sync::atomic::AtomicUsize::new(target),
            all: tokio::sync::Notify::new(),
        })
    }

    pub(crate) fn report(&self) {
        let n = self.count.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1;
        if n == self.target.load(std::sync::atomic::Ordering::Acquire) {
            self.all.notify_one();
        }
    }

    /// Expects `more` further reports from now on.
    pub(crate) fn expect_more(&self, more: usize) {
        let now = self.count.load(std::sync::atomic::Ordering::Acquire);
        self.target
            .store(now + more, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn count(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// One run of W1, W2 and W4 (the workload picks which to report): `n` idle
/// services that report to `running` when they run and count themselves in
/// `cancelled` when they see cancellation.
pub(crate) struct Fleet {
    pub(crate) running: std::sync::Arc<Running>,
    pub(crate) cancelled: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    n: usize,
    rss_before: u64,
    spawn: Duration,
    memory: u64,
}

impl Fleet {
    /// Takes the memory baseline: before anything the services need.
    pub(crate) fn new(n: usize) -> Self {
        Self {
            running: Running::new(n),
            cancelled: std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            n,
            rss_before: rss_bytes(),
            spawn: Duration::ZERO,
            memory: 0,
        }
    }

    /// Waits until every service runs: the spawn time since `started`, and
    /// the memory grown since [`Fleet::new`]. Returns when the shutdown
    /// clock starts.
    pub(crate) async fn all_running(&mut self, started: std::time::Instant) -> std::time::Instant {
        self.running.all.notified().await;
        self.spawn = started.elapsed();
        if std::env::var_os(EXIT_AFTER_SPAWN_VAR).is_some() {
            println!("RESULT {}", self.spawn.as_secs_f64() * 1e3);
            std::process::exit(0);
        }
        self.memory = rss_bytes().saturating_sub(self.rss_before);
        std::time::Instant::now()
    }

    /// The measurement, once the shutdown that began at `stopping` is over;
    /// an error unless every service saw cancellation.
    pub(crate) fn measurement(
        &self,
        workload: Workload,
        stopping: std::time::Instant,
    ) -> anyhow::Result<Measurement> {
        let seen = self.cancelled.load(std::sync::atomic::Ordering::Relaxed);
        anyhow::ensure!(
            seen == self.n,
            "{seen} of {} services saw cancellation",
            self.n
        );
        Ok(self.unchecked(workload, stopping))
    }

    /// [`Fleet::measurement`] for a system whose stopped services are
    /// counted another way.
    pub(crate) fn unchecked(
        &self,
        workload: Workload,
        stopping: std::time::Instant,
    ) -> Measurement {
        let shutdown = stopping.elapsed();
        Measurement::value(match workload {
            Workload::Spawn => self.spawn.as_secs_f64() * 1e3,
            Workload::Shutdown => shutdown.as_secs_f64() * 1e3,
            _ => self.memory as f64 / self.n as f64,
        })
    }
}
