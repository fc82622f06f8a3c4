//! The CPU simulator's code objects: a shared library a variant compiles to, exporting the
//! launch entry `rf_sim_launch` (templates/prelude/cpu.h) and its kernarg layout, which the
//! compiler checked against the kernel's own parameter types (`pipeline::render`).

use object::read::elf::ElfFile64;
use object::{Endianness, Object, ObjectSection, ObjectSymbol};

use super::{ArgInfo, KernelInfo};
use crate::Error;

/// The launch entry every simulator library exports.
pub const SIMULATOR_ENTRY: &str = "rf_sim_launch";
/// The exported array of (offset, size) pairs, one per kernel argument, as `u32`s.
pub const SIMULATOR_KERNARGS: &str = "rf_sim_kernargs";

/// The kernel of a simulator library: an ELF shared object exporting `rf_sim_launch`, and its
/// arguments as `rf_sim_kernargs` records them (names and kinds are not recorded, as in a cubin).
pub fn read_cpu(code: &[u8], symbol: &str) -> Result<KernelInfo, Error> {
    let elf =
        ElfFile64::<Endianness>::parse(code).map_err(|e| Error::Object(format!("not an ELF shared object: {e}")))?;
    let exported = |name: &str| elf.dynamic_symbols().find(|s| s.is_definition() && s.name() == Ok(name));
    let missing = |name: &str| Error::Object(format!("the simulator library of `{symbol}` does not export `{name}`"));
    exported(SIMULATOR_ENTRY).ok_or_else(|| missing(SIMULATOR_ENTRY))?;
    let layout = exported(SIMULATOR_KERNARGS).ok_or_else(|| missing(SIMULATOR_KERNARGS))?;
    let bytes = layout
        .section_index()
        .and_then(|i| elf.section_by_index(i).ok())
        .and_then(|s| s.data_range(layout.address(), layout.size()).ok().flatten())
        .ok_or_else(|| Error::Object(format!("`{SIMULATOR_KERNARGS}` of `{symbol}` has no data")))?;
    let words: Vec<u32> = bytes.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
    let args = words
        .chunks_exact(2)
        .map(|p| ArgInfo { name: None, offset: p[0], size: p[1], pointer: None, access: None })
        .collect();
    Ok(KernelInfo { name: symbol.to_string(), args, wave_size: 0, resources: Default::default() })
}
