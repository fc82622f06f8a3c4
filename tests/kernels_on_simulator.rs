//! Every kernel variant of each AMD target against its CPU reference, executed on this machine:
//! `rocmforge compile --arch T --emulate-on cpu`, then `rocmforge test-kernels --device sim` at
//! the quick sizes (random inputs, poisoned outputs, real and odd sizes). The wave32 and wave64
//! algorithms, the MFMA/WMMA fragment logic included, run here as they run on the H200 with
//! `--emulate-on sm_90`, so that CI executes them on every change. Without clang: skipped, with
//! the reason printed.

mod common;

use std::process::Command;

fn rocmforge(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rocmforge")).args(args).output().expect("the binary runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The `N passed, M failed` line's two counts.
fn counts(report: &str) -> Option<(usize, usize)> {
    let line = report.lines().find(|l| l.ends_with(" failed") && l.contains(" passed, "))?;
    let (passed, failed) = line.trim_end_matches(" failed").split_once(" passed, ")?;
    Some((passed.parse().ok()?, failed.parse().ok()?))
}

fn kernels_match_the_cpu_reference(arch: &str) {
    if !common::simulator_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rocmforge-sim-{arch}-{}", std::process::id()));
    let bundle = dir.join(format!("rocmforge-{arch}-on-cpu.rfkb"));
    let bundle = bundle.to_str().expect("a UTF-8 temp path");
    let (ok, log) = rocmforge(&["compile", "--arch", arch, "--emulate-on", "cpu", "-o", bundle]);
    assert!(ok, "{arch}: compile failed:\n{log}");
    let (ok, report) = rocmforge(&["test-kernels", "--device", "sim", "--bundle", bundle, "--sizes", "small"]);
    let _ = std::fs::remove_dir_all(&dir);
    let failures: Vec<&str> = report.lines().filter(|l| l.contains("FAIL")).collect();
    assert!(
        ok && failures.is_empty(),
        "{arch}: outputs differ from the CPU reference:\n{}\n{report}",
        failures.join("\n")
    );
    let (passed, failed) = counts(&report).unwrap_or_else(|| panic!("{arch}: no summary line in\n{report}"));
    // Every family's variants ran (355 outputs at these sizes when this was written).
    assert!(passed >= 355 && failed == 0, "{arch}: {passed} passed, {failed} failed");
    eprintln!("{arch} on the CPU simulator: {passed} outputs match the CPU reference");
}

#[test]
fn gfx1100_wave32_kernels_match_on_the_simulator() {
    kernels_match_the_cpu_reference("gfx1100");
}

#[test]
fn gfx942_wave64_kernels_match_on_the_simulator() {
    kernels_match_the_cpu_reference("gfx942");
}

#[test]
fn gfx950_wave64_kernels_match_on_the_simulator() {
    kernels_match_the_cpu_reference("gfx950");
}
