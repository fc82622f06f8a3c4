//! What the typed launchers refuse to compile, with the messages users see (`tests/ui/*.stderr`).
//! `TRYBUILD=overwrite cargo test --test compiletest` rewrites the snapshots after a deliberate change.

#[test]
fn launchers() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass_typed_launches.rs");
    t.compile_fail("tests/ui/fail_*.rs");
}
