//! Compile-time checks of the macros: every misuse is an error pointing at
//! the offending token (`trybuild/*/fail`), every accepted shape compiles and
//! runs (`trybuild/*/pass`).
//!
//! The `.stderr` snapshots are recorded with rustc 1.95 and
//! `--all-features` (rustc's hints list the `JanusService` types in scope,
//! which depend on the features); another compiler, or other features, skip
//! these tests rather than fail on wording. Re-record with
//! `TRYBUILD=overwrite cargo test --all-features --test trybuild` and read
//! the diff.

fn cases(glob: &str) -> String {
    format!("{}/../trybuild/{glob}", env!("CARGO_MANIFEST_DIR"))
}

#[rustversion::attr(
    not(stable(1.95)),
    ignore = "trybuild snapshots are recorded with rustc 1.95"
)]
#[cfg_attr(
    not(feature = "systemd"),
    ignore = "trybuild snapshots are recorded with --all-features"
)]
#[test]
fn service_macro() {
    let t = trybuild::TestCases::new();
    t.pass(cases("service/pass/*.rs"));
    t.compile_fail(cases("service/fail/*.rs"));
}

#[rustversion::attr(
    not(stable(1.95)),
    ignore = "trybuild snapshots are recorded with rustc 1.95"
)]
#[cfg_attr(
    not(feature = "systemd"),
    ignore = "trybuild snapshots are recorded with --all-features"
)]
#[test]
fn supervisor_macro() {
    let t = trybuild::TestCases::new();
    t.pass(cases("supervisor/pass/*.rs"));
    t.compile_fail(cases("supervisor/fail/*.rs"));
}
