//! Compile-time checks of the macros: every misuse is an error pointing at
//! the offending token (`trybuild/*/fail`), every accepted shape compiles and
//! runs (`trybuild/*/pass`).
//!
//! The `.stderr` snapshots are recorded with rustc 1.95; another compiler
//! skips these tests rather than failing on wording it may phrase
//! differently. Re-record with `TRYBUILD=overwrite cargo test --test trybuild`
//! and read the diff.

fn cases(glob: &str) -> String {
    format!("{}/../trybuild/{glob}", env!("CARGO_MANIFEST_DIR"))
}

#[rustversion::attr(
    not(stable(1.95)),
    ignore = "trybuild snapshots are recorded with rustc 1.95"
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
#[test]
fn supervisor_macro() {
    let t = trybuild::TestCases::new();
    t.pass(cases("supervisor/pass/*.rs"));
    t.compile_fail(cases("supervisor/fail/*.rs"));
}
