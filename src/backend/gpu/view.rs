//! Views of device buffers: what a launcher's arguments hold. A view is a range of one buffer
//! that stays borrowed while the view lives (shared for `View`, exclusive for `ViewMut`), so an
//! output cannot alias an input, and it carries its length, which a launch checks against the
//! extent the kernel's declaration gives for the sizes passed.

use std::marker::PhantomData;
use std::ops::Range;

use super::{DeviceBuffer, DeviceElem};

/// Elements `[offset, offset + len)` of a device buffer, read by a kernel.
#[derive(Debug, Clone, Copy)]
pub struct View<'a, T> {
    ptr: u64,
    len: usize,
    _buffer: PhantomData<&'a [T]>,
}

/// Elements `[offset, offset + len)` of a device buffer, written (and maybe read) by a kernel.
#[derive(Debug)]
pub struct ViewMut<'a, T> {
    ptr: u64,
    len: usize,
    _buffer: PhantomData<&'a mut [T]>,
}

impl<T> View<'_, T> {
    /// A view of nothing: for an absent input whose declared extent is 0 (the launch checks it).
    pub fn empty() -> Self {
        View { ptr: 0, len: 0, _buffer: PhantomData }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device address of the first element, for kernel arguments.
    pub fn device_ptr(&self) -> u64 {
        self.ptr
    }
}

impl<T> ViewMut<'_, T> {
    /// A view of nothing: for an absent output whose declared extent is 0 (the launch checks
    /// it), so no kernel can write through it.
    pub fn empty() -> Self {
        ViewMut { ptr: 0, len: 0, _buffer: PhantomData }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn device_ptr(&self) -> u64 {
        self.ptr
    }
}

/// The address of element `range.start` of `buf`, after checking that `range` lies in it.
fn range_ptr<T: DeviceElem>(buf: &DeviceBuffer<T>, range: &Range<usize>) -> u64 {
    assert!(
        range.start <= range.end && range.end <= buf.len(),
        "view {range:?} of a device buffer of {} elements",
        buf.len()
    );
    buf.device_ptr() + (range.start * size_of::<T>()) as u64
}

impl<T: DeviceElem> DeviceBuffer<T> {
    /// The whole buffer, for reading.
    pub fn view(&self) -> View<'_, T> {
        self.slice(0..self.len())
    }

    /// The whole buffer, for writing.
    pub fn view_mut(&mut self) -> ViewMut<'_, T> {
        self.slice_mut(0..self.len())
    }

    /// Elements `range`, for reading.
    ///
    /// # Panics
    /// When `range` is not within the buffer, as slicing a `Vec` does.
    pub fn slice(&self, range: Range<usize>) -> View<'_, T> {
        View { ptr: range_ptr(self, &range), len: range.len(), _buffer: PhantomData }
    }

    /// Elements `range`, for writing.
    ///
    /// # Panics
    /// When `range` is not within the buffer.
    pub fn slice_mut(&mut self, range: Range<usize>) -> ViewMut<'_, T> {
        ViewMut { ptr: range_ptr(self, &range), len: range.len(), _buffer: PhantomData }
    }
}
