//! The generated launchers against the catalog and against real code objects.

use rocmforge::backend::gpu::launchers::{rmsnorm, LAYOUTS};
use rocmforge::backend::gpu::{check_launcher_layouts, LaunchError};
use rocmforge_codegen::bundle::{Bundle, Manifest};
use rocmforge_codegen::catalog::{kernarg_layout, scalar, Family, RenderError, Scalar};
use rocmforge_codegen::pipeline::build_variant;
use rocmforge_codegen::toolchain::{default_cache_root, Toolchain};
use rocmforge_codegen::{kernels, Host, Target, Variant};

#[test]
fn generated_layouts_equal_the_catalog_layouts() {
    let catalog = kernels::catalog();
    assert_eq!(LAYOUTS.len(), catalog.len());
    for family in &catalog {
        let (_, layout) = LAYOUTS.iter().find(|(name, _)| *name == family.name).expect("a launcher per family");
        let (fields, _) = kernarg_layout(&family.params);
        let want: Vec<(&str, usize, usize)> = family
            .params
            .iter()
            .zip(fields)
            .map(|(p, (offset, size))| (p.name, offset as usize, size as usize))
            .collect();
        assert_eq!(layout.to_vec(), want, "{}", family.name);
    }
}

#[test]
fn kernarg_bytes_are_little_endian_fields_at_their_offsets() {
    let args = rmsnorm::Kernarg { y: 0x1111, x: 0x2222, w: 0x3333, n: 2048, eps: 1e-6 };
    let bytes = args.bytes();
    assert_eq!(bytes.len(), 32);
    assert_eq!(rmsnorm::SIZE, 32);
    assert_eq!(&bytes[8..16], &0x2222u64.to_le_bytes());
    assert_eq!(&bytes[24..28], &2048i32.to_le_bytes());
    assert_eq!(&bytes[28..32], &1e-6f32.to_le_bytes());
}

fn rmsnorm_family() -> Family {
    kernels::catalog().into_iter().find(|f| f.name == "rmsnorm").expect("rmsnorm")
}

/// rmsnorm as an older or foreign build might have compiled it: `n` is 64-bit.
fn wide_rmsnorm() -> Family {
    fn render(v: &Variant) -> Result<String, RenderError> {
        (rmsnorm_family().render)(v).map(|s| s.replace("int n, float eps", "long long n, float eps"))
    }
    let mut f = rmsnorm_family();
    f.params[3] = scalar("n", Scalar::I64);
    f.render = render;
    f
}

fn bundle_of(toolchain: &Toolchain, target: Target, family: &Family) -> Bundle {
    let variant = family.variants(target).remove(0);
    let built = build_variant(toolchain, family, &variant, None).expect("builds");
    let manifest = Manifest {
        target: target.name().into(),
        wave_size: target.wave_size(),
        emulated_on: None,
        generator: "test".into(),
        compiler: toolchain.describe(Host::Gpu(target)),
        variants: vec![built.entry],
        tuning: Vec::new(),
    };
    let bytes = Bundle::assemble(manifest, &[built.code]).expect("assembles").data;
    Bundle::parse(std::path::Path::new("test.rfkb"), bytes).expect("parses")
}

/// A bundle whose code objects read their arguments differently from this build's launchers is
/// refused when it loads, naming the family, the variant and the field.
#[test]
fn a_bundle_that_disagrees_with_the_launchers_is_refused() {
    let toolchain = Toolchain::discover(&default_cache_root());
    for target in [Target::Gfx942, Target::Sm90] {
        if let Err(e) = toolchain.check(Host::Gpu(target)) {
            assert!(std::env::var_os("ROCMFORGE_REQUIRE_TOOLCHAIN").is_none(), "{target}: {e}");
            eprintln!("SKIPPED {target}: {e}");
            continue;
        }
        check_launcher_layouts(&bundle_of(&toolchain, target, &rmsnorm_family())).expect("the real kernel matches");
        let err = check_launcher_layouts(&bundle_of(&toolchain, target, &wide_rmsnorm())).unwrap_err();
        assert!(matches!(err, LaunchError::Layout { .. }), "{target}: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains(
                "launcher `rmsnorm` disagrees with the code object of rmsnorm: field `n` is 4 bytes at offset 24"
            ),
            "{target}: {msg}"
        );
        assert!(msg.contains("8 bytes at offset 24"), "{target}: {msg}");
    }
}
