//! A model's weights on a GPU, uploaded once and still quantized; shared by every executor of
//! the model on that GPU.

use std::rc::Rc;

use crate::backend::gpu::{DeviceBuffer, Gpu, GpuError, Kernels};
use crate::backend::graph::Weight;
use crate::backend::BackendError;
use crate::gguf::GgmlType;
use crate::model::{LayerWeights, Matrix, Model};
use crate::quant::blocks::*;

/// Declares `QuantMatrix`, one variant per block format the GPU kernels read, and
/// `with_blocks!`, which runs a generic body with the matching typed buffer: the dispatch from
/// a weight's run-time type to its kernel variant.
macro_rules! quant_matrix {
    ($($variant:ident: $block:ty = $ty:ident),* $(,)?) => {
        /// A weight matrix's blocks on the device, typed by format.
        pub enum QuantBuffer {
            $($variant(DeviceBuffer<$block>),)*
        }

        impl QuantBuffer {
            fn supports(ty: GgmlType) -> bool {
                matches!(ty, $(GgmlType::$ty)|*)
            }

            fn upload(gpu: &Rc<dyn Gpu>, ty: GgmlType, bytes: &[u8]) -> Result<Option<Self>, GpuError> {
                Ok(match ty {
                    $(GgmlType::$ty => Some(QuantBuffer::$variant(DeviceBuffer::from_bytes(gpu, bytes)?)),)*
                    _ => None,
                })
            }
        }

        /// Block formats that a `QuantBuffer` can hold.
        pub trait InQuantBuffer: Sized + crate::backend::gpu::DeviceElem {
            fn typed(q: &QuantBuffer) -> Option<&DeviceBuffer<Self>>;
        }

        $(impl InQuantBuffer for $block {
            fn typed(q: &QuantBuffer) -> Option<&DeviceBuffer<Self>> {
                match q {
                    QuantBuffer::$variant(b) => Some(b),
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        })*

        /// Runs `$body` with `$buf` bound to the typed buffer of `$m` (a `&QuantBuffer`).
        macro_rules! with_blocks {
            ($m:expr, |$buf:ident| $body:expr) => {
                match $m {
                    $(QuantBuffer::$variant($buf) => $body,)*
                }
            };
        }
    };
}

quant_matrix!(
    Q4_0: BlockQ4_0 = Q4_0, Q4_1: BlockQ4_1 = Q4_1, Q5_0: BlockQ5_0 = Q5_0, Q5_1: BlockQ5_1 = Q5_1,
    Q8_0: BlockQ8_0 = Q8_0, Q2K: BlockQ2K = Q2K, Q3K: BlockQ3K = Q3K, Q4K: BlockQ4K = Q4K,
    Q5K: BlockQ5K = Q5K, Q6K: BlockQ6K = Q6K, Mxfp4: BlockMxfp4 = Mxfp4,
);
pub(crate) use with_blocks;

pub struct GpuMatrix {
    pub rows: usize,
    pub cols: usize,
    pub ty: GgmlType,
    pub blocks: QuantBuffer,
}

/// A layer on the GPU: its matrices still quantized, its norms and biases in f32.
pub type GpuLayer = LayerWeights<GpuMatrix, DeviceBuffer<f32>>;

/// The model on one GPU: its kernels and its weights.
pub struct GpuModel {
    pub kernels: Kernels,
    pub token_embd: GpuMatrix,
    pub layers: Vec<GpuLayer>,
    pub output_norm: DeviceBuffer<f32>,
    /// The LM head; `None` when it is tied to the embedding table, which serves both.
    output: Option<GpuMatrix>,
    pub rope_freqs: Option<DeviceBuffer<f32>>,
    /// Bytes the weights take on the device.
    pub bytes: u64,
}

impl GpuModel {
    /// Uploads `model`'s weights to the GPU of `kernels`, with a progress bar. Fails before
    /// copying anything when the GPU lacks the memory, or a tensor's format has no GPU kernel.
    pub fn upload(model: &Model, kernels: Kernels) -> Result<Self, BackendError> {
        let gpu = Rc::clone(kernels.gpu());
        let w = &model.weights;
        let matrices = w.layers.iter().flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down]);
        let tied = w.output.name == w.token_embd.name;
        let head = (!tied).then_some(&w.output);
        let matrices: Vec<&Matrix> = matrices.chain(std::iter::once(&w.token_embd)).chain(head).collect();
        if let Some(m) = matrices.iter().find(|m| !QuantBuffer::supports(m.ty)) {
            return Err(BackendError::Unsupported(format!(
                "tensor {} has type {}, for which the GPU has no kernels",
                m.name, m.ty
            )));
        }
        let bytes: u64 = matrices.iter().map(|m| model.data(m).len() as u64).sum();
        let (free, _) = gpu.memory()?;
        if bytes > free {
            return Err(BackendError::OutOfMemory {
                what: "the model's weights".into(),
                needed: bytes,
                available: free,
            });
        }
        let bar = crate::progress::bytes_bar(bytes, "upload");
        let matrix = |m: &Matrix| -> Result<GpuMatrix, BackendError> {
            let data = model.data(m);
            let blocks = QuantBuffer::upload(&gpu, m.ty, data)?.expect("formats were checked above");
            bar.inc(data.len() as u64);
            Ok(GpuMatrix { rows: m.rows, cols: m.cols, ty: m.ty, blocks })
        };
        let vector = |v: &[f32]| DeviceBuffer::from_slice(&gpu, v);
        let layers = w
            .layers
            .iter()
            .map(|l| l.try_map(&matrix, |v: &Vec<f32>| Ok(vector(v)?)))
            .collect::<Result<Vec<_>, BackendError>>()?;
        let token_embd = matrix(&w.token_embd)?;
        let output = head.map(matrix).transpose()?;
        bar.finish_and_clear();
        Ok(GpuModel {
            token_embd,
            layers,
            output_norm: vector(&w.output_norm)?,
            output,
            rope_freqs: w.rope_freqs.as_deref().map(vector).transpose()?,
            bytes,
            kernels,
        })
    }

    pub fn lm_head(&self) -> &GpuMatrix {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }

    pub fn matrix(&self, w: Weight) -> &GpuMatrix {
        let Weight::Layer(il, t) = w else { panic!("{w:?} is not a matrix") };
        self.layers[il].matrix(t).unwrap_or_else(|| panic!("{w:?} is not a matrix"))
    }

    /// A norm or bias vector; the graph asks only for those the model has.
    pub fn vector(&self, w: Weight) -> &DeviceBuffer<f32> {
        match w {
            Weight::OutputNorm => &self.output_norm,
            Weight::Layer(il, t) => self.layers[il].vector(t).unwrap_or_else(|| panic!("the model has no {w:?}")),
        }
    }
}

/// `other`'s blocks, if they are in the format of `_like`.
pub fn same_format<'a, B: InQuantBuffer>(
    _like: &DeviceBuffer<B>,
    other: &'a QuantBuffer,
) -> Option<&'a DeviceBuffer<B>> {
    B::typed(other)
}
