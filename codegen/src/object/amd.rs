//! AMD code objects: the `NT_AMDGPU_METADATA` note, a msgpack map whose `amdhsa.kernels` entry
//! describes each kernel (AMDGPU code object v5, LLVM's AMDGPUUsage).

use object::elf::{FileHeader64, SHT_NOTE};
use object::read::elf::{FileHeader, SectionHeader};
use object::Endianness;
use rmpv::Value;

use super::{ArgInfo, KernelInfo, Resources};
use crate::Error;

const NT_AMDGPU_METADATA: u32 = 32;

/// The target id (`amdgcn-amd-amdhsa--gfx942`) and the kernels of an AMD code object.
pub fn read_amd(code: &[u8]) -> Result<(String, Vec<KernelInfo>), Error> {
    let meta = metadata_note(code)?;
    let target = get(&meta, "amdhsa.target").and_then(Value::as_str).unwrap_or("").to_string();
    let kernels = get(&meta, "amdhsa.kernels")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::object("the metadata has no amdhsa.kernels list"))?;
    let kernels = kernels.iter().map(kernel).collect::<Result<_, _>>()?;
    Ok((target, kernels))
}

fn metadata_note(code: &[u8]) -> Result<Value, Error> {
    let header = FileHeader64::<Endianness>::parse(code).map_err(|e| Error::object(format!("not an ELF file: {e}")))?;
    let endian = header.endian().map_err(|e| Error::object(e.to_string()))?;
    let sections = header.sections(endian, code).map_err(|e| Error::object(e.to_string()))?;
    for section in sections.iter().filter(|s| s.sh_type(endian) == SHT_NOTE) {
        let Ok(Some(mut notes)) = section.notes(endian, code) else { continue };
        while let Ok(Some(note)) = notes.next() {
            if note.name() == b"AMDGPU" && note.n_type(endian) == NT_AMDGPU_METADATA {
                let mut desc = note.desc();
                return rmpv::decode::read_value(&mut desc)
                    .map_err(|e| Error::object(format!("bad metadata msgpack: {e}")));
            }
        }
    }
    Err(Error::object("no NT_AMDGPU_METADATA note (is this an AMD code object?)"))
}

fn get<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    map.as_map()?.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
}

fn uint(map: &Value, key: &str) -> u32 {
    get(map, key).and_then(Value::as_u64).map_or(0, |v| v as u32)
}

fn kernel(k: &Value) -> Result<KernelInfo, Error> {
    let name = get(k, ".name").and_then(Value::as_str).ok_or_else(|| Error::object("a kernel without .name"))?;
    let args = get(k, ".args").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let args = args
        .iter()
        .filter(|a| !get(a, ".value_kind").and_then(Value::as_str).unwrap_or("").starts_with("hidden_"))
        .map(|a| ArgInfo {
            name: get(a, ".name").and_then(Value::as_str).map(str::to_string),
            offset: uint(a, ".offset"),
            size: uint(a, ".size"),
            pointer: get(a, ".value_kind").and_then(Value::as_str).map(|kind| kind == "global_buffer"),
            access: get(a, ".actual_access").and_then(Value::as_str).map(str::to_string),
        })
        .collect();
    Ok(KernelInfo {
        name: name.to_string(),
        args,
        wave_size: uint(k, ".wavefront_size"),
        resources: Resources {
            vgprs: uint(k, ".vgpr_count"),
            agprs: uint(k, ".agpr_count"),
            sgprs: uint(k, ".sgpr_count"),
            lds_bytes: uint(k, ".group_segment_fixed_size"),
            scratch_bytes: uint(k, ".private_segment_fixed_size"),
            spills: uint(k, ".vgpr_spill_count") + uint(k, ".sgpr_spill_count"),
            max_threads: uint(k, ".max_flat_workgroup_size"),
        },
    })
}
