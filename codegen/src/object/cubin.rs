//! NVIDIA cubins: `.nv.info.<kernel>` holds the parameter layout (EIATTR_KPARAM_INFO), the
//! global `.nv.info` the register count per kernel (EIATTR_REGCOUNT) and `.nv.shared.<kernel>`
//! the static shared memory. Spills are only in ptxas's report (`ptxas -v`), parsed here too.

use object::elf::FileHeader64;
use object::read::elf::{FileHeader, SectionHeader};
use object::Endianness;

use super::{ArgInfo, KernelInfo, Resources};
use crate::Error;

const EIATTR_KPARAM_INFO: u8 = 0x17;
const EIATTR_REGCOUNT: u8 = 0x2f;
const EIATTR_MAX_THREADS: u8 = 0x05;
const EIATTR_REQNTID: u8 = 0x10;

/// What `ptxas -v` says about one kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PtxasReport {
    pub stack_frame: u32,
    pub spill_stores: u32,
    pub spill_loads: u32,
    pub registers: u32,
    /// Static shared memory the kernel declares (the `.nv.shared` section adds the 1 KiB the
    /// driver reserves on sm_90).
    pub smem: u32,
}

impl PtxasReport {
    /// Parses ptxas's `-v` output for `kernel`.
    pub fn parse(log: &str, kernel: &str) -> Option<PtxasReport> {
        let start = log.find(&format!("Function properties for {kernel}\n"))?;
        let section = &log[start..];
        let section = &section[..section[1..].find("Compiling entry").map_or(section.len(), |e| e + 1)];
        let number_before = |what: &str| -> u32 {
            section.find(what).and_then(|at| section[..at].split_whitespace().last()?.parse().ok()).unwrap_or(0)
        };
        Some(PtxasReport {
            stack_frame: number_before(" bytes stack frame"),
            spill_stores: number_before(" bytes spill stores"),
            spill_loads: number_before(" bytes spill loads"),
            registers: number_before(" registers"),
            smem: number_before(" bytes smem"),
        })
    }
}

struct Attr<'a> {
    code: u8,
    value: &'a [u8],
}

/// The entries of an `.nv.info` section: (format, attribute, then a u16 value or a sized payload).
fn attributes(data: &[u8]) -> Vec<Attr<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= data.len() {
        let (format, code) = (data[at], data[at + 1]);
        let word = u16::from_le_bytes([data[at + 2], data[at + 3]]) as usize;
        match format {
            // EIFMT_SVAL: a payload of `word` bytes follows.
            4 => {
                let end = (at + 4 + word).min(data.len());
                out.push(Attr { code, value: &data[at + 4..end] });
                at = end;
            }
            // EIFMT_HVAL / BVAL / NVAL: the value is inline.
            _ => {
                out.push(Attr { code, value: &data[at + 2..at + 4] });
                at += 4;
            }
        }
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The kernels of a cubin, with ptxas's log for the spill counts.
pub fn read_cubin(code: &[u8], ptxas_log: &str) -> Result<Vec<KernelInfo>, Error> {
    let header = FileHeader64::<Endianness>::parse(code).map_err(|e| Error::object(format!("not an ELF file: {e}")))?;
    let endian = header.endian().map_err(|e| Error::object(e.to_string()))?;
    let sections = header.sections(endian, code).map_err(|e| Error::object(e.to_string()))?;
    let symbols = sections.symbols(endian, code, object::elf::SHT_SYMTAB).map_err(|e| Error::object(e.to_string()))?;
    let section_data = |name: &str| -> Option<&[u8]> {
        sections
            .iter()
            .find(|s| sections.section_name(endian, s).ok() == Some(name.as_bytes()))?
            .data(endian, code)
            .ok()
    };

    // Register counts are keyed by symbol index in the global .nv.info.
    let mut regs_by_symbol = std::collections::HashMap::new();
    for attr in attributes(section_data(".nv.info").unwrap_or_default()) {
        if attr.code == EIATTR_REGCOUNT {
            regs_by_symbol.insert(u32_at(attr.value, 0), u32_at(attr.value, 4));
        }
    }

    let mut kernels = Vec::new();
    for (index, sym) in symbols.iter().enumerate() {
        let name = String::from_utf8_lossy(symbols.symbol_name(endian, sym).unwrap_or_default()).into_owned();
        let Some(info) = section_data(&format!(".nv.info.{name}")) else { continue };
        if sym.st_type() != object::elf::STT_FUNC {
            continue;
        }
        let mut args = Vec::new();
        let mut max_threads = 0;
        for attr in attributes(info) {
            match attr.code {
                // index u32, ordinal u16, offset u16, then flags whose top 14 bits are the size.
                EIATTR_KPARAM_INFO => {
                    let ordinal = u16::from_le_bytes([attr.value[4], attr.value[5]]) as usize;
                    let offset = u16::from_le_bytes([attr.value[6], attr.value[7]]) as u32;
                    let size = u32_at(attr.value, 8) >> 18;
                    args.push((ordinal, ArgInfo { name: None, offset, size, pointer: None, access: None }));
                }
                EIATTR_MAX_THREADS | EIATTR_REQNTID => {
                    max_threads = u32_at(attr.value, 0) * u32_at(attr.value, 4).max(1) * u32_at(attr.value, 8).max(1);
                }
                _ => {}
            }
        }
        args.sort_by_key(|(ordinal, _)| *ordinal);
        let report = PtxasReport::parse(ptxas_log, &name).unwrap_or_default();
        kernels.push(KernelInfo {
            args: args.into_iter().map(|(_, a)| a).collect(),
            wave_size: 32,
            resources: Resources {
                vgprs: regs_by_symbol.get(&(index as u32)).copied().unwrap_or(report.registers),
                agprs: 0,
                sgprs: 0,
                lds_bytes: report.smem,
                scratch_bytes: report.stack_frame,
                // ptxas counts spill stores in bytes; a 32-bit register takes four.
                spills: report.spill_stores.div_ceil(4),
                max_threads,
            },
            name,
        });
    }
    Ok(kernels)
}
