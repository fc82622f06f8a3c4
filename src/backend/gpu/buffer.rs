//! Typed device memory. A buffer knows its element type, so a launcher that wants f16 keys does
//! not accept f32 ones, and one that writes wants `&mut`.

use std::marker::PhantomData;
use std::rc::Rc;

use bytemuck::Pod;
use half::f16;
use rocmforge_codegen::Quant;

use super::{Gpu, GpuError, RawBuffer};
use crate::quant::blocks::*;

/// Element types device buffers hold.
pub trait DeviceElem: Pod {}

impl DeviceElem for f32 {}
impl DeviceElem for f16 {}
impl DeviceElem for i32 {}
impl DeviceElem for u32 {}

/// A quantized weight block, and the format name the kernels know it by.
pub trait QuantBlock: DeviceElem {
    const QUANT: Quant;
}

macro_rules! quant_blocks {
    ($($block:ty => $quant:ident),* $(,)?) => {
        $(
            impl DeviceElem for $block {}
            impl QuantBlock for $block {
                const QUANT: Quant = Quant::$quant;
            }
        )*
    };
}

quant_blocks!(
    BlockQ4_0 => Q4_0, BlockQ4_1 => Q4_1, BlockQ5_0 => Q5_0, BlockQ5_1 => Q5_1, BlockQ8_0 => Q8_0,
    BlockQ2K => Q2K, BlockQ3K => Q3K, BlockQ4K => Q4K, BlockQ5K => Q5K, BlockQ6K => Q6K, BlockMxfp4 => Mxfp4,
);

/// `len` elements of `T` on a GPU, freed on drop.
pub struct DeviceBuffer<T: DeviceElem> {
    gpu: Rc<dyn Gpu>,
    raw: Option<RawBuffer>,
    len: usize,
    _elem: PhantomData<T>,
}

impl<T: DeviceElem> DeviceBuffer<T> {
    /// A buffer of `len` elements with unspecified contents.
    pub fn uninit(gpu: &Rc<dyn Gpu>, len: usize) -> Result<Self, GpuError> {
        let raw = gpu.alloc(len * size_of::<T>())?;
        Ok(DeviceBuffer { gpu: Rc::clone(gpu), raw: Some(raw), len, _elem: PhantomData })
    }

    pub fn from_slice(gpu: &Rc<dyn Gpu>, data: &[T]) -> Result<Self, GpuError> {
        let buf = Self::uninit(gpu, data.len())?;
        gpu.upload(buf.raw(), bytemuck::cast_slice(data))?;
        Ok(buf)
    }

    fn raw(&self) -> &RawBuffer {
        self.raw.as_ref().expect("present until drop")
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device address, for kernel arguments.
    pub fn device_ptr(&self) -> u64 {
        self.raw().ptr
    }

    pub fn to_vec(&self) -> Result<Vec<T>, GpuError> {
        let mut out = vec![T::zeroed(); self.len];
        self.gpu.download(self.raw(), bytemuck::cast_slice_mut(&mut out))?;
        Ok(out)
    }

    /// Sets every byte (NaN-poisoning an output before a test launch, for example).
    pub fn fill_bytes(&mut self, byte: u8) -> Result<(), GpuError> {
        self.gpu.fill(self.raw(), byte)
    }
}

impl<T: DeviceElem> Drop for DeviceBuffer<T> {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            if let Err(e) = self.gpu.free(raw) {
                tracing::warn!("freeing a device buffer: {e}");
            }
        }
    }
}
