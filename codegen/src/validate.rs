//! Checks a compiled kernel against its catalog declaration and its target's limits, and
//! estimates occupancy. Used by `rocmforge compile` for every variant and again when a bundle
//! is loaded, so a launcher can never pack arguments the code object reads differently.

use serde::{Deserialize, Serialize};

use crate::catalog::{kernarg_layout, Family, ParamKind};
use crate::object::{KernelInfo, Resources};
use crate::variant::Variant;
use crate::{Error, Host, Target};

/// How many waves (AMD, per SIMD) or warps (NVIDIA, per SM) can be resident, and what limits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occupancy {
    pub resident: u32,
    pub max: u32,
    pub limited_by: String,
}

/// Register-file and shared-memory facts behind the occupancy estimate (vendor manuals: AMD CDNA3
/// and RDNA3 ISA guides, NVIDIA's Hopper tuning guide).
struct Machine {
    /// Registers per lane per SIMD (AMD) or 32-bit registers per SM (NVIDIA).
    regs: u32,
    /// Register allocation granule (per lane on AMD; per warp on NVIDIA).
    granule: u32,
    max_resident: u32,
    /// SIMDs sharing one LDS (a CU on CDNA, a WGP on RDNA3), or 1 for an SM.
    simds: u32,
    lds: u32,
    max_vgprs: u32,
    /// Including VCC, FLAT_SCRATCH and XNACK_MASK, as the metadata's `.sgpr_count` counts them.
    max_sgprs: u32,
}

fn machine(target: Target) -> Machine {
    match target {
        Target::Gfx1100 => Machine {
            regs: 1536,
            granule: 24,
            max_resident: 16,
            simds: 4,
            lds: 128 * 1024,
            max_vgprs: 256,
            max_sgprs: 108,
        },
        Target::Gfx942 => {
            Machine { regs: 512, granule: 8, max_resident: 8, simds: 4, lds: 64 * 1024, max_vgprs: 512, max_sgprs: 108 }
        }
        Target::Gfx950 => Machine {
            regs: 512,
            granule: 8,
            max_resident: 8,
            simds: 4,
            lds: 160 * 1024,
            max_vgprs: 512,
            max_sgprs: 108,
        },
        Target::Sm90 => Machine {
            regs: 65536,
            granule: 256,
            max_resident: 64,
            simds: 1,
            lds: 228 * 1024,
            max_vgprs: 255,
            max_sgprs: 0,
        },
    }
}

pub fn occupancy(target: Target, r: &Resources, threads: u32) -> Occupancy {
    let m = machine(target);
    let waves_per_group = threads.div_ceil(target.wave_size());
    let mut limits: Vec<(u32, &str)> = vec![(m.max_resident, "waves")];
    if target == Target::Sm90 {
        let per_warp = (r.vgprs.max(1) * 32).next_multiple_of(m.granule);
        let groups = m.regs / (per_warp * waves_per_group);
        limits.push((groups * waves_per_group, "registers"));
        limits.push(((2048 / threads.max(1)).min(32) * waves_per_group, "threads"));
    } else {
        let used = r.vgprs.next_multiple_of(m.granule) + r.agprs.next_multiple_of(m.granule);
        limits.push((m.regs / used.max(m.granule), "registers"));
    }
    if let Some(groups) = m.lds.checked_div(r.lds_bytes) {
        limits.push(((groups * waves_per_group).div_ceil(m.simds), "shared memory"));
    }
    let (resident, limited_by) = limits.into_iter().min_by_key(|(n, _)| *n).unwrap_or((m.max_resident, "waves"));
    Occupancy { resident, max: m.max_resident, limited_by: limited_by.to_string() }
}

/// Fails unless `kernel` takes exactly the catalog's parameters (offsets, sizes, names and
/// pointer-ness where the object records them), runs at the wave size of the target it is
/// compiled for, fits that target, and uses no scratch unless the family allows it (or the
/// variant is emulated). The CPU's simulator has no wave, register or LDS limits: only its
/// kernarg layout is checked.
pub fn validate(family: &Family, variant: &Variant, kernel: &KernelInfo) -> Result<Occupancy, Error> {
    let fail = |field: &'static str, detail: String| Error::Validation { variant: variant.to_string(), field, detail };
    let (layout, _) = kernarg_layout(&family.params);
    if kernel.args.len() != family.params.len() {
        return Err(fail(
            "kernarg count",
            format!(
                "the code object takes {} arguments, the catalog declares {}",
                kernel.args.len(),
                family.params.len()
            ),
        ));
    }
    for (i, ((param, (offset, size)), arg)) in family.params.iter().zip(&layout).zip(&kernel.args).enumerate() {
        if let Some(name) = &arg.name {
            if name != param.name {
                return Err(fail(
                    "kernarg name",
                    format!("argument {i} is `{name}` in the code object, `{}` in the catalog", param.name),
                ));
            }
        }
        if (arg.offset, arg.size) != (*offset, *size) {
            return Err(fail(
                "kernarg layout",
                format!(
                    "argument {i} (`{}`) is {} bytes at offset {} in the code object, {size} bytes at offset {offset} in the catalog",
                    param.name, arg.size, arg.offset
                ),
            ));
        }
        let is_ptr = matches!(param.kind, ParamKind::Ptr { .. });
        if let Some(pointer) = arg.pointer {
            if pointer != is_ptr {
                let what = |p: bool| if p { "a pointer" } else { "a value" };
                return Err(fail(
                    "kernarg kind",
                    format!(
                        "argument {i} (`{}`) is {} in the code object, {} in the catalog",
                        param.name,
                        what(pointer),
                        what(is_ptr)
                    ),
                ));
            }
        }
        if let (ParamKind::Ptr { mutable: false, .. }, Some(access)) = (param.kind, &arg.access) {
            if access != "read_only" {
                return Err(fail(
                    "kernarg access",
                    format!(
                        "argument {i} (`{}`) is read-only in the catalog but `{access}` in the code object",
                        param.name
                    ),
                ));
            }
        }
    }
    let Host::Gpu(target) = variant.host() else {
        return Ok(Occupancy { resident: 1, max: 1, limited_by: "the CPU simulator".into() });
    };
    if kernel.wave_size != target.wave_size() {
        return Err(fail(
            "wave size",
            format!("{} in the code object, {} for {target}", kernel.wave_size, target.wave_size()),
        ));
    }
    let r = &kernel.resources;
    // An emulated variant only has to compute right: a wave64 algorithm sized for AMD's 512
    // registers a lane may spill on a 255-register GPU.
    let scratch_allowed = family.allow_scratch || variant.emulated_on.is_some();
    if !scratch_allowed && (r.scratch_bytes > 0 || r.spills > 0) {
        return Err(fail(
            "scratch",
            format!(
                "{} bytes of scratch per lane and {} spilled registers; the family does not allow scratch",
                r.scratch_bytes, r.spills
            ),
        ));
    }
    if r.max_threads != 0 && r.max_threads < variant.threads {
        return Err(fail(
            "workgroup size",
            format!("the code object allows {} threads, the launch rule uses {}", r.max_threads, variant.threads),
        ));
    }
    let m = machine(target);
    if r.vgprs + r.agprs > m.max_vgprs {
        return Err(fail("registers", format!("{} vector registers, {target} has {}", r.vgprs + r.agprs, m.max_vgprs)));
    }
    if m.max_sgprs > 0 && r.sgprs > m.max_sgprs {
        return Err(fail("registers", format!("{} scalar registers, {target} has {}", r.sgprs, m.max_sgprs)));
    }
    if r.lds_bytes > target.max_static_lds_bytes() {
        return Err(fail(
            "shared memory",
            format!("{} bytes static, a {target} workgroup may declare {}", r.lds_bytes, target.max_static_lds_bytes()),
        ));
    }
    // The code object counts the static arrays; the launch adds the dynamic ones.
    let dynamic = family.launch.dynamic_shared.items(variant.threads, target);
    let r = &Resources { lds_bytes: r.lds_bytes + dynamic, ..r.clone() };
    if r.lds_bytes > target.max_lds_bytes() {
        return Err(fail(
            "shared memory",
            format!(
                "{} bytes ({dynamic} of them dynamic), a {target} workgroup may use {}",
                r.lds_bytes,
                target.max_lds_bytes()
            ),
        ));
    }
    Ok(occupancy(target, r, variant.threads))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupancy_follows_registers_and_lds() {
        let light = Resources { vgprs: 32, sgprs: 20, max_threads: 256, ..Default::default() };
        assert_eq!(occupancy(Target::Gfx942, &light, 256).resident, 8);
        let heavy = Resources { vgprs: 128, ..light.clone() };
        let o = occupancy(Target::Gfx942, &heavy, 256);
        assert_eq!((o.resident, o.limited_by.as_str()), (4, "registers"));
        // 64 regs per thread on sm_90: 2048 regs per warp, 32 warps fit in 64K registers.
        let nv = Resources { vgprs: 64, ..Default::default() };
        assert_eq!(occupancy(Target::Sm90, &nv, 256).resident, 32);
        let lds = Resources { vgprs: 16, lds_bytes: 32 * 1024, ..Default::default() };
        let o = occupancy(Target::Gfx942, &lds, 256);
        assert_eq!((o.resident, o.limited_by.as_str()), (2, "shared memory"));
    }
}
