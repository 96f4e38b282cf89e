//! [`OneData`]: what `loadone` returns.

use bytemuck::AnyBitPattern;
use ndarray::{ArrayView1, ArrayView2, ArrayViewD};

use crate::error::{Error, ErrorKind, Result};
use crate::npy::{Dtype, Element, NpyArray};
use crate::sparse::SparseMatrix;

/// One loaded onedata file, shared through `Arc` by the cache and callers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum OneData {
    /// A dense array: mapped from a `.npy` file, or owned (decoded or computed).
    Dense(NpyArray),
    /// A sparse matrix from a scipy `.npz` file, kept sparse (`keep_sparse`).
    Sparse(SparseMatrix),
}

impl OneData {
    /// The dense array, if this is one.
    pub fn as_dense(&self) -> Option<&NpyArray> {
        match self {
            OneData::Dense(a) => Some(a),
            OneData::Sparse(_) => None,
        }
    }

    /// The sparse matrix, if this is one.
    pub fn as_sparse(&self) -> Option<&SparseMatrix> {
        match self {
            OneData::Sparse(m) => Some(m),
            OneData::Dense(_) => None,
        }
    }

    /// The dense array, or an error saying what this is instead.
    pub fn dense(&self) -> Result<&NpyArray> {
        self.as_dense().ok_or_else(|| {
            Error::new(ErrorKind::KindMismatch {
                path: self.path().to_path_buf(),
                requested: "dense",
                found: self.kind(),
            })
        })
    }

    /// The file this onedata was loaded from (or names, for computed data).
    pub fn path(&self) -> &std::path::Path {
        match self {
            OneData::Dense(a) => a.path(),
            OneData::Sparse(m) => m.path(),
        }
    }

    /// What kind of data this is: `"dense"` or `"sparse"`.
    pub fn kind(&self) -> &'static str {
        match self {
            OneData::Dense(_) => "dense",
            OneData::Sparse(_) => "sparse",
        }
    }

    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            OneData::Dense(a) => a.shape().to_vec(),
            OneData::Sparse(m) => m.shape().to_vec(),
        }
    }

    /// The element dtype (native byte order for loaded numbers).
    pub fn dtype(&self) -> Dtype {
        match self {
            OneData::Dense(a) => a.dtype().clone(),
            OneData::Sparse(m) => m.dtype(),
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

    /// The content digest of the values (see [`crate::digest`]); for a
    /// sparse matrix, that of the dense array scipy's `toarray()` gives.
    pub fn digest(&self) -> Result<[u8; 32]> {
        match self {
            OneData::Dense(a) => crate::digest::digest(a),
            OneData::Sparse(m) => crate::digest::digest(&m.to_dense()?),
        }
    }

    /// Heap bytes held (zero for mapped arrays).
    pub fn owned_bytes(&self) -> usize {
        match self {
            OneData::Dense(a) => a.owned_bytes(),
            OneData::Sparse(m) => m.owned_bytes(),
        }
    }

    /// Bytes of mapped file data held.
    pub fn mapped_bytes(&self) -> usize {
        match self {
            OneData::Dense(a) if a.is_mapped() => a.data_bytes().len(),
            OneData::Dense(_) | OneData::Sparse(_) => 0,
        }
    }
}

impl From<NpyArray> for OneData {
    fn from(a: NpyArray) -> Self {
        OneData::Dense(a)
    }
}

impl From<SparseMatrix> for OneData {
    fn from(m: SparseMatrix) -> Self {
        OneData::Sparse(m)
    }
}
