#!/usr/bin/env bash
# Compile-time cost of #[janus::service]: a crate with N services declared
# with the macro against the same N services written by hand (the
# "equivalent code" of the attribute's docs), both built in debug after
# their dependencies are built, 5 times each, interleaved. Prints the medians
# and their ratio.
set -euo pipefail
N=${N:-200}
REPS=${REPS:-5}
here=$(cd "$(dirname "$0")" && pwd)
work=$here/target/compile-time
rm -rf "$work" && mkdir -p "$work"

make_crate() {
  local name=$1
  mkdir -p "$work/$name/src"
  cat > "$work/$name/Cargo.toml" <<TOML
[package]
name = "$name"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
janus = { path = "$here/../janus", default-features = false }
tokio = { version = "1", features = ["time", "macros"] }
TOML
}

make_crate gen-macro
make_crate gen-hand
{
  echo "use std::sync::atomic::{AtomicU64, Ordering};"
  echo "use janus::prelude::*;"
  for i in $(seq 1 "$N"); do cat <<RS
#[janus::service(restart = "always", backoff(base = "100ms", max = "30s"), shutdown_timeout = "5s")]
pub struct Service$i { polls: AtomicU64 }

#[janus::service]
impl Service$i {
    #[step(every = "100ms")]
    async fn poll(&self) -> janus::Result<()> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
RS
  done
} > "$work/gen-macro/src/lib.rs"
{
  echo "use std::sync::atomic::{AtomicU64, Ordering};"
  echo "use std::time::Duration;"
  echo "use janus::prelude::*;"
  echo "use janus::supervisor::BackoffConfig;"
  for i in $(seq 1 "$N"); do cat <<RS
pub struct Service$i { polls: AtomicU64 }

impl Service$i {
    async fn poll(&self) -> janus::Result<()> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[janus::async_trait]
impl JanusService for Service$i {
    fn name(&self) -> &str { "service$i" }
    fn restart_policy(&self) -> RestartPolicy { RestartPolicy::Always }
    fn backoff_config(&self) -> Option<BackoffConfig> {
        Some(BackoffConfig::new(Duration::from_millis(100), Duration::from_secs(30)))
    }
    fn shutdown_timeout(&self) -> Option<Duration> { Some(Duration::from_secs(5)) }
    async fn run(&self, cancel: CancellationToken) -> janus::Result<()> {
        let mut interval = tokio::time::interval(Duration::from_millis(100));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = interval.tick() => {}
            }
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                stepped = self.poll() => stepped?,
            }
        }
    }
}
RS
  done
} > "$work/gen-hand/src/lib.rs"

export CARGO_TARGET_DIR=$work/target
for crate in gen-macro gen-hand; do
  (cd "$work/$crate" && cargo build -q)   # dependencies, once
done
declare -A times
for rep in $(seq 1 "$REPS"); do
  for crate in gen-macro gen-hand; do
    touch "$work/$crate/src/lib.rs"
    start=$(date +%s.%N)
    (cd "$work/$crate" && cargo build -q)
    end=$(date +%s.%N)
    times[$crate]+="$(echo "$end - $start" | bc) "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m=$(echo "${times[gen-macro]}" | median)
h=$(echo "${times[gen-hand]}" | median)
printf '| %d services | macro | %.2f s |\n| %d services | hand-written | %.2f s |\n| ratio | macro / hand | %.2f× |\n' \
  "$N" "$m" "$N" "$h" "$(echo "$m / $h" | bc -l)"
