//! The CPU simulator's code objects: a shared library a variant compiles to, whose one export
//! is the launch entry `rf_sim_launch` (templates/prelude/cpu.h). Its kernarg layout was checked
//! by the compiler against the catalog's (`pipeline::render`), so nothing more is recorded.

use object::read::elf::ElfFile64;
use object::{Endianness, Object, ObjectSymbol};

use super::KernelInfo;
use crate::Error;

/// The launch entry every simulator library exports.
pub const SIMULATOR_ENTRY: &str = "rf_sim_launch";

/// The kernel of a simulator library, once it is known to be one: an ELF shared object that
/// exports `rf_sim_launch`.
pub fn read_cpu(code: &[u8], symbol: &str) -> Result<KernelInfo, Error> {
    let elf =
        ElfFile64::<Endianness>::parse(code).map_err(|e| Error::Object(format!("not an ELF shared object: {e}")))?;
    let exported = elf.dynamic_symbols().any(|s| s.is_definition() && s.name() == Ok(SIMULATOR_ENTRY));
    if !exported {
        return Err(Error::Object(format!("the simulator library of `{symbol}` does not export `{SIMULATOR_ENTRY}`")));
    }
    Ok(KernelInfo { name: symbol.to_string(), args: Vec::new(), wave_size: 0, resources: Default::default() })
}
