//! A model's weights on a GPU, uploaded once and still quantized; shared by every executor of
//! the model on that GPU.

use std::rc::Rc;

use super::kernels::DecoderKernels;
use crate::backend::gpu::launchers::QuantBuffer;
use crate::backend::gpu::tuning::MatrixShape;
use crate::backend::gpu::{DeviceBuffer, Kernels, Quant};
use crate::backend::graph::Weight;
use crate::backend::BackendError;
use crate::gguf::GgmlType;
use crate::model::{LayerWeights, Matrix, Model};

/// The GPU's format for a GGUF tensor type, if its kernels read it (the names are ggml's).
pub fn gpu_quant(ty: GgmlType) -> Option<Quant> {
    Quant::ALL.into_iter().find(|q| q.name().eq_ignore_ascii_case(ty.name()))
}

pub struct GpuMatrix {
    pub rows: usize,
    pub cols: usize,
    pub blocks: QuantBuffer,
}

impl GpuMatrix {
    /// Its format and size, which pick a tuned kernel's variant.
    pub fn shape(&self) -> MatrixShape {
        MatrixShape { quant: self.blocks.quant(), n_rows: self.rows as u64, n_cols: self.cols as u64 }
    }
}

/// A layer on the GPU: its matrices still quantized, its norms and biases in f32.
pub type GpuLayer = LayerWeights<GpuMatrix, DeviceBuffer<f32>>;

/// The model on one GPU: its kernels, resolved for its shape, and its weights.
pub struct GpuModel {
    pub kernels: Kernels,
    pub launch: DecoderKernels,
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
    /// copying anything when the GPU lacks the memory, or a tensor's format has no GPU kernel
    /// (in this build, or in the bundle).
    pub fn upload(model: &Model, kernels: Kernels) -> Result<Self, BackendError> {
        let gpu = Rc::clone(kernels.gpu());
        let launch = DecoderKernels::resolve(&kernels, &model.config)?;
        let w = &model.weights;
        let matrices = w.layers.iter().flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down]);
        let tied = w.output.name == w.token_embd.name;
        let head = (!tied).then_some(&w.output);
        let matrices: Vec<&Matrix> = matrices.chain(std::iter::once(&w.token_embd)).chain(head).collect();
        for m in &matrices {
            let Some(quant) = gpu_quant(m.ty) else {
                return Err(BackendError::Unsupported(format!(
                    "tensor {} has type {}, for which the GPU has no kernels",
                    m.name, m.ty
                )));
            };
            launch.check_format(quant, m.name == w.token_embd.name)?;
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
        let scratch = std::cell::RefCell::new(Vec::new());
        let matrix = |m: &Matrix| -> Result<GpuMatrix, BackendError> {
            let data = model.data(m);
            let quant = gpu_quant(m.ty).expect("formats were checked above");
            let blocks = QuantBuffer::from_bytes(&gpu, quant, data, &mut scratch.borrow_mut())?;
            bar.inc(data.len() as u64);
            Ok(GpuMatrix { rows: m.rows, cols: m.cols, blocks })
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
            launch,
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
