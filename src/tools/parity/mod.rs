//! Kernel parity, in the manner of llama.cpp's `test-backend-ops`: each kernel variant of a
//! bundle runs on a GPU with random non-zero inputs and NaN-poisoned outputs, and each output is
//! compared with the CPU reference by normalised error ‖out − ref‖ / ‖ref‖.

mod cases;
pub(crate) mod inputs;
mod typed;

use std::borrow::Cow;

use rocmforge_codegen::bundle::Bundle;
use rocmforge_codegen::catalog::{kernarg_layout, Elem, Family, ParamKind};
use rocmforge_codegen::extent::BLOCK;
use rocmforge_codegen::variant::AxisValue;
use rocmforge_codegen::{kernels, Variant};

pub use cases::{cases_for, Sizes};
use rocmforge::backend::gpu::{Kernels, LaunchError, RawBuffer, StreamHandle};
use rocmforge::quant::blocks::{BlockQ8_1, QK};
pub use typed::run_typed;

/// How an output buffer holds its numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    I32,
    /// q8_1 blocks, compared as [`q8_1_values`].
    Q8_1,
}

/// q8_1 blocks as numbers: each block's 32 dequantized quants, then its s. Equal values mean
/// equal blocks (d is never negative).
pub fn q8_1_values(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(size_of::<BlockQ8_1>())
        .flat_map(|b| {
            let block: BlockQ8_1 = bytemuck::pod_read_unaligned(b);
            let d = block.d.to_f32();
            block.qs.map(|q| d * q as f32).into_iter().chain([block.s.to_f32()])
        })
        .collect()
}

/// One kernel argument of a case, named as in the catalog.
pub enum Arg {
    /// Device memory initialised from these bytes.
    Input(Vec<u8>),
    /// Device memory poisoned with NaN bytes before the launch, then compared with `reference`.
    Output {
        reference: Vec<f32>,
        dtype: Dtype,
        tolerance: f64,
    },
    /// Device memory initialised from `initial`, updated by the kernel, compared with `reference`.
    InOut {
        initial: Vec<u8>,
        reference: Vec<f32>,
        dtype: Dtype,
        tolerance: f64,
    },
    /// A work buffer of exactly its parameter's declared extent: poisoned with NaN bytes and not
    /// compared, or (`zeroed`) zero before the launch and required to be zero after it
    /// (counters that each launch must leave as it found them).
    Work {
        zeroed: bool,
    },
    /// A null pointer (optional inputs).
    Null,
    I32(i32),
    I64(i64),
    F32(f32),
}

/// A kernel launch with its inputs and expected outputs.
pub struct Case {
    pub label: String,
    pub args: Vec<(&'static str, Arg)>,
    /// Launch-only grid dimensions (`Launch::dims`).
    pub dims: Vec<(&'static str, u64)>,
}

/// The outcome of one output of one case.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub case: String,
    pub output: String,
    pub error: Result<f64, String>,
    pub tolerance: f64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        matches!(self.error, Ok(e) if e <= self.tolerance)
    }
}

/// ‖out − ref‖ / ‖ref‖ in f64; NaN anywhere in `out` (a poisoned element the kernel never
/// wrote) makes it NaN, which never passes. Infinite reference values (an empty softmax's
/// running max) must be matched exactly and stay out of the norms.
pub fn normalized_error(out: &[f32], reference: &[f32]) -> f64 {
    if out.len() != reference.len() {
        return f64::NAN;
    }
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&o, &r) in out.iter().zip(reference) {
        if r.is_infinite() {
            if o != r {
                return f64::INFINITY;
            }
            continue;
        }
        diff += (o as f64 - r as f64).powi(2);
        norm += (r as f64).powi(2);
    }
    if norm == 0.0 {
        return if diff == 0.0 { 0.0 } else { f64::INFINITY };
    }
    (diff / norm).sqrt()
}

fn decode(bytes: &[u8], dtype: Dtype) -> Vec<f32> {
    match dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::I32 => bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32).collect(),
        Dtype::Q8_1 => q8_1_values(bytes),
    }
}

fn byte_len(reference: &[f32], dtype: Dtype) -> usize {
    match dtype {
        Dtype::F16 => reference.len() * 2,
        Dtype::F32 | Dtype::I32 => reference.len() * 4,
        Dtype::Q8_1 => reference.len() / (QK + 1) * size_of::<BlockQ8_1>(),
    }
}

/// Runs one case of `variant` and compares its outputs.
pub fn run_case(kernels: &Kernels, family: &Family, variant: &Variant, case: &Case) -> Vec<Outcome> {
    let outcome = |output: &str, error: Result<f64, String>, tolerance: f64| Outcome {
        case: case.label.clone(),
        output: output.to_string(),
        error,
        tolerance,
    };
    match launch_case(kernels, family, variant, case) {
        Ok(results) => results.into_iter().map(|(name, err, tol)| outcome(name, Ok(err), tol)).collect(),
        Err(e) => vec![outcome("-", Err(e), 0.0)],
    }
}

/// The kernarg bytes of `case` for `family`: every parameter must be given, pointers as
/// buffers (or `Null`) and scalars as values of the parameter's size. `pointer` supplies the
/// device address of each pointer argument.
fn pack(
    family: &Family,
    case: &Case,
    mut pointer: impl FnMut(&'static str, &Arg) -> Result<u64, String>,
) -> Result<Vec<u8>, String> {
    let (layout, size) = kernarg_layout(&family.params);
    let mut kernargs = vec![0u8; size as usize];
    for (param, (offset, bytes)) in family.params.iter().zip(layout) {
        if matches!(param.kind, ParamKind::TensorMap(_)) {
            continue; // zeros: the launch makes it from its buffer (`Resolved::enqueue`)
        }
        let a = case.arg(param.name).ok_or_else(|| format!("the case gives no `{}`", param.name))?;
        let value: Vec<u8> = match (param.kind, a) {
            (ParamKind::Ptr { .. }, Arg::Null) if param.optional => 0u64.to_le_bytes().to_vec(),
            (ParamKind::Ptr { .. }, Arg::Null) => return Err(format!("`{}` may not be null", param.name)),
            (ParamKind::Ptr { mutable, .. }, Arg::Input(_)) if mutable => {
                return Err(format!("`{}` is written by the kernel: give it as Output or InOut", param.name))
            }
            (ParamKind::Ptr { .. }, Arg::Input(_) | Arg::InOut { .. } | Arg::Output { .. } | Arg::Work { .. }) => {
                pointer(param.name, a)?.to_le_bytes().to_vec()
            }
            (ParamKind::Scalar(_), Arg::I32(v)) => v.to_le_bytes().to_vec(),
            (ParamKind::Scalar(_), Arg::I64(v)) => v.to_le_bytes().to_vec(),
            (ParamKind::Scalar(_), Arg::F32(v)) => v.to_le_bytes().to_vec(),
            _ => return Err(format!("argument `{}` does not fit its parameter kind", param.name)),
        };
        if value.len() != bytes as usize {
            return Err(format!("argument `{}` is {} bytes, the parameter {bytes}", param.name, value.len()));
        }
        kernargs[offset as usize..(offset + bytes) as usize].copy_from_slice(&value);
    }
    Ok(kernargs)
}

impl Case {
    fn arg(&self, name: &str) -> Option<&Arg> {
        self.args.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
    }

    /// A named size for `variant`'s grid: a launch-only dim, an integer argument or axis.
    fn grid_size(&self, variant: &Variant, name: &str) -> Option<u64> {
        self.dim(name).or_else(|| match variant.get(name)? {
            AxisValue::Int(n) => Some(u64::from(n)),
            _ => None,
        })
    }

    /// A named size: a launch-only dim or an integer argument.
    fn dim(&self, name: &str) -> Option<u64> {
        self.dims.iter().find(|(n, _)| *n == name).map(|(_, v)| *v).or_else(|| match self.arg(name)? {
            Arg::I32(v) => u64::try_from(*v).ok(),
            Arg::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        })
    }

    /// Checks, without a GPU, that the case fits its family: arguments, buffer sizes and grid.
    #[cfg(test)]
    pub fn check(&self, family: &Family, variant: &Variant) -> Result<(), String> {
        pack(family, self, |_, _| Ok(0x1000))?;
        check_extents(family, variant, self)?;
        family.launch.grid_for(variant.target, |name| self.grid_size(variant, name)).map(|_| ())
    }

    /// Bytes of the buffer given for `name` (`None` for a null or a scalar).
    fn buffer_bytes(&self, name: &str) -> Option<usize> {
        match self.arg(name)? {
            Arg::Input(data) | Arg::InOut { initial: data, .. } => Some(data.len()),
            Arg::Output { reference, dtype, .. } => Some(byte_len(reference, *dtype)),
            _ => None,
        }
    }
}

/// Bytes of one element a pointer of type `elem` points at in `variant`.
fn elem_bytes(elem: Elem, variant: &Variant) -> usize {
    match elem {
        Elem::F32 | Elem::I32 | Elem::U32 => 4,
        Elem::F16 => 2,
        Elem::Q8_1 => size_of::<BlockQ8_1>(),
        Elem::QuantBlock => variant.quant().map_or(0, |q| q.block_bytes() as usize),
    }
}

/// Fails unless every buffer of `case` holds the extent its parameter declares for the case's
/// sizes: the declarations are what the typed launchers check views against, and the kernels
/// must stay within them.
fn check_extents(family: &Family, variant: &Variant, case: &Case) -> Result<(), String> {
    for (param, extent) in family.extents()? {
        let (ParamKind::Ptr { elem, .. }, Some(bytes)) = (param.kind, case.buffer_bytes(param.name)) else { continue };
        let need = extent.eval(&|name| extent_size(variant, case, name));
        let need = need.map_err(|e| format!("extent of `{}`: {e}", param.name))?;
        let held = (bytes / elem_bytes(elem, variant)) as i128;
        if held < need {
            return Err(format!("`{}` holds {held} elements; its extent `{extent}` needs {need}", param.name));
        }
    }
    Ok(())
}

/// A name an extent uses, for `case` of `variant`: an integer axis, `BLOCK`, a launch-only dim
/// or an integer argument.
fn extent_size(variant: &Variant, case: &Case, name: &str) -> Option<i128> {
    match variant.get(name) {
        Some(AxisValue::Int(v)) => Some(i128::from(v)),
        _ if name == BLOCK => variant.quant().map(|q| i128::from(q.block_elems())),
        _ => case.dim(name).map(i128::from).or_else(|| match case.arg(name)? {
            Arg::I32(v) => Some(i128::from(*v)),
            Arg::I64(v) => Some(i128::from(*v)),
            _ => None,
        }),
    }
}

/// Bytes of work buffer `name` (`Arg::Work`): its declared extent for the case's sizes.
fn work_bytes(family: &Family, variant: &Variant, case: &Case, name: &str) -> Result<usize, String> {
    let (param, extent) = family.extent_of(name)?;
    let ParamKind::Ptr { elem, .. } = param.kind else { return Err(format!("`{name}` is not a buffer")) };
    let need = extent.eval(&|n| extent_size(variant, case, n)).map_err(|e| format!("extent of `{name}`: {e}"))?;
    Ok(usize::try_from(need).map_err(|_| format!("extent of `{name}`: {need}"))? * elem_bytes(elem, variant))
}

/// `data` as the GPU stores it: weight blocks in the format's device layout (the cases give
/// them in ggml's order, which their CPU references read), anything else as it is.
fn device_layout<'a>(family: &Family, variant: &Variant, name: &str, data: &'a [u8]) -> Cow<'a, [u8]> {
    let blocks =
        family.params.iter().any(|p| p.name == name && matches!(p.kind, ParamKind::Ptr { elem: Elem::QuantBlock, .. }));
    match variant.quant() {
        Some(q) if blocks => q.to_device_layout(data),
        _ => Cow::Borrowed(data),
    }
}

fn launch_case(
    kernels: &Kernels,
    family: &Family,
    variant: &Variant,
    case: &Case,
) -> Result<Vec<(&'static str, f64, f64)>, String> {
    let gpu = kernels.gpu();
    // Device buffers of the pointer arguments, in parameter order.
    let mut buffers: Vec<(&'static str, RawBuffer)> = Vec::new();
    let result = (|| -> Result<Vec<(&'static str, f64, f64)>, String> {
        let kernargs = pack(family, case, |name, arg| {
            let buf = match arg {
                Arg::Input(data) | Arg::InOut { initial: data, .. } => {
                    let data = device_layout(family, variant, name, data);
                    let buf = gpu.alloc(data.len()).map_err(|e| e.to_string())?;
                    gpu.upload(&buf, &data).map_err(|e| e.to_string())?;
                    buf
                }
                Arg::Output { reference, dtype, .. } => {
                    let buf = gpu.alloc(byte_len(reference, *dtype)).map_err(|e| e.to_string())?;
                    gpu.fill(&buf, 0xFF).map_err(|e| e.to_string())?;
                    buf
                }
                Arg::Work { zeroed } => {
                    let buf = gpu.alloc(work_bytes(family, variant, case, name)?).map_err(|e| e.to_string())?;
                    gpu.fill(&buf, if *zeroed { 0 } else { 0xFF }).map_err(|e| e.to_string())?;
                    buf
                }
                _ => return Err(format!("`{name}` is not a buffer")),
            };
            let ptr = buf.ptr;
            buffers.push((name, buf));
            Ok(ptr)
        })?;
        check_extents(family, variant, case)?;
        let kernel = kernels.resolve(family.name, &variant.key()).map_err(|e| e.to_string())?;
        let stream = StreamHandle::DEFAULT;
        // SAFETY: `pack` laid the arguments out by the catalog's layout, which the bundle's code
        // objects were checked against when it loaded; every buffer was allocated above and
        // holds its parameter's declared extent (`check_extents`), and is freed only after the
        // stream has been synchronized.
        unsafe { kernel.enqueue(stream, &kernargs, &|name| case.grid_size(variant, name)) }
            .map_err(|e| e.to_string())?;
        gpu.synchronize(stream).map_err(|e| e.to_string())?;
        let mut results = Vec::new();
        for (name, buf) in &buffers {
            if let Some(Arg::Work { zeroed: true }) = case.arg(name) {
                let mut bytes = vec![0u8; buf.bytes];
                gpu.download(buf, &mut bytes).map_err(|e| e.to_string())?;
                results.push((*name, if bytes.iter().all(|&b| b == 0) { 0.0 } else { f64::INFINITY }, 0.0));
                continue;
            }
            let Some(Arg::Output { reference, dtype, tolerance } | Arg::InOut { reference, dtype, tolerance, .. }) =
                case.arg(name)
            else {
                continue;
            };
            let mut bytes = vec![0u8; byte_len(reference, *dtype)];
            gpu.download(buf, &mut bytes).map_err(|e| e.to_string())?;
            results.push((*name, normalized_error(&decode(&bytes, *dtype), reference), *tolerance));
        }
        Ok(results)
    })();
    for (_, buf) in buffers {
        let _ = gpu.free(buf);
    }
    result
}

/// Runs every case of every variant in `bundle` whose key contains `filter`.
pub fn run_bundle(
    kernels: &Kernels,
    bundle: &Bundle,
    sizes: Sizes,
    filter: Option<&str>,
    progress: &dyn Fn(&str),
) -> Result<Vec<Outcome>, LaunchError> {
    let catalog = kernels::catalog();
    let mut outcomes = Vec::new();
    for entry in &bundle.manifest.variants {
        if filter.is_some_and(|f| !entry.key.contains(f)) {
            continue;
        }
        progress(&entry.key);
        let Some((family, variant)) = bundle.variant(&catalog, &entry.key)? else { continue };
        let cases = cases_for(family, &variant, sizes);
        if cases.is_empty() {
            outcomes.push(Outcome {
                case: entry.key.clone(),
                output: "-".into(),
                error: Err(format!("no parity cases for family `{}`", family.name)),
                tolerance: 0.0,
            });
        }
        for case in &cases {
            outcomes.extend(run_case(kernels, family, &variant, case));
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_error_is_relative_and_catches_poison() {
        assert_eq!(normalized_error(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        let e = normalized_error(&[1.0, 2.2], &[1.0, 2.0]);
        assert!((e - 0.2 / 5f64.sqrt()).abs() < 1e-6);
        assert!(normalized_error(&[f32::NAN, 2.0], &[1.0, 2.0]).is_nan());
        assert!(normalized_error(&[1.0], &[1.0, 2.0]).is_nan());
        assert_eq!(normalized_error(&[f32::NEG_INFINITY, 1.0], &[f32::NEG_INFINITY, 1.0]), 0.0);
        assert_eq!(normalized_error(&[0.0, 1.0], &[f32::NEG_INFINITY, 1.0]), f64::INFINITY);
    }

    #[test]
    fn a_buffer_smaller_than_its_extent_is_refused() {
        let family = kernels::catalog().into_iter().find(|f| f.name == "rmsnorm").expect("rmsnorm");
        let variant = family.variants(rocmforge_codegen::Target::Sm90).remove(0);
        let f32s = |n: usize| Arg::Input(vec![0u8; 4 * n]);
        let case = |y_len: usize| Case {
            label: "2 rows of 8".into(),
            args: vec![
                ("y", Arg::Output { reference: vec![0.0; y_len], dtype: Dtype::F32, tolerance: 0.0 }),
                ("x", f32s(16)),
                ("w", f32s(8)),
                ("n", Arg::I32(8)),
                ("eps", Arg::F32(1e-6)),
            ],
            dims: vec![("n_rows", 2)],
        };
        assert_eq!(case(16).check(&family, &variant), Ok(()));
        let err = case(15).check(&family, &variant).unwrap_err();
        assert!(err.contains("`y` holds 15 elements") && err.contains("needs 16"), "{err}");
    }

    /// Cases are the same on every target; their launch grids are checked on a wave32 and a
    /// wave64 one.
    #[test]
    fn every_variant_has_cases_that_fit_its_declaration() {
        for family in kernels::catalog() {
            for target in [rocmforge_codegen::Target::Gfx1100, rocmforge_codegen::Target::Gfx942] {
                for variant in family.variants(target) {
                    let cases = cases_for(&family, &variant, Sizes::Small);
                    assert!(!cases.is_empty(), "no parity case for {variant}");
                    for case in &cases {
                        case.check(&family, &variant).unwrap_or_else(|e| panic!("{}: {e}", case.label));
                    }
                }
            }
        }
    }
}
