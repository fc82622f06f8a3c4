// Well-typed launches compile (the function is never called: there is no GPU here).
use rocmforge::backend::gpu::launchers::{matvec, matvec_glu, quantize_q8_1, rmsnorm, rope};
use rocmforge::backend::gpu::{BlockQ8_1, DeviceBuffer, Kernels, LaunchError, StreamHandle};
use rocmforge::quant::blocks::BlockQ4K;

#[allow(dead_code)]
fn decode_step(
    k: &Kernels,
    y: &mut DeviceBuffer<f32>,
    x: &DeviceBuffer<f32>,
    w: &DeviceBuffer<f32>,
    wq: &DeviceBuffer<BlockQ4K>,
    xq: &mut DeviceBuffer<BlockQ8_1>,
    q: &mut DeviceBuffer<f32>,
    pos: &DeviceBuffer<i32>,
) -> Result<(), LaunchError> {
    let s = StreamHandle::DEFAULT;
    let norm = rmsnorm::Kernel::resolve(k)?;
    norm.launch(s, rmsnorm::Args { y: y.slice_mut(0..2048), x: x.view(), w: w.view(), n: 2048, eps: 1e-6, n_rows: 1 })?;
    let quantize = quantize_q8_1::Kernel::resolve(k)?;
    quantize.launch(s, quantize_q8_1::Args { xq: xq.view_mut(), x: x.view(), n_cols: 2048, n_rows: 1 })?;
    let matvecs = matvec::ByQuant::resolve(k, 16, 8);
    let args = matvec::Args { y: y.view_mut(), w: wq.view(), xq: xq.view(), n_cols: 2048, n_rows: 2048 };
    matvecs.get()?.launch(s, args)?;
    let glu = matvec_glu::Kernel::<BlockQ4K>::resolve(k, matvec_glu::Act::Silu, 12)?;
    let args = matvec_glu::Args { y: y.view_mut(), w_gate: wq.view(), w_up: wq.view(), xq: xq.view(), n_cols: 2048, n_rows: 8192 };
    glu.launch(s, args)?;
    let rope = rope::Kernel::resolve(k, rope::Mode::Neox, 128)?;
    let args = rope::Args {
        x: q.view_mut(),
        pos: pos.view(),
        factors: None,
        n_heads: 32,
        n_rot: 128,
        theta_scale: 0.5,
        freq_scale: 1.0,
        n_tokens: 1,
    };
    rope.launch(s, args)
}

fn main() {}
