//! The kernel catalog's vocabulary: what a kernel family declares about itself. One
//! declaration per family (in `kernels/`) is the source of truth for the kernel's signature,
//! its specialisation axes, its launch geometry and the CPU reference it must match; the
//! template's signature, the code object's kernarg layout and the Rust launchers are checked
//! against or derived from it.

use std::borrow::Cow;
use std::fmt;

use crate::extent::{Expr, BLOCK};
use crate::quant::Quant;
use crate::variant::{AxisValue, Variant};
use crate::{Host, Target};

mod launch;
pub use launch::{Grid, Launch, Per};

/// Element type a pointer parameter points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Elem {
    F32,
    F16,
    I32,
    U32,
    /// The quantized block type of the variant's `quant` axis (`block_q4_0`, …).
    QuantBlock,
    /// ggml's `block_q8_1` (32 int8 quants, their f16 scale d and d·Σq): activations quantized
    /// for the integer mat-vec.
    Q8_1,
}

/// Type of a by-value scalar parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scalar {
    I32,
    U32,
    I64,
    F32,
}

impl Scalar {
    pub fn size(self) -> u32 {
        match self {
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::I64 => 8,
        }
    }

    pub fn c_name(self) -> &'static str {
        match self {
            Scalar::I32 => "int",
            Scalar::U32 => "unsigned",
            Scalar::I64 => "long long",
            Scalar::F32 => "float",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A device pointer; `mutable` says whether the kernel may write through it.
    Ptr {
        elem: Elem,
        mutable: bool,
    },
    Scalar(Scalar),
    /// NVIDIA's tensor-memory-access descriptor (`CUtensorMap`, 128 bytes) of another
    /// parameter's buffer, passed by value (`const __grid_constant__ rf_tensor_map`). The launch
    /// derives it from that buffer and the sizes (`Resolved::enqueue`); callers never pass it.
    /// Other targets have no such copies and get zeros.
    TensorMap(TensorMapOf),
}

/// What a tensor map describes: a row-major matrix of `rows` x `cols` elements at the pointer
/// parameter `buffer`, copied to shared memory in boxes of `box_rows` x `box_cols` elements. The
/// box's rows land in the swizzle of their width in bytes (32, 64 or 128: the pattern wgmma's
/// shared-memory descriptors read), and rows past the matrix's end are filled with zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TensorMapOf {
    pub buffer: &'static str,
    /// Integer scalar parameters giving the matrix's size.
    pub rows: &'static str,
    pub cols: &'static str,
    pub box_rows: Per,
    pub box_cols: Per,
}

/// Bytes of a tensor map (`CUtensorMap`).
pub const TENSOR_MAP_BYTES: u32 = 128;
/// A tensor map's alignment in the kernarg buffer. CUDA wants the map 64-byte aligned, but its
/// kernel parameters start at byte 0x210 of a constant bank, so ptxas puts a map where
/// 0x210 + offset is a multiple of 64: at an offset of 48 mod 64 in the buffer a launch passes.
/// Elsewhere the map is aligned to 16 (prelude/common.h), and [`Family::check_tensor_maps`]
/// requires declarations whose 16-aligned offsets are 48 mod 64, where the targets agree.
pub const TENSOR_MAP_ALIGN: u32 = 16;
/// Where a tensor map's offset must fall, mod 64 (see [`TENSOR_MAP_ALIGN`]).
pub const TENSOR_MAP_OFFSET_MOD_64: u32 = 48;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    /// A pointer the kernel accepts as null (an absent optional input).
    pub optional: bool,
    /// For a pointer: the elements its buffer must hold, an expression of the launch's sizes
    /// (see [`crate::extent`]). The kernel reads and writes nothing beyond it.
    pub extent: Option<Cow<'static, str>>,
}

/// A pointer the kernel only reads, `extent` elements long.
pub fn input(name: &'static str, elem: Elem, extent: impl Into<Cow<'static, str>>) -> Param {
    Param { name, kind: ParamKind::Ptr { elem, mutable: false }, optional: false, extent: Some(extent.into()) }
}

/// A pointer the kernel only reads, or null when the input is absent.
pub fn optional_input(name: &'static str, elem: Elem, extent: impl Into<Cow<'static, str>>) -> Param {
    Param { optional: true, ..input(name, elem, extent) }
}

/// A pointer the kernel writes (and may read), `extent` elements long.
pub fn output(name: &'static str, elem: Elem, extent: impl Into<Cow<'static, str>>) -> Param {
    Param { name, kind: ParamKind::Ptr { elem, mutable: true }, optional: false, extent: Some(extent.into()) }
}

pub fn scalar(name: &'static str, ty: Scalar) -> Param {
    Param { name, kind: ParamKind::Scalar(ty), optional: false, extent: None }
}

/// A tensor map of `of.buffer`, derived at launch.
pub fn tensor_map(name: &'static str, of: TensorMapOf) -> Param {
    Param { name, kind: ParamKind::TensorMap(of), optional: false, extent: None }
}

impl Param {
    /// The parsed extent of a pointer parameter (`None` for a scalar).
    pub fn extent(&self) -> Option<Result<Expr, String>> {
        self.extent.as_deref().map(|text| Expr::parse(text).map_err(|e| format!("extent of `{}`: {e}", self.name)))
    }

    /// Bytes the parameter takes in the kernarg segment; pointers are 64-bit on every target.
    pub fn size(&self) -> u32 {
        match self.kind {
            ParamKind::Ptr { .. } => 8,
            ParamKind::Scalar(s) => s.size(),
            ParamKind::TensorMap(_) => TENSOR_MAP_BYTES,
        }
    }

    /// The parameter's alignment in the kernarg segment: its size, but for a tensor map.
    pub fn align(&self) -> u32 {
        match self.kind {
            ParamKind::TensorMap(_) => TENSOR_MAP_ALIGN,
            _ => self.size(),
        }
    }

    /// The C type the template must declare for this parameter in `variant`.
    pub fn c_type(&self, variant: &Variant) -> String {
        match self.kind {
            ParamKind::Scalar(s) => s.c_name().to_string(),
            ParamKind::TensorMap(_) => "const __grid_constant__ rf_tensor_map".to_string(),
            ParamKind::Ptr { elem, mutable } => {
                let pointee = match elem {
                    Elem::F32 => "float".to_string(),
                    Elem::F16 => "half".to_string(),
                    Elem::I32 => "int".to_string(),
                    Elem::U32 => "unsigned".to_string(),
                    Elem::Q8_1 => "block_q8_1".to_string(),
                    Elem::QuantBlock => match variant.quant() {
                        Some(q) => q.block_type().to_string(),
                        None => "<no quant axis>".to_string(),
                    },
                };
                if mutable {
                    format!("{pointee}*")
                } else {
                    format!("const {pointee}*")
                }
            }
        }
    }
}

/// Byte offset and size of each parameter in the kernarg segment (natural alignment, as the
/// C ABI of both AMDGPU and NVPTX lays them out), and where the last one ends: the size of the
/// packed argument buffer a launch passes (CUDA refuses a buffer padded beyond it).
pub fn kernarg_layout(params: &[Param]) -> (Vec<(u32, u32)>, u32) {
    let mut offset = 0u32;
    let mut fields = Vec::with_capacity(params.len());
    for p in params {
        let size = p.size();
        offset = offset.next_multiple_of(p.align());
        fields.push((offset, size));
        offset += size;
    }
    (fields, offset)
}

/// One specialisation axis and the values it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    pub name: &'static str,
    pub values: Vec<AxisValue>,
}

/// A tuning axis: an integer axis whose values compute the same result at different speeds
/// (rows per workgroup, split sizes, tiles). A bundle holds every value; `rocmforge tune` times
/// them at a model's shapes on the GPU at hand and records the winners in the bundle's manifest
/// (`bundle::Tuned`); launches of shapes it did not time take the default for their weights'
/// format: `by_quant`'s where it names the format, else `default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    pub axis: &'static str,
    pub default: u32,
    pub by_quant: &'static [(Quant, u32)],
}

impl Tuning {
    /// The value of the axis for an untuned launch on `quant` weights.
    pub fn default_for(&self, quant: Quant) -> u32 {
        self.by_quant.iter().find(|(q, _)| *q == quant).map_or(self.default, |&(_, v)| v)
    }
}

/// Waves per workgroup an emulated wave allows: each takes one of the 15 named barriers NVIDIA
/// leaves beside `__syncthreads`' (`templates/prelude/nvidia_wave64.h`).
pub const MAX_EMULATED_WAVES: u32 = 15;

/// What rendering a template can fail with.
pub use askama::Error as RenderError;

/// Renders a variant's HIP source from its template.
pub type RenderFn = fn(&Variant) -> Result<String, RenderError>;

/// A kernel family: one template, one signature, specialised along its axes.
#[derive(Clone)]
pub struct Family {
    pub name: &'static str,
    /// The template file under `templates/`.
    pub template: &'static str,
    pub summary: &'static str,
    pub params: Vec<Param>,
    pub axes: Vec<Axis>,
    pub launch: Launch,
    /// The CPU function this kernel must match (a path in the `rocmforge` crate).
    pub reference: &'static str,
    /// Whether the kernel may use scratch memory (register spills or private arrays).
    pub allow_scratch: bool,
    /// The axes `rocmforge tune` chooses per shape, with their values for untuned shapes.
    pub tuning: &'static [Tuning],
    pub render: RenderFn,
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family").field("name", &self.name).field("params", &self.params).finish_non_exhaustive()
    }
}

impl Family {
    /// Whether `name` may appear in an extent: an integer scalar parameter, a launch-only
    /// dimension, an integer axis, or `BLOCK` when the family has a quant axis.
    fn extent_name(&self, name: &str) -> bool {
        let int_scalar = |p: &Param| matches!(p.kind, ParamKind::Scalar(Scalar::I32 | Scalar::U32 | Scalar::I64));
        self.params.iter().any(|p| p.name == name && int_scalar(p))
            || self.launch.dims.contains(&name)
            || self.axes.iter().any(|a| a.name == name && matches!(a.values.first(), Some(AxisValue::Int(_))))
            || (name == BLOCK && self.axes.iter().any(|a| matches!(a.values.first(), Some(AxisValue::Quant(_)))))
    }

    /// Every pointer parameter's extent, parsed and checked to name only what a launch knows.
    pub fn extents(&self) -> Result<Vec<(&Param, Expr)>, String> {
        self.params
            .iter()
            .filter_map(|p| p.extent().map(|e| (p, e)))
            .map(|(p, e)| {
                let e = e.map_err(|e| format!("{}: {e}", self.name))?;
                match e.names().into_iter().find(|n| !self.extent_name(n)) {
                    Some(n) => Err(format!(
                        "{}: the extent of `{}` names `{n}`, which a launch does not know",
                        self.name, p.name
                    )),
                    None => Ok((p, e)),
                }
            })
            .collect()
    }

    /// Pointer parameter `name` and its extent, parsed and checked as [`Family::extents`] does.
    pub fn extent_of(&self, name: &str) -> Result<(&Param, Expr), String> {
        let extents = self.extents()?;
        let found = extents.into_iter().find(|(p, _)| p.name == name);
        found.ok_or_else(|| format!("{}: `{name}` is no parameter with an extent", self.name))
    }

    /// Fails unless each tensor map describes an f16 pointer parameter whose declared extent is
    /// the map's rows times its columns, both integer scalars, in boxes whose rows are 32, 64 or
    /// 128 bytes (the widths TMA swizzles), at an offset where every target puts it.
    pub fn check_tensor_maps(&self) -> Result<(), String> {
        for p in &self.params {
            let ParamKind::TensorMap(of) = p.kind else { continue };
            let fail = |why: String| Err(format!("{}: tensor map `{}`: {why}", self.name, p.name));
            let Some(buffer) = self.params.iter().find(|b| b.name == of.buffer) else {
                return fail(format!("there is no parameter `{}`", of.buffer));
            };
            if !matches!(buffer.kind, ParamKind::Ptr { elem: Elem::F16, .. }) {
                return fail(format!("`{}` is not an f16 pointer", of.buffer));
            }
            let shape = Expr::parse(&format!("{} * {}", of.rows, of.cols))?;
            if shape.names().iter().any(|n| !self.extent_name(n)) {
                return fail(format!("`{}` and `{}` must be integer scalars", of.rows, of.cols));
            }
            if buffer.extent().transpose()? != Some(shape) {
                return fail(format!("`{}` is not declared as `{} * {}` elements", of.buffer, of.rows, of.cols));
            }
            for target in Target::ALL {
                let row_bytes = of.box_cols.items(self.launch.threads, target) * 2;
                if ![32, 64, 128].contains(&row_bytes) {
                    return fail(format!("a box row of {row_bytes} bytes on {target} has no swizzle"));
                }
            }
        }
        let (layout, _) = kernarg_layout(&self.params);
        for (p, (offset, _)) in self.params.iter().zip(layout) {
            if matches!(p.kind, ParamKind::TensorMap(_)) && offset % 64 != TENSOR_MAP_OFFSET_MOD_64 {
                return Err(format!(
                    "{}: tensor map `{}` is at kernarg offset {offset}, where CUDA would move it: \
                     order the parameters so that it falls at {TENSOR_MAP_OFFSET_MOD_64} mod 64",
                    self.name, p.name
                ));
            }
        }
        Ok(())
    }

    /// The tuning axis `axis`, if the family has one of that name.
    pub fn tuning(&self, axis: &str) -> Option<Tuning> {
        self.tuning.iter().copied().find(|t| t.axis == axis)
    }

    /// The integer values of axis `name`, in the order it lists them (`None`: no such axis).
    pub fn int_values(&self, name: &str) -> Option<Vec<u32>> {
        let axis = self.axes.iter().find(|a| a.name == name)?;
        Some(axis.values.iter().filter_map(|v| if let AxisValue::Int(n) = v { Some(*n) } else { None }).collect())
    }

    /// Fails unless every tuning axis and every grid axis is an integer axis of the family, and
    /// every tuning default one of its values.
    pub fn check_axes(&self) -> Result<(), String> {
        for t in self.tuning {
            match self.int_values(t.axis) {
                Some(values) => {
                    let defaults = std::iter::once(t.default).chain(t.by_quant.iter().map(|&(_, v)| v));
                    if let Some(d) = defaults.into_iter().find(|d| !values.contains(d)) {
                        return Err(format!(
                            "{}: the default {d} of tuning axis `{}` is not among its values",
                            self.name, t.axis
                        ));
                    }
                }
                None => {
                    return Err(format!("{}: tuning axis `{}` is not an integer axis of the family", self.name, t.axis))
                }
            }
        }
        for g in self.launch.grid {
            if let Grid::CeilDivAxis(_, axis) = g {
                if self.int_values(axis).is_none_or(|v| v.is_empty() || v.contains(&0)) {
                    return Err(format!(
                        "{}: the grid divides by `{axis}`, which is not a positive integer axis",
                        self.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every combination of axis values (the cartesian product, in declaration order).
    pub fn variants(&self, target: Target) -> Vec<Variant> {
        let mut out = vec![Vec::new()];
        for axis in &self.axes {
            out = out
                .into_iter()
                .flat_map(|prefix: Vec<(&'static str, AxisValue)>| {
                    axis.values.iter().map(move |v| {
                        let mut next = prefix.clone();
                        next.push((axis.name, *v));
                        next
                    })
                })
                .collect();
        }
        out.into_iter().map(|axes| Variant::new(self.name, target, self.launch.threads, axes)).collect()
    }

    /// Why `target`'s variants cannot run with their wave emulated on `host`, if they cannot:
    /// NVIDIA's named barriers (`templates/prelude/nvidia_wave64.h`) limit the waves; the CPU's
    /// simulator has no such limit.
    pub fn not_emulated(&self, target: Target, host: Host) -> Option<&'static str> {
        if matches!(host, Host::Gpu(_)) && self.launch.threads / target.wave_size() > MAX_EMULATED_WAVES {
            Some("more waves per workgroup than the emulation's named barriers")
        } else {
            None
        }
    }

    /// The variants of `target` whose algorithm runs on `host` with `target`'s wave emulated
    /// (see [`Variant::emulated_on`]); none if [`Family::not_emulated`] says why.
    pub fn emulated_variants(&self, target: Target, host: Host) -> Vec<Variant> {
        if self.not_emulated(target, host).is_some() {
            return Vec::new();
        }
        self.variants(target).into_iter().map(|v| v.emulated_on(host)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A family of one f16 input `a` (m x k) and the given tensor map of it.
    fn mapped(params: Vec<Param>) -> Family {
        Family {
            name: "mapped",
            template: "-",
            summary: "-",
            params,
            axes: vec![],
            launch: Launch { threads: 256, grid: [Grid::One; 3], dims: &[], dynamic_shared: Per::Items(0) },
            reference: "-",
            allow_scratch: false,
            tuning: &[],
            render: |_| Ok(String::new()),
        }
    }

    #[test]
    fn tensor_maps_must_match_their_buffer_and_sit_where_cuda_puts_them() {
        let of = TensorMapOf { buffer: "a", rows: "m", cols: "k", box_rows: Per::Items(64), box_cols: Per::Items(64) };
        let a = || input("a", Elem::F16, "m * k");
        let (m, k) = (|| scalar("m", Scalar::I32), || scalar("k", Scalar::I32));
        // Pointers to 16 bytes, then the map at 16 + 32 = 48 mod 64: where every target puts it.
        let good = vec![a(), output("c", Elem::F32, "m"), tensor_map("a_map", of), m(), k()];
        assert_eq!(kernarg_layout(&good[..3]).0[2], (16, TENSOR_MAP_BYTES));
        mapped(good).check_tensor_maps().expect_err("offset 16 is not 48 mod 64");
        let good = vec![
            a(),
            output("c", Elem::F32, "m"),
            output("d", Elem::F32, "m"),
            output("e", Elem::F32, "m"),
            output("f", Elem::F32, "m"),
            output("g", Elem::F32, "m"),
            tensor_map("a_map", of),
            m(),
            k(),
        ];
        mapped(good.clone()).check_tensor_maps().expect("at 48");
        let mut wrong_shape = good.clone();
        wrong_shape[6] = tensor_map("a_map", TensorMapOf { rows: "k", cols: "m", ..of });
        mapped(wrong_shape).check_tensor_maps().expect_err("a is m * k, not k * m");
        let mut no_swizzle = good;
        no_swizzle[6] = tensor_map("a_map", TensorMapOf { box_cols: Per::Items(24), ..of });
        mapped(no_swizzle).check_tensor_maps().expect_err("48-byte box rows");
    }

    #[test]
    fn kernarg_layout_aligns_naturally() {
        // The layout clang gives `axpby(float*, const float*, const float*, int, float, float, long long)`.
        let params = [
            output("out", Elem::F32, "n"),
            input("a", Elem::F32, "n"),
            input("b", Elem::F32, "n"),
            scalar("n", Scalar::I32),
            scalar("alpha", Scalar::F32),
            scalar("beta", Scalar::F32),
            scalar("stride", Scalar::I64),
        ];
        let (fields, size) = kernarg_layout(&params);
        let offsets: Vec<u32> = fields.iter().map(|f| f.0).collect();
        assert_eq!(offsets, [0, 8, 16, 24, 28, 32, 40]);
        assert_eq!(size, 48);
        let (_, size) = kernarg_layout(&[output("y", Elem::F32, "n"), scalar("n", Scalar::I32)]);
        assert_eq!(size, 12);
    }
}
