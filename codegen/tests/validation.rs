//! The checks between catalog, template and code object, exercised on real code objects: each
//! disagreement must fail with a message naming the variant and what differs. Targets whose
//! toolchain is missing are skipped with the reason printed.

use rocmforge_codegen::bundle::{read_kernel, Bundle};
use rocmforge_codegen::catalog::{output, scalar, Elem, Family, Grid, Launch, Per, Scalar};
use rocmforge_codegen::pipeline::{build_variant, render};
use rocmforge_codegen::signature::WAIT_PRIOR_KERNELS;
use rocmforge_codegen::toolchain::{default_cache_root, Toolchain};
use rocmforge_codegen::validate::validate;
use rocmforge_codegen::{kernels, Error, Host, Target};

fn toolchain_for(target: Target) -> Option<Toolchain> {
    let toolchain = Toolchain::discover(&default_cache_root());
    match toolchain.check(Host::Gpu(target)) {
        Ok(()) => Some(toolchain),
        Err(e) if std::env::var_os("ROCMFORGE_REQUIRE_TOOLCHAIN").is_some() => panic!("{target}: {e}"),
        Err(e) => {
            eprintln!("SKIPPED {target}: {e}");
            None
        }
    }
}

fn family(name: &str) -> Family {
    kernels::catalog().into_iter().find(|f| f.name == name).expect("family in the catalog")
}

#[test]
fn swapped_catalog_parameters_are_rejected_before_compiling() {
    let Some(toolchain) = toolchain_for(Target::Gfx942) else { return };
    let mut f = family("rmsnorm");
    f.params.swap(1, 2);
    let variant = f.variants(Target::Gfx942).remove(0);
    let err = build_variant(&toolchain, &f, &variant, None).unwrap_err();
    assert!(matches!(err, Error::Signature { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("templates/rmsnorm.hip.j2"), "{msg}");
    assert!(
        msg.contains("parameter 1 is `const float* x` in the template but `const float* w` in the catalog"),
        "{msg}"
    );
}

/// Launches overlap on sm_90, so a kernel that never waits for the ones before it would race.
#[test]
fn a_kernel_that_never_waits_for_earlier_kernels_is_rejected() {
    let mut f = family("rmsnorm");
    f.render = |v| (family("rmsnorm").render)(v).map(|s| s.replace(WAIT_PRIOR_KERNELS, ""));
    for target in Target::ALL {
        let variant = f.variants(target).remove(0);
        let msg = render(&f, &variant).unwrap_err().to_string();
        assert!(msg.contains("never calls `rf_wait_prior_kernels();`"), "{target}: {msg}");
        render(&family("rmsnorm"), &variant).expect("the real template waits");
    }
}

#[test]
fn a_wrong_parameter_type_is_rejected() {
    let Some(toolchain) = toolchain_for(Target::Gfx1100) else { return };
    let mut f = family("matvec");
    f.params[2] = rocmforge_codegen::catalog::input("xq", Elem::F16, "n_cols");
    let variant = f.variants(Target::Gfx1100).remove(0);
    let msg = build_variant(&toolchain, &f, &variant, None).unwrap_err().to_string();
    assert!(msg.contains("matvec[quant=q4_0,rows=8,loads=8]"), "{msg}");
    assert!(
        msg.contains("parameter 2 is `const block_q8_1* xq` in the template but `const half* xq` in the catalog"),
        "{msg}"
    );
}

/// The code object itself is checked too (this is what loading a bundle does): compile the real
/// kernel, then validate it against a catalog entry that disagrees.
#[test]
fn code_object_metadata_is_checked_against_the_catalog() {
    for target in [Target::Gfx942, Target::Gfx1100, Target::Gfx950, Target::Sm90] {
        let Some(toolchain) = toolchain_for(target) else { continue };
        let f = family("rmsnorm");
        let variant = f.variants(target).remove(0);
        let built = build_variant(&toolchain, &f, &variant, None).expect("rmsnorm builds");
        let kernel = read_kernel(Host::Gpu(target), &built.code, &built.entry.compiler_log, &built.entry.symbol)
            .expect("kernel in the object");
        validate(&f, &variant, &kernel).expect("the real catalog entry matches");

        let mut wider = f.clone();
        wider.params[3] = scalar("n", Scalar::I64);
        let msg = validate(&wider, &variant, &kernel).unwrap_err().to_string();
        assert!(
            msg.contains("kernarg layout") && msg.contains("argument 3 (`n`) is 4 bytes at offset 24"),
            "{target}: {msg}"
        );

        let mut fewer = f.clone();
        fewer.params.pop();
        let msg = validate(&fewer, &variant, &kernel).unwrap_err().to_string();
        assert!(msg.contains("takes 5 arguments, the catalog declares 4"), "{target}: {msg}");

        if target != Target::Sm90 {
            // AMD objects record names and pointer-ness (cubins do not).
            let mut renamed = f.clone();
            renamed.params.swap(1, 2);
            let msg = validate(&renamed, &variant, &kernel).unwrap_err().to_string();
            assert!(msg.contains("argument 1 is `x` in the code object, `w` in the catalog"), "{target}: {msg}");
            let mut by_value = f.clone();
            by_value.params[0] = scalar("y", Scalar::I64);
            let msg = validate(&by_value, &variant, &kernel).unwrap_err().to_string();
            assert!(msg.contains("is a pointer in the code object, a value in the catalog"), "{target}: {msg}");
        }
    }
}

const BOUNDS: &str = r#"
#define __global__ __attribute__((global))
#define rf_wait_prior_kernels() (void)0
#ifdef __NVPTX__
#define BOUNDS __attribute__((launch_bounds(1024, 2)))
#else
#define BOUNDS __attribute__((amdgpu_flat_work_group_size(1, 1024), amdgpu_num_vgpr(32)))
#endif
"#;

/// A dynamically indexed private array: it lives in scratch memory.
fn private_array(_: &rocmforge_codegen::Variant) -> Result<String, askama::Error> {
    Ok(format!(
        "{BOUNDS}extern \"C\" __global__ void BOUNDS probe(float* y, const int* idx, int n) {{\n\
         rf_wait_prior_kernels();\n  float a[256];\n  for (int i = 0; i < 256; ++i) a[i] = y[i] * (float)i;\n  y[1] = a[(idx[0] + n) & 255];\n}}\n"
    ))
}

/// 96 values live at once in a kernel held to 32 registers: the compiler must spill.
fn register_pressure(_: &rocmforge_codegen::Variant) -> Result<String, askama::Error> {
    let n = 96;
    let mut body = String::from("  rf_wait_prior_kernels();\n  float acc = 0.0f;\n");
    for i in 0..n {
        body += &format!("  float r{i} = y[(idx[{i}] + n) & 1023];\n");
    }
    for i in 0..n {
        body += &format!("  acc += r{i} * r{} + r{} * acc;\n", (i * 7 + 3) % n, (i * 5 + 1) % n);
    }
    for i in 0..n {
        body += &format!("  acc = acc * r{i} + r{};\n", (i * 11 + 2) % n);
    }
    Ok(format!("{BOUNDS}extern \"C\" __global__ void BOUNDS probe(float* y, const int* idx, int n) {{\n{body}  y[1] = acc;\n}}\n"))
}

fn probe_family(render: rocmforge_codegen::catalog::RenderFn) -> Family {
    Family {
        name: "probe",
        template: "(test source)",
        summary: "a kernel that needs scratch",
        params: vec![
            output("y", Elem::F32, "2"),
            rocmforge_codegen::catalog::input("idx", Elem::I32, "n"),
            scalar("n", Scalar::I32),
        ],
        axes: vec![],
        launch: Launch {
            threads: 1024,
            grid: [Grid::One, Grid::One, Grid::One],
            dims: &[],
            dynamic_shared: Per::Items(0),
        },
        reference: "none",
        allow_scratch: false,
        tuning: &[],
        render,
    }
}

/// Scratch use and register spills are both reported, and refused unless the family allows them.
#[test]
fn scratch_and_register_spills_are_reported() {
    for target in Target::ALL {
        let Some(toolchain) = toolchain_for(target) else { continue };
        for (what, render) in [
            ("private array", private_array as rocmforge_codegen::catalog::RenderFn),
            ("register pressure", register_pressure),
        ] {
            let f = probe_family(render);
            let variant = f.variants(target).remove(0);
            let err = build_variant(&toolchain, &f, &variant, None).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, Error::Validation { field: "scratch", .. }), "{target} {what}: {msg}");
            eprintln!("{target} {what}: {msg}");
            let mut allowed = f.clone();
            allowed.allow_scratch = true;
            let built = build_variant(&toolchain, &allowed, &variant, None).expect("allowed scratch builds");
            let r = &built.entry.resources;
            assert!(
                r.scratch_bytes > 0 || r.spills > 0,
                "{target} {what}: scratch and spills are recorded in the manifest"
            );
            if what == "register pressure" {
                assert!(r.spills > 0, "{target}: spills are counted");
            }
        }
    }
}

#[test]
fn bundles_round_trip_and_refuse_corruption() {
    let Some(toolchain) = toolchain_for(Target::Gfx942) else { return };
    let options = rocmforge_codegen::CompileOptions {
        families: Some(vec!["rmsnorm".into(), "softmax".into()]),
        ..Default::default()
    };
    let report =
        rocmforge_codegen::compile_bundle(&toolchain, Target::Gfx942, &options, &|_| {}).expect("bundle builds");
    let path = std::path::Path::new("test.rfkb");
    let bundle = Bundle::parse(path, report.bundle.data.clone()).expect("parses");
    assert_eq!(bundle.manifest.variants.len(), 2);
    bundle.verify_against_catalog(path).expect("verifies");

    let mut corrupt = report.bundle.data.clone();
    let last = bundle.manifest.variants[1].offset as usize + 100;
    corrupt[last] ^= 0xFF;
    let msg = Bundle::parse(path, corrupt).unwrap_err().to_string();
    assert!(msg.contains("softmax: code object sha256"), "{msg}");

    // Compiled from other templates than this build's (an older build's bundle): refused.
    let mut manifest = bundle.manifest.clone();
    manifest.variants[0].source_sha256 = "0".repeat(64);
    let objects: Vec<Vec<u8>> = bundle.manifest.variants.iter().map(|e| bundle.code(e).to_vec()).collect();
    let stale = Bundle::assemble(manifest, &objects).expect("assembles");
    let msg = stale.verify_against_catalog(path).unwrap_err().to_string();
    assert!(msg.contains("other kernel sources than this build's"), "{msg}");

    let mut future = report.bundle.data.clone();
    future[8] = 99;
    assert!(Bundle::parse(path, future).unwrap_err().to_string().contains("bundle format 99"));
    assert!(Bundle::parse(path, b"not a bundle".to_vec()).unwrap_err().to_string().contains("bad magic"));
}
