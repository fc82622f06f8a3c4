//! Typed device memory. A buffer knows its element type, so a launcher that wants f16 keys does
//! not accept f32 ones, and one that writes wants `&mut`.

use std::marker::PhantomData;
use std::rc::Rc;

use bytemuck::Pod;
use half::f16;
use rocmforge_codegen::Quant;

use super::{Gpu, GpuError, RawBuffer, StreamHandle};
use crate::quant::blocks::*;

/// Element types device buffers hold.
pub trait DeviceElem: Pod {}

impl DeviceElem for f32 {}
impl DeviceElem for f16 {}
impl DeviceElem for i32 {}
impl DeviceElem for u32 {}
/// Activations quantized for the integer mat-vec (written by `quantize_q8_1`).
impl DeviceElem for BlockQ8_1 {}

/// A quantized weight block, and the format name the kernels know it by. A tensor of some
/// formats sits on the device in another order than ggml's (`Quant::to_device_layout`): upload
/// weights through `QuantBuffer::from_bytes`, which puts them in it.
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
            // The kernels' block geometry (codegen) is the host's.
            const _: () = assert!(size_of::<$block>() == Quant::$quant.block_bytes() as usize);
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

    /// A buffer holding `bytes`, which must be a whole number of `T` (weights straight from a
    /// file, whose bytes need not be aligned for `T`).
    pub fn from_bytes(gpu: &Rc<dyn Gpu>, bytes: &[u8]) -> Result<Self, GpuError> {
        if !bytes.len().is_multiple_of(size_of::<T>()) {
            return Err(GpuError::Size { bytes: bytes.len(), capacity: bytes.len() / size_of::<T>() * size_of::<T>() });
        }
        let buf = Self::uninit(gpu, bytes.len() / size_of::<T>())?;
        gpu.upload(buf.raw(), bytes)?;
        Ok(buf)
    }

    /// Enqueues a copy of `len` elements from `src[src_at..]` into `self[dst_at..]` on `stream`.
    pub fn copy_from(
        &mut self,
        stream: StreamHandle,
        dst_at: usize,
        src: &DeviceBuffer<T>,
        src_at: usize,
        len: usize,
    ) -> Result<(), GpuError> {
        let e = size_of::<T>();
        self.gpu.copy_within_device(stream, (self.raw(), dst_at * e), (src.raw(), src_at * e), len * e)
    }

    /// Enqueues a copy of elements `src_at..src_at + len` to `dst_at..` within this buffer on
    /// `stream`; the two ranges must not overlap.
    pub fn copy_within(
        &mut self,
        stream: StreamHandle,
        src_at: usize,
        dst_at: usize,
        len: usize,
    ) -> Result<(), GpuError> {
        let e = size_of::<T>();
        if src_at.abs_diff(dst_at) < len {
            return Err(GpuError::Overlap { src_at, dst_at, len });
        }
        self.gpu.copy_within_device(stream, (self.raw(), dst_at * e), (self.raw(), src_at * e), len * e)
    }

    /// Copies `data` in (synchronously) at element `at`.
    pub fn upload_at(&mut self, at: usize, data: &[T]) -> Result<(), GpuError> {
        self.gpu.upload(&self.elements(at, data.len())?, bytemuck::cast_slice(data))
    }

    /// Copies `out.len()` elements out (synchronously), starting at element `at`.
    pub fn download_at(&self, at: usize, out: &mut [T]) -> Result<(), GpuError> {
        self.gpu.download(&self.elements(at, out.len())?, bytemuck::cast_slice_mut(out))
    }

    /// Elements `at..at + len` as an untyped range of the allocation (not owned: never freed),
    /// or an error when they run past its end.
    fn elements(&self, at: usize, len: usize) -> Result<RawBuffer, GpuError> {
        let raw = self.raw();
        let end = (at + len) * size_of::<T>();
        if end > raw.bytes {
            return Err(GpuError::Size { bytes: end, capacity: raw.bytes });
        }
        Ok(RawBuffer { ptr: raw.ptr + (at * size_of::<T>()) as u64, bytes: len * size_of::<T>() })
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

    /// Copies `data` in on `stream` without waiting; `data` stays borrowed until the returned
    /// guard has waited for the stream.
    pub fn upload_async<'a>(&mut self, stream: StreamHandle, data: &'a [T]) -> Result<Pending<'a>, GpuError> {
        // SAFETY: `Pending` borrows `data` and synchronizes the stream before releasing it.
        unsafe { self.gpu.upload_async(stream, self.raw(), bytemuck::cast_slice(data)) }?;
        Ok(Pending::new(&self.gpu, stream))
    }

    /// Copies into `out` on `stream` without waiting; `out` stays borrowed until the returned
    /// guard has waited for the stream.
    pub fn download_async<'a>(&self, stream: StreamHandle, out: &'a mut [T]) -> Result<Pending<'a>, GpuError> {
        // SAFETY: `Pending` borrows `out` and synchronizes the stream before releasing it.
        unsafe { self.gpu.download_async(stream, self.raw(), bytemuck::cast_slice_mut(out)) }?;
        Ok(Pending::new(&self.gpu, stream))
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

/// An asynchronous copy in flight: holds the host slice's borrow until the stream is done.
#[must_use = "the copy is only known to be complete once the guard has waited"]
pub struct Pending<'a> {
    gpu: Rc<dyn Gpu>,
    stream: StreamHandle,
    waited: bool,
    _host: PhantomData<&'a mut [u8]>,
}

impl Pending<'_> {
    fn new(gpu: &Rc<dyn Gpu>, stream: StreamHandle) -> Self {
        Pending { gpu: Rc::clone(gpu), stream, waited: false, _host: PhantomData }
    }

    /// Waits for the stream (and with it the copy).
    pub fn wait(mut self) -> Result<(), GpuError> {
        self.waited = true;
        self.gpu.synchronize(self.stream)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.waited {
            if let Err(e) = self.gpu.synchronize(self.stream) {
                tracing::warn!("waiting for an asynchronous copy: {e}");
            }
        }
    }
}
