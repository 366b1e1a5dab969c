//! Compile-time checks of the macros: every misuse is an error pointing at
//! the offending token (`trybuild/*/fail`), every accepted shape compiles and
//! runs (`trybuild/*/pass`).
//!
//! The `.stderr` snapshots are recorded with rustc 1.95 (another compiler
//! skips these tests rather than fail on wording). rustc's hints list the
//! `JanusService` types in scope, which depend on janus's features: this
//! crate always enables the same ones (`testing`, `systemd`, and the default
//! `http`), so the snapshots hold with or without `--all-features`.
//! Re-record with `TRYBUILD=overwrite cargo test --test trybuild` and read
//! the diff.

/// Runs the pass and fail cases of one macro.
fn cases(macro_name: &str) {
    let dir = format!("{}/../trybuild/{macro_name}", env!("CARGO_MANIFEST_DIR"));
    let t = trybuild::TestCases::new();
    t.pass(format!("{dir}/pass/*.rs"));
    t.compile_fail(format!("{dir}/fail/*.rs"));
}

#[rustversion::attr(
    not(stable(1.95)),
    ignore = "trybuild snapshots are recorded with rustc 1.95"
)]
#[test]
fn service_macro() {
    cases("service");
}

#[rustversion::attr(
    not(stable(1.95)),
    ignore = "trybuild snapshots are recorded with rustc 1.95"
)]
#[test]
fn supervisor_macro() {
    cases("supervisor");
}
