//! Micro-benchmarks of the engine's pure parts: the backoff decision and the
//! lifecycle transitions a restart goes through. `cargo bench -p janus`.

use std::hint::black_box;
use std::time::Duration;

use janus::supervisor::{BackoffConfig, BackoffState, ServiceLifecycle, ServiceLifecycleSnapshot};

fn main() {
    divan::main();
}

/// One restart decision with the default breaker (10 in 600 s) and jitter.
#[divan::bench]
fn next_backoff_with_breaker(bencher: divan::Bencher<'_, '_>) {
    let mut state = BackoffState::new(
        BackoffConfig::new(Duration::from_millis(100), Duration::from_secs(60))
            .with_circuit_breaker(u32::MAX, Duration::from_secs(600)),
    );
    bencher.bench_local(|| black_box(state.next_backoff()));
}

/// The zero-backoff decision: no breaker, no jitter, no timer.
#[divan::bench]
fn next_backoff_immediate(bencher: divan::Bencher<'_, '_>) {
    let mut state = BackoffState::new(BackoffConfig::immediate());
    bencher.bench_local(|| black_box(state.next_backoff()));
}

/// `Running → BackingOff → Starting → Running`: the transitions of a restart.
#[divan::bench]
fn restart_transitions(bencher: divan::Bencher<'_, '_>) {
    let mut lc = ServiceLifecycle::new("svc");
    lc.transition_to_running().expect("start");
    bencher.bench_local(|| {
        lc.record_failure("boom");
        lc.transition_to_backing_off("boom", Duration::ZERO)
            .expect("back off");
        lc.transition_to_restarting().expect("restart");
        lc.transition_to_running().expect("run");
    });
}

/// A snapshot of one service, as `/status` takes it.
#[divan::bench]
fn snapshot(bencher: divan::Bencher<'_, '_>) {
    let mut lc = ServiceLifecycle::new("trading-desk/risk/limits");
    lc.transition_to_running().expect("start");
    bencher.bench_local(|| black_box(ServiceLifecycleSnapshot::from(&lc)));
}
