//! [`OneData`]: what `loadone` returns.

use bytemuck::AnyBitPattern;
use ndarray::{ArrayView1, ArrayView2, ArrayViewD};

use crate::error::{Error, Result};
use crate::npy::{Element, NpyArray};

/// One loaded onedata file, shared through `Arc` by the cache and callers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum OneData {
    /// A dense array: mapped from a `.npy` file, or owned (decoded or computed).
    Dense(NpyArray),
}

impl OneData {
    /// The dense array, if this is one.
    pub fn as_dense(&self) -> Option<&NpyArray> {
        match self {
            OneData::Dense(a) => Some(a),
        }
    }

    /// The dense array, or an error saying what this is instead.
    pub fn dense(&self) -> Result<&NpyArray> {
        self.as_dense()
            .ok_or_else(|| Error::InvalidArgument(format!("onedata is {}, not dense", self.kind())))
    }

    /// What kind of data this is: `"dense"`.
    pub fn kind(&self) -> &'static str {
        match self {
            OneData::Dense(_) => "dense",
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            OneData::Dense(a) => a.shape(),
        }
    }

    /// A zero-copy view of a dense array (see [`NpyArray::view`]).
    pub fn view<T: Element + AnyBitPattern>(&self) -> Result<ArrayViewD<'_, T>> {
        self.dense()?.view()
    }

    /// A zero-copy one-dimensional view of a dense array.
    pub fn view1<T: Element + AnyBitPattern>(&self) -> Result<ArrayView1<'_, T>> {
        self.dense()?.view1()
    }

    /// A zero-copy two-dimensional view of a dense array.
    pub fn view2<T: Element + AnyBitPattern>(&self) -> Result<ArrayView2<'_, T>> {
        self.dense()?.view2()
    }

    /// The content digest of the values (see [`crate::digest`]).
    pub fn digest(&self) -> Result<[u8; 32]> {
        match self {
            OneData::Dense(a) => crate::digest::digest(a),
        }
    }

    /// Heap bytes held (zero for mapped arrays).
    pub fn owned_bytes(&self) -> usize {
        match self {
            OneData::Dense(a) => a.owned_bytes(),
        }
    }

    /// Bytes of mapped file data held.
    pub fn mapped_bytes(&self) -> usize {
        match self {
            OneData::Dense(a) if a.is_mapped() => a.data_bytes().len(),
            OneData::Dense(_) => 0,
        }
    }
}

impl From<NpyArray> for OneData {
    fn from(a: NpyArray) -> Self {
        OneData::Dense(a)
    }
}
